//! Verifying one entry as the server hands it out (`GET /v1/entries/{index}`,
//! `GET /v1/entries/{index}/proof?size=`, `GET /v1/checkpoint`,
//! `GET /v1/consistency`), trusting none of it: the leaf hash is recomputed
//! from the header, the body from its salt, the root from the audit path,
//! and the checkpoint's signature is checked with the key the user pinned.
//! Each step is sealtrail-core's, as in `sealtrail proof --verify`
//! (sealtrail-client's `verify`); here every step is a named check, so
//! the console can say which one failed.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_core::header::{EntryHeader, HeaderError, SALT_LEN};
use sealtrail_core::jcs;
use sealtrail_core::note::{Ed25519Verifier, Note, NoteVerifier};
use sealtrail_core::proof::{verify_consistency, verify_inclusion};

use crate::verdict::Verdict;

/// The check names, in the order they are reported.
pub const BODY: &str = "body commitment";
pub const LEAF: &str = "leaf hash";
pub const INCLUSION: &str = "inclusion proof";
pub const SIGNATURE: &str = "checkpoint signature";
pub const CONSISTENCY: &str = "consistency with last seen checkpoint";

/// What the console hands over. The server's answers may be given as
/// parsed JSON or as the response text (a string), which keeps every
/// number exactly as the server wrote it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntryEvidence {
    /// `GET /v1/entries/{index}`.
    pub entry: Value,
    /// `GET /v1/entries/{index}/proof?size={the checkpoint's size}`.
    pub proof: Value,
    /// The signed checkpoint note the proof is against.
    pub checkpoint: String,
    /// The pinned verifier key (`<name>+<key id>+<key>`).
    pub vkey: String,
    /// The checkpoint this browser saw last for this log, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<LastSeen>,
}

/// A checkpoint seen before, and the consistency proof from it to the one
/// being checked (`GET /v1/consistency?from=<its size>&to=<the new size>`;
/// `null` when the sizes are equal or the new one is smaller).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastSeen {
    pub checkpoint: String,
    #[serde(default)]
    pub consistency: Value,
}

/// `GET /v1/entries/{index}`, the fields that are checked.
#[derive(Debug, Deserialize)]
struct EntryJson {
    index: u64,
    leaf_hash: String,
    header: Value,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    salt: Option<String>,
}

/// `GET /v1/entries/{index}/proof`.
#[derive(Debug, Deserialize)]
struct ProofJson {
    index: u64,
    size: u64,
    leaf_hash: String,
    path: Vec<String>,
}

/// `GET /v1/consistency`.
#[derive(Debug, Deserialize)]
struct ConsistencyJson {
    from: u64,
    to: u64,
    path: Vec<String>,
}

/// A server answer given as JSON or as its text.
fn response<T: DeserializeOwned>(v: &Value, what: &str) -> Result<T, String> {
    let parsed = match v {
        Value::String(text) => serde_json::from_str(text),
        other => T::deserialize(other),
    };
    parsed.map_err(|e| format!("the {what} response cannot be read ({e}): it was altered or is not that endpoint's answer"))
}

/// The header read as a sealed header, with its leaf hash: the entry
/// bytes are the header's RFC 8785 form.
fn sealed_header(json: &Value) -> Result<(EntryHeader, Hash), String> {
    let bytes = jcs::to_canonical_vec(json)
        .map_err(|e| format!("the header cannot be put in canonical form: {e}"))?;
    let header = EntryHeader::parse(&bytes).map_err(|e| e.to_string())?;
    Ok((header, leaf_hash(&bytes)))
}

/// The hashes of a proof path (base64 on the wire).
fn path_hashes(path: &[String], what: &str) -> Result<Vec<Hash>, String> {
    path.iter()
        .enumerate()
        .map(|(k, s)| {
            Hash::from_base64(s)
                .map_err(|e| format!("hash {k} of the {what} path ({s:?}) is not a hash: {e}"))
        })
        .collect()
}

