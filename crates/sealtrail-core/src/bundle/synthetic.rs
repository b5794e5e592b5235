//! A small in-memory log that writes bundles, for tests, benchmarks and
//! test vectors of other verifiers. It selects entries by brute force over
//! the whole log (the obviously right answer, against which the server's
//! indexed export can be compared) and writes every member with the same
//! writer functions the server uses. Deterministic: no clock, no randomness.

use std::collections::BTreeMap;

use super::manifest::{Completeness, Manifest, TreeRef};
use super::write::{EntriesWriter, MapSink, Written};
use super::{
    line::write_entry_line, proof_member, readme::readme, CompletenessFile, Role, BUNDLE_VERSION,
    CHECKPOINT, COMPLETENESS, ENTRIES, FORMAT, KEYS, MANIFEST, README,
};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::filter::EventFilter;
use crate::hash::{sha256, Hash};
use crate::header::{commit_body, EntryHeader, StreamLink, Streams, SALT_LEN};
use crate::heads::{agent_key, extension_line, session_key, StreamHeads};
use crate::jcs;
use crate::note::{Ed25519Signer, Ed25519Verifier};
use crate::proof::{prove_inclusion, MemoryTree};
use crate::tlog_proof::TlogProof;

/// One entry of the synthetic log.
#[derive(Debug, Clone)]
pub struct SyntheticEntry {
    pub header: EntryHeader,
    pub bytes: Vec<u8>,
    pub salt: [u8; SALT_LEN],
    pub body: Vec<u8>,
}

/// A log held in memory, signed with a fixed test key.
pub struct SyntheticLog {
    pub origin: String,
    signer: Ed25519Signer,
    pub entries: Vec<SyntheticEntry>,
    tree: MemoryTree,
    heads: StreamHeads,
}

/// Why the synthetic log could not do something (bad test input).
#[derive(Debug, thiserror::Error)]
pub enum SyntheticError {
    #[error("{0}")]
    Invalid(String),
}

fn err(e: impl std::fmt::Display) -> SyntheticError {
    SyntheticError::Invalid(e.to_string())
}

impl SyntheticLog {
    pub fn new(origin: &str) -> Result<Self, SyntheticError> {
        Ok(SyntheticLog {
            origin: origin.to_owned(),
            signer: Ed25519Signer::from_seed(origin, [7; 32]).map_err(err)?,
            entries: Vec::new(),
            tree: MemoryTree::new(),
            heads: StreamHeads::new(),
        })
    }

    pub fn vkey(&self) -> String {
        self.signer.vkey()
    }

    pub fn verifier(&self) -> Ed25519Verifier {
        self.signer.verifier()
    }

    /// Appends an event of `agent` (in `session`) of `kind` at `time` (µs;
    /// must not decrease). Returns its index.
    pub fn append(
        &mut self,
        agent: &str,
        session: Option<&str>,
        kind: &str,
        time: u64,
    ) -> Result<u64, SyntheticError> {
        let index = self.entries.len() as u64;
        let mut event = serde_json::json!({
            "id": format!("e{index}"),
            "agent": {"id": agent},
            "kind": kind,
            "action": "lookup",
        });
        if let Some(s) = session {
            event["session"] = s.into();
        }
        let body = jcs::to_canonical_vec(&event).map_err(err)?;
        let salt = sha256(&index.to_be_bytes()).0;
        let link = |key: &str| {
            let h = self.heads.get(key);
            StreamLink {
                n: h.map_or(1, |h| h.n + 1),
                prev: h.map(|h| h.last),
            }
        };
        let streams = Streams {
            agent: link(&agent_key(agent)),
            session: session.map(|s| link(&session_key(s))),
        };
        let prev = self
            .entries
            .last()
            .map(|e| crate::hash::leaf_hash(&e.bytes));
        let header = header(Fields {
            index,
            time,
            prev,
            agent,
            session,
            kind,
            streams,
            body: commit_body(&salt, &body),
        });
        let bytes = header.to_entry_bytes().map_err(err)?;
        self.tree.push(crate::hash::leaf_hash(&bytes));
        self.heads.advance(&agent_key(agent), index);
        if let Some(s) = session {
            self.heads.advance(&session_key(s), index);
        }
        self.entries.push(SyntheticEntry {
            header,
            bytes,
            salt,
            body,
        });
        Ok(index)
    }

