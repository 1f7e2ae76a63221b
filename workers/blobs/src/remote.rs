//! What the HTTP and S3 backends share: moving a blob's bytes through an object_store
//! client. Uploads go out whole; downloads come in as a stream that is size-checked
//! against the announced length before anything is buffered, hashed chunk by chunk, and
//! handed to the caller only after the hash matches, or streamed on to the caller's sink
//! ([`get_to`]) under the same checks.

use futures::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutPayload};
use sha2::Digest;

use crate::error::BlobError;
use gpu_market_types::Hash32;

use crate::hash::check;
use crate::stream::{Bounded, Len, Sink};
use crate::BlobRef;

/// Most we reserve up front from an announced length: the length is the server's word,
/// and memory is committed only as bytes actually arrive.
const MAX_PREALLOC: u64 = 64 << 20;

/// Uploads `bytes` under `path` (whose last segment is their hex hash) and returns the
/// reference `uri` names. Overwriting is harmless: the key is the content's hash.
pub(crate) async fn put(
    store: &dyn ObjectStore,
    path: Path,
    uri: String,
    sha256: Hash32,
    bytes: &[u8],
) -> Result<BlobRef, BlobError> {
    // object_store needs an owned payload; the copy is the price of an API that takes
    // `&[u8]` (callers keep their buffer).
    let payload = PutPayload::from(bytes::Bytes::copy_from_slice(bytes));
    store
        .put(&path, payload)
        .await
        .map_err(|e| BlobError::from_object_store(e, &uri))?;
    tracing::debug!(uri = %uri, len = bytes.len(), "blob stored");
    Ok(BlobRef {
        uri,
        sha256,
        len: bytes.len() as u64,
    })
}

/// Downloads the object at `path` (named `uri` in errors), refusing it if it is larger
/// than `max`, and returns it only if it hashes to `expected`.
pub(crate) async fn get_verified(
    store: &dyn ObjectStore,
    path: &Path,
    uri: &str,
    expected: &Hash32,
    max: u64,
) -> Result<Vec<u8>, BlobError> {
    let result = store
        .get_opts(path, GetOptions::default())
        .await
        .map_err(|e| BlobError::from_object_store(e, uri))?;
    let announced = result.meta.size;
    if announced > max {
        // Dropping `result` drops the body stream unread.
        return Err(BlobError::TooLarge {
            uri: uri.to_string(),
            len: announced,
            max,
        });
    }

    let mut hasher = sha2::Sha256::new();
    let mut buf = Vec::with_capacity(announced.min(MAX_PREALLOC) as usize);
    let mut stream = result.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BlobError::from_object_store(e, uri))?;
        // A server can send more than it announced; the limit holds regardless.
        let received = buf.len() as u64 + chunk.len() as u64;
        if received > max {
            return Err(BlobError::TooLarge {
                uri: uri.to_string(),
                len: received,
                max,
            });
        }
        hasher.update(&chunk);
        buf.extend_from_slice(&chunk);
    }
    check(expected, Hash32(hasher.finalize().into()), uri)?;
    tracing::debug!(uri = %uri, len = buf.len(), "blob fetched and verified");
    Ok(buf)
}

/// Streams the object at `path` (named `uri` in errors) into `sink`
/// ([`crate::BlobStore::get_to`]): refused from its announced size when that is over the
/// limit, else cut at the first chunk past it.
pub(crate) async fn get_to(
    store: &dyn ObjectStore,
    path: &Path,
    uri: &str,
    expected: &Hash32,
    len: Len,
    max: u64,
    sink: &mut Sink<'_>,
) -> Result<u64, BlobError> {
    let mut out = Bounded::new(uri, len, max, sink)?;
    let result = store
        .get_opts(path, GetOptions::default())
        .await
        .map_err(|e| BlobError::from_object_store(e, uri))?;
    out.announce(result.meta.size)?;
    let mut stream = result.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BlobError::from_object_store(e, uri))?;
        out.push(&chunk).await?;
    }
    out.finish(expected).await
}

/// Whether an object exists under `path`, by a HEAD request.
pub(crate) async fn exists(
    store: &dyn ObjectStore,
    path: &Path,
    uri: &str,
) -> Result<bool, BlobError> {
    match store.head(path).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(BlobError::from_object_store(e, uri)),
    }
}
