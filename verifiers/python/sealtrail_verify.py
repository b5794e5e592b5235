#!/usr/bin/env python3
"""Independent verifier for sealtrail evidence bundles (formats v1 and v2).

Written from docs/formats.md alone (§1 hashing, §4 headers, §5 notes, keys and
checkpoints, §7 tlog-proof, §8 stream heads, §9 bundles v1, §10 bundles v2),
not from the Rust implementation, so that two implementations of the
specification can be checked against each other.  Where the specification
left a choice open, the decision taken here is written down in SPEC-NOTES.md
next to this file.

The bundle is read as a stream: members are opened through the ZIP central
directory and read in bounded pieces (entries line by line, other members up
to the caps of §10), and every check that depends on the order of the
entries keeps only the previous entry, never the list of all of them.  A
ZIP bomb or a very large bundle therefore costs bounded memory.

Usage:
    python3 sealtrail_verify.py BUNDLE.zip [--vkey VKEY | --vkey-file FILE] [--json] [--jobs N]

Exit status: 0 the bundle verifies, 1 verification failed (including a bundle
that is not a readable ZIP), 2 usage error or input that cannot be read (no
such file, a malformed verifier key).

Standard library only, plus `cryptography` for Ed25519.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gc
import hashlib
import io
import json
import math
import operator
import os
import re
import struct
import sys
import zipfile
import zlib
from typing import Any, Dict, List, Optional, Tuple

__all__ = [
    "VerifyError",
    "Failure",
    "Report",
    "VerifierKey",
    "Checkpoint",
    "TlogProof",
    "sha256",
    "leaf_hash",
    "node_hash",
    "verify_inclusion",
    "parse_vkey",
    "key_id",
    "open_note",
    "parse_checkpoint",
    "parse_tlog_proof",
    "jcs",
    "strict_json_loads",
    "stream_bucket",
    "verify_heads_proof",
    "verify_bundle",
    "main",
]

EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HEADS_EXTENSION = "sealtrail-stream-heads/v1"
HEADS_BUCKETS = 65536
HEADS_PATH_LEN = 16
MAX_NOTE_SIGNATURES = 100
MAX_ENTRY_BYTES = 65535
MAX_SAFE_INTEGER = 2 ** 53
SIG_ED25519 = 0x01
BUNDLE_FORMAT = "sealtrail-evidence-bundle"
BUNDLE_VERSION = 1  # the version whose members MANIFEST_REQUIRED and LINE_KEYS list
BUNDLE_VERSIONS = (1, 2)
HEADER_VERSION = 1
ROLES = ("match", "stream", "before", "after")
QUERY_FILTERS = ("agent", "session", "kind", "action", "tool", "outcome",
                 "data_class", "subject", "scope")
QUERY_KEYS = ("from", "to") + QUERY_FILTERS
EM_DASH_PREFIX = "\u2014 "
# Every manifest member of format v1 (docs/formats.md §9.2): a v1 reader
# knows them all, so anything else is refused rather than ignored.
MANIFEST_REQUIRED = ("format", "v", "software", "created", "origin", "checkpoint", "query",
                     "with_bodies", "counts", "completeness")
MANIFEST_OPTIONAL = ("first_index", "last_index")
LINE_KEYS = ("index", "role", "header", "salt", "body")
# Format v2 (§10.1, §10.2): the manifest and the lines each gain members.
MANIFEST_REQUIRED_V2 = MANIFEST_REQUIRED + ("chunks", "gaps_after")
LINE_KEYS_V2 = LINE_KEYS + ("gaps",)
# §10 caps, on the decompressed bytes actually read (a header's declared
# size is not trusted).  Version 1 states no cap; its members other than
# entries.jsonl are held to the same 16 MiB (a proof or a manifest that
# large is not evidence but an attack), and entries.jsonl, streamed, to
# lines of at most 64 MiB.
ENTRIES_MEMBER_CAP = 64 * 1024 * 1024
OTHER_MEMBER_CAP = 16 * 1024 * 1024
LINE_CAP = ENTRIES_MEMBER_CAP
READ_CHUNK = 1 << 20
# A bundle damaged throughout would otherwise grow the report without bound;
# past this many, failures and warnings are counted, not kept.
MAX_REPORTED = 10000
# Depth of the gap-hash recursion (§10.3): one level per bit of a 64-bit size.
MAX_FOLD_DEPTH = 64


class VerifyError(Exception):
    """A malformed or unverifiable piece of evidence."""


# ---------------------------------------------------------------------------
# §1 Hashing (RFC 6962 / RFC 9162)
# ---------------------------------------------------------------------------

def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def verify_inclusion(leaf: bytes, index: int, size: int, path: List[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2, step by step; raises VerifyError on failure.

    The loop rejects a proof with too many hashes (sn reaches 0 early) and the
    final `sn == 0` test rejects one with too few.
    """
    if not 0 <= index < size:
        raise VerifyError(f"index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if len(p) != 32:
            raise VerifyError("inclusion path hash is not 32 bytes")
        if sn == 0:
            raise VerifyError(f"inclusion path too long ({len(path)} hashes) for index {index} in size {size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerifyError(f"inclusion path too short ({len(path)} hashes) for index {index} in size {size}")
    if r != root:
        raise VerifyError("inclusion path does not lead to the checkpoint root")


# ---------------------------------------------------------------------------
# Strict encodings
# ---------------------------------------------------------------------------

_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_DECIMAL_RE = re.compile(r"^(0|[1-9][0-9]*)$")


def b64decode_strict(s: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4), padded, canonical (re-encodes to itself).

    Decoding and re-encoding are both in C; the text is canonical standard
    base64 exactly when the round trip gives it back (a lenient decoder
    drops stray characters, but then the re-encoding differs)."""
    try:
        raw = binascii.a2b_base64(s)
    except (binascii.Error, ValueError) as e:
        if not isinstance(s, str) or not _B64_RE.match(s) or len(s) % 4:
            raise VerifyError(f"{what}: not standard padded base64") from None
        raise VerifyError(f"{what}: not base64 ({e})") from None
    if binascii.b2a_base64(raw, newline=False) != s.encode("ascii", "replace"):
        if not _B64_RE.match(s) or len(s) % 4:
            raise VerifyError(f"{what}: not standard padded base64")
        raise VerifyError(f"{what}: non-canonical base64")
    return raw


def hex32(s: Any, what: str) -> bytes:
    if not isinstance(s, str) or not _HEX64_RE.match(s):
        raise VerifyError(f"{what}: not 64 lowercase hex digits")
    return bytes.fromhex(s)


def parse_decimal(s: str, what: str) -> int:
    if not _DECIMAL_RE.match(s):
        raise VerifyError(f"{what}: {s!r} is not a decimal without leading zeros")
    v = int(s)
    if v >= 2 ** 64:
        raise VerifyError(f"{what}: {s} does not fit in 64 bits")
    return v


class _DuplicateKey(ValueError):
    pass


def _pairs_no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise _DuplicateKey(f"duplicate member name {k!r}")
        obj[k] = v
    return obj


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def strict_json_loads(text: str) -> Any:
    """json.loads refusing duplicate member names and NaN/Infinity."""
    try:
        return json.loads(text, object_pairs_hook=_pairs_no_duplicates,
                          parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise VerifyError(f"invalid JSON: {e}") from None


# ---------------------------------------------------------------------------
# §2 Canonical JSON (RFC 8785, JCS)
# ---------------------------------------------------------------------------

_JCS_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r",
                0x22: '\\"', 0x5C: "\\\\"}


def _jcs_string(s: str) -> str:
    out = ['"']
    for ch in s:
        c = ord(ch)
        if c in _JCS_ESCAPES:
            out.append(_JCS_ESCAPES[c])
        elif c < 0x20:
            out.append("\\u%04x" % c)
        elif 0xD800 <= c <= 0xDFFF:
            raise VerifyError("string holds a lone UTF-16 surrogate (not valid UTF-8)")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _es_number(x: float) -> str:
    """ECMAScript Number.prototype.toString for a finite double (RFC 8785 §3.2.2.3)."""
    if math.isnan(x) or math.isinf(x):
        raise VerifyError("NaN and Infinity are not JSON")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    r = repr(abs(x))  # shortest round-tripping digits, like ECMAScript
    mant, _, exp = r.partition("e")
    e = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    # value = 0.digits × 10^n
    lead_zeros = len(ip + fp) - len((ip + fp).lstrip("0"))
    n = len(ip) + e - lead_zeros
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        s = digits + "0" * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * (-n) + digits
    else:
        exp_s = n - 1
        s = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if exp_s >= 0 else "-") + str(abs(exp_s))
    return sign + s


def jcs(value: Any) -> bytes:
    """RFC 8785 serialization of a parsed JSON value, as UTF-8 bytes.

    Integers beyond ±2^53 are refused (formats.md §2)."""
    return _jcs(value, 0).encode("utf-8")


def _jcs(v: Any, depth: int) -> str:
    if depth > 128:
        raise VerifyError("JSON nested too deeply")
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if abs(v) > MAX_SAFE_INTEGER:
            raise VerifyError(f"integer {v} is beyond ±2^53")
        return str(v)
    if isinstance(v, float):
        return _es_number(v)
    if isinstance(v, str):
        return _jcs_string(v)
    if isinstance(v, list):
        return "[" + ",".join(_jcs(x, depth + 1) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v.keys(), key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(_jcs_string(k) + ":" + _jcs(v[k], depth + 1) for k in keys) + "}"
    raise VerifyError(f"not a JSON value: {type(v).__name__}")


# ---------------------------------------------------------------------------
# §5 Keys and signed notes (C2SP signed-note)
# ---------------------------------------------------------------------------

def key_id(name: str, pubkey: bytes) -> bytes:
    return sha256(name.encode("utf-8") + b"\n" + bytes([SIG_ED25519]) + pubkey)[:4]


def _check_key_name(name: str, what: str) -> None:
    if not name or any(ch.isspace() for ch in name) or "+" in name:
        raise VerifyError(f"{what}: key name {name!r} is empty or holds a space or '+'")


class VerifierKey:
    def __init__(self, name: str, kid: bytes, pubkey: bytes, text: str):
        self.name, self.kid, self.pubkey, self.text = name, kid, pubkey, text

    def verify(self, message: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.pubkey).verify(signature, message)
            return True
        except InvalidSignature:
            return False

    def __repr__(self):
        return f"VerifierKey({self.text!r})"


def parse_vkey(text: str) -> VerifierKey:
    """`<name>+<hex8 key id>+<base64(0x01 ‖ pubkey)>` (Go sumdb note format)."""
    s = text.strip()
    parts = s.split("+", 2)
    if len(parts) != 3:
        raise VerifyError(f"verifier key {s!r}: expected <name>+<hex8>+<base64>")
    name, hid, k64 = parts
    _check_key_name(name, "verifier key")
    if not re.match(r"^[0-9a-f]{8}$", hid):
        raise VerifyError(f"verifier key {s!r}: key id is not 8 lowercase hex digits")
    raw = b64decode_strict(k64, "verifier key")
    if len(raw) != 33 or raw[0] != SIG_ED25519:
        raise VerifyError(f"verifier key {s!r}: not an Ed25519 key (0x01 ‖ 32 bytes)")
    pub = raw[1:]
    kid = key_id(name, pub)
    if kid.hex() != hid:
        raise VerifyError(f"verifier key {s!r}: key id {hid} does not match the key (expected {kid.hex()})")
    return VerifierKey(name, kid, pub, s)


def parse_vkeys(text: str) -> List[VerifierKey]:
    keys = [parse_vkey(line) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise VerifyError("no verifier key found")
    return keys


class OpenedNote:
    def __init__(self, text: str, signers: List[VerifierKey], n_sigs: int):
        self.text, self.signers, self.n_sigs = text, signers, n_sigs


def open_note(note: bytes, keys: List[VerifierKey]) -> OpenedNote:
    """Open a C2SP signed note with the known keys (§5); raises VerifyError.

    Unknown keys are ignored; a known key (name and key id both match) whose
    signature fails rejects the note; no verified known key rejects it."""
    try:
        s = note.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VerifyError(f"note is not valid UTF-8 (byte {e.start})") from None
    for i, ch in enumerate(s):
        if ord(ch) < 0x20 and ch != "\n":
            raise VerifyError(f"note holds control character {ord(ch):#04x}")
    if not s.endswith("\n"):
        raise VerifyError("note does not end with a newline")
    split = s.rfind("\n\n")
    if split < 0:
        raise VerifyError("note has no blank line before its signatures")
    text, sigblock = s[: split + 1], s[split + 2:]
    if not sigblock:
        raise VerifyError("note has no signature lines")
    lines = sigblock[:-1].split("\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        raise VerifyError(f"note has {len(lines)} signatures; at most {MAX_NOTE_SIGNATURES} are read")
    verified: List[VerifierKey] = []
    for line in lines:
        if not line.startswith(EM_DASH_PREFIX):
            raise VerifyError(f"malformed signature line {line!r}")
        rest = line[len(EM_DASH_PREFIX):]
        name, sep, sig64 = rest.partition(" ")
        if not sep or " " in sig64:
            raise VerifyError(f"malformed signature line {line!r}")
        _check_key_name(name, "signature line")
        raw = b64decode_strict(sig64, "signature")
        if len(raw) < 5:
            raise VerifyError("signature too short")
        kid, sig = raw[:4], raw[4:]
        for k in keys:
            if k.name == name and k.kid == kid:
                if not k.verify(text.encode("utf-8"), sig):
                    raise VerifyError(f"signature by known key {k.name}+{k.kid.hex()} does not verify")
                if k not in verified:
                    verified.append(k)
    if not verified:
        names = ", ".join(f"{k.name}+{k.kid.hex()}" for k in keys)
        raise VerifyError(f"no signature from a trusted key ({names})")
    return OpenedNote(text, verified, len(lines))


# ---------------------------------------------------------------------------
# §5 Checkpoints (C2SP tlog-checkpoint) with §8's extension line
# ---------------------------------------------------------------------------

class Checkpoint:
    def __init__(self, origin: str, size: int, root: bytes, extensions: List[str],
                 heads_root: Optional[bytes]):
        self.origin, self.size, self.root = origin, size, root
        self.extensions, self.heads_root = extensions, heads_root


def parse_checkpoint(text: str) -> Checkpoint:
    """The note text of a checkpoint (ending in a newline)."""
    if not text.endswith("\n"):
        raise VerifyError("checkpoint text does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise VerifyError("checkpoint has fewer than three lines")
    if any(not line for line in lines):
        raise VerifyError("checkpoint has an empty line")
    origin = lines[0]
    size = parse_decimal(lines[1], "checkpoint size")
    root = b64decode_strict(lines[2], "checkpoint root")
    if len(root) != 32:
        raise VerifyError("checkpoint root is not 32 bytes")
    heads_root = None
    prefix = HEADS_EXTENSION + " "
    for ext in lines[3:]:
        if ext.startswith(prefix):
            if heads_root is not None:
                raise VerifyError(f"checkpoint has more than one {HEADS_EXTENSION} line")
            heads_root = b64decode_strict(ext[len(prefix):], HEADS_EXTENSION)
            if len(heads_root) != 32:
                raise VerifyError(f"{HEADS_EXTENSION} root is not 32 bytes")
        elif ext.startswith(HEADS_EXTENSION):
            raise VerifyError(f"malformed {HEADS_EXTENSION} line {ext!r}")
    return Checkpoint(origin, size, root, lines[3:], heads_root)


def split_note_unverified(note: bytes) -> str:
    """The text of a note whose signatures could not be checked (to go on
    reporting everything else)."""
    s = note.decode("utf-8", errors="strict")
    split = s.rfind("\n\n")
    if split < 0:
        raise VerifyError("note has no blank line before its signatures")
    return s[: split + 1]


# ---------------------------------------------------------------------------
# §7 Offline inclusion proofs (C2SP tlog-proof@v1)
# ---------------------------------------------------------------------------

class TlogProof:
    def __init__(self, index: int, path: List[bytes], extra: Optional[bytes], checkpoint: bytes):
        self.index, self.path, self.extra, self.checkpoint = index, path, extra, checkpoint


def parse_tlog_proof(data: bytes) -> TlogProof:
    # Split the bytes first: the checkpoint part is compared byte for byte
    # with `checkpoint` and never needs decoding here.
    head_b, sep, rest = data.partition(b"\n\n")
    try:
        head = head_b.decode("utf-8")
        rest.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VerifyError("proof is not valid UTF-8") from e
    if not sep:
        raise VerifyError("proof has no blank line before its checkpoint")
    lines = head.split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        raise VerifyError("proof does not start with c2sp.org/tlog-proof@v1")
    i = 1
    extra = None
    if i < len(lines) and lines[i].startswith("extra "):
        extra = b64decode_strict(lines[i][len("extra "):], "proof extra data")
        i += 1
    if i >= len(lines) or not lines[i].startswith("index "):
        raise VerifyError("proof has no index line")
    index = parse_decimal(lines[i][len("index "):], "proof index")
    i += 1
    path = []
    for line in lines[i:]:
        h = b64decode_strict(line, "proof hash")
        if len(h) != 32:
            raise VerifyError("proof hash is not 32 bytes")
        path.append(h)
    return TlogProof(index, path, extra, rest)


# ---------------------------------------------------------------------------
# §8 Stream heads
# ---------------------------------------------------------------------------

def stream_bucket(key: str) -> int:
    h = sha256(key.encode("utf-8"))
    return 256 * h[0] + h[1]


def verify_heads_proof(proof: Any, stream_key: str, size: int, heads_root: bytes) -> Optional[Tuple[int, int]]:
    """Check a heads proof (§8); return the stream's head (n, last) or None."""
    if not isinstance(proof, dict):
        raise VerifyError("heads_proof is not an object")
    bucket = proof.get("bucket")
    records = proof.get("records")
    path = proof.get("path")
    if not _is_uint(bucket) or bucket >= HEADS_BUCKETS:
        raise VerifyError("heads_proof.bucket is not a bucket number (0…65535)")
    want = stream_bucket(stream_key)
    if bucket != want:
        raise VerifyError(f"heads_proof.bucket is {bucket}, but {stream_key!r} is in bucket {want}")
    if not isinstance(records, list):
        raise VerifyError("heads_proof.records is not an array")
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise VerifyError("heads_proof.path is not an array of base64 strings")
    if len(path) != HEADS_PATH_LEN:
        raise VerifyError(f"heads_proof.path has {len(path)} hashes, not {HEADS_PATH_LEN}")
    hashes = [b64decode_strict(p, "heads_proof.path") for p in path]
    leaf_bytes = bytearray()
    prev_key = None
    head = None
    key_hash = sha256(stream_key.encode("utf-8"))
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise VerifyError(f"heads_proof.records[{i}] is not an object")
        k = hex32(rec.get("key"), f"heads_proof.records[{i}].key")
        n, last = rec.get("n"), rec.get("last")
        if not _is_uint(n) or not _is_uint(last) or n >= 2 ** 64 or last >= 2 ** 64:
            raise VerifyError(f"heads_proof.records[{i}]: n and last must be unsigned 64-bit integers")
        if 256 * k[0] + k[1] != bucket:
            raise VerifyError(f"heads_proof.records[{i}] is not in bucket {bucket}")
        if prev_key is not None and k <= prev_key:
            raise VerifyError(f"heads_proof.records[{i}] is not strictly after the previous record")
        if n < 1 or last >= size or n > last + 1:
            raise VerifyError(f"heads_proof.records[{i}]: n = {n}, last = {last} is impossible at size {size}")
        prev_key = k
        leaf_bytes += k + n.to_bytes(8, "big") + last.to_bytes(8, "big")
        if k == key_hash:
            head = (n, last)
    try:
        verify_inclusion(leaf_hash(bytes(leaf_bytes)), bucket, HEADS_BUCKETS, hashes, heads_root)
    except VerifyError as e:
        raise VerifyError(f"heads proof does not verify against the checkpoint's {HEADS_EXTENSION} root: {e}") from None
    return head


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------

class Failure:
    def __init__(self, entry: Optional[int], member: Optional[str], reason: str):
        self.entry, self.member, self.reason = entry, member, reason

    def to_json(self):
        return {"entry": self.entry, "member": self.member, "reason": self.reason}

    def __str__(self):
        where = []
        if self.entry is not None:
            where.append(f"entry {self.entry}")
        if self.member:
            where.append(self.member)
        return (" ".join(f"[{w}]" for w in where) + " " if where else "") + self.reason

    __repr__ = __str__


class Report:
    def __init__(self):
        self.failures: List[Failure] = []
        self.warnings: List[str] = []
        self.checkpoint: Optional[Dict[str, Any]] = None
        self.query: Optional[Dict[str, Any]] = None
        self.counts: Dict[str, int] = {}
        self.completeness: Dict[str, Any] = {"proven": False, "kind": None, "statement": None,
                                             "verified": False}
        self.signers: List[str] = []
        self.trusted_key_source = None
        self.n_failures = 0
        self.n_warnings = 0

    @property
    def ok(self) -> bool:
        return self.n_failures == 0

    def fail(self, entry: Optional[int], member: Optional[str], reason: str) -> None:
        self.n_failures += 1
        if self.n_failures <= MAX_REPORTED:
            self.failures.append(Failure(entry, member, reason))

    def warn(self, msg: str) -> None:
        self.n_warnings += 1
        if self.n_warnings <= MAX_REPORTED:
            self.warnings.append(msg)

    def finish(self) -> None:
        """Say how many failures and warnings were counted but not kept."""
        if self.n_failures > MAX_REPORTED:
            self.failures.append(Failure(None, None, f"… and {self.n_failures - MAX_REPORTED} more failures "
                                                     f"(only the first {MAX_REPORTED} are listed)"))
        if self.n_warnings > MAX_REPORTED:
            self.warnings.append(f"… and {self.n_warnings - MAX_REPORTED} more warnings")

    def to_json(self):
        return {
            "ok": self.ok,
            "checkpoint": self.checkpoint,
            "signed_by": self.signers,
            "trusted_key_source": self.trusted_key_source,
            "query": self.query,
            "counts": self.counts,
            "completeness": self.completeness,
            "failures": [f.to_json() for f in self.failures],
            "warnings": self.warnings,
        }


def _is_uint(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


# ---------------------------------------------------------------------------
# §4 Entry headers
# ---------------------------------------------------------------------------

class _NotFast(Exception):
    """The fast canonical-form test cannot decide; the exact path will."""


def _no_float(_text):
    raise _NotFast()


def _no_constant(_text):
    raise _NotFast()


# json's C encoder with sorted keys and no whitespace writes exactly the
# RFC 8785 form of a value that has no float, no integer beyond 2^53 and
# only ASCII text (then sorting by code point is sorting by UTF-16 unit).
_SORTED_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                   allow_nan=False).encode
_PLAIN_LOADS = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_constant).decode
_LONG_DIGITS = re.compile(r"[0-9]{16,}")


def _fast_canonical(text: str, raw: bytes) -> Any:
    """The value of `text` (the UTF-8 decoding of `raw`) when `raw` is
    provably its RFC 8785 form; None when this cheap test cannot tell (the
    caller then takes the exact path, which also words the error).

    Sound: equality with the encoder's output rules out duplicate names
    (the output has none), whitespace and escapes RFC 8785 does not use; an
    ASCII-only input and no run of 16 digits rule out the cases where
    json.dumps and RFC 8785 differ (non-ASCII sort order, floats, integers
    beyond 2^53, which have at least 16 digits: a run of 16 digits is common,
    times in µs have 16, so such a run is only refused when its value is
    beyond 2^53; a run inside a string refused this way merely costs the
    exact path)."""
    if not raw.isascii():
        return None
    for m in _LONG_DIGITS.finditer(text):
        if m.end() - m.start() > 16 or int(m.group()) > MAX_SAFE_INTEGER:
            return None
    try:
        v = _PLAIN_LOADS(text)
        if _SORTED_COMPACT(v) == text:
            return v
    except (_NotFast, ValueError, RecursionError, TypeError):
        pass
    return None


# The canonical form of a header whose members are all those of §4, as one
# regular expression: member names in RFC 8785 order, strings with only the
# escapes RFC 8785 writes, integers without leading zeros.  A header it
# matches is canonical by construction, so it is decoded from the match
# without a JSON parser and without re-encoding it; anything else (an
# unknown member, another version, an escape RFC 8785 does not write, a
# 16-digit number other than a time) takes the exact path.
# (strings as "unrolled loops": a run of plain characters, then escapes each
# followed by a run; the same language as one alternation per character, at
# about half the matching time)
_PLAIN = r'[^"\\\x00-\x1f]*'
_ESC = r'\\(?:[\\"bfnrt]|u00(?:0[0-7]|0b|0e|0f|1[0-9a-f]))'
_S = r'"(' + _PLAIN + r'(?:' + _ESC + _PLAIN + r')*)"'
_SX = r'"' + _PLAIN + r'(?:' + _ESC + _PLAIN + r')*"'
_ARR = r'(\[(?:' + _SX + r'(?:,' + _SX + r')*)?\])'
_N = r'(0|[1-9][0-9]{0,14})'  # up to 15 digits: below 2^53 by construction
_T = r'(0|[1-9][0-9]{0,15})'  # a time in µs has 16 digits: checked against 2^53 after
_LINK = r'\{"n":' + _N + r'(?:,"prev":' + _N + r')?\}'
_HEADER_RE = re.compile(
    r'\{(?:"action":' + _S + r',)?"agent":' + _S + r',"body":"([0-9a-f]{64})",'
    r'(?:"data_classes":' + _ARR + r',)?(?:"event_id":' + _S + r',)?"index":' + _N + r','
    r'(?:"instance":' + _S + r',)?"kind":' + _S + r',(?:"outcome":' + _S + r',)?'
    r'(?:"parent":' + _S + r',)?(?:"prev":"([0-9a-f]{64})",)?(?:"redacted":' + _S + r',)?'
    r'(?:"scope":' + _S + r',)?(?:"seq":' + _N + r',)?(?:"seq_gap":\{"expected":' + _N + r',"got":' + _N + r'\},)?'
    r'(?:"session":' + _S + r',)?"streams":\{"agent":' + _LINK + r'(?:,"session":' + _LINK + r')?\},'
    r'(?:"subjects":' + _ARR + r',)?"time":' + _T + r',(?:"tool":' + _S + r',)?"v":1\}')
# The same language restricted to headers without a backslash, for the
# fast path of lines (_Verifier._lines_fast): strings are runs of plain
# characters, matched possessively, and only what the line's checks read is
# captured (fewer groups: about a quarter less time per match).  On a header
# without a backslash both match the same headers (_HEADER_RE's escapes
# all start with one).
_PLAIN_P = r'[^"\\\x00-\x1f]*+'
_SF = r'"(' + _PLAIN_P + r')"'
_SFX = r'"' + _PLAIN_P + r'"'
_ARRF = r'\[(?:' + _SFX + r'(?:,' + _SFX + r')*+)?\]'
_NX = r'(?:0|[1-9][0-9]{0,14})'
_HEADER_FAST_RE = re.compile(
    r'\{(?:"action":' + _SF + r',)?"agent":' + _SF + r',"body":"([0-9a-f]{64})",'
    r'(?:"data_classes":' + _ARRF + r',)?(?:"event_id":' + _SF + r',)?"index":' + _N + r','
    r'(?:"instance":' + _SFX + r',)?"kind":' + _SF + r',(?:"outcome":' + _SF + r',)?'
    r'(?:"parent":' + _SFX + r',)?(?:"prev":"([0-9a-f]{64})",)?(?:"redacted":' + _SFX + r',)?'
    r'(?:"scope":' + _SFX + r',)?(?:"seq":' + _NX + r',)?(?:"seq_gap":\{"expected":' + _NX + r',"got":' + _NX + r'\},)?'
    r'(?:"session":' + _SF + r',)?"streams":\{"agent":' + _LINK + r'(?:,"session":' + _LINK + r')?\},'
    r'(?:"subjects":' + _ARRF + r',)?"time":' + _T + r',(?:"tool":' + _SF + r',)?"v":1\}')
# its groups: 0 action, 1 agent, 2 body, 3 event_id, 4 index, 5 kind,
# 6 outcome, 7 prev, 8 session, 9 and 10 the agent link's n and prev, 11 and
# 12 the session link's, 13 time, 14 tool; the query filters among them:
_FAST_FILTER_GROUPS = {"action": 0, "agent": 1, "kind": 5, "outcome": 6, "session": 8, "tool": 14}

# (member, group index) of the string members, in the order of _HEADER_RE
_HEADER_STR_GROUPS = (("action", 0), ("agent", 1), ("event_id", 4), ("instance", 6), ("kind", 7),
                      ("outcome", 8), ("parent", 9), ("redacted", 11), ("scope", 12), ("session", 16),
                      ("tool", 23))
_HEADER_STR_NAMES = tuple(name for name, _ in _HEADER_STR_GROUPS)
_HEADER_STR_PICK = operator.itemgetter(*(i for _, i in _HEADER_STR_GROUPS))


def _fast_link(n: str, prev: Optional[str], index: int) -> Optional[Dict[str, int]]:
    """A stream link of a _HEADER_RE match when §4's rules hold (n ≥ 1,
    prev present exactly when n > 1, prev < index); None otherwise."""
    if prev is None:
        return {"n": 1} if n == "1" else None
    p = int(prev)
    if n == "0" or n == "1" or p >= index:
        return None
    return {"n": int(n), "prev": p}


def _header_from_match(m, text: str) -> Optional[Dict[str, Any]]:
    """The header of a _HEADER_RE match, as json.loads would give it, when it
    also keeps the rules between members (_check_header_semantics); None
    sends it to the exact path, which words the error."""
    g = m.groups()
    time_ = int(g[22])
    index = int(g[5])
    if time_ > MAX_SAFE_INTEGER or (index == 0) != (g[10] is None) or (g[19] is None) != (g[16] is None):
        return None
    agent_link = _fast_link(g[17], g[18], index)
    if agent_link is None:
        return None
    streams = {"agent": agent_link}
    if g[19] is not None:
        session_link = _fast_link(g[19], g[20], index)
        if session_link is None:
            return None
        streams["session"] = session_link
    h: Dict[str, Any] = {"v": 1, "index": index, "time": time_, "body": g[2]}
    if "\\" in text:
        for name, v in zip(_HEADER_STR_NAMES, _HEADER_STR_PICK(g)):
            if v is not None:
                h[name] = json.loads('"' + v + '"') if "\\" in v else v
    else:
        for name, v in zip(_HEADER_STR_NAMES, _HEADER_STR_PICK(g)):
            if v is not None:
                h[name] = v
    if g[3] is not None:
        h["data_classes"] = json.loads(g[3])
    if g[10] is not None:
        h["prev"] = g[10]
    if g[13] is not None:
        h["seq"] = int(g[13])
    if g[14] is not None:
        h["seq_gap"] = {"expected": int(g[14]), "got": int(g[15])}
    h["streams"] = streams
    if g[21] is not None:
        h["subjects"] = json.loads(g[21])
    return h


def decode_header(hb: bytes, text: Optional[str] = None) -> Dict[str, Any]:
    """Decode entry bytes, refuse a non-canonical encoding, check the types.

    `text`, when given, is `hb` decoded (a line's header string)."""
    if len(hb) > MAX_ENTRY_BYTES:
        raise VerifyError(f"header is {len(hb)} bytes, above the {MAX_ENTRY_BYTES}-byte entry limit")
    m = _HEADER_RE.fullmatch(text) if text is not None else None
    h = _header_from_match(m, text) if m is not None else None
    if h is not None:
        return h
    h = _fast_canonical(text, hb) if text is not None else None
    if not isinstance(h, dict):
        try:
            text = hb.decode("utf-8")
        except UnicodeDecodeError as e:
            raise VerifyError(f"header is not valid UTF-8 (byte {e.start})") from None
        h = strict_json_loads(text)
        if not isinstance(h, dict):
            raise VerifyError("header is not a JSON object")
        try:
            canon = jcs(h)
        except VerifyError as e:
            raise VerifyError(f"header cannot be canonical JSON: {e}") from None
        if canon != hb:
            raise VerifyError("header is not in RFC 8785 canonical form")
    _check_header_types(h)
    _check_header_semantics(h)
    return h


def _check_header_types(h: Dict[str, Any]) -> None:
    """§4's members and their types (what _HEADER_RE guarantees by construction)."""
    v = h.get("v")
    if not _is_uint(v):
        raise VerifyError("header.v is missing or not an integer")
    if v > HEADER_VERSION:
        raise VerifyError(f"header version {v} is not supported (this verifier reads version {HEADER_VERSION})")
    if v != HEADER_VERSION:
        raise VerifyError(f"header version {v} is unknown")
    for k in ("index", "time"):
        if not _is_uint(h.get(k)):
            raise VerifyError(f"header.{k} is missing or not a non-negative integer")
    for k in ("agent", "kind"):
        if not isinstance(h.get(k), str):
            raise VerifyError(f"header.{k} is missing or not a string")
    for k in ("instance", "session", "parent", "action", "tool", "outcome", "event_id", "scope"):
        if k in h and not isinstance(h[k], str):
            raise VerifyError(f"header.{k} is not a string")
    hex32(h.get("body"), "header.body")
    for k in ("data_classes", "subjects"):
        if k in h and not (isinstance(h[k], list) and all(isinstance(x, str) for x in h[k])):
            raise VerifyError(f"header.{k} is not an array of strings")
    if "seq" in h and not _is_uint(h["seq"]):
        raise VerifyError("header.seq is not a non-negative integer")
    streams = h.get("streams")
    if not isinstance(streams, dict):
        raise VerifyError("header.streams is missing or not an object")
    for f, link in streams.items():
        if not isinstance(link, dict) or not _is_uint(link.get("n")) or link["n"] < 1:
            raise VerifyError(f"header.streams.{f} has no count n ≥ 1")
        if "prev" in link and not _is_uint(link["prev"]):
            raise VerifyError(f"header.streams.{f}.prev is not an earlier index")


def _check_header_semantics(h: Dict[str, Any]) -> None:
    """The rules between members (§4, SPEC-NOTES decision 7), on a header
    whose members have the right types."""
    if h["index"] == 0:
        if "prev" in h:
            raise VerifyError("header.prev is present at index 0")
    else:
        hex32(h.get("prev"), "header.prev")
    streams = h["streams"]
    for f, link in streams.items():
        if link["n"] < 1:
            raise VerifyError(f"header.streams.{f} has no count n ≥ 1")
        if "prev" in link and link["prev"] >= h["index"]:
            raise VerifyError(f"header.streams.{f}.prev is not an earlier index")
        if ("prev" in link) != (link["n"] > 1):
            raise VerifyError(f"header.streams.{f}: prev must be present exactly when n > 1")
    if "agent" not in streams:
        raise VerifyError("header.streams.agent is missing")
    if ("session" in streams) != ("session" in h):
        raise VerifyError("header.streams.session is present exactly when header.session is")


def matches_query(h: Dict[str, Any], q: Dict[str, Any]) -> List[str]:
    """The reasons the header does not satisfy the query (empty: it does)."""
    why = []
    t = h.get("time")
    if q.get("from") is not None and t < q["from"]:
        why.append(f"time {t} is before from = {q['from']}")
    if q.get("to") is not None and t >= q["to"]:
        why.append(f"time {t} is not before to = {q['to']}")
    for f in ("agent", "session", "kind", "action", "tool", "outcome"):
        if q.get(f) is not None and h.get(f) != q[f]:
            why.append(f"{f} is {h.get(f)!r}, query wants {q[f]!r}")
    if q.get("data_class") is not None and q["data_class"] not in (h.get("data_classes") or []):
        why.append(f"data_class {q['data_class']!r} is not in data_classes")
    if q.get("subject") is not None and q["subject"] not in (h.get("subjects") or []):
        why.append(f"subject {q['subject']!r} is not in subjects")
    if q.get("scope") is not None:
        sc = h.get("scope")
        if sc is None or (sc != q["scope"] and sc.split(":", 1)[0] != q["scope"]):
            why.append(f"scope is {sc!r}, query wants {q['scope']!r}")
    return why


# ---------------------------------------------------------------------------
# Reading the ZIP in bounded pieces (§9, §10 "Sizes")
# ---------------------------------------------------------------------------

_ENTRIES_MEMBER_RE = re.compile(r"^entries/(0|[1-9][0-9]*)\.jsonl$")
_PROOF_MEMBER_RE = re.compile(r"^proofs/(0|[1-9][0-9]*)\.tlog-proof$")


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n} bytes"