    /// The signed checkpoint of the whole log, with the stream-heads line.
    pub fn checkpoint(&mut self) -> Result<SignedCheckpoint, SyntheticError> {
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: self.tree.size(),
            root: self.tree.root(),
            extensions: vec![extension_line(&self.heads.root())],
        };
        SignedCheckpoint::sign(cp, &[&self.signer]).map_err(err)
    }

    /// Which entries a bundle for `query` holds, with their roles (brute force).
    pub fn select(&self, query: &EventFilter) -> Vec<(u64, Role)> {
        let all = &self.entries;
        let in_range = |e: &SyntheticEntry| query.time_check(e.header.time).is_ok();
        let mut out = Vec::new();
        if let Some((field, id)) = query.completeness_stream() {
            let stream: Vec<&SyntheticEntry> = all
                .iter()
                .filter(|e| field.of(&e.header).0 == Some(id))
                .collect();
            let before = stream
                .iter()
                .rev()
                .find(|e| query.from.is_some_and(|f| e.header.time < f));
            let after = stream
                .iter()
                .find(|e| query.to.is_some_and(|t| e.header.time >= t));
            out.extend(before.map(|e| (e.header.index, Role::Before)));
            for e in stream.iter().filter(|e| in_range(e)) {
                let role = if query.filters_match(&e.header).is_ok() {
                    Role::Match
                } else {
                    Role::Stream
                };
                out.push((e.header.index, role));
            }
            out.extend(after.map(|e| (e.header.index, Role::After)));
        } else if query.is_time_only() {
            let before = all
                .iter()
                .rev()
                .find(|e| query.from.is_some_and(|f| e.header.time < f));
            let after = all
                .iter()
                .find(|e| query.to.is_some_and(|t| e.header.time >= t));
            out.extend(before.map(|e| (e.header.index, Role::Before)));
            out.extend(
                all.iter()
                    .filter(|e| in_range(e))
                    .map(|e| (e.header.index, Role::Match)),
            );
            out.extend(after.map(|e| (e.header.index, Role::After)));
        } else {
            out.extend(
                all.iter()
                    .filter(|e| query.matches(&e.header).is_ok())
                    .map(|e| (e.header.index, Role::Match)),
            );
        }
        out
    }

    /// The members of a bundle answering `query`, in the current format
    /// (version 2, docs/formats.md §10).
    pub fn bundle(
        &mut self,
        query: &EventFilter,
        with_bodies: bool,
    ) -> Result<BTreeMap<String, Vec<u8>>, SyntheticError> {
        self.bundle_as(query, with_bodies, BUNDLE_VERSION)
    }

    /// The members of a bundle answering `query` in format version 1
    /// (a proof file per entry), which readers still verify.
    pub fn bundle_v1(
        &mut self,
        query: &EventFilter,
        with_bodies: bool,
    ) -> Result<BTreeMap<String, Vec<u8>>, SyntheticError> {
        self.bundle_as(query, with_bodies, 1)
    }

    fn bundle_as(
        &mut self,
        query: &EventFilter,
        with_bodies: bool,
        version: u64,
    ) -> Result<BTreeMap<String, Vec<u8>>, SyntheticError> {
        let selection = self.select(query);
        self.bundle_of(query, with_bodies, version, &selection)
    }

    /// A bundle for `query` holding exactly `selection` (index order), with
    /// every member written honestly for it: what a forger who holds the
    /// whole log can make (an omission with every proof rebuilt).
    pub fn bundle_of(
        &mut self,
        query: &EventFilter,
        with_bodies: bool,
        version: u64,
        selection: &[(u64, Role)],
    ) -> Result<BTreeMap<String, Vec<u8>>, SyntheticError> {
        let signed = self.checkpoint()?;
        let note = signed.to_bytes();
        let cp = signed.checkpoint;
        let mut members = BTreeMap::new();
        let written = if version >= 2 {
            let mut w = EntriesWriter::new(cp.size, with_bodies);
            let mut sink = MapSink::new(&mut members);
            for &(index, role) in selection {
                let e = &self.entries[index as usize];
                w.push(
                    &mut sink,
                    &self.tree,
                    index,
                    role,
                    &e.bytes,
                    Some((&e.salt, &e.body[..])),
                )
                .map_err(err)?;
            }
            w.finish::<std::convert::Infallible, _>(&self.tree)
                .map_err(err)?
        } else {
            let mut lines = Vec::new();
            let mut w = Written::default();
            for &(index, role) in selection {
                let e = &self.entries[index as usize];
                let body = (with_bodies && role == Role::Match).then_some((&e.salt, &e.body[..]));
                write_entry_line(&mut lines, index, role, &[], &e.bytes, body).map_err(err)?;
                w.counts.entries += 1;
                w.counts.bodies += u64::from(body.is_some());
                if role == Role::Match {
                    w.counts.matches += 1;
                    w.first_index.get_or_insert(index);
                    w.last_index = Some(index);
                }
                let proof = TlogProof {
                    extra: None,
                    index,
                    path: prove_inclusion(&self.tree, index, cp.size).map_err(err)?,
                    checkpoint: note.clone(),
                };
                members.insert(proof_member(index), proof.to_bytes());
            }
            members.insert(ENTRIES.into(), lines);
            w
        };
        let completeness = Completeness::for_query(query, cp.size, written.counts.matches);
        if let Some(key) = &completeness.stream {
            let file = CompletenessFile::new(key.clone(), &self.heads.prove(key));
            members.insert(COMPLETENESS.into(), file.to_bytes());
        }
        let v2 = version >= 2;
        let manifest = Manifest {
            format: FORMAT.into(),
            v: version,
            software: "sealtrail synthetic".into(),
            created: 0,
            origin: cp.origin.clone(),
            checkpoint: TreeRef {
                size: cp.size,
                root: cp.root,
            },
            query: query.clone(),
            with_bodies,
            counts: written.counts,
            first_index: written.first_index,
            last_index: written.last_index,
            completeness,
            chunks: v2.then_some(written.chunks),
            gaps_after: v2.then_some(written.gaps_after),
        };
        members.insert(README.into(), readme(&manifest, &self.vkey()).into_bytes());
        members.insert(MANIFEST.into(), manifest.to_bytes());
        members.insert(CHECKPOINT.into(), note);
        members.insert(KEYS.into(), format!("{}\n", self.vkey()).into_bytes());
        Ok(members)
    }

    /// The root of the whole log.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }
}

