// An agent run as a tree: each step's parent is the step whose event id the
// header's `parent` names. Steps whose parent is not in the session (or
// absent) are roots. Flattened depth-first for a virtualised list.

import type { EventRow } from "./types";

export interface TreeRow {
  row: EventRow;
  depth: number;
  children: number;
  /** Index into `rows` of the last descendant (the subtree's end). */
  last: number;
  /** Server time of the subtree's last step: its span ends there. */
  end: number;
}

export function buildTree(events: readonly EventRow[]): TreeRow[] {
  const byId = new Map<string, number>();
  events.forEach((e, i) => {
    const id = e.header.event_id;
    if (id !== undefined && !byId.has(id)) byId.set(id, i);
  });
  const kids: number[][] = events.map(() => []);
  const roots: number[] = [];
  events.forEach((e, i) => {
    const p = e.header.parent;
    const pi = p === undefined ? undefined : byId.get(p);
    // A parent sealed after its child, or itself, would make a cycle: root it.
    if (pi === undefined || pi >= i) roots.push(i);
    else kids[pi].push(i);
  });
  const out: TreeRow[] = [];
  const parentPos: number[] = [];
  // Iterative depth-first walk: a 5,000-step chain must not blow the stack.
  const stack: { i: number; depth: number; parent: number }[] = [];
  for (let r = roots.length - 1; r >= 0; r--) stack.push({ i: roots[r], depth: 0, parent: -1 });
  while (stack.length) {
    const { i, depth, parent } = stack.pop()!;
    const k = out.length;
    out.push({ row: events[i], depth, children: kids[i].length, last: k, end: events[i].time });
    parentPos.push(parent);
    for (let c = kids[i].length - 1; c >= 0; c--) stack.push({ i: kids[i][c], depth: depth + 1, parent: k });
  }
  // Subtree ends: children come after their parent in pre-order, so one
  // backward pass carries each subtree's last row and time up to its parent.
  for (let k = out.length - 1; k >= 0; k--) {
    const p = parentPos[k];
    if (p < 0) continue;
    if (out[k].last > out[p].last) out[p].last = out[k].last;
    if (out[k].end > out[p].end) out[p].end = out[k].end;
  }
  return out;
}

/** Rows visible when the given rows (positions) are collapsed. */
export function visibleRows(rows: readonly TreeRow[], collapsed: ReadonlySet<number>): number[] {
  const vis: number[] = [];
  for (let k = 0; k < rows.length; k++) {
    vis.push(k);
    if (collapsed.has(k)) k = rows[k].last;
  }
  return vis;
}
