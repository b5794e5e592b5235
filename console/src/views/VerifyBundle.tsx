import { useRef, useState, type DragEvent } from "react";
import { useSession } from "../session";
import { pinnedVkey, verifyBundle, type Verdict } from "../verify";
import { fmtBytes } from "../lib/format";
import { ErrorBox, Field, PageTitle } from "../components/common";
import { VerdictView } from "../components/VerdictView";

export function VerifyBundle() {
  const { project } = useSession();
  const [vkeys, setVkeys] = useState(() => pinnedVkey(project) ?? "");
  const [over, setOver] = useState(false);
  const [file, setFile] = useState<{ name: string; size: number } | null>(null);
  const [verdict, setVerdict] = useState<(Verdict & { report: unknown }) | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  async function check(f: File) {
    setFile({ name: f.name, size: f.size });
    setVerdict(null);
    setError(null);
    setBusy(true);
    try {
      const bytes = new Uint8Array(await f.arrayBuffer());
      const keys = vkeys
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean);
      setVerdict(await verifyBundle(bytes, keys));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  function onDrop(e: DragEvent) {
    e.preventDefault();
    setOver(false);
    const f = e.dataTransfer.files[0];
    if (f) void check(f);
  }

  return (
    <>
      <PageTitle title="Verify a bundle">
        Drop an evidence bundle (a ZIP from Evidence or sealtrail export). It is checked entirely in this browser, with the same checks as sealtrail verify; nothing is uploaded.
      </PageTitle>
      <Field label="Trusted verifier keys, one per line" hint="the log's vkey, pinned from the Log page or obtained from its operator">
        <textarea rows={2} className="mono" value={vkeys} onChange={(e) => setVkeys(e.target.value)} name="vkeys" />
      </Field>
      <div
        className={`dropzone ${over ? "over" : ""}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p>Drop a bundle here, or</p>
        <label className="button">
          Choose a file
          <input
            ref={input}
            type="file"
            accept=".zip,application/zip"
            className="sr-only"
            data-testid="bundle-input"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void check(f);
            }}
          />
        </label>
      </div>
      {file ? (
        <p aria-live="polite">
          {busy ? "Verifying" : "Checked"} {file.name} ({fmtBytes(file.size)})
        </p>
      ) : null}
      <ErrorBox error={error} what="Verifying the bundle" />
      {verdict ? <VerdictView verdict={verdict} subject="The bundle" /> : null}
      {verdict ? (
        <details>
          <summary>Full report</summary>
          <pre className="json" tabIndex={0}>{JSON.stringify(verdict.report, null, 2)}</pre>
        </details>
      ) : null}
    </>
  );
}
