//! The checkpoint store of a segmented job: checkpoint bytes go in with the job and
//! the segment's index, and are written to the store the buyer named in the spec as
//! `<job>/<index>.ckpt`; they come back out only when they hash to the state root the
//! chain committed. The store is the buyer's (a local directory in the demo, an HTTP
//! server or an S3 bucket otherwise), so a checkpoint survives the provider that wrote
//! it, and the next provider resumes from it.
//!
//! A checkpoint is self-certifying: its last 32 bytes are the SHA-256 of everything
//! before them (the layout of `gpu_market_compute::train::Checkpoint`), and that hash is
//! its state root, the value committed on chain. This module checks only that framing,
//! never the body, so it serves any checkpoint format that keeps it.
//!
//! Writes are atomic for readers: in a local directory, a temporary file in the job's
//! directory is written, synced and renamed over `<index>.ckpt` (then the directory is
//! synced), so the name never shows partial bytes, even after a crash or power cut; on
//! HTTP and S3 the checkpoint goes up in one PUT (the server stores a request body
//! whole or not at all) and is read back and checked against its root before `put`
//! reports success, so a torn or corrupted upload is caught by the writer, not by the
//! next provider. Reads refuse a body that does not hash to the trailer (torn, bit
//! rot) and a checkpoint whose root is not the expected one (another segment's, or a
//! forgery re-hashed to be self-consistent), each by name.

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use gpu_market_types::Hash32;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::BlobError;
use crate::hash::{blocking, sha256};
use crate::local::{file_path, file_uri};
use crate::options::BlobOptions;
use crate::s3::S3Config;

/// The bytes of a checkpoint's trailing state root.
pub const ROOT_LEN: usize = 32;
/// Longest job id: a base58 Solana address is at most 44 characters.
pub const MAX_JOB_ID_LEN: usize = 64;
/// Temporary files of local writes: a dot, never `<digits>.ckpt`.
const TEMP_PREFIX: &str = ".tmp-";

/// Why a checkpoint was not stored or not returned.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointStoreError {
    /// Opening the store or moving bytes failed (absent, unreachable, refused, too large).
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Job ids become path segments; anything else could climb out of the job's folder.
    #[error(
        "job id {job:?} is not 1 to {MAX_JOB_ID_LEN} characters of A-Z, a-z, 0-9, '-' and '_'"
    )]
    BadJobId { job: String },
    #[error("checkpoint {uri} is {len} bytes, too short to end in its 32-byte state root")]
    TooShort { uri: String, len: u64 },
    /// The body does not hash to the trailer: a torn write, bit rot, or an edit.
    #[error("checkpoint {uri} is torn or corrupt: its body hashes to {body}, its trailer says {trailer}")]
    Torn {
        uri: String,
        trailer: Hash32,
        body: Hash32,
    },
    /// Intact, but not the checkpoint asked for: another segment's, another run's, or
    /// a forgery made self-consistent.
    #[error("checkpoint {uri} has state root {found}, expected {expected}")]
    RootMismatch {
        uri: String,
        expected: Hash32,
        found: Hash32,
    },
    /// An upload the server accepted but that does not read back as what was sent.
    #[error("checkpoint uploaded to {uri} does not read back intact")]
    ReadBack {
        uri: String,
        #[source]
        source: Box<CheckpointStoreError>,
    },
}

/// Where a stored checkpoint is and what it commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// `<store>/<job>/<index>.ckpt`: the `checkpoint_uri` of the segment's commit.
    pub uri: String,
    /// The state root (the bytes' trailer).
    pub root: Hash32,
    pub len: u64,
}

/// The state root of framed checkpoint bytes: the trailer, if the body hashes to it.
pub fn checkpoint_root(bytes: &[u8]) -> Option<Hash32> {
    let body = bytes.len().checked_sub(ROOT_LEN)?;
    let trailer = Hash32(bytes[body..].try_into().ok()?);
    (sha256(&bytes[..body]) == trailer).then_some(trailer)
}

/// The framing check with named errors: the root, or why there is none.
fn framed_root(uri: &str, bytes: &[u8]) -> Result<Hash32, CheckpointStoreError> {
    let Some(body) = bytes.len().checked_sub(ROOT_LEN) else {
        return Err(CheckpointStoreError::TooShort {
            uri: uri.into(),
            len: bytes.len() as u64,
        });
    };
    let trailer = Hash32(bytes[body..].try_into().expect("32 bytes"));
    let computed = crate::hash::sha256_async_safe(&bytes[..body]);
    if computed != trailer {
        return Err(CheckpointStoreError::Torn {
            uri: uri.into(),
            trailer,
            body: computed,
        });
    }
    Ok(trailer)
}

/// `Ok` when `bytes` are framed and their root is `expected`.
fn verify(uri: &str, bytes: &[u8], expected: &Hash32) -> Result<(), CheckpointStoreError> {
    let found = framed_root(uri, bytes)?;
    if found != *expected {
        return Err(CheckpointStoreError::RootMismatch {
            uri: uri.into(),
            expected: *expected,
            found,
        });
    }
    Ok(())
}

