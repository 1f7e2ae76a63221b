//! The `Job`: a buyer's escrowed request for GPU work and its lifecycle.
//!
//! ```text
//! Open -> Claimed -> Submitted -> Finalized            (paid, account closed)
//! Open -> Cancelled                                    (buyer, refunded, closed)
//! Open -> Refunded                                     (deadline passed unclaimed)
//! Claimed -> Open | Refunded                           (submit deadline missed: bond slashed;
//!                                                       reopened while the job deadline holds)
//! Submitted -> Disputed -> Submitted                   (challenge upheld the result)
//! Submitted -> Disputed -> Slashed                     (result proven wrong or not defended;
//!                                                       bond and stake slashed, escrow
//!                                                       refunded, account closed)
//! Segmented                                            (a job posted in segments, for its
//!                                                       whole life: see state/segments/)
//! ```
//!
//! Deadlines follow one convention: at the deadline second an action is still
//! on time, one second later it is late.

use anchor_lang::prelude::*;

use crate::constants::MAX_URI_LEN;
use crate::errors::MarketError;
use crate::math;
use crate::state::MarketParams;

#[account]
#[derive(InitSpace, Debug)]
pub struct Job {
    // Fixed-size fields first, so that clients can filter on `state` and
    // `provider` with memcmp at fixed offsets (market 8, buyer 40, state 80,
    // provider 81); the variable-length URIs come last.
    pub market: Pubkey,
    /// Posted the job, paid its rent, gets refunds and the rent back.
    pub buyer: Pubkey,
    /// Buyer-chosen; part of the PDA seeds.
    pub nonce: u64,
    pub state: JobState,
    /// The claiming provider account (default when none).
    pub provider: Pubkey,
    /// `WorkloadKind` as u8 (the spec names the same kind).
    pub workload: u8,
    /// SHA-256 of the job spec's bytes.
    pub spec_hash: [u8; 32],
    pub requirements: JobRequirements,
    /// Paid to the provider (minus the fee) on finalization; payment-mint units.
    pub price: u64,
    /// Held in the payment vault for this job: price + crank bounty.
    pub escrow: u64,
    /// The market's rules as they were when the job was posted.
    pub terms: JobTerms,
    /// Bond locked by the claiming provider, stake-mint units.
    pub bond: u64,
    /// Unix seconds.
    pub posted_at: i64,
    /// Last second the job may be claimed or submitted.
    pub deadline: i64,
    pub claimed_at: i64,
    /// min(claimed_at + claim_timeout, deadline).
    pub submit_deadline: i64,
    pub submitted_at: i64,
    /// Last second a challenge is accepted: submitted_at + challenge_window.
    pub challenge_deadline: i64,
    /// Merkle root of the result (see docs/design.md, "Result commitment").
    pub result_root: [u8; 32],
    /// Metered GPU time, milliseconds.
    pub gpu_ms: u64,
    /// Number of claims so far (reopened jobs are claimed again).
    pub attempts: u16,
    /// What a ruling over a GEMM output element checks against (zero for other workloads).
    pub gemm: GemmCommitment,
    /// The open dispute while `Disputed` (default otherwise).
    pub dispute: Pubkey,
    pub bump: u8,
    /// The buyer's payment-mint account that funded the escrow: refunds go
    /// back to it (recorded at posting, so settlement never needs an account
    /// created for the buyer; if the buyer closes it, see `job_expire`).
    pub refund_account: Pubkey,
    /// The buyer's stake-mint account, recorded at posting: its share of a slash.
    pub slash_share_account: Pubkey,
    /// The claiming provider's GPU count, frozen at the claim: metering is
    /// bounded by it, whatever the descriptor says at submission.
    pub claim_gpu_count: u16,
    /// The market's `score_fee_scale` at the claim: the job's settlement
    /// rescores the provider with it, whatever the market says by then.
    pub claim_score_fee_scale: u64,
    #[max_len(MAX_URI_LEN)]
    pub spec_uri: String,
    #[max_len(MAX_URI_LEN)]
    pub result_uri: String,
}

#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq, Default,
)]
pub struct JobRequirements {
    /// Memory per GPU, MiB.
    pub min_vram_mb: u32,
    /// major * 10 + minor; 0 admits CPU-only providers.
    pub min_compute_capability: u16,
    pub min_gpu_count: u16,
}

