//! Why an offline command could not run (exit status 2 in the CLI). A
//! check that ran and found problems is not an error: it is the command's
//! report and exit status. Messages name their file, option or key; the
//! cause is part of the message (as in sealtrail-store and sealtrail-keys).

use std::path::PathBuf;

use sealtrail_core::note::KeyError as KeyFormatError;
use sealtrail_keys::{KeysError, Refusal};
use sealtrail_pii::PolicyError;
use sealtrail_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] sealtrail_client::ClientError),
    #[error(transparent)]
    Refused(#[from] Refusal),

    // Files and streams.
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
    #[error("cannot read stdin: {cause}")]
    Stdin { cause: std::io::Error },
    #[error("cannot read the note text from stdin: {cause}")]
    NoteStdin { cause: std::io::Error },
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },

    // Verifier keys.
    #[error("cannot read the key file {arg}: {cause}")]
    KeyFile { arg: String, cause: std::io::Error },
    #[error("{line:?} is not a valid verifier key: {cause}")]
    VkeyLine { line: String, cause: KeyFormatError },
    #[error("--vkey is not a valid verifier key: {cause}")]
    VkeyOption { cause: KeyFormatError },
    #[error("--vkey {vkey:?} is not a verifier key: {cause}")]
    ProofVkey { vkey: String, cause: KeyFormatError },
    #[error("no verifier key found in the given key or file")]
    NoVkey,
    #[error("--verify needs the log's verifier key: pass --vkey or set SEALTRAIL_VKEY (`sealtrail init` prints it)")]
    VerifyNeedsVkey,

    // fsck.
    #[error("cannot check the store in {}: {cause}", data.display())]
    Fsck { data: PathBuf, cause: StoreError },

    // scan.
    #[error("{name} is not UTF-8 (byte {valid_up_to})")]
    NotUtf8 { name: String, valid_up_to: usize },
    #[error("{name} is not JSON: {cause}")]
    NotJson {
        name: String,
        cause: serde_json::Error,
    },
    #[error("{name} line {line} is not JSON: {cause}")]
    LineNotJson {
        name: String,
        line: usize,
        cause: serde_json::Error,
    },
    #[error("cannot read the policy {}: {cause}", path.display())]
    ReadPolicy {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{} is not a valid redaction policy: {cause}", path.display())]
    BadPolicy { path: PathBuf, cause: PolicyError },
    #[error("the policy or key is not usable: {cause}")]
    Redactor { cause: PolicyError },
    #[error("no randomness: {0}")]
    NoRandomness(String),

    // proof.
    #[error("the server has no signed checkpoint of size {size} to prove entry {index} against; {}", if *size_given { "omit --size to use the latest checkpoint" } else { "try again after the next checkpoint" })]
    NoCheckpoint {
        size: u64,
        index: u64,
        size_given: bool,
    },
    #[error("cannot start the async runtime: {cause}")]
    Runtime { cause: std::io::Error },

    #[error(transparent)]
    Json(#[from] serde_json::Error),
}
