#!/usr/bin/env bash
# Ingest throughput with PII scanning and redaction on (the default) and off
# (`serve --no-pii-scan`), alternating, same load: `sealtrail bench ingest`,
# closed loop, ~1 KiB events. The server and the load generator share this
# machine's cores (docs/benchmarks.md, "PII scanning at ingest").
#
# Usage: bench/pii_ingest.sh [SECONDS] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${1:-10}"
rounds="${2:-2}"
port="${SEALTRAIL_BENCH_PORT:-7721}"
source "$root/bench/server_lib.sh"

run() {
    start_server "$@" >&2
    "$bin" bench ingest --server "http://127.0.0.1:$port" --api-key "$key" \
        --duration "${secs}s" --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["events_per_s"]))'
    stop_server
}

echo "machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
for r in $(seq "$rounds"); do
    on=$(run)
    off=$(run --no-pii-scan)
    echo "round $r: scanning on $on events/s, off $off events/s"
done
