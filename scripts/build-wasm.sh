#!/usr/bin/env bash
# Builds the web console's verifier (crates/sealtrail-wasm) for the browser
# and puts it where the console's sources import it:
# console/src/verify/sealtrail.wasm (git-ignored; scripts/build-console.sh
# runs this first).
#
# Usage: scripts/build-wasm.sh        (from any directory)
#
# The `wasm-release` profile (Cargo.toml) is the release profile built for
# size: opt-level "s", LTO, one codegen unit, panic=abort, stripped. No
# wasm-bindgen or wasm-opt is needed: the module has a small C ABI
# (docs/decisions.md, "Issue 17: the in-browser verifier").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

TARGET=wasm32-unknown-unknown
PROFILE=wasm-release
OUT=console/src/verify/sealtrail.wasm

if command -v rustup >/dev/null 2>&1 &&
    ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    echo "build-wasm: installing rustup target $TARGET"
    rustup target add "$TARGET"
fi

locked=()
if [[ -f Cargo.lock ]]; then
    locked=(--locked)
fi
cargo build -p sealtrail-wasm --profile "$PROFILE" --target "$TARGET" "${locked[@]}"

BUILT="target/$TARGET/$PROFILE/sealtrail_wasm.wasm"
mkdir -p "$(dirname "$OUT")"
cp "$BUILT" "$OUT"
raw=$(wc -c <"$OUT")
gz=$(gzip -9 -c "$OUT" | wc -c)
echo "build-wasm: $OUT: $raw bytes, $gz gzipped"
