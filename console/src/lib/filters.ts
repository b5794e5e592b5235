// The search filters: one object, the same names as GET /v1/events, so the
// browser's URL, the API call, a saved search and an export request are the
// same data in different spellings.

export const FILTER_NAMES = [
  "from",
  "to",
  "agent",
  "session",
  "action",
  "tool",
  "kind",
  "outcome",
  "data_class",
  "subject",
  "scope",
] as const;

export type FilterName = (typeof FILTER_NAMES)[number];
export type Filters = Partial<Record<FilterName, string>>;

/** The filters in a URL's query (unknown parameters are ignored). */
export function filtersFromParams(p: URLSearchParams): Filters {
  const f: Filters = {};
  for (const name of FILTER_NAMES) {
    const v = p.get(name)?.trim();
    if (v) f[name] = v;
  }
  return f;
}

/** The query string of the filters, in a fixed order (stable URLs). */
export function filtersToParams(f: Filters): URLSearchParams {
  const p = new URLSearchParams();
  for (const name of FILTER_NAMES) {
    const v = f[name]?.trim();
    if (v) p.set(name, v);
  }
  return p;
}

/** GET /v1/events for one page. */
export function eventsPath(f: Filters, opts: { cursor?: number | null; limit?: number; bodies?: boolean }): string {
  const p = filtersToParams(f);
  if (opts.cursor !== undefined && opts.cursor !== null) p.set("cursor", String(opts.cursor));
  p.set("limit", String(opts.limit ?? 200));
  if (opts.bodies) p.set("include", "body");
  return `/v1/events?${p.toString()}`;
}

/** The body of POST /v1/exports (and /plan) for the filters. */
export function exportRequest(f: Filters, bodies: boolean): Record<string, string | boolean> {
  const body: Record<string, string | boolean> = { bodies };
  for (const name of FILTER_NAMES) {
    const v = f[name]?.trim();
    if (v) body[name] = v;
  }
  return body;
}

export interface SavedSearch {
  name: string;
  query: string;
}

const SAVED_KEY = "sealtrail:saved-searches";

export function loadSaved(storage: Pick<Storage, "getItem">): SavedSearch[] {
  try {
    const raw = storage.getItem(SAVED_KEY);
    const v: unknown = raw ? JSON.parse(raw) : [];
    if (!Array.isArray(v)) return [];
    return v.filter(
      (s): s is SavedSearch => typeof s === "object" && s !== null && typeof s.name === "string" && typeof s.query === "string",
    );
  } catch {
    return [];
  }
}

/** Saves (or replaces, by name) a search; returns the new list. */
export function saveSearch(storage: Pick<Storage, "getItem" | "setItem">, s: SavedSearch): SavedSearch[] {
  const list = loadSaved(storage).filter((x) => x.name !== s.name);
  list.push(s);
  list.sort((a, b) => a.name.localeCompare(b.name));
  storage.setItem(SAVED_KEY, JSON.stringify(list));
  return list;
}

export function deleteSaved(storage: Pick<Storage, "getItem" | "setItem">, name: string): SavedSearch[] {
  const list = loadSaved(storage).filter((x) => x.name !== name);
  storage.setItem(SAVED_KEY, JSON.stringify(list));
  return list;
}
