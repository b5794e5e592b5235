"""The client against a real server: functions adapter, outage, restart of
the client (spool replay), rejections; Retry-After against a fake server."""

import collections
import glob
import http.server
import json
import os
import threading
import time
import unittest

import sealtrail
from common import ServerCase

FAST = dict(backoff_base=0.05, max_backoff=0.5)


class FunctionsTest(ServerCase):
    def test_tool_decorator_and_span(self):
        c = sealtrail.Client(self.server.url, self.server.api_key, agent="fn-bot",
                             spool_dir=self.spool(), **FAST)

        @sealtrail.tool(client=c)
        def add(a, b=2):
            return a + b

        @sealtrail.tool("divide", client=c)
        def div(a, b):
            return a / b

        with sealtrail.span("agent_lifecycle", "task.run", client=c, session="s-1") as root:
            self.assertEqual(add(1), 3)
            with self.assertRaises(ZeroDivisionError):
                div(1, 0)
            c.record("decision", action="route.pick", output={"route": "b"})
            root.output = "done"
        self.assertTrue(c.flush(30))
        c.close()
        entries = self.server.events(agent="fn-bot")
        self.check_linked(entries, "s-1")
        evs = [e["event"] for e in entries]
        self.assertEqual([e["kind"] for e in evs], ["tool_call", "tool_call", "decision", "agent_lifecycle"])
        a, d, dec, r = evs
        self.assertEqual(a["tool"]["name"], "add")
        self.assertEqual(a["tool"]["arguments"], {"a": 1, "b": 2})
        self.assertEqual(a["tool"]["result"], 3)
        self.assertEqual(a["outcome"], "success")
        self.assertIn("duration_ms", a["attributes"])
        self.assertEqual(d["tool"]["name"], "divide")
        self.assertEqual(d["outcome"], "failure")
        self.assertEqual(d["attributes"]["error"]["type"], "ZeroDivisionError")
        for ev in (a, d, dec):
            self.assertEqual(ev["parent"], r["id"])
        self.assertEqual(r["output"], "done")

    def test_rejected_event_is_dropped_not_retried(self):
        c = sealtrail.Client(self.server.url, self.server.api_key, agent="rej-bot",
                             spool_dir=self.spool(), **FAST)
        good = c.record("custom", action="ok")
        bad = c.record("tool_call", tool={"name": ""})  # tool.name must not be empty
        good2 = c.record("custom", action="ok2")
        self.assertTrue(c.flush(30))
        self.assertEqual(c.stats["rejected"], 1)
        self.assertEqual(c.receipt(bad)["status"], "rejected")
        c.close()
        got = [e["event"]["id"] for e in self.server.events(agent="rej-bot")]
        self.assertEqual(got, [good, good2])


