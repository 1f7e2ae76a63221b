//! The buyer adds segments to a live segmented job and deposits their escrow (each
//! added segment's price plus the crank bounty the job was posted under: the amount is
//! fixed by the job's frozen terms, so no market change can raise it). The added
//! segments start after the job's current ones, from the last checkpoint, under the
//! job's deadline.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::SEGMENTS_SEED;
use crate::errors::MarketError;
use crate::events::JobExtended;
use crate::state::{Job, Market, SegmentTerms, Segments};
use crate::token_ops;

#[derive(Accounts)]
pub struct JobExtend<'info> {
    pub buyer: Signer<'info>,
    #[account(mut, constraint = !market.paused @ MarketError::MarketPaused)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        has_one = buyer @ MarketError::WrongBuyer
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, seeds = [SEGMENTS_SEED, job.key().as_ref()], bump = segments.bump)]
    pub segments: Box<Account<'info, Segments>>,
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

impl JobExtend<'_> {
    pub fn handle(ctx: Context<Self>, segments: Vec<SegmentTerms>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let (price, escrow) = a.segments.extend(&mut a.job, &segments, now)?;
        token_ops::deposit(
            &a.token_program,
            &a.buyer_payment_account,
            &a.payment_vault,
            &a.buyer,
            escrow,
        )?;
        let added = u8::try_from(segments.len()).map_err(|_| MarketError::TooManySegments)?;
        a.market.totals.on_post_segments(added, escrow)?;
        a.segments.invariant(&a.job)?;
        a.market.invariant()?;
        crate::emit_event!(JobExtended {
            job: a.job.key(),
            added,
            count: a.segments.count,
            price_added: price,
            escrow_added: escrow,
            timestamp: now,
        });
        Ok(())
    }
}
