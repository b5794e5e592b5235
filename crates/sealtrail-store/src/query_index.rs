//! The query index: filtered pages of entries and the counts kept at
//! ingest. The query types themselves live in [`crate::query`].

use crate::{EventQuery, QueryPage, StatsQuery, StatsRow, StoreError};

/// Answers queries over the sealed entries, every filter from an index.
pub trait QueryIndex: Send + Sync {
    /// One page of the entries matching `q` (see [`crate::query`]); every
    /// filter is answered from an index.
    fn query(&self, q: &EventQuery) -> Result<QueryPage, StoreError>;

    /// Entry counts grouped as `q` asks, from the counts kept at ingest.
    fn stats(&self, q: &StatsQuery) -> Result<Vec<StatsRow>, StoreError>;
}
