import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { ApiError, request, sendJson } from "../lib/api";
import { exportRequest, filtersFromParams, filtersToParams, type Filters } from "../lib/filters";
import { saveFile } from "../lib/download";
import { fmtBytes } from "../lib/format";
import { ErrorBox, Field, PageTitle } from "../components/common";
import { KINDS } from "../lib/types";

interface Plan {
  entries: number;
  first?: number | null;
  last?: number | null;
  checkpoint_size?: number;
  with_bodies?: boolean;
  /** `proven`, `stream` or `range`, and the statement an auditor reads. */
  completeness: { statement?: string; [k: string]: unknown } | string | null;
}

export function Evidence() {
  const [params, setParams] = useSearchParams();
  const [f, setF] = useState<Filters>(() => filtersFromParams(params));
  const [bodies, setBodies] = useState(true);
  const [plan, setPlan] = useState<Plan | null>(null);
  const [planError, setPlanError] = useState<unknown>(null);
  const [progress, setProgress] = useState<{ bytes: number; entries: number | null; done: boolean } | null>(null);
  const [dlError, setDlError] = useState<unknown>(null);
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => {
    setF((o) => ({ ...o, [k]: e.target.value }));
    setPlan(null);
  };

  async function makePlan(e: FormEvent) {
    e.preventDefault();
    setParams(filtersToParams(f), { replace: true });
    setPlan(null);
    setPlanError(null);
    try {
      setPlan(await sendJson<Plan>("POST", "/v1/exports/plan", exportRequest(f, bodies)));
    } catch (err) {
      // A server without the plan endpoint still builds bundles: say so
      // and offer the download without the statement.
      if (err instanceof ApiError && err.status === 404 && err.message.includes("no such endpoint")) {
        setPlan({ entries: -1, first: null, last: null, completeness: null });
      } else {
        setPlanError(err);
      }
    }
  }

  async function download() {
    setDlError(null);
    setProgress({ bytes: 0, entries: null, done: false });
    try {
      const res = await request("/v1/exports", { method: "POST", body: exportRequest(f, bodies), accept: "application/zip" });
      const entries = Number(res.headers.get("X-Sealtrail-Entries") ?? "") || plan?.entries || null;
      const reader = res.body?.getReader();
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      if (reader) {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          bytes += value.length;
          setProgress({ bytes, entries, done: false });
        }
      }
      setProgress({ bytes, entries, done: true });
      saveFile(`evidence-${new Date().toISOString().replace(/[:.]/g, "-")}.zip`, "application/zip", new Blob(chunks as BlobPart[]));
    } catch (err) {
      setDlError(err);
      setProgress(null);
    }
  }

  return (
    <>
      <PageTitle title="Evidence">
        Build an evidence bundle for a query: a ZIP anyone can verify offline (sealtrail verify, the Python verifier, or the “Verify a bundle” page).
      </PageTitle>
      <form className="card filters" onSubmit={makePlan} aria-label="Evidence query">
        <Field label="Agent">
          <input value={f.agent ?? ""} onChange={set("agent")} />
        </Field>
        <Field label="Session">
          <input value={f.session ?? ""} onChange={set("session")} />
        </Field>
        <Field label="Kind">
          <select value={f.kind ?? ""} onChange={set("kind")}>
            <option value="">any</option>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </Field>
        <Field label="From (inclusive)">
          <input value={f.from ?? ""} onChange={set("from")} placeholder="2026-11-01" />
        </Field>
        <Field label="To (exclusive)">
          <input value={f.to ?? ""} onChange={set("to")} placeholder="2026-12-01" />
        </Field>
        <Field label="Scope verdict">
          <input value={f.scope ?? ""} onChange={set("scope")} />
        </Field>
        <label className="check">
          <input type="checkbox" checked={bodies} onChange={(e) => setBodies(e.target.checked)} /> include bodies and salts
        </label>
        <div className="actions">
          <button type="submit">Plan the export</button>
        </div>
      </form>
      <ErrorBox error={planError} what="Planning the export" />
      {plan ? (
        <section className="card" aria-labelledby="h-plan" data-testid="plan">
          <h2 id="h-plan">What the bundle will hold</h2>
          {plan.entries < 0 ? (
            <p className="notice" data-testid="no-plan">
              This server cannot report the bundle's contents before building it; the completeness statement is inside
              the bundle (manifest.json).
            </p>
          ) : (
            <p className="big">{plan.entries.toLocaleString()} entries</p>
          )}
          {plan.first != null ? (
            <p>
              From entry #{plan.first} to #{plan.last}
              {plan.checkpoint_size ? `, proven against the signed checkpoint of size ${plan.checkpoint_size.toLocaleString()}` : ""}
              {plan.with_bodies === false ? "; headers only" : ""}.
            </p>
          ) : null}
          {plan.completeness !== null ? (
            <>
              <h3>Completeness statement</h3>
              <p className="muted">The bundle carries this statement; a verifier checks it against the signed stream heads.</p>
              {typeof plan.completeness === "object" && plan.completeness.statement ? (
                <blockquote className="statement">{plan.completeness.statement}</blockquote>
              ) : null}
              <pre className="json" tabIndex={0} data-testid="completeness">
                {typeof plan.completeness === "string" ? plan.completeness : JSON.stringify(plan.completeness, null, 2)}
              </pre>
            </>
          ) : null}
          <button type="button" onClick={() => void download()} disabled={progress !== null && !progress.done}>
            Build and download
          </button>
        </section>
      ) : null}
      {progress ? (
        <section className="card" aria-live="polite">
          <label className="field">
            <span>{progress.done ? "Downloaded" : "Downloading"} {fmtBytes(progress.bytes)}</span>
            {progress.done ? <progress max={1} value={1} /> : <progress />}
          </label>
          {progress.entries ? <p className="muted">{progress.entries.toLocaleString()} entries in the bundle.</p> : null}
        </section>
      ) : null}
      <ErrorBox error={dlError} what="Building the bundle" />
    </>
  );
}
