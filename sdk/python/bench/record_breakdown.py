"""Where one `record()` goes: each step on the agent's thread timed alone.

    .venv/bin/python sdk/python/bench/record_breakdown.py

The background thread is not started (a parked client), so these are the
caller's own costs with warm caches; record_cost.py measures the calls as an
agent sees them. Each figure is the best of 400 rounds of 500 calls, the
steps interleaved round by round so that the machine's load changes hit all
of them alike; the queue is emptied after each round, as the background
thread would.
"""

import os
import sys
import tempfile
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sealtrail import client as client_module  # noqa: E402
from sealtrail import event, ids  # noqa: E402

client_module.Client._run = lambda self: None  # park the background thread
c = client_module.Client("http://127.0.0.1:9", "stk_bench", agent="bench-bot",
                         spool_dir=tempfile.mkdtemp(prefix="sealtrail-bench-"),
                         max_queue=10**9, close_at_exit=False)
args = {"order_id": "A-1001", "amount": 42.5, "currency": "EUR", "reason": "damaged item"}
res = {"status": "refunded", "refund_id": "R-77", "ok": True}
tool = {"name": "refund", "call_id": "call_1", "arguments": args, "result": res}
PARENT = "01a2043a-12b3-71e9-bdd1-ae4fc53de154"


def kw(**f):
    return f


new_id = ids.new_id
fields = kw(session="s-1", parent=PARENT, action="refund.issue", outcome="success", tool=tool, step=5)
routed = event._with_attributes(dict(fields))
seqs = {}


def enqueue(body="x" * 420):
    """record()'s tail: the lock, the next seq, the line, the queue."""
    with c._lock:
        s = seqs.get("a", 0) + 1
        seqs["a"] = s
        c._q.append('{"seq":%d,%s' % (s, body))
        if c._idle:
            pass


STEPS = {
    "record() total": "c.record('tool_call', session='s-1', parent=PARENT, action='refund.issue', "
                      "outcome='success', tool=tool, step=5)",
    "call with 6 keywords": "kw(session='s-1', parent=PARENT, action='refund.issue', "
                            "outcome='success', tool=tool, step=5)",
    "new_id()": "new_id()",
    "copy of the keywords (subtracted below)": "dict(fields)",
    "unknown keywords into attributes": "event._with_attributes(dict(fields))",
    "JSON encoding of the members (C)": "event.encode(routed)",
    "members() in all": "event.members('\"x\"', c._agent_json, 'tool_call', dict(fields))",
    "lock, seq, line, queue": "enqueue()",
}


def main() -> None:
    best = {k: float("inf") for k in STEPS}
    for _ in range(400):
        for k, stmt in STEPS.items():
            best[k] = min(best[k], timeit.timeit(stmt, globals=globals(), number=500) / 500 * 1e6)
            c._q.clear()
    copy = best["copy of the keywords (subtracted below)"]
    for k, v in best.items():
        if k in ("unknown keywords into attributes", "members() in all"):
            v -= copy
        print(f"{k:42s} {v:6.2f} us")


if __name__ == "__main__":
    main()
