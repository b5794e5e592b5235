"""An OpenAI Agents SDK agent whose every step lands in sealtrail.

The model is scripted (no network, no OpenAI key): its first turn calls the
`get_refund_status` tool, its second answers. Run against a sealtrail server:

    SEALTRAIL_URL=http://127.0.0.1:7700 SEALTRAIL_API_KEY=stk_… \\
        python sdk/python/examples/openai_agents_example.py
"""

import asyncio
import os
import tempfile

from agents import Agent, Runner, function_tool, set_trace_processors
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.tracing import generation_span
from agents.usage import Usage
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

import sealtrail
from sealtrail.adapters.openai_agents import SealtrailTracingProcessor


class ScriptedModel(Model):
    """A `Model` that plays back prepared turns, tracing them as real models do."""

    def __init__(self, turns):
        self.turns = list(turns)

    async def get_response(self, system_instructions, input, model_settings, tools,
                           output_schema, handoffs, tracing, **kwargs):
        output = self.turns.pop(0)
        with generation_span(model="scripted-1", disabled=tracing.is_disabled()) as span:
            span.span_data.input = input if isinstance(input, list) else [{"role": "user", "content": input}]
            span.span_data.output = [o.model_dump(exclude_none=True) for o in output]
            span.span_data.usage = {"input_tokens": 12, "output_tokens": 7}
        return ModelResponse(output=output, usage=Usage(requests=1, input_tokens=12, output_tokens=7),
                             response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("the scripted model does not stream")


def tool_call(name, arguments, call_id):
    return ResponseFunctionToolCall(type="function_call", name=name, arguments=arguments,
                                    call_id=call_id, id=f"fc_{call_id}", status="completed")


def message(text):
    return ResponseOutputMessage(type="message", id="msg_1", role="assistant", status="completed",
                                 content=[ResponseOutputText(type="output_text", text=text, annotations=[])])


@function_tool
def get_refund_status(order_id: str) -> str:
    """Look up the refund status of an order."""
    return f"order {order_id}: refund issued on 2026-11-02"


def build_agent() -> Agent:
    model = ScriptedModel([
        [tool_call("get_refund_status", '{"order_id": "A-1001"}', "call_1")],
        [message("Your refund for order A-1001 was issued on 2 November.")],
    ])
    return Agent(name="support", instructions="Help with refunds.", model=model,
                 tools=[get_refund_status])


def main(url: str, api_key: str, spool_dir: str, group_id: str = "conversation-42", **client_kw):
    client = sealtrail.Client(url, api_key, agent="support-bot", spool_dir=spool_dir, **client_kw)
    # Replace the default OpenAI exporter (it would need network and a key).
    set_trace_processors([SealtrailTracingProcessor(client)])
    from agents import RunConfig
    result = asyncio.run(Runner.run(build_agent(), "Where is my refund for A-1001?",
                                    run_config=RunConfig(group_id=group_id)))
    client.close()  # flushes: every event is sent before the process ends
    return result.final_output, client


if __name__ == "__main__":
    print(main(os.environ.get("SEALTRAIL_URL", "http://127.0.0.1:7700"),
               os.environ["SEALTRAIL_API_KEY"],
               os.environ.get("SEALTRAIL_SPOOL", tempfile.mkdtemp(prefix="sealtrail-spool-")))[0])
