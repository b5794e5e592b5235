import { describe, expect, it } from "vitest";
import Papa from "papaparse";
import { accessReviewCsv } from "../views/Keys";
import type { KeyInfo } from "./types";

describe("access review CSV", () => {
  it("has one row per key with its state, scopes and times", () => {
    const now = Date.now() * 1000;
    const keys: KeyInfo[] = [
      { id: "a1", name: "alice, admin", role: "admin", scopes: ["read", "keys:write"], project: "default", created: now - 1e9, created_by: "key:root" },
      { id: "b2", name: "old", role: "viewer", scopes: ["read"], project: "default", created: now - 2e9, created_by: "key:root", revoked: now - 1e6, revoked_by: "key:a1" },
      { id: "c3", name: "kpmg", role: "auditor", scopes: ["read"], project: "default", created: now - 3e9, created_by: "key:a1", expires: now - 1 },
    ];
    const rows = Papa.parse<string[]>(accessReviewCsv(keys).trim()).data;
    expect(rows[0].slice(0, 5)).toEqual(["id", "name", "role", "state", "scopes"]);
    expect(rows[1].slice(0, 5)).toEqual(["a1", "alice, admin", "admin", "active", "read keys:write"]);
    expect(rows[2][3]).toBe("revoked");
    expect(rows[2][12]).toBe("key:a1");
    expect(rows[3][3]).toBe("expired");
  });
});
