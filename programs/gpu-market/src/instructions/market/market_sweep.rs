//! The authority sweeps what accrued for the treasury inside the program
//! (protocol fees in the payment vault, the treasury share of slashes in the
//! stake vault) to token accounts it names. Settlement never pays a treasury
//! account directly, so closing or losing one never blocks a finalize or an
//! expiry; only the sweep needs a live destination.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::errors::MarketError;
use crate::events::MarketSwept;
use crate::state::Market;
use crate::token_ops;

#[derive(Accounts)]
pub struct MarketSweep<'info> {
    pub authority: Signer<'info>,
    #[account(mut, has_one = authority @ MarketError::Unauthorized)]
    pub market: Box<Account<'info, Market>>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.stake_vault @ MarketError::WrongVault)]
    pub stake_vault: Box<Account<'info, TokenAccount>>,
    #[account(
        mut,
        dup,
        constraint = fee_destination.mint == market.payment_mint @ MarketError::WrongMint,
        constraint = !market.is_vault(&fee_destination.key()) @ MarketError::SweepIntoVault
    )]
    pub fee_destination: Box<Account<'info, TokenAccount>>,
    #[account(
        mut,
        dup,
        constraint = slash_destination.mint == market.stake_mint @ MarketError::WrongMint,
        constraint = !market.is_vault(&slash_destination.key()) @ MarketError::SweepIntoVault
    )]
    pub slash_destination: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl MarketSweep<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let a = &mut *ctx.accounts;
        let (fees, slash) = a.market.totals.on_sweep();
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.fee_destination,
            fees,
        )?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.stake_vault,
            &a.slash_destination,
            slash,
        )?;
        a.market.invariant()?;
        crate::emit_event!(MarketSwept {
            market: a.market.key(),
            fees,
            slash,
            fee_destination: a.fee_destination.key(),
            slash_destination: a.slash_destination.key(),
            timestamp: Clock::get()?.unix_timestamp,
        });
        Ok(())
    }
}
