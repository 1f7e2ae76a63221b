//! The local-directory backend, the embedded default: blob `<hex>` is the file
//! `<root>/<hex>`, named by `file:///<root>/<hex>` URIs that any process on the machine
//! can [`crate::fetch`]. Writes go to a temporary file in the same directory, are synced,
//! and renamed into place, so a blob's name never points at partial content; reads
//! always rehash, because a file's name is only a claim.
//!
//! This backend is ours rather than object_store's `LocalFileSystem`, which renames into
//! place too but does not fsync, so a power cut could leave a named, empty blob.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use gpu_market_types::Hash32;
use sha2::Digest;
use url::Url;

use crate::error::BlobError;
use crate::hash::{blocking, check};
use crate::options::BlobOptions;
use crate::stream::{Bounded, Connect, Len, Sink};
use crate::{BlobRef, BlobStore};

/// Temporary files start with a dot and are never 64 hex digits, so a crash can leave
/// only debris that no blob lookup will ever match.
const TEMP_PREFIX: &str = ".tmp-";

/// Read granularity: large enough to keep syscalls cheap, small enough that the hash is
/// computed while the data is still in cache.
const READ_CHUNK: usize = 1 << 20;

/// A blob store in one local directory.
pub struct LocalBlobStore {
    /// Absolute and canonical, so the `file://` URIs handed out stay valid from any
    /// working directory.
    root: PathBuf,
    options: BlobOptions,
}

impl LocalBlobStore {
    /// Opens (creating if needed) a store in directory `root`.
    pub fn new(root: impl AsRef<Path>, options: &BlobOptions) -> Result<Self, BlobError> {
        let root = root.as_ref();
        std::fs::create_dir_all(root).map_err(|e| BlobError::io(root.display(), e))?;
        let root = root
            .canonicalize()
            .map_err(|e| BlobError::io(root.display(), e))?;
        Ok(LocalBlobStore {
            root,
            options: options.clone(),
        })
    }

    /// The directory blobs are stored in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this hex key lives.
    pub fn path_for(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Whether the file at `path` already holds exactly `bytes` (by length, then hash,
    /// streamed so a large blob is not read into memory a second time).
    fn holds(path: &Path, bytes: &[u8], hash: &Hash32) -> bool {
        let Ok(file) = File::open(path) else {
            return false;
        };
        match file.metadata() {
            Ok(m) if m.is_file() && m.len() == bytes.len() as u64 => {
                matches!(hash_stream(file, u64::MAX, |_| {}), Ok(h) if h == *hash)
            }
            _ => false,
        }
    }

    /// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync directory.
    /// Concurrent writers of the same blob each rename their own complete copy; the
    /// last rename wins and every intermediate state is a whole blob.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), BlobError> {
        let io = |e| BlobError::io(self.root.display(), e);
        let mut builder = tempfile::Builder::new();
        builder.prefix(TEMP_PREFIX);
        // tempfile creates 0600 files; blobs are content the worker serves to others
        // (e.g. a web server over this directory), so give them ordinary file modes.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o644));
        }
        let mut tmp = builder.tempfile_in(&self.root).map_err(io)?;
        tmp.write_all(bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path)
            .map_err(|e| BlobError::io(path.display(), e.error))?;
        // The rename is durable only once the directory entry is.
        #[cfg(unix)]
        File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    fn describe(&self) -> String {
        format!("local blob directory {}", self.root.display())
    }

    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        let (hash, key) = crate::hash_for_put(bytes, &self.options, &self.root.display())?;
        let path = self.path_for(&key);
        let uri = file_uri(&path)?;
        blocking(|| {
            // Idempotent and self-healing: an intact copy is left alone, a damaged one
            // (bit rot, tampering) is replaced.
            if Self::holds(&path, bytes, &hash) {
                return Ok(());
            }
            self.write_atomic(&path, bytes)
        })?;
        tracing::debug!(uri = %uri, len = bytes.len(), "blob stored");
        Ok(BlobRef {
            uri,
            sha256: hash,
            len: bytes.len() as u64,
        })
    }

    async fn get(&self, uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
        // Any file:// URI is read the same way, in this directory or not; other schemes
        // are fetched with this store's limits.
        crate::fetch_with(uri, sha256, &self.options).await
    }

    async fn get_to(
        &self,
        uri: &str,
        sha256: &Hash32,
        len: Len,
        connect: &Connect,
        sink: &mut Sink<'_>,
    ) -> Result<u64, BlobError> {
        crate::fetch_to(uri, sha256, len, connect, &self.options, sink).await
    }

