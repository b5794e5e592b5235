import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { getJson } from "../lib/api";
import type { EventRow, EventsPage } from "../lib/types";
import { eventsPath } from "../lib/filters";
import { buildTree, visibleRows } from "../lib/tree";
import { fmtDuration, fmtMicros } from "../lib/format";
import { ErrorBox, Empty, Loading, PageTitle } from "../components/common";
import { useSession } from "../session";
import { can } from "../lib/roles";

const ROW = 34;

async function loadSession(id: string, bodies: boolean, signal: AbortSignal): Promise<EventRow[]> {
  performance.mark("sealtrail:session-fetch-start");
  const out: EventRow[] = [];
  let cursor: number | null = null;
  do {
    const page: EventsPage = await getJson<EventsPage>(eventsPath({ session: id }, { cursor, limit: 1000, bodies }), signal);
    out.push(...page.events);
    cursor = page.next_cursor;
  } while (cursor !== null);
  performance.mark("sealtrail:session-data");
  return out;
}

function tokens(r: EventRow): string {
  const m = r.event?.model;
  if (!m || (m.input_tokens === undefined && m.output_tokens === undefined)) return "";
  return `${m.input_tokens ?? 0}→${m.output_tokens ?? 0}`;
}

/** A step's own duration when the event says so (attributes.duration_ms). */
function declaredDuration(r: EventRow): number | null {
  const d = r.event?.attributes?.["duration_ms"];
  return typeof d === "number" && d >= 0 ? Math.round(d * 1000) : null;
}

export function SessionView() {
  const { id = "" } = useParams();
  const { project, whoami } = useSession();
  const bodies = can(whoami?.scopes ?? [], "bodies");
  const q = useQuery({
    queryKey: ["session", project, id, bodies],
    queryFn: ({ signal }) => loadSession(id, bodies, signal),
  });
  const tree = useMemo(() => (q.data ? buildTree(q.data) : []), [q.data]);
  const [collapsed, setCollapsed] = useState<ReadonlySet<number>>(new Set());
  const vis = useMemo(() => visibleRows(tree, collapsed), [tree, collapsed]);
  const t0 = q.data?.length ? q.data[0].time : 0;
  const t1 = q.data?.length ? q.data[q.data.length - 1].time : 0;
  const span = Math.max(1, t1 - t0);

  const scroller = useRef<HTMLDivElement>(null);
  const virt = useVirtualizer({ count: vis.length, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 15 });

  // For bench/console: data in hand, then the tree on screen.
  useEffect(() => {
    if (!q.data) return;
    requestAnimationFrame(() => performance.mark("sealtrail:session-rendered"));
  }, [q.data]);

  const toggle = (k: number) =>
    setCollapsed((s) => {
      const n = new Set(s);
      if (n.has(k)) n.delete(k);
      else n.add(k);
      return n;
    });

  return (
    <>
      <PageTitle title={`Session ${id}`}>
        The agent run as a tree (parent links) with a timeline of sealing times.{" "}
        <Link to={`/search?session=${encodeURIComponent(id)}`}>Show as a list</Link>
      </PageTitle>
      {q.isPending ? <Loading what="the session" /> : null}
      <ErrorBox error={q.error} what="Loading the session" />
      {q.data && q.data.length === 0 ? <Empty>No entries in session “{id}”.</Empty> : null}
      {q.data && q.data.length > 0 ? (
        <>
          <p data-testid="session-summary">
            {q.data.length.toLocaleString()} steps, {fmtMicros(t0)} to {fmtMicros(t1)} ({fmtDuration(t1 - t0)}),{" "}
            {tree.filter((t) => t.depth === 0).length} root(s).{" "}
            <button type="button" className="ghost small" onClick={() => setCollapsed(new Set())}>
              Expand all
            </button>
          </p>
          <div className="tree-head" aria-hidden="true">
            <span>step</span>
            <span>tool / model</span>
            <span>tokens</span>
            <span>outcome</span>
            <span>scope</span>
            <span>data classes</span>
            <span>timeline</span>
          </div>
          <div className="scroller tree" ref={scroller} role="tree" aria-label={`Steps of session ${id}`} data-testid="session-tree">
            <div style={{ height: virt.getTotalSize(), position: "relative" }}>
              {virt.getVirtualItems().map((vi) => {
                const k = vis[vi.index];
                const t = tree[k];
                const h = t.row.header;
                const own = declaredDuration(t.row);
                const dur = own ?? (t.end > t.row.time ? t.end - t.row.time : null);
                const left = ((t.row.time - t0) / span) * 100;
                const width = dur ? Math.max(0.5, (dur / span) * 100) : 0.5;
                return (
                  <div
                    key={k}
                    role="treeitem"
                    aria-level={t.depth + 1}
                    aria-expanded={t.children ? !collapsed.has(k) : undefined}
                    aria-selected={false}
                    className="tree-row"
                    style={{ position: "absolute", top: 0, left: 0, right: 0, height: ROW, transform: `translateY(${vi.start}px)` }}
                  >
                    <span className="step" style={{ paddingLeft: Math.min(t.depth, 24) * 14 }}>
                      {t.children ? (
                        <button
                          type="button"
                          className="twisty"
                          aria-label={`${collapsed.has(k) ? "Expand" : "Collapse"} step ${h.index}`}
                          onClick={() => toggle(k)}
                        >
                          {collapsed.has(k) ? "▸" : "▾"}
                        </button>
                      ) : (
                        <span className="twisty" />
                      )}
                      <Link to={`/entries/${h.index}`}>#{h.index}</Link> <span className="kind">{h.kind}</span>
                    </span>
                    <span className="ellipsis">{h.tool ?? t.row.event?.model?.name ?? h.action ?? ""}</span>
                    <span>{tokens(t.row)}</span>
                    <span>{h.outcome ? <span className={`pill ${h.outcome}`}>{h.outcome}</span> : ""}</span>
                    <span className="ellipsis">{h.scope ?? ""}</span>
                    <span className="ellipsis">{(h.data_classes ?? []).join(", ")}</span>
                    <span className="timeline" title={dur ? fmtDuration(dur) : "duration unknown"}>
                      <span className="tl-bar" style={{ left: `${left}%`, width: `${width}%` }} />
                    </span>
                  </div>
                );
              })}
            </div>
          </div>
        </>
      ) : null}
    </>
  );
}
