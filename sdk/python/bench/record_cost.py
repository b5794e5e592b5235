"""The SDK's cost on the agent's thread: p50/p99 of one `record()` call.

    .venv/bin/python sdk/python/bench/record_cost.py [N]

`record()` builds and serializes the event and queues it; the background
thread (spool fsync, HTTP) runs concurrently, as in an agent. The server URL
points at a closed port, so the batcher keeps the events in its spool and
retries: the agent's thread sees the same work either way. Each call is timed
alone with perf_counter_ns; the event is a typical tool call (~300 bytes).
"""

import gc
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import sealtrail  # noqa: E402


def main(n: int = 100_000) -> dict:
    spool = tempfile.mkdtemp(prefix="sealtrail-bench-")
    c = sealtrail.Client("http://127.0.0.1:9", "stk_bench", agent="bench-bot", spool_dir=spool,
                         max_queue=10 * n, max_backoff=1.0, close_at_exit=False)
    args = {"order_id": "A-1001", "amount": 42.5, "currency": "EUR", "reason": "damaged item"}
    res = {"status": "refunded", "refund_id": "R-77", "ok": True}
    out = []
    record = c.record
    pc = time.perf_counter_ns
    for i in range(n // 10):  # warm-up
        record("tool_call", session="s-1", tool={"name": "refund", "arguments": args, "result": res})
    gc.collect()
    for i in range(n):
        t0 = pc()
        record("tool_call", session="s-1", parent="01a2043a-12b3-71e9-bdd1-ae4fc53de154",
               action="refund.issue", outcome="success",
               tool={"name": "refund", "call_id": "call_1", "arguments": args, "result": res},
               step=i)
        out.append(pc() - t0)
    c.close(timeout=0)
    # The machine's noise floor for the same work with no client and no
    # background thread: build the same event dict and serialize it.
    enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    base = []
    for i in range(n):
        t0 = pc()
        enc({"id": sealtrail.new_id(), "agent": {"id": "bench-bot"}, "kind": "tool_call", "session": "s-1",
             "parent": "01a2043a-12b3-71e9-bdd1-ae4fc53de154", "action": "refund.issue",
             "outcome": "success", "tool": {"name": "refund", "call_id": "call_1", "arguments": args,
                                            "result": res}, "attributes": {"step": i}})
        base.append(pc() - t0)
    base.sort()
    out.sort()
    q = lambda p: out[min(len(out) - 1, int(p * len(out)))] / 1000  # noqa: E731
    r = {"n": n, "p50_us": round(q(0.50), 2), "p90_us": round(q(0.90), 2),
         "p99_us": round(q(0.99), 2), "p999_us": round(q(0.999), 2), "max_us": round(out[-1] / 1000, 1),
         "baseline_p50_us": round(base[n // 2] / 1000, 2),
         "baseline_p99_us": round(base[int(0.99 * n)] / 1000, 2),
         "python": platform.python_version(), "load_avg": os.getloadavg()[0]}
    return r


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
