//! What the chain says about a segmented job, as the worker reads it: a plain mirror
//! of the program's `Segments` account (issue 11, `SEGMENTS.md`), filled by the
//! [`super::SegmentChain`] implementation from the account (the real one, once the
//! program's segments land, from `gpu_market_client::segments::fetch_segments`; the
//! tests' fake chain from its own state). The planner reads only this.

use gpu_market_client::Pubkey;
use gpu_market_compute::Hash32;

/// Where one segment is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentState {
    /// Not started, or handed back after a missed deadline.
    Pending,
    /// Claimed (or started by the previous segment's commit) by `provider`.
    Running,
    /// Its checkpoint root is on chain; its challenge window runs.
    Committed,
    /// Challenged within its window.
    Disputed,
    /// Paid to the provider that ran it.
    Paid,
}

/// One segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Payment units, paid on `segment_finalize`.
    pub price: u64,
    /// Seconds allowed from the segment's start.
    pub duration: i64,
    pub state: SegmentState,
    /// The provider running it or that ran it.
    pub provider: Option<Pubkey>,
    /// Unix seconds; 0 before the segment starts.
    pub started_at: i64,
    /// A commit is on time while `now <= deadline` (the program's convention).
    pub deadline: i64,
    pub committed_at: i64,
    pub challenge_deadline: i64,
    /// SHA-256 of the checkpoint's body (its trailer), once committed.
    pub state_root: Hash32,
    pub bond: u64,
}

impl Segment {
    /// Whether the segment's checkpoint root is on chain (and so may be resumed from).
    pub fn committed(&self) -> bool {
        matches!(
            self.state,
            SegmentState::Committed | SegmentState::Disputed | SegmentState::Paid
        )
    }
}

/// The job-level `Segments` account and its segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segments {
    /// Segments posted and extended so far (the spec's count is only the buyer's plan).
    pub count: u32,
    /// The first segment not committed.
    pub next: u32,
    /// The buyer ended the job: nothing starts after the running segment.
    pub ended: bool,
    /// Where the last committed checkpoint is, and its segment.
    pub last_checkpoint_uri: String,
    pub last_checkpoint_index: Option<u32>,
    pub segments: Vec<Segment>,
}

impl Segment {
    /// A pending segment of `price` and `duration`, as `job_post_segmented` creates it.
    pub fn pending(price: u64, duration: i64) -> Self {
        Segment {
            price,
            duration,
            state: SegmentState::Pending,
            provider: None,
            started_at: 0,
            deadline: 0,
            committed_at: 0,
            challenge_deadline: 0,
            state_root: Hash32::default(),
            bond: 0,
        }
    }
}
