//! The `Segments` of a segmented job: a long job (training, typically) paid in parts,
//! each with its own price, duration, bond and checkpoint.
//!
//! ```text
//! Pending -> Running -> Committed -> Paid        (claimed or started at the previous
//!                                                 commit; checkpoint root committed on
//!                                                 time; paid after its challenge window)
//! Running -> Pending                              (deadline missed: that segment's bond
//!                                                 slashed; another provider's claim starts
//!                                                 it again from the last checkpoint)
//! Pending -> (refunded, removed)                  (the buyer ended the job, or a missed
//!                                                 segment expired past the job deadline)
//! Committed -> Disputed -> Committed              (challenged within its window; upheld, or
//!                                                 no ruling: payable once the window closed)
//! Disputed -> (slashed, removed)                  (overturned: the job ends at the previous
//!                                                 checkpoint, every later segment refunded)
//! Pending -> (refunded, removed)                  (anyone, past the job deadline, with no
//!                                                 segment running)
//! ```
//!
//! Nothing builds on an unsettled root: while a segment is disputed no segment starts
//! and no later segment is paid (`SegmentDisputeOpen`); a later segment already running
//! may still commit. A job has at most one open dispute, named by `Job::dispute`.
//!
//! Segments run strictly in order: `next` is the first segment not yet committed, and only
//! it can be running. The `Job` account of a segmented job stays in `JobState::Segmented`
//! for its whole life (so no single-job instruction acts on it) and keeps the job-wide
//! books the market's audit sums: `escrow` (what is still owed for unpaid segments),
//! `bond` (the bonds locked by running and committed segments, whoever locked them),
//! `price` (the segments' prices) and `provider` (the running segment's, or none).
//! Every transition below updates both accounts, and [`Segments::invariant`] checks that
//! they agree. Deadlines follow the job convention: on time at the deadline second, late
//! one second after ([`on_time`]).

use anchor_lang::prelude::*;

use crate::constants::{MAX_PHASE_DURATION, MAX_SEGMENTS, MAX_URI_LEN};
use crate::errors::MarketError;
use crate::math;
use crate::state::{on_time, Job, Provider};

mod transitions;

/// A segment as the buyer posts it.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentTerms {
    /// Payment-mint units paid for the segment (its provider gets it minus the fee).
    pub price: u64,
    /// Seconds its provider has from the segment's start to commit its checkpoint:
    /// the segment's deadline is `started_at + duration`.
    pub duration: i64,
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq)]
pub enum SegmentState {
    Pending,
    Running,
    Committed,
    Paid,
    /// Challenged within its window; the referees re-execute it from the previous
    /// checkpoint and `segment_settle` decides.
    Disputed,
}

// 131 bytes: price 8, duration 8, state 1, provider 32, four times 8, root 32, bond 8,
// GPU count 2, score scale 8.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq)]
pub struct Segment {
    pub price: u64,
    pub duration: i64,
    pub state: SegmentState,
    /// The provider account running or having run it (default while pending).
    pub provider: Pubkey,
    /// Unix seconds; zero while pending.
    pub started_at: i64,
    /// Last second its checkpoint may be committed: `started_at + duration`.
    pub deadline: i64,
    pub committed_at: i64,
    /// Last second a challenge of it would be accepted: `committed_at + challenge_window`.
    pub challenge_deadline: i64,
    /// SHA-256 of the checkpoint bytes it ended with.
    pub state_root: [u8; 32],
    /// Stake-mint units locked by its provider at its start.
    pub bond: u64,
    /// The provider's GPU count at the start: its metered GPU time is wall clock times this.
    pub gpu_count: u16,
    /// The market's `score_fee_scale` at the start, for the provider's rescoring.
    pub score_fee_scale: u64,
}

impl Segment {
    fn pending(terms: SegmentTerms) -> Segment {
        Segment {
            price: terms.price,
            duration: terms.duration,
            state: SegmentState::Pending,
            provider: Pubkey::default(),
            started_at: 0,
            deadline: 0,
            committed_at: 0,
            challenge_deadline: 0,
            state_root: [0; 32],
            bond: 0,
            gpu_count: 0,
            score_fee_scale: 0,
        }
    }

    pub fn terms(&self) -> SegmentTerms {
        SegmentTerms {
            price: self.price,
            duration: self.duration,
        }
    }

    /// Its bond is locked: from its start until it is paid (or its deadline is missed).
    pub fn holds_bond(&self) -> bool {
        matches!(
            self.state,
            SegmentState::Running | SegmentState::Committed | SegmentState::Disputed
        )
    }

    /// Metered GPU time of a committed segment, milliseconds (see `math::segment_gpu_ms`).
    pub fn gpu_ms(&self) -> u64 {
        math::segment_gpu_ms(self.started_at, self.committed_at, self.gpu_count)
    }
}

