//! A provider leaves the referee pool (owner) once no dispute it was drawn for is open;
//! its seat weight returns to free stake.

use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::MarketError;
use crate::events::RefereeLeft;
use crate::state::{Market, Provider, RefereePool};

#[derive(Accounts)]
pub struct RefereeLeave<'info> {
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

impl RefereeLeave<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let weight = a.pool.leave(&a.provider.key())?;
        a.provider.release_referee_stake(weight)?;
        a.provider.invariant()?;
        crate::emit_event!(RefereeLeft {
            market: a.market.key(),
            provider: a.provider.key(),
            weight,
            timestamp: now,
        });
        Ok(())
    }
}
