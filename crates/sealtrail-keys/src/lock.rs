//! The advisory lock (`DATA/signing-keys.lock`) around every
//! read-modify-write of the keys and their history, so that the offline CLI
//! and a running server can rotate and expire keys concurrently.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::KeysError;
use crate::layout::LOCK_FILE;

/// An exclusive advisory lock on `DATA/signing-keys.lock`, released on drop.
pub(crate) struct Lock {
    _file: File,
}

impl Lock {
    pub(crate) fn take(data: &Path) -> Result<Lock, KeysError> {
        let path = data.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(&path)
            .map_err(|cause| KeysError::Open {
                path: path.clone(),
                cause,
            })?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock(2) on a descriptor we own; closing it releases the lock.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(KeysError::Lock {
                path,
                cause: std::io::Error::last_os_error(),
            });
        }
        Ok(Lock { _file: file })
    }
}
