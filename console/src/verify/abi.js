// The JavaScript side of the verifier module's calling convention
// (crates/sealtrail-wasm/src/abi.rs): arguments are copied into memory the
// module allocates, each call returns one JSON document. Plain JavaScript
// with its types in abi.d.ts, so that Node runs it as it is against the
// built module (crates/sealtrail-wasm/tests/node) and Vite bundles the same
// file into the console.

/** The calling convention this file speaks; the module must say the same. */
export const ABI_VERSION = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The verifier over an instantiated module.
 * @param {WebAssembly.Instance} instance
 */
export function verifier(instance) {
  const x = /** @type {any} */ (instance.exports);
  for (const name of [
    "memory",
    "sealtrail_abi_version",
    "sealtrail_alloc",
    "sealtrail_free",
    "sealtrail_verify_entry",
    "sealtrail_verify_bundle",
  ]) {
    if (!(name in x)) {
      throw new Error(`the verifier module has no export ${name}: rebuild it with scripts/build-wasm.sh`);
    }
  }
  const version = x.sealtrail_abi_version();
  if (version !== ABI_VERSION) {
    throw new Error(
      `the verifier module speaks calling convention ${version}, this page ${ABI_VERSION}: rebuild it with scripts/build-wasm.sh`,
    );
  }

  /** Copies `bytes` into the module; its pointer (free it after). */
  function put(/** @type {Uint8Array} */ bytes) {
    const ptr = x.sealtrail_alloc(bytes.length) >>> 0;
    new Uint8Array(x.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  }

  /** Reads and frees a result buffer; throws the module's refusal. */
  function take(/** @type {number} */ result) {
    const ptr = result >>> 0;
    // Views are made after the call: memory may have grown during it.
    const len = new DataView(x.memory.buffer).getUint32(ptr, true);
    const text = decoder.decode(new Uint8Array(x.memory.buffer, ptr + 4, len));
    x.sealtrail_free(ptr, 4 + len);
    const value = JSON.parse(text);
    if (value && typeof value.error === "string") throw new Error(value.error);
    return value;
  }

  /** Calls `f` with `args` copied in, freeing them after. */
  function call(/** @type {(...p: number[]) => number} */ f, /** @type {Uint8Array[]} */ ...args) {
    const ptrs = args.map(put);
    try {
      return take(f(...args.flatMap((a, i) => [ptrs[i], a.length])));
    } finally {
      args.forEach((a, i) => x.sealtrail_free(ptrs[i], a.length));
    }
  }

  return {
    /** @param {{entry: unknown, proof: unknown, checkpoint: string, vkey: string, lastSeen?: {checkpoint: string, consistency: unknown}}} e */
    verifyEntry(e) {
      // Only the fields the module reads: it refuses unknown ones.
      const input = { entry: e.entry, proof: e.proof, checkpoint: e.checkpoint, vkey: e.vkey };
      if (e.lastSeen) {
        Object.assign(input, {
          lastSeen: { checkpoint: e.lastSeen.checkpoint, consistency: e.lastSeen.consistency ?? null },
        });
      }
      return call(x.sealtrail_verify_entry, encoder.encode(JSON.stringify(input)));
    },
    /** @param {Uint8Array} bytes @param {string[]} vkeys */
    verifyBundle(bytes, vkeys) {
      return call(x.sealtrail_verify_bundle, bytes, encoder.encode(JSON.stringify(vkeys)));
    },
  };
}

/**
 * The key id of a verifier key `<name>+<8 hex digits>+<base64 key>`, as
 * the key states it (the module checks that it matches the key when it
 * verifies). Throws when `vkey` does not have that form.
 * @param {string} vkey
 */
export function keyIdOf(vkey) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})$/.exec(vkey.trim());
  if (!m) {
    throw new Error("not a verifier key: it must look like <name>+<8 hex digit key id>+<base64 key>");
  }
  return m[2];
}

/**
 * The localStorage key under which `what` is kept for `project` of the
 * server at `origin`.
 * @param {string} origin @param {string} project @param {"vkey" | "checkpoint"} what
 */
export function storageKey(origin, project, what) {
  return `sealtrail.verify.${what}:${origin}:${project}`;
}
