// CPU time of verifying one bundle with the built module in Node
// (docs/benchmarks.md, "Issue 17: the in-browser verifier"): the module is
// compiled first, then `verifyBundle` is timed with process.cpuUsage().
//
// Usage: node crates/sealtrail-wasm/bench/bundle_cpu.mjs WASM BUNDLE VKEY

import { readFileSync } from "node:fs";
import { verifier } from "../../../console/src/verify/abi.js";

const [wasm, zip, vkey] = process.argv.slice(2);
if (!vkey) {
  console.error("usage: bundle_cpu.mjs WASM BUNDLE VKEY");
  process.exit(2);
}
const v = verifier(new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm)), {}));
const bytes = new Uint8Array(readFileSync(zip));
const t0 = process.cpuUsage();
const r = v.verifyBundle(bytes, [vkey]);
const t = process.cpuUsage(t0);
console.log(wasm, r.ok, r.report?.counts?.entries, ((t.user + t.system) / 1e6).toFixed(2) + "s cpu");
