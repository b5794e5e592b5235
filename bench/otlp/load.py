"""OTLP ingest load generator: spans/s over OTLP/HTTP protobuf, and events/s
over POST /v1/events with the equivalent JSON events, same client, same run.

Usage: load.py otlp|events URL API_KEY [SECONDS] [CONNECTIONS] [SPANS_PER_REQUEST]

Each request is a GenAI-convention trace (a chat span and execute_tool
children), built once and given a fresh random trace id per request by
replacing a 16-byte sentinel, so the client spends almost no CPU per span
and every span is new (no duplicates). Prints one JSON line.
"""

import http.client
import json
import os
import sys
import threading
import time
from urllib.parse import urlparse

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

SENTINEL = bytes(range(0xA0, 0xB0))  # 16 bytes, replaced by the trace id


def kv(k, v):
    if isinstance(v, int):
        return KeyValue(key=k, value=AnyValue(int_value=v))
    return KeyValue(key=k, value=AnyValue(string_value=v))


def otlp_body(n):
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "bench-agent"), kv("service.version", "1.0")])
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    t0 = int(time.time() * 1e9)
    for i in range(n):
        sp = ss.spans.add()
        sp.trace_id = SENTINEL
        sp.span_id = (i + 1).to_bytes(8, "big")
        sp.start_time_unix_nano = t0 + i * 1000
        sp.end_time_unix_nano = t0 + i * 1000 + 500_000
        if i == 0:
            sp.name = "chat gpt-4o"
            sp.kind = 3
            sp.attributes.extend([
                kv("gen_ai.operation.name", "chat"), kv("gen_ai.provider.name", "openai"),
                kv("gen_ai.request.model", "gpt-4o"), kv("gen_ai.usage.input_tokens", 1200),
                kv("gen_ai.usage.output_tokens", 300), kv("gen_ai.conversation.id", "bench-conv"),
            ])
        else:
            sp.parent_span_id = (1).to_bytes(8, "big")
            sp.name = "execute_tool crm.lookup"
            sp.kind = 1
            sp.attributes.extend([
                kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", "crm.lookup"),
                kv("gen_ai.tool.call.id", f"call_{i}"),
                kv("gen_ai.tool.call.arguments", json.dumps({"customer": i, "fields": ["name", "plan"]})),
                kv("gen_ai.conversation.id", "bench-conv"), kv("http.status_code", 200),
            ])
    return req.SerializeToString()


def events_body(n):
    """The events the OTLP spans map to, as JSON for /v1/events."""
    events = []
    for i in range(n):
        e = {"id": f"ev-SENTINEL-{i:08d}", "agent": {"id": "bench-agent", "version": "1.0"},
             "session": "bench-conv", "outcome": "success",
             "occurred_at": "2026-11-22T10:00:00.000000Z",
             "attributes": {"otel.span_kind": "internal", "otel.duration_ns": 500000,
                            "otel.resource": {"service.name": "bench-agent"}}}
        if i == 0:
            e.update(kind="model_call", action="chat",
                     model={"provider": "openai", "name": "gpt-4o", "input_tokens": 1200, "output_tokens": 300})
        else:
            e.update(kind="tool_call", action="execute_tool", parent="ev-SENTINEL-00000000",
                     tool={"name": "crm.lookup", "call_id": f"call_{i}",
                           "arguments": {"customer": i, "fields": ["name", "plan"]}})
            e["attributes"]["http.status_code"] = 200
        events.append(e)
    return json.dumps(events).encode()


def main():
    mode, url, key = sys.argv[1:4]
    secs = float(sys.argv[4]) if len(sys.argv) > 4 else 20
    conns = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    n = int(sys.argv[6]) if len(sys.argv) > 6 else 500
    u = urlparse(url)
    if mode == "otlp":
        template, path, ctype, marker = otlp_body(n), "/v1/traces", "application/x-protobuf", SENTINEL
        fresh = lambda: os.urandom(16)
    else:
        template, path, ctype, marker = events_body(n), "/v1/events", "application/json", b"SENTINEL"
        fresh = lambda: os.urandom(8).hex().encode()
    headers = {"Content-Type": ctype, "Authorization": f"Bearer {key}"}
    done = {"requests": 0, "items": 0, "errors": 0}
    lock = threading.Lock()
    warm_end = time.monotonic() + 2
    end = warm_end + secs

    def worker():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        while True:
            now = time.monotonic()
            if now >= end:
                return
            body = template.replace(marker, fresh())
            c.request("POST", path, body=body, headers=headers)
            r = c.getresponse()
            r.read()
            if now >= warm_end:
                with lock:
                    if r.status == 200:
                        done["requests"] += 1
                        done["items"] += n
                    else:
                        done["errors"] += 1

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_s = done["items"] / secs
    print(json.dumps({"mode": mode, "seconds": secs, "connections": conns, "per_request": n,
                      "request_bytes": len(template), **done, "per_s": round(per_s, 1)}))


if __name__ == "__main__":
    main()
