//! The `Provider`: a GPU owner's stake, hardware, worker key and reputation.
//!
//! Stake accounting: `stake` is everything the provider has in the stake vault.
//! Of it, `locked` backs claimed jobs (bonds) and `pending_unstake` waits out the
//! cooldown; both stay slashable. `free = stake - locked - pending_unstake` is
//! what new claims may lock or an unstake request may take.

use anchor_lang::prelude::*;

use crate::constants::GPU_MODEL_LEN;
use crate::errors::MarketError;
use crate::math;
use crate::state::{Job, JobRequirements};

#[account]
#[derive(InitSpace, Debug)]
pub struct Provider {
    pub market: Pubkey,
    /// Cold key: registers, stakes, withdraws, changes the worker key and payout.
    pub owner: Pubkey,
    /// Hot key the worker daemon signs claims, submissions and heartbeats with.
    pub worker: Pubkey,
    /// Payment-mint token account that receives job payouts.
    pub payout_account: Pubkey,
    /// Stake-mint units in the vault for this provider (includes locked and pending).
    pub stake: u64,
    /// Stake backing claimed jobs as bonds.
    pub locked: u64,
    /// Stake waiting out the unstake cooldown.
    pub pending_unstake: u64,
    /// Unix seconds from which `pending_unstake` may be withdrawn.
    pub unstake_release_at: i64,
    pub gpu: GpuDescriptor,
    /// Lowest job price the provider accepts, payment-mint units.
    pub price_floor: u64,
    /// Most jobs the provider runs at once.
    pub max_concurrent: u16,
    pub active_jobs: u16,
    /// Unix seconds; the start of the utilization window.
    pub registered_at: i64,
    /// Unix seconds and slot of the worker's last sign of life (heartbeat or claim).
    pub last_heartbeat: i64,
    pub last_heartbeat_slot: u64,
    pub reputation: Reputation,
    pub bump: u8,
    /// Stake locked as its seat weight in the referee pool (`referee_join`); stays
    /// slashable (a referee that commits and does not reveal loses part of it).
    pub referee_stake: u64,
}

/// What the provider says its hardware is. Self-reported; buyers rely on
/// results being checkable, not on this.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq, Default,
)]
pub struct GpuDescriptor {
    /// Zero-padded UTF-8, e.g. "NVIDIA H100 80GB HBM3".
    pub model: [u8; GPU_MODEL_LEN],
    /// Memory per GPU, MiB.
    pub vram_mb: u32,
    pub count: u16,
    /// major * 10 + minor (9.0 -> 90); 0 for CPU-only providers.
    pub compute_capability: u16,
    /// Measured GEMM throughput of one device, GFLOP/s.
    pub benchmark_gflops: u32,
}

impl GpuDescriptor {
    pub fn validate(&self) -> Result<()> {
        require!(
            self.count > 0 && self.vram_mb > 0,
            MarketError::InvalidGpuDescriptor
        );
        Ok(())
    }

    pub fn meets(&self, req: &JobRequirements) -> bool {
        self.vram_mb >= req.min_vram_mb
            && self.compute_capability >= req.min_compute_capability
            && self.count >= req.min_gpu_count
    }

    /// The model as text (lossy on invalid UTF-8, trailing zeros dropped).
    pub fn model_name(&self) -> String {
        let end = self
            .model
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(GPU_MODEL_LEN);
        String::from_utf8_lossy(&self.model[..end]).into_owned()
    }

    /// Pads or truncates (at a char boundary) a name into the fixed field.
    pub fn model_from_str(name: &str) -> [u8; GPU_MODEL_LEN] {
        let mut out = [0u8; GPU_MODEL_LEN];
        let mut end = name.len().min(GPU_MODEL_LEN);
        while !name.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        out[..end].copy_from_slice(&name.as_bytes()[..end]);
        out
    }
}

