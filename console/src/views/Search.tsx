import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { useInfiniteQuery } from "@tanstack/react-query";
import { createColumnHelper, flexRender, getCoreRowModel, useReactTable } from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { getJson } from "../lib/api";
import type { EventRow, EventsPage } from "../lib/types";
import { KINDS, OUTCOMES } from "../lib/types";
import {
  deleteSaved,
  eventsPath,
  filtersFromParams,
  filtersToParams,
  loadSaved,
  saveSearch,
  type Filters,
  type SavedSearch,
} from "../lib/filters";
import { saveFile, toCsv, toJsonl } from "../lib/download";
import { fmtMicros } from "../lib/format";
import { ErrorBox, Empty, Field, PageTitle } from "../components/common";
import { useSession } from "../session";

const PAGE = 200;
/** Most rows a download fetches (a bigger export is an evidence bundle). */
const DOWNLOAD_MAX = 100_000;

const col = createColumnHelper<EventRow>();
const columns = [
  col.accessor("index", {
    header: "#",
    cell: (c) => <Link to={`/entries/${c.getValue()}`}>{c.getValue()}</Link>,
  }),
  col.accessor("time", { header: "Sealed", cell: (c) => fmtMicros(c.getValue()) }),
  col.accessor((r) => r.header.agent, { id: "agent", header: "Agent" }),
  col.accessor((r) => r.header.session, {
    id: "session",
    header: "Session",
    cell: (c) => {
      const s = c.getValue();
      return s ? <Link to={`/sessions/${encodeURIComponent(s)}`}>{s}</Link> : "—";
    },
  }),
  col.accessor((r) => r.header.kind, { id: "kind", header: "Kind" }),
  col.accessor((r) => r.header.tool ?? r.header.action ?? "", { id: "what", header: "Tool / action" }),
  col.accessor((r) => r.header.outcome ?? "", {
    id: "outcome",
    header: "Outcome",
    cell: (c) => (c.getValue() ? <span className={`pill ${c.getValue()}`}>{c.getValue()}</span> : "—"),
  }),
  col.accessor((r) => r.header.scope ?? "", {
    id: "scope",
    header: "Scope",
    cell: (c) => {
      const v = c.getValue();
      return v ? <span className={v.startsWith("out_of_scope") ? "pill failure" : "pill"}>{v}</span> : "—";
    },
  }),
  col.accessor((r) => (r.header.data_classes ?? []).join(", "), { id: "data_classes", header: "Data classes" }),
];

function FilterForm({ initial, onApply }: { initial: Filters; onApply: (f: Filters) => void }) {
  const [f, setF] = useState<Filters>(initial);
  useEffect(() => setF(initial), [initial]);
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setF((o) => ({ ...o, [k]: e.target.value }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(f);
  };
  return (
    <form className="filters card" onSubmit={submit} aria-label="Search filters">
      <Field label="Agent">
        <input name="agent" value={f.agent ?? ""} onChange={set("agent")} />
      </Field>
      <Field label="Session">
        <input name="session" value={f.session ?? ""} onChange={set("session")} />
      </Field>
      <Field label="Kind">
        <select name="kind" value={f.kind ?? ""} onChange={set("kind")}>
          <option value="">any</option>
          {KINDS.map((k) => (
            <option key={k}>{k}</option>
          ))}
        </select>
      </Field>
      <Field label="Outcome">
        <select name="outcome" value={f.outcome ?? ""} onChange={set("outcome")}>
          <option value="">any</option>
          {OUTCOMES.map((k) => (
            <option key={k}>{k}</option>
          ))}
        </select>
      </Field>
      <Field label="Action">
        <input name="action" value={f.action ?? ""} onChange={set("action")} />
      </Field>
      <Field label="Tool">
        <input name="tool" value={f.tool ?? ""} onChange={set("tool")} />
      </Field>
      <Field label="Data class">
        <input name="data_class" value={f.data_class ?? ""} onChange={set("data_class")} placeholder="pii" />
      </Field>
      <Field label="Scope verdict">
        <input name="scope" value={f.scope ?? ""} onChange={set("scope")} placeholder="out_of_scope" list="scope-values" />
        <datalist id="scope-values">
          <option value="in_scope" />
          <option value="out_of_scope" />
          <option value="unregistered_agent" />
        </datalist>
      </Field>
      <Field label="From (inclusive)">
        <input name="from" value={f.from ?? ""} onChange={set("from")} placeholder="2026-11-22 or RFC 3339" />
      </Field>
      <Field label="To (exclusive)">
        <input name="to" value={f.to ?? ""} onChange={set("to")} placeholder="2026-11-23T00:00:00Z" />
      </Field>
      <Field label="Subject MAC">
        <input name="subject" value={f.subject ?? ""} onChange={set("subject")} placeholder="64 hex digits" />
      </Field>
      <div className="actions">
        <button type="submit">Search</button>
        <button type="button" className="ghost" onClick={() => onApply({})}>
          Clear
        </button>
      </div>
    </form>
  );
}

function SavedSearches({ query }: { query: string }) {
  const [list, setList] = useState<SavedSearch[]>(() => loadSaved(localStorage));
  const [name, setName] = useState("");
  return (
    <details className="card saved">
      <summary>Saved searches ({list.length})</summary>
      {list.length === 0 ? <Empty>None yet. Name this search to keep it in this browser.</Empty> : null}
      <ul>
        {list.map((s) => (
          <li key={s.name}>
            <Link to={`/search?${s.query}`}>{s.name}</Link>{" "}
            <button type="button" className="ghost small" onClick={() => setList(deleteSaved(localStorage, s.name))} aria-label={`Delete saved search ${s.name}`}>
              Delete
            </button>
          </li>
        ))}
      </ul>
      <form
        className="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) setList(saveSearch(localStorage, { name: name.trim(), query }));
          setName("");
        }}
      >
        <label className="inline">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" disabled={!name.trim()}>
          Save this search
        </button>
      </form>
    </details>
  );
}

