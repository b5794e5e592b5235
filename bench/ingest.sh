#!/usr/bin/env bash
# Ingest benchmark, all comparisons in one run (docs/benchmarks.md):
#   1. sustained throughput: `sealtrail bench ingest`, closed loop, ~1 KiB events
#   2. ack latency at a fixed rate (default 50,000 events/s, open loop)
#   3. the do-it-yourself baselines: one INSERT + one fsync per event with a
#      SHA-256 chain column, in SQLite and in PostgreSQL
# The server and the load generator share this machine's cores.
#
# Usage: bench/ingest.sh [SECONDS] [RATE]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${1:-20}"
rate="${2:-50000}"
port="${SEALTRAIL_BENCH_PORT:-7719}"
source "$root/bench/server_lib.sh"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
echo
echo "== 1. sustained throughput (closed loop, 16 requests in flight x 500 events)"
start_server
"$bin" bench ingest --server "http://127.0.0.1:$port" --api-key "$key" \
    --duration "${secs}s" --concurrency 16 --batch-size 500 --event-size 1024 --threads 1
stop_server
echo
echo "== 2. ack latency at ${rate} events/s (open loop, 500 events per request)"
start_server
"$bin" bench ingest --server "http://127.0.0.1:$port" --api-key "$key" \
    --duration "${secs}s" --concurrency 32 --batch-size 500 --event-size 1024 --threads 1 --rate "$rate"
stop_server
echo
echo "== 3a. do-it-yourself baseline: SQLite, one INSERT + fsync per event"
"$bin" bench diy --backend sqlite --events 20000 --event-size 1024
echo
echo "== 3b. do-it-yourself baseline: PostgreSQL, one INSERT + fsync per event"
"$bin" bench diy --backend postgres --events 20000 --event-size 1024 || echo "(PostgreSQL not reachable: skipped)"