/// Counters from which the score is derived (see `math::reputation_score`).
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, Default, PartialEq, Eq,
)]
pub struct Reputation {
    pub completed: u64,
    pub expired: u64,
    pub disputes_lost: u64,
    /// Metered GPU time of completed jobs, milliseconds.
    pub gpu_ms: u64,
    /// Payouts received, payment-mint units.
    pub earnings: u64,
    /// Protocol fees the provider's completed jobs paid.
    pub fees_paid: u64,
    /// Stake-mint units slashed.
    pub slashed: u64,
    /// Derived: 0..=10_000.
    pub score: u32,
    /// Protocol fees the provider's expired claims would have paid (each job's
    /// fee at its frozen rate): what its expiries weigh in reliability.
    pub forfeited_fees: u64,
    /// The same for lost disputes (kept for the dispute instructions).
    pub disputed_fees: u64,
}

impl Reputation {
    fn rescore(&mut self, score_fee_scale: u64) {
        self.score = math::reputation_score(
            self.fees_paid,
            self.forfeited_fees,
            self.disputed_fees,
            score_fee_scale,
        );
    }
}

impl Provider {
    /// The stake rule `provider_register` applies, in its order: at least the
    /// market's minimum (a provider that could not lock a single bond has no
    /// business here), and not zero. The handler calls this, and so does the
    /// CLI before it sends a registration the program would refuse.
    pub fn check_register_stake(
        stake: u64,
        min_stake: u64,
    ) -> core::result::Result<(), MarketError> {
        if stake < min_stake {
            return Err(MarketError::StakeBelowMinimum);
        }
        if stake == 0 {
            return Err(MarketError::AmountZero);
        }
        Ok(())
    }

    pub fn free_stake(&self) -> u64 {
        self.stake
            .saturating_sub(self.locked)
            .saturating_sub(self.pending_unstake)
            .saturating_sub(self.referee_stake)
    }

    /// Locks `amount` of free stake as referee seat weight.
    pub fn lock_referee_stake(&mut self, amount: u64) -> Result<()> {
        require!(amount > 0, MarketError::AmountZero);
        require!(
            amount <= self.free_stake(),
            MarketError::InsufficientFreeStake
        );
        self.referee_stake = math::add(self.referee_stake, amount)?;
        Ok(())
    }

    /// Unlocks the seat weight when the provider leaves the pool.
    pub fn release_referee_stake(&mut self, amount: u64) -> Result<()> {
        self.referee_stake = math::sub(self.referee_stake, amount)?;
        Ok(())
    }

    /// A referee that committed and did not reveal: `penalty` leaves its seat weight and
    /// its stake for good.
    pub fn slash_referee_stake(&mut self, penalty: u64) -> Result<()> {
        self.referee_stake = math::sub(self.referee_stake, penalty)?;
        self.stake = math::sub(self.stake, penalty)?;
        let r = &mut self.reputation;
        r.slashed = math::add(r.slashed, penalty)?;
        Ok(())
    }

    /// A referee's share of a slash: credited to its stake (the tokens never leave the
    /// stake vault), free at once.
    pub fn credit_referee_reward(&mut self, amount: u64) -> Result<()> {
        self.stake = math::add(self.stake, amount)?;
        Ok(())
    }

    /// Stake that counts toward the minimum: not on its way out.
    pub fn active_stake(&self) -> u64 {
        self.stake.saturating_sub(self.pending_unstake)
    }

    pub fn add_stake(&mut self, amount: u64) -> Result<()> {
        require!(amount > 0, MarketError::AmountZero);
        self.stake = math::add(self.stake, amount)?;
        Ok(())
    }

    /// Moves `amount` of free stake into the cooldown. A new request restarts
    /// the cooldown for everything pending: the latest request sets the clock.
    pub fn request_unstake(&mut self, amount: u64, now: i64, cooldown: i64) -> Result<()> {
        require!(amount > 0, MarketError::AmountZero);
        require!(
            amount <= self.free_stake(),
            MarketError::InsufficientFreeStake
        );
        self.pending_unstake = math::add(self.pending_unstake, amount)?;
        self.unstake_release_at = math::add_i64(now, cooldown)?;
        Ok(())
    }

    /// Releases the pending unstake once its cooldown is over; returns the
    /// amount to transfer out. Bonds locked in other jobs do not block it: the
    /// pending amount was free stake when requested and is never locked, and
    /// `locked + pending_unstake <= stake` keeps every bond backed after it leaves.
    pub fn withdraw(&mut self, now: i64) -> Result<u64> {
        require!(self.pending_unstake > 0, MarketError::NothingToWithdraw);
        require!(
            now >= self.unstake_release_at,
            MarketError::UnstakeCooldownActive
        );
        let amount = self.pending_unstake;
        self.stake = math::sub(self.stake, amount)?;
        self.pending_unstake = 0;
        Ok(amount)
    }

