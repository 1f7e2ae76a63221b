//! Anyone settles a submitted job once its challenge window has closed: the
//! provider is paid the price minus the fee, the fee stays in the payment vault
//! for the treasury (swept by `market_sweep`, so no third-party account can
//! block settlement), the crank bounty goes to the caller, the bond is released, reputation and market
//! totals are updated, and the job account is closed with its rent back to the buyer.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::errors::MarketError;
use crate::events::JobFinalized;
use crate::math;
use crate::state::{Job, Market, Provider};
use crate::token_ops;

#[derive(Accounts)]
pub struct JobFinalize<'info> {
    pub cranker: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        has_one = buyer @ MarketError::WrongBuyer,
        constraint = job.provider == provider.key() @ MarketError::WrongProvider,
        close = buyer
    )]
    pub job: Box<Account<'info, Job>>,
    /// CHECK: only receives the job account's rent; `has_one = buyer` on the job pins it.
    #[account(mut)]
    pub buyer: UncheckedAccount<'info>,
    #[account(mut, has_one = market @ MarketError::WrongMarket)]
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

impl JobFinalize<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        a.job.finalize(now)?;
        let job = &a.job;
        let fee = math::fee_for(job.price, job.terms.fee_bps)?;
        let payout = math::payout_for(job.price, job.terms.fee_bps)?;
        let bounty = job.terms.crank_bounty;
        a.provider.record_completion(
            job.bond,
            job.gpu_ms,
            payout,
            fee,
            job.claim_score_fee_scale,
        )?;
        a.market
            .totals
            .on_finalize(job.escrow, job.gpu_ms, payout, fee, bounty)?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.payout_account,
            payout,
        )?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.payment_vault,
            &a.cranker_payment_account,
            bounty,
        )?;
        a.provider.invariant()?;
        a.market.invariant()?;
        crate::emit_event!(JobFinalized {
            job: a.job.key(),
            provider: a.provider.key(),
            buyer: a.job.buyer,
            result_root: a.job.result_root,
            gpu_ms: a.job.gpu_ms,
            payout,
            fee,
            bounty,
            cranker: a.cranker.key(),
            timestamp: now,
        });
        Ok(())
    }
}