def _proof_member(index: int) -> str:
    return f"proofs/{index}.tlog-proof"


def _entry_of_member(name: str) -> Optional[int]:
    m = _PROOF_MEMBER_RE.match(name)
    return int(m.group(1)) if m else None


def _member_cap(name: str) -> Optional[int]:
    """The most decompressed bytes a member may hold (§10): None for a
    version 1 `entries.jsonl`, which is streamed line by line instead."""
    if name == "entries.jsonl":
        return None
    if _ENTRIES_MEMBER_RE.match(name):
        return ENTRIES_MEMBER_CAP
    return OTHER_MEMBER_CAP


def _too_large(name: str, cap: int, how: str) -> str:
    kind = "an entries/<k>.jsonl member" if cap == ENTRIES_MEMBER_CAP else "this member"
    return f"{name} is larger than the {_mib(cap)} limit for {kind} (formats §10): {how}; not read"


class _Local:
    """A member found from its local header, when the central directory is lost."""

    def __init__(self, name: str, method: int, start: int, csize: int, size: int):
        self.filename, self.method, self.start, self.csize, self.file_size = name, method, start, csize, size


class _LocalReader:
    """Reads a salvaged member from its bytes in the file, inflating in bounded
    steps.  Keeps its own position: several members may be open at once."""

    def __init__(self, fh, local: _Local):
        self.fh, self.local = fh, local
        self.pos, self.left = local.start, local.csize
        self.d = zlib.decompressobj(-15) if local.method == zipfile.ZIP_DEFLATED else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _raw(self, n: int) -> bytes:
        n = min(n, self.left)
        if n <= 0:
            return b""
        self.fh.seek(self.pos)
        b = self.fh.read(n)
        self.pos += len(b)
        self.left -= len(b)
        if not b:
            self.left = 0
        return b

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = READ_CHUNK
        if self.d is None:
            return self._raw(n)
        out = []
        got = 0
        while got < n and not self.d.eof:
            data = self.d.unconsumed_tail or self._raw(READ_CHUNK)
            if not data:
                break
            piece = self.d.decompress(data, n - got)
            out.append(piece)
            got += len(piece)
        return b"".join(out)


