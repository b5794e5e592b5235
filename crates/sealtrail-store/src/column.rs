//! Conversions between the store's values and its database columns, shared
//! by both backends and fsck. A value that does not convert is an error
//! naming its column as `table.column` (`entries.idx`), the way SQLite
//! names a column in its own messages.

use sealtrail_core::hash::Hash;

use crate::StoreError;

/// A hash read from `column`: corrupt unless exactly 32 bytes.
pub(crate) fn hash_from(blob: &[u8], column: &str) -> Result<Hash, StoreError> {
    Hash::from_slice(blob).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "column {column} holds {} bytes, not a 32-byte hash",
            blob.len()
        ))
    })
}

/// The frontier of the head (column `head.frontier`) is a run of 32-byte
/// hashes; this many bytes are not.
pub(crate) fn frontier_length(len: usize) -> StoreError {
    StoreError::Corrupt(format!(
        "column head.frontier holds {len} bytes, not a whole number of 32-byte hashes"
    ))
}

/// A count or index for `column`, which is signed 64-bit in both databases:
/// a value past `i64::MAX` is refused (a retry will not help).
pub(crate) fn to_i64(v: u64, column: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| {
        StoreError::Invalid(format!(
            "{v} does not fit in column {column} (signed 64-bit)"
        ))
    })
}

/// A count or index read from `column`: corrupt if negative (the store
/// never writes one).
pub(crate) fn to_u64(v: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(v)
        .map_err(|_| StoreError::Corrupt(format!("column {column} holds a negative value: {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_column() {
        let e = hash_from(&[0u8; 31], "entries.leaf").unwrap_err();
        assert_eq!(
            e.to_string(),
            "store is corrupt: column entries.leaf holds 31 bytes, not a 32-byte hash"
        );
        let e = to_i64(u64::MAX, "entries.idx").unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)));
        assert_eq!(
            e.to_string(),
            "18446744073709551615 does not fit in column entries.idx (signed 64-bit)"
        );
        let e = to_u64(-1, "head.size").unwrap_err();
        assert_eq!(
            e.to_string(),
            "store is corrupt: column head.size holds a negative value: -1"
        );
        assert_eq!(to_u64(7, "head.size").unwrap(), 7);
        assert_eq!(to_i64(7, "head.size").unwrap(), 7);
    }
}