fn check_job(job: &str) -> Result<(), CheckpointStoreError> {
    let ok = !job.is_empty()
        && job.len() <= MAX_JOB_ID_LEN
        && job
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CheckpointStoreError::BadJobId {
            job: job.chars().take(MAX_JOB_ID_LEN + 8).collect(),
        })
    }
}

fn object_name(job: &str, index: u32) -> Result<String, CheckpointStoreError> {
    check_job(job)?;
    Ok(format!("{job}/{index}.ckpt"))
}

/// A buyer's checkpoint store (see the module doc).
pub struct CheckpointStore {
    location: String,
    backend: Backend,
    options: BlobOptions,
}

enum Backend {
    /// Canonical directory.
    Local(PathBuf),
    Remote {
        store: Arc<dyn ObjectStore>,
        /// Key prefix inside the store, without slashes at either end; may be empty.
        prefix: String,
        /// URI of the store's root, without a trailing slash.
        base: String,
    },
}

impl CheckpointStore {
    /// Opens the store at `location` (`file:///dir`, `dir:///dir` or a path;
    /// `http(s)://host/base`; `s3://bucket/prefix`, configured from the AWS
    /// environment) with default options.
    pub fn open(location: &str) -> Result<Self, CheckpointStoreError> {
        Self::open_with(location, &BlobOptions::default())
    }

    /// [`CheckpointStore::open`] with explicit limits and retries.
    pub fn open_with(location: &str, options: &BlobOptions) -> Result<Self, CheckpointStoreError> {
        if location.trim().is_empty() {
            return Err(BlobError::invalid(location, "empty location").into());
        }
        let backend = match location.split_once("://") {
            None => Self::local(PathBuf::from(location))?,
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "dir" if rest.starts_with('/') => Self::local(PathBuf::from(rest))?,
                "file" => Self::local(file_path(location)?)?,
                "http" | "https" => {
                    let mut url = crate::http::parse_http_url(location)?;
                    if url.query().is_some() || url.fragment().is_some() {
                        return Err(BlobError::invalid(
                            location,
                            "a checkpoint store's URL cannot carry a query or fragment",
                        )
                        .into());
                    }
                    if let Ok(mut segments) = url.path_segments_mut() {
                        segments.pop_if_empty();
                    }
                    let store = crate::http::build(&url, options)?;
                    let base = String::from(url).trim_end_matches('/').to_string();
                    Backend::Remote {
                        store: Arc::new(store),
                        prefix: String::new(),
                        base,
                    }
                }
                "s3" => return Self::s3(S3Config::from_url(location)?, options),
                _ => {
                    return Err(BlobError::UnsupportedScheme {
                        uri: location.into(),
                    }
                    .into())
                }
            },
        };
        Ok(CheckpointStore {
            location: location.into(),
            backend,
            options: options.clone(),
        })
    }

    /// An S3-compatible store configured explicitly.
    pub fn s3(config: S3Config, options: &BlobOptions) -> Result<Self, CheckpointStoreError> {
        if config.bucket.is_empty() {
            return Err(BlobError::invalid(config.location(), "no bucket named").into());
        }
        let prefix = config.prefix.trim_matches('/').to_string();
        ObjectPath::parse(&prefix)
            .map_err(|e| BlobError::invalid(config.location(), e.to_string()))?;
        let store = config.build(options)?;
        let config = S3Config { prefix, ..config };
        Ok(CheckpointStore {
            location: config.location(),
            backend: Backend::Remote {
                store: Arc::new(store),
                base: config.location(),
                prefix: config.prefix,
            },
            options: options.clone(),
        })
    }

    fn local(dir: PathBuf) -> Result<Backend, CheckpointStoreError> {
        std::fs::create_dir_all(&dir).map_err(|e| BlobError::io(dir.display(), e))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| BlobError::io(dir.display(), e))?;
        Ok(Backend::Local(dir))
    }

    /// The location it was opened at.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The URI checkpoint `index` of `job` has in this store.
    pub fn uri_for(&self, job: &str, index: u32) -> Result<String, CheckpointStoreError> {
        let name = object_name(job, index)?;
        match &self.backend {
            Backend::Local(dir) => Ok(file_uri(&dir.join(&name))?),
            Backend::Remote { base, .. } => Ok(format!("{base}/{name}")),
        }
    }

    fn object_path(prefix: &str, name: &str) -> ObjectPath {
        if prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{prefix}/{name}"))
        }
    }

    /// Stores checkpoint `index` of `job` (see the module doc) and returns where it is
    /// and its root. Bytes that are not a framed checkpoint are refused unstored.
    /// Storing again overwrites: a segment handed to another provider is written anew.
    pub async fn put(
        &self,
        job: &str,
        index: u32,
        bytes: &[u8],
    ) -> Result<StoredCheckpoint, CheckpointStoreError> {
        let uri = self.uri_for(job, index)?;
        if bytes.len() as u64 > self.options.max_blob_size {
            return Err(BlobError::TooLarge {
                uri,
                len: bytes.len() as u64,
                max: self.options.max_blob_size,
            }
            .into());
        }
        let root = framed_root(&uri, bytes)?;
        let name = object_name(job, index)?;
        match &self.backend {
            Backend::Local(dir) => {
                let job_dir = dir.join(job);
                blocking(|| write_atomic(&job_dir, &job_dir.join(format!("{index}.ckpt")), bytes))?;
            }
            Backend::Remote { store, prefix, .. } => {
                let path = Self::object_path(prefix, &name);
                let payload = PutPayload::from(bytes::Bytes::copy_from_slice(bytes));
                store
                    .put(&path, payload)
                    .await
                    .map_err(|e| BlobError::from_object_store(e, &uri))?;
                // The server's word that it stored the body is not enough: read it back.
                if let Err(e) = self.get(job, index, &root).await {
                    return Err(CheckpointStoreError::ReadBack {
                        uri,
                        source: Box::new(e),
                    });
                }
            }
        }
        tracing::debug!(uri = %uri, len = bytes.len(), root = %root, "checkpoint stored");
        Ok(StoredCheckpoint {
            uri,
            root,
            len: bytes.len() as u64,
        })
    }

    /// Checkpoint `index` of `job`, returned only if it is intact and its state root is
    /// `expected_root`.
    pub async fn get(
        &self,
        job: &str,
        index: u32,
        expected_root: &Hash32,
    ) -> Result<Vec<u8>, CheckpointStoreError> {
        let uri = self.uri_for(job, index)?;
        let name = object_name(job, index)?;
        let max = self.options.max_blob_size;
        let bytes = match &self.backend {
            Backend::Local(dir) => blocking(|| read_local(&dir.join(&name), &uri, max))?,
            Backend::Remote { store, prefix, .. } => {
                read_remote(store.as_ref(), &Self::object_path(prefix, &name), &uri, max).await?
            }
        };
        verify(&uri, &bytes, expected_root)?;
        Ok(bytes)
    }
}

