"""The SDK's cost on the agent's thread: percentiles of one `record()` call.

    .venv/bin/python sdk/python/bench/record_cost.py [N] [--sdk DIR] [--rate R]

`record()` builds and serializes the event and queues it; the background
thread (spool fdatasync, HTTP) runs concurrently, as in an agent. The server
URL points at a closed port, so the batcher keeps the events in its spool and
retries: the agent's thread sees the same work either way. Each call is timed
alone with perf_counter_ns; the event is a typical tool call (~300 bytes).
Back to back by default (the worst case: the agent's thread never lets go
of the GIL, so the background thread gets it only by CPython's forced
switch); `--rate R` paces the calls at R per second with `time.sleep` in
between, as an agent waiting on a model or a tool would. `--sdk DIR` imports the `sealtrail` package found in DIR instead of this
checkout's (bench/record_ab.py uses it to compare two versions in one run).
"""

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time


def main(n: int, sdk: str, rate: float = 0.0) -> dict:
    sys.path.insert(0, sdk)
    import sealtrail

    spool = tempfile.mkdtemp(prefix="sealtrail-bench-")
    c = sealtrail.Client("http://127.0.0.1:9", "stk_bench", agent="bench-bot", spool_dir=spool,
                         max_queue=10 * n, max_backoff=1.0, close_at_exit=False)
    args = {"order_id": "A-1001", "amount": 42.5, "currency": "EUR", "reason": "damaged item"}
    res = {"status": "refunded", "refund_id": "R-77", "ok": True}
    out = [0] * n  # preallocated: growing it would be timed between calls
    ends = [0] * n
    pc = time.perf_counter_ns
    # When each spooled batch was durable (after its fdatasync), to measure
    # how long a recorded event waits in memory: the crash window.
    commits = []
    spool_append = c.spool.append

    def timed_append(data: bytes) -> None:
        spool_append(data)
        commits.append((pc(), data.count(b"\n")))

    c.spool.append = timed_append
    record = c.record
    warm = n // 10
    for i in range(warm):  # warm-up
        record("tool_call", session="s-1", tool={"name": "refund", "arguments": args, "result": res})
    gc.collect()
    period = int(1e9 / rate) if rate else 0
    sleep = time.sleep
    t_start = pc()
    for i in range(n):
        if period:
            wait = t_start + i * period - pc()
            if wait > 0:
                sleep(wait / 1e9)
        t0 = pc()
        record("tool_call", session="s-1", parent="01a2043a-12b3-71e9-bdd1-ae4fc53de154",
               action="refund.issue", outcome="success",
               tool={"name": "refund", "call_id": "call_1", "arguments": args, "result": res},
               step=i)
        t1 = pc()
        out[i] = t1 - t0
        ends[i] = t1
    wall = pc() - t_start
    c.close(timeout=0)
    lag = []
    line = 0
    for done, lines in commits:
        for j in range(max(line, warm), min(line + lines, warm + n)):
            lag.append(done - ends[j - warm])
        line += lines
    lag.sort()
    # The machine's floor for the same work with no client and no background
    # thread: build the same event dict and serialize it, paced alike.
    enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    base = [0] * n
    t_start = pc()
    for i in range(n):
        if period:  # the same pacing: a paced call runs with cold caches
            wait = t_start + i * period - pc()
            if wait > 0:
                sleep(wait / 1e9)
        t0 = pc()
        enc({"id": "01a2043a-12b3-71e9-bdd1-ae4fc53de155", "agent": {"id": "bench-bot"},
             "kind": "tool_call", "session": "s-1",
             "parent": "01a2043a-12b3-71e9-bdd1-ae4fc53de154", "action": "refund.issue",
             "outcome": "success", "tool": {"name": "refund", "call_id": "call_1", "arguments": args,
                                            "result": res}, "attributes": {"step": i}})
        base[i] = pc() - t0
    base.sort()
    out.sort()

    def q(xs, p):
        return round(xs[min(len(xs) - 1, int(p * len(xs)))] / 1000, 2)

    return {"n": n, "p50_us": q(out, 0.50), "p90_us": q(out, 0.90), "p99_us": q(out, 0.99),
            "p999_us": q(out, 0.999), "max_us": round(out[-1] / 1000, 1),
            "calls_per_s": round(n / wall * 1e9), "rate": rate,
            "spool_lag_p50_ms": round(q(lag, 0.5) / 1000, 2), "spool_lag_p99_ms": round(q(lag, 0.99) / 1000, 2),
            "spool_lag_max_ms": round(lag[-1] / 1e6, 2), "spool_batches": len(commits), "baseline_p50_us": q(base, 0.50),
            "baseline_p99_us": q(base, 0.99), "python": platform.python_version(),
            "load_avg": os.getloadavg()[0], "sdk": os.path.abspath(sdk)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=200_000, help="timed calls (default 200,000)")
    ap.add_argument("--sdk", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                    help="directory holding the sealtrail package (default: this checkout)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="calls per second, paced with time.sleep (default: back to back)")
    a = ap.parse_args()
    print(json.dumps(main(a.n, a.sdk, a.rate)))
