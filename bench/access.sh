#!/usr/bin/env bash
# What identity and access (issue 5) costs on ingest: the same load against
#   old: a binary built before it (OLD_BIN, e.g. from commit 1640afd),
#   new: this tree, rate limiting off, and
#   new+bucket: with a per-key token bucket that never refuses (every request
#               still takes a token),
#   new+registry: with the load's agents registered (every event gets an
#               in_scope verdict from a real record),
#   new+limits: both,
# alternating, on one machine. Two loads: many small requests (1 event each:
# the per-request cost of authentication shows) and large batches (500
# events: the per-event cost of the verdict shows).
#
# Usage: OLD_BIN=/path/to/old/sealtrail [LOADS="500 8,1 16"] bench/access.sh [SECONDS] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${1:-10}"
rounds="${2:-2}"
port="${SEALTRAIL_BENCH_PORT:-7721}"
old="${OLD_BIN:?set OLD_BIN to a sealtrail binary built before issue 5}"
cargo build --release --locked -p sealtrail-cli >/dev/null
new="$root/target/release/sealtrail"
data="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT

# run BIN LABEL BATCH CONCURRENCY [serve flags…]
run() {
    local bin="$1" label="$2" batch="$3" conc="$4"
    shift 4
    rm -rf "${data:?}"/*
    local key
    key="$("$bin" init --data "$data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_api_key"])')"
    "$bin" serve --data "$data" --listen "127.0.0.1:$port" "$@" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.1
    done
    if [ "$label" = "new+limits" ] || [ "$label" = "new+registry" ]; then
        # The load generator's agents (agent-000 …), registered with a scope.
        for i in $(seq 0 15); do
            "$new" agents register "$(printf 'bench-agent-%04d' "$i")" --allow-tool '*' \
                --server "http://127.0.0.1:$port" --api-key "$key" >/dev/null 2>&1
        done
    fi
    local out
    out="$("$bin" bench ingest --server "http://127.0.0.1:$port" --api-key "$key" \
        --duration "${secs}s" --concurrency "$conc" --batch-size "$batch" --event-size 512 \
        --agents 16 --threads 1 --json)"
    printf '%-11s batch %-4s %s\n' "$label" "$batch" "$(python3 -c '
import json, sys
r = json.load(sys.stdin)
l = r["latency_ms"]
print("%9.0f events/s %8.0f requests/s  p50 %.2f ms  p99 %.2f ms  errors %s"
      % (r["events_per_s"], r["requests_per_s"], l["p50"], l["p99"], r["errors"]))
' <<<"$out")"
    kill "$pid" && wait "$pid" || true
    pid=""
}

# LOADS="500 8,1 16": which loads (batch size and concurrency), comma-separated.
loads=("1 16" "500 8")
if [ -n "${LOADS:-}" ]; then IFS=, read -ra loads <<<"$LOADS"; fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for r in $(seq "$rounds"); do
    echo "== round $r"
    for batch_conc in "${loads[@]}"; do
        set -- $batch_conc
        run "$old" old "$1" "$2"
        run "$new" new "$1" "$2" --rate-limit 0 --no-audit-reads
        run "$new" new+bucket "$1" "$2" --rate-limit 1000000:1000000 --no-audit-reads
        run "$new" new+registry "$1" "$2" --rate-limit 0 --no-audit-reads
        run "$new" new+limits "$1" "$2" --rate-limit 1000000:1000000 --no-audit-reads
    done
done
