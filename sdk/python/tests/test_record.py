"""record() on the agent's thread, without a server: the spool lines it
produces, and the event ids. (test_client.py covers the same lines arriving
at a real server.)"""

import glob
import json
import os
import tempfile
import threading
import unittest
import uuid

import common  # noqa: F401 (puts the SDK on sys.path)
import sealtrail
from sealtrail import event, ids

CLOSED_PORT = "http://127.0.0.1:9"


def spooled(client) -> list:
    """Close the client (nothing can be sent) and read back its spool."""
    client.close(timeout=0)
    lines = []
    for seg in sorted(glob.glob(os.path.join(client.spool.dir, "spool.*.jsonl"))):
        with open(seg, "rb") as f:
            lines += [json.loads(line) for line in f]
    return lines


def client(**kw):
    return sealtrail.Client(CLOSED_PORT, "stk_test", agent="rec-bot",
                            spool_dir=tempfile.mkdtemp(prefix="sealtrail-rec-test-"),
                            max_backoff=0.05, close_at_exit=False, **kw)


class RecordLineTest(unittest.TestCase):
    def test_members_attributes_and_none(self):
        c = client()
        given = {"team": "a", "step": 0}
        args = {"order": "A-1", "amount": 42.5, "note": "naïve \"quoted\"\n"}
        eid = c.record("tool_call", session="s-1", action="refund.issue", tool={"name": "refund",
                       "arguments": args}, outcome=None, attributes=given, step=7, model=None,
                       retry=None)
        args["order"] = "changed after record()"
        (ev,) = spooled(c)
        self.assertEqual(ev["id"], eid)
        self.assertEqual(ev["seq"], 1)
        self.assertEqual(ev["agent"], {"id": "rec-bot", "instance": c.instance})
        self.assertEqual(ev["kind"], "tool_call")
        self.assertEqual(ev["session"], "s-1")
        self.assertEqual(ev["tool"]["arguments"],
                         {"order": "A-1", "amount": 42.5, "note": "naïve \"quoted\"\n"},
                         "serialized at record(), not later")
        # A keyword wins over the same key in attributes=; the caller's dict is untouched.
        self.assertEqual(ev["attributes"], {"team": "a", "step": 7})
        self.assertEqual(given, {"team": "a", "step": 0})
        for absent in ("outcome", "model", "retry"):
            self.assertNotIn(absent, ev)
            self.assertNotIn(absent, ev["attributes"])
        self.assertRegex(ev["occurred_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

    def test_same_json_as_the_standard_encoder(self):
        odd = object()
        value = {"s": "é\u2028\x00\"\\", "i": -3, "f": 1e-7, "b": [True, False, None],
                 "t": (1, 2), "k": {1: "int key"}, "o": odd}
        std = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=repr).encode
        self.assertEqual(event.encode(value), std(value))

    def test_self_reference_is_a_value_error(self):
        c = client()
        loop = {}
        loop["self"] = loop
        with self.assertRaises(ValueError) as err:
            c.record("custom", output=loop)
        self.assertIn("refers to itself", str(err.exception))
        with self.assertRaises(ValueError):
            c.record("no_such_kind")
        self.assertEqual(spooled(c), [], "nothing half-recorded")

    def test_given_id_occurred_at_span_and_other_agent(self):
        c = client()
        with sealtrail.span("agent_lifecycle", "task", client=c, session="ctx") as root:
            a = c.record("custom", id='odd "id"', occurred_at="2020-01-02T03:04:05Z")
            b = c.record("custom", agent={"id": "other-bot"}, session="explicit")
            d = c.record("custom", id=uuid.UUID(int=5))
        with self.assertRaises(ValueError):
            c.record("custom", agent={"name": "no id"})
        evs = {e["id"]: e for e in spooled(c)}
        self.assertEqual(a, 'odd "id"')
        self.assertEqual(evs[a]["occurred_at"], "2020-01-02T03:04:05Z")
        self.assertEqual((evs[a]["session"], evs[a]["parent"]), ("ctx", root.id))
        self.assertEqual((evs[b]["session"], evs[b]["parent"]), ("explicit", root.id))
        self.assertEqual(evs[b]["agent"], {"id": "other-bot"})
        self.assertEqual(d, "00000000-0000-0000-0000-000000000005")
        # seq per agent id: rec-bot has a, d and the span's own event; other-bot only b.
        self.assertEqual(evs[b]["seq"], 1)
        self.assertEqual(sorted(evs[i]["seq"] for i in (a, d, root.id)), [1, 2, 3])

    def test_threads_keep_seq_in_queue_order(self):
        c = client()
        per_thread = 2000

        def work():
            for i in range(per_thread):
                c.record("custom", step=i)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        evs = spooled(c)
        self.assertEqual([e["seq"] for e in evs], list(range(1, 4 * per_thread + 1)))
        self.assertEqual(len({e["id"] for e in evs}), 4 * per_thread)


class CommitTest(unittest.TestCase):
    def wait_recorded(self, c, n, within=2.0):
        import time
        deadline = time.monotonic() + within
        while c.stats["recorded"] < n:
            self.assertLess(time.monotonic(), deadline, f"{n} events not spooled in {within} s")
            time.sleep(0.001)

    def test_spooled_promptly_during_and_after_the_linger(self):
        """The background thread polls for a while after events (record() then
        does not wake it) and sleeps after that (record() wakes it): an event
        reaches the spool promptly either way."""
        import time
        from sealtrail import client as client_module
        c = client()
        c.record("custom", step=0)
        self.wait_recorded(c, 1)
        c.record("custom", step=1)  # while it polls
        self.wait_recorded(c, 2, within=0.5)
        time.sleep(client_module.LINGER_SECONDS * 3)
        self.assertTrue(c._idle, "asleep after the linger")
        c.record("custom", step=2)  # wakes it
        self.wait_recorded(c, 3, within=0.5)
        self.assertEqual([e["attributes"]["step"] for e in spooled(c)], [0, 1, 2])


class CrashTest(unittest.TestCase):
    def test_sigkill_after_the_commit_loses_nothing(self):
        """What docs/sdk-python.md promises: once the background thread has
        committed a batch (stats["recorded"]), a SIGKILL loses none of it; the
        next client on the spool continues the seq."""
        import signal
        import subprocess
        import sys
        spool = tempfile.mkdtemp(prefix="sealtrail-crash-test-")
        child = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
sys.path.insert(0, {common.SDK!r})
import sealtrail
c = sealtrail.Client({CLOSED_PORT!r}, "k", agent="crash-bot", spool_dir={spool!r}, max_backoff=0.05)
ids = [c.record("custom", step=i) for i in range(500)]
while c.stats["recorded"] < 500:
    time.sleep(0.001)
print(" ".join(ids), flush=True)
time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
        try:
            recorded = child.stdout.readline().split()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        self.assertEqual(len(recorded), 500)
        c = sealtrail.Client(CLOSED_PORT, "k", agent="crash-bot", spool_dir=spool,
                             max_backoff=0.05, close_at_exit=False)
        c.record("custom", step="after")
        evs = spooled(c)
        self.assertEqual([e["id"] for e in evs[:500]], recorded)
        self.assertEqual([e["seq"] for e in evs], list(range(1, 502)))


class IdTest(unittest.TestCase):
    def test_uuid7_layout_order_and_uniqueness(self):
        n = 3 * ids.POOL_IDS + 7  # crosses pool refills
        got = [sealtrail.new_id() for _ in range(n)]
        self.assertEqual(len(set(got)), n)
        for s in got[:50] + got[-50:]:
            u = uuid.UUID(s)
            self.assertEqual((u.version, u.variant), (7, uuid.RFC_4122), s)
            self.assertEqual(str(u), s)
        stamps = [s[:13] for s in got]
        self.assertEqual(stamps, sorted(stamps), "millisecond prefix never goes back")

    def test_random_bits_vary(self):
        # Every one of the 74 random bit positions takes both values.
        seen_or, seen_and = 0, (1 << 128) - 1
        for _ in range(2000):
            v = uuid.UUID(sealtrail.new_id()).int
            seen_or |= v
            seen_and &= v
        random_mask = ((1 << 12) - 1) << 64 | ((1 << 62) - 1)
        self.assertEqual(seen_or & random_mask, random_mask)
        self.assertEqual(seen_and & random_mask, 0)

    def test_threads_never_share_an_id(self):
        out = []

        def work():
            out.append([sealtrail.new_id() for _ in range(ids.POOL_IDS)])

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        flat = [i for chunk in out for i in chunk]
        self.assertEqual(len(set(flat)), len(flat))

    @unittest.skipUnless(hasattr(os, "fork"), "needs fork")
    def test_forked_child_does_not_repeat_the_parent(self):
        sealtrail.new_id()  # the pool is in use before the fork
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: write 100 ids and leave at once
            os.close(r)
            os.write(w, "\n".join(sealtrail.new_id() for _ in range(100)).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            child = set(f.read().split("\n"))
        os.waitpid(pid, 0)
        parent = {sealtrail.new_id() for _ in range(100)}
        self.assertEqual(len(child), 100)
        self.assertEqual(child & parent, set())
        self.assertEqual({c[15:] for c in child} & {p[15:] for p in parent}, set(),
                         "random parts differ, not only the timestamps")


if __name__ == "__main__":
    unittest.main()
