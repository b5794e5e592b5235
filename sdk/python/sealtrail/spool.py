"""The durable local spool: an append-only, fsynced queue of events on disk.

Layout of a spool directory (one per agent instance; the client holds an
exclusive ``flock`` on ``lock`` so that two processes never share one):

- ``spool.<gen>.jsonl``: events, one JSON line each, in ``record()`` order.
  Only appended to, one batch per ``write`` on a descriptor opened with
  ``O_DSYNC`` (the write returns once the batch is on disk, as write +
  fdatasync would, in one system call). A torn last line (a crash mid-write)
  is cut off when the spool is opened.
- ``ack``: ``<gen> <offset>``: everything in generation ``gen`` before byte
  ``offset`` (and every older generation) was answered by the server. It is
  written without fsync on purpose: losing an ack only means those events are
  sent again, and the server deduplicates by event id.
- ``seq``: JSON ``{agent id: last seq issued}``, fsynced whenever a fully
  acknowledged generation is rotated away, so that ``seq`` keeps increasing
  across restarts (the live lines of the spool also carry their seq).
- ``instance``: the stable instance id generated on first use.

Every event goes through the spool (write-ahead by the background thread,
before it is sent): a batch that reaches the server was durable first, so a
resend after a crash or an outage is always possible and always idempotent.
"""

import fcntl
import json
import os
import threading
from typing import Dict, List, Tuple

