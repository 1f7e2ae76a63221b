//! Anyone expires a claim whose submit deadline passed. The provider's bond is
//! slashed by the job's frozen split: the buyer's share to the stake-mint
//! account the buyer recorded at posting, the reporter's share to the caller
//! (to the treasury when the caller is the buyer: a buyer never earns for
//! reporting its own job), the treasury's share kept in the stake vault until
//! swept. The job reopens for another provider while its own deadline holds,
//! and is refunded (to the buyer's recorded payment account) and closed
//! otherwise. A recorded buyer account that can no longer receive (closed by
//! its owner) does not block the settlement: that amount accrues to the
//! treasury instead.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use super::missed_deadline::{slash_missed_deadline, MissedDeadline, SlashAccounts};
use crate::errors::MarketError;
use crate::events::{JobExpired, JobRefunded};
use crate::math;
use crate::state::{ExpiryOutcome, Job, Market, Provider};
use crate::token_ops;

#[derive(Accounts)]
pub struct JobExpire<'info> {
    pub cranker: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        has_one = buyer @ MarketError::WrongBuyer,
        constraint = job.provider == provider.key() @ MarketError::WrongProvider
    )]
    pub job: Box<Account<'info, Job>>,
    /// CHECK: only receives the job account's rent on refund; `has_one = buyer` pins it.
    #[account(mut)]
    pub buyer: UncheckedAccount<'info>,
    #[account(mut, has_one = market @ MarketError::WrongMarket)]
    pub provider: Box<Account<'info, Provider>>,
    /// CHECK: the stake-mint account the buyer recorded at posting (its share of
    /// the slash); paid only if it can still receive (`token_ops::can_receive`).
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
    /// CHECK: the payment-mint account the buyer recorded at posting (the
    /// escrow if the job is refunded); paid only if it can still receive.
    #[account(mut, dup, address = job.refund_account @ MarketError::WrongTokenOwner)]
    pub buyer_payment_account: UncheckedAccount<'info>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl JobExpire<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let bond = a.job.bond;
        let terms = a.job.terms;
        let forfeited_fee = a.job.fee()?;
        let score_fee_scale = a.job.claim_score_fee_scale;
        let buyer = a.job.buyer;
        let outcome = a.job.expire(now)?;

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
                bond,
                forfeited_fee,
                score_fee_scale,
            },
            now,
        )?;
        crate::emit_event!(JobExpired {
            job: a.job.key(),
            provider: a.provider.key(),
            reopened: outcome == ExpiryOutcome::Reopened,
            timestamp: now,
        });

        if outcome == ExpiryOutcome::Refunded {
            let escrow = a.job.escrow;
            a.market.totals.release_escrow(escrow)?;
            a.market.totals.jobs_refunded = math::add(a.market.totals.jobs_refunded, 1)?;
            let refunded = token_ops::pay_if_open(
                &a.token_program,
                &a.market,
                &a.payment_vault,
                &a.buyer_payment_account.to_account_info(),
                &buyer,
                escrow,
            )?;
            if !refunded {
                a.market.totals.accrue_forfeited_refund(escrow)?;
            }
            a.job.close(a.buyer.to_account_info())?;
            crate::emit_event!(JobRefunded {
                job: a.job.key(),
                buyer: a.buyer.key(),
                refunded: if refunded { escrow } else { 0 },
                bounty: 0,
                cranker: a.cranker.key(),
                timestamp: now,
            });
        }
        a.provider.invariant()?;
        a.market.invariant()?;
        Ok(())
    }
}
