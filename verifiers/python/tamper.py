#!/usr/bin/env python3
"""Tamper with a sealtrail evidence bundle, for tests of verifiers.

    python3 tamper.py IN.zip OUT.zip CASE

writes the tampered bundle and prints one JSON object on stdout:
{"case": CASE, "entry": <the log index a verifier must name, or null>,
 "member": <the member at fault, or null>}.

Cases: body, header, salt, proof, checkpoint-sig, delete, swap, truncate,
forge, omit. Each is what an attacker (or a damaged copy) would do, with the
ZIP rebuilt properly (CRCs recomputed) so that only the evidence is at
fault, except `truncate`, which cuts the file's bytes.

Both bundle versions (docs/formats.md §9, §10). In version 2 there is one
shared proof, so what is named differs where the proof is concerned:
`header` and `proof` (a gap hash changed) fail the bundle as a whole (entry
null: §10.3, no entry is proven); `truncate` cuts the manifest, written
last, so the bundle fails as a whole; `omit` recomputes the gap hashes so
that the shared proof fits the entries left (only the completeness checks
can then see the omission).

Standard library only. Used by crates/sealtrail-cli/tests/python_verifier.rs.
"""

import base64
import bisect
import hashlib
import io
import json
import sys
import zipfile

CASES = ("body", "header", "salt", "proof", "checkpoint-sig", "delete", "swap", "truncate", "forge", "omit")


def read(path):
    with open(path, "rb") as f:
        return read_bytes(f.read())


