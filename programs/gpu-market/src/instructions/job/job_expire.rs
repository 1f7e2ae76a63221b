//! Anyone expires a claim whose submit deadline passed. The provider's bond is
//! slashed by the job's frozen split (buyer, reporter = the caller, treasury);
//! the job reopens for another provider while its own deadline holds, and is
//! refunded and closed otherwise.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::errors::MarketError;
use crate::events::{JobExpired, JobRefunded, ProviderSlashed};
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
    /// The buyer's stake-mint account: its share of the slash.
    #[account(
        mut,
        dup,
        constraint = buyer_stake_account.mint == market.stake_mint @ MarketError::WrongMint,
        constraint = buyer_stake_account.owner == job.buyer @ MarketError::WrongTokenOwner
    )]
    pub buyer_stake_account: Box<Account<'info, TokenAccount>>,
    /// The caller's stake-mint account: the reporter's share of the slash.
    #[account(
        mut,
        dup,
        constraint = cranker_stake_account.mint == market.stake_mint @ MarketError::WrongMint,
        constraint = cranker_stake_account.owner == cranker.key() @ MarketError::WrongTokenOwner
    )]
    pub cranker_stake_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, dup, address = market.slash_account @ MarketError::WrongTreasuryAccount)]
    pub slash_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.stake_vault @ MarketError::WrongVault)]
    pub stake_vault: Box<Account<'info, TokenAccount>>,
    /// The buyer's payment-mint account: the escrow if the job is refunded.
    #[account(
        mut,
        dup,
        constraint = buyer_payment_account.mint == market.payment_mint @ MarketError::WrongMint,
        constraint = buyer_payment_account.owner == job.buyer @ MarketError::WrongTokenOwner
    )]
    pub buyer_payment_account: Box<Account<'info, TokenAccount>>,
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
        let outcome = a.job.expire(now)?;

        let split = math::slash_split(bond, terms.slash_buyer_bps, terms.slash_reporter_bps)?;
        a.provider
            .record_expiry(bond, a.market.params.score_fee_scale)?;
        a.market.totals.on_slash(bond)?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.stake_vault,
            &a.buyer_stake_account,
            split.buyer,
        )?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.stake_vault,
            &a.cranker_stake_account,
            split.reporter,
        )?;
        token_ops::pay_from_vault(
            &a.token_program,
            &a.market,
            &a.stake_vault,
            &a.slash_account,
            split.treasury,
        )?;
        crate::emit_event!(ProviderSlashed {
            market: a.market.key(),
            provider: a.provider.key(),
            job: a.job.key(),
            amount: bond,
            to_buyer: split.buyer,
            to_reporter: split.reporter,
            to_treasury: split.treasury,
            reporter: a.cranker.key(),
            stake_after: a.provider.stake,
            score_after: a.provider.reputation.score,
            timestamp: now,
        });
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
            token_ops::pay_from_vault(
                &a.token_program,
                &a.market,
                &a.payment_vault,
                &a.buyer_payment_account,
                escrow,
            )?;
            a.job.close(a.buyer.to_account_info())?;
            crate::emit_event!(JobRefunded {
                job: a.job.key(),
                buyer: a.buyer.key(),
                refunded: escrow,
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
