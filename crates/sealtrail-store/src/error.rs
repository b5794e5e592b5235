//! [`StoreError`]: every storage failure, sorted by what the caller should do.

/// Storage failures, sorted by what the caller should do about them. Each
/// message names its subject (the file, the database and the operation)
/// and the cause, e.g. `cannot write segment /data/segments/00000012.seg:
/// Input/output error (os error 5)`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The disk is full: nothing of the failed batch was kept; retry later.
    #[error("storage is full: {0}")]
    Full(String),
    /// Another writer moved the log; reload the head and sequence again.
    #[error("log head moved: expected size {expected}, found {found}")]
    Conflict { expected: u64, found: u64 },
    /// The store holds something that cannot be right.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// A schema this software does not know.
    #[error("store schema version {found} is newer than this sealtrail supports ({supported}); upgrade sealtrail")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("{0} already exists")]
    Duplicate(String),
    /// A file or directory could not be read or written. `what` says what
    /// was done to which path; the cause is part of the message (and so not
    /// also a `source`, which would print it twice in an error chain).
    #[error("cannot {what}: {cause}")]
    Io { what: String, cause: std::io::Error },
    /// The database (SQLite or PostgreSQL) failed an operation: `what` is
    /// the operation and the database it ran on (empty only until
    /// [`StoreError::during`] names it), `message` the driver's, `code` its
    /// SQLSTATE or SQLite result code.
    #[error("{}{message}", subject(what))]
    Database {
        what: String,
        message: String,
        code: Option<String>,
    },
    /// The store cannot serve the call now for a reason of its own (all
    /// connections busy, a worker thread gone): retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A value or setting the store cannot take (a number past its column,
    /// an invalid PostgreSQL URL or schema name); retrying will not help.
    #[error("{0}")]
    Invalid(String),
}

fn subject(what: &str) -> String {
    if what.is_empty() {
        String::new()
    } else {
        format!("{what}: ")
    }
}

impl StoreError {
    /// True for failures where the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Full(_)
                | StoreError::Io { .. }
                | StoreError::Database { .. }
                | StoreError::Unavailable(_)
                | StoreError::Conflict { .. }
        )
    }

    /// `cause` while doing `what` (e.g. `write segment /data/segments/
    /// 00000012.seg`); a full disk or quota (ENOSPC, EDQUOT) is
    /// [`StoreError::Full`], which callers answer with 503 `storage_full`.
    pub fn io(what: impl Into<String>, cause: std::io::Error) -> StoreError {
        let what = what.into();
        match cause.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                StoreError::Full(format!("cannot {what}: {cause}"))
            }
            _ => StoreError::Io { what, cause },
        }
    }

    /// Names the operation `what` (and the database or file it ran on) in
    /// an error that came up inside it, ripgrep style: a database error
    /// that names no operation yet gets `what` as its subject; a full or
    /// corrupt store gets `what: ` in front of its cause, which names what
    /// it can itself (a column, a segment file), e.g. `store is corrupt:
    /// cannot read entries (table entries) in /data/log.db: database disk
    /// image is malformed`. Other errors name their subject where they are
    /// made and are returned as they are; the kind never changes.
    pub fn during(self, what: impl FnOnce() -> String) -> StoreError {
        match self {
            StoreError::Database {
                what: w,
                message,
                code,
            } if w.is_empty() => StoreError::Database {
                what: what(),
                message,
                code,
            },
            StoreError::Full(cause) => StoreError::Full(format!("{}: {cause}", what())),
            StoreError::Corrupt(cause) => StoreError::Corrupt(format!("{}: {cause}", what())),
            other => other,
        }
    }
}
