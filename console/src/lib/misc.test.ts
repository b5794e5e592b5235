import { describe, expect, it } from "vitest";
import Papa from "papaparse";
import { navFor } from "./roles";
import { parseCheckpoint } from "./checkpoint";
import { toCsv, toJsonl } from "./download";
import type { EventRow } from "./types";

const VIEWER = ["read", "bodies", "proofs", "agents:read"];
const AUDITOR_NO_BODIES = ["read", "proofs", "export", "agents:read", "keys:read"];
const OWNER = ["ingest", "read", "bodies", "proofs", "export", "agents:read", "agents:write", "keys:read", "keys:write", "projects", "signing"];

describe("navFor", () => {
  it("shows a viewer no admin page", () => {
    const labels = navFor(VIEWER).map((n) => n.label);
    expect(labels).not.toContain("Keys & access");
    expect(labels).not.toContain("Evidence");
    expect(labels).toContain("Agents");
  });
  it("shows an auditor the access review and evidence", () => {
    const labels = navFor(AUDITOR_NO_BODIES).map((n) => n.label);
    expect(labels).toContain("Keys & access");
    expect(labels).toContain("Evidence");
  });
  it("shows an owner everything", () => {
    expect(navFor(OWNER).length).toBe(7);
  });
});

describe("parseCheckpoint", () => {
  it("reads origin, size, root and signatures", () => {
    const note = "example.com/log\n42\nq1Tx6y8UkzPU7SGAPrt0Yw==\n\n\u2014 example.com/log AAECAwQFBgc=\n";
    const p = parseCheckpoint(note);
    expect(p?.origin).toBe("example.com/log");
    expect(p?.size).toBe(42);
    expect(p?.signatures).toEqual([{ name: "example.com/log", keyHash: "00010203" }]);
  });
  it("refuses text that is not a note", () => {
    expect(parseCheckpoint("hello")).toBeNull();
    expect(parseCheckpoint("o\nnot-a-number\nroot\n\n")).toBeNull();
  });
});

describe("downloads", () => {
  const row: EventRow = {
    index: 7,
    time: 1795000000123456,
    leaf_hash: "ab",
    header: { v: 1, index: 7, time: 1795000000123456, agent: "bot, \"quoted\"", kind: "tool_call", data_classes: ["pii", "pci"], streams: { agent: { n: 1 } }, body: "cd" },
  };
  it("writes CSV that parses back, with quoting", () => {
    const parsed = Papa.parse<string[]>(toCsv([row]).trim());
    expect(parsed.data[0][0]).toBe("index");
    expect(parsed.data[1][2]).toBe('bot, "quoted"');
    expect(parsed.data[1][9]).toBe("pii pci");
  });
  it("writes one JSON object per line", () => {
    expect(JSON.parse(toJsonl([row, row]).split("\n")[1]).index).toBe(7);
    expect(toJsonl([])).toBe("");
  });
});