    async fn exists(&self, sha256: &Hash32) -> Result<bool, BlobError> {
        let path = self.path_for(&crate::to_hex(sha256));
        match std::fs::metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(BlobError::io(path.display(), e)),
        }
    }
}

/// `file:///abs/path`, percent-encoded as URLs require.
pub(crate) fn file_uri(path: &Path) -> Result<String, BlobError> {
    Url::from_file_path(path)
        .map(String::from)
        .map_err(|()| BlobError::invalid(path.display().to_string(), "not an absolute path"))
}

/// The local path a `file://` URI names.
pub(crate) fn file_path(uri: &str) -> Result<PathBuf, BlobError> {
    let url = Url::parse(uri).map_err(|e| BlobError::invalid(uri, e.to_string()))?;
    if url.scheme() != "file" {
        return Err(BlobError::UnsupportedScheme {
            uri: uri.to_string(),
        });
    }
    url.to_file_path()
        .map_err(|()| BlobError::invalid(uri, "not a local absolute file path"))
}

/// Reads the file a `file://` URI names and verifies it.
pub(crate) async fn fetch(
    uri: &str,
    sha256: &Hash32,
    options: &BlobOptions,
) -> Result<Vec<u8>, BlobError> {
    let path = file_path(uri)?;
    blocking(|| read_verified(&path, uri, sha256, options.max_blob_size))
}

/// Streams the file a `file://` URI names into `sink` ([`crate::fetch_to`]).
pub(crate) async fn fetch_to(
    uri: &str,
    sha256: &Hash32,
    len: Len,
    options: &BlobOptions,
    sink: &mut Sink<'_>,
) -> Result<u64, BlobError> {
    use tokio::io::AsyncReadExt;

    let path = file_path(uri)?;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => BlobError::NotFound {
            uri: uri.to_string(),
        },
        _ => BlobError::io(path.display(), e),
    };
    let mut out = Bounded::new(uri, len, options.max_blob_size, sink)?;
    // Only regular files, checked before opening (opening a FIFO blocks).
    if !tokio::fs::metadata(&path).await.map_err(io)?.is_file() {
        return Err(BlobError::invalid(uri, "not a regular file"));
    }
    let mut file = tokio::fs::File::open(&path).await.map_err(io)?;
    let size = file.metadata().await.map_err(io)?.len();
    out.announce(size)?;
    // The file may grow after its size was read: the count while reading still holds.
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match file.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        out.push(&chunk[..n]).await?;
    }
    out.finish(sha256).await
}

/// Reads `path` (named `uri` in errors), refusing files over `max` bytes, and returns
/// the content only if it hashes to `expected`.
fn read_verified(
    path: &Path,
    uri: &str,
    expected: &Hash32,
    max: u64,
) -> Result<Vec<u8>, BlobError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => BlobError::NotFound {
            uri: uri.to_string(),
        },
        _ => BlobError::io(path.display(), e),
    };
    // A URI from a job spec could name /dev/zero or a FIFO: only regular files are
    // blobs (checked before opening, since opening a FIFO blocks).
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(BlobError::invalid(uri, "not a regular file"));
    }
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > max {
        return Err(BlobError::TooLarge {
            uri: uri.to_string(),
            len,
            max,
        });
    }
    let mut buf = Vec::with_capacity(len as usize);
    let actual = hash_stream(file, max, |c| buf.extend_from_slice(c)).map_err(|e| match e {
        Stream::TooLarge(len) => BlobError::TooLarge {
            uri: uri.to_string(),
            len,
            max,
        },
        Stream::Io(e) => io(e),
    })?;
    check(expected, actual, uri)?;
    Ok(buf)
}

enum Stream {
    TooLarge(u64),
    Io(std::io::Error),
}

/// Hashes everything `file` yields, passing each chunk to `sink`, and stops once more
/// than `max` bytes have come (the file may have grown since its length was checked).
fn hash_stream(mut file: File, max: u64, mut sink: impl FnMut(&[u8])) -> Result<Hash32, Stream> {
    let mut hasher = sha2::Sha256::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Stream::Io(e)),
        };
        total += n as u64;
        if total > max {
            return Err(Stream::TooLarge(total));
        }
        hasher.update(&chunk[..n]);
        sink(&chunk[..n]);
    }
    Ok(Hash32(hasher.finalize().into()))
}
