//! Why a key, its history or the data directory could not be used. Every
//! message names its file, key or option and, where there is one, what to
//! do. The cause is part of the message, not also a `source` (as in
//! sealtrail-store), so an error chain prints it once.

use std::path::PathBuf;

use sealtrail_core::checkpoint::CheckpointError;
use sealtrail_core::note::KeyError as KeyFormatError;
use sealtrail_store::StoreError;

use crate::layout::{HISTORY_FILE, KEY_FILE};
use crate::roles::{KeyRole, KeySource};
use crate::signer::SignerError;

/// An error from the owner-key maker given to `init`: its own, kept as it is.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    // Options.
    #[error("--signer-command is empty")]
    EmptySignerCommand,
    #[error("--signing-key and --signer-command exclude each other: pick one")]
    BothKeySources,
    #[error("--signer-command: {0}")]
    SignerCommand(SignerError),
    #[error("the signing key is kept in the data directory: there is no external key to read")]
    NotExternal,

    // Files.
    #[error("cannot create data directory {}: {cause}", dir.display())]
    CreateDir { dir: PathBuf, cause: std::io::Error },
    #[error("cannot open {}: {cause}", path.display())]
    Open {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot lock {}: {cause}", path.display())]
    Lock {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot read {}: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot write {}: {cause}", path.display())]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot rename {} to {}: {cause}", from.display(), to.display())]
    Rename {
        from: PathBuf,
        to: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot sync directory {}: {cause}", dir.display())]
    SyncDir { dir: PathBuf, cause: std::io::Error },
    #[error("cannot list {}: {cause}", dir.display())]
    List { dir: PathBuf, cause: std::io::Error },
    #[error("cannot delete {}: {cause}", path.display())]
    Delete {
        path: PathBuf,
        cause: std::io::Error,
    },

    // Key files.
    #[error("cannot read the log key {}: {cause}", path.display())]
    ReadKey {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot write the new signing key {}: {cause}", path.display())]
    WriteNewKey {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{} is not a valid C2SP private key (not UTF-8)", path.display())]
    KeyNotUtf8 { path: PathBuf },
    #[error("{} is not a valid C2SP private key: {cause}", path.display())]
    BadKeyFile {
        path: PathBuf,
        cause: KeyFormatError,
    },
    #[error("no randomness: {0}")]
    NoRandomness(String),
    #[error("{origin:?} cannot be a log origin: {cause}")]
    BadOrigin {
        origin: String,
        cause: KeyFormatError,
    },
    #[error("{vkey:?}: {cause}")]
    BadVkey { vkey: String, cause: KeyFormatError },
    #[error("cannot read the log key: {} has neither {HISTORY_FILE} nor {KEY_FILE} (is it a sealtrail data directory?)", data.display())]
    NotADataDir { data: PathBuf },

    // The history file.
    #[error("{} is not a signing-key history: {cause}", path.display())]
    HistoryParse {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("cannot serialise the signing-key history {}: {cause}", path.display())]
    HistorySerialize {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{} is version {version} of the signing-key history; this sealtrail reads version {supported}: upgrade sealtrail", path.display())]
    HistoryTooNew {
        path: PathBuf,
        version: u64,
        supported: u64,
    },
    #[error("{}: version 0 is not a signing-key history version", path.display())]
    HistoryVersionZero { path: PathBuf },
    #[error("{} names {count} primary keys; exactly one is required", path.display())]
    HistoryPrimaries { path: PathBuf, count: usize },
    #[error("{}: key {vkey:?} is not a valid vkey: {cause}", path.display())]
    HistoryBadVkey {
        path: PathBuf,
        vkey: String,
        cause: KeyFormatError,
    },
    #[error("{}: key {key_id} is named {name:?}, not after the log's origin {origin:?}", path.display())]
    HistoryKeyName {
        path: PathBuf,
        key_id: String,
        name: String,
        origin: String,
    },
    #[error("{}: key id {key_id} does not match its vkey (which has {actual})", path.display())]
    HistoryKeyId {
        path: PathBuf,
        key_id: String,
        actual: String,
    },
    #[error("{}: overlap key {key_id} has no overlap_until", path.display())]
    HistoryOverlapUntil { path: PathBuf, key_id: String },
    #[error("{} has no {HISTORY_FILE}", data.display())]
    NoHistory { data: PathBuf },

    // The keys against their history.
    #[error("the signing key of the log in {} is not in the data directory (it was given with {}); start with that option again", data.display(), option_of(*given))]
    KeyNotInDataDir { data: PathBuf, given: KeySource },
    #[error("the signing key {vkey} is named {name:?}, but the log in {} has origin {origin:?}; a log's key must be named after its origin", data.display())]
    KeyNameNotOrigin {
        vkey: String,
        name: String,
        data: PathBuf,
        origin: String,
    },
    #[error("{} holds key {key_id}, but {HISTORY_FILE} names {primary} as the primary key; restore the matching log.key (or, if {HISTORY_FILE} is wrong, remove it to start a new history from log.key)", path.display())]
    KeyFileNotPrimary {
        path: PathBuf,
        key_id: String,
        primary: String,
    },
    #[error("the signing key {key_id} was already this log's key (now {role:?}); a retired key is not taken back: use a new key")]
    KeyReused { key_id: String, role: KeyRole },
    #[error("{} does not hold key {key_id}", path.display())]
    OverlapKeyMismatch { path: PathBuf, key_id: String },
    #[error("{} does not hold key {key_id} that {HISTORY_FILE} names as primary", path.display())]
    PendingKeyMismatch { path: PathBuf, key_id: String },
    #[error("the signing keys in {} are now for origin {found:?}, not {expected:?}; restart the server", data.display())]
    OriginChanged {
        data: PathBuf,
        found: String,
        expected: String,
    },
    #[error("the signing key is named {name:?}, but --origin is {origin:?}: a log's key must be named after its origin")]
    OriginMismatch { name: String, origin: String },

    // Rotation.
    #[error("this key ring is held in memory only; it cannot be rotated")]
    InMemoryRing,
    #[error("{}", external_rotation_refusal(*key_source))]
    ExternalRotation { key_source: KeySource },
    #[error("{} does not hold the primary key that {HISTORY_FILE} names; nothing was rotated", path.display())]
    NotRotated { path: PathBuf },

    // The data directory and its store.
    #[error("cannot open the store in {}: {cause}", data.display())]
    OpenStore { data: PathBuf, cause: StoreError },
    #[error("cannot open the PostgreSQL store (schema {schema}): {cause}")]
    OpenPgStore { schema: String, cause: StoreError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{} is already initialised with origin {origin:?}; it cannot be changed to {requested:?}", data.display())]
    OriginFixed {
        data: PathBuf,
        origin: String,
        requested: String,
    },
    #[error("the database already holds a log of {entries} entries; this node needs that log's key: copy log.key (and signing-keys.json) from a node of it into {}", data.display())]
    SharedLogNeedsKey { entries: u64, data: PathBuf },
    #[error("the database already holds a log whose latest checkpoint does not verify with the signing key {vkey} ({cause}); this node needs that log's key, and signing-keys.json from a node of it in {}", data.display())]
    SharedLogOtherKey {
        vkey: String,
        cause: CheckpointError,
        data: PathBuf,
    },
    #[error("the database already holds a log of {entries} entries and no checkpoint; start the first node of it again before adding this one")]
    SharedLogNoCheckpoint { entries: u64 },
    /// The owner-key maker's own error, as it was.
    #[error(transparent)]
    Owner(BoxError),
}

/// The option that gave a key kept outside the data directory.
fn option_of(source: KeySource) -> &'static str {
    if source == KeySource::Path {
        "--signing-key PATH"
    } else {
        "--signer-command CMD"
    }
}

fn external_rotation_refusal(source: KeySource) -> String {
    let how = match source {
        KeySource::Path => "the key is read from --signing-key PATH",
        _ => "the key is held by an external signer (--signer-command)",
    };
    format!(
        "{how}, not kept in the data directory, so sealtrail cannot rotate it: \
         put a new key of the same name in its place and restart the server, which \
         records the change in {HISTORY_FILE} (see docs/deploy.md, \"Signing keys\")"
    )
}
