//! The buyer ends a segmented job: the running segment (if any) may still commit and be
//! paid, and no segment starts after it; every segment not started is refunded at once,
//! exactly its price plus its crank bounty, to the buyer's recorded payment account
//! (accrued to the treasury instead if that account can no longer receive, as
//! `job_expire` does). With nothing left to pay, the job and its segments account close.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::SEGMENTS_SEED;
use crate::errors::MarketError;
use crate::events::JobEnded;
use crate::state::{Job, Market, Segments};
use crate::token_ops;

#[derive(Accounts)]
pub struct JobEnd<'info> {
    #[account(mut)]
    pub buyer: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        has_one = buyer @ MarketError::WrongBuyer
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, seeds = [SEGMENTS_SEED, job.key().as_ref()], bump = segments.bump)]
    pub segments: Box<Account<'info, Segments>>,
    /// CHECK: the payment-mint account the buyer recorded at posting; paid only if it
    /// can still receive.
    #[account(mut, address = job.refund_account @ MarketError::WrongTokenOwner)]
    pub buyer_payment_account: UncheckedAccount<'info>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl JobEnd<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let buyer = a.buyer.key();
        let refund = a.segments.end(&mut a.job)?;
        let mut refunded = 0;
        if refund.segments > 0 {
            a.market
                .totals
                .on_segments_refunded(refund.segments, refund.escrow)?;
            if token_ops::pay_if_open(
                &a.token_program,
                &a.market,
                &a.payment_vault,
                &a.buyer_payment_account.to_account_info(),
                &buyer,
                refund.escrow,
            )? {
                refunded = refund.escrow;
            } else {
                a.market.totals.accrue_forfeited_refund(refund.escrow)?;
            }
        }
        a.segments.invariant(&a.job)?;
        a.market.invariant()?;
        let closed = a.segments.settled();
        if closed {
            a.segments.close(a.buyer.to_account_info())?;
            a.job.close(a.buyer.to_account_info())?;
        }
        crate::emit_event!(JobEnded {
            job: a.job.key(),
            segments_refunded: refund.segments,
            refunded,
            closed,
            timestamp: now,
        });
        Ok(())
    }
}