/// Checks everything the console can check about one entry.
pub fn verify_entry(e: &EntryEvidence) -> Verdict {
    let mut v = Verdict::default();
    let entry = response::<EntryJson>(&e.entry, "entry (GET /v1/entries/{index})");
    let proof = response::<ProofJson>(&e.proof, "proof (GET /v1/entries/{index}/proof)");
    let header = entry.as_ref().map_err(Clone::clone).and_then(|en| {
        sealed_header(&en.header)
            .map_err(|why| format!("the header is not a valid sealed header: {why}"))
    });
    check_body(&mut v, &entry, &header);
    check_leaf(&mut v, &entry, &proof, &header);
    let (checkpoint, verifier) = check_signature(&mut v, &e.checkpoint, &e.vkey);
    check_inclusion(&mut v, &proof, &header, checkpoint.as_ref());
    check_consistency(
        &mut v,
        e.last_seen.as_ref(),
        checkpoint.as_ref(),
        verifier.as_ref(),
    );
    v.settle()
}

fn check_body(
    v: &mut Verdict,
    entry: &Result<EntryJson, String>,
    header: &Result<(EntryHeader, Hash), String>,
) {
    let entry = match entry {
        Ok(e) => e,
        Err(why) => return v.fail(BODY, format!("not checked: {why}")),
    };
    let (Some(body), Some(salt)) = (&entry.body, &entry.salt) else {
        v.warnings.push(format!(
            "the body of entry {} was not checked against its commitment: the server sent no body (the key lacks the bodies scope, or the body was erased)",
            entry.index
        ));
        return v.pass(
            BODY,
            "not checked: the server sent no body (the key lacks the bodies scope, or the body was erased); the header's commitment is still checked as part of the leaf hash",
        );
    };
    let (header, _) = match header {
        Ok(h) => h,
        Err(why) => {
            return v.fail(
                BODY,
                format!("not checked: {why}, so what it commits to is unknown"),
            )
        }
    };
    let Ok(salt) = hex::decode(salt.trim()) else {
        return v.fail(
            BODY,
            format!("the salt {salt:?} is not hex: the salt was altered"),
        );
    };
    let canonical = match jcs::to_canonical_vec(body) {
        Ok(c) => c,
        Err(e) => {
            return v.fail(
                BODY,
                format!("the body cannot be put in canonical form ({e}): the body was altered"),
            )
        }
    };
    match header.verify_body(&salt, &canonical) {
        Ok(()) => v.pass(
            BODY,
            format!(
                "the body and its salt hash to the header's commitment {}",
                header.body
            ),
        ),
        Err(HeaderError::BodyMismatch { expected, computed }) => v.fail(
            BODY,
            format!(
                "body differs from the header's commitment: the body or its salt was altered (the header commits to {expected}, the body and salt give {computed})"
            ),
        ),
        Err(HeaderError::SaltLength(n)) => v.fail(
            BODY,
            format!("the salt is {n} bytes, a commitment's salt is {SALT_LEN}: the salt was altered"),
        ),
        Err(e) => v.fail(BODY, e.to_string()),
    }
}

fn check_leaf(
    v: &mut Verdict,
    entry: &Result<EntryJson, String>,
    proof: &Result<ProofJson, String>,
    header: &Result<(EntryHeader, Hash), String>,
) {
    let entry = match entry {
        Ok(e) => e,
        Err(why) => return v.fail(LEAF, why.clone()),
    };
    let (header, leaf) = match header {
        Ok(h) => h,
        Err(why) => return v.fail(LEAF, format!("{why}: header bytes were altered")),
    };
    if header.index != entry.index {
        return v.fail(
            LEAF,
            format!(
                "the header is entry {}, the response is for entry {}: the header or the response was altered",
                header.index, entry.index
            ),
        );
    }
    let served = match Hash::from_hex(&entry.leaf_hash) {
        Ok(h) => h,
        Err(e) => {
            return v.fail(
                LEAF,
                format!(
                    "the entry's leaf_hash {:?} is not a hash: {e}",
                    entry.leaf_hash
                ),
            )
        }
    };
    let proof_leaf = proof
        .as_ref()
        .ok()
        .and_then(|p| Hash::from_hex(&p.leaf_hash).ok());
    if *leaf != served && proof_leaf == Some(*leaf) {
        return v.fail(
            LEAF,
            format!(
                "leaf hash differs: the response's leaf_hash was altered (the header hashes to {}, as the proof says; the response says {})",
                leaf.to_hex(),
                served.to_hex()
            ),
        );
    }
    if *leaf != served {
        return v.fail(
            LEAF,
            format!(
                "leaf hash differs: header bytes were altered (the header hashes to {}, the log's leaf is {})",
                leaf.to_hex(),
                served.to_hex()
            ),
        );
    }
    if let Ok(p) = proof {
        if Hash::from_hex(&p.leaf_hash).ok() != Some(*leaf) {
            return v.fail(
                LEAF,
                format!(
                    "leaf hash differs: the proof is for leaf {:?}, this header hashes to {}",
                    p.leaf_hash,
                    leaf.to_hex()
                ),
            );
        }
    }
    v.pass(
        LEAF,
        format!(
            "the header of entry {} hashes to its leaf {}",
            entry.index,
            leaf.to_hex()
        ),
    );
}

