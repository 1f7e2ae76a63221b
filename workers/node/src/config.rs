//! The worker's settings, the points at which tests kill it, and the counters
//! it reports.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gpu_market_blobs::BlobStore;
use gpu_market_client::Pubkey;
use serde::Serialize;

use crate::policy::{Resolver, UriPolicy};

/// Largest job spec the worker downloads by default: a valid cuda-kernel source
/// is at most 1 MiB, and JSON escaping (newlines, quotes) can nearly double it;
/// GEMM specs are a few hundred bytes.
pub const DEFAULT_MAX_SPEC_BYTES: u64 = 2 << 20;

/// A blob store for reading specs only, opened with a small size limit so an
/// oversized spec is refused before it is buffered (the limit the blob layer
/// enforces on the announced length and while reading).
#[derive(Clone)]
pub struct SpecStore(pub Arc<dyn BlobStore>);

impl std::fmt::Debug for SpecStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpecStore({})", self.0.describe())
    }
}

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub market: Pubkey,
    /// The provider's owner (cold key); the provider account is derived from it.
    pub owner: Pubkey,
    /// Jobs claimed and not yet submitted at once (the on-chain cap also applies).
    pub max_concurrent: usize,
    /// Local floor on top of the on-chain one.
    pub price_floor: u64,
    /// Seconds that must remain to submit for a job to be worth claiming.
    pub min_time_to_submit: i64,
    /// Full reconcile scan period (events only make it sooner).
    pub reconcile_every: Duration,
    pub heartbeat_every: Duration,
    /// Also settle what is due (finalize, expire), earning bounties.
    pub crank: bool,
    pub journal: PathBuf,
    /// How long shutdown waits for jobs in flight.
    pub shutdown_grace: Duration,
    /// Input bytes held for jobs prepared ahead of claiming, so the executor
    /// never waits on a download while work is queued. 0: no overlap at all,
    /// one job at a time (prepared, claimed, run and submitted before the next).
    pub prefetch_bytes: u64,
    /// Preparations ahead of claiming that run at once.
    pub prefetch_parallel: usize,
    /// Which chain-supplied URIs (specs, inputs) are fetched.
    pub uri_policy: UriPolicy,
    /// How the policy looks host names up (the system's resolver; tests
    /// inject answers).
    pub resolver: Resolver,
    /// Where a job's inputs are downloaded while it is prepared, one
    /// directory per preparation, removed when it ends. Default: beside the
    /// journal (`<journal>.work`), so each worker has its own.
    pub work_dir: PathBuf,
    /// Largest spec fetched, bytes.
    pub max_spec_bytes: u64,
    /// Where specs are read (a store opened with a `max_spec_bytes` limit);
    /// `None`: the worker's blob store, with the size checked after the read.
    pub spec_store: Option<SpecStore>,
    /// Most bytes one job may hold (declared inputs plus output), checked
    /// before any input is fetched; on a GPU the device's memory also applies.
    pub memory_budget_bytes: u64,
    /// Longest a job's spec and inputs may take to fetch; a stalled store holds
    /// up only its own job, which is tried again later.
    pub fetch_timeout: Duration,
    /// Seconds before the submit deadline at which an execution still running
    /// is abandoned (and the job never claimed again by this worker).
    pub execution_margin: i64,
    /// Also abandon an execution after this long, whatever the deadline (tests).
    pub execution_timeout: Option<Duration>,
    /// A job is assumed to run this many times slower than the provider's
    /// measured GEMM rate when its time is estimated.
    pub work_safety_factor: f64,
    /// Tests: stop dead right after this step, as if killed.
    pub fail_point: Option<FailPoint>,
    /// TEST ONLY, never on by default: submit WRONG results on purpose. After each GEMM
    /// executes, one output element is corrupted (C[0][0] + 1 for gemm-i8, + 1e6 for
    /// gemm-f32) before the output is committed to and stored, so the committed root, the
    /// stored output and any revealed row are of the wrong result: the demo's cheating
    /// provider, whose challenge the auditor wins. Logged as a warning at start and on
    /// every job.
    pub cheat_wrong_results: bool,
    /// Where this worker keeps its own copy of each checkpoint it trains (default
    /// `<journal>.ckpt`); its segment journal is `<journal>.segments`.
    pub checkpoint_dir: PathBuf,
    /// Tests and the demo: stop dead at this point of this segment of a segmented job,
    /// as if killed (the worker then does nothing more).
    pub segment_fail_point: Option<(u8, crate::segments::FailPoint)>,
}

impl WorkerConfig {
    pub fn new(market: Pubkey, owner: Pubkey, journal: PathBuf) -> Self {
        Self {
            market,
            owner,
            max_concurrent: 2,
            price_floor: 0,
            min_time_to_submit: 5,
            reconcile_every: Duration::from_secs(5),
            heartbeat_every: Duration::from_secs(60),
            crank: false,
            work_dir: journal.with_extension("work"),
            checkpoint_dir: journal.with_extension("ckpt"),
            journal,
            shutdown_grace: Duration::from_secs(60),
            prefetch_bytes: 1 << 30,
            prefetch_parallel: 2,
            uri_policy: UriPolicy::strict(),
            resolver: Resolver::default(),
            max_spec_bytes: DEFAULT_MAX_SPEC_BYTES,
            spec_store: None,
            memory_budget_bytes: 8 << 30,
            fetch_timeout: Duration::from_secs(300),
            execution_margin: 3,
            execution_timeout: None,
            work_safety_factor: 4.0,
            fail_point: None,
            cheat_wrong_results: false,
            segment_fail_point: None,
        }
    }
}

/// Points at which tests simulate the worker being killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    /// Claim signed and journaled, not sent.
    AfterClaimSigned,
    /// Claim landed, not yet journaled as landed.
    AfterClaimSent,
    /// Result computed and uploaded, journaled, not submitted.
    AfterExecuted,
    /// Submission signed and journaled, not sent.
    AfterSubmitSigned,
    /// Submission landed, not yet journaled as landed.
    AfterSubmitSent,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub claims_sent: u64,
    pub claims_landed: u64,
    pub races_lost: u64,
    pub rejected: u64,
    /// Jobs prepared ahead of claiming.
    pub prefetched: u64,
    pub executed: u64,
    pub submits_sent: u64,
    pub submits_landed: u64,
    /// Journaled transactions re-sent with their original signature after a restart.
    pub resent_same_signature: u64,
    pub cranked: u64,
    pub heartbeats: u64,
    pub failures: u64,
    /// Challenges to this provider's results answered by revealing the committed row.
    pub disputes_answered: u64,
    /// Disputes this provider won, settled by the worker itself.
    pub disputes_settled: u64,
    /// Claimed jobs that failed (execution error or timeout): never claimed again.
    pub failed_after_claim: u64,
    /// Jobs whose preparation timed out (tried again later).
    pub fetch_timeouts: u64,
    /// Refereed disputes this provider was drawn for, re-executed and committed to.
    pub referee_commits: u64,
    /// The same, revealed.
    pub referee_reveals: u64,
    /// Segmented jobs carried until they waited or were done (each a task's run).
    pub segment_runs: u64,
}
