//! Pauses or resumes new business. A paused market refuses registrations,
//! posts and claims, but never traps funds: cancel, submit, finalize, expiry,
//! staking and withdrawals keep working.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::events::MarketPauseSet;
use crate::state::Market;

#[derive(Accounts)]
pub struct MarketSetPaused<'info> {
    pub authority: Signer<'info>,
    #[account(mut, has_one = authority @ MarketError::Unauthorized)]
    pub market: Box<Account<'info, Market>>,
}

impl MarketSetPaused<'_> {
    pub fn handle(ctx: Context<Self>, paused: bool) -> Result<()> {
        let market = &mut ctx.accounts.market;
        market.paused = paused;
        market.invariant()?;
        crate::emit_event!(MarketPauseSet {
            market: market.key(),
            paused,
            timestamp: Clock::get()?.unix_timestamp,
        });
        Ok(())
    }
}