/// A GEMM job's shape and input commitments, recorded at post so that the chain can rule
/// on one output element: `a_root` over the rows of A (m leaves of `k * e` bytes), `b_root`
/// over the columns of B (n leaves of `k * e` bytes), e = 1 for gemm-i8 and 4 for gemm-f32,
/// as `gpu_market_compute::commit` builds them. Workers refuse a job whose commitment
/// disagrees with its spec's inputs.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq, Default,
)]
pub struct GemmCommitment {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub a_root: [u8; 32],
    pub b_root: [u8; 32],
}

/// The market's rules a job was posted under, frozen for its lifetime.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq)]
pub struct JobTerms {
    pub fee_bps: u16,
    pub crank_bounty: u64,
    pub bond_bps: u32,
    pub bond_min: u64,
    pub claim_timeout: i64,
    pub challenge_window: i64,
    pub slash_buyer_bps: u16,
    pub slash_reporter_bps: u16,
    /// Bond a challenger of this job posts, payment-mint units.
    pub challenger_bond: u64,
    /// Seconds the parties of a dispute have to stage and verify their proofs.
    pub dispute_timeout: i64,
    /// Seconds a claim must leave to submit, the deadline second included.
    pub min_submit_window: i64,
}

impl From<&MarketParams> for JobTerms {
    fn from(p: &MarketParams) -> Self {
        Self {
            fee_bps: p.fee_bps,
            crank_bounty: p.crank_bounty,
            bond_bps: p.bond_bps,
            bond_min: p.bond_min,
            claim_timeout: p.claim_timeout,
            challenge_window: p.challenge_window,
            slash_buyer_bps: p.slash_buyer_bps,
            slash_reporter_bps: p.slash_reporter_bps,
            challenger_bond: p.challenger_bond,
            dispute_timeout: p.dispute_timeout,
            min_submit_window: p.min_submit_window,
        }
    }
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq)]
pub enum JobState {
    Open,
    Claimed,
    Submitted,
    Disputed,
    Finalized,
    Cancelled,
    Refunded,
    Slashed,
    /// A segmented job, for its whole life: its `Segments` account holds the state of
    /// each segment, and no single-job instruction (claim without the segments, submit,
    /// finalize, expire, cancel, challenge) accepts it.
    Segmented,
}

/// Workload kinds; the numbers are part of the protocol. Defined once, in
/// gpu-market-types, for the program, the compute crate and the blob store alike.
pub use gpu_market_types::WorkloadKind;

/// What an expired claim turns into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryOutcome {
    /// Time remains before the job deadline: back to Open for another provider.
    Reopened,
    /// The job deadline has passed too: the buyer gets the escrow back.
    Refunded,
}

/// The deadline convention, in one place: at the deadline second an action is
/// still on time; one second later it is late.
pub const fn on_time(now: i64, deadline: i64) -> bool {
    now <= deadline
}

/// The rules of each transition, as pure checks on the job alone. The
/// transitions below call them, and so do the off-chain callers (the crank's due
/// list, the worker's planner, the CLI) through the `*_at(now) -> bool` forms,
/// so that a rule is written once. Each check returns the named error of the
/// first rule the job breaks, in the order the instruction checks them.
impl Job {
    /// The bond a claim locks, by the job's frozen terms.
    pub fn bond_for_claim(&self) -> Result<u64> {
        math::bond_for(self.price, self.terms.bond_bps, self.terms.bond_min)
    }

    /// The submit deadline a claim at `now` gets: `min(now + claim_timeout, deadline)`.
    pub fn submit_deadline_for_claim_at(&self, now: i64) -> Result<i64> {
        Ok(math::add_i64(now, self.terms.claim_timeout)?.min(self.deadline))
    }

    /// The seconds a claim at `now` leaves to submit, the deadline second
    /// included: `submit_deadline - now + 1`.
    pub fn submit_window_for_claim_at(&self, now: i64) -> Result<i64> {
        let deadline = self.submit_deadline_for_claim_at(now)?;
        math::add_i64(deadline.saturating_sub(now), 1)
    }

    /// What a claim at `now` needs from the job: open, its deadline not passed,
    /// at least the frozen `min_submit_window` left to submit (a buyer cannot
    /// post or wait for a window no worker can meet and then collect the
    /// slash), and room in the counters. Returns the submit deadline the claim gets.
    pub fn check_claim_at(&self, now: i64) -> Result<i64> {
        require!(self.state == JobState::Open, MarketError::JobNotOpen);
        require!(on_time(now, self.deadline), MarketError::JobDeadlinePassed);
        require!(
            self.submit_window_for_claim_at(now)? >= self.terms.min_submit_window,
            MarketError::SubmitWindowTooShort
        );
        require!(self.attempts < u16::MAX, MarketError::MathOverflow);
        self.submit_deadline_for_claim_at(now)
    }

