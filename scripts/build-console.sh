#!/usr/bin/env bash
# Builds the web console into console/dist, which `sealtrail serve` embeds
# (rust-embed) at compile time: run this before `cargo build -p sealtrail-cli`
# (scripts/run.sh and scripts/test.sh do). The built assets are not committed
# (docs/decisions.md, "Issue 17: console stack and build").
#
#   1. scripts/build-wasm.sh: the in-browser verifier (sealtrail-core as wasm)
#   2. npm ci in console/ when package-lock.json changed since the last one
#   3. npm run build (tsc type check + vite build) -> console/dist
#
# Needs Node.js >= 20 and npm (scripts/setup.sh installs them if missing).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v npm >/dev/null 2>&1; then
    echo "build-console: ERROR: npm not found; run scripts/setup.sh (it installs Node.js and npm)" >&2
    exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "build-console: ERROR: Node.js $(node --version) is too old; the console needs Node.js 20 or newer" >&2
    exit 1
fi

if [ -f scripts/build-wasm.sh ]; then
    bash scripts/build-wasm.sh
fi

cd console
# npm ci only when the lock file changed: a stamp holds the hash it installed.
stamp=node_modules/.sealtrail-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "build-console: npm ci"
    # Playwright drives Debian's chromium; never download its own browsers.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >"$stamp"
fi
npm run --silent build
echo "build-console: built console/dist ($(du -sh dist | cut -f1))"
