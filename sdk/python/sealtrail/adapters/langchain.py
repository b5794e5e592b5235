"""LangChain: a callback handler that records runs as sealtrail events.

    from sealtrail.adapters.langchain import SealtrailCallbackHandler
    handler = SealtrailCallbackHandler(client)
    agent.invoke(inputs, config={"callbacks": [handler]})

One event per run, recorded when the run ends (so it carries the result):
the event id is the run's ``run_id`` and ``parent`` its ``parent_run_id``.

=====================================  ==================  ===============================
callback                               kind                members
=====================================  ==================  ===============================
on_chat_model_start / on_llm_start …   model_call          model, input (messages/prompts),
  on_llm_end / on_llm_error                                output (text, tool calls), tokens
on_tool_start … on_tool_end / _error   tool_call           tool (name, call_id, arguments, result)
on_chain_start … on_chain_end / _error agent_lifecycle     action ``chain.<name>`` (the root run)
                                       custom              action ``chain.<name>`` (nested runs)
on_agent_action / on_agent_finish      decision            action ``agent.action`` / ``agent.finish``
=====================================  ==================  ===============================

``session``: the handler's ``session`` argument, else the root run's
``metadata["session_id"]`` or ``metadata["thread_id"]`` (LangGraph's
``configurable.thread_id`` is copied there), else the root run's id. Errors
give outcome ``failure`` and ``attributes.error``. Nested chains carry no
inputs/outputs unless ``chain_io=True`` (LangGraph repeats the whole state at
every node); the root chain's input and output are always kept.
"""

import json
import threading
import time
from typing import Any, Dict, List, Optional
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from ..client import Client, new_id


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, UUID):
        return str(v)
    dump = getattr(v, "model_dump", None)
    if callable(dump):
        try:
            d = dump(exclude_none=True)
            # Messages: keep what matters for an audit, not the pydantic noise.
            if "content" in d and "type" in d:
                d = {k: d[k] for k in ("type", "content", "tool_calls", "tool_call_id", "name", "id")
                     if d.get(k) not in (None, [], {}, "")}
            return _jsonable(d)
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


def _name(serialized: Optional[Dict[str, Any]], kwargs: Dict[str, Any], default: str) -> str:
    n = kwargs.get("name")
    if n:
        return str(n)
    if serialized:
        if serialized.get("name"):
            return str(serialized["name"])
        ident = serialized.get("id")
        if isinstance(ident, list) and ident:
            return str(ident[-1])
    return default