class _Members:
    """The bundle's members: their names, and bounded streams over them.

    Members are found through the ZIP central directory; a bundle whose
    central directory is lost (a truncated download) is walked member by
    member from the local headers instead (see _salvage).  Nothing is read
    until a check asks for it, and no member is ever read whole beyond its
    cap."""

    def __init__(self, fh, rep: "Report"):
        self.fh, self.rep = fh, rep
        self.zf: Optional[zipfile.ZipFile] = None
        self.infos: Dict[str, Any] = {}
        self.salvaged = False

    def load(self) -> bool:
        try:
            self.zf = zipfile.ZipFile(self.fh)
        except Exception as e:  # BadZipFile, NotImplementedError (odd versions), OSError, EOFError …
            self.rep.fail(None, None, f"bundle is not a readable ZIP file (truncated or damaged?): {e}")
            try:
                return self._salvage()
            except Exception as e2:  # a damaged file must never crash the verifier
                self.rep.fail(None, None, f"ZIP members cannot be recovered: {e2!r}")
                return False
        for info in self.zf.infolist():
            name = info.filename
            if name in self.infos:
                self.rep.fail(_entry_of_member(name), name, "the ZIP holds this member more than once")
                continue
            if name.endswith("/"):
                continue
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                self.rep.fail(_entry_of_member(name), name,
                              f"compression method {info.compress_type} (only stored and deflate are allowed)")
                self.infos[name] = None
                continue
            self.infos[name] = info
        return True

    def names(self) -> List[str]:
        return [n for n, i in self.infos.items() if i is not None]

    def has(self, name: str) -> bool:
        return self.infos.get(name) is not None

    def _open(self, info):
        if isinstance(info, _Local):
            return _LocalReader(self.fh, info)
        return self.zf.open(info)

    def read_small(self, name: str, entry: Optional[int] = None) -> Optional[bytes]:
        """The member's bytes, or None (a failure naming the member is
        reported) when it cannot be read or exceeds its cap (§10)."""
        info = self.infos.get(name)
        if info is None:
            return None
        cap = _member_cap(name) or OTHER_MEMBER_CAP
        if info.file_size > cap:
            self.rep.fail(entry, name, _too_large(name, cap, f"its header declares {info.file_size} bytes decompressed"))
            return None
        try:
            with self._open(info) as f:
                data = f.read(cap + 1)  # inflates at most cap + 1 bytes, whatever the header says
        except Exception as e:  # BadZipFile (CRC), zlib.error, RuntimeError (encrypted), EOFError …
            self.rep.fail(entry, name, f"member cannot be read from the ZIP: {e}")
            return None
        if len(data) > cap:
            self.rep.fail(entry, name, _too_large(name, cap, "it inflates beyond the limit, whatever its header declares"))
            return None
        return data

    def line_batches(self, name: str):
        """Yield the member's lines (bytes, newline removed) in lists, one
        list per piece read.  Memory: one piece plus one partial line.  The
        member cap (§10) is enforced on the bytes inflated so far; a failure
        naming the member stops the reading."""
        info = self.infos.get(name)
        if info is None:
            return
        cap = _member_cap(name)
        if cap is not None and info.file_size > cap:
            self.rep.fail(None, name, _too_large(name, cap, f"its header declares {info.file_size} bytes decompressed"))
            return
        total = 0
        rest = b""
        try:
            with self._open(info) as f:
                while True:
                    piece = f.read(READ_CHUNK)
                    if not piece:
                        break
                    total += len(piece)
                    if cap is not None and total > cap:
                        self.rep.fail(None, name, _too_large(name, cap, "it inflates beyond the limit, "
                                                                        "whatever its header declares"))
                        return
                    lines = piece.split(b"\n")
                    if rest:  # (joined to its first line: no copy of the whole piece)
                        lines[0] = rest + lines[0]
                    rest = lines.pop()
                    if len(rest) > LINE_CAP:
                        self.rep.fail(None, name, f"{name} holds a line longer than {_mib(LINE_CAP)}: not read")
                        return
                    if lines:
                        yield lines
        except Exception as e:  # BadZipFile (CRC), zlib.error, EOFError …: what was read stays checked
            self.rep.fail(None, name, f"member cannot be read from the ZIP: {e}")
            return
        if rest:
            yield [rest]

    # -- truncated bundles ---------------------------------------------------
    def _salvage(self) -> bool:
        """Walk a ZIP without its central directory, member after member from
        the local headers (§9: writers put the small members first, then the
        entries, so a truncated bundle still shows which entries it lost).
        Every member found is inflated once here, in bounded steps, to check
        its CRC-32 and cap; it is read again when a check needs it."""
        fh = self.fh
        fh.seek(0, 2)
        flen = fh.tell()
        pos = 0
        while pos + 30 <= flen:
            fh.seek(pos)
            hdr = fh.read(30)
            if hdr[:4] != b"PK\x03\x04":
                break
            (_, _, flags, method, _, _, crc, csize, usize, nlen, xlen) = struct.unpack("<IHHHHHIIIHH", hdr)
            name_b = fh.read(nlen)
            if len(name_b) < nlen:
                break
            name = name_b.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
            extra = fh.read(xlen)
            start = pos + 30 + nlen + xlen
            entry = _entry_of_member(name)
            if start > flen:
                self.rep.fail(entry, name, "member cut off by the truncation")
                break
            if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:  # zip64 sizes in the extra field
                csize, usize = _zip64_sizes(extra, csize, usize)
            if method not in (0, 8):
                self.rep.fail(entry, name, f"compression method {method} (only stored and deflate are allowed)")
                break
            cap = _member_cap(name) or LINE_CAP * 1024  # v1 entries.jsonl: streamed, no member cap
            if flags & 0x08:  # sizes follow the data (data descriptor)
                if method != 8:
                    self.rep.fail(entry, name, "stored member with a data descriptor cannot be recovered "
                                               "without the central directory")
                    break
                res = _inflate_scan(fh, start, None, method, cap)
                if isinstance(res, str):
                    self.rep.fail(entry, name, _too_large(name, cap, "it inflates beyond the limit") if res is _OVER_CAP else res)
                    break
                end, size, got_crc = res
                fh.seek(end)
                desc = fh.read(24)
                off = 4 if desc[:4] == b"PK\x07\x08" else 0
                crc = struct.unpack("<I", desc[off:off + 4])[0] if len(desc) >= off + 4 else None
                nxt = end + off + 12
                fh.seek(nxt)
                sig = fh.read(4)
                fh.seek(end + off + 20)
                sig64 = fh.read(4)
                if sig not in (b"PK\x03\x04", b"PK\x01\x02") and sig64 in (b"PK\x03\x04", b"PK\x01\x02"):
                    nxt = end + off + 20  # zip64 descriptor
                csize = end - start
            else:
                if start + csize > flen:
                    self.rep.fail(entry, name, "member cut off by the truncation")
                    break
                res = _inflate_scan(fh, start, csize, method, cap)
                nxt = start + csize
                if isinstance(res, str):
                    self.rep.fail(entry, name, _too_large(name, cap, "it inflates beyond the limit") if res is _OVER_CAP else res)
                    pos = nxt
                    continue
                _, size, got_crc = res
            if crc is None or got_crc != crc:
                self.rep.fail(entry, name, "member fails its CRC-32 check")
            elif name in self.infos:
                self.rep.fail(entry, name, "the ZIP holds this member more than once")
            elif not name.endswith("/"):
                self.infos[name] = _Local(name, method, start, csize, size)
            pos = nxt
        if not self.infos:
            return False
        self.salvaged = True
        self.rep.warn(f"recovered {len(self.infos)} member(s) from the ZIP's local headers; anything after them is lost")
        return True


