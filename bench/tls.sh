#!/usr/bin/env bash
# What TLS costs ingest (docs/benchmarks.md, "TLS"): the same load against
# the same binary over http:// and over https:// (rustls with ring, TLS 1.3,
# an ECDSA P-256 certificate from a throwaway CA made here with openssl),
# alternating, in one run. Two loads: large batches (500 events per request:
# the cost of encrypting the bytes shows) and small requests (1 event each:
# the per-request cost shows). Connections are kept alive, as the SDKs and
# the CLI keep them, so handshakes are not what is measured.
#
# Usage: [LOADS="500 16,1 16"] bench/tls.sh [SECONDS] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${1:-10}"
rounds="${2:-3}"
port="${SEALTRAIL_BENCH_PORT:-7723}"
loads="${LOADS:-500 16,1 16}"
cargo build --release --locked -p sealtrail-cli >/dev/null
bin="$root/target/release/sealtrail"
data="$(mktemp -d)"
pki="$(mktemp -d)"
results="$(mktemp)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$data" "$pki" "$results"
}
trap cleanup EXIT

# A CA and a server certificate for localhost / 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=sealtrail-bench-ca -keyout "$pki/ca.key" -out "$pki/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -extfile "$pki/ext" -out "$pki/server.crt" 2>/dev/null

# run SCHEME BATCH CONCURRENCY: one fresh log, one measurement.
run() {
    local scheme="$1" batch="$2" conc="$3" tls=() ca=()
    if [ "$scheme" = https ]; then
        tls=(--tls-cert "$pki/server.crt" --tls-key "$pki/server.key")
        ca=(--ca-cert "$pki/ca.pem")
    fi
    rm -rf "${data:?}"/*
    local key
    key="$("$bin" init --data "$data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_api_key"])')"
    "$bin" serve --rate-limit 0 --no-audit-reads --data "$data" --listen "127.0.0.1:$port" "${tls[@]}" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        curl -fs --cacert "$pki/ca.pem" "$scheme://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.1
    done
    local out
    out="$("$bin" bench ingest --server "$scheme://127.0.0.1:$port" --api-key "$key" "${ca[@]}" \
        --duration "${secs}s" --concurrency "$conc" --batch-size "$batch" --event-size 1024 \
        --agents 16 --threads 1 --json)"
    kill "$pid" && wait "$pid" || true
    pid=""
    python3 -c '
import json, sys
r = json.load(sys.stdin)
l = r["latency_ms"]
print("%-5s batch %-4s %9.0f events/s %8.0f requests/s  p50 %.2f ms  p99 %.2f ms  errors %s"
      % (sys.argv[1], sys.argv[2], r["events_per_s"], r["requests_per_s"], l["p50"], l["p99"],
         sum(r["errors"].values())))
' "$scheme" "$batch" <<<"$out" | tee -a "$results"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=',' read -ra load_list <<<"$loads"
for load in "${load_list[@]}"; do
    read -r batch conc <<<"$load"
    echo "== $batch event(s) per request, $conc in flight, ${secs}s per run, $rounds rounds"
    for r in $(seq "$rounds"); do
        # Alternate which goes first, so drift in the machine's load hits both.
        if [ $((r % 2)) -eq 1 ]; then order="http https"; else order="https http"; fi
        for scheme in $order; do run "$scheme" "$batch" "$conc"; done
    done
done
echo
echo "== means (https / http)"
python3 - "$results" <<'EOF'
import collections, re, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r"(\w+)\s+batch (\d+)\s+(\d+) events/s", line)
    if m:
        runs[(m.group(2), m.group(1))].append(int(m.group(3)))
for batch in sorted({b for b, _ in runs}, key=int, reverse=True):
    h, s = runs[(batch, "http")], runs[(batch, "https")]
    mh, ms = sum(h) / len(h), sum(s) / len(s)
    # Each round's two runs ran back to back: their ratio sees the least drift.
    pairs = " ".join(f"{b / a:.2f}" for a, b in zip(h, s))
    print(f"batch {batch}: http {mh:,.0f} events/s, https {ms:,.0f} events/s, "
          f"ratio of means {ms / mh:.2f}; per round {pairs}")
EOF
