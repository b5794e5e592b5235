"""Sends GenAI-convention spans to a sealtrail server with the real
OpenTelemetry SDK and its OTLP exporter (HTTP/protobuf or gRPC).

Usage: export_genai.py http|grpc ENDPOINT API_KEY CONVERSATION_ID

Prints one JSON line: {"trace_id", "chat_span_id", "tool_span_id"} (hex).
The exporter raises nothing on failure, so the script checks the result of
force_flush and of the exporter itself and exits non-zero when it failed.
"""

import json
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Status, StatusCode


class Checked:
    """Wraps an exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.ok = True

    def export(self, spans):
        result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.ok = False
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def exporter(protocol, endpoint, key):
    headers = {"authorization": f"Bearer {key}"}
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=headers, timeout=10)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=headers, timeout=10)


def main():
    protocol, endpoint, key, conversation = sys.argv[1:5]
    checked = Checked(exporter(protocol, endpoint, key))
    provider = TracerProvider(
        resource=Resource.create({"service.name": "travel-agent", "service.version": "0.3.1"})
    )
    provider.add_span_processor(SimpleSpanProcessor(checked))
    tracer = provider.get_tracer("sealtrail-otlp-test")

    with tracer.start_as_current_span("chat gpt-4o", kind=trace.SpanKind.CLIENT) as chat:
        chat.set_attribute("gen_ai.operation.name", "chat")
        chat.set_attribute("gen_ai.provider.name", "openai")
        chat.set_attribute("gen_ai.request.model", "gpt-4o")
        chat.set_attribute("gen_ai.usage.input_tokens", 321)
        chat.set_attribute("gen_ai.usage.output_tokens", 42)
        chat.set_attribute("gen_ai.conversation.id", conversation)
        chat.set_attribute("gen_ai.agent.name", "travel-agent")
        chat.set_attribute("gen_ai.request.temperature", 0.2)
        with tracer.start_as_current_span("execute_tool get_weather") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "get_weather")
            tool.set_attribute("gen_ai.tool.call.id", "call_42")
            tool.set_attribute("gen_ai.tool.call.arguments", '{"city": "Paris"}')
            tool.set_attribute("gen_ai.conversation.id", conversation)
            tool.set_attribute("gen_ai.agent.name", "travel-agent")
            tool.set_status(Status(StatusCode.ERROR, "weather service timed out"))
            tool_ctx = tool.get_span_context()
        chat_ctx = chat.get_span_context()

    provider.shutdown()
    if not checked.ok:
        print("export failed", file=sys.stderr)
        sys.exit(1)
    print(
        json.dumps(
            {
                "trace_id": format(chat_ctx.trace_id, "032x"),
                "chat_span_id": format(chat_ctx.span_id, "016x"),
                "tool_span_id": format(tool_ctx.span_id, "016x"),
            }
        )
    )


if __name__ == "__main__":
    main()
