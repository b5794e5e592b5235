"""A LangChain agent (``langchain.agents.create_agent``) whose every step
lands in sealtrail.

The chat model is scripted (no network): its first turn calls the
`get_refund_status` tool, its second answers. Run against a sealtrail server:

    SEALTRAIL_URL=http://127.0.0.1:7700 SEALTRAIL_API_KEY=stk_… \\
        python sdk/python/examples/langchain_example.py
"""

import os
import tempfile
from typing import Any, List

from langchain.agents import create_agent
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

import sealtrail
from sealtrail.adapters.langchain import SealtrailCallbackHandler


class ScriptedChatModel(BaseChatModel):
    """A chat model that plays back prepared AI messages."""

    responses: List[AIMessage]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedChatModel":
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.responses.pop(0))])


@tool
def get_refund_status(order_id: str) -> str:
    """Look up the refund status of an order."""
    return f"order {order_id}: refund issued on 2026-11-02"


def build_agent():
    model = ScriptedChatModel(responses=[
        AIMessage(content="", tool_calls=[{"name": "get_refund_status", "args": {"order_id": "A-1001"},
                                          "id": "call_1", "type": "tool_call"}],
                  usage_metadata={"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}),
        AIMessage(content="Your refund for order A-1001 was issued on 2 November.",
                  usage_metadata={"input_tokens": 30, "output_tokens": 11, "total_tokens": 41}),
    ])
    return create_agent(model, tools=[get_refund_status], system_prompt="Help with refunds.")


def main(url: str, api_key: str, spool_dir: str, session: str = "conversation-43", **client_kw):
    client = sealtrail.Client(url, api_key, agent="support-bot-lc", spool_dir=spool_dir, **client_kw)
    handler = SealtrailCallbackHandler(client, session=session)
    result = build_agent().invoke(
        {"messages": [{"role": "user", "content": "Where is my refund for A-1001?"}]},
        config={"callbacks": [handler]})
    client.close()  # flushes: every event is sent before the process ends
    return result["messages"][-1].content, client


if __name__ == "__main__":
    print(main(os.environ.get("SEALTRAIL_URL", "http://127.0.0.1:7700"),
               os.environ["SEALTRAIL_API_KEY"],
               os.environ.get("SEALTRAIL_SPOOL", tempfile.mkdtemp(prefix="sealtrail-spool-")))[0])
