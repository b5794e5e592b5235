#!/usr/bin/env bash
# Ingest throughput with 1, 2 and 3 `sealtrail serve` nodes sharing one
# PostgreSQL log (docs/benchmarks.md). One load generator per node; the
# figure is their sum. Everything runs on this machine's cores.
#
# Usage: bench/multinode.sh [SECONDS] [DATABASE_URL]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${1:-15}"
url="${2:-postgres://postgres@127.0.0.1/test}"
cargo build --release --locked -p sealtrail-cli >/dev/null
bin="$root/target/release/sealtrail"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for nodes in 1 2 3; do
    schema="bench_mn_${nodes}_$$"
    psql "$url" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    data="$work/n$nodes"
    key="$("$bin" init --data "$data" --database "$url" --pg-schema "$schema" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_api_key"])')"
    pids=()
    for n in $(seq 1 "$nodes"); do
        "$bin" serve --rate-limit 0 --no-audit-reads --data "$data" --database "$url" --pg-schema "$schema" \
            --listen "127.0.0.1:$((7830 + n))" >/dev/null 2>&1 &
        pids+=($!)
    done
    for n in $(seq 1 "$nodes"); do
        for _ in $(seq 50); do
            curl -fs "http://127.0.0.1:$((7830 + n))/healthz" >/dev/null && break
            sleep 0.1
        done
    done
    clients=()
    for n in $(seq 1 "$nodes"); do
        "$bin" bench ingest --server "http://127.0.0.1:$((7830 + n))" --api-key "$key" \
            --duration "${secs}s" --concurrency 8 --batch-size 500 --threads 1 --json \
            >"$work/out-$nodes-$n.json" &
        clients+=($!)
    done
    for c in "${clients[@]}"; do wait "$c"; done
    python3 - "$nodes" "$work"/out-"$nodes"-*.json <<'PY'
import json, sys
nodes = sys.argv[1]
runs = [json.load(open(f)) for f in sys.argv[2:]]
def find(d, *names):
    for n in names:
        if n in d:
            return d[n]
    return None
total = sum(r["events_per_s"] for r in runs)
p99 = max(r["latency_ms"]["p99"] for r in runs)
print(f"{nodes} node(s) on PostgreSQL: {total:,.0f} events/s in all, worst p99 {p99:.1f} ms")
PY
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
    psql "$url" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
done
