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

Standard library only. Used by crates/sealtrail-cli/tests/python_verifier.rs.
"""

import base64
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


def lines(m):
    return [json.loads(x) for x in m["entries.jsonl"].decode("utf-8").splitlines()]


def set_lines(m, ls):
    m["entries.jsonl"] = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in ls).encode("utf-8")


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


def middle(ls, roles=("match", "stream")):
    """A line in the middle of the bundle whose role is one of roles."""
    cand = [x for x in ls if x["role"] in roles]
    if not cand:
        raise SystemExit("bundle has no entry to tamper with")
    return cand[len(cand) // 2]


def tamper(data, m, case):
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
        entry, member = x["index"], "entries.jsonl"
    elif case == "header":
        x = middle(ls)
        h = x["header"]
        i = h.index('"kind":"') + 8
        x["header"] = h[:i] + ("X" if h[i] != "X" else "Y") + h[i + 1:]
        set_lines(m, ls)
        entry, member = x["index"], "entries.jsonl"
    elif case == "salt":
        x = next((x for x in ls if x["salt"]), None)
        if x is None:
            raise SystemExit("bundle has no salt")
        x["salt"] = flip_char(x["salt"], 7)
        set_lines(m, ls)
        entry, member = x["index"], "entries.jsonl"
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
        # a line removed; its proof and the manifest left as they were
        x = middle(ls)
        set_lines(m, [y for y in ls if y is not x])
        entry, member = x["index"], "entries.jsonl"
    elif case == "swap":
        if len(ls) < 3:
            raise SystemExit("bundle too small to swap")
        ls[1], ls[2] = ls[2], ls[1]
        set_lines(m, ls)
        entry, member = ls[2]["index"], "entries.jsonl"
    elif case == "truncate":
        last = ls[-1]["index"]
        name = f"proofs/{last}.tlog-proof".encode()
        cut = data.index(name) + len(name) + 20  # inside the local entry, before the central directory
        return data[:cut], last, name.decode()
    elif case == "forge":
        # an entry appended after the checkpoint's tree, with a made-up proof
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
        set_lines(m, rest + [forged] + after)
        src_proof = m[f"proofs/{src['index']}.tlog-proof"].decode()
        m[f"proofs/{size}.tlog-proof"] = src_proof.replace(f"\nindex {src['index']}\n", f"\nindex {size}\n", 1).encode()
        ms = [x for x in rest + [forged] if x["role"] == "match"]
        fix_manifest(m, entries=len(ls) + 1, matches=len(ms), last_index=size)
        entry, member = size, f"proofs/{size}.tlog-proof"
    elif case == "omit":
        # a chain entry removed with its proof, the manifest fixed up to match
        x = middle(ls)
        ls2 = [y for y in ls if y is not x]
        set_lines(m, ls2)
        del m[f"proofs/{x['index']}.tlog-proof"]
        man = json.loads(m["manifest.json"])
        ms = [y for y in ls2 if y["role"] == "match"]
        erased = sum(1 for y in ms if y["body"] is None) if man.get("with_bodies") else 0
        fix_manifest(m, entries=len(ls2), matches=len(ms), bodies=sum(1 for y in ls2 if y["body"]),
                     erased=erased, first_index=ms[0]["index"] if ms else None,
                     last_index=ms[-1]["index"] if ms else None)
        entry, member = x["index"], "entries.jsonl"
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