def read_bytes(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return data, {i.filename: z.read(i) for i in z.infolist()}


def write(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def version(m):
    return json.loads(m["manifest.json"]).get("v", 1)


def chunk_names(m):
    """v2: the entries members, in order (§10: entries/<k>.jsonl, k < chunks)."""
    return [f"entries/{k}.jsonl" for k in range(json.loads(m["manifest.json"])["chunks"])]


def lines(m):
    """The bundle's lines as dicts; in v2 each remembers its member (`_k`)."""
    if version(m) == 1:
        return [json.loads(x) for x in m["entries.jsonl"].decode("utf-8").splitlines()]
    out = []
    for k, name in enumerate(chunk_names(m)):
        for x in m[name].decode("utf-8").splitlines():
            d = json.loads(x)
            d["_k"] = k
            out.append(d)
    return out


def encode_line(x):
    return json.dumps({k: v for k, v in x.items() if k != "_k"}, ensure_ascii=False) + "\n"


def set_lines(m, ls):
    """Write the lines back, in list order, each in its member (v2)."""
    if version(m) == 1:
        m["entries.jsonl"] = "".join(encode_line(x) for x in ls).encode("utf-8")
        return
    names = chunk_names(m)
    for name in names:
        m[name] = b""
    for x in ls:
        name = names[min(x.get("_k", len(names) - 1), len(names) - 1)]
        m[name] += encode_line(x).encode("utf-8")


def member_of(m, x):
    return "entries.jsonl" if version(m) == 1 else f"entries/{x['_k']}.jsonl"


# --- v2: the shared proof (formats §10.3) -----------------------------------

def _sha(data):
    return hashlib.sha256(data).digest()


def _split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def node_hashes(size, ls, gaps_after):
    """Every subtree hash the recursion MTH(lo, hi) of §10.3 meets for the
    bundle's entries (leaves, gap hashes and the nodes above them), as
    {(lo, hi): hash}."""
    leaves = {x["index"]: _sha(b"\x00" + x["header"].encode("utf-8")) for x in ls}
    gaps = iter([g for x in ls for g in x.get("gaps", [])] + list(gaps_after))
    order = sorted(leaves)
    table = {}

    def mth(lo, hi):
        i = bisect.bisect_left(order, lo)
        if i == len(order) or order[i] >= hi:
            h = base64.b64decode(next(gaps))
        elif hi - lo == 1:
            h = leaves[lo]
        else:
            k = _split(hi - lo)
            h = _sha(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi))
        table[(lo, hi)] = h
        return h

    if size:
        mth(0, size)
    return table


def refit_gaps(m, ls, table, size):
    """Set every line's `gaps` and the manifest's `gaps_after` for the
    entries of ls, from the subtree hashes of the original bundle (every gap
    of a smaller set of entries is a node the original recursion met)."""
    order = [x["index"] for x in ls]
    by_index = {x["index"]: x for x in ls}
    pending = []

    def mth(lo, hi):
        i = bisect.bisect_left(order, lo)
        if i == len(order) or order[i] >= hi:
            pending.append(base64.b64encode(table[(lo, hi)]).decode("ascii"))
        elif hi - lo == 1:
            x = by_index[lo]
            x.pop("gaps", None)
            if pending:
                x["gaps"] = list(pending)
                pending.clear()
        else:
            k = _split(hi - lo)
            mth(lo, lo + k)
            mth(lo + k, hi)

    if size:
        mth(0, size)
    # members in the order writers use (index, role, gaps, header, salt, body)
    for x in ls:
        g = x.pop("gaps", None)
        rest = {k: x.pop(k) for k in list(x) if k not in ("index", "role")}
        if g:
            x["gaps"] = g
        x.update(rest)
    fix_manifest(m, gaps_after=list(pending))


def fix_manifest(m, **changes):
    man = json.loads(m["manifest.json"])
    for k, v in changes.items():
        if k in man["counts"]:
            man["counts"][k] = v
        elif v is None:
            man.pop(k, None)
        else:
            man[k] = v
    m["manifest.json"] = json.dumps(man).encode()


def flip_char(s, i):
    c = s[i]
    return s[:i] + ("0" if c != "0" else "1") + s[i + 1:] if c in "0123456789abcdef" else s[:i] + ("x" if c != "x" else "y") + s[i + 1:]


def flip_b64(s):
    raw = bytearray(base64.b64decode(s))
    raw[5] ^= 0x10
    return base64.b64encode(bytes(raw)).decode("ascii")


def middle(ls, roles=("match", "stream")):
    """A line in the middle of the bundle whose role is one of roles."""
    cand = [x for x in ls if x["role"] in roles]
    if not cand:
        raise SystemExit("bundle has no entry to tamper with")
    return cand[len(cand) // 2]


def tamper(data, m, case):
    v2 = version(m) == 2
    ls = lines(m)
    entry, member = None, None
    if case == "body":
        x = next((x for x in ls if x["body"]), None)
        if x is None:
            raise SystemExit("bundle has no body")
        b = x["body"]
        i = b.index('"kind":"') + 8
        x["body"] = b[:i] + ("X" if b[i] != "X" else "Y") + b[i + 1:]
        set_lines(m, ls)
        entry, member = x["index"], member_of(m, x)
    elif case == "header":
        x = middle(ls)
        h = x["header"]
        i = h.index('"kind":"') + 8
        x["header"] = h[:i] + ("X" if h[i] != "X" else "Y") + h[i + 1:]
        set_lines(m, ls)
        # v1: that entry's proof fails; v2: the shared proof, the bundle's
        entry, member = (None, "manifest.json") if v2 else (x["index"], "entries.jsonl")
    elif case == "salt":
        x = next((x for x in ls if x["salt"]), None)
        if x is None:
            raise SystemExit("bundle has no salt")
        x["salt"] = flip_char(x["salt"], 7)
        set_lines(m, ls)
        entry, member = x["index"], member_of(m, x)
    elif case == "proof" and v2:
        # a byte of a gap hash (a line's, else the manifest's gaps_after)
        x = next((x for x in ls if x.get("gaps")), None)
        if x is not None:
            x["gaps"][0] = flip_b64(x["gaps"][0])
            set_lines(m, ls)
        else:
            after = json.loads(m["manifest.json"]).get("gaps_after") or []
            if not after:
                raise SystemExit("bundle has no gap hash")
            fix_manifest(m, gaps_after=[flip_b64(after[0])] + after[1:])
        entry, member = None, "manifest.json"
    elif case == "proof":
        for x in ls:
            name = f"proofs/{x['index']}.tlog-proof"
            head, rest = m[name].split(b"\n\n", 1)
            pl = head.split(b"\n")
            hashes = [i for i, line in enumerate(pl) if i > 0 and not line.startswith((b"index ", b"extra "))]
            if hashes:
                h = bytearray(base64.b64decode(pl[hashes[0]]))
                h[5] ^= 0x10
                pl[hashes[0]] = base64.b64encode(bytes(h))
                m[name] = b"\n".join(pl) + b"\n\n" + rest
                entry, member = x["index"], name
                break
        else:
            raise SystemExit("no proof with a path")
    elif case == "checkpoint-sig":
        ck = m["checkpoint"]
        text, sig = ck.rstrip(b"\n").rsplit(b" ", 1)
        raw = bytearray(base64.b64decode(sig))
        raw[9] ^= 0x01
        m["checkpoint"] = text + b" " + base64.b64encode(bytes(raw)) + b"\n"
        member = "checkpoint"
    elif case == "delete":
        # a line removed; its proof (v1), the gap hashes (v2) and the manifest
        # left as they were
        x = middle(ls)
        set_lines(m, [y for y in ls if y is not x])
        entry, member = x["index"], member_of(m, x)
    elif case == "swap":
        if len(ls) < 3:
            raise SystemExit("bundle too small to swap")
        ls[1], ls[2] = ls[2], ls[1]
        if v2:  # each stays in the member of its position
            ls[1]["_k"], ls[2]["_k"] = ls[2]["_k"], ls[1]["_k"]
        set_lines(m, ls)
        entry, member = ls[2]["index"], member_of(m, ls[2])
    elif case == "truncate":
        if v2:
            # the manifest is written last: cut inside it (and so before the
            # central directory); the bundle fails as a whole
            name = b"manifest.json"
            cut = data.index(name) + len(name) + 20
            return data[:cut], None, name.decode()
        last = ls[-1]["index"]
        name = f"proofs/{last}.tlog-proof".encode()
        cut = data.index(name) + len(name) + 20  # inside the local entry, before the central directory
        return data[:cut], last, name.decode()
    elif case == "forge":
        # an entry appended after the checkpoint's tree (v1: with a made-up proof)
        man = json.loads(m["manifest.json"])
        size = man["checkpoint"]["size"]
        src = next((x for x in reversed(ls) if x["role"] == "match"), ls[-1])
        h = json.loads(src["header"])
        h["index"] = size
        h["time"] = h["time"] + 1
        forged = {"index": size, "role": "match",
                  "header": json.dumps(h, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                  "salt": None, "body": None}
        after = [x for x in ls if x["role"] == "after"]
        rest = [x for x in ls if x["role"] != "after"]
        if v2:
            forged["_k"] = (after[0] if after else ls[-1])["_k"]
        set_lines(m, rest + [forged] + after)
        ms = [x for x in rest + [forged] if x["role"] == "match"]
        fix_manifest(m, entries=len(ls) + 1, matches=len(ms), last_index=size)
        if v2:
            entry, member = size, member_of(m, forged)
        else:
            src_proof = m[f"proofs/{src['index']}.tlog-proof"].decode()
            m[f"proofs/{size}.tlog-proof"] = src_proof.replace(f"\nindex {src['index']}\n", f"\nindex {size}\n", 1).encode()
            entry, member = size, f"proofs/{size}.tlog-proof"
    elif case == "omit":
        # a chain entry removed with its proof, the manifest fixed up to match
        # (v2: the gap hashes recomputed so that the shared proof fits)
        x = middle(ls)
        ls2 = [y for y in ls if y is not x]
        man = json.loads(m["manifest.json"])
        if v2:
            size = man["checkpoint"]["size"]
            table = node_hashes(size, ls, [g for g in man.get("gaps_after", [])])
            refit_gaps(m, ls2, table, size)
        else:
            del m[f"proofs/{x['index']}.tlog-proof"]
        set_lines(m, ls2)
        ms = [y for y in ls2 if y["role"] == "match"]
        erased = sum(1 for y in ms if y["body"] is None) if man.get("with_bodies") else 0
        fix_manifest(m, entries=len(ls2), matches=len(ms), bodies=sum(1 for y in ls2 if y["body"]),
                     erased=erased, first_index=ms[0]["index"] if ms else None,
                     last_index=ms[-1]["index"] if ms else None)
        entry, member = x["index"], member_of(m, x)
    else:
        raise SystemExit(f"unknown case {case!r}; one of {', '.join(CASES)}")
    return write(m), entry, member


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    _, src, dst, case = argv
    data, m = read(src)
    out, entry, member = tamper(data, m, case)
    with open(dst, "wb") as f:
        f.write(out)
    print(json.dumps({"case": case, "entry": entry, "member": member}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
