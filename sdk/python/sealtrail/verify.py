"""Offline verification of sealtrail receipts (needs ``cryptography``:
``pip install sealtrail[verify]``).

- ``verify_receipt(result, vkey)``: a receipt from ``POST /v1/events?wait=checkpoint``
  (``{"status", "index", "leaf_hash", "time", "proof"}``): the proof is a
  ``c2sp.org/tlog-proof@v1`` text (docs/formats.md §7) whose checkpoint must be
  signed by the log key ``vkey`` (§5, C2SP signed note, Ed25519) and whose
  RFC 6962 inclusion path must lead from ``leaf_hash`` at ``index`` to the
  checkpoint's root.
- ``verify_entry(entry, event=None)``: an entry from ``GET /v1/events?include=body``:
  its leaf hash is SHA-256(0x00 ‖ JCS(header)), its header's ``body`` commitment
  is SHA-256(salt ‖ JCS(event)), and (if given) the event is the one we sent.

The primitives are taken from the project's independent verifier
(verifiers/python/sealtrail_verify.py), written from docs/formats.md. They are
copied on purpose, not imported: that verifier is one standalone file an
auditor downloads and reads on its own, and this package must not depend on a
file outside it. A fix to one of them belongs in both (the verifier's test
vectors cover the shared primitives).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from typing import Any, Dict, List, Optional, Union

SIG_ED25519 = 0x01
HEADS_EXTENSION = "sealtrail-stream-heads/v1"
MAX_NOTE_SIGNATURES = 100
MAX_SAFE_INTEGER = 2 ** 53
EM_DASH_PREFIX = "\u2014 "

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


# ---------------------------------------------------------------------------
# The SDK's entry points
# ---------------------------------------------------------------------------

def _key(vkey: Union[str, VerifierKey]) -> VerifierKey:
    return vkey if isinstance(vkey, VerifierKey) else parse_vkey(vkey)


def verify_receipt(result: Dict[str, Any], vkey: Union[str, VerifierKey]) -> Checkpoint:
    """Verify a sealed (or duplicate) receipt that carries a ``proof``; returns
    the checkpoint it is proven against. Raises VerifyError."""
    key = _key(vkey)
    proof_text = result.get("proof")
    if not isinstance(proof_text, str):
        raise VerifyError("receipt has no proof (send with wait_checkpoint=True)")
    leaf = hex32(result.get("leaf_hash"), "receipt leaf_hash")
    index = result.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise VerifyError("receipt index is not a non-negative integer")
    proof = parse_tlog_proof(proof_text.encode("utf-8"))
    if proof.index != index:
        raise VerifyError(f"proof is for index {proof.index}, the receipt says {index}")
    opened = open_note(proof.checkpoint, [key])
    cp = parse_checkpoint(opened.text)
    if cp.origin != key.name:
        raise VerifyError(f"checkpoint origin {cp.origin!r} is not the key's name {key.name!r}")
    verify_inclusion(leaf, index, cp.size, proof.path, cp.root)
    return cp


def verify_entry(entry: Dict[str, Any], event: Optional[Dict[str, Any]] = None) -> bytes:
    """Check an entry of ``GET /v1/events?include=body``: the header hashes to
    ``leaf_hash`` and commits to the returned (or the given) event with the
    salt. Returns the leaf hash. Raises VerifyError."""
    header = entry.get("header")
    if not isinstance(header, dict):
        raise VerifyError("entry has no header")
    leaf = leaf_hash(jcs(header))
    if "leaf_hash" in entry and leaf != hex32(entry["leaf_hash"], "entry leaf_hash"):
        raise VerifyError("header does not hash to the entry's leaf_hash")
    body = event if event is not None else entry.get("event")
    if body is None:
        raise VerifyError("entry has no body (erased, or not asked for with include=body)")
    if event is not None and entry.get("event") is not None and jcs(entry["event"]) != jcs(event):
        raise VerifyError("the stored event differs from the one given")
    salt = bytes.fromhex(entry.get("salt") or "")
    if len(salt) != 32:
        raise VerifyError("entry salt is not 32 bytes")
    if sha256(salt + jcs(body)) != hex32(header.get("body"), "header body"):
        raise VerifyError("the event does not match the header's body commitment")
    return leaf
