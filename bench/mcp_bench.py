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
    mcp_bench.py pair-stdio CALLS DIRECT... :: PROXIED...
    mcp_bench.py pair-http CALLS DIRECT_URL PROXIED_URL
        Both at once, alternating one call each: on a busy machine both
        see the same load, and the median of the per-pair differences is
        the latency the proxy adds.
    mcp_bench.py http-stub PORT
        A minimal Streamable HTTP MCP server (JSON answers, keep-alive).
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


class StdioPeer:
    """An initialized stdio MCP session with a subprocess."""

    def __init__(self, cmd: list) -> None:
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.send(json.dumps(INIT).encode())
        self.p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        for i in range(1, 201):
            self.send(call(i))

    def send(self, line: bytes) -> None:
        self.p.stdin.write(line + b"\n")
        self.p.stdout.readline()

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait()


class HttpPeer:
    """An initialized Streamable HTTP MCP session on one keep-alive connection."""

    def __init__(self, url: str) -> None:
        u = urllib.parse.urlsplit(url)
        self.path = u.path
        self.conn = http.client.HTTPConnection(u.hostname, u.port)
        self.headers = {"Content-Type": "application/json",
                        "Accept": "application/json, text/event-stream"}
        resp = self.post(json.dumps(INIT).encode())
        sid = resp.getheader("mcp-session-id")
        if sid:
            self.headers["Mcp-Session-Id"] = sid
        self.headers["Mcp-Protocol-Version"] = "2025-11-25"
        self.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        for i in range(1, 101):
            self.send(call(i))

    def post(self, body: bytes) -> http.client.HTTPResponse:
        self.conn.request("POST", self.path, body=body, headers=self.headers)
        resp = self.conn.getresponse()
        resp.read()
        return resp

    def send(self, body: bytes) -> None:
        self.post(body)

    def close(self) -> None:
        self.conn.close()


def timed(peer, i: int) -> float:
    t = time.perf_counter()
    peer.send(call(i))
    return (time.perf_counter() - t) * 1e6


def bench_http(calls: int, url: str) -> dict:
    peer = HttpPeer(url)
    start = time.perf_counter()
    lat = [timed(peer, 1000 + i) for i in range(calls)]
    return summary(calls, time.perf_counter() - start, lat)


def bench_pair(calls: int, direct, proxied) -> dict:
    a, b, diff = [], [], []
    for i in range(calls):
        # Alternate who goes first, so neither always follows the other.
        if i % 2:
            x = timed(direct, 1000 + i)
            y = timed(proxied, 1000 + i)
        else:
            y = timed(proxied, 1000 + i)
            x = timed(direct, 1000 + i)
        a.append(x)
        b.append(y)
        diff.append(y - x)
    direct.close()
    proxied.close()
    med = lambda v: round(sorted(v)[len(v) // 2], 1)
    return {"pairs": calls, "direct_p50_us": med(a), "proxied_p50_us": med(b),
            "added_p50_us": med(diff),
            "added_p90_us": round(sorted(diff)[int(0.9 * len(diff))], 1)}


def http_stub(port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out separately

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            msg = json.loads(body)
            if "id" not in msg:
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            result = RESULT
            if msg.get("method") == "initialize":
                result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                          "serverInfo": {"name": "stub", "version": "1"}}
            out = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


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
    elif a[:1] == ["pair-stdio"]:
        sep = a.index("::")
        result = bench_pair(int(a[1]), StdioPeer(a[2:sep]), StdioPeer(a[sep + 1:]))
    elif a[:1] == ["pair-http"]:
        result = bench_pair(int(a[1]), HttpPeer(a[2]), HttpPeer(a[3]))
    elif a[:1] == ["http-stub"]:
        http_stub(int(a[1]))
        return
    else:
        sys.exit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
