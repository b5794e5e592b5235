import { useMemo } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { ApiError, getJson, getText } from "../lib/api";
import type { EventsPage, Stats, StatsRow } from "../lib/types";
import { eventsPath } from "../lib/filters";
import { parseCheckpoint } from "../lib/checkpoint";
import { ago, fmtMicros } from "../lib/format";
import { ErrorBox, Empty, Loading, PageTitle } from "../components/common";
import { TimeChart, type Series } from "../components/Chart";
import { useSession } from "../session";
import { can } from "../lib/roles";

function useStats(groupBy: string) {
  const { project } = useSession();
  return useQuery({
    queryKey: ["stats", project, groupBy],
    queryFn: ({ signal }) => getJson<Stats>(`/v1/stats?group_by=${groupBy}`, signal),
  });
}

interface CheckpointInfo {
  size: number;
  root: string;
  time?: number;
  signers?: { name: string; key_id: string }[];
}

/** Counts per day (or hour), one series per agent (top 6, the rest summed). */
function perTime(rows: StatsRow[], timeCol: string): { xs: number[]; series: Series[] } {
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(String(r.agent), (totals.get(String(r.agent)) ?? 0) + r.count);
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([a]) => a);
  const times = [...new Set(rows.map((r) => String(r[timeCol])))].sort();
  const xi = new Map(times.map((t, i) => [t, i]));
  const mk = (label: string): Series => ({ label, values: times.map(() => 0) });
  const series = top.map(mk);
  const other = mk("other agents");
  for (const r of rows) {
    const i = xi.get(String(r[timeCol]))!;
    const s = top.indexOf(String(r.agent));
    const target = s >= 0 ? series[s] : other;
    target.values[i] = (target.values[i] ?? 0) + r.count;
  }
  if (other.values.some((v) => v)) series.push(other);
  const xs = times.map((t) => Date.parse(t.length === 10 ? `${t}T00:00:00Z` : t) / 1000);
  return { xs, series };
}

interface CountSource {
  data?: Stats;
  error: unknown;
  isPending: boolean;
}

/** Most entries counted by paging through a search when stats cannot group. */
const COUNT_CAP = 10_000;

/**
 * Scope verdicts counted from searches, for a server whose stats do not
 * keep verdicts: out-of-scope and unregistered entries, up to COUNT_CAP each.
 */
function useVerdictsBySearch(enabled: boolean): CountSource {
  const { project } = useSession();
  const q = useQuery({
    queryKey: ["verdicts-by-search", project],
    enabled,
    queryFn: async ({ signal }): Promise<Stats> => {
      const rows: StatsRow[] = [];
      for (const verdict of ["out_of_scope", "unregistered_agent"]) {
        let n = 0;
        let cursor: number | null = null;
        do {
          const page: EventsPage = await getJson<EventsPage>(eventsPath({ scope: verdict }, { cursor, limit: 1000 }), signal);
          n += page.events.length;
          cursor = page.next_cursor;
        } while (cursor !== null && n < COUNT_CAP);
        if (n) rows.push({ verdict, count: n });
      }
      return { group_by: ["verdict"], rows, total: rows.reduce((a, r) => a + r.count, 0) };
    },
  });
  return { data: q.data, error: q.error, isPending: enabled && q.isPending };
}

