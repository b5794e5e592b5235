import { useMemo } from "react";
import { useQuery } from "@tanstack/react-query";
import { ApiError, getJson, getText } from "../lib/api";
import { parseCheckpoint } from "../lib/checkpoint";
import type { SigningKeys } from "../lib/signingKeys";
import { ago, fmtMicros } from "../lib/format";
import { Copy, ErrorBox, Empty, Loading, PageTitle } from "../components/common";
import { TimeChart } from "../components/Chart";
import { useSession } from "../session";

interface CheckpointRow {
  size: number;
  root: string;
  time?: number;
  signers?: { name: string; key_id: string }[];
  note?: string;
}

export function Log() {
  const { project } = useSession();
  const cps = useQuery({
    queryKey: ["checkpoints", project],
    queryFn: async ({ signal }): Promise<{ rows: CheckpointRow[]; history: boolean }> => {
      try {
        const r = await getJson<{ checkpoints: CheckpointRow[] }>("/v1/checkpoints?limit=500", signal);
        return { rows: r.checkpoints, history: true };
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404) throw e;
      }
      try {
        const note = await getText("/v1/checkpoint", signal);
        const p = parseCheckpoint(note);
        return { rows: p ? [{ size: p.size, root: p.root, note }] : [], history: false };
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return { rows: [], history: false };
        throw e;
      }
    },
  });
  const keys = useQuery({ queryKey: ["signing-keys", project], queryFn: ({ signal }) => getJson<SigningKeys>("/v1/signing-keys", signal) });
  const chart = useMemo(() => {
    const rows = (cps.data?.rows ?? []).filter((r) => r.time).sort((a, b) => a.time! - b.time!);
    return { xs: rows.map((r) => r.time! / 1e6), series: [{ label: "tree size", values: rows.map((r) => r.size) }] };
  }, [cps.data]);

  return (
    <>
      <PageTitle title="Log">The signed state of the log: checkpoints over time and the keys that sign them.</PageTitle>
      <section className="card" aria-labelledby="h-keys">
        <h2 id="h-keys">Signing keys</h2>
        {keys.isPending ? <Loading what="signing keys" /> : null}
        <ErrorBox error={keys.error} what="Listing signing keys" />
        {keys.data ? (
          <>
            <p>
              Origin <code>{keys.data.origin}</code>
            </p>
            {keys.data.signing.map((v) => (
              <p key={v} className="vkey">
                <span className="muted">verifier key (vkey) now signing:</span>
                <br />
                <code className="wrap" data-testid="vkey">
                  {v}
                </code>{" "}
                <Copy text={v} label="Copy the verifier key" />
              </p>
            ))}
            <div className="table-wrap" tabIndex={0} role="region" aria-label="Signing key history">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Key id</th>
                    <th scope="col">Role</th>
                    <th scope="col">Since</th>
                    <th scope="col">Until</th>
                    <th scope="col">Replaces</th>
                  </tr>
                </thead>
                <tbody>
                  {keys.data.history.map((k) => (
                    <tr key={k.key_id}>
                      <td className="mono">{k.key_id}</td>
                      <td>{k.role}</td>
                      <td>{fmtMicros(k.created)}</td>
                      <td>{k.retired ? fmtMicros(k.retired) : k.overlap_until ? `${fmtMicros(k.overlap_until)} (overlap)` : "—"}</td>
                      <td className="mono">{k.replaces ?? "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        ) : null}
      </section>
      <section className="card" aria-labelledby="h-cps">
        <h2 id="h-cps">Checkpoints</h2>
        {cps.isPending ? <Loading what="checkpoints" /> : null}
        <ErrorBox error={cps.error} what="Listing checkpoints" />
        {cps.data && cps.data.rows.length === 0 ? <Empty>No checkpoint signed yet.</Empty> : null}
        {cps.data && !cps.data.history && cps.data.rows.length ? <p className="muted">This server reports only its latest checkpoint.</p> : null}
        {chart.xs.length > 1 ? <TimeChart xs={chart.xs} series={chart.series} title="Tree size over time" /> : null}
        {cps.data && cps.data.rows.length ? (
          <div className="table-wrap" tabIndex={0} role="region" aria-label="Checkpoints">
            <table>
              <thead>
                <tr>
                  <th scope="col" className="num">
                    Size
                  </th>
                  <th scope="col">Signed</th>
                  <th scope="col">Signed by (key ids)</th>
                  <th scope="col">Root hash</th>
                </tr>
              </thead>
              <tbody>
                {cps.data.rows.slice(0, 200).map((r) => (
                  <tr key={`${r.size}-${r.root}`}>
                    <td className="num">{r.size.toLocaleString()}</td>
                    <td>{r.time ? `${fmtMicros(r.time)} (${ago(r.time)})` : "—"}</td>
                    <td className="mono">{r.signers?.map((g) => g.key_id).join(", ") || "—"}</td>
                    <td className="mono small wrap">{r.root}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </section>
    </>
  );
}
