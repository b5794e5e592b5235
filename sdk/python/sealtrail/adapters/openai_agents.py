"""OpenAI Agents SDK (``openai-agents``): a ``TracingProcessor`` that records
the SDK's traces and spans as sealtrail events.

    from agents import add_trace_processor
    from sealtrail.adapters.openai_agents import SealtrailTracingProcessor
    add_trace_processor(SealtrailTracingProcessor(client))

One event per span, recorded when the span ends (so it carries the result):

==============  =================  =========================================
span type       kind               members
==============  =================  =========================================
agent           agent_lifecycle    action ``agent.run``; attributes agent_name, tools, handoffs
generation      model_call         model (name, tokens), input, output
response        model_call         model, tokens, input, output items
function        tool_call          tool (name, arguments, result)
handoff         agent_lifecycle    action ``handoff``; attributes from_agent, to_agent
guardrail       guardrail          action ``guardrail.<name>``; outcome denied when triggered
custom / other  custom             action = name or ``openai_agents.<type>``
trace           agent_lifecycle    action ``trace``, recorded when the trace ends
==============  =================  =========================================

``session`` is the trace's ``group_id`` when it has one, else its trace id.
Event ids are chosen when a span starts, so ``parent`` is the parent span's
event id (the trace's event for top-level spans). A span that ended with an
error has outcome ``failure`` and ``attributes.error``. Every event carries
``attributes.trace_id``/``span_id`` for cross-reference.
"""

import json
import threading
from typing import Any, Dict, Optional

from agents.tracing import Span, Trace, TracingProcessor

from ..client import Client, new_id


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    dump = getattr(v, "model_dump", None)
    if callable(dump):
        try:
            return _jsonable(dump(exclude_none=True))
        except Exception:
            pass
    return repr(v)


def _maybe_json(s: Any) -> Any:
    if isinstance(s, str):
        try:
            return json.loads(s)
        except ValueError:
            return s
    return _jsonable(s)


class SealtrailTracingProcessor(TracingProcessor):
    def __init__(self, client: Client, *, provider: str = "openai", include_data: bool = True):
        self.client = client
        self.provider = provider
        self.include_data = include_data
        self._lock = threading.Lock()
        self._ids: Dict[str, str] = {}  # span id / trace id -> event id
        self._sessions: Dict[str, str] = {}  # trace id -> session

    # -- traces ---------------------------------------------------------
    def on_trace_start(self, trace: Trace) -> None:
        gid = getattr(trace, "group_id", None)
        with self._lock:
            self._ids[trace.trace_id] = new_id()
            self._sessions[trace.trace_id] = gid or trace.trace_id

    def on_trace_end(self, trace: Trace) -> None:
        with self._lock:
            eid = self._ids.pop(trace.trace_id, None) or new_id()
            session = self._sessions.pop(trace.trace_id, None) or trace.trace_id
        attrs = {"trace_id": trace.trace_id, "trace_name": getattr(trace, "name", None)}
        md = getattr(trace, "metadata", None)
        if md:
            attrs["metadata"] = _jsonable(md)
        self.client.record("agent_lifecycle", id=eid, session=session, action="trace",
                           outcome="success", attributes=attrs)

    # -- spans ----------------------------------------------------------
    def on_span_start(self, span: Span[Any]) -> None:
        with self._lock:
            self._ids[span.span_id] = new_id()

    def on_span_end(self, span: Span[Any]) -> None:
        with self._lock:
            eid = self._ids.pop(span.span_id, None) or new_id()
            parent = self._ids.get(span.parent_id) if span.parent_id else self._ids.get(span.trace_id)
            session = self._sessions.get(span.trace_id, span.trace_id)
        d = span.span_data
        typ = getattr(d, "type", "custom")
        attrs: Dict[str, Any] = {"trace_id": span.trace_id, "span_id": span.span_id,
                                 "span_type": typ}
        if span.started_at:
            attrs["started_at"] = span.started_at
        if span.ended_at:
            attrs["ended_at"] = span.ended_at
        f: Dict[str, Any] = {}
        kind = "custom"
        outcome = "success"
        inc = self.include_data
        if typ == "agent":
            kind, f["action"] = "agent_lifecycle", "agent.run"
            attrs.update(agent_name=d.name, tools=d.tools, handoffs=d.handoffs,
                         output_type=d.output_type)
        elif typ == "generation":
            kind, f["action"] = "model_call", "generation"
            f["model"] = self._model(d.model, d.usage)
            if inc:
                f["input"], f["output"] = _jsonable(d.input), _jsonable(d.output)
            if d.model_config:
                attrs["model_config"] = _jsonable(d.model_config)
        elif typ == "response":
            kind, f["action"] = "model_call", "response"
            r = getattr(d, "response", None)
            usage = getattr(r, "usage", None) if r is not None else None
            f["model"] = self._model(getattr(r, "model", None), _jsonable(usage) if usage else None)
            if r is not None:
                attrs["response_id"] = getattr(r, "id", None)
                if inc:
                    f["output"] = _jsonable(getattr(r, "output", None))
            if inc and getattr(d, "input", None) is not None:
                f["input"] = _jsonable(d.input)
        elif typ == "function":
            kind, f["action"] = "tool_call", "function"
            t: Dict[str, Any] = {"name": d.name}
            if inc:
                if d.input is not None:
                    t["arguments"] = _maybe_json(d.input)
                if d.output is not None:
                    t["result"] = _maybe_json(d.output)
            f["tool"] = t
            if getattr(d, "mcp_data", None):
                attrs["mcp_data"] = _jsonable(d.mcp_data)
        elif typ == "handoff":
            kind, f["action"] = "agent_lifecycle", "handoff"
            attrs.update(from_agent=d.from_agent, to_agent=d.to_agent)
        elif typ == "guardrail":
            kind, f["action"] = "guardrail", f"guardrail.{d.name}"
            attrs["triggered"] = bool(d.triggered)
            if d.triggered:
                outcome = "denied"
        else:
            name = getattr(d, "name", None)
            f["action"] = name if isinstance(name, str) and name else f"openai_agents.{typ}"
            try:
                attrs["data"] = _jsonable(d.export())
            except Exception:
                pass
        err = span.error
        if err:
            outcome = "failure"
            attrs["error"] = _jsonable(err)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.client.record(kind, id=eid, session=session, parent=parent, outcome=outcome,
                           attributes=attrs, **f)

    def _model(self, name: Optional[str], usage: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        m: Dict[str, Any] = {"provider": self.provider}
        if name:
            m["name"] = str(name)
        if isinstance(usage, dict):
            for src, dst in (("input_tokens", "input_tokens"), ("prompt_tokens", "input_tokens"),
                             ("output_tokens", "output_tokens"),
                             ("completion_tokens", "output_tokens")):
                v = usage.get(src)
                if isinstance(v, int) and dst not in m:
                    m[dst] = v
        return m

    def shutdown(self) -> None:
        self.client.flush(10)

    def force_flush(self) -> None:
        self.client.flush(10)
