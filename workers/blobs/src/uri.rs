//! Blob URIs as this crate writes them: every backend stores a blob under the
//! lowercase hex of its SHA-256 as the URI's last path segment, so the hash a
//! URI names can be read back from the URI alone (a worker checking that a
//! journaled output is still stored, a buyer locating a result's blob).

use gpu_market_types::Hash32;

/// The SHA-256 a content-addressed blob URI ends in (`.../<64 hex digits>`), or
/// `None` when its last segment is not a hash. Says nothing about whether the
/// blob exists or is intact.
pub fn uri_sha256(uri: &str) -> Option<Hash32> {
    let tail = uri.rsplit('/').next()?;
    Hash32::from_hex_any_case(tail).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{sha256, to_hex};

    #[test]
    fn reads_the_hash_back_from_every_backends_uri() {
        let h = sha256(b"output");
        for base in [
            "file:///var/blobs",
            "https://blobs.example/base",
            "s3://bucket/prefix",
        ] {
            assert_eq!(
                uri_sha256(&format!("{base}/{}", to_hex(&h))),
                Some(h),
                "{base}"
            );
        }
    }

    #[test]
    fn a_uri_that_does_not_end_in_a_hash_names_none() {
        let h = to_hex(&sha256(b"x"));
        assert_eq!(uri_sha256("file:///var/blobs/readme.txt"), None);
        assert_eq!(
            uri_sha256(&format!("s3://b/{}", &h[..63])),
            None,
            "one digit short"
        );
        assert_eq!(uri_sha256(&format!("s3://b/{h}0")), None, "one digit long");
        assert_eq!(
            uri_sha256(&format!("s3://b/{}zz", &h[..62])),
            None,
            "not hex"
        );
        assert_eq!(uri_sha256(""), None);
    }
}
