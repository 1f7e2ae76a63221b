//! A provider takes a seat in the referee pool (owner), locking `amount` of its free
//! stake as the seat's weight: the draw picks referees in proportion to it, and the
//! locked stake is what a referee that commits and does not reveal loses part of.

use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::MarketError;
use crate::events::RefereeJoined;
use crate::state::{Market, Provider, RefereePool};

#[derive(Accounts)]
pub struct RefereeJoin<'info> {
    pub owner: Signer<'info>,
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        has_one = owner @ MarketError::Unauthorized
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        seeds = [REFEREE_POOL_SEED, market.key().as_ref()],
        bump = pool.bump,
        has_one = market @ MarketError::WrongMarket
    )]
    pub pool: Box<Account<'info, RefereePool>>,
}

impl RefereeJoin<'_> {
    /// Only a provider in good standing referees: its stake, less what is on its way
    /// out, meets the market's minimum.
    pub fn validate(&self) -> Result<()> {
        require!(
            self.provider.active_stake() >= self.market.params.min_stake,
            MarketError::StakeBelowMinimum
        );
        Ok(())
    }

    pub fn handle(ctx: Context<Self>, amount: u64) -> Result<()> {
        ctx.accounts.validate()?;
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        a.provider.lock_referee_stake(amount)?;
        a.pool.join(a.provider.key(), a.owner.key(), amount)?;
        a.provider.invariant()?;
        crate::emit_event!(RefereeJoined {
            market: a.market.key(),
            provider: a.provider.key(),
            weight: amount,
            timestamp: now,
        });
        Ok(())
    }
}
