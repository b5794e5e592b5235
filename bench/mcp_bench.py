"""Load generator for bench/mcp_proxy.sh: what `sealtrail mcp-proxy` adds
to a tool call, direct versus through the proxy.

    mcp_bench.py stub
        A minimal stdio MCP server: answers every tools/call with a fixed
        result (one json.loads per line), so the proxy's share is not
        drowned by a real server's own time.
    mcp_bench.py stdio CALLS [PIPELINE] -- COMMAND...
        Starts COMMAND, initializes, then makes CALLS tools/call requests,
        PIPELINE in flight at a time (1: one after another, measuring each
        round trip). Prints JSON: calls, seconds, p50/p90/p99 in µs.
    mcp_bench.py http CALLS URL
        The same over Streamable HTTP (one keep-alive connection, JSON or
        SSE answers), sequential.
"""

import http.client
import json
import subprocess
import sys
import time
import urllib.parse

RESULT = {"content": [{"type": "text", "text": "42"}], "isError": False}
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "mcp-bench", "version": "1"},
    },
}


def call(i: int) -> bytes:
    msg = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
           "params": {"name": "add", "arguments": {"a": i, "b": 1}}}
    return json.dumps(msg, separators=(",", ":")).encode()


def stub() -> None:
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        msg = json.loads(line)
        if "id" not in msg:
            continue
        if msg.get("method") == "initialize":
            result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                      "serverInfo": {"name": "stub", "version": "1"}}
        else:
            result = RESULT
        out.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result},
                             separators=(",", ":")).encode() + b"\n")
        out.flush()


def summary(calls: int, seconds: float, lat: list) -> dict:
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None
    return {"calls": calls, "seconds": round(seconds, 3),
            "calls_per_s": round(calls / seconds, 1),
            "p50_us": pick(0.50), "p90_us": pick(0.90), "p99_us": pick(0.99)}


def bench_stdio(calls: int, pipeline: int, cmd: list) -> dict:
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    w, r = p.stdin, p.stdout
    w.write(json.dumps(INIT).encode() + b"\n")
    r.readline()
    w.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    for i in range(1, 201):  # warm-up
        w.write(call(i) + b"\n")
        r.readline()
    lat = []
    start = time.perf_counter()
    if pipeline <= 1:
        for i in range(calls):
            t = time.perf_counter()
            w.write(call(1000 + i) + b"\n")
            r.readline()
            lat.append((time.perf_counter() - t) * 1e6)
    else:
        sent = got = 0
        while got < calls:
            while sent < calls and sent - got < pipeline:
                w.write(call(1000 + sent) + b"\n")
                sent += 1
            r.readline()
            got += 1
    seconds = time.perf_counter() - start
    w.close()
    p.wait()
    return summary(calls, seconds, lat)


def bench_http(calls: int, url: str) -> dict:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    headers = {"Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}

    def post(body: bytes) -> http.client.HTTPResponse:
        conn.request("POST", u.path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp

    resp = post(json.dumps(INIT).encode())
    sid = resp.getheader("mcp-session-id")
    if sid:
        headers["Mcp-Session-Id"] = sid
    headers["Mcp-Protocol-Version"] = "2025-11-25"
    post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    for i in range(1, 101):
        post(call(i))
    lat = []
    start = time.perf_counter()
    for i in range(calls):
        t = time.perf_counter()
        post(call(1000 + i))
        lat.append((time.perf_counter() - t) * 1e6)
    return summary(calls, time.perf_counter() - start, lat)


def main() -> None:
    a = sys.argv[1:]
    if a[:1] == ["stub"]:
        stub()
        return
    if a[:1] == ["stdio"]:
        rest = a[1:]
        sep = rest.index("--")
        nums = [int(x) for x in rest[:sep]]
        result = bench_stdio(nums[0], nums[1] if len(nums) > 1 else 1, rest[sep + 1:])
    elif a[:1] == ["http"]:
        result = bench_http(int(a[1]), a[2])
    else:
        sys.exit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
