//! The one error type every blob operation returns. Backend failures (filesystem,
//! object_store's HTTP and S3 clients) are translated here into the few cases a caller
//! acts on differently: the blob is absent, its bytes are wrong, the store could not be
//! reached, the store refused us, or the request itself was malformed.

use gpu_market_types::Hash32;

use crate::hash::to_hex;

/// Errors from opening a store, storing a blob or fetching one. Messages state what was
/// attempted and on which URI, so they can be shown to an operator as they are.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Nothing is stored under this URI.
    #[error("blob not found at {uri}")]
    NotFound { uri: String },

    /// The bytes fetched from `uri` do not hash to the expected SHA-256: the blob was
    /// tampered with, corrupted, or the URI names a different blob.
    #[error(
        "blob at {uri} hashes to {}, expected {}",
        to_hex(actual),
        to_hex(expected)
    )]
    HashMismatch {
        expected: Hash32,
        actual: Hash32,
        uri: String,
    },

    /// The store could not be reached or gave no usable answer, after retries.
    #[error("cannot reach blob store for {uri}: {detail}")]
    Unreachable { uri: String, detail: String },

    /// The store answered but refused the request (bad credentials, no permission).
    #[error("blob store refused access to {uri}: {detail}")]
    Denied { uri: String, detail: String },

    /// The URI's scheme is not one this crate can fetch.
    #[error("unsupported blob URI {uri}: expected file://, http://, https:// or s3://")]
    UnsupportedScheme { uri: String },

    /// A store location or blob URI that cannot be parsed or used.
    #[error("invalid blob location {location}: {reason}")]
    InvalidLocation { location: String, reason: String },

    /// A local filesystem operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The blob exceeds the configured maximum size. `len` is the size the store
    /// announced, or the number of bytes received when it stopped us.
    #[error("blob at {uri} is {len} bytes, over the {max}-byte limit")]
    TooLarge { uri: String, len: u64, max: u64 },

    /// A hash given as text is not 64 hexadecimal digits.
    #[error("invalid SHA-256 hex {input:?}: {reason}")]
    InvalidHex { input: String, reason: String },

    /// A streamed blob is longer than the length its reader was told (a job's declared
    /// input length). `received` is what the store announced, or the bytes counted when
    /// the chunk crossing the length arrived; nothing past `declared` was written.
    #[error("blob at {uri} is longer than its declared {declared} bytes (stopped at {received})")]
    LongerThanDeclared {
        uri: String,
        declared: u64,
        received: u64,
    },

    /// A streamed blob's body ended before the length its reader was told.
    #[error("blob at {uri} is {received} bytes, shorter than its declared {declared}")]
    ShorterThanDeclared {
        uri: String,
        declared: u64,
        received: u64,
    },

    /// An HTTP(S) read pinned to checked addresses was answered with a redirect, which it
    /// does not follow: the new location was never checked.
    #[error("blob at {uri} redirects to {location:?}; a read pinned to checked addresses follows no redirect")]
    Redirected { uri: String, location: String },

    /// A read pinned to checked addresses was asked of a store that cannot pin its
    /// connections (a `BlobStore` without its own `get_to`).
    #[error("this blob store cannot pin its connection for {uri} to checked addresses")]
    PinUnsupported { uri: String },

    /// Writing a streamed blob to the reader's sink (its file) failed.
    #[error("cannot write the blob from {uri} out: {source}")]
    Sink {
        uri: String,
        #[source]
        source: std::io::Error,
    },
}

impl BlobError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        BlobError::Io {
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn invalid(location: impl Into<String>, reason: impl Into<String>) -> Self {
        BlobError::InvalidLocation {
            location: location.into(),
            reason: reason.into(),
        }
    }

    /// Translates an object_store error for the blob at `uri`. object_store has already
    /// retried transient failures (connection errors, timeouts, 5xx) by the time an error
    /// reaches us, so anything that is not "absent" or "refused" means unreachable.
    pub(crate) fn from_object_store(err: object_store::Error, uri: &str) -> Self {
        use object_store::Error as E;
        match err {
            E::NotFound { .. } => BlobError::NotFound {
                uri: uri.to_string(),
            },
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => BlobError::Denied {
                uri: uri.to_string(),
                detail: error_chain(&err),
            },
            E::UnknownConfigurationKey { .. } | E::InvalidPath { .. } => {
                BlobError::invalid(uri, error_chain(&err))
            }
            _ => BlobError::Unreachable {
                uri: uri.to_string(),
                detail: error_chain(&err),
            },
        }
    }
}

/// The error and its causes as one line. object_store's messages often embed their
/// source's text already, so a cause whose text is contained in what we have is skipped.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let msg = e.to_string();
        if !msg.is_empty() && !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = e.source();
    }
    // Some messages end in ": " followed by an empty response body.
    out.trim_end_matches([':', ' ']).to_string()
}
