#!/usr/bin/env bash
# Issue 16, round 3: fsck, export and verify of one fixed log, several
# binaries alternating, CPU seconds of every step (the machine is shared).
#
#   DATA:    a data directory with a log (fill it once with bench/bundle.sh's
#            step 1 or `sealtrail bench ingest`); KEY: its owner API key.
#   BUNDLES: a directory with headers.zip and bodies.zip exported from it.
#   For each round and binary: `verify --data DATA`; a server on DATA and
#   `export` headers only and with bodies (the server's CPU from
#   /proc/PID/stat before and after); `verify` of the two bundles on all
#   cores and on one.
#
# Usage: DATA=… KEY=… BUNDLES=… bench/bundle_alternate.sh ROUNDS BIN…
set -uo pipefail
rounds=$1; shift
port="${PORT:-7915}"
data="${DATA:?}"; key="${KEY:?}"; bundles="${BUNDLES:?}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
tck=$(getconf CLK_TCK)
cpu_of() { awk -v t="$tck" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }
show() { awk '{printf "%s s wall, %.2f s cpu, %d MiB", $1, $2+$3, $4/1024}' "$out/t"; }
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  for bin in "$@"; do
    b=$(basename "$bin")
    /usr/bin/time -f "%e %U %S %M" -o "$out/t" "$bin" verify --data "$data" >/dev/null 2>&1
    echo "fsck    $b r$r: $(show)"
    "$bin" serve --rate-limit 0 --no-audit-reads --data "$data" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    for kind in headers bodies; do
      flag=""; [ "$kind" = headers ] && flag=--no-bodies
      c0=$(cpu_of "$pid")
      # shellcheck disable=SC2086
      /usr/bin/time -f "%e %U %S" -o "$out/t" "$bin" export --server "http://127.0.0.1:$port" \
          --api-key "$key" $flag -o "$out/$kind.zip" >/dev/null 2>&1
      c1=$(cpu_of "$pid")
      echo "export  $b $kind r$r: $(awk -v s="$(echo "$c1 - $c0" | bc)" \
          '{printf "%s s wall, server %.2f s cpu, client %.2f s cpu", $1, s, $2+$3}' "$out/t")"
    done
    kill "$pid"; wait "$pid" 2>/dev/null
    for kind in headers bodies; do
      /usr/bin/time -f "%e %U %S %M" -o "$out/t" "$bin" verify "$bundles/$kind.zip" >/dev/null 2>&1
      echo "verify  $b $kind r$r: $(show)"
      /usr/bin/time -f "%e %U %S %M" -o "$out/t" "$bin" verify --threads 1 "$bundles/$kind.zip" >/dev/null 2>&1
      echo "verify1 $b $kind r$r: $(show)"
    done
  done
done
