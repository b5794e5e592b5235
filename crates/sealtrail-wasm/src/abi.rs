//! The calling convention between the module and JavaScript
//! (console/src/verify/abi.js is the other side):
//!
//! - `sealtrail_alloc(len) -> ptr` gives `len` bytes of linear memory for
//!   an argument; `sealtrail_free(ptr, len)` gives them back.
//! - `sealtrail_verify_entry(ptr, len)` and
//!   `sealtrail_verify_bundle(zip_ptr, zip_len, keys_ptr, keys_len)` read
//!   their arguments (which stay the caller's to free) and return a result
//!   buffer: a little-endian `u32` length `n`, then `n` bytes of JSON (a
//!   verdict, or `{"error": ...}`). The caller frees it with
//!   `sealtrail_free(ptr, 4 + n)`.
//! - `sealtrail_abi_version()` is [`crate::ABI_VERSION`].
//!
//! Every buffer is a boxed byte slice, so alloc and free agree on its
//! layout. A panic aborts (the module traps); JavaScript then drops the
//! instance.

use crate::{verify_bundle_json, verify_entry_json, Refusal, ABI_VERSION};

/// Leaks `bytes` to the caller as a pointer to its first byte.
fn give(bytes: Vec<u8>) -> *mut u8 {
    Box::into_raw(bytes.into_boxed_slice()).cast::<u8>()
}

/// The result buffer: length, then the JSON.
fn result(json: Result<Vec<u8>, Refusal>) -> *mut u8 {
    let json = json.unwrap_or_else(|r| r.to_json());
    let mut out = Vec::with_capacity(4 + json.len());
    // wasm32 memory is under 4 GiB: the length fits.
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    give(out)
}

/// The `len` bytes at `ptr`.
///
/// # Safety
/// `ptr` must be null with `len` 0, or point to `len` readable bytes that
/// stay valid and unchanged for the returned lifetime.
unsafe fn arg<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller's promise above.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

#[no_mangle]
pub extern "C" fn sealtrail_abi_version() -> u32 {
    ABI_VERSION
}

/// `len` zeroed bytes for the caller to fill.
#[no_mangle]
pub extern "C" fn sealtrail_alloc(len: usize) -> *mut u8 {
    give(vec![0; len])
}

/// Gives back a buffer from [`sealtrail_alloc`] or a result buffer.
///
/// # Safety
/// `ptr` and `len` must be exactly those of a buffer this module gave out
/// (a result's `len` is 4 plus its JSON length), freed once.
#[no_mangle]
pub unsafe extern "C" fn sealtrail_free(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: the caller's promise: a boxed slice of `len` bytes from `give`.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
}

/// Verifies an entry: the argument is the JSON of an `EntryEvidence`.
///
/// # Safety
/// As [`arg`]: `ptr`/`len` name readable bytes (a buffer from
/// [`sealtrail_alloc`]).
#[no_mangle]
pub unsafe extern "C" fn sealtrail_verify_entry(ptr: *const u8, len: usize) -> *mut u8 {
    // SAFETY: the caller's promise.
    let input = unsafe { arg(ptr, len) };
    result(verify_entry_json(input))
}

/// Verifies a bundle: its ZIP bytes, and a JSON array of pinned keys.
///
/// # Safety
/// As [`arg`], for both buffers.
#[no_mangle]
pub unsafe extern "C" fn sealtrail_verify_bundle(
    zip_ptr: *const u8,
    zip_len: usize,
    keys_ptr: *const u8,
    keys_len: usize,
) -> *mut u8 {
    // SAFETY: the caller's promise.
    let (zip, keys) = unsafe { (arg(zip_ptr, zip_len), arg(keys_ptr, keys_len)) };
    result(verify_bundle_json(zip, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The result buffer as JavaScript reads it, freed after.
    fn read(ptr: *mut u8) -> serde_json::Value {
        // SAFETY: `ptr` is a result buffer of this module: 4 bytes of
        // length, then that many bytes.
        unsafe {
            let len = u32::from_le_bytes(*ptr.cast::<[u8; 4]>()) as usize;
            let json = std::slice::from_raw_parts(ptr.add(4), len).to_vec();
            sealtrail_free(ptr, 4 + len);
            serde_json::from_slice(&json).unwrap()
        }
    }

    #[test]
    fn a_call_through_the_abi_round_trips() {
        assert_eq!(sealtrail_abi_version(), ABI_VERSION);
        let input = b"not json";
        let p = sealtrail_alloc(input.len());
        // SAFETY: `p` is `input.len()` bytes from `sealtrail_alloc`.
        let out = unsafe {
            std::ptr::copy_nonoverlapping(input.as_ptr(), p, input.len());
            let out = sealtrail_verify_entry(p, input.len());
            sealtrail_free(p, input.len());
            out
        };
        let v = read(out);
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with("verifyEntry's argument"),
            "{v}"
        );
        // An empty bundle and no keys: a verdict, not a refusal.
        // SAFETY: null with length 0, and a static slice.
        let out = unsafe { sealtrail_verify_bundle(std::ptr::null(), 0, b"[]".as_ptr(), 2) };
        let v = read(out);
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["checks"][0]["name"], "bundle file", "{v}");
        // Zero-length allocations are given and taken back too.
        let p = sealtrail_alloc(0);
        // SAFETY: a buffer of 0 bytes from `sealtrail_alloc`.
        unsafe { sealtrail_free(p, 0) };
    }
}
