//! A provider's worker claims an open job it is eligible for, locking a bond
//! from its free stake. Of two racing claims exactly one lands; the other gets
//! `JobNotOpen`. A segmented job is claimed with its `Segments` account: the claim
//! starts the job's next segment (the first, or the one a missed deadline reopened),
//! locking that segment's bond.

use anchor_lang::prelude::*;

use crate::constants::SEGMENTS_SEED;
use crate::errors::MarketError;
use crate::events::{JobClaimed, SegmentStarted};
use crate::state::{Job, JobState, Market, Provider, Segments};

#[derive(Accounts)]
pub struct JobClaim<'info> {
    pub worker: Signer<'info>,
    #[account(mut, constraint = !market.paused @ MarketError::MarketPaused)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        constraint = provider.worker == worker.key() @ MarketError::WrongWorker
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(mut, has_one = market @ MarketError::WrongMarket)]
    pub job: Box<Account<'info, Job>>,
    /// The job's segments when it is segmented (none for a single job: pass the
    /// program's address in its place).
    #[account(mut, seeds = [SEGMENTS_SEED, job.key().as_ref()], bump = segments.bump)]
    pub segments: Option<Box<Account<'info, Segments>>>,
}

/// What a claim locks: a single job's bond, or the bond of the segment it starts.
pub enum Claim {
    Job { bond: u64 },
    Segment { bond: u64 },
}

impl JobClaim<'_> {
    /// Every claim rule (hardware, price floor, the job open and on time, a free
    /// slot, the minimum stake, free stake for the bond) lives in
    /// `Provider::can_claim`, and for a segmented job in `Segments::check_start_for`,
    /// which the worker's planner asks too. Returns the bond.
    pub fn validate(&self, now: i64) -> Result<Claim> {
        let min_stake = self.market.params.min_stake;
        if self.job.state != JobState::Segmented {
            return Ok(Claim::Job {
                bond: self.provider.can_claim(&self.job, min_stake, now)?,
            });
        }
        let segments = self
            .segments
            .as_ref()
            .ok_or(MarketError::SegmentsAccountMissing)?;
        let (_, bond) = segments.check_start_for(&self.job, &self.provider, min_stake, now)?;
        Ok(Claim::Segment { bond })
    }

    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let clock = Clock::get()?;
        match ctx.accounts.validate(clock.unix_timestamp)? {
            Claim::Job { bond } => Self::claim_job(ctx.accounts, bond, &clock),
            Claim::Segment { bond } => Self::start_segment(ctx.accounts, bond, &clock),
        }
    }

    fn claim_job(a: &mut Self, bond: u64, clock: &Clock) -> Result<()> {
        let provider_key = a.provider.key();
        a.job.claim(provider_key, bond, clock.unix_timestamp)?;
        a.job
            .freeze_claim(a.provider.gpu.count, a.market.params.score_fee_scale);
        a.market.totals.on_claim()?;
        a.provider.lock_bond(bond, a.market.params.min_stake)?;
        a.provider.heartbeat(clock.unix_timestamp, clock.slot);
        a.provider.invariant()?;
        a.market.invariant()?;
        crate::emit_event!(JobClaimed {
            job: a.job.key(),
            provider: provider_key,
            bond,
            submit_deadline: a.job.submit_deadline,
            attempt: a.job.attempts,
            timestamp: clock.unix_timestamp,
        });
        Ok(())
    }

    fn start_segment(a: &mut Self, bond: u64, clock: &Clock) -> Result<()> {
        let segments = a
            .segments
            .as_mut()
            .ok_or(MarketError::SegmentsAccountMissing)?;
        start_segment_for(
            &mut a.market,
            &mut a.provider,
            &mut a.job,
            segments,
            bond,
            clock,
        )
    }
}

/// Starts the job's next segment for `provider`, whose bond the caller checked with
/// `Segments::check_start_for`: the bond is locked, the claim counted, the event
/// emitted. `job_claim` and `segment_commit` (the same provider going on) share it.
pub fn start_segment_for(
    market: &mut Account<Market>,
    provider: &mut Account<Provider>,
    job: &mut Account<Job>,
    segments: &mut Account<Segments>,
    bond: u64,
    clock: &Clock,
) -> Result<()> {
    let now = clock.unix_timestamp;
    let provider_key = provider.key();
    let started = segments.start(
        job,
        provider_key,
        bond,
        provider.gpu.count,
        market.params.score_fee_scale,
        now,
    )?;
    market.totals.on_claim()?;
    provider.lock_bond(bond, market.params.min_stake)?;
    provider.heartbeat(now, clock.slot);
    provider.invariant()?;
    segments.invariant(job)?;
    market.invariant()?;
    crate::emit_event!(SegmentStarted {
        job: job.key(),
        index: started.index,
        provider: provider_key,
        bond,
        deadline: started.deadline,
        attempt: job.attempts,
        timestamp: now,
    });
    Ok(())
}
