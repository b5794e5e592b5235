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
cargo build --release --locked -p sealtrail-cli >/dev/null
bin="$root/target/release/sealtrail"
data="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT

run() {
    rm -rf "${data:?}"/*
    key="$("$bin" init --data "$data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_api_key"])')"
    "$bin" serve --data "$data" --listen "127.0.0.1:$port" "$@" >/dev/null 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.1
    done
    "$bin" bench ingest --server "http://127.0.0.1:$port" --api-key "$key" \
        --duration "${secs}s" --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["events_per_s"]))'
    kill "$server_pid" && wait "$server_pid" || true
    server_pid=""
}

echo "machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
for r in $(seq "$rounds"); do
    on=$(run)
    off=$(run --no-pii-scan)
    echo "round $r: scanning on $on events/s, off $off events/s"
done
