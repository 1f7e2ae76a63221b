//! Pays out the pending unstake once the cooldown is over. Bonds locked in
//! running jobs stay in the stake and do not block it.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::errors::MarketError;
use crate::events::ProviderWithdrew;
use crate::state::{Market, Provider};
use crate::token_ops;

#[derive(Accounts)]
pub struct ProviderWithdraw<'info> {
    pub owner: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = owner @ MarketError::WrongOwner,
        has_one = market @ MarketError::WrongMarket
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        constraint = owner_stake_account.mint == market.stake_mint @ MarketError::WrongMint,
        constraint = owner_stake_account.owner == owner.key() @ MarketError::WrongTokenOwner
    )]
    pub owner_stake_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.stake_vault @ MarketError::WrongVault)]
    pub stake_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl ProviderWithdraw<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let amount = a.provider.withdraw(now)?;
        a.market.totals.on_unstake(amount)?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.stake_vault,
            &a.owner_stake_account,
            amount,
        )?;
        a.provider.invariant()?;
        a.market.invariant()?;
        crate::emit_event!(ProviderWithdrew {
            provider: a.provider.key(),
            amount,
            stake_after: a.provider.stake,
            timestamp: now,
        });
        Ok(())
    }
}
