//! Adds stake. Allowed while the market is paused: more collateral never hurts.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::errors::MarketError;
use crate::events::ProviderStaked;
use crate::state::{Market, Provider};
use crate::token_ops;

#[derive(Accounts)]
pub struct ProviderStake<'info> {
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

impl ProviderStake<'_> {
    pub fn handle(ctx: Context<Self>, amount: u64) -> Result<()> {
        let a = &mut *ctx.accounts;
        a.provider.add_stake(amount)?;
        a.market.totals.on_stake(amount)?;
        token_ops::deposit(
            &a.token_program,
            &a.owner_stake_account,
            &a.stake_vault,
            &a.owner,
            amount,
        )?;
        a.provider.invariant()?;
        a.market.invariant()?;
        crate::emit_event!(ProviderStaked {
            provider: a.provider.key(),
            amount,
            stake_after: a.provider.stake,
            timestamp: Clock::get()?.unix_timestamp,
        });
        Ok(())
    }
}