function CountTable({ title, col, q, link }: { title: string; col: string; q: CountSource; link?: (v: string) => string }) {
  return (
    <section className="card" aria-labelledby={`h-${col}`}>
      <h2 id={`h-${col}`}>{title}</h2>
      {q.isPending ? <Loading what={title.toLowerCase()} /> : null}
      {q.error ? (
        q.error instanceof ApiError && q.error.status === 400 ? (
          <p className="muted">This server cannot group counts by {col} yet.</p>
        ) : (
          <ErrorBox error={q.error} what={title} />
        )
      ) : null}
      {q.data && q.data.rows.length === 0 ? <Empty>No entries yet.</Empty> : null}
      {q.data && q.data.rows.length > 0 ? (
        <table className="compact">
          <thead>
            <tr>
              <th scope="col">{col.replace("_", " ")}</th>
              <th scope="col" className="num">
                entries
              </th>
              <th scope="col" className="bar-col">
                <span className="sr-only">share</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {[...q.data.rows]
              .sort((a, b) => b.count - a.count)
              .slice(0, 12)
              .map((r) => {
                const v = r[col] === null || r[col] === undefined ? "(none)" : String(r[col]);
                return (
                  <tr key={v}>
                    <td>{link && r[col] !== null ? <Link to={link(v)}>{v}</Link> : v}</td>
                    <td className="num">{r.count.toLocaleString()}</td>
                    <td className="bar-col">
                      <span className="bar" style={{ width: `${Math.round((100 * r.count) / Math.max(1, q.data?.total ?? 1))}%` }} />
                    </td>
                  </tr>
                );
              })}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

export function Overview() {
  const { project, whoami } = useSession();
  const byDay = useStats("day,agent");
  const byHour = useStats("hour,agent");
  const byKind = useStats("kind");
  const byOutcome = useStats("outcome");
  const byVerdictStats = useStats("verdict");
  const statsLackVerdicts = byVerdictStats.error instanceof ApiError && byVerdictStats.error.status === 400;
  const byVerdictSearch = useVerdictsBySearch(statsLackVerdicts);
  const byVerdict: CountSource = statsLackVerdicts ? byVerdictSearch : byVerdictStats;
  const byClass = useStats("data_class");
  const byAgent = useStats("agent");
  const proofs = can(whoami?.scopes ?? [], "proofs");
  const checkpoint = useQuery({
    queryKey: ["checkpoint-latest", project],
    enabled: proofs,
    queryFn: async ({ signal }): Promise<CheckpointInfo | null> => {
      try {
        const list = await getJson<{ checkpoints: CheckpointInfo[] }>("/v1/checkpoints?limit=1", signal);
        if (list.checkpoints.length) return list.checkpoints[0];
      } catch (e) {
        if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
      }
      try {
        const p = parseCheckpoint(await getText("/v1/checkpoint", signal));
        return p ? { size: p.size, root: p.root } : null;
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
  });

  const hourly = byHour.data && byHour.data.rows.length > 0;
  const chart = useMemo(() => {
    if (hourly && byHour.data) return { ...perTime(byHour.data.rows, "hour"), unit: "hour" };
    if (byDay.data) return { ...perTime(byDay.data.rows, "day"), unit: "day" };
    return null;
  }, [hourly, byHour.data, byDay.data]);

  return (
    <>
      <PageTitle title="Overview">
        Project <strong>{project}</strong>: what the agents did, and the log's latest signed state.
      </PageTitle>
      <div className="grid">
        <section className="card stat" aria-labelledby="h-total">
          <h2 id="h-total">Entries</h2>
          <p className="big" data-testid="total">
            {byKind.data ? byKind.data.total.toLocaleString() : "…"}
          </p>
        </section>
        {proofs ? (
          <section className="card stat" aria-labelledby="h-cp">
            <h2 id="h-cp">Latest signed checkpoint</h2>
            {checkpoint.isPending ? <Loading what="checkpoint" /> : null}
            <ErrorBox error={checkpoint.error} what="Reading the checkpoint" />
            {checkpoint.data === null ? <Empty>No checkpoint signed yet.</Empty> : null}
            {checkpoint.data ? (
              <>
                <p className="big">size {checkpoint.data.size.toLocaleString()}</p>
                <p className="muted">
                  {checkpoint.data.time ? (
                    <>
                      signed {ago(checkpoint.data.time)} ({fmtMicros(checkpoint.data.time)})
                    </>
                  ) : (
                    "signing time not reported by this server"
                  )}
                </p>
                <p className="mono small wrap">root {checkpoint.data.root}</p>
                <Link to="/log">All checkpoints</Link>
              </>
            ) : null}
          </section>
        ) : null}
      </div>
      <section className="card" aria-labelledby="h-chart">
        <h2 id="h-chart">Events per {chart?.unit ?? "day"} by agent</h2>
        <ErrorBox error={byDay.error} what="Counting events per day" />
        {chart && chart.xs.length ? (
          <TimeChart xs={chart.xs} series={chart.series} title={`Events per ${chart.unit} by agent`} bars={chart.xs.length < 40} step={chart.unit === "hour" ? 3600 : 86400} />
        ) : byDay.isPending ? (
          <Loading what="counts" />
        ) : (
          <Empty>No events yet. Agents send events to POST /v1/events.</Empty>
        )}
      </section>
      <div className="grid">
        <CountTable title="By agent" col="agent" q={byAgent} link={(v) => `/search?agent=${encodeURIComponent(v)}`} />
        <CountTable title="By kind" col="kind" q={byKind} link={(v) => `/search?kind=${encodeURIComponent(v)}`} />
        <CountTable title="Outcomes" col="outcome" q={byOutcome} link={(v) => `/search?outcome=${encodeURIComponent(v)}`} />
        <CountTable title={statsLackVerdicts ? "Scope verdicts (not in scope)" : "Scope verdicts"} col="verdict" q={byVerdict} link={(v) => `/search?scope=${encodeURIComponent(v)}`} />
        <CountTable title="Data classes" col="data_class" q={byClass} link={(v) => `/search?data_class=${encodeURIComponent(v)}`} />
      </div>
    </>
  );
}
