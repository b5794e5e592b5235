"""The sealtrail client: ``record()`` on the agent's thread, everything else
on one background thread.

``record()`` builds the event, serializes it (so that later changes to the
caller's objects do not change what is recorded; event.py), stamps
``occurred_at``, takes the next ``seq`` (per agent id, in queue order) and
appends the line to a bounded in-memory queue; it returns the event id at
once, without a system call (ids.py). The background thread writes what is
queued to the durable spool (one O_DSYNC write per batch), then sends the
oldest unacknowledged spooled events to ``POST /v1/events`` and acknowledges
them in the spool once the server answered. See docs/sdk-python.md.
"""

import atexit
import collections
import contextvars
import http.client
import json
import logging
import os
import random
import re
import ssl
import sys
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple

from .event import KINDS, encode, encode_str, members
from .ids import new_id
from .spool import Spool

log = logging.getLogger("sealtrail")

# After taking events, the background thread keeps looking for more every
# POLL_SECONDS for LINGER_SECONDS instead of sleeping until record() wakes it:
# within a burst of events record() then makes no system call. This adds at
# most POLL_SECONDS to the time an event waits in memory before the spool
# commit, and at most LINGER_SECONDS / POLL_SECONDS wake-ups after a burst.
POLL_SECONDS = 0.002
LINGER_SECONDS = 0.05

# The current (session, parent event id), set by sealtrail.span() and the
# adapters; record() links to it when no session / parent is given.
current: "contextvars.ContextVar[Tuple[Optional[str], Optional[str]]]" = contextvars.ContextVar(
    "sealtrail_current", default=(None, None)
)


def _safe_dir_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", s)[:100] or "_"


def default_spool_root() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "sealtrail", "spool")


