//! Anyone pays a committed segment once its challenge window has closed: its price
//! minus the fee to the provider that ran it (whoever runs the job now), the fee kept
//! in the payment vault for the treasury, the crank bounty to the caller, the
//! segment's bond released. Segments are paid independently of one another. When the
//! last one is paid, the job and its segments account close, rent back to the buyer.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::SEGMENTS_SEED;
use crate::errors::MarketError;
use crate::events::SegmentPaid;
use crate::state::{Job, Market, Provider, Segments};
use crate::token_ops;

#[derive(Accounts)]
#[instruction(index: u8)]
pub struct SegmentFinalize<'info> {
    pub cranker: Signer<'info>,
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
    /// CHECK: only receives the accounts' rent when the job closes; `has_one = buyer`
    /// on the job pins it.
    #[account(mut)]
    pub buyer: UncheckedAccount<'info>,
    /// The provider that ran segment `index` (an index with no segment is refused by
    /// the handler, with its own error).
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        constraint = segments.provider_of(index).is_none_or(|p| p == provider.key())
            @ MarketError::WrongProvider
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(mut, dup, address = provider.payout_account @ MarketError::WrongPayoutAccount)]
    pub payout_account: Box<Account<'info, TokenAccount>>,
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

impl SegmentFinalize<'_> {
    pub fn handle(ctx: Context<Self>, index: u8) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let paid = a.segments.finalize(&mut a.job, index, now)?;
        a.provider.record_completion(
            paid.bond,
            paid.gpu_ms,
            paid.payout,
            paid.fee,
            paid.score_fee_scale,
        )?;
        a.market.totals.on_finalize(
            paid.escrow,
            paid.gpu_ms,
            paid.payout,
            paid.fee,
            paid.bounty,
        )?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.payout_account,
            paid.payout,
        )?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.cranker_payment_account,
            paid.bounty,
        )?;
        a.provider.invariant()?;
        a.segments.invariant(&a.job)?;
        a.market.invariant()?;
        let closed = a.segments.settled();
        if closed {
            a.segments.close(a.buyer.to_account_info())?;
            a.job.close(a.buyer.to_account_info())?;
        }
        crate::emit_event!(SegmentPaid {
            job: a.job.key(),
            index,
            provider: paid.provider,
            amount: paid.payout,
            fee: paid.fee,
            bounty: paid.bounty,
            cranker: a.cranker.key(),
            closed,
            timestamp: now,
        });
        Ok(())
    }
}