ROTATE_BYTES = 4 << 20
# One system call per batch instead of write + fdatasync: each call releases
# the GIL, and getting it back while the agent's thread runs Python costs the
# background thread a switch interval (5 ms), which is how long the batch
# stays in memory (docs/decisions.md, "Python SDK: the spool commit").
_O_DSYNC = getattr(os, "O_DSYNC", 0)
_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class SpoolLocked(RuntimeError):
    """Another process holds this spool directory."""


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: str, fsync: bool = True):
        self.dir = directory
        self.fsync = fsync
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self._lockf = open(os.path.join(directory, "lock"), "a+")
        try:
            fcntl.flock(self._lockf.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lockf.close()
            raise SpoolLocked(
                f"spool directory {directory} is in use by another process; give each "
                "agent instance its own (Client(instance=...) or spool_dir=...)"
            ) from None
        self.lock = threading.Lock()
        self.seqs: Dict[str, int] = self._read_seq()
        ack_gen, ack_off = self._read_ack()
        gens = sorted(self._gens())
        # Fully acknowledged generations are garbage.
        for g in gens:
            if g < ack_gen:
                os.unlink(self._path(g))
        gens = [g for g in gens if g >= ack_gen]
        # Pending segments, oldest first: [gen, start offset, end offset].
        self.segments: List[List[int]] = []
        for g in gens:
            size = self._repair(g)
            start = min(ack_off, size) if g == ack_gen else 0
            self.segments.append([g, start, size])
            self._scan_seqs(g, start)
        if not self.segments:
            g = max(ack_gen, (gens[-1] + 1) if gens else 0)
            self.segments.append([g, 0, 0])
        self.gen = self.segments[-1][0]
        self.fd = self._open_append(self.gen)
        self.rfds: Dict[int, int] = {}

    # -- files -------------------------------------------------------------
    def _path(self, gen: int) -> str:
        return os.path.join(self.dir, f"spool.{gen:012d}.jsonl")

    def _open_append(self, gen: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        if self.fsync:
            flags |= _O_DSYNC
        return os.open(self._path(gen), flags, 0o600)

    def _gens(self) -> List[int]:
        out = []
        for name in os.listdir(self.dir):
            if name.startswith("spool.") and name.endswith(".jsonl"):
                try:
                    out.append(int(name[6:-6]))
                except ValueError:
                    pass
        return out

    def _read_ack(self) -> Tuple[int, int]:
        try:
            with open(os.path.join(self.dir, "ack")) as f:
                g, o = f.read().split()
                return int(g), int(o)
        except (OSError, ValueError):
            return 0, 0

    def _write_ack(self, gen: int, off: int) -> None:
        tmp = os.path.join(self.dir, "ack.tmp")
        with open(tmp, "w") as f:
            f.write(f"{gen} {off}\n")
        os.replace(tmp, os.path.join(self.dir, "ack"))

    def _read_seq(self) -> Dict[str, int]:
        try:
            with open(os.path.join(self.dir, "seq")) as f:
                d = json.load(f)
            return {str(k): int(v) for k, v in d.items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _write_seq(self) -> None:
        tmp = os.path.join(self.dir, "seq.tmp")
        with open(tmp, "w") as f:
            json.dump(dict(self.seqs), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.dir, "seq"))
        _fsync_dir(self.dir)

    def _repair(self, gen: int) -> int:
        """Cut a torn last line; the file's valid size."""
        path = self._path(gen)
        with open(path, "rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
            return end

    def _scan_seqs(self, gen: int, start: int) -> None:
        with open(self._path(gen), "rb") as f:
            f.seek(start)
            for line in f:
                try:
                    ev = json.loads(line)
                    a, s = ev["agent"]["id"], ev.get("seq")
                except (ValueError, KeyError, TypeError):
                    continue
                if isinstance(s, int) and s > self.seqs.get(a, 0):
                    self.seqs[a] = s

    def instance_id(self, make) -> str:
        path = os.path.join(self.dir, "instance")
        try:
            with open(path) as f:
                v = f.read().strip()
                if v:
                    return v
        except OSError:
            pass
        v = make()
        with open(path, "w") as f:
            f.write(v + "\n")
            f.flush()
            os.fsync(f.fileno())
        return v

    # -- queue -------------------------------------------------------------
    def append(self, data: bytes) -> None:
        """Append whole lines (``data`` ends in a newline) durably."""
        if not data:
            return
        with self.lock:
            n = 0
            while n < len(data):
                n += os.write(self.fd, data[n:])
            if self.fsync and not _O_DSYNC:
                _datasync(self.fd)
            self.segments[-1][2] += len(data)

    def pending_bytes(self) -> int:
        with self.lock:
            return sum(e - s for _, s, e in self.segments)

    def peek(self, max_events: int, max_bytes: int) -> Tuple[int, int, List[bytes]]:
        """The oldest unacknowledged lines: (gen, end offset, lines)."""
        with self.lock:
            gen, start, end = self.segments[0]
        if start >= end:
            return gen, start, []
        fd = self.rfds.get(gen)
        if fd is None:
            fd = self.rfds[gen] = os.open(self._path(gen), os.O_RDONLY)
        want = min(end - start, max_bytes)
        data = os.pread(fd, want, start)
        complete = data.split(b"\n")[:-1]  # the last piece is empty or partial
        if not complete:
            # One line longer than max_bytes: take it whole.
            data = os.pread(fd, end - start, start)
            complete = [data.split(b"\n", 1)[0]]
        complete = complete[:max_events]
        off = start + sum(len(l) + 1 for l in complete)
        return gen, off, complete

    def ack(self, gen: int, off: int) -> None:
        with self.lock:
            seg = self.segments[0]
            if seg[0] != gen:
                return
            seg[1] = off
            rotate_old = seg[1] >= seg[2] and len(self.segments) > 1
            rotate_live = (
                seg[1] >= seg[2] and len(self.segments) == 1 and seg[2] >= ROTATE_BYTES
            )
            if rotate_old:
                self.segments.pop(0)
                self._drop_gen(gen)
                self._write_ack(self.segments[0][0], self.segments[0][1])
            elif rotate_live:
                self._rotate_locked()
            else:
                self._write_ack(gen, off)

    def _drop_gen(self, gen: int) -> None:
        fd = self.rfds.pop(gen, None)
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(self._path(gen))
        except OSError:
            pass

    def _rotate_locked(self) -> None:
        # seq must outlive the lines that carried it.
        self._write_seq()
        old = self.gen
        self.gen += 1
        os.close(self.fd)
        self.fd = self._open_append(self.gen)
        self.segments = [[self.gen, 0, 0]]
        self._write_ack(self.gen, 0)
        self._drop_gen(old)

    def close(self) -> None:
        with self.lock:
            seg = self.segments[-1]
            if len(self.segments) == 1 and seg[1] >= seg[2] and seg[2] > 0:
                self._rotate_locked()
            else:
                self._write_seq()
            os.close(self.fd)
            for fd in self.rfds.values():
                os.close(fd)
            self.rfds.clear()
        try:
            fcntl.flock(self._lockf.fileno(), fcntl.LOCK_UN)
        finally:
            self._lockf.close()
