//! Queries over the sealed entries and the counts kept at ingest: the types
//! both backends answer with, and the planning they share.
//!
//! Every filter is answered from an index (DESIGN §4: nothing scans the log
//! to answer a filtered query): posting lists in the embedded store (see
//! `postings`), `(value, idx)` B-trees in PostgreSQL. `idx` is the integer
//! primary key and `time` never decreases along it, so a time range is
//! turned into an index range by binary search over the primary key, and
//! every index yields its matches already in log order: a page is the first
//! `limit` matches after the cursor, with no sort.

use sealtrail_core::filter::EventFilter;
use sealtrail_core::hash::Hash;

use crate::StoreError;

/// Page sizes: the API's, kept with the one entry filter.
pub use sealtrail_core::filter::{DEFAULT_LIMIT, MAX_LIMIT};
/// Posting-list rows one page of the embedded store reads at most (each
/// holds up to a batch's entries of one value). A page that reaches it ends
/// early with a cursor, so no page costs more than this, however rare the
/// entries matching all of its filters are.
pub const SCAN_BUDGET: usize = 4_000;
/// One UTC day in microseconds (counts are kept per day).
pub use sealtrail_core::time::DAY_MICROS;

/// One page of entries matching every filter of an [`EventFilter`] (the
/// one filter type, validated where it was built), in index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Which entries.
    pub filter: EventFilter,
    /// Only entries strictly after this index.
    pub cursor: Option<u64>,
    /// Page size, 1..=[`MAX_LIMIT`] (clamped).
    pub limit: u32,
    /// Also return each entry's body and salt.
    pub include_bodies: bool,
}

impl Default for EventQuery {
    fn default() -> Self {
        EventQuery::new(EventFilter::default())
    }
}

impl EventQuery {
    /// The first page of a filter's entries, without bodies.
    pub fn new(filter: EventFilter) -> Self {
        EventQuery {
            filter,
            cursor: None,
            limit: DEFAULT_LIMIT,
            include_bodies: false,
        }
    }
}

/// One matching entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryEvent {
    pub index: u64,
    pub leaf_hash: Hash,
    pub time: u64,
    /// `JCS(header)`.
    pub header: Vec<u8>,
    /// With `include_bodies`, unless erased.
    pub body: Option<Vec<u8>>,
    pub salt: Option<[u8; 32]>,
}

/// A page of matches. `next_cursor` is set when more entries may match:
/// pass it as the next query's `cursor`. A page may hold fewer than `limit`
/// events (even none) and still have a cursor, when it stopped at
/// [`SCAN_BUDGET`]; only a missing cursor means the end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryPage {
    pub events: Vec<QueryEvent>,
    pub next_cursor: Option<u64>,
}

impl EventQuery {
    /// The page size actually served.
    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, MAX_LIMIT) as usize
    }

    /// The index range `[lo, hi)` to look in: the time range through
    /// `time_at` (the time of the entry at an index, by primary key) and the
    /// cursor, within a log of `size` entries.
    pub fn index_range(
        &self,
        size: u64,
        mut time_at: impl FnMut(u64) -> Result<u64, StoreError>,
    ) -> Result<(u64, u64), StoreError> {
        let lo = match self.filter.from {
            Some(t) => first_index_at(t, size, &mut time_at)?,
            None => 0,
        };
        let hi = match self.filter.to {
            Some(t) => first_index_at(t, size, &mut time_at)?,
            None => size,
        };
        let lo = match self.cursor {
            Some(c) => lo.max(c.saturating_add(1)),
            None => lo,
        };
        Ok((lo, hi.max(lo)))
    }
}

/// The class of a scope verdict: the part before `:` (`out_of_scope` for
/// `out_of_scope: budget`), or the whole verdict.
pub fn scope_class(verdict: &str) -> &str {
    verdict.split_once(':').map_or(verdict, |(c, _)| c)
}

/// A filter with a `:` names one verdict exactly; without, a class.
pub fn scope_matches(filter: &str, verdict: &str) -> bool {
    if filter.contains(':') {
        filter == verdict
    } else {
        scope_class(verdict) == filter
    }
}

/// The first index in `[0, size)` whose time is at least `t` (`size` if
/// none): a binary search over the primary key, ≈ log2(size) point reads.
pub fn first_index_at(
    t: u64,
    size: u64,
    mut time_at: impl FnMut(u64) -> Result<u64, StoreError>,
) -> Result<u64, StoreError> {
    let (mut lo, mut hi) = (0u64, size);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if time_at(mid)? < t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// A column stats can group by (kept with the one entry filter).
pub use sealtrail_core::filter::StatsGroup;

/// Entry counts from the `counts` table (kept per UTC day, agent, kind and
/// outcome, in the same transaction as each batch), summed over the filters
/// and grouped. Time bounds are whole days: `from` is rounded down and `to`
/// up to a UTC midnight.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsQuery {
    /// Which entries: only the time range, `agent`, `kind` and `outcome`
    /// can be counted (the counts table keeps nothing else); a query with
    /// another filter is refused ([`StatsQuery::check`]). An `outcome` of
    /// `""` selects entries without one.
    pub filter: EventFilter,
    /// Group columns, in the order rows are sorted by. Empty: one total.
    pub group_by: Vec<StatsGroup>,
}

