"""Plain Python: ``@sealtrail.tool(...)`` and ``with sealtrail.span(...)``.

``@tool`` records one ``tool_call`` event per call, after it returns or
raises: ``tool.name``, ``tool.arguments`` (bound by parameter name),
``tool.result`` (or the error), ``outcome``, ``attributes.duration_ms``.
Its event id is chosen before the call, so events recorded inside the call
(nested tools, spans, ``client.record``) name it as their ``parent``.

``span(kind, action)`` does the same for any block of code and yields a
``Span`` whose ``output`` (and other members) the block may set.
"""

import contextvars
import functools
import inspect
import time
import traceback
from typing import Any, Callable, Dict, Optional

from .. import client as _client


def _error(e: BaseException) -> Dict[str, Any]:
    return {"type": type(e).__name__, "message": str(e)[:2000]}


class Span:
    """A block of work recorded as one event when it ends."""

    def __init__(self, kind: str = "custom", action: Optional[str] = None, *,
                 client: Optional["_client.Client"] = None, session: Optional[str] = None,
                 parent: Optional[str] = None, **fields: Any):
        self.kind, self.action, self._client = kind, action, client
        self.id = _client.new_id()
        sess, par = _client.current.get()
        self.session = session if session is not None else sess
        self.parent = parent if parent is not None else par
        self.fields = fields
        self.output: Any = None
        self._token: Optional[contextvars.Token] = None

    def set(self, **fields: Any) -> None:
        """Add event members (``output=…``, ``outcome=…``, attributes)."""
        self.fields.update(fields)

    def __enter__(self) -> "Span":
        self._t0 = time.perf_counter()
        self._token = _client.current.set((self.session, self.id))
        return self

    def __exit__(self, et, e, tb) -> None:
        if self._token is not None:
            _client.current.reset(self._token)
        dur = round((time.perf_counter() - self._t0) * 1000, 3)
        f = dict(self.fields)
        if self.output is not None:
            f.setdefault("output", self.output)
        if e is not None:
            f.setdefault("outcome", "failure")
            attrs = dict(f.get("attributes") or {})
            attrs["error"] = _error(e)
            f["attributes"] = attrs
        else:
            f.setdefault("outcome", "success")
        c = self._client or _client.default_client()
        c.record(self.kind, id=self.id, action=self.action, session=self.session,
                 parent=self.parent, duration_ms=dur, **f)

    async def __aenter__(self) -> "Span":
        return self.__enter__()

    async def __aexit__(self, et, e, tb) -> None:
        self.__exit__(et, e, tb)


def span(kind: str = "custom", action: Optional[str] = None, **kw: Any) -> Span:
    """``with sealtrail.span("decision", "route.pick", input=q) as s: s.output = …``"""
    return Span(kind, action, **kw)


def tool(name: Optional[str] = None, *, client: Optional["_client.Client"] = None,
         action: Optional[str] = None, capture_result: bool = True, **fields: Any):
    """Decorate a function (sync or async) so that each call is a ``tool_call``.

    ``@sealtrail.tool`` or ``@sealtrail.tool("refund", data_classes=["financial"])``.
    """
    if callable(name):  # bare @tool
        return tool()(name)

    def deco(fn: Callable) -> Callable:
        tname = name or fn.__name__
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None

        def arguments(args, kwargs) -> Any:
            if sig is None:
                return {"args": list(args), "kwargs": kwargs}
            try:
                b = sig.bind(*args, **kwargs)
                b.apply_defaults()
                return dict(b.arguments)
            except TypeError:
                return {"args": list(args), "kwargs": kwargs}

        def start(args, kwargs) -> Span:
            s = Span("tool_call", action or tname, client=client, **fields)
            s.tool = {"name": tname, "call_id": s.id, "arguments": arguments(args, kwargs)}
            return s

        def finish(s: Span, result: Any, exc: Optional[BaseException]) -> None:
            t = dict(s.tool)
            if exc is None and capture_result:
                t["result"] = result
            s.fields["tool"] = t
            s.__exit__(type(exc) if exc else None, exc, None)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*args, **kwargs):
                s = start(args, kwargs)
                s.__enter__()
                try:
                    r = await fn(*args, **kwargs)
                except BaseException as e:
                    finish(s, None, e)
                    raise
                finish(s, r, None)
                return r
            return awrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            s = start(args, kwargs)
            s.__enter__()
            try:
                r = fn(*args, **kwargs)
            except BaseException as e:
                finish(s, None, e)
                raise
            finish(s, r, None)
            return r
        return wrapper

    return deco
