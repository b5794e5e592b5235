//! `README.md` of a bundle: what it holds and how an auditor verifies it.

use super::manifest::Manifest;

/// The README for a bundle with this manifest; `vkey` is the log's key as
/// the exporter knows it (the auditor should get it from the operator
/// separately, not from the bundle).
pub fn readme(m: &Manifest, vkey: &str) -> String {
    let first_last = match (m.first_index, m.last_index) {
        (Some(f), Some(l)) => format!("entries {f} to {l}"),
        _ => "no entry".to_string(),
    };
    format!(
        r#"# sealtrail evidence bundle

This file is evidence exported from the sealtrail log `{origin}`. It answers
one query and proves its answer against a checkpoint (a signed tree head) of
the log, offline: nothing here asks you to trust the operator's server or the
software that wrote it.

- Query: {query}
- Checkpoint: tree size {size}, root {root} (hex)
- Entries: {entries} lines, {matches} matches ({first_last}), {bodies} with their
  full event body, {erased} erased{withheld}
- Completeness: {statement}
- Written by {software} at {created} µs since the Unix epoch (UTC)

## Verify it

1. Get the log's verifier key from the operator through a channel you trust
   (not from this file). The exporter's copy is in `keys/log.vkey`:

       {vkey}

2. Run either verifier; both check the same things and exit 0 only if
   everything holds.

   With the sealtrail command line:

       sealtrail verify evidence.zip --vkey '<the log's key>'
       sealtrail verify evidence.zip --vkey '<the log's key>' --json

   With the independent verifier (Python, standard library plus
   `cryptography`), `verifiers/python/sealtrail_verify.py` in the sealtrail
   source tree, written from the format specification alone:

       python3 sealtrail_verify.py evidence.zip --vkey '<the log's key>'

Both name every entry that fails and why.

## What is checked

- `checkpoint` is signed by the log's key, and `manifest.json` names it.
- Every line of {entries_members} is an entry of the log: its header's leaf
  hash (SHA-256 of 0x00 and the header bytes) is proven in the checkpoint's
  Merkle tree {proven_by}.
- Every body hashes, with its salt, to the commitment in its header, and
  agrees with the header on agent, kind, event id and session.
- Every entry marked `match` satisfies the query; the counts are right.
- Completeness, when claimed: for an agent or session, each entry of the
  stream links to the stream's previous entry, so none can be removed without
  a broken link; the entry before the range (or none: the stream's first
  entry), and the entry after it or the stream's head committed in the signed
  checkpoint (`completeness.json`), close both ends. For a time range, the
  entries are consecutive and the entries around them lie outside the range.

The formats are specified in `docs/formats.md` (§4 headers, §7 proofs, §8
stream heads, §9 bundles, §10 version 2) of the sealtrail source tree.
"#,
        origin = m.origin,
        query = m.query.describe(),
        size = m.checkpoint.size,
        root = m.checkpoint.root,
        entries = m.counts.entries,
        matches = m.counts.matches,
        bodies = m.counts.bodies,
        erased = m.counts.erased,
        withheld = if m.with_bodies {
            ""
        } else {
            " (exported without bodies: headers only)"
        },
        statement = m.completeness.statement,
        software = m.software,
        created = m.created,
        vkey = vkey.trim(),
        entries_members = if m.v >= 2 {
            "`entries/0.jsonl`, `entries/1.jsonl`, …"
        } else {
            "`entries.jsonl`"
        },
        proven_by = if m.v >= 2 {
            "by one shared proof: the entries' leaf hashes, with the hashes of the
  subtrees between them (`gaps` in each line, `gaps_after` in the manifest),
  recompute the checkpoint's root (format §10.3)"
        } else {
            "by `proofs/<index>.tlog-proof` (C2SP tlog-proof, RFC 9162 paths)"
        },
    )
}
