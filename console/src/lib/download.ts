// Search results as files: CSV (one row per entry, the header's columns) and
// JSONL (each row exactly as the API returned it).

import Papa from "papaparse";
import type { EventRow } from "./types";

export const CSV_COLUMNS = [
  "index",
  "time",
  "agent",
  "session",
  "kind",
  "action",
  "tool",
  "outcome",
  "scope",
  "data_classes",
  "event_id",
  "parent",
  "leaf_hash",
] as const;

export function toCsv(rows: readonly EventRow[]): string {
  const data = rows.map((r) => [
    r.index,
    new Date(Math.floor(r.time / 1000)).toISOString(),
    r.header.agent,
    r.header.session ?? "",
    r.header.kind,
    r.header.action ?? "",
    r.header.tool ?? "",
    r.header.outcome ?? "",
    r.header.scope ?? "",
    (r.header.data_classes ?? []).join(" "),
    r.header.event_id ?? "",
    r.header.parent ?? "",
    r.leaf_hash,
  ]);
  return Papa.unparse({ fields: [...CSV_COLUMNS], data }, { newline: "\n" });
}

export function toJsonl(rows: readonly EventRow[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length ? "\n" : "");
}

/** Offers a file to the browser's downloads. */
export function saveFile(name: string, type: string, data: BlobPart): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
