//! The segment planner: what to do next for one segmented job, as a pure function of
//! what this worker journaled (the checkpoints it computed and stored), the chain's
//! `Segments` snapshot, and the time. The runner ([`super::run`]) only does what it is
//! told and asks again, so every path (a fresh job, segments back to back, a crash at
//! any point, a hand-off from a provider that vanished) is a row of the table in
//! `tests/segments.rs`.
//!
//! The chain has the final word on whose segment is whose and on every root; the
//! journal only spares work: a checkpoint journaled as stored is committed without
//! being recomputed, and one that matches the committed root is resumed from the
//! worker's own local copy instead of the buyer's store. A previous checkpoint is
//! always verified against the root committed on chain, whichever copy is read.
//! What the chain says is the program's own `Segments` account, and whether a segment
//! may start for this provider is the program's own rule (`Segments::startable_at`),
//! asked by whoever fills [`Facts::startable`].

use gpu_market::state::{on_time, Segment, SegmentState, Segments};
use gpu_market_client::Pubkey;
use gpu_market_compute::Hash32;

use super::journal::Stored;

/// What the planner decides from.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    pub me: Pubkey,
    /// This job's journaled checkpoints, oldest first.
    pub journal: &'a [Stored],
    /// The job's `Segments` account; `None` for a job without one (a one-segment job).
    pub segments: Option<&'a Segments>,
    /// The chain's unix time.
    pub now: i64,
    /// Whether this worker takes on new segments (its own policy: accepting).
    pub may_claim: bool,
    /// Whether the program would start the job's next segment for this provider now:
    /// `Segments::startable_at` on the job, the provider and the market's minimum stake
    /// (hardware, job deadline, price floor, a free slot, stake for the bond).
    pub startable: bool,
}

/// Where the checkpoint a segment starts from comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Segment 0: the spec's step-0 state.
    Spec,
    /// Checkpoint `index` from this worker's own local copy (journaled with the root the
    /// chain committed), falling back to the buyer's store.
    Local { index: u8, root: Hash32 },
    /// Checkpoint `index` from the buyer's store: another provider's.
    Store { index: u8, root: Hash32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do now; ask again later.
    Wait(&'static str),
    /// Nothing more will ever be done for this job by this worker.
    Done(&'static str),
    /// Segment `index` is running past its deadline: expire it (anyone may), so the
    /// job reopens at the last committed checkpoint.
    Expire { index: u8 },
    /// Claim segment `index` (the chain's `next`), after reading and verifying the
    /// checkpoint it starts from, so no bond is risked on a checkpoint that is gone.
    Claim { index: u8, start: Start },
    /// Segment `index` is ours and running: train it, store the checkpoint, journal it.
    Run { index: u8, start: Start },
    /// Segment `index` is ours, running and on time, and its checkpoint is stored:
    /// commit its root and URI.
    Commit {
        index: u8,
        root: Hash32,
        uri: String,
    },
}

pub mod reason {
    pub const NOT_SEGMENTED: &str = "the job has no Segments account";
    pub const ALL_COMMITTED: &str = "every segment is committed";
    pub const ENDED: &str = "the buyer ended the job";
    pub const OTHERS: &str = "the running segment is another provider's and on time";
    pub const NOT_CLAIMING: &str = "this worker takes no new segments";
    pub const NOT_STARTABLE: &str =
        "the program would not start the next segment for this provider now";
    pub const INCONSISTENT: &str = "the Segments account lacks the segment `next` names";
    pub const PREVIOUS_UNCOMMITTED: &str = "the previous segment has no committed root";
    pub const SETTLING: &str = "the next segment is committed or disputed; the chain moves on";
}

/// This worker's latest journaled checkpoint of segment `index`.
fn stored(journal: &[Stored], index: u8) -> Option<&Stored> {
    journal.iter().rev().find(|s| s.index == u32::from(index))
}

/// Whether a segment's checkpoint root is on chain, so the next one may resume from it.
fn committed(s: &Segment) -> bool {
    matches!(
        s.state,
        SegmentState::Committed | SegmentState::Disputed | SegmentState::Paid
    )
}

/// What segment `index` starts from, or why it cannot start.
fn start_for(f: &Facts, s: &Segments, index: u8) -> Result<Start, Action> {
    if index == 0 {
        return Ok(Start::Spec);
    }
    let prev = s
        .segments
        .get(index as usize - 1)
        .ok_or(Action::Done(reason::INCONSISTENT))?;
    if !committed(prev) {
        return Err(Action::Wait(reason::PREVIOUS_UNCOMMITTED));
    }
    let root = Hash32(prev.state_root);
    let prev_index = index - 1;
    Ok(match stored(f.journal, prev_index) {
        Some(mine) if mine.root == root => Start::Local {
            index: prev_index,
            root,
        },
        _ => Start::Store {
            index: prev_index,
            root,
        },
    })
}

/// The one thing to do now (see the module doc).
pub fn next(f: &Facts) -> Action {
    let Some(s) = f.segments else {
        return Action::Done(reason::NOT_SEGMENTED);
    };
    let i = s.next;
    if i >= s.count {
        return Action::Done(reason::ALL_COMMITTED);
    }
    let Some(seg) = s.segments.get(i as usize) else {
        return Action::Done(reason::INCONSISTENT);
    };
    match seg.state {
        SegmentState::Running if !on_time(f.now, seg.deadline) => Action::Expire { index: i },
        SegmentState::Running if seg.provider == f.me => match stored(f.journal, i) {
            Some(mine) => Action::Commit {
                index: i,
                root: mine.root,
                uri: mine.uri.clone(),
            },
            None => match start_for(f, s, i) {
                Ok(start) => Action::Run { index: i, start },
                Err(a) => a,
            },
        },
        SegmentState::Running => Action::Wait(reason::OTHERS),
        SegmentState::Pending if s.ended => Action::Done(reason::ENDED),
        SegmentState::Pending if !f.may_claim => Action::Wait(reason::NOT_CLAIMING),
        SegmentState::Pending if !f.startable => Action::Wait(reason::NOT_STARTABLE),
        SegmentState::Pending => match start_for(f, s, i) {
            Ok(start) => Action::Claim { index: i, start },
            Err(a) => a,
        },
        SegmentState::Committed | SegmentState::Disputed | SegmentState::Paid => {
            Action::Wait(reason::SETTLING)
        }
    }
}
