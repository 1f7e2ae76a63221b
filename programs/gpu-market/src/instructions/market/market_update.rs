//! Changes a market's parameters within the bounds every market keeps. Jobs
//! already posted keep the terms they were posted under.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::events::MarketUpdated;
use crate::state::{Market, MarketParams};

#[derive(Accounts)]
pub struct MarketUpdate<'info> {
    pub authority: Signer<'info>,
    #[account(mut, has_one = authority @ MarketError::Unauthorized)]
    pub market: Box<Account<'info, Market>>,
}

impl MarketUpdate<'_> {
    pub fn handle(ctx: Context<Self>, params: MarketParams) -> Result<()> {
        params.validate()?;
        let market = &mut ctx.accounts.market;
        let old_params = market.params;
        market.params = params;
        market.invariant()?;
        crate::emit_event!(MarketUpdated {
            market: market.key(),
            old_params,
            new_params: params,
            timestamp: Clock::get()?.unix_timestamp,
        });
        Ok(())
    }
}