/// The checkpoint as far as it reads (its root is used even when its
/// signature fails, so that the other checks still say what they find),
/// and the pinned key.
fn check_signature(
    v: &mut Verdict,
    note: &str,
    vkey: &str,
) -> (Option<Checkpoint>, Option<Ed25519Verifier>) {
    let parsed = Note::parse(note.as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|n| Checkpoint::parse(n.text()).map_err(|e| e.to_string()));
    let checkpoint = match parsed {
        Ok(c) => Some(c),
        Err(e) => {
            v.fail(
                SIGNATURE,
                format!("the checkpoint is not a signed checkpoint ({e}): it was altered"),
            );
            None
        }
    };
    let vkey = vkey.trim();
    let pinned = if vkey.is_empty() {
        Err("no key is pinned".to_string())
    } else {
        Ed25519Verifier::from_vkey(vkey)
            .map_err(|e| format!("the pinned key is not a verifier key ({e})"))
    };
    let Some(cp) = &checkpoint else {
        return (checkpoint, pinned.ok());
    };
    let key = match pinned {
        Ok(k) => k,
        Err(why) => {
            v.fail(
                SIGNATURE,
                format!("not checked: {why}; pin the log's verifier key (the Log page shows it; `sealtrail init` printed it)"),
            );
            return (checkpoint, None);
        }
    };
    match SignedCheckpoint::open(note.as_bytes(), &[&key as &dyn NoteVerifier]) {
        Ok(_) => v.pass(
            SIGNATURE,
            format!(
                "signed by the pinned key {}+{:08x}: tree size {}, root {}",
                key.name(),
                key.key_id(),
                cp.size,
                cp.root.to_base64()
            ),
        ),
        Err(e) => v.fail(
            SIGNATURE,
            format!(
                "the checkpoint's signature does not verify with the pinned key {}+{:08x} ({e}): the checkpoint was altered or signed by another key",
                key.name(),
                key.key_id()
            ),
        ),
    }
    (checkpoint, Some(key))
}

fn check_inclusion(
    v: &mut Verdict,
    proof: &Result<ProofJson, String>,
    header: &Result<(EntryHeader, Hash), String>,
    checkpoint: Option<&Checkpoint>,
) {
    let proof = match proof {
        Ok(p) => p,
        Err(why) => return v.fail(INCLUSION, why.clone()),
    };
    let (header, leaf) = match header {
        Ok(h) => h,
        Err(why) => return v.fail(INCLUSION, format!("not checked: {why}")),
    };
    let Some(cp) = checkpoint else {
        return v.fail(INCLUSION, "not checked: the checkpoint cannot be read");
    };
    if proof.index != header.index {
        return v.fail(
            INCLUSION,
            format!(
                "the proof is for entry {}, the header is entry {}",
                proof.index, header.index
            ),
        );
    }
    if proof.size != cp.size {
        return v.fail(
            INCLUSION,
            format!(
                "the proof is for the tree of size {}, the checkpoint is of size {}: ask for the proof with ?size={}",
                proof.size, cp.size, cp.size
            ),
        );
    }
    let path = match path_hashes(&proof.path, "inclusion") {
        Ok(p) => p,
        Err(why) => return v.fail(INCLUSION, format!("{why}: the proof was altered")),
    };
    match verify_inclusion(header.index, cp.size, leaf, &path, &cp.root) {
        Ok(()) => v.pass(
            INCLUSION,
            format!(
                "entry {} is in the signed tree of size {} (the audit path of {} hashes leads to its root)",
                header.index,
                cp.size,
                path.len()
            ),
        ),
        Err(e) => v.fail(
            INCLUSION,
            format!(
                "the audit path does not lead from this entry's leaf hash to the checkpoint's root ({e}): the entry or the proof was altered, or the entry is not in this log"
            ),
        ),
    }
}

