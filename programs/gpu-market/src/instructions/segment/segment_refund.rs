//! Anyone gives a segmented job's pending segments back to its buyer once the job's
//! deadline (the last second a segment may start) has passed and no segment is running:
//! none of them can start any more, and without this their escrow would wait for the
//! buyer's `job_end`. The escrow (price plus bounty of each) goes to the buyer's recorded
//! payment account, less one crank bounty to the caller (none when the caller is the
//! buyer); the job ends, and closes if nothing is left to pay.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::SEGMENTS_SEED;
use crate::errors::MarketError;
use crate::events::SegmentsRefunded;
use crate::math;
use crate::state::{Job, Market, Segments};
use crate::token_ops;

#[derive(Accounts)]
pub struct SegmentRefund<'info> {
    pub caller: Signer<'info>,
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
    /// CHECK: only receives the accounts' rent if the job closes; `has_one = buyer` pins it.
    #[account(mut)]
    pub buyer: UncheckedAccount<'info>,
    /// CHECK: the payment-mint account the buyer recorded at posting; paid only if it
    /// can still receive.
    #[account(mut, dup, address = job.refund_account @ MarketError::WrongTokenOwner)]
    pub buyer_payment_account: UncheckedAccount<'info>,
    /// The caller's payment-mint account: the crank bounty.
    #[account(
        mut,
        dup,
        constraint = caller_payment_account.mint == market.payment_mint @ MarketError::WrongMint,
        constraint = caller_payment_account.owner == caller.key() @ MarketError::WrongTokenOwner
    )]
    pub caller_payment_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl SegmentRefund<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let buyer = a.job.buyer;
        let refund = a.segments.refund_pending(&mut a.job, now)?;
        // A buyer never earns for settling its own job.
        let bounty = if a.caller.key() == buyer {
            0
        } else {
            a.job.terms.crank_bounty.min(refund.escrow)
        };
        let to_buyer = math::sub(refund.escrow, bounty)?;
        a.market
            .totals
            .on_segments_refunded(refund.segments, refund.escrow)?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.caller_payment_account,
            bounty,
        )?;
        a.market.totals.bounties_paid = math::add(a.market.totals.bounties_paid, bounty)?;
        let refunded = if token_ops::pay_if_open(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.buyer_payment_account.to_account_info(),
            &buyer,
            to_buyer,
        )? {
            to_buyer
        } else {
            a.market.totals.accrue_forfeited_refund(to_buyer)?;
            0
        };
        a.segments.invariant(&a.job)?;
        a.market.invariant()?;
        let closed = a.segments.settled();
        if closed {
            a.segments.close(a.buyer.to_account_info())?;
            a.job.close(a.buyer.to_account_info())?;
        }
        crate::emit_event!(SegmentsRefunded {
            job: a.job.key(),
            segments_refunded: refund.segments,
            refunded,
            bounty,
            caller: a.caller.key(),
            closed,
            timestamp: now,
        });
        Ok(())
    }
}