/// Temp file in `dir`, write, fsync, rename over `path`, fsync `dir`.
fn write_atomic(
    dir: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<(), BlobError> {
    let io = |e| BlobError::io(dir.display(), e);
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path)
        .map_err(|e| BlobError::io(path.display(), e.error))?;
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

fn read_local(path: &std::path::Path, uri: &str, max: u64) -> Result<Vec<u8>, BlobError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => BlobError::NotFound { uri: uri.into() },
        _ => BlobError::io(path.display(), e),
    };
    // Only a regular file (checked before opening: opening a FIFO blocks).
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(BlobError::invalid(uri, "not a regular file"));
    }
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > max {
        return Err(BlobError::TooLarge {
            uri: uri.into(),
            len,
            max,
        });
    }
    let mut buf = Vec::with_capacity(len as usize);
    // One byte past the limit is enough to know the file grew past it.
    file.take(max + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > max {
        return Err(BlobError::TooLarge {
            uri: uri.into(),
            len: buf.len() as u64,
            max,
        });
    }
    Ok(buf)
}

async fn read_remote(
    store: &dyn ObjectStore,
    path: &ObjectPath,
    uri: &str,
    max: u64,
) -> Result<Vec<u8>, BlobError> {
    let result = store
        .get_opts(path, GetOptions::default())
        .await
        .map_err(|e| BlobError::from_object_store(e, uri))?;
    if result.meta.size > max {
        return Err(BlobError::TooLarge {
            uri: uri.into(),
            len: result.meta.size,
            max,
        });
    }
    let mut buf = Vec::with_capacity(result.meta.size.min(64 << 20) as usize);
    let mut stream = result.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BlobError::from_object_store(e, uri))?;
        if buf.len() as u64 + chunk.len() as u64 > max {
            return Err(BlobError::TooLarge {
                uri: uri.into(),
                len: buf.len() as u64 + chunk.len() as u64,
                max,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut b = body.to_vec();
        b.extend_from_slice(&sha256(body).0);
        b
    }

    #[test]
    fn the_root_is_the_trailer_when_the_body_hashes_to_it() {
        let b = framed(b"weights");
        assert_eq!(checkpoint_root(&b), Some(sha256(b"weights")));
        let mut torn = b.clone();
        torn.truncate(b.len() - 1);
        assert_eq!(checkpoint_root(&torn), None);
        assert_eq!(checkpoint_root(&[0u8; 31]), None);
        // An empty body framed is a valid (if useless) checkpoint.
        assert_eq!(checkpoint_root(&framed(b"")), Some(sha256(b"")));
    }

    #[test]
    fn job_ids_are_single_safe_path_segments() {
        for bad in ["", "..", "a/b", "a\\b", "job.1", "é", &"a".repeat(65)] {
            assert!(
                matches!(
                    object_name(bad, 0),
                    Err(CheckpointStoreError::BadJobId { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            object_name("7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU", 12).unwrap(),
            "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU/12.ckpt"
        );
    }
}
