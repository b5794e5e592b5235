"""An event's JSON line, built on the agent's thread by ``record()``.

``record()`` serializes at once, so that later changes to the caller's
objects do not change what is recorded. Everything here runs for every event
on the agent's thread, so it avoids what costs there (docs/benchmarks.md
"Issue 16"): no system call (a system call releases the GIL, and the client's
background thread then takes it for as long as its own Python work lasts),
no per-call encoder set-up, and only the members the caller gave are encoded
(``id``, ``agent``, ``kind``, ``occurred_at`` are spliced in as text).
"""

import json
import json.encoder
import time
from typing import Any, Callable, Dict, List

KINDS = frozenset(
    "model_call tool_call decision data_access agent_lifecycle human_review guardrail "
    "config_change access_change budget alert custom".split()
)
# Members of an event other than id/agent/kind/seq, as the server knows them;
# anything else given to record() goes into `attributes`.
FIELDS = frozenset(
    "session parent action resource outcome principal subjects data_classes model tool "
    "input output reasoning review change occurred_at attributes".split()
)

_time_ns = time.time_ns
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=repr)
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encode_str = getattr(json.encoder, "c_encode_basestring", None)

if _c_make_encoder is not None and _c_encode_str is not None:
    # The same C encoder JSONEncoder.encode builds on every call, built once.
    # Without the circular-reference map (markers=None): a self-referencing
    # object then ends in RecursionError, turned into ValueError below, as
    # JSONEncoder's own check would.
    _chunks: Callable[[Any, int], List[str]] = _c_make_encoder(
        None, repr, _c_encode_str, None, ":", ",", False, False, True)

    def encode(obj: Any) -> str:
        """Compact JSON (UTF-8 text, not \\u-escaped); other objects as their repr()."""
        try:
            return "".join(_chunks(obj, 0))
        except RecursionError:
            raise ValueError("sealtrail: the event refers to itself or is nested too deeply "
                             "to serialize") from None

    encode_str: Callable[[str], str] = _c_encode_str
else:  # a Python without the _json accelerator
    encode = _encoder.encode
    encode_str = json.encoder.py_encode_basestring

# (unix second, '"occurred_at":"YYYY-MM-DDTHH:MM:SS'): one tuple, so that a
# reader never pairs one second with another one's text.
_second = (-1, "")


def members(eid_json: str, agent_json: str, kind: str, fields: Dict[str, Any]) -> str:
    """The event's JSON object without its leading ``{`` (``record()`` puts
    ``{"seq":N,`` in front once it holds the queue lock).

    ``fields`` is record()'s own keyword dict: None values are dropped,
    keywords that are not event members go into ``attributes`` (a copy: the
    caller's dict is not changed), and ``occurred_at`` is stamped now unless
    given."""
    global _second
    if not FIELDS.issuperset(fields):
        fields = _with_attributes(fields)
    for v in fields.values():
        if v is None:
            fields = {k: v for k, v in fields.items() if v is not None}
            break
    body = encode(fields)[1:] if fields else "}"
    if "occurred_at" in fields:
        return '"id":%s,"agent":%s,"kind":"%s",%s' % (eid_json, agent_json, kind, body)
    ns = _time_ns()
    sec = ns // 1_000_000_000
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, time.strftime('"occurred_at":"%Y-%m-%dT%H:%M:%S',
                                               time.gmtime(sec)))
    # One format for the whole line: each intermediate string would be a copy.
    return '%s.%06dZ","id":%s,"agent":%s,"kind":"%s"%s%s' % (
        cached[1], ns // 1000 % 1_000_000, eid_json, agent_json, kind,
        "," if fields else "", body)


def _with_attributes(fields: Dict[str, Any]) -> Dict[str, Any]:
    """Unknown keywords moved into ``attributes`` (merged over a copy of the
    given ``attributes``; a keyword wins over the same key in it). ``fields``
    is record()'s own keyword dict, so it is changed in place."""
    extra = {}
    for k in [k for k in fields if k not in FIELDS]:  # in keyword order
        v = fields.pop(k)
        if v is not None:
            extra[k] = v
    if extra:
        given = fields.get("attributes")
        if given is None:
            fields["attributes"] = extra
        elif isinstance(given, dict):
            merged = dict(given)
            merged.update(extra)
            fields["attributes"] = merged
        else:
            raise TypeError("sealtrail: attributes must be a dict when other keywords "
                            f"({', '.join(sorted(extra))}) go into it, not {type(given).__name__}")
    return fields
