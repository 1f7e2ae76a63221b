//! The chain calls the segment runner makes, behind a trait so its logic is tested
//! with an in-memory chain (`tests/segments.rs`) and, once the program's segments land,
//! wired to the real one as a thin wrapper over `gpu_market_client::segments`
//! (`fetch_segments`, `job_claim`, `commit`, `expire`), signing as the worker's
//! provider. Failures are the client's own errors, program failures by their name.

use std::future::Future;

use gpu_market_client::error::ClientError;
use gpu_market_client::Pubkey;
use gpu_market_compute::Hash32;

use super::state::Segments;

pub trait SegmentChain: Send + Sync {
    /// The job's `Segments` account, `None` if it has none.
    fn segments(
        &self,
        job: &Pubkey,
    ) -> impl Future<Output = Result<Option<Segments>, ClientError>> + Send;

    /// The chain's unix time.
    fn now(&self) -> impl Future<Output = Result<i64, ClientError>> + Send;

    /// `job_claim`: starts segment `next` for this provider.
    fn claim(&self, job: &Pubkey) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// `segment_commit(index, state_root, checkpoint_uri)`.
    fn commit(
        &self,
        job: &Pubkey,
        index: u32,
        state_root: Hash32,
        uri: &str,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// `segment_expire(index)`.
    fn expire(
        &self,
        job: &Pubkey,
        index: u32,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;
}
