//! Anyone applies a queued parameter update once its delay is over, so that
//! the authority cannot hold a due update back and choose when it lands.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::state::Market;

#[derive(Accounts)]
pub struct MarketApplyUpdate<'info> {
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
}

impl MarketApplyUpdate<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let market = &mut ctx.accounts.market;
        let pending = market.pending_update.ok_or(MarketError::NoPendingUpdate)?;
        require!(now >= pending.effective_at, MarketError::UpdateNotDue);
        // Bounds are checked again: they may have tightened in an upgrade.
        pending.params.validate()?;
        market.pending_update = None;
        super::market_update::apply(market, pending.params, now)
    }
}