    /// Every rule `job_claim` checks, in the order it checks them, and the
    /// bond the claim would lock. The claim handler calls this, and so does the
    /// worker's planner, so that a worker never risks a transaction the
    /// program would refuse. The market's pause switch is the one claim rule
    /// outside it: it is an account constraint, shared with posting and
    /// registering.
    pub fn can_claim(&self, job: &Job, min_stake: u64, now: i64) -> Result<u64> {
        // The job says what hardware it needs; the provider's descriptor must cover it.
        require!(
            self.gpu.meets(&job.requirements),
            MarketError::RequirementsNotMet
        );
        // Providers set their own floor; a claim below it is a misconfigured worker.
        require!(job.price >= self.price_floor, MarketError::PriceBelowFloor);
        let bond = job.bond_for_claim()?;
        job.check_claim_at(now)?;
        self.check_lock_bond(bond, min_stake)?;
        Ok(bond)
    }

    /// The provider's own limits on a new claim: a free slot, the minimum
    /// stake, and free stake for the bond.
    pub fn check_lock_bond(&self, bond: u64, min_stake: u64) -> Result<()> {
        require!(
            self.active_jobs < self.max_concurrent,
            MarketError::ConcurrencyLimitReached
        );
        require!(
            self.active_stake() >= min_stake,
            MarketError::StakeBelowMinimum
        );
        require!(
            self.free_stake() >= bond,
            MarketError::InsufficientFreeStake
        );
        Ok(())
    }

    /// Checks a claim against the provider's own limits and locks its bond.
    pub fn lock_bond(&mut self, bond: u64, min_stake: u64) -> Result<()> {
        self.check_lock_bond(bond, min_stake)?;
        self.locked = math::add(self.locked, bond)?;
        self.active_jobs = self
            .active_jobs
            .checked_add(1)
            .ok_or(MarketError::MathOverflow)?;
        Ok(())
    }

    /// What holds of every provider account after every instruction; each
    /// handler that changes a provider checks it last, so a bug in a transition
    /// fails the transaction instead of corrupting the stake books.
    ///
    /// - Locked bonds, the pending unstake and the referee seat weight are parts of the
    ///   stake: `locked + pending_unstake + referee_stake <= stake` (so `free_stake`
    ///   never saturates).
    /// - Bonds are locked by active jobs only, and every active job locks a
    ///   positive bond (market parameters forbid a zero bond rule and prices are
    ///   positive): `active_jobs <= locked`, and `locked == 0` when no job is active.
    ///
    /// `active_jobs <= max_concurrent` is not among them: an owner may lower the
    /// limit while jobs run; it only stops new claims.
    pub fn invariant(&self) -> Result<()> {
        let committed = (self.locked as u128)
            .saturating_add(self.pending_unstake as u128)
            .saturating_add(self.referee_stake as u128);
        require!(
            committed <= self.stake as u128,
            MarketError::ProviderStakeInvariant
        );
        require!(
            self.active_jobs as u64 <= self.locked && (self.active_jobs > 0 || self.locked == 0),
            MarketError::ProviderJobsInvariant
        );
        Ok(())
    }

    fn end_job(&mut self, bond: u64) -> Result<()> {
        self.locked = math::sub(self.locked, bond)?;
        self.active_jobs = self
            .active_jobs
            .checked_sub(1)
            .ok_or(MarketError::MathOverflow)?;
        Ok(())
    }

    /// A segment undone, not by its provider's fault: it resumed from a checkpoint the
    /// referees then proved wrong. Its bond is free again and its slot too; nothing is
    /// counted for or against the provider (the claim is undone in the market's books).
    pub fn release_undone_segment(&mut self, bond: u64) -> Result<()> {
        self.end_job(bond)
    }

