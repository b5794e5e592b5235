#!/usr/bin/env python3
"""Independent verifier for sealtrail evidence bundles (format v1).

Written from docs/formats.md alone (§1 hashing, §4 headers, §5 notes, keys and
checkpoints, §7 tlog-proof, §8 stream heads, §9 bundles), not from the Rust
implementation, so that two implementations of the specification can be
checked against each other.  Where the specification left a choice open, the
decision taken here is written down in SPEC-NOTES.md next to this file.

Usage:
    python3 sealtrail_verify.py BUNDLE.zip [--vkey VKEY | --vkey-file FILE] [--json]

Exit status: 0 the bundle verifies, 1 verification failed (including a bundle
that is not a readable ZIP), 2 usage error or input that cannot be read (no
such file, a malformed verifier key).

Standard library only, plus `cryptography` for Ed25519.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import math
import re
import sys
import zipfile
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
BUNDLE_VERSION = 1
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
    """Standard base64 (RFC 4648 §4), padded, canonical (re-encodes to itself)."""
    if not _B64_RE.match(s) or len(s) % 4:
        raise VerifyError(f"{what}: not standard padded base64")
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise VerifyError(f"{what}: not base64 ({e})") from None
    if base64.b64encode(raw).decode("ascii") != s:
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
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VerifyError(f"proof is not valid UTF-8 (byte {e.start})") from None
    head, sep, rest = s.partition("\n\n")
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
    return TlogProof(index, path, extra, rest.encode("utf-8"))


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

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, entry: Optional[int], member: Optional[str], reason: str) -> None:
        self.failures.append(Failure(entry, member, reason))

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)

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

class Entry:
    """One line of entries.jsonl, with what could be decoded of it."""

    def __init__(self, line_no: int):
        self.line_no = line_no
        self.index: Optional[int] = None
        self.role: Optional[str] = None
        self.header_bytes: Optional[bytes] = None
        self.header: Optional[Dict[str, Any]] = None  # decoded and schema-checked
        self.salt: Optional[str] = None
        self.body: Optional[str] = None

    @property
    def time(self) -> Optional[int]:
        return self.header.get("time") if self.header else None


def decode_header(hb: bytes) -> Dict[str, Any]:
    """Decode entry bytes, refuse a non-canonical encoding, check the types."""
    if len(hb) > MAX_ENTRY_BYTES:
        raise VerifyError(f"header is {len(hb)} bytes, above the {MAX_ENTRY_BYTES}-byte entry limit")
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
    if h["index"] == 0:
        if "prev" in h:
            raise VerifyError("header.prev is present at index 0")
    else:
        hex32(h.get("prev"), "header.prev")
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
        if "prev" in link and (not _is_uint(link["prev"]) or link["prev"] >= h["index"]):
            raise VerifyError(f"header.streams.{f}.prev is not an earlier index")
        if ("prev" in link) != (link["n"] > 1):
            raise VerifyError(f"header.streams.{f}: prev must be present exactly when n > 1")
    if "agent" not in streams:
        raise VerifyError("header.streams.agent is missing")
    if ("session" in streams) != ("session" in h):
        raise VerifyError("header.streams.session is present exactly when header.session is")
    return h


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
# §9 The bundle
# ---------------------------------------------------------------------------

def _proof_member(index: int) -> str:
    return f"proofs/{index}.tlog-proof"


def _read_zip(data: bytes, rep: Report) -> Optional[Dict[str, bytes]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as e:  # BadZipFile, NotImplementedError (odd versions), OSError, EOFError …
        rep.fail(None, None, f"bundle is not a readable ZIP file (truncated or damaged?): {e}")
        try:
            return _salvage_zip(data, rep)
        except Exception as e2:  # a damaged file must never crash the verifier
            rep.fail(None, None, f"ZIP members cannot be recovered: {e2!r}")
            return None
    members: Dict[str, bytes] = {}
    seen = set()
    for info in zf.infolist():
        name = info.filename
        entry = _entry_of_member(name)
        if name in seen:
            rep.fail(entry, name, "the ZIP holds this member more than once")
            continue
        seen.add(name)
        if name.endswith("/"):
            continue
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            rep.fail(entry, name, f"compression method {info.compress_type} (only stored and deflate are allowed)")
            continue
        try:
            members[name] = zf.read(info)
        except Exception as e:  # BadZipFile (CRC), zlib.error, RuntimeError (encrypted), EOFError …
            rep.fail(entry, name, f"member cannot be read from the ZIP: {e}")
    return members


def _salvage_zip(data: bytes, rep: Report) -> Optional[Dict[str, bytes]]:
    """Read a ZIP without its central directory, member after member from the
    local headers (§9: writers put the small members first, then
    entries.jsonl, then the proofs in index order, so a truncated bundle still
    shows which entries it lost).  Every member recovered is CRC-checked; the
    rest of the verification then runs on what was recovered, so each lost
    proof is reported against its entry."""
    import struct
    import zlib
    members: Dict[str, bytes] = {}
    pos = 0
    while pos + 30 <= len(data) and data[pos:pos + 4] == b"PK\x03\x04":
        (_, _, flags, method, _, _, crc, csize, usize, nlen, xlen) = struct.unpack(
            "<IHHHHHIIIHH", data[pos:pos + 30])
        name_b = data[pos + 30:pos + 30 + nlen]
        if len(name_b) < nlen:
            break
        name = name_b.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        extra = data[pos + 30 + nlen:pos + 30 + nlen + xlen]
        start = pos + 30 + nlen + xlen
        if start > len(data):
            rep.fail(_entry_of_member(name), name, "member cut off by the truncation")
            break
        if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:  # zip64 sizes in the extra field
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
        entry = _entry_of_member(name)
        if method not in (0, 8):
            rep.fail(entry, name, f"compression method {method} (only stored and deflate are allowed)")
            break
        if flags & 0x08:  # sizes follow the data (data descriptor)
            if method != 8:
                rep.fail(entry, name, "stored member with a data descriptor cannot be recovered without the central directory")
                break
            d = zlib.decompressobj(-15)
            try:
                content = d.decompress(data[start:])
            except zlib.error as e:
                rep.fail(entry, name, f"member cannot be recovered: {e}")
                break
            if not d.eof:
                rep.fail(entry, name, "member cut off by the truncation")
                break
            end = len(data) - len(d.unused_data)
            desc = data[end:end + 4]
            end += 4 if desc == b"PK\x07\x08" else 0
            crc = struct.unpack("<I", data[end:end + 4])[0] if end + 4 <= len(data) else None
            nxt = end + 12
            if data[nxt:nxt + 4] not in (b"PK\x03\x04", b"PK\x01\x02") and data[end + 20:end + 24] in (b"PK\x03\x04", b"PK\x01\x02"):
                nxt = end + 20  # zip64 descriptor
        else:
            end = start + csize
            if end > len(data):
                rep.fail(entry, name, "member cut off by the truncation")
                break
            raw = data[start:end]
            try:
                content = zlib.decompress(raw, -15) if method == 8 else raw
            except zlib.error as e:
                rep.fail(entry, name, f"member cannot be recovered: {e}")
                pos = end
                continue
            nxt = end
        if crc is None or zlib.crc32(content) & 0xFFFFFFFF != crc:
            rep.fail(entry, name, "member fails its CRC-32 check")
        elif name in members:
            rep.fail(entry, name, "the ZIP holds this member more than once")
        elif not name.endswith("/"):
            members[name] = content
        pos = nxt
    if not members:
        return None
    rep.warn(f"recovered {len(members)} member(s) from the ZIP's local headers; anything after them is lost")
    return members


def _entry_of_member(name: str) -> Optional[int]:
    m = re.match(r"^proofs/(0|[1-9][0-9]*)\.tlog-proof$", name)
    return int(m.group(1)) if m else None


def verify_bundle(data: bytes, trusted_keys: Optional[List[VerifierKey]] = None) -> Report:
    """Verify a bundle's bytes; every failure found is in the report."""
    rep = Report()
    members = _read_zip(data, rep)
    if members is None:
        return rep
    _Verifier(members, trusted_keys, rep).run()
    return rep


