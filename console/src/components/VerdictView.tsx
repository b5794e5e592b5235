import type { Verdict } from "../verify";

export function VerdictView({ verdict, subject }: { verdict: Verdict; subject: string }) {
  return (
    <section className={`verdict ${verdict.ok ? "ok" : "bad"}`} aria-live="polite" data-testid="verdict" data-ok={verdict.ok}>
      <h2>{verdict.ok ? `✔ ${subject} verified` : `✘ ${subject} FAILED verification`}</h2>
      {verdict.warnings.length ? (
        <ul className="warnings" role="alert">
          {verdict.warnings.map((w, i) => (
            <li key={i}>⚠ {w}</li>
          ))}
        </ul>
      ) : null}
      <ul className="checks">
        {verdict.checks.map((c, i) => (
          <li key={i} className={c.ok ? "ok" : "bad"} data-testid="check" data-ok={c.ok}>
            <span aria-hidden="true">{c.ok ? "✔" : "✘"}</span> <strong>{c.name}</strong>
            <span className="sr-only">{c.ok ? " passed" : " failed"}</span>: {c.detail}
          </li>
        ))}
      </ul>
    </section>
  );
}