export function Search() {
  const [params, setParams] = useSearchParams();
  const { project } = useSession();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  const query = filtersToParams(filters).toString();

  const q = useInfiniteQuery({
    queryKey: ["events", project, query],
    initialPageParam: null as number | null,
    queryFn: ({ pageParam, signal }) => getJson<EventsPage>(eventsPath(filters, { cursor: pageParam, limit: PAGE }), signal),
    getNextPageParam: (last) => last.next_cursor,
  });
  const rows = useMemo(() => q.data?.pages.flatMap((p) => p.events) ?? [], [q.data]);
  const table = useReactTable({ data: rows, columns, getCoreRowModel: getCoreRowModel() });

  const scroller = useRef<HTMLDivElement>(null);
  const virt = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 36,
    overscan: 12,
  });
  const items = virt.getVirtualItems();
  const lastItem = items.length ? items[items.length - 1].index : -1;
  // Fetch the next page as the end of what is loaded comes into view. A page
  // may be empty yet carry a cursor (docs/api.md): keep going then too.
  useEffect(() => {
    if (q.hasNextPage && !q.isFetchingNextPage && lastItem >= rows.length - 20) void q.fetchNextPage();
  }, [lastItem, rows.length, q.hasNextPage, q.isFetchingNextPage, q]);

  const [dl, setDl] = useState<string | null>(null);
  async function download(kind: "csv" | "jsonl") {
    const all: EventRow[] = [];
    let cursor: number | null = null;
    setDl("starting…");
    try {
      do {
        const page: EventsPage = await getJson<EventsPage>(eventsPath(filters, { cursor, limit: 1000 }));
        all.push(...page.events);
        cursor = page.next_cursor;
        setDl(`${all.length.toLocaleString()} rows…`);
      } while (cursor !== null && all.length < DOWNLOAD_MAX);
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      if (kind === "csv") saveFile(`sealtrail-search-${stamp}.csv`, "text/csv", toCsv(all));
      else saveFile(`sealtrail-search-${stamp}.jsonl`, "application/x-ndjson", toJsonl(all));
      setDl(
        cursor !== null
          ? `saved the first ${all.length.toLocaleString()} rows; for more, build an evidence bundle`
          : `saved ${all.length.toLocaleString()} rows`,
      );
    } catch (e) {
      setDl(`download failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // For bench/console: when the first rows of a search are on screen.
  const firstRows = rows.length > 0;
  useEffect(() => {
    if (firstRows) requestAnimationFrame(() => performance.mark("sealtrail:search-first-rows"));
  }, [firstRows, query]);

  const headers = table.getHeaderGroups()[0].headers;
  const tableRows = table.getRowModel().rows;
  const padTop = items.length ? items[0].start : 0;
  const padBottom = items.length ? virt.getTotalSize() - items[items.length - 1].end : 0;

  return (
    <>
      <PageTitle title="Search">Every filter of the query API. The address bar reproduces this view.</PageTitle>
      <FilterForm initial={filters} onApply={(f) => setParams(filtersToParams(f))} />
      <div className="toolbar">
        <span aria-live="polite" data-testid="result-count">
          {q.isPending ? "Searching…" : `${rows.length.toLocaleString()} loaded${q.hasNextPage ? ", more on scroll" : ""}`}
        </span>
        <div className="spacer" />
        <button type="button" className="ghost" onClick={() => void download("csv")}>
          Download CSV
        </button>
        <button type="button" className="ghost" onClick={() => void download("jsonl")}>
          Download JSONL
        </button>
        {dl ? <span className="muted" role="status">{dl}</span> : null}
      </div>
      <SavedSearches query={query} />
      <ErrorBox error={q.error} what="The search" />
      {!q.isPending && rows.length === 0 && !q.error ? (
        <Empty>{q.hasNextPage ? "Nothing on the first pages yet; scanning further…" : "No entries match these filters."}</Empty>
      ) : null}
      {rows.length > 0 ? (
        <div className="scroller" ref={scroller} tabIndex={0} role="region" aria-label="Search results">
          <table className="results" data-testid="results">
            <thead>
              <tr>
                {headers.map((h) => (
                  <th key={h.id} scope="col">
                    {flexRender(h.column.columnDef.header, h.getContext())}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {padTop > 0 ? (
                <tr aria-hidden="true">
                  <td colSpan={headers.length} style={{ height: padTop, padding: 0, border: 0 }} />
                </tr>
              ) : null}
              {items.map((vi) => {
                const row = tableRows[vi.index];
                return (
                  <tr key={row.id} data-index={vi.index} style={{ height: 36 }}>
                    {row.getVisibleCells().map((c) => (
                      <td key={c.id}>{flexRender(c.column.columnDef.cell, c.getContext())}</td>
                    ))}
                  </tr>
                );
              })}
              {padBottom > 0 ? (
                <tr aria-hidden="true">
                  <td colSpan={headers.length} style={{ height: padBottom, padding: 0, border: 0 }} />
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}