impl StatsQuery {
    /// Refuses a filter the counts table cannot answer, naming it.
    pub fn check(&self) -> Result<(), StoreError> {
        let EventFilter {
            session,
            action,
            tool,
            data_class,
            subject,
            scope,
            ..
        } = &self.filter;
        let uncounted = [
            ("session", session.is_some()),
            ("action", action.is_some()),
            ("tool", tool.is_some()),
            ("data_class", data_class.is_some()),
            ("subject", subject.is_some()),
            ("scope", scope.is_some()),
        ];
        match uncounted.iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(StoreError::Invalid(format!(
                "entry counts cannot be filtered by {name}: they are kept per day, agent, kind and outcome"
            ))),
            None => Ok(()),
        }
    }

    /// The day range `[first, end)` (days since the epoch).
    pub fn days(&self) -> (Option<i64>, Option<i64>) {
        let day = |us: u64| (us / DAY_MICROS) as i64;
        (
            self.filter.from.map(day),
            self.filter
                .to
                .map(|t| day(t.saturating_add(DAY_MICROS - 1))),
        )
    }

    pub fn groups(&self, g: StatsGroup) -> bool {
        self.group_by.contains(&g)
    }
}

/// One group's count. A column is `Some` exactly when grouped by it; a
/// grouped outcome is `""` for entries without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    /// Days since the epoch (UTC).
    pub day: Option<i64>,
    pub agent: Option<String>,
    pub kind: Option<String>,
    pub outcome: Option<String>,
    pub count: u64,
}

/// The UTC day of a server time, as the counts table keys it.
pub fn day_of(time: u64) -> i64 {
    (time / DAY_MICROS) as i64
}

/// The rows a batch adds to the counts table: `(day, agent, kind, outcome,
/// n)` for each distinct key, outcome `""` when absent.
pub fn count_deltas<'a>(
    entries: impl IntoIterator<Item = &'a crate::EntryColumns>,
) -> Vec<(i64, &'a str, &'a str, &'a str, i64)> {
    let mut map: crate::FastMap<(i64, &str, &str, &str), i64> = crate::FastMap::default();
    for c in entries {
        let key = (
            day_of(c.time),
            c.agent.as_str(),
            c.kind.as_str(),
            c.outcome.as_deref().unwrap_or(""),
        );
        *map.entry(key).or_insert(0) += 1;
    }
    let mut out: Vec<_> = map
        .into_iter()
        .map(|((d, a, k, o), n)| (d, a, k, o, n))
        .collect();
    // A fixed order keeps concurrent upserts (several nodes) from deadlocking.
    out.sort_unstable();
    out
}

/// The distinct values of a list column (the side tables key on them).
pub fn distinct<T: Ord + Clone>(values: &[T]) -> Vec<T> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_search_finds_the_first_index_at_a_time() {
        let times = [10u64, 10, 20, 20, 20, 30, 40];
        let at = |i: u64| Ok(times[i as usize]);
        let n = times.len() as u64;
        assert_eq!(first_index_at(0, n, at).unwrap(), 0);
        assert_eq!(first_index_at(10, n, at).unwrap(), 0);
        assert_eq!(first_index_at(11, n, at).unwrap(), 2);
        assert_eq!(first_index_at(20, n, at).unwrap(), 2);
        assert_eq!(first_index_at(40, n, at).unwrap(), 6);
        assert_eq!(first_index_at(41, n, at).unwrap(), 7);
        assert_eq!(first_index_at(5, 0, at).unwrap(), 0);
    }

    #[test]
    fn index_range_combines_time_and_cursor() {
        let times = [10u64, 20, 30, 40, 50];
        let at = |i: u64| Ok(times[i as usize]);
        let q = EventQuery {
            filter: EventFilter {
                from: Some(20),
                to: Some(50),
                ..EventFilter::default()
            },
            ..EventQuery::default()
        };
        assert_eq!(q.index_range(5, at).unwrap(), (1, 4));
        let q = EventQuery {
            cursor: Some(2),
            ..q
        };
        assert_eq!(q.index_range(5, at).unwrap(), (3, 4));
        let q = EventQuery {
            cursor: Some(9),
            ..q
        };
        assert_eq!(q.index_range(5, at).unwrap(), (10, 10));
    }

    #[test]
    fn scope_filters_by_verdict_or_class() {
        assert!(scope_matches("out_of_scope", "out_of_scope: budget"));
        assert!(scope_matches("out_of_scope", "out_of_scope"));
        assert!(scope_matches(
            "out_of_scope: budget",
            "out_of_scope: budget"
        ));
        assert!(!scope_matches("out_of_scope: budget", "out_of_scope: pii"));
        assert!(!scope_matches("in_scope", "out_of_scope: x"));
        assert!(!scope_matches("out", "out_of_scope: x"));
        assert_eq!(scope_class("unregistered_agent"), "unregistered_agent");
    }

    #[test]
    fn stats_days_round_outward() {
        let q = StatsQuery {
            filter: EventFilter {
                from: Some(DAY_MICROS + 5),
                to: Some(3 * DAY_MICROS + 1),
                ..EventFilter::default()
            },
            ..StatsQuery::default()
        };
        assert_eq!(q.days(), (Some(1), Some(4)));
        let q = StatsQuery {
            filter: EventFilter {
                from: Some(DAY_MICROS),
                to: Some(3 * DAY_MICROS),
                ..EventFilter::default()
            },
            ..StatsQuery::default()
        };
        assert_eq!(q.days(), (Some(1), Some(3)));
    }
}