    /// A finalized job: bond back to free stake, counters and score updated.
    pub fn record_completion(
        &mut self,
        bond: u64,
        gpu_ms: u64,
        payout: u64,
        fee: u64,
        score_fee_scale: u64,
    ) -> Result<()> {
        self.end_job(bond)?;
        let r = &mut self.reputation;
        r.completed = math::add(r.completed, 1)?;
        r.gpu_ms = math::add(r.gpu_ms, gpu_ms)?;
        r.earnings = math::add(r.earnings, payout)?;
        r.fees_paid = math::add(r.fees_paid, fee)?;
        r.rescore(score_fee_scale);
        Ok(())
    }

    /// A missed submit deadline: the bond leaves the provider's stake for good,
    /// and the job's fee (`forfeited_fee`) weighs against its reliability.
    pub fn record_expiry(
        &mut self,
        bond: u64,
        forfeited_fee: u64,
        score_fee_scale: u64,
    ) -> Result<()> {
        self.end_job(bond)?;
        self.stake = math::sub(self.stake, bond)?;
        let r = &mut self.reputation;
        r.expired = math::add(r.expired, 1)?;
        r.slashed = math::add(r.slashed, bond)?;
        r.forfeited_fees = math::add(r.forfeited_fees, forfeited_fee)?;
        r.rescore(score_fee_scale);
        Ok(())
    }

    /// A challenge of one of this provider's results: the second half of what a lost
    /// dispute slashes, `min(bond, free stake)`, is locked beside the job's bond, so the
    /// slash is there to take however the provider moves its stake meanwhile. Returns it.
    pub fn lock_dispute_stake(&mut self, job_bond: u64) -> Result<u64> {
        let extra = job_bond.min(self.free_stake());
        self.locked = math::add(self.locked, extra)?;
        Ok(extra)
    }

    /// A dispute the provider won: the extra stake is free again (the job's bond stays
    /// locked until the job is finalized).
    pub fn release_dispute_stake(&mut self, extra: u64) -> Result<()> {
        self.locked = math::sub(self.locked, extra)?;
        Ok(())
    }

    /// A dispute the provider lost: the job's bond and the extra stake leave its stake
    /// for good; the job ends. Returns the amount slashed.
    /// `disputed_fee` is the fee the job would have paid: what the lost dispute weighs in
    /// the value-weighted reliability.
    pub fn record_dispute_lost(
        &mut self,
        bond: u64,
        extra: u64,
        disputed_fee: u64,
        score_fee_scale: u64,
    ) -> Result<u64> {
        self.end_job(bond)?;
        self.release_dispute_stake(extra)?;
        let slashed = math::add(bond, extra)?;
        self.stake = math::sub(self.stake, slashed)?;
        let r = &mut self.reputation;
        r.disputes_lost = math::add(r.disputes_lost, 1)?;
        r.disputed_fees = math::add(r.disputed_fees, disputed_fee)?;
        r.slashed = math::add(r.slashed, slashed)?;
        r.rescore(score_fee_scale);
        Ok(slashed)
    }