class Client:
    """A sealtrail client for one agent instance.

    ``Client(url, api_key, agent="billing-bot")``. Keyword options:

    - ``agent_name``, ``agent_version``, ``instance``: the rest of ``agent``.
      ``instance`` defaults to a random id generated once and kept in the spool.
    - ``spool_dir``: the durable spool (default
      ``~/.local/state/sealtrail/spool/<agent>[/<instance>]``); ``fsync``: fsync
      each spooled batch (default True).
    - ``batch_max`` (events per request), ``max_queue`` (events waiting in memory
      before ``record()`` blocks), ``timeout`` (HTTP seconds), ``backoff_base``,
      ``max_backoff`` (seconds; exponential backoff with full jitter).
    - ``ca_cert``: for an ``https://`` url, trust only this CA certificate (PEM
      file) instead of the system's trust store; default ``$SEALTRAIL_CA_CERT``.
    - ``wait_checkpoint``: ask for receipts with inclusion proofs
      (``?wait=checkpoint``); ``vkey``: verify each proof against the log's
      verifier key (needs ``cryptography``); ``on_receipt(event_id, result)``.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        agent: Optional[str] = None,
        *,
        agent_name: Optional[str] = None,
        agent_version: Optional[str] = None,
        instance: Optional[str] = None,
        spool_dir: Optional[str] = None,
        fsync: bool = True,
        batch_max: int = 500,
        max_queue: int = 100_000,
        timeout: float = 10.0,
        backoff_base: float = 0.1,
        max_backoff: float = 30.0,
        wait_checkpoint: bool = False,
        vkey: Optional[str] = None,
        on_receipt: Optional[Callable[[str, Dict[str, Any]], None]] = None,
        keep_receipts: int = 100_000,
        close_at_exit: bool = True,
        ca_cert: Optional[str] = None,
    ):
        if agent is None:
            agent = os.environ.get("SEALTRAIL_AGENT") or os.path.splitext(
                os.path.basename(sys.argv[0] or "python"))[0] or "python"
        self.url = url.rstrip("/")
        u = urllib.parse.urlsplit(self.url)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"url must be http:// or https://, not {url!r}")
        self._scheme, self._netloc = u.scheme, u.netloc
        # Built here, so that a bad CA file fails the constructor, not every send.
        self._ssl = _ssl_context(ca_cert) if u.scheme == "https" else None
        self._path = (u.path or "") + "/v1/events" + ("?wait=checkpoint" if wait_checkpoint else "")
        self._auth = "Bearer " + api_key
        self.agent_id = agent
        if spool_dir is None:
            spool_dir = os.path.join(default_spool_root(), _safe_dir_name(agent))
            if instance is not None:
                spool_dir = os.path.join(spool_dir, _safe_dir_name(instance))
        self.spool = Spool(spool_dir, fsync=fsync)
        if instance is None:
            instance = self.spool.instance_id(lambda: new_id())
        self.instance = instance
        ref: Dict[str, Any] = {"id": agent}
        if agent_name is not None:
            ref["name"] = agent_name
        if agent_version is not None:
            ref["version"] = agent_version
        ref["instance"] = instance
        self.agent_ref = ref
        self._agent_json = encode(ref)
        self.batch_max = batch_max
        self.max_queue = max_queue
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self.vkey = vkey
        if vkey is not None:
            from .verify import parse_vkey
            self._vkey_parsed = parse_vkey(vkey)
        self.on_receipt = on_receipt
        self.receipts: "collections.OrderedDict[str, Dict[str, Any]]" = collections.OrderedDict()
        self.keep_receipts = keep_receipts
        self.stats: Dict[str, int] = collections.Counter()

        self._q: "collections.deque" = collections.deque()
        self._seqs = self.spool.seqs  # agent id -> last seq, shared with the spool
        # record() takes the plain lock (a C-level acquire); the worker waits on
        # a Condition over the same lock, notified only when it went idle.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._idle = True  # worker waiting to be woken by record()
        self._linger_until = 0.0  # until then the worker polls: record() need not wake it
        self._closed = False
        self._stop = False
        self._busy = False  # worker between taking items and spooling them
        self._next_try = 0.0
        self._failures = 0
        self._batch_cap = batch_max
        self._conn: Optional[http.client.HTTPConnection] = None
        self._thread = threading.Thread(target=self._run, name="sealtrail-batcher", daemon=True)
        self._thread.start()
        self._close_at_exit = close_at_exit
        if close_at_exit:
            atexit.register(self._atexit)

    # ------------------------------------------------------------------
    # The agent's side
    # ------------------------------------------------------------------
    def record(self, kind: str, *, id: Optional[str] = None, agent: Optional[Dict[str, Any]] = None,
               **fields: Any) -> str:
        """Record one event; returns its id at once (the send is asynchronous).

        ``kind`` is one of the event kinds (``tool_call``, ``model_call``, …).
        Keyword arguments named like event members (``session``, ``parent``,
        ``action``, ``outcome``, ``tool``, ``model``, ``input``, ``output``, …)
        go into the event; any other keyword goes into ``attributes``.
        ``session`` and ``parent`` default to the enclosing ``sealtrail.span``.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        if self._closed:
            raise RuntimeError("sealtrail client is closed")
        if id:
            eid = str(id)
            eid_json = encode_str(eid)
        else:
            eid = new_id()
            eid_json = '"' + eid + '"'  # hex digits and dashes: nothing to escape
        if "session" not in fields or "parent" not in fields:
            sess, par = current.get()
            if sess is not None and "session" not in fields:
                fields["session"] = sess
            if par is not None and "parent" not in fields:
                fields["parent"] = par
        if agent:
            aid = agent.get("id") if isinstance(agent, dict) else None
            if not isinstance(aid, str):
                raise ValueError(f"record(agent=...) needs a dict with a string id, not {agent!r}")
            body = members(eid_json, encode(agent), kind, fields)
        else:
            aid = self.agent_id
            body = members(eid_json, self._agent_json, kind, fields)
        seqs = self._seqs
        with self._lock:
            if len(self._q) >= self.max_queue:
                self._wait_for_room()
            s = seqs.get(aid, 0) + 1
            seqs[aid] = s
            self._q.append('{"seq":%d,%s' % (s, body))
            if self._idle:
                self._idle = False
                self._cond.notify_all()  # the worker, and any flush() waiting
        return eid

    def _wait_for_room(self) -> None:
        """With the lock held: wait while the in-memory queue is full (an audit
        trail does not drop events silently)."""
        while len(self._q) >= self.max_queue and not self._stop:
            self._cond.wait(0.1)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every event recorded so far was answered by the server
        (sealed, duplicate or rejected). False if ``timeout`` ran out first;
        the events are still in the spool and are sent later."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._next_try = 0.0  # try now, even in backoff
            self._idle = False
            self._cond.notify_all()
            while self._q or self._busy or self.spool.pending_bytes() > 0:
                if not self._thread.is_alive():
                    return False
                rest = None if deadline is None else deadline - time.monotonic()
                if rest is not None and rest <= 0:
                    return False
                self._cond.wait(0.05 if rest is None else min(rest, 0.05))
        return True

    def close(self, timeout: Optional[float] = 10.0) -> bool:
        """Flush (up to ``timeout``), stop the background thread and close the
        spool. Whatever was not sent stays in the spool for the next Client
        on the same spool directory. True if everything was sent."""
        if self._closed:
            return True
        ok = self.flush(timeout)
        self._closed = True
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()
        self.spool.close()
        if self._conn is not None:
            self._conn.close()
        if self._close_at_exit:
            try:
                atexit.unregister(self._atexit)
            except Exception:
                pass
        return ok

    def _atexit(self) -> None:
        try:
            self.close(timeout=5.0)
        except Exception:
            log.exception("sealtrail: closing the client at exit failed")

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def receipt(self, event_id: str) -> Optional[Dict[str, Any]]:
        """The server's answer for an event sent by this client, if kept."""
        return self.receipts.get(event_id)

    # ------------------------------------------------------------------
    # The background thread
    # ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._q:
                        items = list(self._q)
                        self._q.clear()
                        self._busy = True
                        self._linger_until = time.monotonic() + LINGER_SECONDS
                        self._cond.notify_all()  # record() may be waiting for room
                        break
                    pending = self.spool.pending_bytes() > 0
                    now = time.monotonic()
                    if self._stop:
                        items = None
                        break
                    if pending and now >= self._next_try:
                        items = []
                        break
                    if now < self._linger_until:
                        # Events came recently: look again shortly instead of
                        # being woken, so that record() needs no wake-up call
                        # (a futex system call, ~10 µs on the agent's thread).
                        self._cond.wait(POLL_SECONDS if not pending else
                                        min(POLL_SECONDS, self._next_try - now))
                        continue
                    self._idle = True
                    self._cond.wait(None if not pending else self._next_try - now)
            if items is None:
                return
            if items:
                try:
                    self._spool_items(items)
                except Exception:
                    log.exception("sealtrail: writing the spool failed; %d events lost", len(items))
                    self.stats["lost"] += len(items)
                finally:
                    with self._cond:
                        self._busy = False
                        self._cond.notify_all()
                continue  # take whatever else arrived before sending
            try:
                self._send_one()
            except Exception:
                log.exception("sealtrail: unexpected error in the batcher")
                self._backoff(None)
            with self._cond:
                self._cond.notify_all()

    def _spool_items(self, items: List[str]) -> None:
        # seq and occurred_at were set on the agent's thread; what is left here is
        # C-level work on the whole batch, so that this thread seldom holds the GIL.
        self.spool.append(("\n".join(items) + "\n").encode("utf-8"))
        self.stats["recorded"] += len(items)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(self._netloc, timeout=self.timeout,
                                                         context=self._ssl)
            else:
                self._conn = http.client.HTTPConnection(self._netloc, timeout=self.timeout)
        return self._conn

    def _backoff(self, retry_after: Optional[float]) -> None:
        self._failures += 1
        if retry_after is not None:
            delay = retry_after + random.uniform(0, min(1.0, retry_after * 0.1 + 0.05))
        else:
            cap = min(self.max_backoff, self.backoff_base * (2 ** min(self._failures, 30)))
            delay = random.uniform(self.backoff_base / 2, cap)  # full jitter, with a floor
        self.stats["retries"] += 1
        with self._cond:
            self._next_try = time.monotonic() + delay

    def _send_one(self) -> None:
        gen, off, lines = self.spool.peek(self._batch_cap, 8 << 20)
        if not lines:
            return
        body = b"[" + b",".join(lines) + b"]"
        try:
            conn = self._connection()
            conn.request("POST", self._path, body=body, headers={
                "Authorization": self._auth, "Content-Type": "application/json"})
            resp = conn.getresponse()
            status = resp.status
            data = resp.read()
            retry_after = resp.getheader("Retry-After")
        except (OSError, http.client.HTTPException) as e:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._failures == 0:
                log.warning("sealtrail: server unreachable (%s); events are kept in the spool", e)
            self._backoff(None)
            return
        if status in (429, 503) or status >= 500 and status != 501:
            ra = None
            try:
                ra = float(retry_after) if retry_after is not None else None
            except ValueError:
                pass
            log.info("sealtrail: server answered %d; retrying (Retry-After %s)", status, retry_after)
            self._backoff(ra)
            return
        if status == 413 and len(lines) > 1:
            self._batch_cap = max(1, len(lines) // 2)
            return
        results: List[Dict[str, Any]] = []
        try:
            answer = json.loads(data)
            if isinstance(answer, dict) and isinstance(answer.get("results"), list):
                results = answer["results"]
        except ValueError:
            pass
        # 403 with one result per event: these events are not this key's to
        # write (another agent's id, another session); they never will be, so
        # they are rejections, not a reason to keep retrying.
        if status == 401 or (status == 403 and len(results) != len(lines)):
            log.error("sealtrail: server refused the API key (%d): %s; events are kept in the spool",
                      status, data[:300])
            self._backoff(None)
            return
        self._failures = 0
        self._batch_cap = self.batch_max
        if len(results) != len(lines):
            # A whole-request refusal (or a single event too large): drop, loudly.
            log.error("sealtrail: server answered %d to a batch of %d events; dropping them: %s",
                      status, len(lines), data[:500])
            self.stats["rejected"] += len(lines)
        else:
            self._receipts(lines, results)
        self.spool.ack(gen, off)

    def _receipts(self, lines: List[bytes], results: List[Dict[str, Any]]) -> None:
        for line, res in zip(lines, results):
            st = res.get("status")
            i = line.find(b'"id":"')
            eid = line[i + 6:line.index(b'"', i + 6)].decode() if i >= 0 else None
            if st == "rejected":
                self.stats["rejected"] += 1
                log.error("sealtrail: event %s rejected: %s", eid, res.get("error"))
            elif st == "duplicate":
                self.stats["duplicates"] += 1
            else:
                self.stats["sealed"] += 1
            if self.vkey is not None and "proof" in res and st != "rejected":
                from .verify import VerifyError, verify_receipt
                try:
                    verify_receipt(res, self._vkey_parsed)
                    res["verified"] = True
                    self.stats["verified"] += 1
                except VerifyError as e:
                    res["verified"] = False
                    self.stats["verify_failed"] += 1
                    log.error("sealtrail: receipt for event %s does not verify: %s", eid, e)
            if eid is not None:
                self.receipts[eid] = res
                if len(self.receipts) > self.keep_receipts:
                    self.receipts.popitem(last=False)
                if self.on_receipt is not None:
                    try:
                        self.on_receipt(eid, res)
                    except Exception:
                        log.exception("sealtrail: on_receipt failed")


_default: Optional[Client] = None


def _ssl_context(ca_cert: Optional[str]) -> ssl.SSLContext:
    """The TLS settings for an https:// server: only ``ca_cert`` (else
    ``$SEALTRAIL_CA_CERT``) as the trusted CA when given, else the system's
    trust store. Host names are always checked."""
    if ca_cert is None:
        ca_cert = os.environ.get("SEALTRAIL_CA_CERT") or None
    if ca_cert is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=ca_cert)
    except (OSError, ssl.SSLError) as e:
        raise ValueError(f"sealtrail: cannot use CA certificate {ca_cert!r} (ca_cert / "
                         f"SEALTRAIL_CA_CERT): {e}") from e


