"""The OpenAI Agents SDK and LangChain adapters, each driving a real agent
loop with a scripted model (no network) against a real sealtrail server."""

import unittest

from common import ServerCase, need


class OpenAIAgentsTest(ServerCase):
    @need("agents")
    def test_agent_run_lands_linked_and_verified(self):
        import openai_agents_example as ex
        out, client = ex.main(self.server.url, self.server.api_key, self.spool(),
                              wait_checkpoint=True, vkey=self.server.vkey)
        self.assertIn("A-1001", out)
        entries = self.server.events(agent="support-bot")
        self.check_linked(entries, "conversation-42")
        self.assertEqual(client.stats["sealed"], len(entries))
        self.assertEqual(client.stats["verified"], len(entries))  # every receipt's proof checked
        by_id = {e["event"]["id"]: e["event"] for e in entries}
        tools = [ev for ev in by_id.values() if ev["kind"] == "tool_call"]
        self.assertEqual(len(tools), 1)
        t = tools[0]["tool"]
        self.assertEqual(t["name"], "get_refund_status")
        self.assertEqual(t["arguments"], {"order_id": "A-1001"})
        self.assertIn("refund issued", t["result"])
        models = [ev for ev in by_id.values() if ev["kind"] == "model_call"]
        self.assertEqual(len(models), 2)
        self.assertEqual(models[0]["model"]["name"], "scripted-1")
        self.assertEqual(models[0]["model"]["input_tokens"], 12)
        # The tool call and the model calls hang under the agent's run.
        agent_runs = [ev for ev in by_id.values() if ev.get("action") == "agent.run"]
        self.assertEqual(len(agent_runs), 1)
        self.assertEqual(agent_runs[0]["attributes"]["agent_name"], "support")

        def ancestors(ev):
            while ev.get("parent"):
                ev = by_id[ev["parent"]]
                yield ev["id"]
        self.assertIn(agent_runs[0]["id"], list(ancestors(tools[0])))
        self.assertIn(agent_runs[0]["id"], list(ancestors(models[1])))


class LangChainTest(ServerCase):
    @need("langchain")
    def test_agent_run_lands_linked_and_verified(self):
        import langchain_example as ex
        out, client = ex.main(self.server.url, self.server.api_key, self.spool(),
                              wait_checkpoint=True, vkey=self.server.vkey)
        self.assertIn("A-1001", out)
        entries = self.server.events(agent="support-bot-lc")
        self.check_linked(entries, "conversation-43")
        self.assertEqual(client.stats["verified"], len(entries))
        by_id = {e["event"]["id"]: e["event"] for e in entries}
        tools = [ev for ev in by_id.values() if ev["kind"] == "tool_call"]
        self.assertEqual(len(tools), 1)
        t = tools[0]["tool"]
        self.assertEqual(t["name"], "get_refund_status")
        self.assertEqual(t["call_id"], "call_1")
        self.assertEqual(t["arguments"], {"order_id": "A-1001"})
        self.assertIn("refund issued", t["result"])
        models = [ev for ev in by_id.values() if ev["kind"] == "model_call"]
        self.assertEqual(len(models), 2)
        # The first model turn asked for the tool; its output says so.
        self.assertEqual(models[0]["output"]["tool_calls"][0]["name"], "get_refund_status")
        self.assertEqual(models[0]["model"]["output_tokens"], 7)
        root = [ev for ev in by_id.values() if ev.get("parent") is None][0]
        self.assertEqual(root["kind"], "agent_lifecycle")
        for ev in (tools[0], models[0]):
            p = ev
            while p.get("parent"):
                p = by_id[p["parent"]]
            self.assertEqual(p["id"], root["id"])


if __name__ == "__main__":
    unittest.main()