fn check_consistency(
    v: &mut Verdict,
    last: Option<&LastSeen>,
    checkpoint: Option<&Checkpoint>,
    key: Option<&Ed25519Verifier>,
) {
    let Some(last) = last else {
        return v.pass(
            CONSISTENCY,
            "this browser has seen no checkpoint of this log before: nothing to compare (this one can be recorded as the first)",
        );
    };
    let Some(cp) = checkpoint else {
        return v.fail(CONSISTENCY, "not checked: the checkpoint cannot be read");
    };
    let seen = Note::parse(last.checkpoint.as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|n| Checkpoint::parse(n.text()).map_err(|e| e.to_string()));
    let seen = match seen {
        Ok(s) => s,
        Err(e) => {
            return v.fail(
                CONSISTENCY,
                format!("not checked: the last seen checkpoint kept in this browser cannot be read ({e}); clear it to start again"),
            )
        }
    };
    // It was checked when it was recorded; a key rotated since then is
    // worth a word, not a failure.
    if let Some(k) = key {
        if SignedCheckpoint::open(last.checkpoint.as_bytes(), &[k as &dyn NoteVerifier]).is_err() {
            v.warnings.push(format!(
                "the last seen checkpoint (size {}) is not signed by the pinned key {}+{:08x}: was the pinned key changed?",
                seen.size,
                k.name(),
                k.key_id()
            ));
        }
    }
    if seen.origin != cp.origin {
        return v.fail(
            CONSISTENCY,
            format!(
                "the last seen checkpoint is of the log {:?}, this one of {:?}: they cannot be compared",
                seen.origin, cp.origin
            ),
        );
    }
    let loud = |v: &mut Verdict, detail: String| {
        v.warnings.push(detail.clone());
        v.fail(CONSISTENCY, detail);
    };
    if seen.size > cp.size {
        return loud(
            v,
            format!(
                "ROLLBACK: the log's checkpoint has size {}, but this browser already saw size {} (root {}): the log was rolled back, or this server shows a stale or forked view",
                cp.size,
                seen.size,
                seen.root.to_base64()
            ),
        );
    }
    if seen.size == cp.size {
        if seen.root == cp.root {
            return v.pass(
                CONSISTENCY,
                format!("the same tree of size {} this browser saw before", cp.size),
            );
        }
        return loud(
            v,
            format!(
                "FORK: two different trees of size {}: this browser saw root {}, the log now shows {}; the log's history was rewritten",
                cp.size,
                seen.root.to_base64(),
                cp.root.to_base64()
            ),
        );
    }
    if last.consistency.is_null() {
        return v.fail(
            CONSISTENCY,
            format!(
                "not checked: no consistency proof from size {} to size {} was given (GET /v1/consistency?from={}&to={})",
                seen.size, cp.size, seen.size, cp.size
            ),
        );
    }
    let proof =
        match response::<ConsistencyJson>(&last.consistency, "consistency (GET /v1/consistency)") {
            Ok(p) => p,
            Err(why) => return v.fail(CONSISTENCY, why),
        };
    if (proof.from, proof.to) != (seen.size, cp.size) {
        return v.fail(
            CONSISTENCY,
            format!(
                "the consistency proof is from size {} to {}, the checkpoints are of sizes {} and {}",
                proof.from, proof.to, seen.size, cp.size
            ),
        );
    }
    let path = match path_hashes(&proof.path, "consistency") {
        Ok(p) => p,
        Err(why) => return v.fail(CONSISTENCY, format!("{why}: the proof was altered")),
    };
    match verify_consistency(seen.size, cp.size, &seen.root, &cp.root, &path) {
        Ok(()) => v.pass(
            CONSISTENCY,
            format!(
                "the tree of size {} extends the tree of size {} this browser saw before",
                cp.size, seen.size
            ),
        ),
        Err(e) => loud(
            v,
            format!(
                "FORK: the tree of size {} does not extend the tree of size {} this browser saw before ({e}): the log's history was rewritten, or the proof was altered",
                cp.size, seen.size
            ),
        ),
    }
}
