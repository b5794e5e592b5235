import { describe, expect, it } from "vitest";
import { buildTree, visibleRows } from "./tree";
import type { EventRow } from "./types";

function ev(index: number, id: string, parent?: string, time = index * 10): EventRow {
  return {
    index,
    time,
    leaf_hash: "",
    header: { v: 1, index, time, agent: "a", kind: "tool_call", event_id: id, parent, streams: { agent: { n: index + 1 } }, body: "" },
  };
}

describe("buildTree", () => {
  it("orders steps depth-first under their parents", () => {
    const rows = buildTree([ev(0, "root"), ev(1, "a", "root"), ev(2, "b", "root"), ev(3, "a1", "a", 50)]);
    expect(rows.map((r) => [r.row.header.event_id, r.depth])).toEqual([
      ["root", 0],
      ["a", 1],
      ["a1", 2],
      ["b", 1],
    ]);
    expect(rows[0].last).toBe(3);
    expect(rows[1].last).toBe(2);
    // The subtree of "a" ends when a1 was sealed.
    expect(rows[1].end).toBe(50);
    expect(rows[0].children).toBe(2);
  });

  it("roots steps whose parent is missing or sealed later", () => {
    const rows = buildTree([ev(0, "x", "missing"), ev(1, "y", "z"), ev(2, "z")]);
    expect(rows.map((r) => r.depth)).toEqual([0, 0, 0]);
  });

  it("handles a 5,000-step chain without recursion", () => {
    const evs = [ev(0, "s0")];
    for (let i = 1; i < 5000; i++) evs.push(ev(i, `s${i}`, `s${i - 1}`));
    const rows = buildTree(evs);
    expect(rows[4999].depth).toBe(4999);
    expect(rows[0].last).toBe(4999);
  });
});

describe("visibleRows", () => {
  it("hides a collapsed step's descendants", () => {
    const rows = buildTree([ev(0, "root"), ev(1, "a", "root"), ev(2, "a1", "a"), ev(3, "b", "root")]);
    expect(visibleRows(rows, new Set([1]))).toEqual([0, 1, 3]);
    expect(visibleRows(rows, new Set([0]))).toEqual([0]);
  });
});