// 8 + 32 + 1 + 1 + 1 + 2 + 1 + (4 + MAX_URI_LEN) + (4 + MAX_SEGMENTS * 131) = 4,446 bytes
// with the discriminator (a test keeps the figure).
#[account]
#[derive(InitSpace, Debug)]
pub struct Segments {
    pub job: Pubkey,
    /// Segments the job has now (posted, plus extensions, minus refunded ones).
    pub count: u8,
    /// Index of the first segment not yet committed; `count` once all are.
    pub next: u8,
    /// No segment starts or is added any more: the buyer ended the job, or a missed
    /// segment expired past the job's deadline.
    pub ended: bool,
    /// The segment whose checkpoint the next one resumes from (none before the first
    /// commit: the first segment starts from the spec's initial state).
    pub last_checkpoint_index: Option<u8>,
    pub bump: u8,
    /// Where that checkpoint is stored (the buyer's store, named in the spec).
    #[max_len(MAX_URI_LEN)]
    pub last_checkpoint_uri: String,
    #[max_len(MAX_SEGMENTS)]
    pub segments: Vec<Segment>,
}

/// Segments given back to the buyer unstarted: how many, their prices and their escrow
/// (price plus crank bounty each), payment-mint units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refund {
    pub segments: u8,
    pub price: u64,
    pub escrow: u64,
}

/// A segment that started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    pub index: u8,
    pub bond: u64,
    pub deadline: i64,
}

/// A segment paid: what leaves the escrow and where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paid {
    pub provider: Pubkey,
    pub bond: u64,
    pub gpu_ms: u64,
    /// To the provider: price minus fee.
    pub payout: u64,
    /// Stays in the payment vault for the treasury.
    pub fee: u64,
    /// To whoever settled it.
    pub bounty: u64,
    /// payout + fee + bounty: what the job's escrow gives up.
    pub escrow: u64,
    pub score_fee_scale: u64,
}

/// A running segment whose deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expired {
    pub provider: Pubkey,
    /// Slashed by the job's frozen split.
    pub bond: u64,
    /// The fee the segment would have paid: what the miss weighs in reliability.
    pub forfeited_fee: u64,
    pub score_fee_scale: u64,
    /// Whether the job reopened for another claim (otherwise its rest was refunded).
    pub reopened: bool,
    pub refund: Refund,
}

/// A disputed segment the referees overturned: its bond (and the stake locked beside it)
/// to be slashed, and the job ended at the previous checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overturned {
    pub provider: Pubkey,
    pub bond: u64,
    pub price: u64,
    /// The segment's escrow: its price back to the buyer, its bounty to the settler.
    pub escrow: u64,
    pub score_fee_scale: u64,
    /// Segments started after it (running or committed, from a checkpoint now proven
    /// wrong): each one's provider and bond, released unslashed and unpaid.
    pub undone: Vec<(Pubkey, u64)>,
    /// Every segment after it, started or not, back to the buyer.
    pub refund: Refund,
}

/// The rules, as checks on the accounts alone. The transitions call them, and so do the
/// off-chain callers (the crank, the worker's planner, the CLI) through the `*_at(now)`
/// forms, so that each rule is written once.
impl Segments {
    /// What a post or an extension must offer: at least one segment, at most
    /// [`MAX_SEGMENTS`] in all (`have` already there), each with a price and a duration
    /// a claim can meet (the deadline second included, at least the market's minimum
    /// submit window) and that keeps a bond in play no longer than any market phase.
    pub fn check_terms(terms: &[SegmentTerms], have: usize, min_submit_window: i64) -> Result<()> {
        require!(!terms.is_empty(), MarketError::SegmentsEmpty);
        require!(
            have.saturating_add(terms.len()) <= MAX_SEGMENTS,
            MarketError::TooManySegments
        );
        for t in terms {
            require!(t.price > 0, MarketError::PriceZero);
            require!(
                t.duration > 0
                    && t.duration <= MAX_PHASE_DURATION
                    && t.duration.saturating_add(1) >= min_submit_window,
                MarketError::SegmentDurationInvalid
            );
        }
        Ok(())
    }

    /// The sum of the segments' prices.
    pub fn total_price(terms: &[SegmentTerms]) -> Result<u64> {
        terms
            .iter()
            .try_fold(0u64, |sum, t| math::add(sum, t.price))
    }

    /// What the buyer deposits for `terms`: each segment's price plus the crank bounty
    /// that pays whoever settles it (see `math::segments_escrow`).
    pub fn escrow_for(terms: &[SegmentTerms], crank_bounty: u64) -> Result<u64> {
        math::segments_escrow(terms.iter().map(|t| t.price), crank_bounty)
    }

    /// The account a post creates.
    pub fn posted(job: Pubkey, bump: u8, terms: &[SegmentTerms]) -> Segments {
        Segments {
            job,
            count: u8::try_from(terms.len()).unwrap_or(u8::MAX),
            next: 0,
            ended: false,
            last_checkpoint_index: None,
            bump,
            last_checkpoint_uri: String::new(),
            segments: terms.iter().copied().map(Segment::pending).collect(),
        }
    }

