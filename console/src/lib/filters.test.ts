import { describe, expect, it } from "vitest";
import { eventsPath, exportRequest, filtersFromParams, filtersToParams, loadSaved, saveSearch, deleteSaved } from "./filters";

class Mem {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
}

describe("filters", () => {
  it("round-trips through the URL in a fixed order and drops unknown parameters", () => {
    const f = filtersFromParams(new URLSearchParams("kind=tool_call&agent=billing&evil=1&tool=%20"));
    expect(f).toEqual({ kind: "tool_call", agent: "billing" });
    expect(filtersToParams(f).toString()).toBe("agent=billing&kind=tool_call");
  });

  it("builds the events path with cursor, limit and bodies", () => {
    expect(eventsPath({ agent: "a b" }, { cursor: 41, limit: 50, bodies: true })).toBe("/v1/events?agent=a+b&cursor=41&limit=50&include=body");
    expect(eventsPath({}, { cursor: null })).toBe("/v1/events?limit=200");
  });

  it("builds the export body", () => {
    expect(exportRequest({ session: "s1", from: "2026-11-01" }, false)).toEqual({ bodies: false, from: "2026-11-01", session: "s1" });
  });

  it("saves, replaces and deletes searches by name", () => {
    const s = new Mem();
    saveSearch(s, { name: "b", query: "agent=x" });
    saveSearch(s, { name: "a", query: "kind=alert" });
    saveSearch(s, { name: "b", query: "agent=y" });
    expect(loadSaved(s)).toEqual([
      { name: "a", query: "kind=alert" },
      { name: "b", query: "agent=y" },
    ]);
    expect(deleteSaved(s, "a")).toEqual([{ name: "b", query: "agent=y" }]);
  });

  it("ignores a corrupt saved list", () => {
    const s = new Mem();
    s.setItem("sealtrail:saved-searches", "{not json");
    expect(loadSaved(s)).toEqual([]);
  });
});