    /// Open and claimable at `now` as far as the job is concerned (the provider's
    /// side is `Provider::can_claim`).
    pub fn claimable_at(&self, now: i64) -> bool {
        self.check_claim_at(now).is_ok()
    }

    /// The most GPU time a submission at `now` may meter: wall clock since the
    /// claim times the GPU count frozen at the claim (a descriptor changed after
    /// the claim does not raise it).
    pub fn max_metered_ms_at(&self, now: i64) -> u64 {
        math::max_metered_ms(self.claimed_at, now, self.claim_gpu_count)
    }

    /// A result may be submitted: claimed, and the submit deadline not passed.
    pub fn check_submit_at(&self, now: i64) -> Result<()> {
        require!(self.state == JobState::Claimed, MarketError::JobNotClaimed);
        require!(
            on_time(now, self.submit_deadline),
            MarketError::SubmitDeadlinePassed
        );
        Ok(())
    }

    pub fn submittable_at(&self, now: i64) -> bool {
        self.check_submit_at(now).is_ok()
    }

    /// Anyone may finalize: submitted, and the challenge window closed.
    pub fn check_finalize_at(&self, now: i64) -> Result<()> {
        require!(
            self.state == JobState::Submitted,
            MarketError::JobNotSubmitted
        );
        require!(
            !on_time(now, self.challenge_deadline),
            MarketError::ChallengeWindowOpen
        );
        Ok(())
    }

    pub fn finalizable_at(&self, now: i64) -> bool {
        self.check_finalize_at(now).is_ok()
    }

    /// Anyone may expire the claim: claimed, and the submit deadline passed.
    pub fn check_expire_at(&self, now: i64) -> Result<()> {
        require!(self.state == JobState::Claimed, MarketError::JobNotClaimed);
        require!(
            !on_time(now, self.submit_deadline),
            MarketError::SubmitDeadlineNotPassed
        );
        Ok(())
    }

    pub fn expirable_at(&self, now: i64) -> bool {
        self.check_expire_at(now).is_ok()
    }

    /// Anyone may refund the unclaimed job: open, and its deadline passed.
    pub fn check_lapse_at(&self, now: i64) -> Result<()> {
        require!(self.state == JobState::Open, MarketError::JobNotOpen);
        require!(!on_time(now, self.deadline), MarketError::DeadlineNotPassed);
        Ok(())
    }

    pub fn unclaimed_lapsed_at(&self, now: i64) -> bool {
        self.check_lapse_at(now).is_ok()
    }

    /// Anyone may challenge: a submitted GEMM or CUDA-kernel result, no dispute open,
    /// and the challenge window not closed.
    pub fn check_challenge_at(&self, now: i64) -> Result<()> {
        require!(
            self.state != JobState::Disputed,
            MarketError::DisputeAlreadyOpen
        );
        require!(
            self.state == JobState::Submitted,
            MarketError::JobNotSubmitted
        );
        require!(
            on_time(now, self.challenge_deadline),
            MarketError::ChallengeWindowClosed
        );
        // GEMM: the chain rules itself; a CUDA kernel: referees re-execute it. bf16 is
        // reserved and has no executor, so nothing to dispute.
        require!(
            self.workload_kind().is_some_and(|w| {
                w == WorkloadKind::CudaKernel || crate::state::gemm_elem_bytes(w).is_some()
            }),
            MarketError::DisputeUnsupportedWorkload
        );
        Ok(())
    }

    pub fn challengeable_at(&self, now: i64) -> bool {
        self.check_challenge_at(now).is_ok()
    }

    pub fn workload_kind(&self) -> Option<WorkloadKind> {
        WorkloadKind::from_u8(self.workload)
    }
}

impl Job {
    /// Freezes what the claim's settlement depends on besides the terms: the
    /// provider's GPU count (bounds metering) and the market's score scale.
    pub fn freeze_claim(&mut self, gpu_count: u16, score_fee_scale: u64) {
        self.claim_gpu_count = gpu_count;
        self.claim_score_fee_scale = score_fee_scale;
    }

    /// The protocol fee this job pays when it completes; what an expiry of it
    /// costs the provider's reliability (see `math::reputation_score`).
    pub fn fee(&self) -> Result<u64> {
        math::fee_for(self.price, self.terms.fee_bps)
    }

