//! The buyer takes back an unclaimed job: full escrow refunded, account closed,
//! rent returned.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::errors::MarketError;
use crate::events::JobCancelled;
use crate::state::{Job, Market};
use crate::token_ops;

#[derive(Accounts)]
pub struct JobCancel<'info> {
    #[account(mut)]
    pub buyer: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        has_one = buyer @ MarketError::WrongBuyer,
        close = buyer
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        constraint = buyer_payment_account.mint == market.payment_mint @ MarketError::WrongMint,
        constraint = buyer_payment_account.owner == buyer.key() @ MarketError::WrongTokenOwner
    )]
    pub buyer_payment_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl JobCancel<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let a = &mut *ctx.accounts;
        a.job.cancel()?;
        let escrow = a.job.escrow;
        a.market.totals.release_escrow(escrow)?;
        a.market.totals.jobs_cancelled = crate::math::add(a.market.totals.jobs_cancelled, 1)?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.buyer_payment_account,
            escrow,
        )?;
        a.market.invariant()?;
        crate::emit_event!(JobCancelled {
            job: a.job.key(),
            buyer: a.buyer.key(),
            refunded: escrow,
            timestamp: Clock::get()?.unix_timestamp,
        });
        Ok(())
    }
}
