"""Event ids: UUIDv7 (RFC 9562) without a system call per id.

``record()`` returns the id at once, so this runs on the agent's thread for
every event. ``os.urandom`` per id cost ~1.8 µs and, worse, released the GIL
inside ``getrandom``: the client's background thread, whenever it was waiting
for the GIL, took it right there and the agent's thread waited for it (most
of ``record()``'s p99 tail, docs/benchmarks.md "Issue 16"). Here the random
bits come from a pool of ``os.urandom`` output drawn once per ``POOL_IDS``
ids, so the bits are still the operating system's CSPRNG output, each used
once.

Thread safety without a lock: each pool hands out its slots through an
``itertools.count``, whose ``next`` is one atomic C call under the GIL, so no
two threads get the same slot. Two threads that find the pool empty at the
same time each make a fresh one; both are random and each slot of each is
used at most once. A forked child drops the inherited pool (it would repeat
the parent's ids).
"""

import itertools
import os
import time

POOL_IDS = 4096
# Per id: 19 hex digits = 12 bits rand_a, one digit of which 2 bits go into
# the variant digit, 60 bits rand_b; 74 random bits as RFC 9562 §5.7 allows.
_SLOT = 19
# The variant digit (10xx): two random bits out of one random hex digit.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_time_ns = time.time_ns


class _Pool:
    __slots__ = ("hex", "take")

    def __init__(self) -> None:
        self.hex = os.urandom(POOL_IDS * _SLOT // 2 + 1).hex()
        self.take = itertools.count().__next__


_pool = _Pool()
# (unix ms, "tttttttt-tttt-7"): one tuple, so that a reader never pairs one
# millisecond with another one's text.
_ms_prefix = (-1, "")


def _after_fork_in_child() -> None:
    global _pool
    _pool = _Pool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def new_id() -> str:
    """A UUIDv7 (RFC 9562): millisecond time order, 74 random bits."""
    global _pool, _ms_prefix
    pool = _pool
    i = pool.take()
    if i >= POOL_IDS:
        pool = _pool = _Pool()
        i = pool.take()
    i *= _SLOT
    h = pool.hex
    ms = _time_ns() // 1_000_000
    cached = _ms_prefix
    if cached[0] != ms:
        t = "%012x" % ms
        cached = _ms_prefix = (ms, t[:8] + "-" + t[8:] + "-7")
    return (cached[1] + h[i:i + 3] + "-" + _VARIANT[h[i + 3]] + h[i + 4:i + 7] + "-"
            + h[i + 7:i + 19])