    pub fn claim(&mut self, provider: Pubkey, bond: u64, now: i64) -> Result<()> {
        let submit_deadline = self.check_claim_at(now)?;
        self.state = JobState::Claimed;
        self.provider = provider;
        self.bond = bond;
        self.claimed_at = now;
        self.submit_deadline = submit_deadline;
        self.attempts = self
            .attempts
            .checked_add(1)
            .ok_or(MarketError::MathOverflow)?;
        Ok(())
    }

    pub fn submit(
        &mut self,
        result_root: [u8; 32],
        result_uri: String,
        gpu_ms: u64,
        now: i64,
    ) -> Result<()> {
        self.check_submit_at(now)?;
        require!(result_root != [0u8; 32], MarketError::EmptyResultRoot);
        require!(result_uri.len() <= MAX_URI_LEN, MarketError::UriTooLong);
        require!(
            gpu_ms <= self.max_metered_ms_at(now),
            MarketError::MeteringExceedsWallClock
        );
        self.state = JobState::Submitted;
        self.result_root = result_root;
        self.result_uri = result_uri;
        self.gpu_ms = gpu_ms;
        self.submitted_at = now;
        self.challenge_deadline = math::add_i64(now, self.terms.challenge_window)?;
        Ok(())
    }

    pub fn finalize(&mut self, now: i64) -> Result<()> {
        self.check_finalize_at(now)?;
        self.state = JobState::Finalized;
        Ok(())
    }

    /// A challenge opens `dispute`: finalization waits for its settlement.
    pub fn challenge(&mut self, dispute: Pubkey, now: i64) -> Result<()> {
        self.check_challenge_at(now)?;
        self.state = JobState::Disputed;
        self.dispute = dispute;
        Ok(())
    }

    /// A settled dispute: the provider lost (the job is slashed and closes) or won (the
    /// result stands and the job is finalizable again once its challenge window closes).
    pub fn end_dispute(&mut self, provider_loses: bool) -> Result<()> {
        require!(self.state == JobState::Disputed, MarketError::WrongDispute);
        self.state = if provider_loses {
            JobState::Slashed
        } else {
            JobState::Submitted
        };
        self.dispute = Pubkey::default();
        Ok(())
    }

    pub fn cancel(&mut self) -> Result<()> {
        require!(self.state == JobState::Open, MarketError::JobNotOpen);
        self.state = JobState::Cancelled;
        Ok(())
    }

    /// An unclaimed job whose deadline passed goes back to its buyer.
    pub fn lapse(&mut self, now: i64) -> Result<()> {
        self.check_lapse_at(now)?;
        self.state = JobState::Refunded;
        Ok(())
    }

    /// A claim that missed its submit deadline. The caller slashes `self.bond`
    /// (read it before calling: it is reset here).
    pub fn expire(&mut self, now: i64) -> Result<ExpiryOutcome> {
        self.check_expire_at(now)?;
        self.provider = Pubkey::default();
        self.bond = 0;
        self.claimed_at = 0;
        self.submit_deadline = 0;
        self.claim_gpu_count = 0;
        self.claim_score_fee_scale = 0;
        if on_time(now, self.deadline) {
            self.state = JobState::Open;
            Ok(ExpiryOutcome::Reopened)
        } else {
            self.state = JobState::Refunded;
            Ok(ExpiryOutcome::Refunded)
        }
    }
}