class _Verifier:
    def __init__(self, members: Dict[str, bytes], trusted: Optional[List[VerifierKey]], rep: Report):
        self.m, self.trusted, self.rep = members, trusted, rep
        self.manifest: Dict[str, Any] = {}
        self.query: Dict[str, Any] = {}
        self.ckpt: Optional[Checkpoint] = None
        self.ckpt_bytes: Optional[bytes] = None
        self.entries: List[Entry] = []

    def fail(self, entry, member, reason):
        self.rep.fail(entry, member, reason)

    # -- 1. manifest ---------------------------------------------------------
    def read_manifest(self) -> bool:
        raw = self.m.get("manifest.json")
        if raw is None:
            self.fail(None, "manifest.json", "missing")
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
        if not _is_uint(v) or v != BUNDLE_VERSION:
            if _is_uint(v) and v > BUNDLE_VERSION:
                self.fail(None, "manifest.json", f"bundle version {v} is not supported (this verifier reads version {BUNDLE_VERSION})")
            else:
                self.fail(None, "manifest.json", f"v is {v!r}, not {BUNDLE_VERSION}")
            ok = False
        for k in MANIFEST_REQUIRED:
            if k not in man:
                self.fail(None, "manifest.json", f"{k} is missing")
                ok = False
        for k in man:
            if k not in MANIFEST_REQUIRED and k not in MANIFEST_OPTIONAL:
                self.fail(None, "manifest.json", f"{k} is not a member of bundle format v{BUNDLE_VERSION}")
                ok = False
        q = man.get("query")
        if not isinstance(q, dict):
            self.fail(None, "manifest.json", "query is missing or not an object")
            q = {}
        for k in QUERY_KEYS:
            if k not in q:
                self.fail(None, "manifest.json", f"query.{k} is missing (every filter is present, null when not set)")
        for k, val in q.items():
            if k not in QUERY_KEYS:
                self.fail(None, "manifest.json", f"query.{k} is not a filter of bundle format v{BUNDLE_VERSION}"
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

    # -- 2. checkpoint -------------------------------------------------------
    def read_checkpoint(self):
        raw = self.m.get("checkpoint")
        if raw is None:
            self.fail(None, "checkpoint", "missing")
            return
        self.ckpt_bytes = raw
        keys = self.trusted
        if keys is None:
            vraw = self.m.get("keys/log.vkey")
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
            vraw = self.m.get("keys/log.vkey")
            if vraw is not None:
                try:
                    bundled = {k.text for k in parse_vkeys(vraw.decode("utf-8"))}
                    if not any(k.text in bundled for k in keys):
                        self.rep.warn("keys/log.vkey does not list the trusted key")
                except (UnicodeDecodeError, VerifyError) as e:
                    self.rep.warn(f"keys/log.vkey is unusable: {e}")
        text = None
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
        if self.rep.signers and not any(k.name == ck.origin for k in opened.signers):
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

    # -- 3. entries ----------------------------------------------------------
    def read_entries(self):
        raw = self.m.get("entries.jsonl")
        if raw is None:
            self.fail(None, "entries.jsonl", "missing")
            return
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        prev_index = None
        for no, line_b in enumerate(lines, 1):
            where = f"entries.jsonl line {no}"
            if not line_b.strip():
                self.rep.warn(f"{where} is blank (skipped)")
                continue
            e = Entry(no)
            try:
                line = line_b.decode("utf-8")
            except UnicodeDecodeError as err:
                self.fail(None, where, f"line is not valid UTF-8 (byte {err.start})")
                self.entries.append(e)
                continue
            try:
                obj = strict_json_loads(line)
            except VerifyError as err:
                self.fail(None, where, f"line does not parse: {err}")
                self.entries.append(e)
                continue
            if not isinstance(obj, dict):
                self.fail(None, where, "line is not a JSON object")
                self.entries.append(e)
                continue
            idx = obj.get("index")
            if not _is_uint(idx):
                self.fail(None, where, "index is missing or not a non-negative integer")
            else:
                e.index = idx
                where = f"entries.jsonl line {no}"
                if prev_index is not None and idx <= prev_index:
                    self.fail(idx, where, f"index {idx} does not follow {prev_index} (indexes must strictly increase)")
                prev_index = idx if prev_index is None else max(prev_index, idx)
            for k in obj:
                if k not in LINE_KEYS:
                    self.fail(e.index, where, f"{k} is not a member of an entry line (format v{BUNDLE_VERSION})")
            role = obj.get("role")
            if role not in ROLES:
                self.fail(e.index, where, f"role {role!r} is not one of {', '.join(ROLES)}")
            else:
                e.role = role
            hs = obj.get("header")
            if not isinstance(hs, str):
                self.fail(e.index, where, "header is missing or not a string")
            else:
                try:
                    e.header_bytes = hs.encode("utf-8")
                except UnicodeEncodeError:
                    self.fail(e.index, where, "header holds a lone surrogate (not UTF-8)")
            for k in ("salt", "body"):
                if k not in obj:
                    self.fail(e.index, where, f"{k} is missing (null when there is none)")
                elif obj[k] is not None and not isinstance(obj[k], str):
                    self.fail(e.index, where, f"{k} is not a string or null")
            e.salt = obj.get("salt") if isinstance(obj.get("salt"), str) else None
            e.body = obj.get("body") if isinstance(obj.get("body"), str) else None
            self.entries.append(e)
            self.check_entry(e, where)

    def check_entry(self, e: Entry, where: str):
        idx = e.index
        # the header
        if e.header_bytes is not None:
            try:
                h = decode_header(e.header_bytes)
                if idx is None:
                    pass
                elif h["index"] != idx:
                    self.fail(idx, where, f"header.index is {h['index']}, the line says {idx}")
                else:
                    e.header = h
            except VerifyError as err:
                self.fail(idx, where, str(err))
        # the proof
        if idx is not None and e.header_bytes is not None:
            self.check_proof(e)
        # the body
        if (e.salt is None) != (e.body is None):
            self.fail(idx, where, "salt and body must be both present or both null")
        elif e.body is not None:
            self.check_body(e, where)

    def check_proof(self, e: Entry):
        name = _proof_member(e.index)
        raw = self.m.get(name)
        if raw is None:
            self.fail(e.index, name, "missing: every entry needs an inclusion proof")
            return
        try:
            p = parse_tlog_proof(raw)
        except VerifyError as err:
            self.fail(e.index, name, f"malformed: {err}")
            return
        if p.index != e.index:
            self.fail(e.index, name, f"proof is for index {p.index}, not {e.index}")
        if self.ckpt_bytes is not None and p.checkpoint != self.ckpt_bytes:
            self.fail(e.index, name, "the checkpoint in the proof is not byte-identical to `checkpoint`")
        if self.ckpt is None:
            return
        try:
            verify_inclusion(leaf_hash(e.header_bytes), e.index, self.ckpt.size, p.path, self.ckpt.root)
        except VerifyError as err:
            self.fail(e.index, name, f"entry is not proven in the checkpoint: {err}")

    def check_body(self, e: Entry, where: str):
        idx = e.index
        try:
            salt = hex32(e.salt, "salt")
        except VerifyError as err:
            self.fail(idx, where, str(err))
            return
        try:
            body_bytes = e.body.encode("utf-8")
        except UnicodeEncodeError:
            self.fail(idx, where, "body holds a lone surrogate (not UTF-8)")
            return
        if e.header is not None:
            if sha256(salt + body_bytes).hex() != e.header["body"]:
                self.fail(idx, where, "body commitment: SHA-256(salt ‖ body) differs from header.body")
        try:
            ev = strict_json_loads(e.body)
        except VerifyError as err:
            self.fail(idx, where, f"body: {err}")
            return
        if not isinstance(ev, dict):
            self.fail(idx, where, "body is not a JSON object")
            return
        try:
            if jcs(ev) != body_bytes:
                self.rep.warn(f"entry {idx}: body is not in RFC 8785 canonical form (its commitment still verifies)")
        except VerifyError as err:
            self.rep.warn(f"entry {idx}: body cannot be canonicalized: {err}")
        if e.header is None:
            return
        h = e.header
        agent = ev.get("agent")
        agent_id = agent.get("id") if isinstance(agent, dict) else None
        pairs = [("agent.id", agent_id, "agent", h.get("agent")),
                 ("kind", ev.get("kind"), "kind", h.get("kind")),
                 ("id", ev.get("id"), "event_id", h.get("event_id")),
                 ("session", ev.get("session"), "session", h.get("session"))]
        for bname, bval, hname, hval in pairs:
            if bval != hval:
                self.fail(idx, where, f"body {bname} = {bval!r} disagrees with header {hname} = {hval!r}")

    def orphan_proofs(self):
        """§9: other members are ignored (a proof without a line is harmless);
        they are mentioned as warnings only."""
        listed = {e.index for e in self.entries if e.index is not None}
        known = {"manifest.json", "checkpoint", "keys/log.vkey", "entries.jsonl", "completeness.json", "README.md"}
        for name in sorted(self.m):
            i = _entry_of_member(name)
            if i is not None:
                if i not in listed:
                    self.rep.warn(f"{name}: a proof for index {i}, which entries.jsonl does not list (ignored)")
            elif name not in known:
                self.rep.warn(f"{name}: member not in the bundle format (ignored)")

    # -- 4. query and counts -------------------------------------------------
    def check_matches_and_counts(self):
        q = self.query
        matches = [e for e in self.entries if e.role == "match"]
        for e in matches:
            if e.header is None:
                continue
            why = matches_query(e.header, q)
            if why:
                self.fail(e.index, "entries.jsonl", "role match, but the entry does not satisfy the query: " + "; ".join(why))
        with_body = [e for e in self.entries if e.body is not None and e.salt is not None]
        matches_no_body = [e for e in matches if e.body is None]
        counts = {"entries": len(self.entries), "matches": len(matches), "bodies": len(with_body),
                  "matches_without_body": len(matches_no_body)}
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
            if wb is False and with_body:
                self.rep.warn(f"with_bodies is false, yet {len(with_body)} line(s) carry a body (checked all the same)")
            want_erased = len(matches_no_body) if wb is True else 0
            er = mc.get("erased")
            if er != want_erased or not _is_uint(er):
                why = (f"{len(matches_no_body)} match lines have no body" if wb is True
                       else "with_bodies is not true, so withheld bodies are not erased")
                self.fail(None, "manifest.json", f"counts.erased is {er!r}, expected {want_erased} ({why})")
            counts["erased"] = er if _is_uint(er) else None
            counts["with_bodies"] = wb
        idxs = [e.index for e in matches if e.index is not None]
        for k, want in (("first_index", min(idxs) if idxs else None), ("last_index", max(idxs) if idxs else None)):
            got = self.manifest.get(k)
            if got != want:
                self.fail(None, "manifest.json", f"{k} is {got!r}, the bundle's {'first' if k[0] == 'f' else 'last'} match is {want!r}")
        # header times never decrease along the log (§4)
        ordered = sorted((e for e in self.entries if e.header is not None), key=lambda e: e.index)
        for a, b in zip(ordered, ordered[1:]):
            if b.time < a.time:
                self.fail(b.index, "entries.jsonl", f"header time {b.time} is before entry {a.index}'s {a.time}: times must not decrease along the log")
        # before/after: at most one each, at the ends
        for role in ("before", "after"):
            rs = [e for e in self.entries if e.role == role]
            for e in rs[1:]:
                self.fail(e.index, "entries.jsonl", f"more than one {role!r} entry")

    # -- 5. completeness -----------------------------------------------------
    def check_completeness(self):
        c = self.manifest.get("completeness")
        comp = self.rep.completeness
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
            if stream is not None or has_range:
                self.fail(None, "manifest.json", "completeness.proven is false, yet it names a "
                          + ("stream" if stream is not None else "range") + " (§9.2: absent or null)")
            if "completeness.json" in self.m:
                self.rep.warn("completeness.json is present although completeness is not claimed")
            self._no_roles_without_completeness()
            return
        if stream is not None and has_range:
            self.fail(None, "manifest.json", "completeness claims both a stream and a range")
            return
        n_before = len(self.rep.failures)
        if stream is not None:
            comp["kind"] = "stream"
            comp["stream"] = stream
            self.stream_completeness(stream)
        elif has_range:
            comp["kind"] = "range"
            self.range_completeness()
        else:
            self.fail(None, "manifest.json", "completeness.proven is true but names neither a stream nor a range")
            return
        # shown only if nothing at all failed: an entry that did not decode is
        # left out of the chain (and fails there), but say so plainly
        comp["verified"] = len(self.rep.failures) == n_before and not self.rep.failures

    def _no_roles_without_completeness(self):
        for e in self.entries:
            if e.role in ("before", "after", "stream"):
                self.rep.warn(f"entry {e.index}: role {e.role!r} in a bundle that claims no completeness")

    def _chain_sorted(self, es):
        return sorted(es, key=lambda e: e.index)

    def stream_completeness(self, stream: Any):
        M = "entries.jsonl"
        if not isinstance(stream, str) or not (stream.startswith("a:") or stream.startswith("s:")):
            self.fail(None, "manifest.json", f"completeness.stream {stream!r} is not a:<agent> or s:<session>")
            return
        f = "agent" if stream.startswith("a:") else "session"
        sid = stream[2:]
        q = self.query
        if q.get(f) != sid:
            self.fail(None, "manifest.json", f"completeness.stream is {stream!r} but query.{f} is {q.get(f)!r}")
        frm, to = q.get("from"), q.get("to")
        chain = self._chain_sorted([e for e in self.entries if e.header is not None and e.role is not None
                                    and e.index is not None])
        for i, e in enumerate(chain):
            h = e.header
            if h.get(f) != sid:
                self.fail(e.index, M, f"header {f} is {h.get(f)!r}: not an entry of stream {stream!r}")
            if e.role == "before" and i != 0:
                self.fail(e.index, M, "the 'before' entry is not the first of the chain")
            if e.role == "after" and i != len(chain) - 1:
                self.fail(e.index, M, "the 'after' entry is not the last of the chain")
            if e.role in ("match", "stream"):
                if (frm is not None and h["time"] < frm) or (to is not None and h["time"] >= to):
                    self.fail(e.index, M, f"role {e.role}, but time {h['time']} is outside [from, to)")
            if e.role == "stream" and not matches_query(h, q):
                self.fail(e.index, M, "role stream, but the entry satisfies the query: a match shown without its body")
            if e.role == "before" and (frm is None or h["time"] >= frm):
                self.fail(e.index, M, f"'before' entry's time {h['time']} is not before from = {frm!r}")
            if e.role == "after" and (to is None or h["time"] < to):
                self.fail(e.index, M, f"'after' entry's time {h['time']} is not at or after to = {to!r}")
        links = [(e, e.header["streams"].get(f)) for e in chain]
        for e, link in links:
            if link is None:
                self.fail(e.index, M, f"header has no streams.{f} link")
        for (x, lx), (y, ly) in zip(links, links[1:]):
            if lx is None or ly is None:
                continue
            if ly.get("prev") != x.index:
                missing = ly.get("prev")
                concern = missing if _is_uint(missing) and x.index < missing < y.index else y.index
                self.fail(concern, M, f"chain broken at entry {y.index}: its streams.{f}.prev is {ly.get('prev')!r}, but the "
                                     f"previous chain entry is {x.index} (entries of the stream are missing)")
            elif ly["n"] != lx["n"] + 1:
                self.fail(y.index, M, f"chain broken: streams.{f}.n is {ly['n']}, expected {lx['n'] + 1} after entry {x.index}")
        if chain:
            first, lf = links[0]
            if first.role != "before" and lf is not None and ("prev" in lf or lf["n"] != 1):
                self.fail(first.index, M, f"the chain starts at an entry with streams.{f}.prev = {lf.get('prev')!r} "
                                          f"(n = {lf['n']}) and no 'before' entry: earlier entries of the stream are missing")
        has_after = any(e.role == "after" for e in chain)
        cj = self.m.get("completeness.json")

        def no_head(member, reason):
            self.fail(None, member, reason)
            if not has_after and chain:
                self.fail(chain[-1].index, member,
                          f"no 'after' entry and no verified heads proof: entries of {stream!r} after entry "
                          f"{chain[-1].index} could have been left out")

        if cj is None:
            no_head("completeness.json", "missing (§9: present when the bundle claims completeness for a stream)"
                    + ("" if has_after else "; with no 'after' entry, a heads proof must show the stream's last entry"))
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
                self.fail(None, "completeness.json", f"{k} is not a member of completeness.json (format v{BUNDLE_VERSION})")
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
        if not chain:
            if head is not None:
                self.fail(head[1], "completeness.json", f"the bundle shows no entry of {stream!r}, but its head is "
                                                        f"entry {head[1]} (n = {head[0]}): entries are missing")
            return
        last, ll = links[-1]
        if head is None:
            self.fail(last.index, "completeness.json", f"the heads proof shows no entry of {stream!r} below the checkpoint size")
        elif ll is not None and (head[1] != last.index or head[0] != ll["n"]):
            self.fail(head[1], "completeness.json",
                      f"the stream's head is entry {head[1]} (n = {head[0]}), but the chain ends at entry "
                      f"{last.index} (n = {ll['n']}): later entries of the stream are missing")

    def range_completeness(self):
        M = "entries.jsonl"
        q = self.query
        frm, to = q.get("from"), q.get("to")
        for k in QUERY_FILTERS:
            if q.get(k) is not None:
                self.fail(None, "manifest.json", f"range completeness with a filter on {k}: only time may be filtered")
        es = self._chain_sorted([e for e in self.entries if e.index is not None and e.role is not None
                                 and e.header is not None])
        for e in es:
            if e.role == "stream":
                self.fail(e.index, M, "role 'stream' in a range bundle (every entry in range is a match)")
        matches = [e for e in es if e.role == "match"]
        befores = [e for e in es if e.role == "before"]
        afters = [e for e in es if e.role == "after"]
        size = self.ckpt.size if self.ckpt else None
        if matches:
            lo, hi = matches[0].index, matches[-1].index + 1
            for a, b in zip(matches, matches[1:]):
                if b.index != a.index + 1:
                    missing = f"{a.index + 1}" if b.index == a.index + 2 else f"{a.index + 1}…{b.index - 1}"
                    self.fail(a.index + 1, M, f"range broken: entries {missing} are missing between matches {a.index} and {b.index}")
        else:
            # no match: the range is empty; its neighbours must touch
            lo = befores[0].index + 1 if befores else (afters[0].index if afters else 0)
            hi = lo
        # before: exactly one, at lo - 1, unless the range starts at index 0
        if lo > 0 and not any(e.index == lo - 1 for e in befores):
            self.fail(lo - 1, M, f"no 'before' entry at index {lo - 1}: the entries before the range are not shown to be outside it")
        for e in befores:
            if e.index != lo - 1:
                self.fail(e.index, M, f"'before' entry at index {e.index}; the range starts at {lo}, so it must be at {lo - 1}" if lo > 0
                          else f"'before' entry at index {e.index} although the range starts at index 0")
            elif e.header is not None and (frm is None or e.time >= frm):
                self.fail(e.index, M, f"'before' entry's time {e.time} is not before from = {frm!r}")
        # after: exactly one, at hi, unless the range reaches the checkpoint size
        if size is not None and hi > size:
            self.fail(hi - 1, M, f"the range extends past the checkpoint size {size}")
        if size is not None and hi < size and not any(e.index == hi for e in afters):
            self.fail(hi, M, f"no 'after' entry at index {hi}: the entries after the range are not shown to be outside it")
        for e in afters:
            if size is not None and hi >= size:
                self.fail(e.index, M, f"'after' entry at index {e.index} although the range reaches the checkpoint size {size}")
            elif e.index != hi:
                self.fail(e.index, M, f"'after' entry at index {e.index}; the range ends before {hi}, so it must be at {hi}")
            elif e.header is not None and (to is None or e.time < to):
                self.fail(e.index, M, f"'after' entry's time {e.time} is not at or after to = {to!r}")

    def run(self):
        for step in (self.read_manifest, self.read_checkpoint, self.read_entries, self.orphan_proofs,
                     self.check_matches_and_counts, self.check_completeness):
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
                                 description="Verify a sealtrail evidence bundle (format v1).")
    ap.add_argument("bundle", help="the bundle (.zip)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--vkey", help="the log's verifier key, <name>+<hex8>+<base64>")
    g.add_argument("--vkey-file", help="a file of verifier keys, one per line")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        import cryptography  # noqa: F401
    except ImportError:
        print("error: the `cryptography` package is needed (pip install cryptography)", file=sys.stderr)
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
        with open(args.bundle, "rb") as fh:
            data = fh.read()
    except OSError as e:
        print(f"error: cannot read {args.bundle}: {e}", file=sys.stderr)
        return 2
    rep = verify_bundle(data, trusted)
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
