//! gpu-market-blobs: where a job's spec, inputs and outputs live off chain. The chain
//! holds only a blob's SHA-256 and URI; this crate moves the bytes. A buyer `put`s a
//! spec and its inputs into a [`BlobStore`] and posts the returned [`BlobRef`]s; a
//! worker or auditor [`fetch`]es any URI it is handed and gets bytes back only after
//! they hash to what the chain says.
//!
//! Three backends sit behind the one trait, chosen by [`open`]'s location string:
//! a local directory ([`local`], the embedded default), an HTTP(S) server ([`http`]) and
//! S3-compatible object storage ([`s3`]); the latter two go through object_store, which
//! retries transient failures with backoff. Blobs are keyed by the lowercase hex of
//! their hash, so storing the same bytes twice gives the same reference and a blob's
//! URI can be rebuilt from its hash. No Solana dependencies.
//!
//! Reads come back whole ([`BlobStore::get`], [`fetch`]) or are streamed into a writer
//! ([`BlobStore::get_to`], [`fetch_to`], [`stream`]): hashed chunk by chunk and cut at
//! the first byte past the length the reader allows, optionally connecting only to
//! addresses the reader checked ([`Connect::Pinned`]).
//!
//! | location given to [`open`]     | blob URIs returned by `put`      |
//! |--------------------------------|----------------------------------|
//! | `dir:///abs/dir`, `file:///abs/dir`, a plain path | `file:///abs/dir/<hex>` |
//! | `http(s)://host/base`          | `http(s)://host/base/<hex>`      |
//! | `s3://bucket/prefix`           | `s3://bucket/prefix/<hex>`       |
//!
//! Checkpoints of segmented jobs are not content-addressed: [`CheckpointStore`] writes
//! checkpoint `i` of a job atomically at `<job>/<i>.ckpt` in the buyer's store and reads
//! it back only against the state root the chain committed ([`checkpoint`]). Feature
//! `test-server` adds [`testing`], an in-process HTTP/S3 object server.

pub mod checkpoint;
pub mod error;
pub mod hash;
pub mod http;
pub mod local;
pub mod options;
mod remote;
pub mod s3;
pub mod stream;
#[cfg(feature = "test-server")]
pub mod testing;
pub mod uri;

use std::sync::Arc;

pub use checkpoint::{checkpoint_root, CheckpointStore, CheckpointStoreError, StoredCheckpoint};
pub use error::BlobError;
/// What `put` returns; its `uri` is what [`fetch`] takes. Defined in gpu-market-types,
/// so a job spec names its inputs with the same type.
pub use gpu_market_types::BlobRef;
pub use gpu_market_types::Hash32;
pub use hash::{from_hex, sha256, to_hex};
pub use http::HttpBlobStore;
pub use local::LocalBlobStore;
pub use options::{BlobOptions, DEFAULT_MAX_BLOB_SIZE};
pub use s3::{S3BlobStore, S3Config};
pub use stream::{Connect, Len, Sink};
pub use uri::uri_sha256;

/// A content-addressed blob store. Implementations verify every read: bytes are
/// returned only if they hash to the SHA-256 the caller expects.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// One line for logs and `--help` output: backend and location.
    fn describe(&self) -> String;

    /// Stores `bytes` under the lowercase hex of their SHA-256. Idempotent: storing the
    /// same bytes again returns the same reference.
    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError>;

    /// Fetches the blob at `uri` and verifies it against `sha256`
    /// ([`BlobError::HashMismatch`] otherwise). URIs of other stores are fetched as
    /// [`fetch`] would, under this store's limits.
    async fn get(&self, uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError>;

    /// Whether this store holds something under `sha256`'s key. Says nothing about
    /// whether that content is intact; `get` checks that.
    async fn exists(&self, sha256: &Hash32) -> Result<bool, BlobError>;

    /// Streams the blob at `uri` into `sink`, hashing as it goes, and stops at the first
    /// chunk that would take it past `len` ([`BlobError::LongerThanDeclared`] or
    /// [`BlobError::TooLarge`]; nothing past the limit is written). `Ok` (the bytes
    /// written) only when the length and the SHA-256 both match; after an error, what
    /// `sink` holds is not the blob. `connect` says where an HTTP(S) read may connect.
    ///
    /// The local, HTTP and S3 stores stream. This default reads the whole blob through
    /// [`BlobStore::get`] (which it cannot pin, so it refuses [`Connect::Pinned`] with
    /// [`BlobError::PinUnsupported`]) and checks it as a stream would.
    async fn get_to(
        &self,
        uri: &str,
        sha256: &Hash32,
        len: Len,
        connect: &Connect,
        sink: &mut Sink<'_>,
    ) -> Result<u64, BlobError> {
        if matches!(connect, Connect::Pinned(_)) {
            return Err(BlobError::PinUnsupported {
                uri: uri.to_string(),
            });
        }
        let bytes = self.get(uri, sha256).await?;
        let mut out = stream::Bounded::new(uri, len, u64::MAX, sink)?;
        out.push_all(&bytes).await?;
        out.finish(sha256).await
    }
}

