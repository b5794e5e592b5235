#!/usr/bin/env bash
# Before/after ingest on one machine: the same closed-loop load against a
# server built from an older commit (OLD_BIN) and one built from this tree,
# alternating old, new, old, new… so drift in a shared machine's load falls on
# both. The load generator is always OLD_BIN's `bench ingest`, so a change to
# the generator cannot pass for a change to the server.
#
# Each line also gives the server's CPU per sealed event (utime + stime from
# /proc over sealtrail_events_sealed_total, warmup included): on a shared
# machine throughput follows the neighbours' load, CPU per event much less.
#
# Usage: OLD_BIN=/path/to/old/sealtrail bench/ab_ingest.sh [SECONDS] [ROUNDS]
#        LOADS="500 16,1 16" picks the loads (events per request, requests in flight).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${1:-10}"
rounds="${2:-3}"
port="${SEALTRAIL_BENCH_PORT:-7723}"
old="${OLD_BIN:?set OLD_BIN to a sealtrail binary built from the commit to compare with}"
loads="${LOADS:-500 16,1 16}"
cargo build --release --locked -p sealtrail-cli >/dev/null
new="$root/target/release/sealtrail"
data="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"

# run BIN LABEL BATCH CONCURRENCY
run() {
    local bin="$1" label="$2" batch="$3" conc="$4"
    rm -rf "${data:?}"/*
    local key
    key="$("$bin" init --data "$data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_api_key"])')"
    "$bin" serve --rate-limit 0 --no-audit-reads --data "$data" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.1
    done
    local out
    out="$("$old" bench ingest --server "http://127.0.0.1:$port" --api-key "$key" \
        --duration "${secs}s" --concurrency "$conc" --batch-size "$batch" --event-size 1024 \
        --threads 1 --json)"
    local sealed ticks
    sealed="$(curl -fs -H "Authorization: Bearer $key" "http://127.0.0.1:$port/metrics" \
        | awk '/^sealtrail_events_sealed_total /{print $2}')"
    ticks="$(awk '{print $14 + $15}' "/proc/$pid/stat")"
    printf '%-4s batch %-4s %s\n' "$label" "$batch" "$(python3 -c '
import json, os, sys
r = json.load(sys.stdin)
l = r["latency_ms"]
sealed, ticks = float(sys.argv[1] or 0), float(sys.argv[2])
cpu = ticks / os.sysconf("SC_CLK_TCK") * 1e6 / sealed if sealed else float("nan")
print("%9.0f events/s  p50 %.2f ms  p99 %.2f ms  errors %s  server CPU %.1f us/event"
      % (r["events_per_s"], l["p50"], l["p99"], r.get("errors", 0), cpu))' "$sealed" "$ticks" <<<"$out")"
    kill "$pid" && wait "$pid" 2>/dev/null || true
    pid=""
}

IFS=',' read -ra load_list <<<"$loads"
for load in "${load_list[@]}"; do
    read -r batch conc <<<"$load"
    echo "== ${batch} events per request, ${conc} in flight, ${secs} s per run"
    for r in $(seq "$rounds"); do
        run "$old" old "$batch" "$conc"
        run "$new" new "$batch" "$conc"
    done
done
