// Types of abi.js (plain JavaScript so that Node tests it as it is).

export const ABI_VERSION: number;

export interface Verifier {
  /** The verdict JSON; throws the module's refusal of a malformed call. */
  verifyEntry(e: {
    entry: unknown;
    proof: unknown;
    checkpoint: string;
    vkey: string;
    lastSeen?: { checkpoint: string; consistency: unknown };
  }): unknown;
  verifyBundle(bytes: Uint8Array, vkeys: string[]): unknown;
}

export function verifier(instance: WebAssembly.Instance): Verifier;
export function keyIdOf(vkey: string): string;
export function storageKey(origin: string, project: string, what: "vkey" | "checkpoint"): string;