#[cfg(any(test, feature = "fixtures"))]
impl Job {
    /// An open job with fixed, valid terms: a starting point for tests
    /// (`Job { state, ..Job::fixture() }`). Not part of the program.
    pub fn fixture() -> Job {
        Job {
            market: Pubkey::new_unique(),
            buyer: Pubkey::new_unique(),
            nonce: 1,
            workload: 0,
            spec_hash: [7; 32],
            spec_uri: "blob://x".into(),
            requirements: JobRequirements::default(),
            price: 1_000,
            escrow: 1_010,
            terms: JobTerms {
                fee_bps: 250,
                crank_bounty: 10,
                bond_bps: 5_000,
                bond_min: 100,
                claim_timeout: 60,
                challenge_window: 30,
                slash_buyer_bps: 5_000,
                slash_reporter_bps: 1_000,
                challenger_bond: 500,
                dispute_timeout: 30,
                min_submit_window: 1,
            },
            state: JobState::Open,
            provider: Pubkey::default(),
            bond: 0,
            posted_at: 0,
            deadline: 1_000,
            claimed_at: 0,
            submit_deadline: 0,
            submitted_at: 0,
            challenge_deadline: 0,
            result_root: [0; 32],
            result_uri: String::new(),
            gpu_ms: 0,
            attempts: 0,
            gemm: GemmCommitment::default(),
            dispute: Pubkey::default(),
            bump: 255,
            refund_account: Pubkey::new_unique(),
            slash_share_account: Pubkey::new_unique(),
            claim_gpu_count: 0,
            claim_score_fee_scale: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job::fixture()
    }

    fn is<T: std::fmt::Debug>(r: Result<T>, e: MarketError) -> bool {
        matches!(r, Err(Error::AnchorError(a)) if a.error_code_number == anchor_lang::error::ERROR_CODE_OFFSET + e as u32)
    }

    #[test]
    fn claim_boundary_at_deadline() {
        let p = Pubkey::new_unique();
        let mut j = job();
        assert!(is(
            j.clone_at(|j| j.claim(p, 1, 1_001)),
            MarketError::JobDeadlinePassed
        ));
        j.claim(p, 500, 1_000).unwrap();
        // Claimed at the deadline: the submit deadline is the job deadline.
        assert_eq!(j.submit_deadline, 1_000);
        assert!(is(j.claim(p, 1, 999), MarketError::JobNotOpen));
        let mut j = job();
        j.claim(p, 500, 100).unwrap();
        assert_eq!((j.submit_deadline, j.attempts, j.bond), (160, 1, 500));
    }

    #[test]
    fn submit_boundaries_and_metering() {
        let p = Pubkey::new_unique();
        let mut j = job();
        j.claim(p, 500, 100).unwrap();
        assert!(is(
            j.clone_at(|j| j.submit([1; 32], "r".into(), 0, 161)),
            MarketError::SubmitDeadlinePassed
        ));
        assert!(is(
            j.clone_at(|j| j.submit([0; 32], "r".into(), 0, 160)),
            MarketError::EmptyResultRoot
        ));
        assert!(is(
            j.clone_at(|j| j.submit([1; 32], "r".into(), 61_001, 160)),
            MarketError::MeteringExceedsWallClock
        ));
        assert!(is(
            j.clone_at(|j| j.submit([1; 32], "u".repeat(201), 0, 160)),
            MarketError::UriTooLong
        ));
        j.clone_at(|j| j.submit([1; 32], "r".into(), 0, 159))
            .unwrap();
        j.submit([1; 32], "r".into(), 61_000, 160).unwrap();
        assert_eq!((j.state, j.challenge_deadline), (JobState::Submitted, 190));
    }

    #[test]
    fn finalize_only_after_the_window() {
        let mut j = job();
        j.claim(Pubkey::new_unique(), 1, 0).unwrap();
        j.submit([1; 32], "r".into(), 0, 10).unwrap();
        assert!(is(
            j.clone_at(|j| j.finalize(39)),
            MarketError::ChallengeWindowOpen
        ));
        assert!(is(
            j.clone_at(|j| j.finalize(40)),
            MarketError::ChallengeWindowOpen
        ));
        j.finalize(41).unwrap();
        assert!(is(j.finalize(42), MarketError::JobNotSubmitted));
    }

    #[test]
    fn expiry_reopens_or_refunds() {
        let p = Pubkey::new_unique();
        let mut j = job();
        j.claim(p, 500, 100).unwrap();
        assert!(is(
            j.clone_at(|j| j.expire(160).map(|_| ())),
            MarketError::SubmitDeadlineNotPassed
        ));
        assert_eq!(
            j.clone_at(|j| j.expire(161)).unwrap(),
            ExpiryOutcome::Reopened
        );
        let mut late = job();
        late.claim(p, 500, 990).unwrap();
        assert_eq!(late.submit_deadline, 1_000);
        assert_eq!(late.expire(1_001).unwrap(), ExpiryOutcome::Refunded);
        assert_eq!(late.state, JobState::Refunded);
        // A reopened job is claimable again by someone else.
        assert_eq!(j.expire(161).unwrap(), ExpiryOutcome::Reopened);
        assert_eq!(
            (j.state, j.bond, j.provider),
            (JobState::Open, 0, Pubkey::default())
        );
        j.claim(Pubkey::new_unique(), 500, 200).unwrap();
        assert_eq!(j.attempts, 2);
    }

    #[test]
    fn cancel_and_lapse_only_while_open() {
        let mut j = job();
        assert!(is(
            j.clone_at(|j| j.lapse(1_000)),
            MarketError::DeadlineNotPassed
        ));
        j.clone_at(|j| j.lapse(1_001)).unwrap();
        j.claim(Pubkey::new_unique(), 1, 0).unwrap();
        assert!(is(j.clone_at(|j| j.cancel()), MarketError::JobNotOpen));
        assert!(is(j.lapse(2_000), MarketError::JobNotOpen));
    }

    #[test]
    fn bond_uses_frozen_terms() {
        let j = job();
        assert_eq!(j.bond_for_claim().unwrap(), 500);
    }

    #[test]
    fn submit_deadline_is_capped_by_the_job_deadline() {
        // claim_timeout 60, deadline 1_000: the cap takes over at 940.
        let j = job();
        assert_eq!(j.submit_deadline_for_claim_at(939).unwrap(), 999);
        assert_eq!(j.submit_deadline_for_claim_at(940).unwrap(), 1_000);
        assert_eq!(j.submit_deadline_for_claim_at(941).unwrap(), 1_000);
        assert!(is(
            j.submit_deadline_for_claim_at(i64::MAX),
            MarketError::MathOverflow
        ));
        for now in [0, 939, 940, 941, 1_000] {
            let mut c = job();
            c.claim(Pubkey::new_unique(), 1, now).unwrap();
            assert_eq!(
                c.submit_deadline,
                j.submit_deadline_for_claim_at(now).unwrap()
            );
        }
    }

    /// The `*_at` predicates the off-chain callers ask are the transitions'
    /// own checks: for every state and every second around each deadline, a
    /// predicate says yes exactly when the transition succeeds.
    #[test]
    fn predicates_say_yes_exactly_when_the_transition_succeeds() {
        let states = [
            JobState::Open,
            JobState::Claimed,
            JobState::Submitted,
            JobState::Disputed,
            JobState::Finalized,
        ];
        for state in states {
            let j = Job {
                state,
                submit_deadline: 500,
                challenge_deadline: 700,
                claimed_at: 400,
                ..job()
            };
            for now in [0, 499, 500, 501, 699, 700, 701, 999, 1_000, 1_001] {
                let p = Pubkey::new_unique();
                assert_eq!(
                    j.claimable_at(now),
                    j.clone_at(|j| j.claim(p, 1, now)).is_ok()
                );
                assert_eq!(
                    j.submittable_at(now),
                    j.clone_at(|j| j.submit([1; 32], "r".into(), 0, now))
                        .is_ok()
                );
                assert_eq!(
                    j.finalizable_at(now),
                    j.clone_at(|j| j.finalize(now)).is_ok()
                );
                assert_eq!(j.expirable_at(now), j.clone_at(|j| j.expire(now)).is_ok());
                assert_eq!(
                    j.unclaimed_lapsed_at(now),
                    j.clone_at(|j| j.lapse(now)).is_ok()
                );
            }
        }
        // The convention itself: on time at the deadline, late one second after.
        let open = job();
        assert!(open.claimable_at(1_000) && !open.claimable_at(1_001));
        assert!(!open.unclaimed_lapsed_at(1_000) && open.unclaimed_lapsed_at(1_001));
    }

    #[test]
    fn a_claim_must_leave_the_min_submit_window() {
        // claim_timeout 60, deadline 1_000, window 30: a claim at 971 leaves
        // 971..=1_000 (30 seconds), at 972 only 29.
        let mut j = job();
        j.terms.min_submit_window = 30;
        assert_eq!(j.submit_window_for_claim_at(971).unwrap(), 30);
        assert!(j.claimable_at(971));
        assert!(is(j.check_claim_at(972), MarketError::SubmitWindowTooShort));
        assert!(is(
            j.check_claim_at(1_000),
            MarketError::SubmitWindowTooShort
        ));
        // Far from the deadline the full timeout applies.
        assert_eq!(j.submit_window_for_claim_at(0).unwrap(), 61);
    }

    #[test]
    fn a_job_claimed_u16_max_times_is_not_claimable() {
        let j = Job {
            attempts: u16::MAX,
            ..job()
        };
        assert!(!j.claimable_at(0));
        assert!(is(j.check_claim_at(0), MarketError::MathOverflow));
    }

    impl Job {
        /// Runs `f` on a copy, leaving `self` untouched.
        fn clone_at<T>(&self, f: impl FnOnce(&mut Job) -> Result<T>) -> Result<T> {
            let mut c = Job {
                spec_uri: self.spec_uri.clone(),
                result_uri: self.result_uri.clone(),
                ..*self
            };
            f(&mut c)
        }
    }
}
