#!/usr/bin/env bash
# Sets up and runs sealtrail on its embedded store (SQLite in a data
# directory; nothing else to install). It installs and builds only what
# running needs (`scripts/setup.sh run`: the Rust toolchain, Node.js for the
# web console); the test tools, PostgreSQL and the Python packages are
# scripts/test.sh's. The console is built first: the binary embeds it.
# Extra arguments go to `sealtrail serve`.
#
#   scripts/run.sh                         # data in ./sealtrail-data, http://127.0.0.1:7700
#   scripts/run.sh --listen 0.0.0.0:7700   # any `sealtrail serve --help` flag
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh run
bash scripts/build-console.sh
cargo build --release --locked -p sealtrail-cli
exec target/release/sealtrail serve --data "${SEALTRAIL_DATA:-$root/sealtrail-data}" "$@"
