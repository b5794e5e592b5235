#!/usr/bin/env bash
# Ingest benchmark, all comparisons in one run (docs/benchmarks.md):
#   1. sustained throughput: `sealtrail bench ingest`, closed loop, ~1 KiB events
#   1b. the peer: a bare C2SP tile writer (PyPI `aics-tlog`,
#      IncrementalTileWriter + DirectoryTileStore with fsync, batches of
#      2,048 entries of ~1 KiB), run right after 1 on the same machine; the
#      ratio of 1 to it is printed; PAIRS (default 2) pairs of 1 and 1b
#      alternate. Installed into the repository's .venv when missing (it
#      declares Python >= 3.12 but runs on 3.11).
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
venv="$root/.venv"
if ! "$venv/bin/python" -c 'import aics_tlog' 2>/dev/null; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    wheels="$(mktemp -d)"
    "$venv/bin/pip" download -q --no-deps --python-version 3.12 --only-binary=:all: aics-tlog -d "$wheels"
    "$venv/bin/pip" install -q --ignore-requires-python "$wheels"/*.whl
    rm -rf "$wheels"
fi
# Pairs alternate (sealtrail, peer, sealtrail, peer …): the peer is one
# Python thread and swings with the neighbours' load, so a single pair can
# say more about the machine's minute than about either program.
for r in $(seq "${PAIRS:-2}"); do
    echo "== 1. sustained throughput (closed loop, 16 requests in flight x 500 events), pair $r"
    start_server
    sustained="$("$bin" bench ingest --server "http://127.0.0.1:$port" --api-key "$key" \
        --duration "${secs}s" --concurrency 16 --batch-size 500 --event-size 1024 --threads 1 --json)"
    stop_server
    python3 -c '
import json, sys
r = json.loads(sys.argv[1]); l = r["latency_ms"]
print("sealtrail: %.0f events/s  p50 %.2f ms  p99 %.2f ms  errors %s"
      % (r["events_per_s"], l["p50"], l["p99"], r.get("errors", 0)))' "$sustained"
    echo "== 1b. peer: aics-tlog IncrementalTileWriter, DirectoryTileStore(fsync), 2,048 x 1 KiB per append, pair $r"
    peer="$("$venv/bin/python" "$root/bench/tile_writer_peer.py" "$secs" 1024 2048)"
    python3 -c '
import json, sys
s = json.loads(sys.argv[1]); p = json.loads(sys.argv[2])
print("aics-tlog: %.0f entries/s  append p50 %.1f ms  p99 %.1f ms"
      % (p["entries_per_s"], p["append_p50_ms"], p["append_p99_ms"]))
print("sealtrail / aics-tlog: %.2fx (target >= 1.5x)" % (s["events_per_s"] / p["entries_per_s"]))' "$sustained" "$peer"
    echo
done
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