    pub fn heartbeat(&mut self, now: i64, slot: u64) {
        self.last_heartbeat = now;
        self.last_heartbeat_slot = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Provider {
        Provider {
            market: Pubkey::new_unique(),
            owner: Pubkey::new_unique(),
            worker: Pubkey::new_unique(),
            payout_account: Pubkey::new_unique(),
            stake: 1_000,
            locked: 0,
            pending_unstake: 0,
            unstake_release_at: 0,
            gpu: GpuDescriptor {
                model: GpuDescriptor::model_from_str("NVIDIA H100"),
                vram_mb: 81_920,
                count: 8,
                compute_capability: 90,
                benchmark_gflops: 0,
            },
            price_floor: 0,
            max_concurrent: 2,
            active_jobs: 0,
            registered_at: 0,
            last_heartbeat: 0,
            last_heartbeat_slot: 0,
            reputation: Reputation::default(),
            bump: 255,
            referee_stake: 0,
        }
    }

    fn is(r: Result<impl std::fmt::Debug>, e: MarketError) -> bool {
        match r {
            Err(Error::AnchorError(a)) => {
                a.error_code_number == anchor_lang::error::ERROR_CODE_OFFSET + e as u32
            }
            _ => false,
        }
    }

    #[test]
    fn register_stake_is_refused_below_the_minimum_and_at_zero() {
        let min = 1_000;
        assert_eq!(
            Provider::check_register_stake(min - 1, min),
            Err(MarketError::StakeBelowMinimum)
        );
        assert_eq!(Provider::check_register_stake(min, min), Ok(()));
        assert_eq!(Provider::check_register_stake(min + 1, min), Ok(()));
        // The minimum is checked first: a zero stake in a market that asks for
        // one names the minimum.
        assert_eq!(
            Provider::check_register_stake(0, min),
            Err(MarketError::StakeBelowMinimum)
        );
        assert_eq!(
            Provider::check_register_stake(0, 0),
            Err(MarketError::AmountZero)
        );
        assert_eq!(Provider::check_register_stake(1, 0), Ok(()));
    }

    #[test]
    fn bonds_come_from_free_stake_only() {
        let mut p = provider();
        p.lock_bond(600, 1_000).unwrap();
        assert_eq!(p.free_stake(), 400);
        assert!(is(p.lock_bond(401, 0), MarketError::InsufficientFreeStake));
        assert!(is(
            p.request_unstake(401, 0, 10),
            MarketError::InsufficientFreeStake
        ));
        p.request_unstake(400, 0, 10).unwrap();
        // Pending unstake no longer counts toward the minimum.
        assert!(is(p.lock_bond(0, 1_000), MarketError::StakeBelowMinimum));
    }

    #[test]
    fn concurrency_limit() {
        let mut p = provider();
        p.lock_bond(1, 0).unwrap();
        p.lock_bond(1, 0).unwrap();
        assert!(is(p.lock_bond(1, 0), MarketError::ConcurrencyLimitReached));
        p.record_completion(1, 10, 10, 1, 1_000).unwrap();
        p.lock_bond(1, 0).unwrap();
    }

    #[test]
    fn withdraw_waits_for_the_cooldown_not_for_other_bonds() {
        let mut p = provider();
        assert!(is(p.withdraw(0), MarketError::NothingToWithdraw));
        p.lock_bond(100, 0).unwrap();
        p.request_unstake(500, 1_000, 60).unwrap();
        assert!(is(p.withdraw(1_059), MarketError::UnstakeCooldownActive));
        // A bond locked elsewhere stays backed: 500 staked, 100 locked.
        assert_eq!(p.withdraw(1_060).unwrap(), 500);
        assert_eq!((p.stake, p.locked, p.pending_unstake), (500, 100, 0));
        p.invariant().unwrap();
        p.record_expiry(100, 10, 1_000).unwrap();
        assert_eq!(p.stake, 400);
    }

    #[test]
    fn expiry_slashes_the_bond_and_the_score() {
        let mut p = provider();
        p.lock_bond(200, 0).unwrap();
        p.record_completion(200, 5_000, 970, 30, 1_000).unwrap();
        let good = p.reputation.score;
        assert!(good > 0);
        p.lock_bond(200, 0).unwrap();
        p.record_expiry(200, 30, 1_000).unwrap();
        assert_eq!((p.stake, p.locked, p.active_jobs), (800, 0, 0));
        assert_eq!(p.reputation.slashed, 200);
        assert!(p.reputation.score < good);
        assert_eq!(p.reputation.score, math::reputation_score(30, 30, 0, 1_000));
    }

    #[test]
    fn counters_never_wrap() {
        let mut p = provider();
        p.stake = u64::MAX;
        assert!(is(p.add_stake(1), MarketError::MathOverflow));
        assert!(is(p.add_stake(0), MarketError::AmountZero));
        assert!(is(
            p.record_completion(1, 0, 0, 0, 1),
            MarketError::MathOverflow
        ));
    }

    #[test]
    fn can_claim_names_the_first_rule_broken() {
        // Job::fixture: price 1_000, bond 500, deadline 1_000, no requirements.
        let p = provider();
        let job = Job::fixture();
        assert_eq!(p.can_claim(&job, 1_000, 1_000).unwrap(), 500);
        assert!(is(
            p.can_claim(&job, 1_000, 1_001),
            MarketError::JobDeadlinePassed
        ));
        let claimed = Job {
            state: crate::state::JobState::Claimed,
            ..Job::fixture()
        };
        assert!(is(p.can_claim(&claimed, 0, 0), MarketError::JobNotOpen));
        let big = Job {
            requirements: JobRequirements {
                min_vram_mb: 81_921,
                ..Default::default()
            },
            ..Job::fixture()
        };
        assert!(is(p.can_claim(&big, 0, 0), MarketError::RequirementsNotMet));
        let picky = Provider {
            price_floor: 1_001,
            ..provider()
        };
        assert!(is(
            picky.can_claim(&job, 0, 0),
            MarketError::PriceBelowFloor
        ));
        assert!(is(
            p.can_claim(&job, 1_001, 0),
            MarketError::StakeBelowMinimum
        ));
        let poor = Provider {
            locked: 501,
            active_jobs: 1,
            ..provider()
        };
        assert!(is(
            poor.can_claim(&job, 0, 0),
            MarketError::InsufficientFreeStake
        ));
        let busy = Provider {
            active_jobs: 2,
            locked: 2,
            ..provider()
        };
        assert!(is(
            busy.can_claim(&job, 0, 0),
            MarketError::ConcurrencyLimitReached
        ));
        // What can_claim accepts, the transitions accept, with the same bond.
        let mut p = provider();
        let mut j = Job::fixture();
        let bond = p.can_claim(&j, 1_000, 10).unwrap();
        j.claim(Pubkey::new_unique(), bond, 10).unwrap();
        p.lock_bond(bond, 1_000).unwrap();
        assert_eq!((p.locked, j.bond), (500, 500));
    }

    #[test]
    fn invariant_holds_through_every_transition() {
        fn step(p: &mut Provider, f: impl FnOnce(&mut Provider) -> Result<()>) {
            f(p).unwrap();
            p.invariant().unwrap();
        }
        let mut p = provider();
        p.invariant().unwrap();
        step(&mut p, |p| p.lock_bond(300, 1_000));
        step(&mut p, |p| p.lock_bond(200, 1_000));
        step(&mut p, |p| p.request_unstake(500, 0, 10));
        step(&mut p, |p| p.record_completion(300, 1, 1, 1, 1_000));
        step(&mut p, |p| p.record_expiry(200, 1, 1_000));
        step(&mut p, |p| p.add_stake(50));
        step(&mut p, |p| p.withdraw(10).map(|_| ()));
        assert_eq!(
            (p.stake, p.locked, p.pending_unstake, p.active_jobs),
            (350, 0, 0, 0)
        );
    }

    #[test]
    fn invariant_names_each_broken_rule() {
        let over = Provider {
            locked: 600,
            pending_unstake: 401,
            active_jobs: 1,
            ..provider()
        };
        assert!(is(over.invariant(), MarketError::ProviderStakeInvariant));
        // At the edge: everything committed, nothing free.
        Provider {
            pending_unstake: 400,
            ..over
        }
        .invariant()
        .unwrap();
        let huge = Provider {
            stake: u64::MAX,
            locked: u64::MAX,
            pending_unstake: 1,
            active_jobs: 1,
            ..provider()
        };
        assert!(is(huge.invariant(), MarketError::ProviderStakeInvariant));
        let orphan_bond = Provider {
            locked: 1,
            active_jobs: 0,
            ..provider()
        };
        assert!(is(
            orphan_bond.invariant(),
            MarketError::ProviderJobsInvariant
        ));
        let unbonded_job = Provider {
            locked: 1,
            active_jobs: 2,
            ..provider()
        };
        assert!(is(
            unbonded_job.invariant(),
            MarketError::ProviderJobsInvariant
        ));
        // A lowered concurrency limit under running jobs is allowed.
        Provider {
            locked: 3,
            active_jobs: 3,
            max_concurrent: 1,
            ..provider()
        }
        .invariant()
        .unwrap();
    }

    #[test]
    fn requirements_and_model_name() {
        let p = provider();
        let req = |v, c, n| JobRequirements {
            min_vram_mb: v,
            min_compute_capability: c,
            min_gpu_count: n,
        };
        assert!(p.gpu.meets(&req(81_920, 90, 8)));
        assert!(!p.gpu.meets(&req(81_921, 0, 0)));
        assert!(!p.gpu.meets(&req(0, 91, 0)));
        assert!(!p.gpu.meets(&req(0, 0, 9)));
        assert_eq!(p.gpu.model_name(), "NVIDIA H100");
        let long = "é".repeat(40);
        let m = GpuDescriptor::model_from_str(&long);
        assert!(std::str::from_utf8(&m[..32]).is_ok());
    }
}