/// A large bundle written as it is generated, for benchmarks and the
/// bounded-memory tests: every entry of a log of `n` entries (three agents
/// taking turns, one event per microsecond), as the answer to a query with
/// no filter (range completeness), in format version 2. Nothing grows with
/// `n` but the output: the entries are generated twice (once for the
/// checkpoint's root, once to write them), deterministically.
#[cfg(feature = "zip")]
pub fn write_range_bundle<W: std::io::Write + std::io::Seek>(
    n: u64,
    with_bodies: bool,
    out: zip::ZipWriter<W>,
) -> Result<(String, W), SyntheticError> {
    use super::zip_write::{BundleHead, BundleWriter};
    use crate::hash::leaf_hash;

    let signer = Ed25519Signer::from_seed("bench.example/large", [7; 32]).map_err(err)?;
    let mut body = Vec::new();
    // The root, from the right edge of the tree (one subtree per set bit).
    let mut frontier = crate::frontier::Frontier::new();
    let mut prev = None;
    for index in 0..n {
        let (bytes, _) = range_entry(index, prev, &mut body)?;
        let leaf = leaf_hash(&bytes);
        prev = Some(leaf);
        frontier.append(leaf);
    }
    let root = frontier.root();
    let cp = Checkpoint {
        origin: "bench.example/large".into(),
        size: n,
        root,
        extensions: Vec::new(),
    };
    let signed = SignedCheckpoint::sign(cp, &[&signer]).map_err(err)?;
    let note = signed.to_bytes();
    let query = EventFilter::default();
    let vkey = signer.vkey();
    let head = BundleHead {
        note: &note,
        checkpoint: &signed.checkpoint,
        vkey: &vkey,
        query: &query,
        with_bodies,
        completeness: None,
        software: "sealtrail synthetic".into(),
        created: 0,
    };
    let mut w = BundleWriter::new(out, head).map_err(err)?;
    // Every leaf is in the bundle: there is no gap, and no node is asked for.
    let nodes = MemoryTree::new();
    let mut prev = None;
    for index in 0..n {
        let (bytes, salt) = range_entry(index, prev, &mut body)?;
        prev = Some(leaf_hash(&bytes));
        w.push(&nodes, index, Role::Match, &bytes, Some((&salt, &body)))
            .map_err(err)?;
    }
    let (_, out) = w.finish(&nodes).map_err(err)?;
    Ok((vkey, out))
}

