//! Starts the unstake cooldown for part of the free stake. The amount stays in
//! the vault, and slashable, until `provider_withdraw` after the cooldown.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::events::ProviderUnstakeRequested;
use crate::state::{Market, Provider};

#[derive(Accounts)]
pub struct ProviderUnstake<'info> {
    pub owner: Signer<'info>,
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = owner @ MarketError::WrongOwner,
        has_one = market @ MarketError::WrongMarket
    )]
    pub provider: Box<Account<'info, Provider>>,
}

impl ProviderUnstake<'_> {
    pub fn handle(ctx: Context<Self>, amount: u64) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        a.provider
            .request_unstake(amount, now, a.market.params.unstake_cooldown)?;
        a.provider.invariant()?;
        crate::emit_event!(ProviderUnstakeRequested {
            provider: a.provider.key(),
            amount,
            pending_after: a.provider.pending_unstake,
            release_at: a.provider.unstake_release_at,
            timestamp: now,
        });
        Ok(())
    }
}