class AgentKeyTest(ServerCase):
    def _post(self, path, key, body):
        import urllib.request
        req = urllib.request.Request(self.server.url + path, data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def test_session_token_writes_its_session_and_forged_agents_are_dropped(self):
        made = self._post("/v1/keys", self.server.api_key,
                          {"name": "bot", "role": "agent", "agent": "token-bot"})
        tok = sealtrail.mint_token(self.server.url, made["key"], "task-9", ttl_seconds=600)
        self.assertTrue(tok["token"].startswith("sts_"))
        self.assertEqual((tok["agent"], tok["session"]), ("token-bot", "task-9"))
        c = sealtrail.Client(self.server.url, tok["token"], agent="token-bot",
                             spool_dir=self.spool(), **FAST)
        ok = c.record("custom", action="in-session", session="task-9")
        self.assertTrue(c.flush(30))
        self.assertEqual(c.receipt(ok)["status"], "sealed")
        # Another session, and another agent: refused per event (403), dropped
        # rather than retried for ever.
        wrong = c.record("custom", action="elsewhere", session="task-10")
        self.assertTrue(c.flush(30))
        self.assertEqual(c.receipt(wrong)["status"], "rejected")
        self.assertEqual(c.receipt(wrong)["error"]["code"], "session_mismatch")
        c.close()
        got = [e["event"]["action"] for e in self.server.events(agent="token-bot")]
        self.assertEqual(got, ["in-session"])
        with self.assertRaises(RuntimeError) as err:
            sealtrail.mint_token(self.server.url, self.server.api_key, "x")
        self.assertIn("agent key", str(err.exception))


class OutageTest(ServerCase):
    def test_server_down_while_agents_work(self):
        """Two agents keep working while the server is stopped and started again:
        every event arrives exactly once, in each agent's order."""
        clients = {name: sealtrail.Client(self.server.url, self.server.api_key, agent=name,
                                          spool_dir=self.spool(), **FAST)
                   for name in ("outage-a", "outage-b")}
        recorded = collections.defaultdict(list)
        progress = collections.Counter()
        stop = threading.Event()

        def agent(name):
            c = clients[name]

            @sealtrail.tool("lookup", client=c)
            def lookup(i):
                return {"i": i}

            i = 0
            while not stop.is_set() or i < 150:
                with sealtrail.span("agent_lifecycle", "step", client=c, session=f"{name}-s") as s:
                    lookup(i)
                    recorded[name].append(s.id)
                i += 1
                progress[name] = i
                time.sleep(0.003)

        threads = [threading.Thread(target=agent, args=(n,)) for n in clients]
        for t in threads:
            t.start()
        while min(progress[n] for n in clients) < 30:
            time.sleep(0.01)
        self.server.stop()
        down_at = dict(progress)
        while min(progress[n] - down_at[n] for n in clients) < 60:
            time.sleep(0.01)
        for c in clients.values():
            self.assertGreater(c.spool.pending_bytes(), 0, "events wait in the spool")
        self.server.start()
        stop.set()
        for t in threads:
            t.join()
        for name, c in clients.items():
            self.assertTrue(c.flush(60), name)
            self.assertGreater(c.stats["retries"], 0)
            c.close()
        for name in clients:
            entries = self.server.events(agent=name)
            ids = [e["event"]["id"] for e in entries]
            counts = collections.Counter(ids)
            self.assertEqual([i for i, n in counts.items() if n > 1], [], "no event twice")
            self.assertEqual(len(ids), 2 * progress[name])  # a tool call and a step per iteration
            self.assertTrue(set(recorded[name]) <= set(ids))
            seqs = [e["event"]["seq"] for e in entries]
            self.assertEqual(seqs, list(range(1, len(ids) + 1)), "log order is the agent's order")
            self.assertEqual([e["header"]["seq"] for e in entries], seqs)


class ClientRestartTest(ServerCase):
    def test_spool_replays_after_restart(self):
        spool = self.spool()
        self.server.stop()
        c1 = sealtrail.Client(self.server.url, self.server.api_key, agent="restart-bot",
                              spool_dir=spool, **FAST)
        first = [c1.record("custom", action=f"before.{i}") for i in range(20)]
        self.assertFalse(c1.close(timeout=0.5), "nothing could be sent")
        self.assertTrue(glob.glob(os.path.join(spool, "spool.*.jsonl")))
        # A crash mid-write leaves a torn last line: it is cut off on open.
        seg = sorted(glob.glob(os.path.join(spool, "spool.*.jsonl")))[-1]
        with open(seg, "ab") as f:
            f.write(b'{"seq":99,"id":"torn')
        self.server.start()
        c2 = sealtrail.Client(self.server.url, self.server.api_key, agent="restart-bot",
                              spool_dir=spool, **FAST)
        self.assertEqual(c2.instance, c1.instance)
        second = [c2.record("custom", action=f"after.{i}") for i in range(5)]
        self.assertTrue(c2.flush(30))
        c2.close()
        entries = self.server.events(agent="restart-bot")
        self.assertEqual([e["event"]["id"] for e in entries], first + second)
        self.assertEqual([e["event"]["seq"] for e in entries], list(range(1, 26)))
        # A third client on a now empty spool still continues the seq.
        c3 = sealtrail.Client(self.server.url, self.server.api_key, agent="restart-bot",
                              spool_dir=spool, **FAST)
        c3.record("custom", action="third")
        self.assertTrue(c3.flush(30))
        c3.close()
        self.assertEqual(self.server.events(agent="restart-bot")[-1]["event"]["seq"], 26)

    def test_resend_is_idempotent(self):
        """A lost acknowledgement means a resend; the server answers duplicate."""
        spool = self.spool()
        c1 = sealtrail.Client(self.server.url, self.server.api_key, agent="dup-bot",
                              spool_dir=spool, **FAST)
        ids = [c1.record("custom", action=f"a.{i}") for i in range(3)]
        self.assertTrue(c1.flush(30))
        c1.close()
        # Forget every acknowledgement, as after a crash before the ack was written.
        for seg in glob.glob(os.path.join(spool, "spool.*.jsonl")):
            os.unlink(seg)
        os.unlink(os.path.join(spool, "ack"))
        lines = [json.dumps({"id": i, "agent": {"id": "dup-bot"}, "kind": "custom", "seq": n + 1})
                 for n, i in enumerate(ids)]
        with open(os.path.join(spool, "spool.000000000000.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
        c2 = sealtrail.Client(self.server.url, self.server.api_key, agent="dup-bot",
                              spool_dir=spool, **FAST)
        self.assertTrue(c2.flush(30))
        self.assertEqual(c2.stats["duplicates"], 3)
        c2.close()
        self.assertEqual([e["event"]["id"] for e in self.server.events(agent="dup-bot")], ids)


class RetryAfterTest(unittest.TestCase):
    def test_503_retry_after_is_honoured(self):
        hits = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hits.append((time.monotonic(), len(body), self.headers["Authorization"]))
                if len(hits) == 1:
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                    out = b'{"error":{"code":"overloaded","message":"busy"}}'
                else:
                    self.send_response(200)
                    out = json.dumps({"accepted": len(body), "duplicates": 0, "rejected": 0,
                                      "results": [{"status": "sealed", "index": i, "leaf_hash": "00" * 32,
                                                   "time": 1} for i in range(len(body))]}).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.shutdown)
        import tempfile
        c = sealtrail.Client(f"http://127.0.0.1:{srv.server_address[1]}", "stk_test", agent="ra-bot",
                             spool_dir=tempfile.mkdtemp(), backoff_base=0.01, max_backoff=0.05)
        c.record("custom", action="x")
        c.record("custom", action="y")
        self.assertTrue(c.flush(10))
        c.close()
        self.assertEqual(len(hits), 2)
        self.assertGreaterEqual(hits[1][0] - hits[0][0], 1.0, "waited for Retry-After")
        self.assertEqual(hits[1][2], "Bearer stk_test")
        self.assertEqual(hits[1][1], 2)


if __name__ == "__main__":
    unittest.main()
