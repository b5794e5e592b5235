#!/usr/bin/env bash
# MCP audit proxy benchmark (docs/benchmarks.md, "MCP proxy"): the latency
# `sealtrail mcp-proxy` adds to a tool call, and its throughput, with every
# call recorded into a real `sealtrail serve` on this machine.
#
#   1. stdio, stub server (bench/mcp_bench.py stub): sequential round trips
#      direct vs through the proxy (the difference is the proxy's share),
#      then pipelined calls/s through the proxy;
#   2. stdio, the real MCP SDK server and client (tests/mcp): per-call
#      latency direct vs through the proxy;
#   3. Streamable HTTP, the real SDK server (SSE and JSON answers): raw
#      keep-alive POSTs direct vs through the proxy.
# Finally it checks that every call of the run landed in the log.
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
"$bin" serve --data "$work/data" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
pids+=($!)
wait_port "$port"
proxy=("$bin" mcp-proxy --server "http://127.0.0.1:$port" --api-key "$key" --spool "$work/spool")

echo "== 1. stdio, stub server: $calls sequential calls"
echo -n "direct:        "; "$py" bench/mcp_bench.py stdio "$calls" -- "$py" bench/mcp_bench.py stub
echo -n "through proxy: "; "$py" bench/mcp_bench.py stdio "$calls" -- "${proxy[@]}" --agent bench-stub -- "$py" bench/mcp_bench.py stub
echo "== 1b. stdio, stub server: $((calls * 10)) calls, 64 in flight"
echo -n "direct:        "; "$py" bench/mcp_bench.py stdio "$((calls * 10))" 64 -- "$py" bench/mcp_bench.py stub
echo -n "through proxy: "; "$py" bench/mcp_bench.py stdio "$((calls * 10))" 64 -- "${proxy[@]}" --agent bench-pipe -- "$py" bench/mcp_bench.py stub

sdk_calls=$((calls / 5))
echo "== 2. stdio, MCP SDK server and client: $sdk_calls calls"
summ() { "$py" -c 'import json,sys; d=json.load(sys.stdin); l=sorted(d["latencies_us"]); p=lambda q: round(l[int(q*len(l))],1); print(json.dumps({"calls": d["calls"], "calls_per_s": round(d["calls"]/d["seconds"],1), "p50_us": p(.5), "p90_us": p(.9), "p99_us": p(.99)}))'; }
echo -n "direct:        "; "$py" "$fix/client.py" --calls "$sdk_calls" stdio -- "$py" "$fix/server.py" stdio 2>/dev/null | summ
echo -n "through proxy: "; SEALTRAIL_API_KEY="$key" "$py" "$fix/client.py" --calls "$sdk_calls" stdio -- "${proxy[@]}" --agent bench-sdk -- "$py" "$fix/server.py" stdio 2>/dev/null | summ

for flavour in sse json; do
    up="$(free_port)"
    extra=(); [ "$flavour" = json ] && extra=(--json)
    "$py" "$fix/server.py" http "$up" "${extra[@]}" >/dev/null 2>&1 &
    pids+=($!)
    wait_port "$up"
    lp="$(free_port)"
    "${proxy[@]}" --agent "bench-http-$flavour" --listen "127.0.0.1:$lp" --upstream "http://127.0.0.1:$up/mcp" >/dev/null &
    proxy_pid=$!
    pids+=($proxy_pid)
    wait_port "$lp"
    echo "== 3. Streamable HTTP ($flavour answers), MCP SDK server: $sdk_calls sequential POSTs"
    echo -n "direct:        "; "$py" bench/mcp_bench.py http "$sdk_calls" "http://127.0.0.1:$up/mcp"
    echo -n "through proxy: "; "$py" bench/mcp_bench.py http "$sdk_calls" "http://127.0.0.1:$lp/mcp"
    kill -TERM "$proxy_pid"; wait "$proxy_pid" || true
done

echo "== every call on record"
for agent in bench-stub bench-pipe bench-sdk bench-http-sse bench-http-json; do
    n="$("$bin" stats --server "http://127.0.0.1:$port" --api-key "$key" --agent "$agent" --kind tool_call --format json \
        | "$py" -c 'import json,sys; d=json.load(sys.stdin); print(sum(r.get("count",0) for r in d.get("rows",d) if isinstance(r,dict)))' 2>/dev/null || echo "?")"
    echo "$agent: $n tool_call events"
done