def _zip64_sizes(extra: bytes, csize: int, usize: int) -> Tuple[int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, ln = struct.unpack("<HH", extra[i:i + 4])
        if tag == 1:
            vals = extra[i + 4:i + 4 + ln]
            if usize == 0xFFFFFFFF and len(vals) >= 8:
                usize = struct.unpack("<Q", vals[:8])[0]
                vals = vals[8:]
            if csize == 0xFFFFFFFF and len(vals) >= 8:
                csize = struct.unpack("<Q", vals[:8])[0]
            break
        i += 4 + ln
    return csize, usize


_OVER_CAP = "over the cap"


def _inflate_scan(fh, start: int, csize: Optional[int], method: int, cap: int):
    """Inflate a member in bounded steps without keeping its bytes: (end of
    its compressed data, size, CRC-32), or a reason it cannot be recovered.
    With csize None (a data descriptor follows) the deflate stream's own end
    says where the member ends."""
    fh.seek(start)
    left = csize
    crc = size = 0
    if method == zipfile.ZIP_STORED:
        while left:
            b = fh.read(min(left, READ_CHUNK))
            if not b:
                return "member cut off by the truncation"
            left -= len(b)
            size += len(b)
            if size > cap:
                return _OVER_CAP
            crc = zlib.crc32(b, crc)
        return start + csize, size, crc
    d = zlib.decompressobj(-15)
    fed_end = start
    while not d.eof:
        data = d.unconsumed_tail
        if not data:
            n = READ_CHUNK if left is None else min(READ_CHUNK, left)
            if n == 0:
                return "member cut off by the truncation"
            fh.seek(fed_end)
            data = fh.read(n)
            if not data:
                return "member cut off by the truncation"
            fed_end += len(data)
            if left is not None:
                left -= len(data)
        try:
            out = d.decompress(data, READ_CHUNK)
        except zlib.error as e:
            return f"member cannot be recovered: {e}"
        size += len(out)
        if size > cap:
            return _OVER_CAP
        crc = zlib.crc32(out, crc)
    return fed_end - len(d.unused_data), size, crc & 0xFFFFFFFF


# ---------------------------------------------------------------------------
# §10.3 The shared proof: folding the gap hashes
# ---------------------------------------------------------------------------

_sha256 = hashlib.sha256
_ABSENT = object()  # a member a line does not have (salt, body: null is not absent)

# Lines go through _Verifier._lines_fast when they can (False: always the
# exact path, check() and take(); the tests compare the two).
FAST_LINES = True


class GapFold:
    """The recursion MTH(lo, hi) of formats §10.3, run left to right with an
    explicit stack, fed one entry at a time.

    `feed(index, leaf, gaps)` runs the recursion on until it reaches the leaf
    of `index`, taking the gap hashes it needs from `gaps` (that line's
    `gaps`); `finish(gaps_after)` runs it to the end.  Each returns how many
    gap hashes the recursion needed there, so the caller can tell an entry
    whose line has too few or too many.  A gap hash that is missing is
    replaced by None, which spreads to the root: the structure goes on (so
    later lines are still counted) but no root comes out.

    Memory: the stack holds one frame per level (at most 64), never the
    entries.  Precondition of feed: indexes strictly increase and are below
    the size (the caller checks, and stops feeding when they do not)."""

    __slots__ = ("size", "stack", "pending", "root", "done")

    def __init__(self, size: int):
        self.size = size
        # frame: [right child lo, right child hi, left child's hash, left known]
        self.stack: List[list] = []
        # the next step: (True, lo, hi, _) evaluates [lo, hi); (False, _, _, h) propagates h
        self.pending: Optional[tuple] = (True, 0, size, None) if size > 0 else None
        self.root: Optional[bytes] = None if size > 0 else _sha256(b"").digest()
        self.done = size == 0

    def feed(self, index: int, leaf: Optional[bytes], gaps: List[bytes]) -> int:
        return self._run(index, leaf, gaps)

    def finish(self, gaps: List[bytes]) -> int:
        if self.done:
            return 0
        return self._run(None, None, gaps)

    def feed_leaves(self, first: int, leaves: List[bytes]) -> None:
        """feed() for the entries first, first + 1, … with no gap hash
        between them (none is needed between consecutive entries), right
        after the entry first - 1 was fed.  The tree over them is hashed
        level by level, as the aligned blocks of the recursion they fill
        (each a node of it), and each block's hash placed as feed places a
        leaf: the same hashes, without a step of the recursion per node."""
        p, end, i = first, first + len(leaves), 0
        while p < end:
            blk = p & -p if p else 1 << 63  # the largest block aligned at p …
            while blk > end - p:  # … that the run fills
                blk >>= 1
            level = leaves[i:i + blk]
            while len(level) > 1:
                level = [_sha256(b"\x01" + level[j] + level[j + 1]).digest() for j in range(0, len(level), 2)]
            self._run(p, level[0], (), p + blk)  # needs no gap hash: the previous entry is p - 1
            p += blk
            i += blk

    def _run(self, target: Optional[int], leaf: Optional[bytes], gaps: List[bytes],
             target_hi: Optional[int] = None) -> int:
        """Run until the leaf of `target` (None: to the root), or the node
        [target, target_hi) whose hash `leaf` is; return the number of gap
        hashes the recursion consumed on the way."""
        if target_hi is None and target is not None:
            target_hi = target + 1
        stack = self.stack
        # the step in locals (no tuple per step): evaluating [lo, hi), or
        # propagating the hash v upwards
        evaluating, lo, hi, v = self.pending
        used = 0
        ngaps = len(gaps)
        while True:
            if evaluating:
                if target is None or target >= hi:  # no entry in [lo, hi): the next gap hash
                    v = gaps[used] if used < ngaps else None
                    used += 1
                    evaluating = False
                elif hi == target_hi and lo == target:  # the entry's own leaf (or the block's node)
                    self.pending = (False, 0, 0, leaf)
                    return used
                else:
                    if len(stack) >= MAX_FOLD_DEPTH:
                        raise VerifyError("gap-hash recursion deeper than 64 levels")
                    k = 1 << ((hi - lo - 1).bit_length() - 1)
                    stack.append([lo + k, hi, None, False])
                    hi = lo + k
            else:
                if not stack:
                    self.root, self.done, self.pending = v, True, None
                    return used
                fr = stack[-1]
                if not fr[3]:
                    fr[2], fr[3] = v, True
                    evaluating, lo, hi = True, fr[0], fr[1]
                else:
                    stack.pop()
                    left = fr[2]
                    v = None if left is None or v is None else _sha256(b"\x01" + left + v).digest()


# ---------------------------------------------------------------------------
# One line of entries (§9.1, §10.2): the checks that depend on that line alone
# ---------------------------------------------------------------------------

def _pairs_dict(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(f"duplicate member name {k!r}")
            seen.add(k)
    return d


_LINE_LOADS = json.JSONDecoder(object_pairs_hook=_pairs_dict, parse_constant=_refuse_constant).decode
# The fast way to the same answer: the C scanner hands each object's pairs to
# tuple (a C call, where _pairs_dict is a Python call per line); a dict with
# fewer members than pairs had a repeated name.
_LINE_SCAN = json.JSONDecoder(object_pairs_hook=tuple, parse_constant=_refuse_constant).scan_once


def _line_object(line: str) -> Any:
    """A line's JSON value, refusing repeated member names (as _LINE_LOADS,
    which words the errors).  Objects are dicts, except an object inside an
    array, left a tuple of pairs: no valid line has one, and the line's
    checks refuse it all the same."""
    try:
        pairs, end = _LINE_SCAN(line, 0)
    except StopIteration:
        return _LINE_LOADS(line)
    if end != len(line) or type(pairs) is not tuple:
        return _LINE_LOADS(line)
    obj = dict(pairs)
    if len(obj) != len(pairs) or tuple in map(type, obj.values()):
        return _LINE_LOADS(line)  # a repeated name, or an object inside: the exact path
    return obj


# A body is parsed by the C scanner alone (no hook: nested objects would each
# cost a Python call); NaN and Infinity are still refused.  A repeated member
# name counts as its last occurrence (the commitment already fixes the bytes).
_BODY_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_BODY_SCAN = _BODY_DECODER.scan_once
_BODY_LOADS = _BODY_DECODER.decode


class Line:
    """What the order-dependent checks need of one line, once its own checks
    are done.  `fails` and `warns` hold that line's own findings."""

    __slots__ = ("no", "blank", "index", "role", "hb", "leaf", "gaps", "h", "has_body", "stream_sat", "fails", "warns")

    def __init__(self, no: int):
        self.no = no
        self.blank = False
        self.index: Optional[int] = None
        self.role: Optional[str] = None
        self.hb: Optional[bytes] = None  # the header's bytes (the leaf's data)
        self.leaf: Optional[bytes] = None
        self.gaps: Optional[List[bytes]] = []  # None: malformed
        self.h: Optional[Dict[str, Any]] = None  # decoded and schema-checked
        self.has_body = False
        self.stream_sat = False  # a 'stream' entry that satisfies the query
        self.fails: Optional[list] = None
        self.warns: Optional[list] = None

    def fail(self, entry, member, reason):
        if self.fails is None:
            self.fails = []
        self.fails.append((entry, member, reason))

    def warn(self, msg):
        if self.warns is None:
            self.warns = []
        self.warns.append(msg)


class LineChecker:
    """Checks lines one at a time (§9.3 step 3 except the proof, and step 4's
    per-entry part).  Holds no state between lines, so lines can be checked
    in any order or in another process."""

    def __init__(self, version: int, query: Dict[str, Any], stream_claim: bool):
        self.version = version
        self.keys = frozenset(LINE_KEYS_V2 if version == 2 else LINE_KEYS)
        self.query = query
        self.stream_claim = stream_claim
        self.filters = [(k, v) for k, v in query.items() if v is not None]

    def batch(self, lines: List[bytes], first_no: int, where: str) -> List[Line]:
        return [self.one(b, no, where) for no, b in enumerate(lines, first_no)]

    def one(self, b: bytes, no: int, where: str) -> Line:
        if b.strip():
            return self.check(b, no, where)
        x = Line(no)
        x.blank = True
        x.warn(f"{where} line {no} is blank (skipped)")
        return x

    def check(self, line_b: bytes, no: int, member: str) -> Line:
        e = Line(no)
        where = f"{member} line {no}"
        try:
            line = line_b.decode("utf-8")
        except UnicodeDecodeError as err:
            e.fail(None, where, f"line is not valid UTF-8 (byte {err.start})")
            e.gaps = None
            return e
        try:
            obj = _line_object(line)
        except (ValueError, RecursionError) as err:
            e.fail(None, where, f"line does not parse: invalid JSON: {err}")
            e.gaps = None
            return e
        if not isinstance(obj, dict):
            e.fail(None, where, "line is not a JSON object")
            e.gaps = None
            return e
        idx = obj.get("index")
        if type(idx) is int and idx >= 0:
            e.index = idx
        else:
            e.fail(None, where, "index is missing or not a non-negative integer")
            idx = None
        if not self.keys.issuperset(obj):
            for k in obj:
                if k not in self.keys:
                    e.fail(idx, where, f"{k} is not a member of an entry line (format v{self.version})")
        role = obj.get("role")
        if role in ROLES:
            e.role = role
        else:
            e.fail(idx, where, f"role {role!r} is not one of {', '.join(ROLES)}")
        hs = obj.get("header")
        if type(hs) is not str:
            e.fail(idx, where, "header is missing or not a string")
        else:
            try:
                e.hb = hs.encode("utf-8")
            except UnicodeEncodeError:
                e.fail(idx, where, "header holds a lone surrogate (not UTF-8)")
        salt, body = obj.get("salt"), obj.get("body")
        if salt is None or body is None:
            for k in ("salt", "body"):
                if k not in obj:
                    e.fail(idx, where, f"{k} is missing (null when there is none)")
                elif obj[k] is not None and type(obj[k]) is not str:
                    e.fail(idx, where, f"{k} is not a string or null")
        else:
            for k, v in (("salt", salt), ("body", body)):
                if type(v) is not str:
                    e.fail(idx, where, f"{k} is not a string or null")
        if self.version == 2:
            self._gaps(e, obj.get("gaps"), idx, where)
        # the header
        hb = e.hb
        if hb is not None:
            e.leaf = _sha256(b"\x00" + hb).digest()
            try:
                h = decode_header(hb, hs)
                if idx is None:
                    pass
                elif h["index"] != idx:
                    e.fail(idx, where, f"header.index is {h['index']}, the line says {idx}")
                else:
                    e.h = h
            except VerifyError as err:
                e.fail(idx, where, str(err))
        # the body
        salt = salt if type(salt) is str else None
        body = body if type(body) is str else None
        if (salt is None) != (body is None):
            e.fail(idx, where, "salt and body must be both present or both null")
        elif body is not None:
            e.has_body = True
            self._body(e, idx, where, salt, body)
        # the query (§9.3 step 4; the counts are the caller's)
        h = e.h
        if h is not None:
            if role == "match":
                why = self._unmatched(h)
                if why:
                    e.fail(idx, "entries.jsonl" if self.version == 1 else member,
                           "role match, but the entry does not satisfy the query: " + "; ".join(why))
            elif role == "stream" and self.stream_claim:
                e.stream_sat = not self._unmatched(h)
        return e

    def _unmatched(self, h):
        if not self.filters:
            return None
        return matches_query(h, self.query)

    @staticmethod
    def _gaps(e: Line, gaps: Any, idx, where: str):
        if gaps is None:
            return  # absent means empty (§10.2)
        if type(gaps) is not list or not all(type(g) is str for g in gaps):
            e.fail(idx, where, "gaps is not an array of base64 hashes")
            e.gaps = None
            return
        out = []
        for i, g in enumerate(gaps):
            try:
                raw = b64decode_strict(g, f"gaps[{i}]")
            except VerifyError as err:
                e.fail(idx, where, str(err))
                e.gaps = None
                return
            if len(raw) != 32:
                e.fail(idx, where, f"gaps[{i}] is not a 32-byte hash")
                e.gaps = None
                return
            out.append(raw)
        e.gaps = out

    @staticmethod
    def _body(e: Line, idx, where: str, salt_hex: str, body: str):
        """§9.3: the commitment, then the body's agreement with the header.
        The body is parsed once, for its four ids; its canonical form is not
        checked (§9.3 does not ask for it: the commitment covers the bytes,
        whatever they are, and sealtrail verify does not check it either)."""
        if len(salt_hex) != 64 or not _HEX64_RE.match(salt_hex):
            e.fail(idx, where, "salt: not 64 lowercase hex digits")
            return
        try:
            body_bytes = body.encode("utf-8")
        except UnicodeEncodeError:
            e.fail(idx, where, "body holds a lone surrogate (not UTF-8)")
            return
        h = e.h
        if h is None:  # nothing to check the body against (the header's failure is reported)
            return
        if _sha256(bytes.fromhex(salt_hex) + body_bytes).hexdigest() != h["body"]:
            e.fail(idx, where, "body commitment: SHA-256(salt ‖ body) differs from header.body")
            return
        try:
            ev, end = _BODY_SCAN(body, 0)
        except StopIteration:
            ev, end = None, -1
        except (ValueError, RecursionError) as err:
            e.fail(idx, where, f"body: invalid JSON: {err}")
            return
        if end != len(body):  # leading or trailing text: the full decoder says which
            try:
                ev = _BODY_LOADS(body)
            except (ValueError, RecursionError) as err:
                e.fail(idx, where, f"body: invalid JSON: {err}")
                return
        if not isinstance(ev, dict):
            e.fail(idx, where, "body is not a JSON object")
            return
        agent = ev.get("agent")
        agent_id = agent.get("id") if type(agent) is dict else None
        if (agent_id == h["agent"] and ev.get("kind") == h["kind"] and ev.get("id") == h.get("event_id")
                and ev.get("session") == h.get("session")):
            return
        for bname, bval, hname, hval in (("agent.id", agent_id, "agent", h.get("agent")),
                                         ("kind", ev.get("kind"), "kind", h.get("kind")),
                                         ("id", ev.get("id"), "event_id", h.get("event_id")),
                                         ("session", ev.get("session"), "session", h.get("session"))):
            if bval != hval:
                e.fail(idx, where, f"body {bname} = {bval!r} disagrees with header {hname} = {hval!r}")


# Worker processes (--jobs): each holds one LineChecker, set by _worker_init.
_WORKER: Optional[LineChecker] = None


def _worker_init(version: int, query: Dict[str, Any], stream_claim: bool) -> None:
    global _WORKER
    _WORKER = LineChecker(version, query, stream_claim)


def _worker_batch(args) -> list:
    """Check a batch; send back only what the parent's order checks read
    (pickling whole lines costs about as much as checking them)."""
    lines, first_no, where, f = args
    out = []
    for e in _WORKER.batch(lines, first_no, where):
        h = e.h
        if h is not None:
            h = ({"time": h["time"], "prev": h.get("prev")} if f is None else
                 {"time": h["time"], "prev": h.get("prev"), f: h.get(f), "streams": {f: h["streams"].get(f)}})
        out.append((e.no, e.blank, e.index, e.role, e.leaf, e.gaps, h, e.has_body, e.stream_sat,
                    e.fails, e.warns))
    return out


def _unpack_line(t) -> Line:
    e = Line.__new__(Line)
    (e.no, e.blank, e.index, e.role, e.leaf, e.gaps, e.h, e.has_body, e.stream_sat, e.fails, e.warns) = t
    e.hb = None
    return e


# ---------------------------------------------------------------------------
# §9 / §10 The bundle
# ---------------------------------------------------------------------------

def verify_bundle(src: Any, trusted_keys: Optional[List[VerifierKey]] = None, jobs: int = 1) -> Report:
    """Verify a bundle: its bytes, a path, or a seekable binary file.  Every
    failure found is in the report.  `jobs` > 1 checks lines in that many
    worker processes (format v2; the order-dependent checks stay here)."""
    rep = Report()
    close = None
    if isinstance(src, (bytes, bytearray, memoryview)):
        fh = io.BytesIO(bytes(src))
    elif isinstance(src, (str, os.PathLike)):
        fh = close = open(src, "rb")
    else:
        fh = src
    try:
        members = _Members(fh, rep)
        if members.load():
            _Verifier(members, trusted_keys, rep, jobs).run()
    finally:
        if close is not None:
            close.close()
    rep.finish()
    return rep


class _Verifier:
    def __init__(self, members: _Members, trusted: Optional[List[VerifierKey]], rep: Report, jobs: int = 1):
        self.z, self.trusted, self.rep, self.jobs = members, trusted, rep, jobs
        self.manifest: Dict[str, Any] = {}
        self.version = 1
        self.query: Dict[str, Any] = {k: None for k in QUERY_KEYS}
        self.ckpt: Optional[Checkpoint] = None
        self.ckpt_bytes: Optional[bytes] = None
        self.chunks: Optional[int] = None
        self.gaps_after: Optional[List[bytes]] = None
        self.claim: Optional[str] = None  # None, "stream", "range", or "bad" (failed already)
        self.stream: Optional[str] = None
        # streaming state (one entry back, never all of them)
        self.n_entries = self.n_matches = self.n_bodies = self.n_matches_no_body = 0
        self.first_match: Optional[int] = None
        self.last_match: Optional[int] = None
        self.prev_index: Optional[int] = None
        self.prev_timed: Optional[Tuple[int, int]] = None  # (index, time) of the last decoded header
        self.n_role = {"before": 0, "after": 0}
        self.fold: Optional[GapFold] = None
        self.fold_broken: Optional[str] = None
        self.fold_misfit = False
        # for the root failure's hint: the last entry's (index, leaf), and the
        # first entry whose header.prev is not the leaf hash of the entry
        # just before it (both in the bundle)
        self.last_leaf: Optional[Tuple[int, bytes]] = None
        self.prev_break: Optional[int] = None
        self.proof_names: List[int] = []  # v1: proof members' indexes, sorted (orphans)
        self.proof_pos = 0
        self.chain: Dict[str, Any] = {}
        self.rng: Dict[str, Any] = {}

    def fail(self, entry, member, reason):
        self.rep.fail(entry, member, reason)

    def read(self, name: str) -> Optional[bytes]:
        return self.z.read_small(name)

    # -- 1. manifest ---------------------------------------------------------
    def read_manifest(self) -> bool:
        if not self.z.has("manifest.json"):
            self.fail(None, "manifest.json", "missing")
            return False
        raw = self.read("manifest.json")
        if raw is None:
            return False
        try:
            man = strict_json_loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, VerifyError) as e:
            self.fail(None, "manifest.json", f"does not parse: {e}")
            return False
        if not isinstance(man, dict):
            self.fail(None, "manifest.json", "is not a JSON object")
            return False
        self.manifest = man
        ok = True
        if man.get("format") != BUNDLE_FORMAT:
            self.fail(None, "manifest.json", f"format is {man.get('format')!r}, not {BUNDLE_FORMAT!r}")
            ok = False
        v = man.get("v")
        if _is_uint(v) and v in BUNDLE_VERSIONS:
            self.version = v
        else:
            if _is_uint(v) and v > max(BUNDLE_VERSIONS):
                self.fail(None, "manifest.json", f"bundle version {v} is not supported (this verifier reads "
                                                 f"versions {' and '.join(map(str, BUNDLE_VERSIONS))})")
            else:
                self.fail(None, "manifest.json", f"v is {v!r}, not one of {', '.join(map(str, BUNDLE_VERSIONS))}")
            # go on as the version the members look like, to report everything else
            self.version = 2 if "chunks" in man else 1
            ok = False
        required = MANIFEST_REQUIRED_V2 if self.version == 2 else MANIFEST_REQUIRED
        for k in required:
            if k not in man:
                self.fail(None, "manifest.json", f"{k} is missing")
                ok = False
        for k in man:
            if k not in required and k not in MANIFEST_OPTIONAL:
                self.fail(None, "manifest.json", f"{k} is not a member of bundle format v{self.version}")
                ok = False
        if self.version == 2:
            self._read_v2_members(man)
        q = man.get("query")
        if not isinstance(q, dict):
            self.fail(None, "manifest.json", "query is missing or not an object")
            q = {}
        for k in QUERY_KEYS:
            if k not in q:
                self.fail(None, "manifest.json", f"query.{k} is missing (every filter is present, null when not set)")
        for k, val in q.items():
            if k not in QUERY_KEYS:
                self.fail(None, "manifest.json", f"query.{k} is not a filter of bundle format v{self.version}"
                          + ("; matches cannot be checked against it" if val is not None else ""))
                continue
            if k in ("from", "to"):
                if val is not None and not _is_uint(val):
                    self.fail(None, "manifest.json", f"query.{k} is not null or a non-negative integer")
                    q = dict(q, **{k: None})
            elif val is not None and not isinstance(val, str):
                self.fail(None, "manifest.json", f"query.{k} is not null or a string")
            elif k == "subject" and val is not None and not _HEX64_RE.match(val):
                self.fail(None, "manifest.json", "query.subject is not a keyed MAC (64 lowercase hex digits)")
        self.query = {k: q.get(k) for k in QUERY_KEYS}
        self.rep.query = self.query
        return ok

    def _read_v2_members(self, man: Dict[str, Any]) -> None:
        """§10.1: `chunks` and `gaps_after`."""
        chunks = man.get("chunks")
        if _is_uint(chunks):
            self.chunks = chunks
        elif "chunks" in man:
            self.fail(None, "manifest.json", f"chunks is {chunks!r}, not a non-negative integer")
        ga = man.get("gaps_after")
        if isinstance(ga, list) and all(isinstance(g, str) for g in ga):
            try:
                hashes = [b64decode_strict(g, f"gaps_after[{i}]") for i, g in enumerate(ga)]
                bad = [i for i, h in enumerate(hashes) if len(h) != 32]
                if bad:
                    self.fail(None, "manifest.json", f"gaps_after[{bad[0]}] is not a 32-byte hash")
                else:
                    self.gaps_after = hashes
            except VerifyError as e:
                self.fail(None, "manifest.json", str(e))
        elif "gaps_after" in man:
            self.fail(None, "manifest.json", "gaps_after is not an array of base64 hashes")

    # -- 2. checkpoint -------------------------------------------------------
    def read_checkpoint(self):
        if not self.z.has("checkpoint"):
            self.fail(None, "checkpoint", "missing")
            return
        raw = self.read("checkpoint")
        if raw is None:
            return
        self.ckpt_bytes = raw
        keys = self.trusted
        vraw = self.read("keys/log.vkey") if self.z.has("keys/log.vkey") else None
        if keys is None:
            self.rep.trusted_key_source = "bundle keys/log.vkey (NOT trusted)"
            if vraw is None:
                self.fail(None, "keys/log.vkey", "missing, and no trusted verifier key was given")
                keys = []
            else:
                try:
                    keys = parse_vkeys(vraw.decode("utf-8"))
                except (UnicodeDecodeError, VerifyError) as e:
                    self.fail(None, "keys/log.vkey", f"unusable: {e}")
                    keys = []
                self.rep.warn("no trusted verifier key was given: the checkpoint was checked with the key "
                              "shipped INSIDE the bundle (keys/log.vkey). Anyone who can forge a bundle can "
                              "forge that key too; pass the log's key with --vkey or --vkey-file.")
        else:
            self.rep.trusted_key_source = "given by the user"
            if vraw is not None:
                try:
                    bundled = {k.text for k in parse_vkeys(vraw.decode("utf-8"))}
                    if not any(k.text in bundled for k in keys):
                        self.rep.warn("keys/log.vkey does not list the trusted key")
                except (UnicodeDecodeError, VerifyError) as e:
                    self.rep.warn(f"keys/log.vkey is unusable: {e}")
        text = None
        opened = None
        try:
            opened = open_note(raw, keys)
            text = opened.text
            self.rep.signers = [k.text for k in opened.signers]
        except VerifyError as e:
            self.fail(None, "checkpoint", f"signature: {e}")
            try:
                text = split_note_unverified(raw)
            except (UnicodeDecodeError, VerifyError):
                text = None
        if text is None:
            return
        try:
            ck = parse_checkpoint(text)
        except VerifyError as e:
            self.fail(None, "checkpoint", str(e))
            return
        self.ckpt = ck
        self.rep.checkpoint = {"origin": ck.origin, "size": ck.size, "root": ck.root.hex(),
                               "stream_heads_root": ck.heads_root.hex() if ck.heads_root else None}
        if opened is not None and self.rep.signers and not any(k.name == ck.origin for k in opened.signers):
            self.fail(None, "checkpoint", f"no verified signature is by a key named after the origin {ck.origin!r}")
        man = self.manifest
        if man.get("origin") != ck.origin:
            self.fail(None, "manifest.json", f"origin {man.get('origin')!r} differs from the checkpoint's {ck.origin!r}")
        mc = man.get("checkpoint")
        if not isinstance(mc, dict):
            self.fail(None, "manifest.json", "checkpoint is missing or not an object")
        else:
            if mc.get("size") != ck.size or not _is_uint(mc.get("size")):
                self.fail(None, "manifest.json", f"checkpoint.size {mc.get('size')!r} differs from the checkpoint's {ck.size}")
            root = mc.get("root")
            if not isinstance(root, str) or root != ck.root.hex():
                self.fail(None, "manifest.json", f"checkpoint.root {root!r} differs from the checkpoint's {ck.root.hex()}")

    # -- 5 (first half): what completeness is claimed ------------------------
    def read_claim(self):
        """Read the completeness claim before the entries, so that the chain
        is checked as the entries stream by."""
        c = self.manifest.get("completeness")
        comp = self.rep.completeness
        self.claim = "bad"
        if not isinstance(c, dict):
            self.fail(None, "manifest.json", "completeness is missing or not an object")
            return
        comp["statement"] = c.get("statement")
        proven = c.get("proven")
        if proven is not True and proven is not False:
            self.fail(None, "manifest.json", "completeness.proven is not true or false")
            return
        comp["proven"] = proven
        stream = c.get("stream")
        rng = c.get("range")
        if rng is not None and rng is not True:
            self.fail(None, "manifest.json", f"completeness.range is {rng!r}: it is true, null or absent")
            return
        has_range = rng is True
        if not proven:
            comp["kind"] = None
            self.claim = None
            if stream is not None or has_range:
                self.fail(None, "manifest.json", "completeness.proven is false, yet it names a "
                          + ("stream" if stream is not None else "range") + " (§9.2: absent or null)")
            if self.z.has("completeness.json"):
                self.rep.warn("completeness.json is present although completeness is not claimed")
            return
        if stream is not None and has_range:
            self.fail(None, "manifest.json", "completeness claims both a stream and a range")
            return
        if stream is not None:
            comp["kind"] = "stream"
            comp["stream"] = stream
            if not isinstance(stream, str) or not (stream.startswith("a:") or stream.startswith("s:")):
                self.fail(None, "manifest.json", f"completeness.stream {stream!r} is not a:<agent> or s:<session>")
                return
            self.claim, self.stream = "stream", stream
            f = "agent" if stream.startswith("a:") else "session"
            sid = stream[2:]
            if self.query.get(f) != sid:
                self.fail(None, "manifest.json", f"completeness.stream is {stream!r} but query.{f} is {self.query.get(f)!r}")
            self.chain = {"f": f, "sid": sid, "n": 0, "prev": None, "last": None, "after": None,
                          "has_after": False}
        elif has_range:
            comp["kind"] = "range"
            self.claim = "range"
            for k in QUERY_FILTERS:
                if self.query.get(k) is not None:
                    self.fail(None, "manifest.json", f"range completeness with a filter on {k}: only time may be filtered")
            self.rng = {"first": None, "prev": None, "befores": [], "afters": []}
        else:
            self.fail(None, "manifest.json", "completeness.proven is true but names neither a stream nor a range")

    # -- 3. entries ----------------------------------------------------------
    def entry_members(self) -> List[str]:
        """The members holding the lines, in order; failures for members a
        v2 manifest does not account for."""
        if self.version == 1:
            if not self.z.has("entries.jsonl"):
                self.fail(None, "entries.jsonl", "missing")
                return []
            return ["entries.jsonl"]
        present = {}
        for name in self.z.names():
            if name.startswith("entries/"):
                # another spelling (entries/01.jsonl) is an other member,
                # ignored (§9), as sealtrail verify does: other_members warns
                m = _ENTRIES_MEMBER_RE.match(name)
                if m is not None:
                    present[int(m.group(1))] = name
        chunks = self.chunks
        if chunks is None:
            chunks = max(present) + 1 if present else 0
        for k in sorted(present):
            if k >= chunks:
                self.fail(None, present[k], f"the manifest says chunks = {chunks}, so there is no entries/{k}.jsonl")
        names = []
        missing = [k for k in range(min(chunks, max(present, default=-1) + 2)) if k not in present]
        for k in missing[:100]:
            self.fail(None, f"entries/{k}.jsonl", f"missing (the manifest says chunks = {chunks})")
        if chunks > max(present, default=-1) + 2:
            self.fail(None, f"entries/{max(present, default=-1) + 2}.jsonl",
                      f"missing, and every later member up to entries/{chunks - 1}.jsonl (the manifest says "
                      f"chunks = {chunks})")
        elif len(missing) > 100:
            self.fail(None, None, f"… and {len(missing) - 100} more entries members missing")
        for k in sorted(present):
            if k < chunks:
                names.append(present[k])
        return names

    def read_entries(self):
        if self.ckpt is not None and self.version == 2:
            self.fold = GapFold(self.ckpt.size)
        if self.version == 1:
            self.proof_names = sorted(i for i in (_entry_of_member(n) for n in self.z.names()) if i is not None)
        checker = LineChecker(self.version, self.query, self.claim == "stream")
        pool = None
        if self.jobs > 1 and self.version == 2:
            import multiprocessing
            pool = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                               else "spawn").Pool(
                self.jobs, _worker_init, (self.version, self.query, self.claim == "stream"))
        # Checking a line allocates a few dozen objects and no cycle; the
        # cyclic collector would otherwise walk the young objects every few
        # hundred lines (about a sixth of the time per line).
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            for name in self.entry_members():
                where = name
                if pool is None:
                    no = 1
                    fast = self._fast_ok()
                    for lines in self.z.line_batches(name):
                        if fast:
                            self._lines_fast(lines, no, where, checker)
                        else:
                            for e in checker.batch(lines, no, where):
                                self.take(e, where)
                        no += len(lines)
                else:
                    for batch in pool.imap(_worker_batch, self._numbered(name, where), chunksize=1):
                        for t in batch:
                            self.take(_unpack_line(t), where)
        finally:
            if gc_was_on:
                gc.enable()
            if pool is not None:
                pool.terminate()
        self.end_entries()

    # -- the fast path for lines ---------------------------------------------
    def _fast_ok(self) -> bool:
        """Whether lines may go through _lines_fast: format v2 with a
        checkpoint, a claim it knows, and no filter it leaves to the exact path
        (data_class, subject and scope need the header's arrays or prefixes)."""
        q = self.query
        return (FAST_LINES and self.version == 2 and self.ckpt is not None
                and self.claim in (None, "range", "stream")
                and q.get("data_class") is None and q.get("subject") is None and q.get("scope") is None)

    def _line_slow(self, b: bytes, no: int, member: str, checker: LineChecker):
        self.take(checker.one(b, no, member), member)

    def _lines_fast(self, lines: List[bytes], first_no: int, member: str, checker: LineChecker):
        """check() and take() for each line, fused, for lines with nothing to
        report: every check of those two is made here on the same values,
        and a line takes this path only when all of them pass (and its
        header is one _HEADER_FAST_RE matches: _HEADER_RE without escapes).
        Any other line (a failure, a warning, a role other than match, or
        stream under a stream claim, anything unusual) goes through check()
        and take(), which word what is wrong; the order-dependent state is
        written back to self first and read again after.  Nothing is changed
        before a line is known to be clean, except by the gap fold, whose
        misfit failure is reported here as _fold reports it.  The tests hold
        both paths to identical reports on good and tampered bundles.

        Why: one Python call per step of check() and take(), a Line and a
        header dict per line were most of the time per line; here the checks
        read the regular expression's groups and the line's members directly
        and the running state lives in local variables."""
        keys = checker.keys
        scan = _LINE_SCAN
        fullmatch = _HEADER_FAST_RE.fullmatch
        body_scan = _BODY_SCAN
        sha = _sha256
        fromhex = bytes.fromhex
        a2b = binascii.a2b_base64
        b2a = binascii.b2a_base64
        q = self.query
        frm, to = q["from"], q["to"]
        timed = frm is not None or to is not None
        # (group of _HEADER_FAST_RE, wanted value) of the string filters set
        filters = tuple((i, q[name]) for name, i in _FAST_FILTER_GROUPS.items() if q[name] is not None)
        claim = self.claim
        is_range, is_stream = claim == "range", claim == "stream"
        if is_stream:
            chain = self.chain
            sid = chain["sid"]
            # the groups of the stream's member and of its link (n, prev)
            fgi, fn, fp = (1, 9, 10) if chain["f"] == "agent" else (8, 11, 12)
        fold = self.fold
        size = self.ckpt.size
        (n_entries, n_matches, n_bodies, n_mnb, first_match, last_match, prev_index, prev_timed, last_leaf,
         prev_break, rfirst, rprev, cprev, cn, cafter, folding) = self._fast_load()
        # consecutive entries after one fed to the fold with its gaps: their
        # leaves, folded as a run (GapFold.feed_leaves) before anything else
        # reaches the fold
        run: List[bytes] = []
        run_first = run_next = None
        for k, b in enumerate(lines):
            no = first_no + k
            ok = False
            try:
                while True:  # one pass; `break` before ok = True sends the line the exact way
                    line = b.decode("utf-8")
                    # the line (check(): its JSON, members and their types)
                    pairs, end = scan(line, 0)
                    if end != len(line) or type(pairs) is not tuple:
                        break
                    obj = dict(pairs)
                    if len(obj) != len(pairs) or not keys.issuperset(obj):
                        break
                    idx = obj.get("index")
                    if type(idx) is not int or idx < 0:
                        break
                    role = obj.get("role")
                    if role != "match" and (role != "stream" or not is_stream):
                        break
                    hs = obj.get("header")
                    if type(hs) is not str:  # (a backslash in it: _HEADER_FAST_RE has none, the exact path decodes)
                        break
                    # the header (decode_header: the canonical form and §4's rules on the match)
                    hb = hs.encode("utf-8")
                    if len(hb) > MAX_ENTRY_BYTES:
                        break
                    m = fullmatch(hs)
                    if m is None:
                        break
                    g = m.groups()
                    if int(g[4]) != idx:
                        break
                    t = int(g[13])
                    if t > MAX_SAFE_INTEGER or (idx == 0) != (g[7] is None) or (g[11] is None) != (g[8] is None):
                        break
                    if g[10] is None:
                        if g[9] != "1":
                            break
                    elif g[9] == "0" or g[9] == "1" or int(g[10]) >= idx:
                        break
                    if g[11] is not None:
                        if g[12] is None:
                            if g[11] != "1":
                                break
                        elif g[11] == "0" or g[11] == "1" or int(g[12]) >= idx:
                            break
                    # gaps (_gaps)
                    gl = obj.get("gaps")
                    if gl is None:
                        gaps = ()
                    else:
                        if type(gl) is not list:
                            break
                        gaps = [a2b(x) for x in gl]
                        if [b2a(x, newline=False) for x in gaps] != [x.encode("ascii") for x in gl]:
                            break
                        if [x for x in gaps if len(x) != 32]:
                            break
                    # the body (_body)
                    salt, body = obj.get("salt", _ABSENT), obj.get("body", _ABSENT)
                    if type(body) is str:
                        if type(salt) is not str:
                            break
                        sb = fromhex(salt)  # 64 lowercase hex digits exactly when they come back
                        if sb.hex() != salt or sha(sb + body.encode("utf-8")).hexdigest() != g[2]:
                            break
                        ev, end = body_scan(body, 0)
                        if end != len(body) or type(ev) is not dict:
                            break
                        agent = ev.get("agent")
                        if ((agent.get("id") if type(agent) is dict else None) != g[1] or ev.get("kind") != g[5]
                                or ev.get("id") != g[3] or ev.get("session") != g[8]):
                            break
                        has_body = True
                    elif salt is None and body is None:
                        has_body = False
                    else:
                        break
                    # the query (matches_query): a match satisfies it; a stream entry does not
                    sat = not timed or ((frm is None or t >= frm) and (to is None or t < to))
                    if sat:
                        for i, want in filters:
                            if g[i] != want:
                                sat = False
                                break
                    if sat != (role == "match"):
                        break
                    # the order (take(), _fold, _range_step, _chain_step): nothing to report
                    if prev_index is not None and idx <= prev_index:
                        break
                    if prev_timed is not None and t < prev_timed[1]:
                        break
                    if folding and idx >= size:
                        break
                    if is_range:
                        if rprev is not None and idx != rprev + 1:
                            break
                    elif is_stream:
                        if cafter is not None or g[fgi] != sid or (timed and ((frm is not None and t < frm)
                                                                             or (to is not None and t >= to))):
                            break
                        ln, lp = g[fn], g[fp]
                        if ln is None:
                            break
                        ln = int(ln)
                        if cprev is not None:
                            lx = cprev[1]
                            if lx is not None and (lp is None or int(lp) != cprev[0] or ln != lx["n"] + 1):
                                break
                        elif lp is not None or ln != 1:
                            break
                    leaf = sha(b"\x00" + hb).digest()
                    ok = True
                    break
            except Exception:  # whatever it is, the exact path says it
                ok = False
            if not ok:
                if run:
                    fold.feed_leaves(run_first, run)
                    run = []
                run_next = None
                self._fast_store(n_entries, n_matches, n_bodies, n_mnb, first_match, last_match, prev_index,
                                 prev_timed, last_leaf, prev_break, rfirst, rprev, cprev, cn)
                self._line_slow(b, no, member, checker)
                (n_entries, n_matches, n_bodies, n_mnb, first_match, last_match, prev_index, prev_timed,
                 last_leaf, prev_break, rfirst, rprev, cprev, cn, cafter, folding) = self._fast_load()
                continue
            # the line is clean: the running state moves on
            n_entries += 1
            prev_index = idx
            if folding:
                if prev_break is None and last_leaf is not None and last_leaf[0] + 1 == idx:
                    pv = g[7]
                    if pv is not None and fromhex(pv) != last_leaf[1]:
                        prev_break = idx
                last_leaf = (idx, leaf)
                if idx == run_next and not gaps:  # the next entry: folded with its run
                    run.append(leaf)
                    run_next += 1
                else:
                    if run:
                        fold.feed_leaves(run_first, run)
                        run = []
                    need = fold.feed(idx, leaf, gaps)
                    if need != len(gaps):
                        self._misfit(idx, member, no, len(gaps), need)
                    run_first = run_next = idx + 1
            if role == "match":
                n_matches += 1
                if not has_body:
                    n_mnb += 1
                if first_match is None:
                    first_match = idx
                last_match = idx
            if has_body:
                n_bodies += 1
            prev_timed = (idx, t)
            if is_range:
                if rfirst is None:
                    rfirst = idx
                rprev = idx
            elif is_stream:
                cprev = (idx, {"n": ln} if lp is None else {"n": ln, "prev": int(lp)})
                cn += 1
        if run:
            fold.feed_leaves(run_first, run)
        self._fast_store(n_entries, n_matches, n_bodies, n_mnb, first_match, last_match, prev_index,
                         prev_timed, last_leaf, prev_break, rfirst, rprev, cprev, cn)

    def _fast_load(self):
        """The running state _lines_fast keeps in local variables."""
        rng, chain = self.rng, self.chain
        return (self.n_entries, self.n_matches, self.n_bodies, self.n_matches_no_body, self.first_match,
                self.last_match, self.prev_index, self.prev_timed, self.last_leaf, self.prev_break,
                rng.get("first"), rng.get("prev"), chain.get("prev"), chain.get("n"), chain.get("after"),
                self.fold_broken is None and self.fold is not None)

    def _fast_store(self, n_entries, n_matches, n_bodies, n_mnb, first_match, last_match, prev_index,
                    prev_timed, last_leaf, prev_break, rfirst, rprev, cprev, cn):
        self.n_entries, self.n_matches, self.n_bodies, self.n_matches_no_body = n_entries, n_matches, n_bodies, n_mnb
        self.first_match, self.last_match, self.prev_index, self.prev_timed = first_match, last_match, prev_index, prev_timed
        self.last_leaf, self.prev_break = last_leaf, prev_break
        if self.claim == "range":
            self.rng["first"], self.rng["prev"] = rfirst, rprev
        elif self.claim == "stream":
            self.chain["prev"], self.chain["n"] = cprev, cn

    def _numbered(self, name: str, where: str):
        no = 1
        for lines in self.z.line_batches(name):
            # smaller batches than the 1 MiB pieces keep both workers busy
            f = self.chain.get("f") if self.claim == "stream" else None
            for i in range(0, len(lines), 2048):
                yield lines[i:i + 2048], no + i, where, f
            no += len(lines)

    def take(self, e: Line, member: str):
        """Everything that depends on the order of the lines, one line at a time."""
        rep = self.rep
        if e.fails is not None:
            for f in e.fails:
                rep.fail(*f)
        if e.warns is not None:
            for w in e.warns:
                rep.warn(w)
        if e.blank:
            return
        self.n_entries += 1
        idx = e.index
        in_order = idx is not None
        if idx is not None:
            pi = self.prev_index
            if pi is None:
                self.prev_index = idx
            elif idx > pi:
                self.prev_index = idx
            else:
                self.fail(idx, f"{member} line {e.no}",
                          f"index {idx} does not follow {pi} (indexes must strictly increase)")
                in_order = False
        if self.version == 1:
            if idx is not None and e.hb is not None:
                self.check_proof(idx, e.hb)
            if idx is not None:
                self._orphans_below(idx)
        elif self.fold_broken is None and self.fold is not None:
            self._fold(e, idx, in_order, member)
        role = e.role
        if role == "match":
            self.n_matches += 1
            if not e.has_body:
                self.n_matches_no_body += 1
            if idx is not None:
                if self.first_match is None or idx < self.first_match:
                    self.first_match = idx
                if self.last_match is None or idx > self.last_match:
                    self.last_match = idx
        elif role in ("before", "after"):
            self.n_role[role] += 1
            if self.n_role[role] > 1:
                self.fail(idx, self._m(member), f"more than one {role!r} entry")
        if e.has_body:
            self.n_bodies += 1
        h = e.h
        if h is not None:
            t = h["time"]
            pt = self.prev_timed
            if pt is not None and t < pt[1] and idx > pt[0]:
                self.fail(idx, self._m(member), f"header time {t} is before entry {pt[0]}'s {pt[1]}: "
                                                "times must not decrease along the log")
            if pt is None or idx > pt[0]:
                self.prev_timed = (idx, t)
        claim = self.claim
        if claim is None:
            if role in ("before", "after", "stream"):
                rep.warn(f"entry {idx}: role {role!r} in a bundle that claims no completeness")
        elif h is not None and role is not None:
            M = member if self.version == 2 else "entries.jsonl"
            if claim == "stream":
                self._chain_step(e, h, M)
            elif claim == "range":
                self._range_step(e, h, M)

    def _m(self, member: str) -> str:
        return "entries.jsonl" if self.version == 1 else member

    def _fold(self, e: Line, idx, in_order: bool, member: str):
        size = self.ckpt.size
        gaps, leaf = e.gaps, e.leaf
        if idx is None or leaf is None or gaps is None:
            self.fold_broken = f"{member} line {e.no} gives no index, header or gaps to place in the recursion"
            return
        if idx >= size:
            self.fail(idx, f"{member} line {e.no}", f"index {idx} is not below the checkpoint size {size}")
            self.fold_broken = f"entry {idx} is not in the checkpoint's tree (size {size})"
            return
        if not in_order:
            self.fold_broken = f"entry {idx} is out of order"
            return
        last = self.last_leaf
        if last is not None and last[0] + 1 == idx and self.prev_break is None and e.h is not None:
            prev = e.h.get("prev")
            if prev is not None and bytes.fromhex(prev) != last[1]:
                self.prev_break = idx
        self.last_leaf = (idx, leaf)
        need = self.fold.feed(idx, leaf, gaps)
        if need != len(gaps):
            self._misfit(idx, member, e.no, len(gaps), need)

    def _misfit(self, idx: int, member: str, no: int, ngaps: int, need: int):
        self.fold_misfit = True
        self.fail(idx, f"{member} line {no}",
                  f"gaps: the line has {ngaps} gap hash(es), but the recursion of §10.3 needs {need} "
                  f"before this entry's leaf: the proof does not fit the entries around it")

    def end_entries(self):
        """§10.3's end: gaps_after, then the root."""
        if self.version == 1:
            self._orphans_below(None)
            return
        if self.ckpt is None or self.fold is None:
            return
        if self.fold_broken is not None:
            self.fail(None, "manifest.json", f"no entry of the bundle is proven: the gap-hash proof cannot be folded "
                                  f"({self.fold_broken})")
            return
        if self.gaps_after is None:
            self.fail(None, "manifest.json", "no entry of the bundle is proven: gaps_after is missing or malformed")
            return
        need = self.fold.finish(self.gaps_after)
        if need != len(self.gaps_after):
            self.fold_misfit = True
            self.fail(None, "manifest.json", f"gaps_after holds {len(self.gaps_after)} gap hash(es), but the "
                                             f"recursion of §10.3 needs {need} after the last entry")
        root = self.fold.root
        if self.fold_misfit or root is None:
            self.fail(None, "manifest.json", "no entry of the bundle is proven: the gap hashes do not fit the entries "
                                  "(see the failures above)")
        elif root != self.ckpt.root:
            # One bundle-level failure (§10.3: no entry is proven).  When two
            # consecutive entries' hash chain breaks, the message says where:
            # one of those two headers was altered.
            i = self.prev_break
            hint = "" if i is None else (f"; entry {i}'s header.prev is not the leaf hash of entry {i - 1}: "
                                         f"entry {i - 1} or {i} was altered")
            self.fail(None, "manifest.json", f"no entry of the bundle is proven: the entries and gap hashes give "
                                             f"the root {root.hex()}, not the checkpoint's {self.ckpt.root.hex()} "
                                             f"(a header, a gap hash or the set of entries was altered){hint}")

    # -- v1 proofs -----------------------------------------------------------
    def check_proof(self, idx: int, hb: bytes):
        name = _proof_member(idx)
        if not self.z.has(name):
            self.fail(idx, name, "missing: every entry needs an inclusion proof")
            return
        raw = self.z.read_small(name, entry=idx)
        if raw is None:
            return
        try:
            p = parse_tlog_proof(raw)
        except VerifyError as err:
            self.fail(idx, name, f"malformed: {err}")
            return
        if p.index != idx:
            self.fail(idx, name, f"proof is for index {p.index}, not {idx}")
        if self.ckpt_bytes is not None and p.checkpoint != self.ckpt_bytes:
            self.fail(idx, name, "the checkpoint in the proof is not byte-identical to `checkpoint`")
        if self.ckpt is None:
            return
        try:
            verify_inclusion(_sha256(b"\x00" + hb).digest(), idx, self.ckpt.size, p.path, self.ckpt.root)
        except VerifyError as err:
            self.fail(idx, name, f"entry is not proven in the checkpoint: {err}")

    def _orphans_below(self, idx: Optional[int]):
        """§9: a proof file for an index that has no line is harmless; say so
        as a warning.  Proof indexes are walked in step with the lines."""
        names, p = self.proof_names, self.proof_pos
        while p < len(names) and (idx is None or names[p] <= idx):
            if names[p] != idx:
                self.rep.warn(f"{_proof_member(names[p])}: a proof for index {names[p]}, which entries.jsonl "
                              f"does not list (ignored)")
            p += 1
        self.proof_pos = p

    def other_members(self):
        """Members the format does not know are ignored (§9); mentioned as warnings."""
        known = {"manifest.json", "checkpoint", "keys/log.vkey", "completeness.json", "README.md"}
        for name in sorted(self.z.names()):
            if name in known:
                continue
            if self.version == 1 and (name == "entries.jsonl" or _entry_of_member(name) is not None):
                continue
            if self.version == 2 and _ENTRIES_MEMBER_RE.match(name):
                continue
            self.rep.warn(f"{name}: member not in the bundle format v{self.version} (ignored)")

    # -- 4. counts -----------------------------------------------------------
    def check_counts(self):
        counts = {"entries": self.n_entries, "matches": self.n_matches, "bodies": self.n_bodies,
                  "matches_without_body": self.n_matches_no_body}
        self.rep.counts = counts
        mc = self.manifest.get("counts")
        if not isinstance(mc, dict):
            self.fail(None, "manifest.json", "counts is missing or not an object")
        else:
            for k in ("entries", "matches", "bodies"):
                if mc.get(k) != counts[k]:
                    self.fail(None, "manifest.json", f"counts.{k} is {mc.get(k)!r}, the bundle holds {counts[k]}")
            wb = self.manifest.get("with_bodies")
            if wb is not True and wb is not False:
                self.fail(None, "manifest.json", f"with_bodies is {wb!r}, not true or false")
            if wb is False and self.n_bodies:
                self.rep.warn(f"with_bodies is false, yet {self.n_bodies} line(s) carry a body (checked all the same)")
            want_erased = self.n_matches_no_body if wb is True else 0
            er = mc.get("erased")
            if er != want_erased or not _is_uint(er):
                why = (f"{self.n_matches_no_body} match lines have no body" if wb is True
                       else "with_bodies is not true, so withheld bodies are not erased")
                self.fail(None, "manifest.json", f"counts.erased is {er!r}, expected {want_erased} ({why})")
            counts["erased"] = er if _is_uint(er) else None
            counts["with_bodies"] = wb
        for k, want in (("first_index", self.first_match), ("last_index", self.last_match)):
            got = self.manifest.get(k)
            if got != want:
                self.fail(None, "manifest.json", f"{k} is {got!r}, the bundle's {'first' if k[0] == 'f' else 'last'} match is {want!r}")

    # -- 5. completeness, stream ---------------------------------------------
    def _chain_step(self, e: Line, h: Dict[str, Any], M: str):
        """One entry of the stream's chain (§9.3 step 5), against the previous one only."""
        c = self.chain
        f, sid = c["f"], c["sid"]
        q = self.query
        frm, to = q["from"], q["to"]
        idx, role, t = e.index, e.role, h["time"]
        if idx is None:
            return
        if c["after"] is not None:  # something follows an 'after' entry
            self.fail(c["after"][0], c["after"][1], "the 'after' entry is not the last of the chain")
            c["after"] = None
        if h.get(f) != sid:
            self.fail(idx, M, f"header {f} is {h.get(f)!r}: not an entry of stream {self.stream!r}")
        if role == "before" and c["n"] != 0:
            self.fail(idx, M, "the 'before' entry is not the first of the chain")
        if role == "after":
            c["after"] = (idx, M)
            c["has_after"] = True
        if role in ("match", "stream"):
            if (frm is not None and t < frm) or (to is not None and t >= to):
                self.fail(idx, M, f"role {role}, but time {t} is outside [from, to)")
        if role == "stream" and e.stream_sat:
            self.fail(idx, M, "role stream, but the entry satisfies the query: a match shown without its body")
        if role == "before" and (frm is None or t >= frm):
            self.fail(idx, M, f"'before' entry's time {t} is not before from = {frm!r}")
        if role == "after" and (to is None or t < to):
            self.fail(idx, M, f"'after' entry's time {t} is not at or after to = {to!r}")
        link = h["streams"].get(f)
        if link is None:
            self.fail(idx, M, f"header has no streams.{f} link")
        prev = c["prev"]
        if prev is not None:
            x, lx = prev
            if lx is not None and link is not None:
                if link.get("prev") != x:
                    # a prev beyond x names that missing entry; a prev before
                    # x names x, which does not belong between them (as
                    # sealtrail verify does)
                    missing = link.get("prev")
                    concern = idx if not _is_uint(missing) else missing if missing > x else x
                    self.fail(concern, M, f"chain broken at entry {idx}: its streams.{f}.prev is {link.get('prev')!r}, "
                                          f"but the previous chain entry is {x} (entries of the stream are missing)")
                elif link["n"] != lx["n"] + 1:
                    self.fail(idx, M, f"chain broken: streams.{f}.n is {link['n']}, expected {lx['n'] + 1} after entry {x}")
        elif role != "before" and link is not None and ("prev" in link or link["n"] != 1):
            # names the entry it links to when it links to one (left out)
            self.fail(link.get("prev", idx), M, f"the chain starts at an entry with streams.{f}.prev = {link.get('prev')!r} "
                              f"(n = {link['n']}) and no 'before' entry: earlier entries of the stream are missing")
        c["prev"] = (idx, link)
        c["n"] += 1

    def _stream_end(self):
        c = self.chain
        stream, f = self.stream, c["f"]
        has_after = c["has_after"]
        last = c["prev"]  # (index, link) of the chain's last entry

        def no_head(member, reason):
            self.fail(None, member, reason)
            if not has_after and last is not None:
                self.fail(last[0], member, f"no 'after' entry and no verified heads proof: entries of {stream!r} "
                                           f"after entry {last[0]} could have been left out")

        if not self.z.has("completeness.json"):
            no_head("completeness.json", "missing (§9: present when the bundle claims completeness for a stream)"
                    + ("" if has_after else "; with no 'after' entry, a heads proof must show the stream's last entry"))
            return
        cj = self.read("completeness.json")
        if cj is None:
            no_head("completeness.json", "cannot be read")
            return
        try:
            cobj = strict_json_loads(cj.decode("utf-8"))
        except (UnicodeDecodeError, VerifyError) as err:
            no_head("completeness.json", f"does not parse: {err}")
            return
        if not isinstance(cobj, dict):
            no_head("completeness.json", "is not a JSON object")
            return
        for k in cobj:
            if k not in ("stream", "heads_proof"):
                self.fail(None, "completeness.json", f"{k} is not a member of completeness.json (format v{self.version})")
        if cobj.get("stream") != stream:
            self.fail(None, "completeness.json", f"stream is {cobj.get('stream')!r}, the manifest says {stream!r}")
        if self.ckpt is None:
            no_head("completeness.json", "no checkpoint to check the heads proof against")
            return
        if self.ckpt.heads_root is None:
            no_head("checkpoint", f"has no {HEADS_EXTENSION} line: the stream's head cannot be shown")
            return
        try:
            head = verify_heads_proof(cobj.get("heads_proof"), stream, self.ckpt.size, self.ckpt.heads_root)
        except VerifyError as err:
            no_head("completeness.json", str(err))
            return
        self.rep.completeness["head"] = None if head is None else {"n": head[0], "last": head[1]}
        if has_after:
            return
        if last is None:
            if head is not None:
                self.fail(head[1], "completeness.json", f"the bundle shows no entry of {stream!r}, but its head is "
                                                        f"entry {head[1]} (n = {head[0]}): entries are missing")
            return
        li, ll = last
        if head is None:
            self.fail(li, "completeness.json", f"the heads proof shows no entry of {stream!r} below the checkpoint size")
        elif ll is not None and (head[1] != li or head[0] != ll["n"]):
            self.fail(head[1], "completeness.json",
                      f"the stream's head is entry {head[1]} (n = {head[0]}), but the chain ends at entry "
                      f"{li} (n = {ll['n']}): later entries of the stream are missing")

    # -- 5. completeness, range ----------------------------------------------
    def _range_step(self, e: Line, h: Dict[str, Any], M: str):
        r = self.rng
        idx, role = e.index, e.role
        if idx is None:
            return
        if role == "stream":
            self.fail(idx, M, "role 'stream' in a range bundle (every entry in range is a match)")
        elif role == "match":
            a = r["prev"]
            if a is not None and idx != a + 1 and idx > a:
                missing = f"{a + 1}" if idx == a + 2 else f"{a + 1}…{idx - 1}"
                self.fail(a + 1, M, f"range broken: entries {missing} are missing between matches {a} and {idx}")
            if r["first"] is None:
                r["first"] = idx
            r["prev"] = idx if a is None else max(a, idx)
        elif len(r[role + "s"]) < MAX_REPORTED:  # a second one already failed ('more than one')
            r[role + "s"].append((idx, h["time"], M))

    def _range_end(self):
        r = self.rng
        q = self.query
        frm, to = q["from"], q["to"]
        befores, afters = r["befores"], r["afters"]
        M = "entries.jsonl" if self.version == 1 else "entries/"
        size = self.ckpt.size if self.ckpt else None
        if r["first"] is not None:
            lo, hi = r["first"], r["prev"] + 1
        else:
            # no match: the range is empty; its neighbours must touch
            lo = befores[0][0] + 1 if befores else (afters[0][0] if afters else 0)
            hi = lo
        # before: exactly one, at lo - 1, unless the range starts at index 0.
        # A missing or misplaced one names lo - 1, the entry that should be
        # shown (as sealtrail verify does).
        if lo > 0 and not befores:
            self.fail(lo - 1, M, f"no 'before' entry at index {lo - 1}: the entries before the range are not shown to be outside it")
        for i, t, m in befores:
            if lo == 0:
                self.fail(i, m, f"'before' entry at index {i} although the range starts at index 0")
            elif i != lo - 1:
                self.fail(lo - 1, m, f"'before' entry at index {i}; the range starts at {lo}, so it must be at {lo - 1}")
            elif frm is None or t >= frm:
                self.fail(i, m, f"'before' entry's time {t} is not before from = {frm!r}")
        # after: exactly one, at hi, unless the range reaches the checkpoint size
        if size is not None and hi > size:
            self.fail(hi - 1, M, f"the range extends past the checkpoint size {size}")
        if size is not None and hi < size and not afters:
            self.fail(hi, M, f"no 'after' entry at index {hi}: the entries after the range are not shown to be outside it")
        for i, t, m in afters:
            if size is not None and hi >= size:
                self.fail(i, m, f"'after' entry at index {i} although the range reaches the checkpoint size {size}")
            elif i != hi:
                self.fail(hi, m, f"'after' entry at index {i}; the range ends before {hi}, so it must be at {hi}")
            elif to is None or t < to:
                self.fail(i, m, f"'after' entry's time {t} is not at or after to = {to!r}")

    def end_completeness(self):
        if self.claim == "stream":
            self._stream_end()
        elif self.claim == "range":
            self._range_end()
        elif self.claim is None:
            return
        # shown only if nothing at all failed: an entry that did not decode is
        # left out of the chain (and fails there), but say so plainly
        self.rep.completeness["verified"] = self.claim != "bad" and self.rep.ok

    def run(self):
        for step in (self.read_manifest, self.read_checkpoint, self.read_claim, self.read_entries,
                     self.other_members, self.check_counts, self.end_completeness):
            try:
                step()
            except Exception as e:  # a bug or an input nobody foresaw: a failure, never a pass
                self.fail(None, None, f"internal error in {step.__name__}: {e!r} (please report)")


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def _fmt_time(us: Optional[int]) -> str:
    if us is None:
        return "unbounded"
    import datetime
    try:
        dt = datetime.datetime.fromtimestamp(us / 1e6, tz=datetime.timezone.utc)
        return f"{us} ({dt.strftime('%Y-%m-%dT%H:%M:%S.%fZ')})"
    except (OverflowError, OSError, ValueError):
        return str(us)


