#!/usr/bin/env bash
# MCP audit proxy benchmark (docs/benchmarks.md, "MCP proxy"): the latency
# `sealtrail mcp-proxy` adds to a tool call, and its throughput, with every
# call recorded into a real `sealtrail serve` on this machine.
#
#   added latency: a direct session and a proxied one side by side, one
#   call each in turn (bench/mcp_bench.py pair-*), so that both see the same
#   load on this shared machine; the median of the per-pair differences is
#   what the proxy adds. Against a stub server (bench/mcp_bench.py stub,
#   http-stub) and the real MCP SDK server (tests/mcp/server.py), over
#   stdio and Streamable HTTP (SSE and JSON answers);
#   throughput: calls/s through the proxy, one at a time and 64 in flight;
#   end to end: the real SDK client and server, direct vs proxied.
# Finally the per-agent counts show that every call of the run was logged.
#
# Usage: bench/mcp_proxy.sh [CALLS]     (needs .venv: scripts/setup.sh)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
calls="${1:-5000}"
py="$root/.venv/bin/python"
fix="$root/crates/sealtrail-cli/tests/mcp"
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

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

port="$(free_port)"
key="$("$bin" init --data "$work/data" --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["owner_api_key"])')"
"$bin" serve --rate-limit 0 --no-audit-reads --data "$work/data" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
pids+=($!)
wait_port "$port"
proxy=("$bin" mcp-proxy --server "http://127.0.0.1:$port" --api-key "$key" --spool "$work/spool")

stub=("$py" bench/mcp_bench.py stub)
sdk=("$py" "$fix/server.py" stdio)
pairs="$calls"
sdk_calls=$((calls / 5))

echo "== 1. stdio, stub server: added latency ($pairs alternating pairs)"
"$py" bench/mcp_bench.py pair-stdio "$pairs" "${stub[@]}" :: "${proxy[@]}" --agent bench-stdio-stub -- "${stub[@]}"
echo "== 2. stdio, stub server: throughput"
echo -n "sequential, direct:          "; "$py" bench/mcp_bench.py stdio "$calls" -- "${stub[@]}"
echo -n "sequential, through proxy:   "; "$py" bench/mcp_bench.py stdio "$calls" -- "${proxy[@]}" --agent bench-stdio-seq -- "${stub[@]}"
echo -n "64 in flight, direct:        "; "$py" bench/mcp_bench.py stdio "$((calls * 10))" 64 -- "${stub[@]}"
echo -n "64 in flight, through proxy: "; "$py" bench/mcp_bench.py stdio "$((calls * 10))" 64 -- \
    /usr/bin/time -f "%U %S" -o "$work/cpu" "${proxy[@]}" --agent bench-stdio-pipe -- "${stub[@]}"
# The proxy's own CPU (relay, recorder, sender) per call of that run.
read -r user sys <"$work/cpu"
"$py" -c "import sys; u,s,n=float(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(f'proxy CPU: {(u+s)*1e6/n:.1f} us per call (user {u} s, sys {s} s, {n} calls) = {n/(u+s):.0f} calls/s per core')" "$user" "$sys" "$((calls * 10 + 200))"
echo "== 3. stdio, MCP SDK server: added latency ($sdk_calls pairs)"
"$py" bench/mcp_bench.py pair-stdio "$sdk_calls" "${sdk[@]}" :: "${proxy[@]}" --agent bench-stdio-sdk -- "${sdk[@]}"
echo "== 4. stdio, MCP SDK server and client end to end ($sdk_calls calls each)"
summ() { "$py" -c 'import json,sys; d=json.load(sys.stdin); l=sorted(d["latencies_us"]); p=lambda q: round(l[int(q*len(l))],1); print(json.dumps({"calls": d["calls"], "calls_per_s": round(d["calls"]/d["seconds"],1), "p50_us": p(.5), "p90_us": p(.9), "p99_us": p(.99)}))'; }
echo -n "direct:        "; "$py" "$fix/client.py" --calls "$sdk_calls" stdio -- "${sdk[@]}" 2>/dev/null | summ
echo -n "through proxy: "; SEALTRAIL_API_KEY="$key" "$py" "$fix/client.py" --calls "$sdk_calls" stdio -- "${proxy[@]}" --agent bench-sdk-e2e -- "${sdk[@]}" 2>/dev/null | summ

# Streamable HTTP: the stub, the SDK server with SSE answers, with JSON answers.
for flavour in stub sse json; do
    up="$(free_port)"
    case "$flavour" in
        stub) "$py" bench/mcp_bench.py http-stub "$up" >/dev/null 2>&1 & ;;
        sse) "$py" "$fix/server.py" http "$up" >/dev/null 2>&1 & ;;
        json) "$py" "$fix/server.py" http "$up" --json >/dev/null 2>&1 & ;;
    esac
    pids+=($!)
    wait_port "$up"
    lp="$(free_port)"
    "${proxy[@]}" --agent "bench-http-$flavour" --listen "127.0.0.1:$lp" --upstream "http://127.0.0.1:$up/mcp" >/dev/null &
    proxy_pid=$!
    pids+=($proxy_pid)
    wait_port "$lp"
    n="$pairs"; [ "$flavour" != stub ] && n="$sdk_calls"
    echo "== 5. Streamable HTTP, $flavour server: added latency ($n pairs)"
    "$py" bench/mcp_bench.py pair-http "$n" "http://127.0.0.1:$up/mcp" "http://127.0.0.1:$lp/mcp"
    if [ "$flavour" = stub ]; then
        echo -n "sequential through proxy: "; "$py" bench/mcp_bench.py http "$calls" "http://127.0.0.1:$lp/mcp"
    fi
    kill -TERM "$proxy_pid"; wait "$proxy_pid" || true
done

echo "== every call on record"
"$bin" stats --server "http://127.0.0.1:$port" --api-key "$key" --group-by agent,kind
