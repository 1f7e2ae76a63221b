//! Anyone settles an unclaimed job whose deadline passed: the caller earns the
//! crank bounty the buyer deposited, the buyer gets the price back to the
//! payment account it recorded at posting (accrued to the treasury if the buyer
//! closed it: nothing the buyer does blocks the settlement), and the account is
//! closed with its rent back to the buyer.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::errors::MarketError;
use crate::events::JobRefunded;
use crate::math;
use crate::state::{Job, Market};
use crate::token_ops;

#[derive(Accounts)]
pub struct JobExpireUnclaimed<'info> {
    pub cranker: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        has_one = buyer @ MarketError::WrongBuyer,
        close = buyer
    )]
    pub job: Box<Account<'info, Job>>,
    /// CHECK: only receives the job account's rent; `has_one = buyer` pins it.
    #[account(mut)]
    pub buyer: UncheckedAccount<'info>,
    /// CHECK: the payment-mint account the buyer recorded at posting; paid only
    /// if it can still receive (`token_ops::can_receive`).
    #[account(mut, dup, address = job.refund_account @ MarketError::WrongTokenOwner)]
    pub buyer_payment_account: UncheckedAccount<'info>,
    #[account(
        mut,
        dup,
        constraint = cranker_payment_account.mint == market.payment_mint @ MarketError::WrongMint,
        constraint = cranker_payment_account.owner == cranker.key() @ MarketError::WrongTokenOwner
    )]
    pub cranker_payment_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl JobExpireUnclaimed<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        a.job.lapse(now)?;
        let escrow = a.job.escrow;
        let bounty = a.job.terms.crank_bounty;
        let refund = math::sub(escrow, bounty)?;
        a.market.totals.release_escrow(escrow)?;
        a.market.totals.jobs_refunded = math::add(a.market.totals.jobs_refunded, 1)?;
        a.market.totals.bounties_paid = math::add(a.market.totals.bounties_paid, bounty)?;
        let buyer = a.job.buyer;
        let refunded = token_ops::pay_if_open(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.buyer_payment_account.to_account_info(),
            &buyer,
            refund,
        )?;
        if !refunded {
            a.market.totals.accrue_forfeited_refund(refund)?;
        }
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.cranker_payment_account,
            bounty,
        )?;
        a.market.invariant()?;
        crate::emit_event!(JobRefunded {
            job: a.job.key(),
            buyer: a.buyer.key(),
            refunded: if refunded { refund } else { 0 },
            bounty,
            cranker: a.cranker.key(),
            timestamp: now,
        });
        Ok(())
    }
}
