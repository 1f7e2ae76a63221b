//! The worker's settings, the points at which tests kill it, and the counters
//! it reports.

use std::path::PathBuf;
use std::time::Duration;

use gpu_market_client::Pubkey;
use serde::Serialize;

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
    /// Tests: stop dead right after this step, as if killed.
    pub fail_point: Option<FailPoint>,
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
            journal,
            shutdown_grace: Duration::from_secs(60),
            prefetch_bytes: 1 << 30,
            prefetch_parallel: 2,
            fail_point: None,
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
}
