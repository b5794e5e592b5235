#!/usr/bin/env bash
# Run the Python SDK tests against a real server (target/debug/sealtrail, or
# $SEALTRAIL_BIN) with the project venv: sdk/python/run_tests.sh [-v]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${SEALTRAIL_TEST_PYTHON:-$root/.venv/bin/python}
[ -n "${SEALTRAIL_BIN:-}" ] || (cd "$root" && cargo build -q -p sealtrail-cli)
exec "$py" -m unittest discover -s "$here/tests" -t "$here/tests" "$@"
