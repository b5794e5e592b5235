// In-browser verification (issue 17): sealtrail-core compiled to
// WebAssembly (crates/sealtrail-wasm, built by scripts/build-wasm.sh)
// checks what the server hands out, and evidence bundles, in this browser.
// The pinned verifier key and the last checkpoint seen are kept in
// localStorage per server origin and project.
//
// Usage (the console's entry view):
//   const verdict = await verifyEntry({ entry, proof, checkpoint, vkey: pinnedVkey(project)!, lastSeen });
//   if (verdict.ok) recordSeenCheckpoint(project, checkpoint);
// where `lastSeen` is { checkpoint: lastSeenCheckpoint(project), consistency } with the
// GET /v1/consistency?from=<its size>&to=<the new size> JSON when the new tree is larger
// (null when the sizes are equal or the new one is smaller: that is a rollback).
// `entry` and `proof` may be the responses' parsed JSON or their text.

import wasmUrl from "./sealtrail.wasm?url";
import { keyIdOf as keyIdOfText, storageKey, verifier, type Verifier } from "./abi.js";

/** One named check: "body commitment", "leaf hash", "checkpoint signature",
 * "inclusion proof", "consistency with last seen checkpoint" for an entry;
 * "bundle file", "checkpoint signature", "entries", "inclusion proofs",
 * "manifest and completeness" for a bundle. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** `ok` only when every check passed; warnings fail nothing (a body not
 * sent, no key pinned for a bundle, a fork or rollback also has one). */
export interface Verdict {
  ok: boolean;
  checks: Check[];
  warnings: string[];
}

export interface EntryEvidence {
  /** JSON (or text) of GET /v1/entries/{index}. */
  entry: unknown;
  /** JSON (or text) of GET /v1/entries/{index}/proof?size={checkpoint size}. */
  proof: unknown;
  /** The signed checkpoint note text the proof is against. */
  checkpoint: string;
  /** The pinned verifier key (note vkey form). */
  vkey: string;
  /** The checkpoint seen before, and GET /v1/consistency JSON from it to `checkpoint`. */
  lastSeen?: { checkpoint: string; consistency: unknown };
}

let loading: Promise<Verifier> | null = null;

async function instantiate(): Promise<WebAssembly.Instance> {
  if (typeof WebAssembly.instantiateStreaming === "function") {
    try {
      return (await WebAssembly.instantiateStreaming(fetch(wasmUrl), {})).instance;
    } catch {
      // A server that sends the module without `application/wasm`: read it whole.
    }
  }
  const res = await fetch(wasmUrl);
  if (!res.ok) throw new Error(`cannot load the verifier (${wasmUrl}): HTTP ${res.status}`);
  return (await WebAssembly.instantiate(await res.arrayBuffer(), {})).instance;
}

function load(): Promise<Verifier> {
  if (!loading) {
    loading = instantiate().then(verifier);
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

/** Runs `f` on the verifier; a module that trapped (out of memory) is dropped and loaded afresh next time. */
async function run<T>(f: (v: Verifier) => T): Promise<T> {
  const v = await load();
  try {
    return f(v);
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      loading = null;
      throw new Error(`the verifier stopped (${e.message}); a bundle this large needs \`sealtrail verify\``);
    }
    throw e;
  }
}

export function verifyEntry(e: EntryEvidence): Promise<Verdict> {
  return run((v) => v.verifyEntry(e) as Verdict);
}

/** Above this size a bundle's module is dropped after use: its memory grew
 * to hold the bundle and cannot shrink, and a page may stay open all day. */
const LARGE_BUNDLE = 64 << 20;

export async function verifyBundle(bytes: Uint8Array, vkeys: string[]): Promise<Verdict & { report: unknown }> {
  try {
    return await run((v) => v.verifyBundle(bytes, vkeys) as Verdict & { report: unknown });
  } finally {
    if (bytes.length > LARGE_BUNDLE) loading = null;
  }
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    // Storage disabled (a privacy mode): nothing is kept.
    return null;
  }
}

function origin(): string {
  return globalThis.location?.origin ?? "";
}

export function pinnedVkey(project: string): string | null {
  return storage()?.getItem(storageKey(origin(), project, "vkey")) ?? null;
}

export function pinVkey(project: string, vkey: string): void {
  storage()?.setItem(storageKey(origin(), project, "vkey"), vkey.trim());
}

export function lastSeenCheckpoint(project: string): string | null {
  return storage()?.getItem(storageKey(origin(), project, "checkpoint")) ?? null;
}

export function recordSeenCheckpoint(project: string, checkpoint: string): void {
  storage()?.setItem(storageKey(origin(), project, "checkpoint"), checkpoint);
}

/** The key id a verifier key states (8 hex digits); throws when `vkey` is not one. */
export function keyIdOf(vkey: string): string {
  return keyIdOfText(vkey);
}
