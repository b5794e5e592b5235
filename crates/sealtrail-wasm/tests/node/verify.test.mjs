// The built verifier module itself (console/src/verify/sealtrail.wasm, from
// scripts/build-wasm.sh), run by plain Node through the console's own glue
// (console/src/verify/abi.js) on evidence written by the Rust fixtures
// (examples/wasm_fixtures.rs): every honest case passes, every tampered one
// fails exactly the checks the native tests expect.
//
// Run: bash scripts/build-wasm.sh && node --test crates/sealtrail-wasm/tests/node/
// (SEALTRAIL_WASM=path tests another build.)

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { ABI_VERSION, keyIdOf, storageKey, verifier } from "../../../../console/src/verify/abi.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const wasmPath = process.env.SEALTRAIL_WASM ?? join(root, "console/src/verify/sealtrail.wasm");
const missing = existsSync(wasmPath)
  ? null
  : `${wasmPath} is not built: run scripts/build-wasm.sh first`;
if (missing && process.env.CI === "true") {
  throw new Error(missing);
}
if (missing) console.log(`SKIPPED: ${missing}`);

let dir;
let v;

before(() => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), "sealtrail-wasm-"));
  execFileSync(
    process.env.CARGO ?? "cargo",
    ["run", "--quiet", "-p", "sealtrail-wasm", "--example", "wasm_fixtures", "--", dir],
    { cwd: root, stdio: ["ignore", "ignore", "inherit"] },
  );
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  v = verifier(new WebAssembly.Instance(module, {}));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const read = (name) => JSON.parse(readFileSync(join(dir, name), "utf8"));
const failing = (verdict) => verdict.checks.filter((c) => !c.ok).map((c) => c.name);
const said = (verdict) =>
  verdict.checks.find((c) => !c.ok)?.detail ?? verdict.warnings.join("\n");

test("every entry case gives its verdict through the built module", { skip: !!missing }, () => {
  const cases = read("entries.json");
  assert.ok(cases.length >= 14, `only ${cases.length} cases`);
  for (const c of cases) {
    const verdict = v.verifyEntry(c.evidence);
    assert.deepEqual(
      verdict.checks.map((k) => k.name),
      ["body commitment", "leaf hash", "checkpoint signature", "inclusion proof", "consistency with last seen checkpoint"],
      c.name,
    );
    assert.deepEqual(failing(verdict), c.failing, `${c.name}: ${JSON.stringify(verdict, null, 1)}`);
    assert.equal(verdict.ok, c.failing.length === 0, c.name);
    assert.ok(said(verdict).includes(c.says), `${c.name}: ${said(verdict)} does not say ${c.says}`);
  }
});

test("a good entry passes and a tampered one fails naming what", { skip: !!missing }, () => {
  const cases = Object.fromEntries(read("entries.json").map((c) => [c.name, c.evidence]));
  const good = v.verifyEntry(cases["good"]);
  assert.equal(good.ok, true);
  assert.deepEqual(good.warnings, []);
  const tampered = v.verifyEntry(cases["a byte of the header changed"]);
  assert.equal(tampered.ok, false);
  const leaf = tampered.checks.find((c) => c.name === "leaf hash");
  assert.match(leaf.detail, /^leaf hash differs: header bytes were altered/);
  const fork = v.verifyEntry(cases["fork: another tree of the same size"]);
  assert.ok(fork.warnings.some((w) => w.startsWith("FORK")), fork.warnings.join("\n"));
});

test("every bundle case gives sealtrail verify's verdict through the built module", { skip: !!missing }, () => {
  const cases = read("bundles.json");
  assert.ok(cases.length >= 12, `only ${cases.length} cases`);
  for (const c of cases) {
    const bytes = new Uint8Array(readFileSync(join(dir, c.file)));
    const verdict = v.verifyBundle(bytes, c.vkeys);
    assert.deepEqual(failing(verdict), c.failing, `${c.name}: ${JSON.stringify(verdict.checks, null, 1)}`);
    assert.equal(verdict.ok, c.failing.length === 0, c.name);
    assert.equal(verdict.report.ok, verdict.ok, `${c.name}: the report agrees`);
    assert.ok(said(verdict).includes(c.says), `${c.name}: ${said(verdict)} does not say ${c.says}`);
  }
});

test("a malformed call is refused with the module's words, and the module keeps working", { skip: !!missing }, () => {
  assert.throws(() => v.verifyBundle(new Uint8Array(), "not an array"), /JSON array of strings/);
  const cases = read("entries.json");
  assert.throws(() => v.verifyEntry({ entry: {}, proof: {}, checkpoint: 7, vkey: "" }), /invalid type: integer `7`, expected a string/);
  assert.equal(v.verifyEntry(cases[0].evidence).ok, true);
});

test("the key id is the one the key states; not a key is refused", { skip: !!missing }, () => {
  const { vkey, keyId } = read("vkey.json");
  assert.equal(keyIdOf(vkey), keyId);
  assert.equal(keyIdOf(`  ${vkey}\n`), keyId);
  assert.throws(() => keyIdOf("not a key"), /not a verifier key/);
  assert.throws(() => keyIdOf(vkey.replace(`+${keyId}+`, "+XYZ+")), /not a verifier key/);
  assert.notEqual(storageKey("https://a", "p", "vkey"), storageKey("https://b", "p", "vkey"));
  assert.notEqual(storageKey("https://a", "p", "vkey"), storageKey("https://a", "q", "vkey"));
  assert.equal(ABI_VERSION, 1);
});

test("a module of another calling convention is refused", { skip: !!missing }, () => {
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  const instance = new WebAssembly.Instance(module, {});
  const stale = { exports: { ...instance.exports, sealtrail_abi_version: () => 0 } };
  assert.throws(() => verifier(stale), /calling convention 0/);
});
