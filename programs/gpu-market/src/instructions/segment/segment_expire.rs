//! Anyone expires a running segment whose deadline passed. That segment's bond alone is
//! slashed, by the job's frozen split as `job_expire` slashes a job's (the buyer's share
//! to its recorded stake-mint account, the reporter's to the caller unless the caller is
//! the buyer, the rest to the treasury); segments committed before it keep their bonds
//! and stay payable. The job reopens at its last committed checkpoint for any
//! provider's claim, unless the buyer ended it or its deadline (the last second a
//! segment may start) passed: then the missed segment and those after it are refunded
//! to the buyer's recorded payment account, and the job closes if nothing is left to pay.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::SEGMENTS_SEED;
use crate::errors::MarketError;
use crate::events::SegmentExpired;
use crate::instructions::job::missed_deadline::{
    slash_missed_deadline, MissedDeadline, SlashAccounts,
};
use crate::state::{Job, Market, Provider, Segments};
use crate::token_ops;

#[derive(Accounts)]
#[instruction(index: u8)]
pub struct SegmentExpire<'info> {
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
    /// CHECK: only receives the accounts' rent if the job closes; `has_one = buyer` pins it.
    #[account(mut)]
    pub buyer: UncheckedAccount<'info>,
    /// The provider running segment `index`.
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        constraint = segments.provider_of(index).is_none_or(|p| p == provider.key())
            @ MarketError::WrongProvider
    )]
    pub provider: Box<Account<'info, Provider>>,
    /// CHECK: the stake-mint account the buyer recorded at posting (its share of the
    /// slash); paid only if it can still receive (`token_ops::can_receive`).
    #[account(mut, dup, address = job.slash_share_account @ MarketError::WrongTokenOwner)]
    pub buyer_stake_account: UncheckedAccount<'info>,
    /// The caller's stake-mint account: the reporter's share of the slash.
    #[account(
        mut,
        dup,
        constraint = cranker_stake_account.mint == market.stake_mint @ MarketError::WrongMint,
        constraint = cranker_stake_account.owner == cranker.key() @ MarketError::WrongTokenOwner
    )]
    pub cranker_stake_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.stake_vault @ MarketError::WrongVault)]
    pub stake_vault: Box<Account<'info, TokenAccount>>,
    /// CHECK: the payment-mint account the buyer recorded at posting (refunds); paid
    /// only if it can still receive.
    #[account(mut, dup, address = job.refund_account @ MarketError::WrongTokenOwner)]
    pub buyer_payment_account: UncheckedAccount<'info>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl SegmentExpire<'_> {
    pub fn handle(ctx: Context<Self>, index: u8) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let terms = a.job.terms;
        let buyer = a.job.buyer;
        let missed = a.segments.expire(&mut a.job, index, now)?;

        slash_missed_deadline(
            SlashAccounts {
                token_program: &a.token_program,
                stake_vault: &a.stake_vault,
                cranker_stake_account: &a.cranker_stake_account,
                buyer_stake_account: &a.buyer_stake_account.to_account_info(),
            },
            &mut a.market,
            &mut a.provider,
            a.job.key(),
            buyer,
            a.cranker.key(),
            &terms,
            MissedDeadline {
                bond: missed.bond,
                forfeited_fee: missed.forfeited_fee,
                score_fee_scale: missed.score_fee_scale,
            },
            now,
        )?;

        let refund = missed.refund;
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
        a.provider.invariant()?;
        a.segments.invariant(&a.job)?;
        a.market.invariant()?;
        let closed = a.segments.settled();
        if closed {
            a.segments.close(a.buyer.to_account_info())?;
            a.job.close(a.buyer.to_account_info())?;
        }
        crate::emit_event!(SegmentExpired {
            job: a.job.key(),
            index,
            provider: missed.provider,
            bond: missed.bond,
            reopened: missed.reopened,
            segments_refunded: refund.segments,
            refunded,
            closed,
            timestamp: now,
        });
        Ok(())
    }
}
