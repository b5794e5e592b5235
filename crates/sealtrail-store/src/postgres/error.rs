//! Driver errors: which ones mean the connection is gone (and so the
//! operation may be tried again on a new one), and the [`StoreError`] kind
//! each maps to.

use postgres::error::{DbError, SqlState};

use crate::StoreError;

/// A failure inside an operation: from the driver (kept whole, so the pool
/// can tell a dead connection from a refused statement) or already typed.
pub(super) enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

/// A failed attempt, with what the retry logic needs to know.
pub(super) struct Failed {
    pub(super) error: StoreError,
    /// The connection died under the operation.
    pub(super) lost: bool,
    /// The connection had been used before (it may have died while idle).
    pub(super) reused: bool,
}

/// The driver's error with its cause (its `Display` alone says only
/// "db error" or "error connecting to server").
pub(super) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{db} (SQLSTATE {})", db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// SQLSTATEs meaning the session is gone: class 08 (connection exception)
/// and the shutdown family of class 57.
fn session_gone(db: &DbError) -> bool {
    let code = db.code();
    code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
}

/// True when the connection itself failed (as opposed to a statement).
pub(super) fn connection_lost(e: &postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => session_gone(db),
        None => {
            e.is_closed() || std::error::Error::source(e).is_some_and(|c| c.is::<std::io::Error>())
        }
    }
}

/// Maps a driver error to what the caller should do about it. The
/// operation is named by [`StoreError::during`] where it is known.
pub(super) fn pg_err(e: &postgres::Error) -> StoreError {
    let message = describe(e);
    let Some(db) = e.as_db_error() else {
        return StoreError::Database {
            what: String::new(),
            message,
            code: None,
        };
    };
    let code = db.code();
    if *code == SqlState::UNIQUE_VIOLATION {
        StoreError::Duplicate(message)
    } else if *code == SqlState::DISK_FULL {
        StoreError::Full(message)
    } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
        StoreError::Corrupt(message)
    } else {
        // Shutdowns, lost connections, statement timeouts, serialization
        // failures, too many connections: all worth a retry (503).
        StoreError::Database {
            what: String::new(),
            message,
            code: Some(code.code().to_string()),
        }
    }
}
