//! sealtrail storage: the [`Store`] the server writes and reads through,
//! and its two backends: the embedded default ([`sqlite::SqliteStore`]: SQLite
//! for the index and tree state, append-only segment files for headers and
//! bodies) and [`postgres::PgStore`] for several server nodes on one database.
//!
//! [`Store`] is the sum of one trait per concern, each in its own module:
//! [`LogStore`] (the log: head, append, entries, nodes, stream heads),
//! [`QueryIndex`] (filtered pages and counts), [`CheckpointStore`],
//! [`Coordination`] (the writer lock and leases) and [`AccessRecords`] (API
//! keys and access-control records). Calling a method on a `dyn Store`
//! needs its trait in scope: `use sealtrail_store::prelude::*;`.
//!
//! Durability contract: [`LogStore::append_batch`] returns only once the
//! whole batch is durable (fsync'd); a crash at any instant leaves either the
//! whole batch or none of it.

pub mod access;
pub mod checkpoints;
mod column;
pub mod coordination;
pub mod copy;
mod error;
pub mod fsck;
pub mod log;
pub mod postgres;
pub mod postings;
pub mod query;
pub mod query_index;
pub mod segment;
pub mod sqlite;
mod types;

pub use access::AccessRecords;
pub use checkpoints::CheckpointStore;
pub use coordination::{Coordination, LogLock};
pub use error::StoreError;
pub use log::LogStore;
pub use query::{EventQuery, QueryEvent, QueryPage, StatsGroup, StatsQuery, StatsRow};
pub use query_index::QueryIndex;
pub use sealtrail_core::filter::EventFilter;
pub use types::*;

/// The write path's maps (session numbers, posting lists, daily counts),
/// keyed by client-chosen strings and touched per entry: SipHash was ~5% of
/// the writer thread's profile (issue 16); foldhash is cheaper on short keys
/// and still randomly seeded per map.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The storage a log lives in: every concern of a backend in one object
/// (`Arc<dyn Store>`). Implemented for any type that implements all of the
/// concern traits; implement those, not this.
pub trait Store:
    LogStore + QueryIndex + CheckpointStore + Coordination + AccessRecords + Send + Sync + 'static
{
}

impl<T> Store for T where
    T: LogStore
        + QueryIndex
        + CheckpointStore
        + Coordination
        + AccessRecords
        + Send
        + Sync
        + 'static
{
}

/// The store traits, for calling their methods on a [`Store`]:
/// `use sealtrail_store::prelude::*;`.
pub mod prelude {
    pub use crate::{AccessRecords, CheckpointStore, Coordination, LogStore, QueryIndex, Store};
}
