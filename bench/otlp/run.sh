#!/usr/bin/env bash
# OTLP ingest benchmark (docs/benchmarks.md): spans/s over OTLP/HTTP protobuf
# and, in the same run with the same client, events/s over POST /v1/events
# with the JSON events those spans map to. A fresh server for each.
#
# Usage: bench/otlp/run.sh [SECONDS] [CONNECTIONS] [SPANS_PER_REQUEST]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
secs="${1:-20}"; conns="${2:-8}"; n="${3:-500}"
port="${SEALTRAIL_BENCH_PORT:-7721}"
py="${SEALTRAIL_TEST_PYTHON:-$root/.venv/bin/python}"
cargo build --release --locked -p sealtrail-cli >/dev/null
bin="$root/target/release/sealtrail"
data="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in otlp events; do
    rm -rf "${data:?}"/*
    key="$("$bin" init --data "$data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_api_key"])')"
    "$bin" serve --rate-limit 0 --no-audit-reads --data "$data" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    "$py" bench/otlp/load.py "$mode" "http://127.0.0.1:$port" "$key" "$secs" "$conns" "$n"
    kill "$server_pid" && wait "$server_pid" || true
    server_pid=""
done