/// The members of a synthetic header that vary.
struct Fields<'a> {
    index: u64,
    time: u64,
    prev: Option<Hash>,
    agent: &'a str,
    session: Option<&'a str>,
    kind: &'a str,
    streams: Streams,
    body: Hash,
}

/// A synthetic event's header: action `lookup`, event id `e<index>`.
fn header(f: Fields<'_>) -> EntryHeader {
    EntryHeader {
        v: 1,
        index: f.index,
        time: f.time,
        prev: f.prev,
        agent: f.agent.to_owned(),
        instance: None,
        session: f.session.map(str::to_owned),
        parent: None,
        kind: f.kind.to_owned(),
        action: Some("lookup".into()),
        tool: None,
        outcome: None,
        event_id: Some(format!("e{}", f.index)),
        seq: None,
        seq_gap: None,
        data_classes: Vec::new(),
        subjects: Vec::new(),
        scope: None,
        redacted: None,
        streams: f.streams,
        body: f.body,
    }
}

/// Entry `index` of [`write_range_bundle`]'s log (three agents taking
/// turns, one event per microsecond, bodies of about 1 KiB): its bytes and
/// salt; its body is left in `body`.
#[cfg(feature = "zip")]
fn range_entry(
    index: u64,
    prev: Option<Hash>,
    body: &mut Vec<u8>,
) -> Result<(Vec<u8>, [u8; SALT_LEN]), SyntheticError> {
    let agent = ["bot", "other", "third"][(index % 3) as usize];
    body.clear();
    body.extend_from_slice(
        format!(
            r#"{{"action":"lookup","agent":{{"id":"{agent}"}},"id":"e{index}","input":{{"query":"customer 4711 invoices for the last quarter","rows":128}},"kind":"tool_call","output":{{"status":"ok","summary":"{}"}}}}"#,
            "x".repeat(700)
        )
        .as_bytes(),
    );
    let salt = sha256(&index.to_be_bytes()).0;
    let streams = Streams {
        agent: StreamLink {
            n: index / 3 + 1,
            prev: index.checked_sub(3),
        },
        session: None,
    };
    let h = header(Fields {
        index,
        time: 1_000_000 + index,
        prev,
        agent,
        session: None,
        kind: "tool_call",
        streams,
        body: commit_body(&salt, body),
    });
    Ok((h.to_entry_bytes().map_err(err)?, salt))
}