def completeness_sentence(rep: Report) -> str:
    c = rep.completeness
    if not c.get("proven"):
        return ("NOT CLAIMED: the entries are proven authentic and unaltered, but not that they are "
                "all the matching entries.")
    if not c.get("verified"):
        return "CLAIMED BUT NOT SHOWN: the completeness claim does not verify (see failures)."
    if c.get("kind") == "stream":
        return (f"PROVEN: the bundle holds every entry of stream {c.get('stream')} in the time range, "
                f"so every matching entry of that stream up to the checkpoint.")
    return "PROVEN: the bundle holds every entry of the log in the time range."


def render_text(path: str, rep: Report) -> str:
    out = []
    out.append(f"sealtrail evidence bundle: {path}")
    for w in rep.warnings:
        out.append(f"WARNING: {w}")
    ck = rep.checkpoint
    if ck:
        out.append(f"checkpoint: origin {ck['origin']}, size {ck['size']}, root {ck['root']}")
    if rep.signers:
        out.append(f"signed by: {', '.join(rep.signers)} ({rep.trusted_key_source})")
    if rep.query is not None:
        q = rep.query
        filters = ", ".join(f"{k}={q[k]}" for k in QUERY_FILTERS if q.get(k) is not None) or "none"
        out.append(f"query: from {_fmt_time(q.get('from'))} to {_fmt_time(q.get('to'))}; filters: {filters}")
    c = rep.counts
    if c:
        out.append(f"entries: {c['entries']} ({c['matches']} matching), bodies: {c['bodies']}, "
                   f"matches without body: {c['matches_without_body']} (erased: {c.get('erased', '?')})")
    st = rep.completeness.get("statement")
    if st:
        out.append(f"bundle's statement: {st}")
    out.append(f"completeness: {completeness_sentence(rep)}")
    if rep.ok:
        out.append("RESULT: OK, the bundle verifies.")
    else:
        out.append(f"RESULT: FAILED, {len(rep.failures)} problem(s):")
        for f in rep.failures:
            out.append(f"  - {f}")
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="sealtrail_verify.py",
                                 description="Verify a sealtrail evidence bundle (format v1 or v2).")
    ap.add_argument("bundle", help="the bundle (.zip)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--vkey", help="the log's verifier key, <name>+<hex8>+<base64>")
    g.add_argument("--vkey-file", help="a file of verifier keys, one per line")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--jobs", type=int, default=None,
                    help="processes checking lines (format v2); default: 1 (see SPEC-NOTES.md)")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        import cryptography  # noqa: F401
    except ImportError:
        print("error: the `cryptography` package is needed (pip install cryptography)", file=sys.stderr)
        return 2
    if args.jobs is None:
        args.jobs = 1
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    trusted = None
    try:
        if args.vkey is not None:
            trusted = [parse_vkey(args.vkey)]
        elif args.vkey_file is not None:
            with open(args.vkey_file, "r", encoding="utf-8") as fh:
                trusted = parse_vkeys(fh.read())
    except (OSError, UnicodeDecodeError, VerifyError) as e:
        print(f"error: verifier key: {e}", file=sys.stderr)
        return 2
    try:
        fh = open(args.bundle, "rb")
    except OSError as e:
        print(f"error: cannot read {args.bundle}: {e}", file=sys.stderr)
        return 2
    with fh:
        rep = verify_bundle(fh, trusted, jobs=args.jobs)
    if args.json:
        print(json.dumps(rep.to_json(), ensure_ascii=False, indent=None))
    else:
        print(render_text(args.bundle, rep))
    if trusted is None and not args.json:
        print("WARNING: checked against the key inside the bundle; pass --vkey to trust the log's real key.",
              file=sys.stderr)
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
