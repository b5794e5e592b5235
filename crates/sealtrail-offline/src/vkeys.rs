//! Verifier keys given on the command line: `--vkey` takes a key or the
//! name of a file holding keys.

use std::path::Path;

use crate::error::OfflineError;

/// The key text `arg` stands for: the contents of the file it names (an
/// argument without `+`, which every vkey has, that is a file), or else
/// the argument itself (trimmed).
pub(crate) fn key_arg_text(arg: &str) -> Result<String, OfflineError> {
    let arg = arg.trim();
    let path = Path::new(arg);
    if !arg.contains('+') && path.is_file() {
        return std::fs::read_to_string(path).map_err(|cause| OfflineError::KeyFile {
            arg: arg.to_string(),
            cause,
        });
    }
    Ok(arg.to_string())
}