def mint_token(url: str, agent_key: str, session: str, ttl_seconds: int = 3600,
               timeout: float = 10.0, ca_cert: Optional[str] = None) -> Dict[str, Any]:
    """A session token for one task, minted from an agent key (``sta_…``):
    ``{"token", "expires", "agent", "session"}``. Give ``token`` to
    ``Client`` as its api_key: it may only write that agent's events in that
    session, and dies with its key (docs/access.md). ``ca_cert`` as for
    ``Client``."""
    u = urllib.parse.urlsplit(url.rstrip("/"))
    conn: http.client.HTTPConnection
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.netloc, timeout=timeout, context=_ssl_context(ca_cert))
    else:
        conn = http.client.HTTPConnection(u.netloc, timeout=timeout)
    try:
        body = json.dumps({"session": session, "ttl_seconds": ttl_seconds}).encode()
        conn.request("POST", (u.path or "") + "/v1/tokens", body=body, headers={
            "Authorization": "Bearer " + agent_key, "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 201:
        try:
            message = json.loads(data)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = data[:300].decode("utf-8", "replace")
        raise RuntimeError(f"sealtrail: cannot mint a session token ({resp.status}): {message}")
    return json.loads(data)


def init(url: str, api_key: str, agent: Optional[str] = None, **kw: Any) -> Client:
    """Create the process-wide default client used by ``@sealtrail.tool`` and
    ``sealtrail.span`` when no client is given."""
    global _default
    _default = Client(url, api_key, agent, **kw)
    return _default


def default_client() -> Client:
    if _default is None:
        raise RuntimeError("no sealtrail client: call sealtrail.init(url, api_key, agent=...) first")
    return _default
