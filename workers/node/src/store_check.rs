//! Whether the worker's blob store can take its results: a probe blob, always the same
//! bytes (so always the same blob), stored at start to measure the store's result URIs
//! against the program's cap, and before each claim to see that uploads work now. A
//! result that cannot be uploaded or submitted after the claim costs the bond.

use crate::worker::{Result, Worker, WorkerError};

/// What the worker stores to check its blob store takes uploads (at start,
/// and before each claim): always the same bytes, so always the same blob.
pub(crate) const PROBE: &[u8] = b"gpu-market worker: result URI length probe";

impl Worker {
    /// Whether the blob store takes an upload now (within `fetch_timeout`). A
    /// claimed job's result must be uploaded before its deadline, so a store
    /// that takes none would have the bond slashed: nothing is claimed until
    /// it does.
    pub(crate) async fn uploads_work(&self) -> bool {
        match tokio::time::timeout(self.cfg.fetch_timeout, self.blobs.put(PROBE)).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the blob store takes no uploads now; not claiming");
                false
            }
            Err(_) => {
                tracing::warn!(after = ?self.cfg.fetch_timeout, "the blob store did not answer an upload; not claiming");
                false
            }
        }
    }
}

/// Checks that the result URIs the blob store hands out fit the program's cap
/// (`MAX_URI_LEN`): a submission with a longer one fails on chain after the
/// claim, and the bond is slashed. Every result URI of a store is its base and
/// the blob's fixed-length hex key, so one probe blob measures them all.
pub(crate) async fn check_result_uris(blobs: &dyn gpu_market_blobs::BlobStore) -> Result<()> {
    let probe = blobs.put(PROBE).await.map_err(WorkerError::BlobStore)?;
    let max = gpu_market::constants::MAX_URI_LEN;
    if probe.uri.len() > max {
        return Err(WorkerError::ResultUriTooLong {
            len: probe.uri.len(),
            uri: probe.uri,
            max,
        });
    }
    Ok(())
}