/// Opens the store at `location` with default [`BlobOptions`]:
/// `dir:///abs/path`, `file:///abs/path` or a plain path (a local directory, created if
/// missing); `http://...` or `https://...` (an HTTP server accepting PUT);
/// `s3://bucket[/prefix]` (S3-compatible, configured from the standard AWS environment
/// variables; use [`S3Config`] to configure explicitly).
pub fn open(location: &str) -> Result<Arc<dyn BlobStore>, BlobError> {
    open_with(location, &BlobOptions::default())
}

/// [`open`] with explicit limits and retry behaviour.
pub fn open_with(location: &str, options: &BlobOptions) -> Result<Arc<dyn BlobStore>, BlobError> {
    if location.trim().is_empty() {
        return Err(BlobError::invalid(location, "empty location"));
    }
    let Some((scheme, rest)) = location.split_once("://") else {
        // No scheme: a filesystem path, relative ones resolved against the current
        // directory (the store canonicalizes it).
        return Ok(Arc::new(LocalBlobStore::new(location, options)?));
    };
    match scheme.to_ascii_lowercase().as_str() {
        // `dir://` is ours, so its path is taken literally rather than URL-decoded.
        "dir" => {
            if !rest.starts_with('/') {
                return Err(BlobError::invalid(
                    location,
                    "dir:// needs an absolute path, as in dir:///var/lib/gpu-market/blobs",
                ));
            }
            Ok(Arc::new(LocalBlobStore::new(rest, options)?))
        }
        "file" => Ok(Arc::new(LocalBlobStore::new(
            local::file_path(location)?,
            options,
        )?)),
        "http" | "https" => Ok(Arc::new(HttpBlobStore::new(location, options)?)),
        "s3" => S3Config::from_url(location)?.open_with(options),
        _ => Err(BlobError::UnsupportedScheme {
            uri: location.to_string(),
        }),
    }
}

/// Fetches the blob at any supported URI (`file://`, `http://`, `https://`, `s3://`)
/// without a configured store, and verifies it against `sha256`: what a worker or
/// auditor uses on the URIs a job spec names. `s3://` takes its endpoint and
/// credentials from the standard AWS environment variables.
pub async fn fetch(uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
    fetch_with(uri, sha256, &BlobOptions::default()).await
}

/// [`fetch`] with explicit limits and retry behaviour.
pub async fn fetch_with(
    uri: &str,
    sha256: &Hash32,
    options: &BlobOptions,
) -> Result<Vec<u8>, BlobError> {
    let scheme = uri
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "file" => local::fetch(uri, sha256, options).await,
        "http" | "https" => http::fetch(uri, sha256, options).await,
        "s3" => s3::fetch(uri, sha256, options).await,
        _ => Err(BlobError::UnsupportedScheme {
            uri: uri.to_string(),
        }),
    }
}

/// [`fetch`], streamed into `sink` as [`BlobStore::get_to`] describes: what a worker
/// uses to download a job's inputs to disk.
pub async fn fetch_to(
    uri: &str,
    sha256: &Hash32,
    len: Len,
    connect: &Connect,
    options: &BlobOptions,
    sink: &mut Sink<'_>,
) -> Result<u64, BlobError> {
    let scheme = uri
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "file" => local::fetch_to(uri, sha256, len, options, sink).await,
        "http" | "https" => http::fetch_to(uri, sha256, len, connect, options, sink).await,
        "s3" => s3::fetch_to(uri, sha256, len, options, sink).await,
        _ => Err(BlobError::UnsupportedScheme {
            uri: uri.to_string(),
        }),
    }
}

/// The hash and hex key of a blob about to be stored, once it is within the size limit.
pub(crate) fn hash_for_put(
    bytes: &[u8],
    options: &BlobOptions,
    store: &impl std::fmt::Display,
) -> Result<(Hash32, String), BlobError> {
    if bytes.len() as u64 > options.max_blob_size {
        return Err(BlobError::TooLarge {
            uri: store.to_string(),
            len: bytes.len() as u64,
            max: options.max_blob_size,
        });
    }
    let hash = hash::sha256_async_safe(bytes);
    Ok((hash, to_hex(&hash)))
}
