use sealtrail_core::hash::Hash;
use sealtrail_core::header::EntryHeader;

/// The committed state of a log: enough to continue sequencing after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogHead {
    pub size: u64,
    pub root: Hash,
    /// Right-edge perfect subtree roots, largest first (see `Frontier`).
    pub frontier: Vec<Hash>,
    /// Server time of the last entry (µs since the epoch); 0 when empty.
    pub last_time: u64,
    /// Leaf hash of the last entry.
    pub last_leaf: Option<Hash>,
}

/// What an acknowledged event gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub index: u64,
    pub leaf_hash: Hash,
    pub time: u64,
}

/// A stream's running count and last entry index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHead {
    pub count: u64,
    pub last: u64,
}

/// The columns queries filter on, copied from the header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryColumns {
    pub time: u64,
    pub agent: String,
    pub session: Option<String>,
    pub kind: String,
    pub action: Option<String>,
    pub tool: Option<String>,
    pub outcome: Option<String>,
    pub event_id: Option<String>,
    /// Scope verdict: `in_scope`, `out_of_scope: <reason>`, `unregistered_agent`.
    pub scope: Option<String>,
    pub data_classes: Vec<String>,
    /// Keyed MACs of the data subjects, as in the header.
    pub subjects: Vec<Hash>,
}

impl EntryColumns {
    /// The query columns of a sealed header (consumes it: the strings move).
    pub fn from_header(h: EntryHeader) -> Self {
        EntryColumns {
            time: h.time,
            agent: h.agent,
            session: h.session,
            kind: h.kind,
            action: h.action,
            tool: h.tool,
            outcome: h.outcome,
            event_id: h.event_id,
            scope: h.scope,
            data_classes: h.data_classes,
            subjects: h.subjects,
        }
    }
}

/// One sequenced entry ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub index: u64,
    pub leaf_hash: Hash,
    /// `JCS(header)`: the log entry itself.
    pub header: Vec<u8>,
    pub columns: EntryColumns,
    /// `JCS(event)`.
    pub body: Vec<u8>,
    pub salt: [u8; 32],
}

/// Everything one sequencer batch changes, written in one durable transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// The committed size this batch was sequenced on.
    pub expected_size: u64,
    pub entries: Vec<NewEntry>,
    /// Completed tile-level nodes `(level, index, hash)`, level a multiple of 8, ≥ 8.
    pub nodes: Vec<(u8, u64, Hash)>,
    pub streams: Vec<(String, StreamHead)>,
    pub seqs: Vec<(String, u64)>,
    pub head: LogHead,
}

/// An entry as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub index: u64,
    pub leaf_hash: Hash,
    pub header: Vec<u8>,
    /// `None` once erased.
    pub body: Option<Vec<u8>>,
    pub salt: Option<[u8; 32]>,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    /// The signed note bytes.
    pub note: Vec<u8>,
    /// When it was signed (µs since the epoch).
    pub time: u64,
}

/// An API key as stored: never the key, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key_hash: Hash,
    pub name: String,
    pub role: String,
    pub created: u64,
}

/// The key of an agent's stream (all its entries) in stream heads.
pub fn agent_stream_key(agent: &str) -> String {
    let mut key = String::new();
    agent_stream_key_into(agent, &mut key);
    key
}

/// The key of a session's stream in stream heads.
pub fn session_stream_key(session: &str) -> String {
    let mut key = String::new();
    session_stream_key_into(session, &mut key);
    key
}

/// The key of an agent instance's `seq` counter. Validated ids hold no
/// control characters, so U+001F (unit separator) keeps the key unambiguous;
/// NUL would be refused by PostgreSQL text.
pub fn instance_key(agent: &str, instance: Option<&str>) -> String {
    let mut key = String::new();
    instance_key_into(agent, instance, &mut key);
    key
}

// The `_into` forms write a key into a buffer the caller reuses: the sealer
// looks several keys up per event, and building each as a new string was a
// fifth of its time (docs/benchmarks.md, issue 16).

/// [`agent_stream_key`] into `out` (cleared first).
pub fn agent_stream_key_into(agent: &str, out: &mut String) {
    out.clear();
    out.push_str("a:");
    out.push_str(agent);
}

/// [`session_stream_key`] into `out` (cleared first).
pub fn session_stream_key_into(session: &str, out: &mut String) {
    out.clear();
    out.push_str("s:");
    out.push_str(session);
}

/// [`instance_key`] into `out` (cleared first).
pub fn instance_key_into(agent: &str, instance: Option<&str>, out: &mut String) {
    out.clear();
    out.push_str(agent);
    out.push('\u{1f}');
    out.push_str(instance.unwrap_or(""));
}
