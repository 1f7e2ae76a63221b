//! Content addresses: the SHA-256 of a blob's bytes, its lowercase-hex form (the key a
//! blob is stored under), and the check every read goes through before bytes leave
//! this crate.

use gpu_market_types::Hash32;
use sha2::Digest;

use crate::error::BlobError;

/// Hashing a buffer this large on an async worker thread would stall other tasks long
/// enough to matter (tens of milliseconds and up), so it is moved off when possible.
const BLOCKING_HASH_THRESHOLD: usize = 1 << 20;

/// SHA-256 of `bytes`, as the [`Hash32`] a job's `spec_hash` or input hash holds on
/// chain.
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Hash32(sha2::Sha256::digest(bytes).into())
}

/// Lowercase hex, the form used as a blob's key and in URIs.
pub fn to_hex(hash: &Hash32) -> String {
    hash.to_hex()
}

/// Parses 64 hex digits (either case: people paste hashes) into a hash.
pub fn from_hex(s: &str) -> Result<Hash32, BlobError> {
    Hash32::from_hex_any_case(s).map_err(|e| BlobError::InvalidHex {
        input: s.to_string(),
        reason: e.to_string(),
    })
}

/// Whether `name` is exactly a key this crate writes: 64 lowercase hex digits. Used to
/// recognise our own URIs; it says nothing about whether the content matches.
pub(crate) fn is_key(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `Ok` when `actual` is the hash the caller asked for.
pub(crate) fn check(expected: &Hash32, actual: Hash32, uri: &str) -> Result<(), BlobError> {
    if actual == *expected {
        Ok(())
    } else {
        Err(BlobError::HashMismatch {
            expected: *expected,
            actual,
            uri: uri.to_string(),
        })
    }
}

/// SHA-256 of a possibly large buffer from async code. On a multi-threaded runtime a
/// large buffer is hashed under `block_in_place` so the other tasks on this worker move
/// elsewhere; a current-thread runtime has nowhere to move them, so it hashes inline.
pub(crate) fn sha256_async_safe(bytes: &[u8]) -> Hash32 {
    if bytes.len() >= BLOCKING_HASH_THRESHOLD && on_multi_thread_runtime() {
        tokio::task::block_in_place(|| sha256(bytes))
    } else {
        sha256(bytes)
    }
}

/// Runs blocking filesystem work from async code without `'static` captures: under
/// `block_in_place` on a multi-threaded runtime, inline otherwise (see above).
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    if on_multi_thread_runtime() {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

fn on_multi_thread_runtime() -> bool {
    matches!(
        tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()),
        Ok(tokio::runtime::RuntimeFlavor::MultiThread)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_vector() {
        assert_eq!(
            to_hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hex_round_trips_and_accepts_upper_case() {
        let h = sha256(b"gpu-market");
        assert_eq!(from_hex(&to_hex(&h)).unwrap(), h);
        assert_eq!(from_hex(&to_hex(&h).to_uppercase()).unwrap(), h);
        assert!(is_key(&to_hex(&h)));
        assert!(!is_key(&to_hex(&h).to_uppercase()));
    }

    #[test]
    fn bad_hex_is_a_named_error() {
        for bad in ["", "abc", &"g".repeat(64), &"0".repeat(63), &"0".repeat(65)] {
            assert!(
                matches!(from_hex(bad), Err(BlobError::InvalidHex { .. })),
                "{bad:?}"
            );
        }
    }
}
