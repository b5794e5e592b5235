//! Copying a log from one store to another (`sealtrail migrate`), and
//! proving the copy: the target must re-derive the same root, every signed
//! checkpoint must match the copied entries, and fsck must pass on it.

use std::collections::HashMap;

use sealtrail_core::frontier::Frontier;
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_core::header::EntryHeader;
use sealtrail_core::note::NoteVerifier;

use crate::{
    agent_stream_key, instance_key, session_stream_key, Batch, EntryColumns, LogHead, NewEntry,
    Store, StoreError, StreamHead,
};

/// Entries copied per target transaction.
const CHUNK: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target already holds a log ({0} entries); migrate only into an empty store")]
    TargetNotEmpty(u64),
    #[error("entry {index} of the source cannot be copied: {why}; run `sealtrail verify --data` on the source")]
    BadSource { index: u64, why: String },
    #[error("the copy does not verify: {0}")]
    NotProven(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub entries: u64,
    pub checkpoints: u64,
    /// Legacy API keys plus access-control records (keys, agents, projects).
    pub api_keys: u64,
    pub root: Hash,
}

/// Copies every entry, body, checkpoint and API key of `from` into the empty
/// store `to`, then proves the copy with `verifiers` (the log's keys).
/// `progress(done, total)` is called after each chunk.
/// The kinds of access-control records a copy carries over.
const ACCESS_KINDS: [&str; 3] = ["key", "agent", "project"];

pub fn copy_log(
    from: &dyn Store,
    to: &dyn Store,
    verifiers: &[&dyn NoteVerifier],
    mut progress: impl FnMut(u64, u64),
) -> Result<CopyReport, CopyError> {
    let target = to.head()?;
    if target.size > 0 || to.latest_checkpoint()?.is_some() {
        return Err(CopyError::TargetNotEmpty(target.size));
    }
    let source = from.head()?;
    let mut frontier = Frontier::new();
    let mut last_time = 0;
    let mut last_leaf = None;
    let mut start = 0u64;
    while start < source.size {
        let end = (start + CHUNK).min(source.size);
        let chunk = from.entries(start, end)?;
        let mut entries = Vec::with_capacity(chunk.len());
        let mut nodes = Vec::new();
        let mut touched: HashMap<String, StreamHead> = HashMap::new();
        let mut seqs: HashMap<String, u64> = HashMap::new();
        for (expected, e) in (start..end).zip(chunk) {
            let bad = |why: String| CopyError::BadSource {
                index: expected,
                why,
            };
            if e.index != expected {
                return Err(bad(format!("found entry {} in its place", e.index)));
            }
            let h = EntryHeader::parse(&e.header).map_err(|err| bad(err.to_string()))?;
            let leaf = leaf_hash(&e.header);
            if leaf != e.leaf_hash {
                return Err(bad("its stored leaf hash does not match its header".into()));
            }
            let (Some(body), Some(salt)) = (e.body, e.salt) else {
                return Err(bad(
                    "its body was erased; copying erased entries is not supported yet".into(),
                ));
            };
            for (key, link) in [
                (Some(agent_stream_key(&h.agent)), Some(h.streams.agent)),
                (
                    h.session.as_deref().map(session_stream_key),
                    h.streams.session,
                ),
            ] {
                if let (Some(key), Some(link)) = (key, link) {
                    let head = StreamHead {
                        count: link.n,
                        last: h.index,
                    };
                    touched.insert(key, head);
                }
            }
            if let Some(seq) = h.seq {
                seqs.insert(instance_key(&h.agent, h.instance.as_deref()), seq);
            }
            frontier.append_with(leaf, |level, index, hash| {
                if level > 0 && level % 8 == 0 {
                    nodes.push((level, index, *hash));
                }
            });
            last_time = h.time;
            last_leaf = Some(leaf);
            entries.push(NewEntry {
                index: h.index,
                leaf_hash: leaf,
                columns: EntryColumns::from_header(h),
                header: e.header,
                body,
                salt,
            });
        }
        if entries.len() as u64 != end - start {
            return Err(CopyError::BadSource {
                index: start + entries.len() as u64,
                why: "it is missing".into(),
            });
        }
        to.append_batch(&Batch {
            expected_size: start,
            entries,
            nodes,
            streams: touched.into_iter().collect(),
            seqs: seqs.into_iter().collect(),
            head: LogHead {
                size: end,
                root: frontier.root(),
                frontier: frontier.nodes().to_vec(),
                last_time,
                last_leaf,
            },
        })?;
        progress(end, source.size);
        start = end;
    }
    let checkpoints = from.checkpoints()?;
    for cp in &checkpoints {
        to.put_checkpoint(cp)?;
    }
    let keys = from.api_keys()?;
    for k in &keys {
        to.put_api_key(k)?;
    }
    // Keys, agents and projects of the access-control records.
    let mut access = 0u64;
    for kind in ACCESS_KINDS {
        for (id, record) in from.access_all(kind)? {
            to.put_access(kind, &id, &record)?;
            access += 1;
        }
    }

    // Prove it: same root as the source's head, and a clean fsck (which
    // re-derives every hash and checks every checkpoint's root).
    let copied = to.head()?;
    if copied.size != source.size || copied.root != source.root || frontier.root() != source.root {
        return Err(CopyError::NotProven(format!(
            "source root {} at size {}, copy has {} at size {}",
            source.root, source.size, copied.root, copied.size
        )));
    }
    let report = crate::fsck::check(to, verifiers)?;
    if let Some(p) = report.problems.first() {
        return Err(CopyError::NotProven(format!(
            "{p} ({} problems)",
            report.problems.len()
        )));
    }
    Ok(CopyReport {
        entries: copied.size,
        checkpoints: checkpoints.len() as u64,
        api_keys: keys.len() as u64 + access,
        root: copied.root,
    })
}
