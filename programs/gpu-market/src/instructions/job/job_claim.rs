//! A provider's worker claims an open job it is eligible for, locking a bond
//! from its free stake. Of two racing claims exactly one lands; the other gets
//! `JobNotOpen`.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::events::JobClaimed;
use crate::state::{Job, Market, Provider};

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
}

impl JobClaim<'_> {
    /// Every claim rule (hardware, price floor, the job open and on time, a free
    /// slot, the minimum stake, free stake for the bond) lives in
    /// `Provider::can_claim`, which the worker's planner asks too. Returns the bond.
    pub fn validate(&self, now: i64) -> Result<u64> {
        self.provider
            .can_claim(&self.job, self.market.params.min_stake, now)
    }

    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let clock = Clock::get()?;
        let bond = ctx.accounts.validate(clock.unix_timestamp)?;
        let a = &mut *ctx.accounts;
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
}