class SealtrailCallbackHandler(BaseCallbackHandler):
    raise_error = False
    run_inline = True  # keep the callbacks on the run's thread, in order

    def __init__(self, client: Client, *, session: Optional[str] = None, chain_io: bool = False,
                 include_data: bool = True):
        self.client = client
        self.session = session
        self.chain_io = chain_io
        self.include_data = include_data
        self._lock = threading.Lock()
        self._runs: Dict[str, Dict[str, Any]] = {}
        self._sessions: Dict[str, str] = {}

    # -- bookkeeping ----------------------------------------------------
    def _start(self, run_id: UUID, parent_run_id: Optional[UUID], kind: str, action: str,
               metadata: Optional[Dict[str, Any]], **fields: Any) -> None:
        rid = str(run_id)
        pid = str(parent_run_id) if parent_run_id else None
        with self._lock:
            if pid and pid in self._sessions:
                session = self._sessions[pid]
            else:
                md = metadata or {}
                session = self.session or md.get("session_id") or md.get("thread_id") or rid
            self._sessions[rid] = str(session)
            self._runs[rid] = {"kind": kind, "action": action, "parent": pid,
                               "session": str(session), "t0": time.perf_counter(), "fields": fields}

    def _end(self, run_id: UUID, outcome: str = "success", error: Optional[BaseException] = None,
             **more: Any) -> None:
        rid = str(run_id)
        with self._lock:
            run = self._runs.pop(rid, None)
            # Children end before their parent; the session map can go with the run,
            # except for runs that still have children pending (rare).
            self._sessions.pop(rid, None) if not any(
                r["parent"] == rid for r in self._runs.values()) else None
        if run is None:
            return
        f = dict(run["fields"])
        attrs = dict(f.pop("attributes", None) or {})
        for k, v in more.items():
            if k == "tool" and "tool" in f:
                t = dict(f["tool"])
                t.update(v)
                f["tool"] = t
            elif k == "model" and "model" in f:
                m = dict(f["model"])
                m.update(v)
                f["model"] = m
            elif k == "attributes":
                attrs.update(v)
            else:
                f[k] = v
        attrs["duration_ms"] = round((time.perf_counter() - run["t0"]) * 1000, 3)
        if error is not None:
            outcome = "failure"
            attrs["error"] = {"type": type(error).__name__, "message": str(error)[:2000]}
        self.client.record(run["kind"], id=rid, session=run["session"], parent=run["parent"],
                           action=run["action"], outcome=outcome, attributes=attrs, **f)

    @staticmethod
    def _model_info(serialized: Optional[Dict[str, Any]], kwargs: Dict[str, Any]) -> Dict[str, Any]:
        md = kwargs.get("metadata") or {}
        params = kwargs.get("invocation_params") or {}
        m: Dict[str, Any] = {}
        prov = md.get("ls_provider")
        name = md.get("ls_model_name") or params.get("model") or params.get("model_name") \
            or params.get("_type")
        if prov:
            m["provider"] = str(prov)
        if name:
            m["name"] = str(name)
        return m

    # -- models ---------------------------------------------------------
    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, tags=None,
                            metadata=None, **kwargs):
        f: Dict[str, Any] = {"model": self._model_info(serialized, dict(kwargs, metadata=metadata))}
        if self.include_data:
            f["input"] = _jsonable(messages[0] if len(messages) == 1 else messages)
        self._start(run_id, parent_run_id, "model_call", "llm." + _name(serialized, kwargs, "chat_model"),
                    metadata, **f)

    def on_llm_start(self, serialized, prompts, *, run_id, parent_run_id=None, tags=None,
                     metadata=None, **kwargs):
        f: Dict[str, Any] = {"model": self._model_info(serialized, dict(kwargs, metadata=metadata))}
        if self.include_data:
            f["input"] = list(prompts)
        self._start(run_id, parent_run_id, "model_call", "llm." + _name(serialized, kwargs, "llm"),
                    metadata, **f)

    def on_llm_end(self, response, *, run_id, parent_run_id=None, **kwargs):
        out: List[Any] = []
        usage: Dict[str, int] = {}
        for gens in getattr(response, "generations", None) or []:
            for g in gens:
                msg = getattr(g, "message", None)
                if msg is not None:
                    out.append(_jsonable(msg))
                    um = getattr(msg, "usage_metadata", None) or {}
                    for k in ("input_tokens", "output_tokens"):
                        if isinstance(um.get(k), int):
                            usage[k] = usage.get(k, 0) + um[k]
                else:
                    out.append(getattr(g, "text", None))
        lo = getattr(response, "llm_output", None) or {}
        tu = lo.get("token_usage") or lo.get("usage") or {}
        if isinstance(tu, dict) and not usage:
            for src, dst in (("prompt_tokens", "input_tokens"), ("input_tokens", "input_tokens"),
                             ("completion_tokens", "output_tokens"), ("output_tokens", "output_tokens")):
                if isinstance(tu.get(src), int) and dst not in usage:
                    usage[dst] = tu[src]
        more: Dict[str, Any] = {}
        if self.include_data:
            more["output"] = out[0] if len(out) == 1 else out
        if usage:
            more["model"] = usage
        self._end(run_id, **more)

    def on_llm_error(self, error, *, run_id, parent_run_id=None, **kwargs):
        self._end(run_id, error=error)

    # -- tools ----------------------------------------------------------
    def on_tool_start(self, serialized, input_str, *, run_id, parent_run_id=None, tags=None,
                      metadata=None, inputs=None, **kwargs):
        tool: Dict[str, Any] = {"name": _name(serialized, kwargs, "tool")}
        if kwargs.get("tool_call_id"):
            tool["call_id"] = str(kwargs["tool_call_id"])
        if self.include_data:
            tool["arguments"] = _jsonable(inputs) if inputs is not None else _maybe_json(input_str)
        self._start(run_id, parent_run_id, "tool_call", "tool." + tool["name"], metadata, tool=tool)

    def on_tool_end(self, output, *, run_id, parent_run_id=None, **kwargs):
        t: Dict[str, Any] = {}
        call_id = getattr(output, "tool_call_id", None)
        if call_id:
            t["call_id"] = str(call_id)
        if self.include_data:
            content = getattr(output, "content", output) if hasattr(output, "tool_call_id") else output
            t["result"] = _maybe_json(content)
        status = getattr(output, "status", None)
        self._end(run_id, outcome="failure" if status == "error" else "success", tool=t)

    def on_tool_error(self, error, *, run_id, parent_run_id=None, **kwargs):
        self._end(run_id, error=error)

    # -- chains ---------------------------------------------------------
    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, tags=None,
                       metadata=None, **kwargs):
        root = parent_run_id is None
        f: Dict[str, Any] = {}
        if self.include_data and (root or self.chain_io):
            f["input"] = _jsonable(inputs)
        self._start(run_id, parent_run_id, "agent_lifecycle" if root else "custom",
                    "chain." + _name(serialized, kwargs, "chain"), metadata, **f)

    def on_chain_end(self, outputs, *, run_id, parent_run_id=None, **kwargs):
        more: Dict[str, Any] = {}
        if self.include_data and (parent_run_id is None or self.chain_io):
            more["output"] = _jsonable(outputs)
        self._end(run_id, **more)

    def on_chain_error(self, error, *, run_id, parent_run_id=None, **kwargs):
        self._end(run_id, error=error)

    # -- classic agents (AgentExecutor) ---------------------------------
    def on_agent_action(self, action, *, run_id, parent_run_id=None, **kwargs):
        self._decision(run_id, "agent.action", {"tool": getattr(action, "tool", None),
                                                "tool_input": _jsonable(getattr(action, "tool_input", None)),
                                                "log": getattr(action, "log", None)})

    def on_agent_finish(self, finish, *, run_id, parent_run_id=None, **kwargs):
        self._decision(run_id, "agent.finish", {"return_values": _jsonable(getattr(finish, "return_values", None)),
                                                "log": getattr(finish, "log", None)})

    def _decision(self, run_id: UUID, action: str, output: Dict[str, Any]) -> None:
        rid = str(run_id)
        with self._lock:
            session = self._sessions.get(rid) or self.session or rid
        self.client.record("decision", id=new_id(), session=session, parent=rid, action=action,
                           output=output if self.include_data else None)
