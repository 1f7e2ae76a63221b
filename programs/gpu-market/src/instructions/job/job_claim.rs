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
    #[account(constraint = !market.paused @ MarketError::MarketPaused)]
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
    pub fn validate(&self) -> Result<()> {
        // The job says what hardware it needs; the provider's descriptor must cover it.
        require!(
            self.provider.gpu.meets(&self.job.requirements),
            MarketError::RequirementsNotMet
        );
        // Providers set their own floor; a claim below it is a misconfigured worker.
        require!(
            self.job.price >= self.provider.price_floor,
            MarketError::PriceBelowFloor
        );
        Ok(())
    }

    pub fn handle(ctx: Context<Self>) -> Result<()> {
        ctx.accounts.validate()?;
        let clock = Clock::get()?;
        let a = &mut *ctx.accounts;
        let bond = a.job.bond_for_claim()?;
        let provider_key = a.provider.key();
        a.job.claim(provider_key, bond, clock.unix_timestamp)?;
        a.provider.lock_bond(bond, a.market.params.min_stake)?;
        a.provider.heartbeat(clock.unix_timestamp, clock.slot);
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
