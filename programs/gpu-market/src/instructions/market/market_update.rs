//! Changes a market's parameters within the bounds every market keeps. Jobs
//! already posted keep the terms they were posted under. A change that hurts
//! participants relying on what is read live (`MarketParams::needs_delay`:
//! raising the minimum stake, the unstake cooldown or the score scale) is
//! queued and applies only after `MarketParams::update_delay`, by anyone, with
//! `market_apply_update`; anything else applies at once. A new update replaces
//! a queued one.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::events::{MarketUpdateQueued, MarketUpdated};
use crate::math;
use crate::state::{Market, MarketParams, PendingUpdate};

#[derive(Accounts)]
pub struct MarketUpdate<'info> {
    pub authority: Signer<'info>,
    #[account(mut, has_one = authority @ MarketError::Unauthorized)]
    pub market: Box<Account<'info, Market>>,
}

impl MarketUpdate<'_> {
    pub fn handle(ctx: Context<Self>, params: MarketParams) -> Result<()> {
        params.validate()?;
        let now = Clock::get()?.unix_timestamp;
        let market = &mut ctx.accounts.market;
        if market.params.needs_delay(&params) {
            let effective_at = math::add_i64(now, market.params.update_delay()?)?;
            market.pending_update = Some(PendingUpdate {
                params,
                effective_at,
            });
            market.invariant()?;
            crate::emit_event!(MarketUpdateQueued {
                market: market.key(),
                params,
                effective_at,
                timestamp: now,
            });
            return Ok(());
        }
        market.pending_update = None;
        apply(market, params, now)
    }
}

/// Replaces the live parameters and says so.
pub fn apply(market: &mut Account<Market>, params: MarketParams, now: i64) -> Result<()> {
    let old_params = market.params;
    market.params = params;
    market.invariant()?;
    crate::emit_event!(MarketUpdated {
        market: market.key(),
        old_params,
        new_params: params,
        timestamp: now,
    });
    Ok(())
}
