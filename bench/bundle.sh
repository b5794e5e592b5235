#!/usr/bin/env bash
# Evidence bundles at scale (issue 16): the old binary (OLD_BIN, bundle format
# version 1) against this tree (format version 2), on the same log, in the
# same run, alternating.
#
#   1. A log of 1 KiB events: OLD_BIN serves it and its `bench ingest` fills
#      it for SECONDS (about 300-500 k events here); both binaries then serve
#      that same data directory in turn.
#   2. Export: each binary exports the whole log, headers only and with
#      bodies, ROUNDS times, alternating: seconds, entries/s, file size.
#   3. Verify: OLD_BIN its v1 bundles, this tree its v2 bundles (one thread,
#      then every core): wall and CPU seconds, peak resident set.
#   4. The physical reference: sha256sum over the same entries, decompressed.
#
# Usage: OLD_BIN=/path/to/old/sealtrail [NEW_BIN=/path/to/new] bench/bundle.sh [SECONDS] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
port="${PORT:-7813}"
seconds="${1:-8}"
rounds="${2:-3}"
old="${OLD_BIN:?set OLD_BIN to the old sealtrail binary}"
# shellcheck source=server_lib.sh
. "$root/bench/server_lib.sh"
new="$bin"
work="$(mktemp -d)"
trap 'cleanup; rm -rf "$work"' EXIT

serve() { # serve BIN: the same data directory, a new process
    bin="$1" serve_data
}

bin="$old" start_server
"$old" bench ingest --server "http://127.0.0.1:$port" --api-key "$key" --duration "${seconds}s" \
    --warmup 1s --agents 3 --json >"$work/ingest.json"
stop_server

# seconds FILE CMD…: wall seconds, user+sys seconds and peak KiB of CMD
measure() {
    local out="$1"; shift
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >"$out" 2>/dev/null || true
    awk '{printf "%s wall, %.2f cpu, %d MiB peak", $1, $2 + $3, $4 / 1024}' "$work/time"
}

echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# log: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("events", d))' "$work/ingest.json") events ingested"
for r in $(seq "$rounds"); do
    for who in old new; do
        b="$old"; [ "$who" = new ] && b="$new"
        serve "$b"
        for kind in headers bodies; do
            flag=""; [ "$kind" = headers ] && flag="--no-bodies"
            out="$work/$who-$kind.zip"
            t0=$(date +%s.%N)
            # shellcheck disable=SC2086
            "$b" export --server "http://127.0.0.1:$port" --api-key "$key" $flag -o "$out" >/dev/null 2>&1
            t1=$(date +%s.%N)
            n=$("$b" verify "$out" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["entries"])')
            printf 'export %s %-7s round %s: %6.2f s, %7.0f entries/s, %5d MiB\n' "$who" "$kind" "$r" \
                "$(echo "$t1 - $t0" | bc)" "$(echo "$n / ($t1 - $t0)" | bc -l)" "$(( $(stat -c %s "$out") >> 20 ))"
        done
        stop_server
    done
done
for kind in headers bodies; do
    n=$("$new" verify "$work/new-$kind.zip" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["entries"])')
    for r in $(seq "$rounds"); do
        echo "verify $kind ($n entries) round $r:"
        echo "  old, v1:            $(measure /dev/null "$old" verify "$work/old-$kind.zip")"
        echo "  new, v2, 1 thread:  $(measure /dev/null "$new" verify --threads 1 "$work/new-$kind.zip")"
        echo "  new, v2, all cores: $(measure /dev/null "$new" verify "$work/new-$kind.zip")"
        echo "  new, v1 bundle:     $(measure /dev/null "$new" verify "$work/old-$kind.zip")"
    done
    mkdir -p "$work/x"
    (cd "$work/x" && unzip -qo "../new-$kind.zip" 'entries/*' && cat entries/*.jsonl >"../$kind.entries" && rm -rf entries)
    # openssl uses the CPU's SHA extensions; coreutils' sha256sum does not.
    echo "  SHA-256 of the same entries ($(( $(stat -c %s "$work/$kind.entries") >> 20 )) MiB decompressed): $(measure /dev/null openssl dgst -sha256 "$work/$kind.entries")"
    echo "  SHA-256 of the v2 bundle file:   $(measure /dev/null openssl dgst -sha256 "$work/new-$kind.zip")"
done
