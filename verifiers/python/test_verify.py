#!/usr/bin/env python3
"""Tests for sealtrail_verify.py (unittest; run: python3 -m unittest -v verifiers/python/test_verify.py).

Bundles are built here from scratch, from docs/formats.md, with helpers that
deliberately do not reuse the verifier's own code (hashing trees, canonical
JSON, notes): a bug shared by builder and verifier would hide itself.
"""

import base64
import bisect
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile
import zlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sealtrail_verify as sv  # noqa: E402

SCRIPT = os.path.join(HERE, "sealtrail_verify.py")
ONE = b"\x01"


# ---------------------------------------------------------------------------
# Independent builders
# ---------------------------------------------------------------------------

def H(b):
    return hashlib.sha256(b).digest()


def canon(v):
    """RFC 8785 for what the builder produces (ASCII keys, strings, ints)."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def mth(leaves):
    """RFC 6962 §2.1 Merkle tree hash over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return H(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return H(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m, leaves):
    """RFC 6962 §2.1.1 PATH(m, D[n]), leaf sibling first."""
    n = len(leaves)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def b64(b):
    return base64.b64encode(b).decode()


class Log:
    """A tiny in-memory sealtrail log: headers, bodies, tree, heads, notes."""

    def __init__(self, origin="log.example.test/audit"):
        self.origin = origin
        self.sk = Ed25519PrivateKey.generate()
        self.pub = self.sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.kid = H(origin.encode() + b"\n\x01" + self.pub)[:4]
        self.vkey = f"{origin}+{self.kid.hex()}+{b64(ONE + self.pub)}"
        self.entries = []  # dicts: header, hbytes, salt, body
        self.heads = {}  # stream key -> (n, last)

    def append(self, time, agent, kind="tool_call", session=None, event_id=None, tool=None,
               action=None, outcome=None, data_classes=None, subjects=None, scope=None):
        index = len(self.entries)
        ev = {"agent": {"id": agent}, "kind": kind}
        if event_id is not None:
            ev["id"] = event_id
        if session is not None:
            ev["session"] = session
        if tool is not None:
            ev["tool"] = {"name": tool}
        if action is not None:
            ev["action"] = action
        if outcome is not None:
            ev["outcome"] = outcome
        body = canon(ev)
        salt = os.urandom(32)
        h = {"v": 1, "index": index, "time": time, "agent": agent, "kind": kind,
             "body": H(salt + body).hex()}
        if index > 0:
            h["prev"] = H(b"\x00" + self.entries[-1]["hbytes"]).hex()
        for k, v in (("session", session), ("event_id", event_id), ("tool", tool), ("action", action),
                     ("outcome", outcome), ("data_classes", data_classes), ("subjects", subjects),
                     ("scope", scope)):
            if v is not None:
                h[k] = v
        streams = {}
        for f, key in (("agent", "a:" + agent), ("session", None if session is None else "s:" + session)):
            if key is None:
                continue
            n, last = self.heads.get(key, (0, None))
            link = {"n": n + 1}
            if last is not None:
                link["prev"] = last
            streams[f] = link
            self.heads[key] = (n + 1, index)
        h["streams"] = streams
        self.entries.append({"header": h, "hbytes": canon(h), "salt": salt, "body": body})
        return index

    # tree
    def leaves(self, size):
        return [H(b"\x00" + e["hbytes"]) for e in self.entries[:size]]

    def root(self, size):
        return mth(self.leaves(size))

    # heads (§8)
    def heads_at(self, size):
        heads = {}
        for e in self.entries[:size]:
            h = e["header"]
            for f, pre in (("agent", "a:"), ("session", "s:")):
                if f in h["streams"]:
                    heads[pre + h[f]] = (h["streams"][f]["n"], h["index"])
        return heads

    def heads_tree(self, size):
        buckets = {}
        for key, (n, last) in self.heads_at(size).items():
            kh = H(key.encode())
            buckets.setdefault(kh[0] * 256 + kh[1], []).append((kh, n, last))
        level = {}
        for b, recs in buckets.items():
            recs.sort()
            level[b] = H(b"\x00" + b"".join(k + n.to_bytes(8, "big") + l.to_bytes(8, "big") for k, n, l in recs))
        default = [H(b"\x00")]
        levels = [level]
        for _ in range(16):
            up = {}
            for i in {j // 2 for j in level}:
                up[i] = H(b"\x01" + level.get(2 * i, default[-1]) + level.get(2 * i + 1, default[-1]))
            default.append(H(b"\x01" + default[-1] + default[-1]))
            level = up
            levels.append(level)
        root = levels[16].get(0, default[16])
        return buckets, levels, default, root

    def heads_proof(self, key, size):
        buckets, levels, default, _ = self.heads_tree(size)
        kh = H(key.encode())
        b = kh[0] * 256 + kh[1]
        recs = sorted(buckets.get(b, []))
        p, i = [], b
        for lv in range(16):
            p.append(b64(levels[lv].get(i ^ 1, default[lv])))
            i //= 2
        return {"bucket": b, "records": [{"key": k.hex(), "n": n, "last": l} for k, n, l in recs], "path": p}

    def note_text(self, size):
        _, _, _, hroot = self.heads_tree(size)
        return f"{self.origin}\n{size}\n{b64(self.root(size))}\nsealtrail-stream-heads/v1 {b64(hroot)}\n"

    def sign(self, text, sk=None, name=None):
        sk = sk or self.sk
        pub = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        name = name or self.origin
        kid = H(name.encode() + b"\n\x01" + pub)[:4]
        sig = sk.sign(text.encode())
        return (text + "\n\u2014 " + name + " " + b64(kid + sig) + "\n").encode()

    def checkpoint(self, size):
        return self.sign(self.note_text(size))

    def proof(self, index, size, ckpt):
        lines = ["c2sp.org/tlog-proof@v1", f"index {index}"]
        lines += [b64(x) for x in path(index, self.leaves(size))]
        return ("\n".join(lines) + "\n\n").encode() + ckpt


NULL_QUERY = {"from": None, "to": None, "agent": None, "session": None, "kind": None, "action": None,
              "tool": None, "outcome": None, "data_class": None, "subject": None, "scope": None}


def q_match(h, q):
    if q["from"] is not None and h["time"] < q["from"]:
        return False
    if q["to"] is not None and h["time"] >= q["to"]:
        return False
    for f in ("agent", "session", "kind", "action", "tool", "outcome"):
        if q[f] is not None and h.get(f) != q[f]:
            return False
    if q["data_class"] is not None and q["data_class"] not in h.get("data_classes", []):
        return False
    if q["subject"] is not None and q["subject"] not in h.get("subjects", []):
        return False
    if q["scope"] is not None and q["scope"] not in (h.get("scope"), (h.get("scope") or "").split(":")[0]):
        return False
    return True


def in_time(h, q):
    return (q["from"] is None or h["time"] >= q["from"]) and (q["to"] is None or h["time"] < q["to"])


def gap_hashes(leaves, indexes):
    """formats §10.3, the builder's own recursion (plain, recursive, over the
    whole list of leaves): the root, the gap hashes consumed before each
    index's leaf, and those consumed after the last."""
    S = sorted(indexes)
    before = {}
    pending = []

    def has(lo, hi):
        j = bisect.bisect_left(S, lo)
        return j < len(S) and S[j] < hi

    def rec(lo, hi):
        if not has(lo, hi):
            h = mth(leaves[lo:hi])
            pending.append(h)
            return h
        if hi - lo == 1:
            before[lo] = list(pending)
            pending.clear()
            return leaves[lo]
        k = 1
        while k * 2 < hi - lo:
            k *= 2
        return H(b"\x01" + rec(lo, lo + k) + rec(lo + k, hi))

    root = rec(0, len(leaves)) if leaves else H(b"")
    return root, before, list(pending)


def v2_line(i, role, gaps, header, salt, body):
    """A §10.2 line, members in the writers' order, gaps omitted when empty."""
    x = {"index": i, "role": role}
    if gaps:
        x["gaps"] = [b64(g) for g in gaps]
    x.update(header=header, salt=salt, body=body)
    return json.dumps(x, ensure_ascii=False)


def chunk_lines(lines, chunk_bytes):
    """§10: a new member once the current one holds chunk_bytes or more."""
    chunks, cur, n = [], [], 0
    for line in lines:
        if n >= chunk_bytes:
            chunks.append(cur)
            cur, n = [], 0
        cur.append(line)
        n += len(line.encode()) + 1
    if cur:
        chunks.append(cur)
    return chunks


def build_members(log, size=None, query=None, completeness=None, with_bodies=True, erased=(), v=1,
                  chunk_bytes=8 << 20):
    """The members of a bundle, as a writer following §9 (v=1) or §10 (v=2) would make them.

    completeness: None, "range", or a stream key "a:<agent>" / "s:<session>"."""
    size = len(log.entries) if size is None else size
    q = dict(NULL_QUERY, **(query or {}))
    es = log.entries[:size]
    roles = {}
    for e in es:
        if q_match(e["header"], q):
            roles[e["header"]["index"]] = "match"
    comp_json = None
    if completeness == "range":
        ms = sorted(roles)
        if ms:
            lo, hi = ms[0], ms[-1] + 1
        else:
            lo = next((e["header"]["index"] for e in es if q["to"] is not None and e["header"]["time"] >= q["to"]
                       or q["from"] is not None and e["header"]["time"] >= q["from"]), size)
            hi = lo
        if lo > 0:
            roles[lo - 1] = "before"
        if hi < size:
            roles[hi] = "after"
        comp = {"proven": True, "range": True, "statement": "every entry in the time range"}
    elif completeness is not None:
        f = "agent" if completeness.startswith("a:") else "session"
        sid = completeness[2:]
        mine = [e["header"] for e in es if e["header"].get(f) == sid]
        for h in mine:
            if in_time(h, q) and h["index"] not in roles:
                roles[h["index"]] = "stream"
        before = [h for h in mine if q["from"] is not None and h["time"] < q["from"]]
        after = [h for h in mine if q["to"] is not None and h["time"] >= q["to"]]
        if before:
            roles[before[-1]["index"]] = "before"
        if after:
            roles[after[0]["index"]] = "after"
        comp = {"proven": True, "stream": completeness, "statement": f"every entry of {completeness} in range"}
        comp_json = {"stream": completeness, "heads_proof": log.heads_proof(completeness, size)}
    else:
        comp = {"proven": False, "statement": "authentic and unaltered, not shown complete"}
    ckpt = log.checkpoint(size)
    lines, proofs = [], {}
    bodies = erased_n = 0
    if v == 2:
        leaves = log.leaves(size)
        root, gaps_before, gaps_after = gap_hashes(leaves, roles)
        assert root == log.root(size)
    for i in sorted(roles):
        e = log.entries[i]
        role = roles[i]
        give = role == "match" and with_bodies and i not in erased
        if give:
            bodies += 1
        elif role == "match" and with_bodies:
            erased_n += 1
        salt, body = (e["salt"].hex(), e["body"].decode()) if give else (None, None)
        if v == 2:
            lines.append(v2_line(i, role, gaps_before[i], e["hbytes"].decode(), salt, body))
            continue
        lines.append(json.dumps({"index": i, "role": role, "header": e["hbytes"].decode(),
                                 "salt": salt, "body": body}, ensure_ascii=False))
        proofs[f"proofs/{i}.tlog-proof"] = log.proof(i, size, ckpt)
    ms = [i for i in sorted(roles) if roles[i] == "match"]
    manifest = {"format": "sealtrail-evidence-bundle", "v": v, "software": "test", "created": 1,
                "origin": log.origin, "checkpoint": {"size": size, "root": log.root(size).hex()},
                "query": q, "with_bodies": with_bodies,
                "counts": {"entries": len(lines), "matches": len(ms), "bodies": bodies, "erased": erased_n},
                "completeness": comp}
    if ms:
        manifest["first_index"], manifest["last_index"] = ms[0], ms[-1]
    members = {"checkpoint": ckpt, "keys/log.vkey": (log.vkey + "\n").encode()}
    if comp_json is not None:
        members["completeness.json"] = json.dumps(comp_json).encode()
    if v == 2:
        chunks = chunk_lines(lines, chunk_bytes)
        for k, c in enumerate(chunks):
            members[f"entries/{k}.jsonl"] = "".join(x + "\n" for x in c).encode()
        manifest["chunks"] = len(chunks)
        manifest["gaps_after"] = [b64(g) for g in gaps_after]
        members["manifest.json"] = json.dumps(manifest).encode()
        members["README.md"] = b"verify me\n"
        return members
    members = dict({"manifest.json": json.dumps(manifest).encode()}, **members)
    members["README.md"] = b"verify me\n"
    members["entries.jsonl"] = "".join(line + "\n" for line in lines).encode()
    members.update(proofs)
    return members


def zip_members(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def sample_log():
    """Two agents, one with two sessions, times 1000, 1010, …"""
    log = Log()
    t = 1000
    plan = [
        ("billing-bot", "s1", "tool_call", "crm.lookup", "success"),
        ("support-bot", None, "decision", None, "success"),
        ("billing-bot", "s1", "tool_call", "pay.refund", "failure"),
        ("billing-bot", "s2", "decision", None, "success"),
        ("support-bot", "s9", "tool_call", "crm.lookup", "success"),
        ("billing-bot", "s2", "tool_call", "crm.lookup", "success"),
        ("billing-bot", None, "decision", None, "success"),
        ("support-bot", "s9", "decision", None, "failure"),
        ("billing-bot", "s2", "tool_call", "pay.refund", "success"),
        ("billing-bot", "s1", "decision", None, "success"),
        ("support-bot", None, "tool_call", "mail.send", "success"),
        ("billing-bot", None, "tool_call", "crm.lookup", "success"),
    ]
    for i, (agent, session, kind, tool, outcome) in enumerate(plan):
        log.append(t + 10 * i, agent, kind=kind, session=session, event_id=f"evt-{i}", tool=tool,
                   outcome=outcome, data_classes=["pii"] if i % 3 == 0 else None,
                   scope="in_scope" if i % 2 else "out_of_scope: not registered for crm")
    return log


def _levels(leaves):
    """Every level of the RFC 6962 tree bottom-up; an odd last node is
    carried up unchanged (which is what the split at the largest power of
    two gives)."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        lv = levels[-1]
        up = [H(b"\x01" + lv[j] + lv[j + 1]) for j in range(0, len(lv) - 1, 2)]
        if len(lv) % 2:
            up.append(lv[-1])
        levels.append(up)
    return levels


def _subtree(levels, lo, hi):
    """MTH(lo, hi) from the levels: complete aligned subtrees are stored;
    the tree's right edge is split as RFC 6962 splits it."""
    n = hi - lo
    if n & (n - 1) == 0 and lo % n == 0:
        return levels[n.bit_length() - 1][lo // n]
    k = 1
    while k * 2 < n:
        k *= 2
    return H(b"\x01" + _subtree(levels, lo, lo + k) + _subtree(levels, lo + k, hi))


def _path_from_levels(levels, m, lo, hi):
    if hi - lo <= 1:
        return []
    k = 1
    while k * 2 < hi - lo:
        k *= 2
    if m < lo + k:
        return _path_from_levels(levels, m, lo, lo + k) + [_subtree(levels, lo + k, hi)]
    return _path_from_levels(levels, m, lo + k, hi) + [_subtree(levels, lo, lo + k)]


def _consecutive_entry(i, bodies):
    """Entry i of a synthetic log of seven agents (deterministic, so it can be
    made twice instead of kept): header bytes, salt, body."""
    agent = f"agent-{i % 7}"
    body = salt = None
    h = {"v": 1, "index": i, "time": 1763700000000000 + 1000 * i, "agent": agent, "kind": "tool_call",
         "tool": "crm.lookup", "outcome": "success", "event_id": f"evt-{i}",
         "streams": {"agent": {"n": i // 7 + 1}}}
    if i >= 7:
        h["streams"]["agent"]["prev"] = i - 7
    if bodies:
        ev = {"agent": {"id": agent}, "kind": "tool_call", "id": f"evt-{i}", "tool": {"name": "crm.lookup"},
              "outcome": "success", "action": "looked up customer record " + "x" * 160 + f" #{i}"}
        body = canon(ev)
        salt = H(b"salt" + i.to_bytes(8, "big"))
        h["body"] = H(salt + body).hex()
    else:
        h["body"] = H(b"withheld" + i.to_bytes(8, "big")).hex()
    return h, salt, body


def write_consecutive_bundle(path, n, v=2, bodies=False, chunk_bytes=8 << 20, level=1):
    """A range bundle of a whole synthetic log of n entries, written as it is
    made (for the memory test and the benchmark): every entry a match, no
    gap hash, the tree folded entirely from the leaves.  Returns the vkey."""
    log = Log("bench.example/log")
    hbs_prev = None
    leaves = []
    for i in range(n):
        h, _, _ = _consecutive_entry(i, bodies)
        if i:
            h["prev"] = hbs_prev.hex()
        hb = canon(h)
        hbs_prev = H(b"\x00" + hb)
        leaves.append(hbs_prev)
    levels = _levels(leaves) if n else [[]]
    root = levels[-1][0] if n else H(b"")
    ckpt = log.sign(f"{log.origin}\n{n}\n{b64(root)}\n")
    q = dict(NULL_QUERY)
    manifest = {"format": "sealtrail-evidence-bundle", "v": v, "software": "test", "created": 1,
                "origin": log.origin, "checkpoint": {"size": n, "root": root.hex()}, "query": q,
                "with_bodies": bodies, "counts": {"entries": n, "matches": n, "bodies": n if bodies else 0,
                                                  "erased": 0},
                "completeness": {"proven": True, "range": True, "statement": "every entry"}}
    if n:
        manifest["first_index"], manifest["last_index"] = 0, n - 1
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        z.writestr("checkpoint", ckpt)
        z.writestr("keys/log.vkey", log.vkey + "\n")
        if v == 1:
            z.writestr("manifest.json", json.dumps(manifest))
        member, size, k = None, 0, 0
        for i in range(n):
            h, salt, body = _consecutive_entry(i, bodies)
            if i:
                h["prev"] = leaves[i - 1].hex()
            x = {"index": i, "role": "match", "header": canon(h).decode(),
                 "salt": salt.hex() if salt else None, "body": body.decode() if body else None}
            line = (json.dumps(x) + "\n").encode()
            if member is None or (v == 2 and size >= chunk_bytes):
                if member is not None:
                    member.close()
                member = z.open("entries.jsonl" if v == 1 else f"entries/{k}.jsonl", "w", force_zip64=True)
                size, k = 0, k + 1
            member.write(line)
            size += len(line)
        if member is not None:
            member.close()
        if v == 1:
            for i in range(n):
                p = ["c2sp.org/tlog-proof@v1", f"index {i}"] + [b64(x) for x in _path_from_levels(levels, i, 0, n)]
                z.writestr(f"proofs/{i}.tlog-proof", ("\n".join(p) + "\n\n").encode() + ckpt)
        else:
            manifest["chunks"] = k
            manifest["gaps_after"] = []
            z.writestr("manifest.json", json.dumps(manifest))
    return log.vkey


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

CT_LEAVES = [bytes.fromhex(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
# (leaf index, tree size, path) from the same RFC 6962 reference data set
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]

# The example of golang.org/x/mod/sumdb/note (C2SP signed-note's reference implementation)
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_NOTE = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n"
           "\n"
           "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


class Vectors(unittest.TestCase):
    def test_empty_root(self):
        self.assertEqual(sv.sha256(b"").hex(), sv.EMPTY_ROOT_HEX)
        self.assertEqual(mth([]).hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

    def test_rfc6962_roots_and_inclusion(self):
        leaves = [sv.leaf_hash(d) for d in CT_LEAVES]
        for n in range(9):
            self.assertEqual(mth(leaves[:n]).hex(), CT_ROOTS[n])
        for idx, size, p in CT_INCLUSION:
            hp = [bytes.fromhex(x) for x in p]
            self.assertEqual(path(idx, leaves[:size]), hp)
            root = bytes.fromhex(CT_ROOTS[size])
            sv.verify_inclusion(leaves[idx], idx, size, hp, root)
            with self.assertRaises(sv.VerifyError):  # padded proof
                sv.verify_inclusion(leaves[idx], idx, size, hp + [hp[0]], root)
            with self.assertRaises(sv.VerifyError):  # short proof
                sv.verify_inclusion(leaves[idx], idx, size, hp[:-1], root)
            with self.assertRaises(sv.VerifyError):  # wrong index
                sv.verify_inclusion(leaves[idx], idx ^ 1, size, hp, root)
            with self.assertRaises(sv.VerifyError):  # index beyond the tree
                sv.verify_inclusion(leaves[idx], size, size, hp, root)

    def test_every_inclusion_in_small_trees(self):
        for n in range(1, 40):
            leaves = [sv.leaf_hash(bytes([i])) for i in range(n)]
            root = mth(leaves)
            for i in range(n):
                sv.verify_inclusion(leaves[i], i, n, path(i, leaves), root)

    def test_go_note_example(self):
        k = sv.parse_vkey(GO_VKEY)
        self.assertEqual(k.name, "PeterNeumann")
        self.assertEqual(k.kid.hex(), "c74f20a3")
        opened = sv.open_note(GO_NOTE.encode(), [k])
        self.assertTrue(opened.text.startswith("If you think"))
        # the private key file of the example gives the same vkey
        name, hid, k64 = GO_SKEY.split("+", 4)[2:]
        seed = base64.b64decode(k64)[1:]
        pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.assertEqual(f"{name}+{hid}+{b64(ONE + pub)}", GO_VKEY)
        # a tampered text fails
        with self.assertRaises(sv.VerifyError):
            sv.open_note(GO_NOTE.replace("answer", "Answer").encode(), [k])
        # unknown keys are ignored, so a note with only unknown keys fails
        other = Log("PeterNeumann")
        with self.assertRaises(sv.VerifyError):
            sv.open_note(GO_NOTE.encode(), [sv.parse_vkey(other.vkey)])

    def test_vkey_manglings_refused(self):
        for bad in ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                    "PeterNeumann+c74f20a3+AhpcL2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                    "PeterNeumann+c74f20a3",
                    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                    GO_VKEY[:-1]):
            with self.assertRaises(sv.VerifyError, msg=bad):
                sv.parse_vkey(bad)

    def test_rotated_log_key_overlap(self):
        # During a signing-key rotation the log signs with two keys of the
        # same name (its origin) and different key ids: a verifier that
        # knows either key accepts the note, ignoring the other signature.
        old, new = Log(), Log()
        text = old.origin + "\n0\n" + b64(H(b"")) + "\n"
        both = new.sign(text) + old.sign(text).split(b"\n\n", 1)[1]
        for log in (old, new):
            opened = sv.open_note(both, [sv.parse_vkey(log.vkey)])
            self.assertEqual(opened.n_sigs, 2)
            self.assertEqual([k.text for k in opened.signers], [log.vkey])
        with self.assertRaises(sv.VerifyError):
            sv.open_note(both, [sv.parse_vkey(Log().vkey)])

    def test_note_rules(self):
        log = Log()
        k = sv.parse_vkey(log.vkey)
        good = log.sign("a\nb\n")
        sv.open_note(good, [k])
        stranger = Ed25519PrivateKey.generate()
        # an unknown signer next to the known one is ignored
        two = good + log.sign("a\nb\n", sk=stranger, name="witness.example").split(b"\n\n", 1)[1]
        sv.open_note(two, [k])
        # a known key whose signature fails rejects the note even if another verifies
        bad_sig = good.split(b"\n\n")[1].decode()
        raw = bytearray(base64.b64decode(bad_sig.split(" ")[2]))
        raw[10] ^= 1
        forged = good + ("\u2014 " + log.origin + " " + b64(bytes(raw)) + "\n").encode()
        with self.assertRaises(sv.VerifyError):
            sv.open_note(forged, [k])
        # more than 100 signatures
        many = good + b"".join(log.sign("a\nb\n", sk=stranger, name=f"w{i}").split(b"\n\n", 1)[1] for i in range(100))
        with self.assertRaises(sv.VerifyError):
            sv.open_note(many, [k])
        # control characters
        with self.assertRaises(sv.VerifyError):
            sv.open_note(log.sign("a\tb\n"), [k])

    def test_jcs(self):
        self.assertEqual(sv.jcs({"b": 1, "a": [1, "x"], "\u00e9": 0, "\U0001F600": 0, "\uff61": 0}),
                         '{"a":[1,"x"],"b":1,"é":0,"\U0001F600":0,"｡":0}'.encode())
        self.assertEqual(sv.jcs("\u0001\b\t\n\f\r\"\\/\u007f\u2028"), b'"\\u0001\\b\\t\\n\\f\\r\\"\\\\/\x7f\xe2\x80\xa8"')
        self.assertEqual(sv.jcs("\u001f"), b'"\\u001f"')
        # RFC 8785 §3.2.2.3 number examples
        for x, s in ((333333333.33333329, "333333333.3333333"), (1e30, "1e+30"), (4.5, "4.5"),
                     (2e-3, "0.002"), (0.000001, "0.000001"), (1e-7, "1e-7"), (1e21, "1e+21"),
                     (1e20, "100000000000000000000"), (-0.0, "0"), (5e-324, "5e-324"),
                     (1.7976931348623157e308, "1.7976931348623157e+308"), (123.0, "123")):
            self.assertEqual(sv.jcs(x), s.encode(), x)
        with self.assertRaises(sv.VerifyError):
            sv.jcs(2 ** 53 + 1)

    def test_header_fast_paths_agree_with_the_exact_path(self):
        """decode_header's regular expression and its json.dumps comparison
        must accept exactly what the exact path (strict parse + RFC 8785
        re-encoding) accepts, and decode it to the same value."""
        log = sample_log()
        base = [e["hbytes"].decode() for e in log.entries]
        variants = list(base)
        h0 = base[3]
        for old, new in (('"agent":"billing-bot"', '"agent":"bi\\"ll\\\\ing\\n\\u0001\\u001f"'),
                         ('"agent":"billing-bot"', '"agent":"bill\\/ing"'),
                         ('"agent":"billing-bot"', '"agent":"bill\\u0041ing"'),
                         ('"agent":"billing-bot"', '"agent":"bill\\u000aing"'),
                         ('"agent":"billing-bot"', '"agent":"bill\\u007fing"'),
                         ('"agent":"billing-bot"', '"agent":"bill\u00e9\U0001F600ing\x7f"'),
                         ('"agent":"billing-bot"', '"agent":"bill\\u00e9ing"'),
                         ('"agent":"billing-bot"', '"agent":"bill\tng"'),
                         ('"time":1030', '"time":01030'), ('"time":1030', '"time":1030.0'),
                         ('"time":1030', '"time":1e3'), ('"time":1030', '"time":9007199254740992'),
                         ('"time":1030', '"time":9007199254740993'), ('"time":1030', '"time":1763700000000000'),
                         ('"time":1030', '"time":17637000000000000'), ('"time":1030', '"time":-1'),
                         ('"index":3', '"index":03'), ('"index":3', '"index":3,"index":3'),
                         ('"v":1', '"v":2'), ('"v":1', '"v":1,"zz":null'), ('"v":1', '"v": 1'),
                         ('{"', '{ "'), ('"kind":"decision",', ''), ('"n":3', '"n":0'), ('"n":3,"prev":2', '"n":3,"prev":3'),
                         ('"data_classes":["pii"]', '"data_classes":["pii","x\\"y"]'),
                         ('"data_classes":["pii"]', '"data_classes":[]'),
                         ('"data_classes":["pii"]', '"data_classes":[1]'),
                         ('"agent":"billing-bot",', '"agent":"billing-bot","aaa":1,'),
                         ('"agent":"billing-bot",', '"action":"x","agent":"billing-bot",')):
            self.assertIn(old, h0)
            variants.append(h0.replace(old, new, 1))
        variants.append(base[0].replace('"v":1', '"seq":7,"seq_gap":{"expected":5,"got":7},"v":1'))
        variants.append(base[0].replace('"time":', '"subjects":["ab","cd"],"time":'))
        for text in variants:
            hb = text.encode("utf-8", "surrogatepass")
            try:
                slow = sv.decode_header(hb)
            except sv.VerifyError as e:
                slow = ("error", str(e))
            try:
                fast = sv.decode_header(hb, text)
            except sv.VerifyError as e:
                fast = ("error", str(e))
            self.assertEqual(fast, slow, text)
        self.assertTrue(sv._HEADER_RE.fullmatch(base[3]))
        # the lines' fast path matches headers without a backslash with
        # _HEADER_FAST_RE: the same headers as _HEADER_RE, the same values
        names = ("action", "agent", "body", "event_id", "index", "kind", "outcome", "prev", "session",
                 "agent_n", "agent_prev", "session_n", "session_prev", "time", "tool")
        slow_groups = (0, 1, 2, 4, 5, 7, 8, 10, 16, 17, 18, 19, 20, 22, 23)
        plain = [t for t in variants if "\\" not in t]
        self.assertGreater(len(plain), len(base))
        for text in plain:
            m, mf = sv._HEADER_RE.fullmatch(text), sv._HEADER_FAST_RE.fullmatch(text)
            self.assertEqual(m is None, mf is None, text)
            if m is not None:
                g = m.groups()
                self.assertEqual(dict(zip(names, mf.groups())), dict(zip(names, (g[i] for i in slow_groups))), text)

    def test_heads_proof(self):
        log = sample_log()
        n = len(log.entries)
        root = log.heads_tree(n)[3]
        self.assertEqual(sv.verify_heads_proof(log.heads_proof("a:billing-bot", n), "a:billing-bot", n, root),
                         log.heads["a:billing-bot"])
        self.assertIsNone(sv.verify_heads_proof(log.heads_proof("a:nobody", n), "a:nobody", n, root))
        p = log.heads_proof("s:s1", n)
        p["records"][0]["n"] += 1
        with self.assertRaises(sv.VerifyError):
            sv.verify_heads_proof(p, "s:s1", n, root)
        p = log.heads_proof("s:s1", n)
        with self.assertRaises(sv.VerifyError):  # another stream's proof
            sv.verify_heads_proof(p, "s:s2", n, root)
        p = log.heads_proof("s:s1", n)
        p["path"].append(p["path"][0])
        with self.assertRaises(sv.VerifyError):
            sv.verify_heads_proof(p, "s:s1", n, root)

    def test_tlog_proof_parse(self):
        p = sv.parse_tlog_proof(b"c2sp.org/tlog-proof@v1\nextra aGk=\nindex 3\n" + (b64(b"\x00" * 32) + "\n").encode() * 2 + b"\nCKPT\n")
        self.assertEqual((p.index, len(p.path), p.extra, p.checkpoint), (3, 2, b"hi", b"CKPT\n"))
        for bad in (b"c2sp.org/tlog-proof@v1\nindex 03\n\nX", b"c2sp.org/tlog-proof@v2\nindex 3\n\nX",
                    b"c2sp.org/tlog-proof@v1\nindex 3\nAAAA\n\nX"):
            with self.assertRaises(sv.VerifyError):
                sv.parse_tlog_proof(bad)


class Bundles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.log = sample_log()
        cls.key = sv.parse_vkey(cls.log.vkey)

    def verify(self, members_or_bytes, keys="trusted"):
        data = members_or_bytes if isinstance(members_or_bytes, bytes) else zip_members(members_or_bytes)
        return sv.verify_bundle(data, [self.key] if keys == "trusted" else keys)

    def assertOk(self, rep):
        self.assertTrue(rep.ok, "\n".join(map(str, rep.failures)))

    def assertFailsAt(self, rep, entry, text=None):
        self.assertFalse(rep.ok)
        hits = [f for f in rep.failures if f.entry == entry and (text is None or text in f.reason)]
        self.assertTrue(hits, f"no failure for entry {entry!r} ({text!r}); got:\n" + "\n".join(map(str, rep.failures)))

    # --- good bundles ------------------------------------------------------

    def stream_bundle(self, **kw):
        q = {"agent": "billing-bot", "from": 1025, "to": 1095, "kind": "tool_call"}
        return build_members(self.log, query=q, completeness="a:billing-bot", **kw)

    def test_stream_bundle_with_before_and_after_passes(self):
        m = self.stream_bundle()
        rep = self.verify(m)
        self.assertOk(rep)
        self.assertTrue(rep.completeness["verified"])
        roles = [json.loads(x)["role"] for x in m["entries.jsonl"].decode().splitlines()]
        self.assertEqual(roles[0], "before")
        self.assertEqual(roles[-1], "after")
        self.assertIn("stream", roles)

    def test_stream_bundle_to_the_head_passes(self):
        for key, q in (("a:billing-bot", {"agent": "billing-bot", "from": 1025}),
                       ("a:billing-bot", {"agent": "billing-bot"}),
                       ("s:s2", {"session": "s2", "agent": "billing-bot", "outcome": "success"}),
                       ("a:nobody", {"agent": "nobody", "from": 1000, "to": 2000}),
                       ("a:support-bot", {"agent": "support-bot", "from": 5000})):
            rep = self.verify(build_members(self.log, query=q, completeness=key))
            self.assertOk(rep)
            self.assertTrue(rep.completeness["verified"], key)

    def test_range_bundles_pass(self):
        for q in ({"from": 1025, "to": 1075}, {"from": 1000, "to": 1075}, {"from": 1025},
                  {}, {"from": 1021, "to": 1029}, {"to": 900}, {"from": 5000}):
            rep = self.verify(build_members(self.log, query=q, completeness="range"))
            self.assertOk(rep)
            self.assertEqual(rep.completeness["kind"], "range")

    def test_plain_bundles_pass(self):
        self.assertOk(self.verify(build_members(self.log, query={"tool": "crm.lookup"})))
        self.assertOk(self.verify(build_members(self.log, query={"data_class": "pii", "scope": "out_of_scope"})))
        rep = self.verify(build_members(self.log, query={"kind": "decision"}, with_bodies=False))
        self.assertOk(rep)
        self.assertEqual(rep.counts["bodies"], 0)
        rep = self.verify(build_members(self.log, query={"kind": "decision"}, erased=(3,)))
        self.assertOk(rep)
        self.assertEqual(rep.counts["erased"], 1)

    def test_empty_log_range(self):
        log = Log()
        self.assertOk(sv.verify_bundle(zip_members(build_members(log, completeness="range")),
                                       [sv.parse_vkey(log.vkey)]))

    def test_fallback_key_warns(self):
        rep = self.verify(self.stream_bundle(), keys=None)
        self.assertOk(rep)
        self.assertTrue(any("NOT" in rep.trusted_key_source for _ in [0]))
        self.assertTrue(any("keys/log.vkey" in w for w in rep.warnings))

    def test_wrong_trusted_key_fails(self):
        rep = self.verify(self.stream_bundle(), keys=[sv.parse_vkey(Log().vkey)])
        self.assertFailsAt(rep, None, "signature")

    # --- tampering ---------------------------------------------------------

    @staticmethod
    def lines(m):
        return [json.loads(x) for x in m["entries.jsonl"].decode().splitlines()]

    @staticmethod
    def set_lines(m, lines):
        m["entries.jsonl"] = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode()

    def edit_line(self, m, index, fn):
        ls = self.lines(m)
        for x in ls:
            if x["index"] == index:
                fn(x)
        self.set_lines(m, ls)

    def fix_manifest(self, m, **changes):
        man = json.loads(m["manifest.json"])
        for k, v in changes.items():
            if k in man["counts"]:
                man["counts"][k] = v
            else:
                man[k] = v
        m["manifest.json"] = json.dumps(man).encode()

    def first_match_with_body(self, m):
        return next(x["index"] for x in self.lines(m) if x["role"] == "match" and x["body"])

    def test_body_byte(self):
        m = self.stream_bundle()
        i = self.first_match_with_body(m)
        self.edit_line(m, i, lambda x: x.update(body=x["body"].replace("tool_call", "tool_calm")))
        rep = self.verify(m)
        self.assertFailsAt(rep, i, "commitment")

    def test_header_byte(self):
        m = self.stream_bundle()
        i = self.first_match_with_body(m)
        self.edit_line(m, i, lambda x: x.update(header=x["header"].replace('"outcome":"', '"outcome":"X')))
        rep = self.verify(m)
        self.assertFailsAt(rep, i, "not proven")

    def test_header_not_canonical(self):
        m = self.stream_bundle()
        i = self.first_match_with_body(m)
        self.edit_line(m, i, lambda x: x.update(header=x["header"].replace('{"', '{ "', 1)))
        self.assertFailsAt(self.verify(m), i, "canonical")

    def test_salt_byte(self):
        m = self.stream_bundle()
        i = self.first_match_with_body(m)
        self.edit_line(m, i, lambda x: x.update(salt=("0" if x["salt"][0] != "0" else "1") + x["salt"][1:]))
        self.assertFailsAt(self.verify(m), i, "commitment")

    def test_proof_byte(self):
        m = self.stream_bundle()
        i = self.lines(m)[1]["index"]
        name = f"proofs/{i}.tlog-proof"
        lines = m[name].split(b"\n")
        h = bytearray(base64.b64decode(lines[2]))
        h[0] ^= 0x80
        lines[2] = base64.b64encode(bytes(h))
        m[name] = b"\n".join(lines)
        rep = self.verify(m)
        self.assertFailsAt(rep, i, "not proven")
        self.assertEqual({f.entry for f in rep.failures}, {i})

    def test_proof_padded(self):
        m = self.stream_bundle()
        i = self.lines(m)[1]["index"]
        name = f"proofs/{i}.tlog-proof"
        head, ck = m[name].split(b"\n\n", 1)
        m[name] = head + b"\n" + head.split(b"\n")[-1] + b"\n\n" + ck
        self.assertFailsAt(self.verify(m), i, "too long")

    def test_checkpoint_signature(self):
        for everywhere in (False, True):
            m = self.stream_bundle()
            ck = m["checkpoint"]
            text, sig = ck.rsplit(b" ", 1)
            raw = bytearray(base64.b64decode(sig))
            raw[20] ^= 1
            bad = text + b" " + base64.b64encode(bytes(raw)) + b"\n"
            m["checkpoint"] = bad
            if everywhere:
                for k in list(m):
                    if k.startswith("proofs/"):
                        m[k] = m[k].replace(ck, bad)
            rep = self.verify(m)
            self.assertFailsAt(rep, None, "signature")
            self.assertEqual(any(f.entry is not None for f in rep.failures), not everywhere)

    def test_checkpoint_swapped_for_another_size(self):
        m = self.stream_bundle()
        m["checkpoint"] = self.log.checkpoint(len(self.log.entries) - 1)
        rep = self.verify(m)
        self.assertFailsAt(rep, None, "checkpoint.size")

    def test_delete_an_entry(self):
        m = self.stream_bundle()
        ls = self.lines(m)
        gone = ls[2]["index"]
        self.set_lines(m, ls[:2] + ls[3:])
        rep = self.verify(m)
        self.assertFailsAt(rep, None, "counts.entries")
        self.assertFailsAt(rep, gone, "chain broken")

    def test_swap_two_entries(self):
        m = self.stream_bundle()
        ls = self.lines(m)
        ls[1], ls[2] = ls[2], ls[1]
        self.set_lines(m, ls)
        rep = self.verify(m)
        self.assertFailsAt(rep, ls[2]["index"], "strictly increase")

    def test_swap_two_headers(self):
        m = self.stream_bundle()
        ls = self.lines(m)
        ls[1]["header"], ls[2]["header"] = ls[2]["header"], ls[1]["header"]
        self.set_lines(m, ls)
        rep = self.verify(m)
        self.assertFailsAt(rep, ls[1]["index"], "header.index")
        self.assertFailsAt(rep, ls[2]["index"], "header.index")

    def test_truncated_zip(self):
        m = self.stream_bundle()
        data = zip_members(m)
        ls = self.lines(m)
        last = ls[-1]["index"]
        # cut into the last proof: the central directory is gone, everything before survives
        cut = data.index(f"proofs/{last}.tlog-proof".encode()) + 40
        rep = self.verify(data[:cut])
        self.assertFailsAt(rep, None, "not a readable ZIP")
        self.assertFailsAt(rep, last, "missing")
        self.assertEqual({f.entry for f in rep.failures if f.entry is not None}, {last})
        # cut anywhere: always a failure
        for n in (0, 10, 100, len(data) // 2, len(data) - 1):
            self.assertFalse(self.verify(data[:n]).ok, n)

    def test_forged_appended_entry(self):
        log = sample_log()
        m = build_members(log, query={"agent": "billing-bot", "from": 1025}, completeness="a:billing-bot")
        last_ck = m["checkpoint"]
        # a forger appends an entry to the stream, not in the signed tree
        idx = log.append(2000, "billing-bot", kind="tool_call", tool="pay.refund", event_id="forged")
        e = log.entries[idx]
        ls = self.lines(m)
        ls.append({"index": idx, "role": "match", "header": e["hbytes"].decode(), "salt": e["salt"].hex(),
                   "body": e["body"].decode()})
        self.set_lines(m, ls)
        fake = log.proof(idx, idx + 1, b"")
        m[f"proofs/{idx}.tlog-proof"] = fake + last_ck
        self.fix_manifest(m, entries=len(ls), matches=len(ls) - 1, bodies=len(ls) - 1, last_index=idx)
        rep = sv.verify_bundle(zip_members(m), [sv.parse_vkey(log.vkey)])
        self.assertFailsAt(rep, idx, "not below the tree size")
        # with an index inside the tree it is a proof failure too
        ls[-1]["index"] = len(log.entries) - 2
        self.assertFalse(sv.verify_bundle(zip_members(m), [sv.parse_vkey(log.vkey)]).ok)

    def omit(self, m, index):
        ls = [x for x in self.lines(m) if x["index"] != index]
        self.set_lines(m, ls)
        del m[f"proofs/{index}.tlog-proof"]
        ms = [x for x in ls if x["role"] == "match"]
        self.fix_manifest(m, entries=len(ls), matches=len(ms), bodies=sum(1 for x in ls if x["body"]),
                          first_index=ms[0]["index"], last_index=ms[-1]["index"])

    def test_omit_middle_stream_entry(self):
        m = self.stream_bundle()
        ls = self.lines(m)
        mid = [x["index"] for x in ls if x["role"] == "match"][1]
        self.omit(m, mid)
        rep = self.verify(m)
        self.assertFailsAt(rep, mid, "chain broken")
        self.assertFalse(rep.completeness["verified"])

    def test_omit_stream_role_entry(self):
        m = self.stream_bundle()
        gone = next(x["index"] for x in self.lines(m) if x["role"] == "stream")
        self.omit(m, gone)
        self.assertFailsAt(self.verify(m), gone, "chain broken")

    def test_omit_last_stream_entry_before_head(self):
        m = build_members(self.log, query={"agent": "billing-bot", "from": 1025}, completeness="a:billing-bot")
        last = self.lines(m)[-1]["index"]
        self.omit(m, last)
        rep = self.verify(m)
        self.assertFailsAt(rep, last, "later entries")

    def test_omit_after_entry(self):
        m = self.stream_bundle()
        ls = self.lines(m)
        after = ls[-1]["index"]
        self.assertEqual(ls[-1]["role"], "after")
        self.set_lines(m, ls[:-1])
        del m[f"proofs/{after}.tlog-proof"]
        self.fix_manifest(m, entries=len(ls) - 1)
        rep = self.verify(m)
        self.assertFalse(rep.ok)
        # the heads proof shows the stream going on past the chain's end
        self.assertTrue(any("later entries" in f.reason for f in rep.failures), rep.failures)

    def test_omit_before_entry(self):
        m = self.stream_bundle()
        ls = self.lines(m)
        self.assertEqual(ls[0]["role"], "before")
        self.set_lines(m, ls[1:])
        self.fix_manifest(m, entries=len(ls) - 1)
        rep = self.verify(m)
        # named: the entry the chain's first entry links to (the one left out)
        self.assertFailsAt(rep, ls[0]["index"], "earlier entries")

    def test_match_hidden_as_stream(self):
        m = self.stream_bundle()
        i = self.first_match_with_body(m)
        self.edit_line(m, i, lambda x: x.update(role="stream", salt=None, body=None))
        ls = self.lines(m)
        ms = [x for x in ls if x["role"] == "match"]
        self.fix_manifest(m, matches=len(ms), bodies=len(ms), first_index=ms[0]["index"], last_index=ms[-1]["index"])
        self.assertFailsAt(self.verify(m), i, "satisfies the query")

    def test_range_gap(self):
        m = build_members(self.log, query={"from": 1025, "to": 1075}, completeness="range")
        ls = self.lines(m)
        mid = ls[3]["index"]
        self.omit(m, mid)
        self.assertFailsAt(self.verify(m), mid, "range broken")

    def test_range_missing_neighbours(self):
        m = build_members(self.log, query={"from": 1025, "to": 1075}, completeness="range")
        ls = self.lines(m)
        self.set_lines(m, ls[1:-1])
        self.fix_manifest(m, entries=len(ls) - 2)
        rep = self.verify(m)
        self.assertFailsAt(rep, ls[0]["index"], "'before'")
        self.assertFailsAt(rep, ls[-1]["index"], "'after'")

    def test_query_mismatch_and_counts(self):
        m = build_members(self.log, query={"tool": "crm.lookup"})
        man = json.loads(m["manifest.json"])
        man["query"]["tool"] = "pay.refund"
        man["counts"]["bodies"] += 1
        m["manifest.json"] = json.dumps(man).encode()
        rep = self.verify(m)
        for x in self.lines(m):
            self.assertFailsAt(rep, x["index"], "does not satisfy")
        self.assertFailsAt(rep, None, "counts.bodies")

    def test_body_disagrees_with_header(self):
        log = Log()
        log.append(1, "a", event_id="e1")
        e = log.entries[0]
        ev = json.loads(e["body"])
        ev["id"] = "e2"
        e["body"] = canon(ev)
        e["header"]["body"] = H(e["salt"] + e["body"]).hex()
        e["hbytes"] = canon(e["header"])
        rep = sv.verify_bundle(zip_members(build_members(log)), [sv.parse_vkey(log.vkey)])
        self.assertFailsAt(rep, 0, "event_id")

    def test_newer_versions_refused(self):
        m = self.stream_bundle()
        man = json.loads(m["manifest.json"])
        man["v"] = 3
        m["manifest.json"] = json.dumps(man).encode()
        self.assertFailsAt(self.verify(m), None, "version 3")

    def test_format_rules(self):
        m = self.stream_bundle()
        man = json.loads(m["manifest.json"])
        man["completeness"]["proven"] = False
        m["manifest.json"] = json.dumps(man).encode()
        self.assertFailsAt(self.verify(m), None, "proven is false")
        m = self.stream_bundle()
        self.fix_manifest(m, query=dict(json.loads(m["manifest.json"])["query"], colour=None))
        self.assertFailsAt(self.verify(m), None, "query.colour")
        m = self.stream_bundle()
        del m["completeness.json"]  # there is an 'after' entry, but the claim needs the member
        self.assertFailsAt(self.verify(m), None, "missing")
        m = self.stream_bundle()
        m["entries.jsonl"] += b"\n"
        rep = self.verify(m)
        self.assertOk(rep)
        self.assertTrue(any("blank" in w for w in rep.warnings))
        # Strict members (formats §9): a v1 reader knows every v1 member.
        m = self.stream_bundle()
        self.fix_manifest(m, note="not a v1 member")
        self.assertFailsAt(self.verify(m), None, "note is not a member")
        m = self.stream_bundle()
        man = json.loads(m["manifest.json"])
        del man["software"]
        m["manifest.json"] = json.dumps(man).encode()
        self.assertFailsAt(self.verify(m), None, "software is missing")
        m = self.stream_bundle()
        ls = self.lines(m)
        ls[0]["colour"] = "red"
        self.set_lines(m, ls)
        self.assertFailsAt(self.verify(m), ls[0]["index"], "colour is not a member")
        m = self.stream_bundle()
        c = json.loads(m["completeness.json"])
        c["extra"] = 1
        m["completeness.json"] = json.dumps(c).encode()
        self.assertFailsAt(self.verify(m), None, "extra is not a member")

    def test_every_failure_reported(self):
        m = self.stream_bundle()
        ls = self.lines(m)
        a, b = ls[1]["index"], ls[-2]["index"]
        self.edit_line(m, a, lambda x: x.update(header=x["header"].replace('"time":', '"time":1')))
        del m[f"proofs/{b}.tlog-proof"]
        rep = self.verify(m)
        self.assertFailsAt(rep, a)
        self.assertFailsAt(rep, b, "missing")


def v2_chunk_names(m):
    return sorted((k for k in m if k.startswith("entries/")), key=lambda k: int(k[8:-6]))


def v2_lines(m):
    """Every line of a v2 bundle, in order, with the member it came from."""
    return [json.loads(x) for k in v2_chunk_names(m) for x in m[k].decode().splitlines()]


def v2_set_lines(m, lines):
    """Write lines back into the same members, as many per member as before
    (the last takes the rest), so `chunks` still agrees."""
    names = v2_chunk_names(m)
    counts = [len(m[k].splitlines()) for k in names]
    pos = 0
    for j, k in enumerate(names):
        take = lines[pos:] if j == len(names) - 1 else lines[pos:pos + counts[j]]
        pos += len(take)
        m[k] = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in take).encode()


def v2_regap(m, log):
    """Recompute every line's gaps and gaps_after for the lines' current
    indexes: what a forger who leaves out entries can do (the hashes of the
    subtrees that now hold no entry are all public)."""
    man = json.loads(m["manifest.json"])
    size = man["checkpoint"]["size"]
    ls = v2_lines(m)
    _, before, after = gap_hashes(log.leaves(size), [x["index"] for x in ls])
    for x in ls:
        x.pop("gaps", None)
        if before[x["index"]]:
            x["gaps"] = [b64(g) for g in before[x["index"]]]
    v2_set_lines(m, ls)
    man["gaps_after"] = [b64(g) for g in after]
    m["manifest.json"] = json.dumps(man).encode()


class BodyCheck(unittest.TestCase):
    """§9.3's body check on one line: the commitment, then the four ids; the
    body's own canonical form is not a check (nor a warning)."""

    SALT = "ab" * 32

    def check(self, body, **ids):
        h = {"agent": "bot", "kind": "tool_call", "body": hashlib.sha256(bytes.fromhex(self.SALT) + body.encode()).hexdigest()}
        h.update(ids)
        e = sv.Line(1)
        e.h = h
        sv.LineChecker._body(e, 7, "entries/0.jsonl line 1", self.SALT, body)
        return [f[2] for f in e.fails or []], e.warns or []

    def test_not_canonical_is_fine(self):
        self.assertEqual(self.check('{ "kind": "tool_call", "agent": {"id": "bot"}, "x": 1.50 }'), ([], []))

    def test_ids_disagree(self):
        fails, _ = self.check('{"agent":{"id":"bot"},"kind":"tool_call","session":"s"}')
        self.assertEqual(len(fails), 1)
        self.assertIn("body session = 's' disagrees with header session = None", fails[0])
        fails, _ = self.check('{"agent":{"id":"bot"},"kind":"tool_call","id":"e1"}', event_id="e2")
        self.assertIn("body id = 'e1' disagrees", fails[0])

    def test_not_an_event(self):
        for body, why in (('[1]', "not a JSON object"), ('{"agent":{"id":"bot"},"kind":"tool_call"} x', "invalid JSON"),
                          ('{"agent":{"id":"bot"},"kind":"tool_call","n":NaN}', "invalid JSON"),
                          (' {"agent":{"id":"bot"},"kind":"tool_call"}', None)):
            fails, _ = self.check(body)
            if why is None:
                self.assertEqual(fails, [], body)  # whitespace around the object is JSON
            else:
                self.assertEqual(len(fails), 1, body)
                self.assertIn(why, fails[0], body)

    def test_commitment_first(self):
        e = sv.Line(1)
        e.h = {"agent": "bot", "kind": "tool_call", "body": "00" * 32}
        sv.LineChecker._body(e, 7, "w", self.SALT, "[not json")
        self.assertEqual([f[2] for f in e.fails], ["body commitment: SHA-256(salt ‖ body) differs from header.body"])


class BundlesV2(unittest.TestCase):
    """Format v2 (formats §10): the same bundles as Bundles, one shared
    gap-hash proof instead of a proof per entry, entries in several members."""

    @classmethod
    def setUpClass(cls):
        cls.log = sample_log()
        cls.key = sv.parse_vkey(cls.log.vkey)

    def build(self, log=None, **kw):
        kw.setdefault("chunk_bytes", 700)  # several members even for a dozen entries
        return build_members(log or self.log, v=2, **kw)

    def verify(self, members_or_bytes, keys="trusted"):
        """Bundles.verify twice: lines by the fast path where it applies,
        and every line by the exact path (check() and take()).  The fast
        path is only a shortcut: the two reports must be identical, for
        good bundles and for every tampered one below."""
        reps = []
        for fast in (True, False):
            sv.FAST_LINES = fast
            try:
                reps.append(Bundles.verify(self, members_or_bytes, keys))
            finally:
                sv.FAST_LINES = True
        self.assertEqual(reps[0].to_json(), reps[1].to_json())
        return reps[0]

    assertOk = Bundles.assertOk
    assertFailsAt = Bundles.assertFailsAt
    fix_manifest = Bundles.fix_manifest

    def test_good_lines_take_the_fast_path(self):
        """Every line of a good bundle is checked by the fast path (the
        exact path is for lines with something to report, and for the
        roles before and after)."""
        slow = []
        orig = sv._Verifier._line_slow
        sv._Verifier._line_slow = lambda s, b, no, member, checker: (slow.append(b), orig(s, b, no, member, checker))
        try:
            for kw in (dict(query={"from": 1000}, completeness="range"),
                       dict(query={"tool": "crm.lookup"}),
                       dict(query={"agent": "billing-bot", "from": 1025}, completeness="a:billing-bot")):
                m = self.build(**kw)
                self.assertOk(self.verify(m))
                lines = [ln for name, data in m.items() if name.startswith("entries/") for ln in data.splitlines()]
                roles = [json.loads(ln)["role"] for ln in lines]
                self.assertEqual(len(slow), roles.count("before") + roles.count("after"), kw)
                self.assertGreaterEqual(len(lines) - len(slow), 4, kw)
                del slow[:]
        finally:
            sv._Verifier._line_slow = orig

    def stream_bundle(self, **kw):
        q = {"agent": "billing-bot", "from": 1025, "to": 1095, "kind": "tool_call"}
        return self.build(query=q, completeness="a:billing-bot", **kw)

    def assertRootFails(self, rep):
        self.assertFailsAt(rep, None, "no entry of the bundle is proven")

    # --- good bundles ------------------------------------------------------

    def test_good_bundles_pass(self):
        cases = [dict(query={"agent": "billing-bot", "from": 1025, "to": 1095, "kind": "tool_call"},
                      completeness="a:billing-bot"),
                 dict(query={"agent": "billing-bot", "from": 1025}, completeness="a:billing-bot"),
                 dict(query={"session": "s2", "agent": "billing-bot", "outcome": "success"}, completeness="s:s2"),
                 dict(query={"agent": "nobody", "from": 1000, "to": 2000}, completeness="a:nobody"),
                 dict(query={"tool": "crm.lookup"}),
                 dict(query={"kind": "decision"}, with_bodies=False),
                 dict(query={"kind": "decision"}, erased=(3,))]
        cases += [dict(query=q, completeness="range")
                  for q in ({"from": 1025, "to": 1075}, {"from": 1000, "to": 1075}, {"from": 1025}, {},
                            {"from": 1021, "to": 1029}, {"to": 900}, {"from": 5000})]
        for kw in cases:
            for size in (len(self.log.entries), 7, 1):
                m = self.build(size=size, **kw)
                rep = self.verify(m)
                self.assertOk(rep)
                if json.loads(m["manifest.json"])["completeness"]["proven"]:
                    self.assertTrue(rep.completeness["verified"], kw)
        m = self.stream_bundle()
        self.assertGreater(json.loads(m["manifest.json"])["chunks"], 1)

    def test_every_subset_of_a_small_log(self):
        """The recursion for every set of entries of logs of 1 to 9 entries:
        the bundle holds exactly those lines (a plain bundle of chosen
        indexes), and it verifies; with one entry's leaf changed it does not."""
        log = Log()
        for i in range(9):
            log.append(1000 + i, "a")
        key = [sv.parse_vkey(log.vkey)]
        for size in range(0, 10):
            for mask in range(1 << size):
                S = [i for i in range(size) if mask >> i & 1]
                leaves = log.leaves(size)
                root, before, after = gap_hashes(leaves, S)
                fold = sv.GapFold(size)
                for i in S:
                    self.assertEqual(fold.feed(i, leaves[i], before[i]), len(before[i]))
                self.assertEqual(fold.finish(after), len(after))
                self.assertEqual(fold.root, root)
                self.assertEqual(root, log.root(size))
        rep = sv.verify_bundle(zip_members(build_members(log, v=2, chunk_bytes=300)), key)
        self.assertOk(rep)

    def test_runs_of_consecutive_entries_fold_as_single_entries_do(self):
        """GapFold.feed_leaves (the fast path's runs) gives the root feed
        gives, for every run [a, b) of every tree up to 40 entries, with the
        gap hashes before a and after b, and leaves the recursion where the
        next entry continues it."""
        log = Log()
        for i in range(40):
            log.append(1000 + i, "a")
        for size in range(1, 41):
            leaves = log.leaves(size)
            for a in range(size):
                for b in range(a + 1, size + 1):
                    S = list(range(a, b))
                    root, before, after = gap_hashes(leaves, S)
                    fold = sv.GapFold(size)
                    self.assertEqual(fold.feed(a, leaves[a], before[a]), len(before[a]))
                    fold.feed_leaves(a + 1, leaves[a + 1:b])
                    self.assertEqual(fold.finish(after), len(after))
                    self.assertEqual(fold.root, root, (size, a, b))
            # a run, then an entry after a gap: the recursion goes on from the run
            if size >= 6:
                S = [0, 1, 2, 5]
                root, before, after = gap_hashes(leaves, S)
                fold = sv.GapFold(size)
                fold.feed(0, leaves[0], before[0])
                fold.feed_leaves(1, leaves[1:3])
                self.assertEqual(fold.feed(5, leaves[5], before[5]), len(before[5]))
                self.assertEqual(fold.finish(after), len(after))
                self.assertEqual(fold.root, root)

    def test_empty_log_and_empty_bundle(self):
        log = Log()
        m = build_members(log, completeness="range", v=2)
        self.assertEqual(json.loads(m["manifest.json"])["gaps_after"], [])
        self.assertEqual(json.loads(m["manifest.json"])["chunks"], 0)
        self.assertOk(sv.verify_bundle(zip_members(m), [sv.parse_vkey(log.vkey)]))
        # no entry of a non-empty tree: gaps_after is the root alone
        m = self.build(query={"agent": "nobody"})
        man = json.loads(m["manifest.json"])
        self.assertEqual(man["gaps_after"], [b64(self.log.root(len(self.log.entries)))])
        self.assertOk(self.verify(m))

    def test_fallback_key_and_cli_json(self):
        rep = self.verify(self.stream_bundle(), keys=None)
        self.assertOk(rep)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "v2.zip")
            with open(path, "wb") as f:
                f.write(zip_members(self.stream_bundle()))
            for jobs in ("1", "2"):
                r = subprocess.run([sys.executable, SCRIPT, path, "--vkey", self.log.vkey, "--json", "--jobs", jobs],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertTrue(json.loads(r.stdout)["completeness"]["verified"])

    # --- tampering (the tamper suite on v2) ---------------------------------

    def edit_line(self, m, index, fn):
        ls = v2_lines(m)
        for x in ls:
            if x["index"] == index:
                fn(x)
        v2_set_lines(m, ls)

    def first_match_with_body(self, m):
        return next(x["index"] for x in v2_lines(m) if x["role"] == "match" and x["body"])

    def test_header_byte(self):
        m = self.stream_bundle()
        i = v2_lines(m)[2]["index"]
        self.edit_line(m, i, lambda x: x.update(header=x["header"].replace('"kind":"', '"kind":"X')))
        rep = self.verify(m)
        self.assertRootFails(rep)
        # the root's failure is the bundle's (the kind also fails the body and the query at i)
        self.assertIn((None, "manifest.json"), {(f.entry, f.member) for f in rep.failures}, rep.failures)
        self.assertLessEqual({f.entry for f in rep.failures}, {None, i}, rep.failures)

    def test_header_byte_hint_at_a_broken_hash_chain(self):
        # consecutive entries: the next header's prev names the old leaf hash,
        # so the one failure says which two entries to look at
        m = self.build(query={"from": 1025, "to": 1065}, completeness="range")
        ls = v2_lines(m)
        i = ls[2]["index"]
        self.assertEqual(ls[3]["index"], i + 1)
        self.edit_line(m, i, lambda x: x.update(header=x["header"].replace('"kind":"', '"kind":"X')))
        rep = self.verify(m)
        self.assertLessEqual({f.entry for f in rep.failures}, {None, i}, rep.failures)  # (i: its body's kind)
        self.assertFailsAt(rep, None, f"entry {i + 1}'s header.prev is not the leaf hash of entry {i}")

    def test_body_byte(self):
        m = self.stream_bundle()
        i = self.first_match_with_body(m)
        self.edit_line(m, i, lambda x: x.update(body=x["body"].replace("tool_call", "tool_calm")))
        rep = self.verify(m)
        self.assertFailsAt(rep, i, "commitment")
        self.assertEqual({f.entry for f in rep.failures}, {i})

    def test_gap_hash_byte(self):
        m = self.stream_bundle()
        x = next(x for x in v2_lines(m) if x.get("gaps"))
        g = bytearray(base64.b64decode(x["gaps"][0]))
        g[7] ^= 0x01
        self.edit_line(m, x["index"], lambda y: y["gaps"].__setitem__(0, b64(bytes(g))))
        self.assertRootFails(self.verify(m))

    def test_gap_hash_malformed(self):
        m = self.stream_bundle()
        x = next(x for x in v2_lines(m) if x.get("gaps"))
        self.edit_line(m, x["index"], lambda y: y["gaps"].__setitem__(0, y["gaps"][0][:-2] + "=="))
        rep = self.verify(m)
        self.assertFailsAt(rep, x["index"], "gaps[0]")
        self.assertRootFails(rep)

    def test_drop_a_line(self):
        m = self.stream_bundle()
        ls = v2_lines(m)
        gone = ls[3]["index"]
        v2_set_lines(m, ls[:3] + ls[4:])
        rep = self.verify(m)
        self.assertFailsAt(rep, None, "counts.entries")
        self.assertFailsAt(rep, gone, "chain broken")
        self.assertRootFails(rep)  # (the gap counts may still fit: then the root differs)

    def test_drop_a_chunk(self):
        m = self.stream_bundle()
        del m["entries/1.jsonl"]
        rep = self.verify(m)
        self.assertFailsAt(rep, None, "missing (the manifest says chunks")
        self.assertTrue(any(f.member == "entries/1.jsonl" for f in rep.failures))
        self.assertRootFails(rep)

    def test_reorder_chunks(self):
        m = self.stream_bundle()
        m["entries/0.jsonl"], m["entries/1.jsonl"] = m["entries/1.jsonl"], m["entries/0.jsonl"]
        rep = self.verify(m)
        self.assertRootFails(rep)
        self.assertTrue(any("strictly increase" in f.reason for f in rep.failures), rep.failures)

    def test_add_a_gap(self):
        m = self.stream_bundle()
        i = v2_lines(m)[2]["index"]
        self.edit_line(m, i, lambda x: x.__setitem__("gaps", x.get("gaps", []) + [b64(H(b"extra"))]))
        rep = self.verify(m)
        self.assertFailsAt(rep, i, "gaps: the line has")
        self.assertRootFails(rep)

    def test_move_a_gap_to_the_next_line(self):
        m = self.stream_bundle()
        ls = v2_lines(m)
        j = next(j for j, x in enumerate(ls[:-1]) if x.get("gaps"))
        g = ls[j]["gaps"].pop()
        if not ls[j]["gaps"]:
            del ls[j]["gaps"]
        ls[j + 1]["gaps"] = [g] + ls[j + 1].get("gaps", [])
        v2_set_lines(m, ls)
        rep = self.verify(m)
        self.assertFailsAt(rep, ls[j]["index"], "gaps: the line has")
        self.assertFailsAt(rep, ls[j + 1]["index"], "gaps: the line has")

    def test_wrong_chunks(self):
        m = self.stream_bundle()
        n = json.loads(m["manifest.json"])["chunks"]
        self.fix_manifest(m, chunks=n + 1)
        rep = self.verify(m)
        self.assertFailsAt(rep, None, f"missing (the manifest says chunks = {n + 1})")
        m = self.stream_bundle()
        self.fix_manifest(m, chunks=n - 1)
        rep = self.verify(m)
        self.assertFailsAt(rep, None, f"so there is no entries/{n - 1}.jsonl")
        self.assertFailsAt(rep, None, "counts.entries")
        m = self.stream_bundle()
        # another spelling of a member name is an other member, ignored (§9)
        m[f"entries/0{n - 1}.jsonl"] = m.pop(f"entries/{n - 1}.jsonl")
        rep = self.verify(m)
        self.assertFailsAt(rep, None, f"missing (the manifest says chunks = {n})")
        self.assertIn(f"entries/0{n - 1}.jsonl: member not in the bundle format v2 (ignored)", rep.warnings)

    def test_wrong_gaps_after(self):
        m = self.build(query={"agent": "billing-bot", "from": 1025, "to": 1065})
        ga = json.loads(m["manifest.json"])["gaps_after"]
        self.assertTrue(ga)
        for bad, text in ((ga[:-1], "gaps_after holds"), (ga + [ga[0]], "gaps_after holds"),
                          ([b64(H(b"x"))] + ga[1:], "no entry of the bundle is proven"),
                          ("AAAA", "gaps_after is not an array")):
            m2 = dict(m)
            self.fix_manifest(m2, gaps_after=bad)
            rep = self.verify(m2)
            self.assertFailsAt(rep, None, text)
            self.assertRootFails(rep)
        m2 = dict(m)
        man = json.loads(m2["manifest.json"])
        del man["gaps_after"]
        m2["manifest.json"] = json.dumps(man).encode()
        self.assertFailsAt(self.verify(m2), None, "gaps_after is missing")

    def test_v1_members_refused_in_v2_and_back(self):
        m = self.stream_bundle()
        ls = v2_lines(m)
        ls[0]["proof"] = "x"
        v2_set_lines(m, ls)
        self.assertFailsAt(self.verify(m), ls[0]["index"], "proof is not a member of an entry line (format v2)")
        m = Bundles.stream_bundle(self)
        ls = Bundles.lines(m)
        ls[0]["gaps"] = []
        Bundles.set_lines(m, ls)
        self.assertFailsAt(self.verify(m), ls[0]["index"], "gaps is not a member of an entry line (format v1)")

    def test_forged_entry_beyond_the_tree(self):
        log = sample_log()
        m = build_members(log, query={"agent": "billing-bot", "from": 1025}, completeness="a:billing-bot", v=2,
                          chunk_bytes=700)
        size = len(log.entries)
        idx = log.append(2000, "billing-bot", kind="tool_call", tool="pay.refund", event_id="forged")
        e = log.entries[idx]
        ls = v2_lines(m) + [{"index": idx, "role": "match", "header": e["hbytes"].decode(),
                             "salt": e["salt"].hex(), "body": e["body"].decode()}]
        v2_set_lines(m, ls)
        self.fix_manifest(m, entries=len(ls), matches=len(ls) - 1, bodies=len(ls) - 1, last_index=idx)
        rep = sv.verify_bundle(zip_members(m), [sv.parse_vkey(log.vkey)])
        self.assertFailsAt(rep, idx, f"not below the checkpoint size {size}")
        self.assertRootFails(rep)

    # --- completeness, with a proof that fits (the forger regaps) ------------

    def test_omit_middle_stream_entry_with_a_fitting_proof(self):
        m = self.stream_bundle()
        ls = v2_lines(m)
        mid = [x["index"] for x in ls if x["role"] == "match"][1]
        ls = [x for x in ls if x["index"] != mid]
        v2_set_lines(m, ls)
        v2_regap(m, self.log)
        ms = [x for x in ls if x["role"] == "match"]
        self.fix_manifest(m, entries=len(ls), matches=len(ms), bodies=len(ms), first_index=ms[0]["index"],
                          last_index=ms[-1]["index"])
        rep = self.verify(m)
        self.assertFailsAt(rep, mid, "chain broken")
        self.assertFalse(any("no entry of the bundle is proven" in f.reason for f in rep.failures), rep.failures)
        self.assertFalse(rep.completeness["verified"])

    def test_omit_after_and_before_with_a_fitting_proof(self):
        for end, text in ((-1, "later entries"), (0, "earlier entries")):
            m = self.stream_bundle()
            ls = v2_lines(m)
            self.assertEqual(ls[end]["role"], "after" if end else "before")
            ls = ls[:-1] if end else ls[1:]
            v2_set_lines(m, ls)
            v2_regap(m, self.log)
            self.fix_manifest(m, entries=len(ls))
            rep = self.verify(m)
            self.assertFalse(rep.ok)
            self.assertTrue(any(text in f.reason for f in rep.failures), rep.failures)
            self.assertFalse(any("no entry of the bundle is proven" in f.reason for f in rep.failures))

    def test_range_gap_with_a_fitting_proof(self):
        m = self.build(query={"from": 1025, "to": 1075}, completeness="range")
        ls = v2_lines(m)
        mid = ls[3]["index"]
        ls = [x for x in ls if x["index"] != mid]
        v2_set_lines(m, ls)
        v2_regap(m, self.log)
        ms = [x for x in ls if x["role"] == "match"]
        self.fix_manifest(m, entries=len(ls), matches=len(ms), bodies=len(ms))
        rep = self.verify(m)
        self.assertFailsAt(rep, mid, "range broken")
        self.assertFalse(any("no entry of the bundle is proven" in f.reason for f in rep.failures))

    def test_match_hidden_as_stream(self):
        m = self.stream_bundle()
        i = self.first_match_with_body(m)
        self.edit_line(m, i, lambda x: x.update(role="stream", salt=None, body=None))
        ms = [x for x in v2_lines(m) if x["role"] == "match"]
        self.fix_manifest(m, matches=len(ms), bodies=len(ms), first_index=ms[0]["index"], last_index=ms[-1]["index"])
        rep = self.verify(m)
        self.assertFailsAt(rep, i, "satisfies the query")
        self.assertFalse(any("no entry of the bundle is proven" in f.reason for f in rep.failures))


def raw_zip(members, central=True):
    """A ZIP written by hand, so that its headers can lie: members are
    (name, method, bytes as stored, CRC-32, declared uncompressed size)."""
    out, cd = bytearray(), bytearray()
    for name, method, data, crc, usize in members:
        nb = name.encode()
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), usize, len(nb), 0)
        out += nb + data
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), usize,
                          len(nb), 0, 0, 0, 0, 0, off) + nb
    if central:
        n = len(members)
        out += cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd), len(out), 0)
    return bytes(out)


def deflated(chunks):
    """Raw deflate of the concatenated chunks (an iterable, never joined),
    with the CRC-32 and size of what it inflates to."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out, crc, size = [], 0, 0
    for piece in chunks:
        out.append(c.compress(piece))
        crc = zlib.crc32(piece, crc)
        size += len(piece)
    out.append(c.flush())
    return b"".join(out), crc, size


def stored(data):
    return (data, zlib.crc32(data), len(data))


# Starts the verifier and reports its peak RSS.  A small process of its own:
# a child forked from the test process would count the test's own memory,
# which the fork copies (Linux keeps the high-water mark across exec).
_RSS_WRAPPER = """
import os, subprocess, sys
with open(sys.argv[1], "wb") as out:
    p = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
print(os.waitstatus_to_exitcode(status), ru.ru_maxrss)
"""


def run_cli_rss(args):
    """Run the verifier CLI in a child process: (exit status, stdout, the
    child's own peak RSS in MiB, from wait4 on that child alone)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        r = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, out, sys.executable, SCRIPT, *args],
                           capture_output=True, text=True, check=True)
        code, maxrss = map(int, r.stdout.split())
        with open(out, encoding="utf-8") as f:
            text = f.read()
    return code, text, (maxrss if sys.platform != "darwin" else maxrss // 1024) / 1024


class BoundedMemory(unittest.TestCase):
    """formats §10 "Sizes": caps on what a member inflates to, a ZIP bomb and
    a large bundle in bounded memory."""

    @classmethod
    def setUpClass(cls):
        cls.log = sample_log()
        cls.key = [sv.parse_vkey(cls.log.vkey)]
        cls.members = build_members(cls.log, query={"tool": "crm.lookup"}, v=2, chunk_bytes=700)

    def bundle_with(self, name, payload, central=True):
        ms = []
        for k, data in self.members.items():
            if k == name:
                ms.append((k, 8 if payload[0] is not data else 0) + tuple(payload))
            else:
                ms.append((k, 0) + stored(data))
        if name not in self.members:
            ms.append((name, 8) + tuple(payload))
        return raw_zip(ms, central)

    def failures(self, data, member):
        rep = sv.verify_bundle(data, self.key)
        self.assertFalse(rep.ok)
        return [f.reason for f in rep.failures if f.member == member]

    def test_zip_bomb(self):
        # 40 MiB of zeros in 40 KiB: the manifest's header says so honestly
        zeros = (b"\0" * (1 << 20) for _ in range(40))
        data, crc, size = deflated(zeros)
        self.assertLess(len(data), 100_000)
        reasons = self.failures(self.bundle_with("manifest.json", (data, crc, size)), "manifest.json")
        self.assertIn("manifest.json is larger than the 16 MiB limit for this member (formats §10): its header "
                      f"declares {size} bytes decompressed; not read", reasons)
        # the same bomb with a header that claims 100 bytes: never inflated past them
        reasons = self.failures(self.bundle_with("manifest.json", (data, crc, 100)), "manifest.json")
        self.assertTrue(reasons, "the lying member must fail")
        # and with the central directory lost: the local header is walked, inflated in bounded steps
        rep = sv.verify_bundle(self.bundle_with("manifest.json", (data, crc, 100), central=False), self.key)
        self.assertIn("manifest.json is larger than the 16 MiB limit for this member (formats §10): it inflates "
                      "beyond the limit; not read", [f.reason for f in rep.failures])
        # an entries member too, in a child process whose memory is measured
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bomb.zip")
            big, bcrc, bsize = deflated(b"\n" * (1 << 20) for _ in range(80))
            with open(path, "wb") as f:
                f.write(self.bundle_with("entries/0.jsonl", (big, bcrc, 1000), central=False))
            code, out, rss = run_cli_rss([path, "--vkey", self.log.vkey, "--json"])
            self.assertEqual(code, 1)
            reasons = [x["reason"] for x in json.loads(out)["failures"] if x["member"] == "entries/0.jsonl"]
            self.assertIn("entries/0.jsonl is larger than the 64 MiB limit for an entries/<k>.jsonl member "
                          "(formats §10): it inflates beyond the limit; not read", reasons)
            self.assertLess(rss, 64, "inflating a bomb must not hold it")

    def test_oversized_member(self):
        line = v2_lines(self.members)[0]
        text = (json.dumps(line) + "\n").encode()
        reps = (64 << 20) // len(text) + 1
        data, crc, size = deflated(text for _ in range(reps))
        self.assertGreater(size, 64 << 20)
        reasons = self.failures(self.bundle_with("entries/0.jsonl", (data, crc, size)), "entries/0.jsonl")
        self.assertIn("entries/0.jsonl is larger than the 64 MiB limit for an entries/<k>.jsonl member "
                      f"(formats §10): its header declares {size} bytes decompressed; not read", reasons)
        # a member other than the entries: 16 MiB
        data, crc, size = deflated([b"x" * ((16 << 20) + 1)])
        reasons = self.failures(self.bundle_with("checkpoint", (data, crc, size)), "checkpoint")
        self.assertIn("checkpoint is larger than the 16 MiB limit for this member (formats §10): its header "
                      f"declares {size} bytes decompressed; not read", reasons)
        # exactly at the cap is not refused for its size
        data, crc, size = deflated([b"x" * (16 << 20)])
        reasons = self.failures(self.bundle_with("checkpoint", (data, crc, size)), "checkpoint")
        self.assertFalse([r for r in reasons if "limit" in r], reasons)

    def test_large_bundle_in_bounded_memory(self):
        """200k entries, verified by the CLI in a child process: its peak
        RSS stays under a fixed bound and barely moves from 20k entries."""
        rss = {}
        with tempfile.TemporaryDirectory() as d:
            for n in (20_000, 200_000):
                path = os.path.join(d, f"{n}.zip")
                vkey = write_consecutive_bundle(path, n, v=2, chunk_bytes=1 << 20)
                code, out, rss[n] = run_cli_rss([path, "--vkey", vkey, "--json"])
                rep = json.loads(out)
                self.assertEqual((code, rep["ok"], rep["counts"]["entries"]), (0, True, n), rep["failures"][:5])
        self.assertLess(rss[200_000], 64, rss)
        self.assertLess(rss[200_000] - rss[20_000], 8, rss)


class TamperTool(unittest.TestCase):
    """tamper.py, which the Rust cross-check uses on real bundles: every case
    must fail the verifier and name the entry tamper.py says."""

    def test_every_case_on_stream_and_range_bundles(self):
        import tamper
        log = sample_log()
        key = [sv.parse_vkey(log.vkey)]
        bundles = {}
        for v in (1, 2):
            kw = dict(v=v, chunk_bytes=900) if v == 2 else {}
            bundles.update({
                f"v{v}-stream": build_members(log, query={"agent": "billing-bot", "from": 1025, "to": 1095},
                                              completeness="a:billing-bot", **kw),
                f"v{v}-stream-to-head": build_members(log, query={"agent": "billing-bot", "from": 1015},
                                                      completeness="a:billing-bot", **kw),
                f"v{v}-range": build_members(log, query={"from": 1025, "to": 1075}, completeness="range", **kw),
            })
        for kind, m in bundles.items():
            data = zip_members(m)
            self.assertTrue(sv.verify_bundle(data, key).ok)
            for case in tamper.CASES:
                _, members = tamper.read_bytes(data)
                out, entry, member = tamper.tamper(data, members, case)
                rep = sv.verify_bundle(out, key)
                sv.FAST_LINES = False
                try:  # the lines' fast path is only a shortcut: the exact path says the same
                    self.assertEqual(rep.to_json(), sv.verify_bundle(out, key).to_json(), (kind, case))
                finally:
                    sv.FAST_LINES = True
                self.assertFalse(rep.ok, (kind, case))
                hits = [f for f in rep.failures if f.entry == entry]
                self.assertTrue(hits, f"{kind}/{case}: no failure names entry {entry}: {rep.failures}")
                if kind.startswith("v2") and case == "omit":
                    # the recomputed gap hashes fit: only completeness sees it
                    self.assertFalse([f for f in rep.failures if "proven" in f.reason or "gaps" in f.reason],
                                     f"{kind}/omit: {rep.failures}")


class Cli(unittest.TestCase):
    def run_cli(self, *args):
        return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)

    def test_exit_codes_and_json(self):
        log = sample_log()
        m = build_members(log, query={"agent": "billing-bot"}, completeness="a:billing-bot")
        with tempfile.TemporaryDirectory() as d:
            good = os.path.join(d, "good.zip")
            with open(good, "wb") as f:
                f.write(zip_members(m))
            r = self.run_cli(good, "--vkey", log.vkey)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("RESULT: OK", r.stdout)
            self.assertIn("PROVEN", r.stdout)
            r = self.run_cli(good, "--vkey", log.vkey, "--json")
            out = json.loads(r.stdout)
            self.assertEqual((r.returncode, out["ok"], out["failures"]), (0, True, []))
            self.assertEqual(out["counts"]["entries"], len(m["entries.jsonl"].splitlines()))
            vf = os.path.join(d, "log.vkey")
            with open(vf, "w") as f:
                f.write(log.vkey + "\n")
            self.assertEqual(self.run_cli(good, "--vkey-file", vf).returncode, 0)
            r = self.run_cli(good)
            self.assertEqual(r.returncode, 0)
            self.assertIn("WARNING", r.stdout + r.stderr)
            bad = os.path.join(d, "bad.zip")
            with open(good, "rb") as f, open(bad, "wb") as g:
                g.write(f.read()[:-30])
            r = self.run_cli(bad, "--vkey", log.vkey, "--json")
            self.assertEqual(r.returncode, 1)
            self.assertFalse(json.loads(r.stdout)["ok"])
            self.assertEqual(self.run_cli(os.path.join(d, "nope.zip")).returncode, 2)
            self.assertEqual(self.run_cli(good, "--vkey", "garbage").returncode, 2)
            self.assertEqual(self.run_cli().returncode, 2)


if __name__ == "__main__":
    if sys.argv[1:2] == ["make-bundle"]:
        # python3 test_verify.py make-bundle OUT.zip N [v1|v2] [bodies]: a
        # benchmark bundle (write_consecutive_bundle); prints its vkey
        out, count = sys.argv[2], int(sys.argv[3])
        ver = 1 if "v1" in sys.argv[4:] else 2
        print(write_consecutive_bundle(out, count, v=ver, bodies="bodies" in sys.argv[4:]))
    else:
        unittest.main()
