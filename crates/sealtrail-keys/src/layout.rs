//! The files a data directory holds for its signing keys. Only names: the
//! modules that read and write them say how.

/// The primary private key when it lives in the data directory.
pub const KEY_FILE: &str = "log.key";
/// The history of the log's signing keys (public material only).
pub const HISTORY_FILE: &str = "signing-keys.json";
/// Advisory lock taken around every change to the keys or their history.
pub(crate) const LOCK_FILE: &str = "signing-keys.lock";

/// `log.key.<key id>`: an overlap key, or a new key before its rotation
/// is finished.
pub(crate) fn overlap_file(id: &str) -> String {
    format!("{KEY_FILE}.{id}")
}

/// The key id in a `log.key.<8 hex>` file name.
pub(crate) fn overlap_file_id(name: &str) -> Option<&str> {
    name.strip_prefix(KEY_FILE)?
        .strip_prefix('.')
        .filter(|id| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}