    pub fn segment(&self, index: u8) -> Result<&Segment> {
        self.segments
            .get(index as usize)
            .ok_or_else(|| error!(MarketError::SegmentIndexOutOfRange))
    }

    /// The provider that runs or ran segment `index`; none for a pending segment or
    /// an index with no segment (the instructions' constraints then accept any
    /// provider account and the handler refuses by the segment's own rule).
    pub fn provider_of(&self, index: u8) -> Option<Pubkey> {
        self.segments
            .get(index as usize)
            .map(|s| s.provider)
            .filter(|p| *p != Pubkey::default())
    }

    /// The running segment, if any (only `next` can be).
    pub fn running(&self) -> Option<(u8, &Segment)> {
        self.segments
            .get(self.next as usize)
            .filter(|s| s.state == SegmentState::Running)
            .map(|s| (self.next, s))
    }

    /// The segment under dispute, if any (a job has at most one open dispute).
    pub fn disputed(&self) -> Option<u8> {
        self.segments
            .iter()
            .position(|s| s.state == SegmentState::Disputed)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// What a start at `now` needs from the job: not ended, no segment disputed (nothing
    /// builds on an unsettled root), its next segment pending, the job's deadline (the
    /// last second a segment may start) not passed. Returns the segment that would start.
    pub fn check_start_at(&self, job: &Job, now: i64) -> Result<u8> {
        require!(!self.ended, MarketError::JobAlreadyEnded);
        require!(self.disputed().is_none(), MarketError::SegmentDisputeOpen);
        let index = self.next;
        require!(
            self.segments
                .get(index as usize)
                .is_some_and(|s| s.state == SegmentState::Pending),
            MarketError::SegmentNotPending
        );
        require!(on_time(now, job.deadline), MarketError::JobDeadlinePassed);
        require!(job.attempts < u16::MAX, MarketError::MathOverflow);
        Ok(index)
    }

    /// The bond a start of segment `index` locks, by the job's frozen terms.
    pub fn bond_for(&self, job: &Job, index: u8) -> Result<u64> {
        let price = self.segment(index)?.price;
        math::bond_for(price, job.terms.bond_bps, job.terms.bond_min)
    }

    /// Every rule a start of the next segment by `provider` checks, in order: its
    /// hardware meets the job's requirements, the job can start a segment, the
    /// segment's price is not below the provider's floor, and the provider has a slot,
    /// the minimum stake and free stake for the bond. `job_claim` asks this, and so does
    /// `segment_commit` before it starts the next segment for the same provider.
    /// Returns the segment and its bond.
    pub fn check_start_for(
        &self,
        job: &Job,
        provider: &Provider,
        min_stake: u64,
        now: i64,
    ) -> Result<(u8, u64)> {
        require!(
            provider.gpu.meets(&job.requirements),
            MarketError::RequirementsNotMet
        );
        let index = self.check_start_at(job, now)?;
        require!(
            self.segment(index)?.price >= provider.price_floor,
            MarketError::PriceBelowFloor
        );
        let bond = self.bond_for(job, index)?;
        provider.check_lock_bond(bond, min_stake)?;
        Ok((index, bond))
    }

    pub fn startable_at(&self, job: &Job, provider: &Provider, min_stake: u64, now: i64) -> bool {
        self.check_start_for(job, provider, min_stake, now).is_ok()
    }

    /// Segment `index` may be committed by `provider`: it is running, it is that
    /// provider's, and its deadline has not passed.
    pub fn check_commit_at(&self, index: u8, provider: &Pubkey, now: i64) -> Result<()> {
        let s = self.segment(index)?;
        require!(
            s.state == SegmentState::Running,
            MarketError::SegmentNotRunning
        );
        require_keys_eq!(s.provider, *provider, MarketError::WrongProvider);
        require!(on_time(now, s.deadline), MarketError::SegmentDeadlinePassed);
        Ok(())
    }

    pub fn committable_at(&self, index: u8, provider: &Pubkey, now: i64) -> bool {
        self.check_commit_at(index, provider, now).is_ok()
    }

    /// "Segment finalizable at t": committed, its challenge window closed, and no
    /// earlier segment disputed (it resumed from that segment's checkpoint).
    pub fn check_finalize_at(&self, index: u8, now: i64) -> Result<()> {
        let s = self.segment(index)?;
        require!(
            s.state == SegmentState::Committed,
            MarketError::SegmentNotCommitted
        );
        require!(
            !on_time(now, s.challenge_deadline),
            MarketError::ChallengeWindowOpen
        );
        require!(
            self.disputed().is_none_or(|d| d > index),
            MarketError::SegmentDisputeOpen
        );
        Ok(())
    }

    /// "Segment challengeable at t", by the job convention: committed, `now <=
    /// challenge_deadline`, and no dispute open on the job (one at a time: the first
    /// one's settlement decides what the later segments are worth).
    pub fn check_challenge_at(&self, index: u8, now: i64) -> Result<()> {
        let s = self.segment(index)?;
        require!(self.disputed().is_none(), MarketError::DisputeAlreadyOpen);
        require!(
            s.state == SegmentState::Committed,
            MarketError::SegmentNotCommitted
        );
        require!(
            on_time(now, s.challenge_deadline),
            MarketError::ChallengeWindowClosed
        );
        Ok(())
    }

    pub fn challengeable_at(&self, index: u8, now: i64) -> bool {
        self.check_challenge_at(index, now).is_ok()
    }

    /// Pending segments may be refunded by anyone: the job's deadline has passed (none
    /// can start again), no segment is running (it may still commit and start nothing),
    /// and the next segment is pending (there is something to refund).
    pub fn check_refund_at(&self, job: &Job, now: i64) -> Result<()> {
        require!(!on_time(now, job.deadline), MarketError::DeadlineNotPassed);
        require!(self.running().is_none(), MarketError::SegmentRunning);
        require!(
            self.segments
                .get(self.next as usize)
                .is_some_and(|s| s.state == SegmentState::Pending),
            MarketError::SegmentNotPending
        );
        Ok(())
    }

    pub fn refundable_at(&self, job: &Job, now: i64) -> bool {
        self.check_refund_at(job, now).is_ok()
    }

    pub fn finalizable_at(&self, index: u8, now: i64) -> bool {
        self.check_finalize_at(index, now).is_ok()
    }

    /// "Segment late at t": running, and its deadline passed; anyone may expire it.
    pub fn check_expire_at(&self, index: u8, now: i64) -> Result<()> {
        let s = self.segment(index)?;
        require!(
            s.state == SegmentState::Running,
            MarketError::SegmentNotRunning
        );
        require!(
            !on_time(now, s.deadline),
            MarketError::SegmentDeadlineNotPassed
        );
        Ok(())
    }

    pub fn late_at(&self, index: u8, now: i64) -> bool {
        self.check_expire_at(index, now).is_ok()
    }

    /// The buyer may add segments: not ended, the job's deadline not passed (no added
    /// segment could start after it), and the terms valid with room for them.
    pub fn check_extend_at(&self, job: &Job, terms: &[SegmentTerms], now: i64) -> Result<()> {
        require!(!self.ended, MarketError::JobAlreadyEnded);
        require!(on_time(now, job.deadline), MarketError::JobDeadlinePassed);
        Self::check_terms(terms, self.segments.len(), job.terms.min_submit_window)
    }

    /// The buyer may end the job once.
    pub fn check_end(&self) -> Result<()> {
        require!(!self.ended, MarketError::JobAlreadyEnded);
        Ok(())
    }

    /// Every segment there is has been paid: the job's accounts close.
    pub fn settled(&self) -> bool {
        self.segments.iter().all(|s| s.state == SegmentState::Paid)
    }
}

#[cfg(any(test, feature = "fixtures"))]
impl Segments {
    /// A freshly posted segmented job with `terms` and `Job::fixture`'s terms (bounty
    /// 10, challenge window 30, deadline 1_000): a starting point for tests. Not part
    /// of the program.
    pub fn fixture(terms: &[SegmentTerms]) -> (Job, Segments) {
        let mut job = Job {
            state: crate::state::JobState::Segmented,
            workload: crate::state::WorkloadKind::TrainMlp.code(),
            ..Job::fixture()
        };
        job.price = Self::total_price(terms).unwrap_or(0);
        job.escrow = Self::escrow_for(terms, job.terms.crank_bounty).unwrap_or(0);
        let segments = Segments::posted(Pubkey::new_unique(), 255, terms);
        (job, segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::JobState;

    fn is<T: std::fmt::Debug>(r: Result<T>, e: MarketError) -> bool {
        matches!(r, Err(Error::AnchorError(a)) if a.error_code_number == anchor_lang::error::ERROR_CODE_OFFSET + e as u32)
    }

    fn terms(n: usize) -> Vec<SegmentTerms> {
        (0..n)
            .map(|i| SegmentTerms {
                price: 1_000 + i as u64,
                duration: 100,
            })
            .collect()
    }

    fn three() -> (Job, Segments) {
        Segments::fixture(&terms(3))
    }

    const P: Pubkey = Pubkey::new_from_array([1; 32]);
    const Q: Pubkey = Pubkey::new_from_array([2; 32]);

    #[test]
    fn the_account_is_sized_for_the_bound() {
        assert_eq!(Segment::INIT_SPACE, 131);
        assert_eq!(8 + Segments::INIT_SPACE, 4_446);
        let (job, mut s) = Segments::fixture(&terms(MAX_SEGMENTS));
        s.invariant(&job).unwrap();
        // The largest it gets: every segment, the longest URI, a checkpoint index.
        s.last_checkpoint_uri = "u".repeat(MAX_URI_LEN);
        s.last_checkpoint_index = Some(0);
        let mut data = Vec::new();
        s.try_serialize(&mut data).unwrap();
        assert_eq!(data.len(), 8 + Segments::INIT_SPACE);
    }

    #[test]
    fn terms_are_bounded() {
        let ok = terms(2);
        Segments::check_terms(&ok, 0, 1).unwrap();
        assert!(is(
            Segments::check_terms(&[], 0, 1),
            MarketError::SegmentsEmpty
        ));
        assert!(is(
            Segments::check_terms(&terms(MAX_SEGMENTS + 1), 0, 1),
            MarketError::TooManySegments
        ));
        assert!(is(
            Segments::check_terms(&ok, MAX_SEGMENTS - 1, 1),
            MarketError::TooManySegments
        ));
        let zero_price = [SegmentTerms {
            price: 0,
            duration: 10,
        }];
        assert!(is(
            Segments::check_terms(&zero_price, 0, 1),
            MarketError::PriceZero
        ));
        for duration in [0, -1, MAX_PHASE_DURATION + 1] {
            let t = [SegmentTerms { price: 1, duration }];
            assert!(is(
                Segments::check_terms(&t, 0, 1),
                MarketError::SegmentDurationInvalid
            ));
        }
        // A duration of 29 leaves 30 seconds, the deadline second included.
        let t = [SegmentTerms {
            price: 1,
            duration: 29,
        }];
        Segments::check_terms(&t, 0, 30).unwrap();
        assert!(is(
            Segments::check_terms(&t, 0, 31),
            MarketError::SegmentDurationInvalid
        ));
    }

    #[test]
    fn escrow_is_price_plus_bounty_per_segment() {
        let t = terms(3);
        assert_eq!(Segments::total_price(&t).unwrap(), 3_003);
        assert_eq!(Segments::escrow_for(&t, 10).unwrap(), 3_033);
        let huge = [
            SegmentTerms {
                price: u64::MAX,
                duration: 1,
            },
            SegmentTerms {
                price: 1,
                duration: 1,
            },
        ];
        assert!(is(Segments::total_price(&huge), MarketError::MathOverflow));
    }

    #[test]
    fn segments_run_in_order_and_are_paid_one_by_one() {
        let (mut job, mut s) = three();
        s.invariant(&job).unwrap();
        let st = s.start(&mut job, P, 500, 2, 1_000, 100).unwrap();
        assert_eq!((st.index, st.bond, st.deadline), (0, 500, 200));
        assert_eq!((job.provider, job.bond, job.attempts), (P, 500, 1));
        s.invariant(&job).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.start(j, Q, 1, 1, 1, 100)),
            MarketError::SegmentNotPending
        ));
        // Out of order, someone else's, or late: refused.
        assert!(is(
            on_copy(&s, &job, |s, j| s.commit(
                j,
                1,
                &P,
                [1; 32],
                "c".into(),
                150
            )),
            MarketError::SegmentNotRunning
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.commit(
                j,
                0,
                &Q,
                [1; 32],
                "c".into(),
                150
            )),
            MarketError::WrongProvider
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.commit(
                j,
                0,
                &P,
                [1; 32],
                "c".into(),
                201
            )),
            MarketError::SegmentDeadlinePassed
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.commit(
                j,
                0,
                &P,
                [0; 32],
                "c".into(),
                150
            )),
            MarketError::EmptyResultRoot
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.commit(
                j,
                0,
                &P,
                [1; 32],
                String::new(),
                150
            )),
            MarketError::CheckpointUriEmpty
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.commit(
                j,
                0,
                &P,
                [1; 32],
                "u".repeat(201),
                150
            )),
            MarketError::UriTooLong
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.commit(
                j,
                3,
                &P,
                [1; 32],
                "c".into(),
                150
            )),
            MarketError::SegmentIndexOutOfRange
        ));
        // At the deadline second: on time.
        s.commit(&mut job, 0, &P, [1; 32], "file://c/0".into(), 200)
            .unwrap();
        assert_eq!(
            (s.next, s.last_checkpoint_index, job.provider),
            (1, Some(0), Pubkey::default())
        );
        assert_eq!(s.segments[0].challenge_deadline, 230);
        assert_eq!(s.segments[0].gpu_ms(), 100 * 1_000 * 2);
        s.invariant(&job).unwrap();
        s.start(&mut job, P, 500, 1, 1_000, 200).unwrap();
        assert_eq!(job.bond, 1_000);
        s.invariant(&job).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.finalize(j, 0, 230)),
            MarketError::ChallengeWindowOpen
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.finalize(j, 1, 500)),
            MarketError::SegmentNotCommitted
        ));
        let paid = s.finalize(&mut job, 0, 231).unwrap();
        assert_eq!(
            (paid.payout, paid.fee, paid.bounty, paid.escrow),
            (975, 25, 10, 1_010)
        );
        assert_eq!((job.escrow, job.bond), (3_033 - 1_010, 500));
        s.invariant(&job).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.finalize(j, 0, 232)),
            MarketError::SegmentNotCommitted
        ));
        s.commit(&mut job, 1, &P, [2; 32], "file://c/1".into(), 210)
            .unwrap();
        s.start(&mut job, P, 500, 1, 1_000, 210).unwrap();
        s.commit(&mut job, 2, &P, [3; 32], "file://c/2".into(), 220)
            .unwrap();
        // The last segment committed: nothing left to start.
        assert!(is(
            on_copy(&s, &job, |s, j| s.start(j, P, 1, 1, 1, 220)),
            MarketError::SegmentNotPending
        ));
        s.finalize(&mut job, 2, 251).unwrap();
        assert!(!s.settled());
        s.finalize(&mut job, 1, 241).unwrap();
        assert!(s.settled());
        assert_eq!((job.escrow, job.bond), (0, 0));
        s.invariant(&job).unwrap();
    }

    #[test]
    fn a_missed_segment_reopens_the_job_at_the_last_checkpoint() {
        let (mut job, mut s) = three();
        s.start(&mut job, P, 500, 1, 1_000, 0).unwrap();
        s.commit(&mut job, 0, &P, [1; 32], "c0".into(), 50).unwrap();
        s.start(&mut job, P, 600, 1, 1_000, 50).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.expire(j, 1, 150)),
            MarketError::SegmentDeadlineNotPassed
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.expire(j, 0, 151)),
            MarketError::SegmentNotRunning
        ));
        let e = s.expire(&mut job, 1, 151).unwrap();
        assert_eq!((e.provider, e.bond, e.reopened), (P, 600, true));
        assert_eq!(e.forfeited_fee, 26); // 2.5% of 1_001, rounded up
        assert_eq!(e.refund, Refund::default());
        // The committed segment keeps its bond and stays payable.
        assert_eq!((job.bond, job.provider), (500, Pubkey::default()));
        assert_eq!(s.segments[1].state, SegmentState::Pending);
        assert_eq!(
            (
                s.next,
                s.last_checkpoint_index,
                s.last_checkpoint_uri.as_str()
            ),
            (1, Some(0), "c0")
        );
        s.invariant(&job).unwrap();
        // Another provider resumes segment 1.
        let st = s.start(&mut job, Q, 600, 1, 1_000, 160).unwrap();
        assert_eq!((st.index, st.deadline, job.attempts), (1, 260, 3));
        s.commit(&mut job, 1, &Q, [2; 32], "c1".into(), 170)
            .unwrap();
        s.finalize(&mut job, 0, 81).unwrap();
        assert_eq!(s.finalize(&mut job, 1, 201).unwrap().provider, Q);
        s.invariant(&job).unwrap();
    }

    #[test]
    fn a_miss_past_the_job_deadline_refunds_the_rest() {
        let (mut job, mut s) = three();
        s.start(&mut job, P, 500, 1, 1_000, 950).unwrap();
        // Deadline 1_050 is past the job's 1_000: no segment can start again.
        let e = s.expire(&mut job, 0, 1_051).unwrap();
        assert!(!e.reopened && s.ended);
        assert_eq!(
            e.refund,
            Refund {
                segments: 3,
                price: 3_003,
                escrow: 3_033
            }
        );
        assert_eq!((s.count, job.escrow, job.price), (0, 0, 0));
        assert!(s.settled());
        s.invariant(&job).unwrap();
    }

    #[test]
    fn ending_refunds_exactly_the_unstarted_segments() {
        // Nothing started: everything back.
        let (mut job, mut s) = three();
        let r = s.end(&mut job).unwrap();
        assert_eq!((r.segments, r.escrow), (3, 3_033));
        assert!(s.settled() && s.ended);
        s.invariant(&job).unwrap();
        assert!(is(s.end(&mut job), MarketError::JobAlreadyEnded));

        // One committed, one running: the third alone is refunded; the running one
        // may still commit, and nothing starts after it.
        let (mut job, mut s) = three();
        s.start(&mut job, P, 500, 1, 1_000, 0).unwrap();
        s.commit(&mut job, 0, &P, [1; 32], "c0".into(), 10).unwrap();
        s.start(&mut job, P, 500, 1, 1_000, 10).unwrap();
        let r = s.end(&mut job).unwrap();
        assert_eq!(
            r,
            Refund {
                segments: 1,
                price: 1_002,
                escrow: 1_012
            }
        );
        assert_eq!(s.count, 2);
        s.invariant(&job).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.extend(j, &terms(1), 20)),
            MarketError::JobAlreadyEnded
        ));
        s.commit(&mut job, 1, &P, [2; 32], "c1".into(), 20).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.start(j, P, 1, 1, 1, 20)),
            MarketError::JobAlreadyEnded
        ));
        s.invariant(&job).unwrap();

        // Ended while running, and the running segment then missed its deadline: it
        // goes back to the buyer too instead of reopening.
        let (mut job, mut s) = three();
        s.start(&mut job, P, 500, 1, 1_000, 0).unwrap();
        s.end(&mut job).unwrap();
        let e = s.expire(&mut job, 0, 101).unwrap();
        assert!(!e.reopened);
        assert_eq!((e.refund.segments, e.refund.escrow), (1, 1_010));
        assert!(s.settled());
        s.invariant(&job).unwrap();
    }

    #[test]
    fn extending_adds_pending_segments_and_escrow() {
        let (mut job, mut s) = three();
        let (price, escrow) = s.extend(&mut job, &terms(2), 0).unwrap();
        assert_eq!((price, escrow, s.count), (2_001, 2_021, 5));
        assert_eq!(job.escrow, 3_033 + 2_021);
        s.invariant(&job).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.extend(j, &terms(MAX_SEGMENTS - 4), 0)),
            MarketError::TooManySegments
        ));
        s.extend(&mut job, &terms(MAX_SEGMENTS - 5), 0).unwrap();
        assert_eq!(s.count as usize, MAX_SEGMENTS);
        assert!(is(
            on_copy(&s, &job, |s, j| s.extend(j, &terms(1), 1_001)),
            MarketError::JobDeadlinePassed
        ));
        s.invariant(&job).unwrap();
    }

    #[test]
    fn starts_stop_at_the_job_deadline() {
        let (job, s) = three();
        assert!(s.check_start_at(&job, 1_000).is_ok());
        assert!(is(
            s.check_start_at(&job, 1_001),
            MarketError::JobDeadlinePassed
        ));
    }

    /// The `*_at` predicates the crank and the worker ask are the transitions' own
    /// checks: for every segment state and every second around its deadlines, a
    /// predicate says yes exactly when the transition succeeds.
    #[test]
    fn predicates_say_yes_exactly_when_the_transition_succeeds() {
        let (mut job, mut base) = three();
        base.start(&mut job, P, 500, 1, 1_000, 0).unwrap();
        base.commit(&mut job, 0, &P, [1; 32], "c".into(), 40)
            .unwrap();
        base.start(&mut job, P, 500, 1, 1_000, 40).unwrap();
        // Segment 0: committed, window closes at 70; segment 1: running, due at 140;
        // segment 2: pending.
        for now in [0, 69, 70, 71, 139, 140, 141, 999, 1_000, 1_001] {
            for index in 0..4u8 {
                let (s, j) = (&base, &job);
                assert_eq!(
                    s.finalizable_at(index, now),
                    on_copy(s, j, |s, j| s.finalize(j, index, now)).is_ok()
                );
                assert_eq!(
                    s.late_at(index, now),
                    on_copy(s, j, |s, j| s.expire(j, index, now)).is_ok()
                );
                assert_eq!(
                    s.committable_at(index, &P, now),
                    on_copy(s, j, |s, j| s.commit(
                        j,
                        index,
                        &P,
                        [1; 32],
                        "c".into(),
                        now
                    ))
                    .is_ok()
                );
            }
        }
        assert!(!base.finalizable_at(0, 70) && base.finalizable_at(0, 71));
        assert!(!base.late_at(1, 140) && base.late_at(1, 141));
    }

    #[test]
    fn the_invariant_catches_books_that_disagree() {
        let (mut job, mut s) = three();
        s.start(&mut job, P, 500, 1, 1_000, 0).unwrap();
        s.invariant(&job).unwrap();
        let corruptions: [fn(&mut Segments, &mut Job); 7] = [
            |_: &mut Segments, j: &mut Job| j.bond += 1,
            |_: &mut Segments, j: &mut Job| j.escrow -= 1,
            |_: &mut Segments, j: &mut Job| j.provider = Q,
            |s: &mut Segments, _: &mut Job| s.count = 2,
            |s: &mut Segments, _: &mut Job| s.next = 1,
            |s: &mut Segments, _: &mut Job| s.segments[2].state = SegmentState::Running,
            |s: &mut Segments, _: &mut Job| s.last_checkpoint_index = Some(0),
        ];
        for corrupt in corruptions {
            let (mut j, mut c) = (job.clone(), s.clone());
            corrupt(&mut c, &mut j);
            assert!(is(c.invariant(&j), MarketError::SegmentsInvariant));
        }
        assert_eq!(job.state, JobState::Segmented);
    }

    #[test]
    fn a_disputed_segment_holds_starts_and_later_payments() {
        let (mut job, mut s) = three();
        let d = Pubkey::new_unique();
        s.start(&mut job, P, 500, 1, 1_000, 0).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.challenge(j, 0, d, 10)),
            MarketError::SegmentNotCommitted
        ));
        s.commit(&mut job, 0, &P, [1; 32], "c0".into(), 10).unwrap();
        s.start(&mut job, P, 600, 1, 1_000, 10).unwrap();
        s.commit(&mut job, 1, &P, [2; 32], "c1".into(), 20).unwrap();
        // Window of segment 0 closes at 40: on time at 40, late at 41.
        assert!(s.challengeable_at(0, 40) && !s.challengeable_at(0, 41));
        assert!(is(
            on_copy(&s, &job, |s, j| s.challenge(j, 0, d, 41)),
            MarketError::ChallengeWindowClosed
        ));
        s.challenge(&mut job, 0, d, 40).unwrap();
        assert_eq!((s.disputed(), job.dispute), (Some(0), d));
        s.invariant(&job).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.challenge(j, 1, d, 40)),
            MarketError::DisputeAlreadyOpen
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.start(j, P, 1, 1, 1, 40)),
            MarketError::SegmentDisputeOpen
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.finalize(j, 1, 51)),
            MarketError::SegmentDisputeOpen
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.finalize(j, 0, 51)),
            MarketError::SegmentNotCommitted
        ));
        // Upheld: committed again, both payable, starts allowed.
        let mut up = s.clone();
        let mut uj = job.clone();
        up.uphold(&mut uj, 0).unwrap();
        up.invariant(&uj).unwrap();
        assert!(up.finalizable_at(0, 41) && up.finalizable_at(1, 51));
        assert!(up.check_start_at(&uj, 51).is_ok());
        // Overturned: segment 0 and the later one leave; the job ends at the spec's
        // initial state with nothing left to pay.
        let o = s.overturn(&mut job, 0).unwrap();
        assert_eq!(
            (o.provider, o.bond, o.price, o.escrow),
            (P, 500, 1_000, 1_010)
        );
        assert_eq!(o.undone, vec![(P, 600)]);
        assert_eq!(
            o.refund,
            Refund {
                segments: 2,
                price: 2_003,
                escrow: 2_023
            }
        );
        assert_eq!((s.count, s.next, s.last_checkpoint_index), (0, 0, None));
        assert!(s.ended && s.settled());
        assert_eq!((job.escrow, job.bond, job.price), (0, 0, 0));
        assert_eq!(job.dispute, Pubkey::default());
        s.invariant(&job).unwrap();
    }

    #[test]
    fn overturning_a_later_segment_keeps_the_earlier_ones_payable() {
        let (mut job, mut s) = three();
        s.start(&mut job, P, 500, 1, 1_000, 0).unwrap();
        s.commit(&mut job, 0, &P, [1; 32], "c0".into(), 10).unwrap();
        s.start(&mut job, Q, 600, 1, 1_000, 10).unwrap();
        s.commit(&mut job, 1, &Q, [2; 32], "c1".into(), 20).unwrap();
        s.challenge(&mut job, 1, Pubkey::new_unique(), 21).unwrap();
        let o = s.overturn(&mut job, 1).unwrap();
        assert_eq!((o.provider, o.undone.len(), o.refund.segments), (Q, 0, 1));
        assert_eq!((s.count, s.next, s.last_checkpoint_index), (1, 1, Some(0)));
        s.invariant(&job).unwrap();
        assert!(!s.settled());
        s.finalize(&mut job, 0, 41).unwrap();
        assert!(s.settled());
        s.invariant(&job).unwrap();
    }

    #[test]
    fn pending_segments_are_refundable_past_the_deadline_with_none_running() {
        let (mut job, mut s) = three();
        s.start(&mut job, P, 500, 1, 1_000, 950).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.refund_pending(j, 1_000)),
            MarketError::DeadlineNotPassed
        ));
        assert!(is(
            on_copy(&s, &job, |s, j| s.refund_pending(j, 1_001)),
            MarketError::SegmentRunning
        ));
        s.commit(&mut job, 0, &P, [1; 32], "c0".into(), 1_001)
            .unwrap();
        assert!(!s.refundable_at(&job, 1_000) && s.refundable_at(&job, 1_001));
        let r = s.refund_pending(&mut job, 1_001).unwrap();
        assert_eq!((r.segments, r.escrow), (2, 2_023));
        assert!(s.ended);
        s.invariant(&job).unwrap();
        assert!(is(
            on_copy(&s, &job, |s, j| s.refund_pending(j, 1_002)),
            MarketError::SegmentNotPending
        ));
    }

    /// Runs `f` on copies of the segments and their job, leaving both untouched.
    fn on_copy<T>(
        s: &Segments,
        job: &Job,
        f: impl FnOnce(&mut Segments, &mut Job) -> Result<T>,
    ) -> Result<T> {
        let (mut c, mut j) = (s.clone(), job.clone());
        f(&mut c, &mut j)
    }
}
