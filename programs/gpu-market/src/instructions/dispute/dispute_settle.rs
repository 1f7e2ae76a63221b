//! Anyone settles a dispute by rule. Complete (all three leaves verified, the dot product
//! absorbed), the ruling decides; incomplete after the response deadline, whoever did not
//! finish its part loses (`Dispute::outcome_at`).
//!
//! - The provider loses (result wrong, or its row of C never verified): the job's bond and
//!   the stake locked beside it are slashed and split by the job's frozen terms (buyer,
//!   reporter = the challenger, treasury); the buyer gets the price back and the settler
//!   the crank bounty; the challenger gets its bond back; the job is `Slashed` and closed.
//! - The challenger loses: its bond goes to the provider (the buyer and reporter shares of
//!   the same split) and the treasury (the rest); the extra stake is unlocked and the job
//!   is `Submitted` again, finalizable once its challenge window has closed.
//!
//! - No ruling (a refereed dispute without a quorum, or never drawn): the extra stake is
//!   unlocked, the challenger gets its bond back, and the job is `Submitted` again.
//! - A refereed dispute: the referees that revealed the deciding root take
//!   `REFEREE_SHARE_BPS` of the loser's pot first (a slash: credited to their stake; a
//!   bond: paid to their recorded payout accounts), a referee that committed and did not
//!   reveal loses `REFEREE_NO_REVEAL_BPS` of its seat weight to the treasury, and every
//!   drawn referee's duty ends (remaining accounts: `RefereeAccounts`).
//!
//! A dispute over one segment of a segmented job is `segment_settle`'s
//! (`DisputeIsOverASegment`). The money rules are `settle_shares`', shared with it.
//!
//! The dispute account closes either way (rent to the challenger). Treasury shares accrue
//! in the vaults (swept by `market_sweep`). Every other destination is an account recorded
//! earlier (the buyer's at posting, the challenger's at the challenge, the provider's
//! payout account) and is paid only if it can still receive; what it cannot take accrues
//! to the treasury, so a party that closes its own account forfeits its own payment and
//! never blocks the other side's settlement.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::errors::MarketError;
use crate::events::{DisputeSettled, ProviderSlashed};
use crate::instructions::dispute::settle_shares::{
    pay_forfeited_bond, pay_slash_split, refund_price_pay_bounty, return_bond, Vaults,
};
use crate::instructions::RefereeAccounts;
use crate::math;
use crate::state::{Dispute, DisputeOutcome, Job, Market, Provider, RefereeVerdict};

#[derive(Accounts)]
pub struct DisputeSettle<'info> {
    pub settler: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        has_one = buyer @ MarketError::WrongBuyer,
        constraint = job.dispute == dispute.key() @ MarketError::WrongDispute,
        constraint = job.provider == provider.key() @ MarketError::WrongProvider
    )]
    pub job: Box<Account<'info, Job>>,
    /// CHECK: receives the job account's rent when the job closes; `has_one = buyer` pins it.
    #[account(mut, dup)]
    pub buyer: UncheckedAccount<'info>,
    #[account(mut, has_one = market @ MarketError::WrongMarket)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        has_one = job @ MarketError::WrongDispute,
        has_one = challenger @ MarketError::WrongChallenger,
        close = challenger
    )]
    pub dispute: Box<Account<'info, Dispute>>,
    /// CHECK: receives the dispute account's rent; `has_one = challenger` pins it.
    #[account(mut, dup)]
    pub challenger: UncheckedAccount<'info>,
    /// CHECK: the payment-mint account recorded (and checked) at the challenge; paid only
    /// if it can still receive.
    #[account(mut, dup, address = dispute.challenger_payment_account @ MarketError::WrongChallenger)]
    pub challenger_payment_account: UncheckedAccount<'info>,
    /// CHECK: the stake-mint account recorded (and checked) at the challenge; paid only if
    /// it can still receive.
    #[account(mut, dup, address = dispute.challenger_stake_account @ MarketError::WrongChallenger)]
    pub challenger_stake_account: UncheckedAccount<'info>,
    /// CHECK: the payment-mint account the buyer recorded at posting (the refund); paid
    /// only if it can still receive.
    #[account(mut, dup, address = job.refund_account @ MarketError::WrongTokenOwner)]
    pub buyer_payment_account: UncheckedAccount<'info>,
    /// CHECK: the stake-mint account the buyer recorded at posting (its share of the
    /// slash); paid only if it can still receive.
    #[account(mut, dup, address = job.slash_share_account @ MarketError::WrongTokenOwner)]
    pub buyer_stake_account: UncheckedAccount<'info>,
    /// CHECK: the provider's payout account (the forfeited challenger bond), by address;
    /// paid only if it can still receive.
    #[account(mut, dup, address = provider.payout_account @ MarketError::WrongPayoutAccount)]
    pub payout_account: UncheckedAccount<'info>,
    /// CHECK: the settler's payment-mint account (the crank bounty); mint and owner are
    /// checked when the bounty is paid.
    #[account(mut, dup)]
    pub settler_payment_account: UncheckedAccount<'info>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.stake_vault @ MarketError::WrongVault)]
    pub stake_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl<'info> DisputeSettle<'info> {
    /// A dispute over a segment reads the segments account: `segment_settle` settles it.
    pub fn validate(&self) -> Result<()> {
        require!(
            self.dispute.segment.is_none(),
            MarketError::DisputeIsOverASegment
        );
        Ok(())
    }

    pub fn handle(ctx: Context<'info, Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        ctx.accounts.validate()?;
        let mut referees = match ctx.accounts.dispute.is_refereed(&ctx.accounts.job)
            && ctx.accounts.dispute.referee.drawn
        {
            true => Some(RefereeAccounts::load(
                ctx.remaining_accounts,
                &ctx.accounts.market.key(),
                &ctx.accounts.dispute,
            )?),
            false => None,
        };
        let a = &mut *ctx.accounts;
        let v = Vaults {
            token_program: &a.token_program,
            payment_vault: &a.payment_vault,
            stake_vault: &a.stake_vault,
        };
        let outcome = a.dispute.outcome_at(&a.job, now)?;
        let verdict = match outcome {
            DisputeOutcome::ProviderWrong => RefereeVerdict::Overturned,
            DisputeOutcome::ChallengerWrong => RefereeVerdict::Upheld,
            _ => RefereeVerdict::None,
        };
        // Empty for a GEMM dispute (no referees) and without a verdict.
        let majority = a.dispute.referee.majority(&a.job.result_root, verdict);
        let bond = a.dispute.bond;
        let terms = a.job.terms;
        let challenger = a.dispute.challenger;
        let mut event = DisputeSettled {
            dispute: a.dispute.key(),
            job: a.job.key(),
            provider: a.provider.key(),
            challenger,
            outcome: outcome as u8,
            slashed: 0,
            to_buyer: 0,
            to_challenger: 0,
            to_treasury: 0,
            refunded: 0,
            bond_to_provider: 0,
            bond_to_treasury: 0,
            bounty: 0,
            settler: a.settler.key(),
            timestamp: now,
            to_referees: 0,
            referee_penalties: 0,
        };
        if outcome.provider_loses() {
            let slashed = a.provider.record_dispute_lost(
                a.job.bond,
                a.dispute.stake_locked,
                a.job.fee()?,
                a.job.claim_score_fee_scale,
            )?;
            // The referees' share first (credited to their stake), the rest by the split.
            let to_referees = match referees.as_mut() {
                Some(r) => r.credit_slash_shares(&majority, slashed)?,
                None => 0,
            };
            let buyer = a.job.buyer;
            let split = pay_slash_split(
                &v,
                &a.market,
                &terms,
                math::sub(slashed, to_referees)?,
                &a.buyer_stake_account.to_account_info(),
                &buyer,
                &a.challenger_stake_account.to_account_info(),
                &challenger,
            )?;
            let escrow = a.job.escrow;
            let bounty = terms.crank_bounty;
            let refund = math::sub(escrow, bounty)?;
            a.market
                .totals
                .on_dispute_slash(slashed, split.treasury, escrow)?;
            a.market.totals.on_stake(to_referees)?;
            event.to_referees = to_referees;
            refund_price_pay_bounty(
                &v,
                &mut a.market,
                refund,
                &a.buyer_payment_account.to_account_info(),
                &buyer,
                bounty,
                &a.settler_payment_account.to_account_info(),
                &a.settler.key(),
            )?;
            return_bond(
                &v,
                &mut a.market,
                &a.challenger_payment_account.to_account_info(),
                &challenger,
                bond,
            )?;
            a.job.end_dispute(true)?;
            a.job.close(a.buyer.to_account_info())?;
            crate::emit_event!(ProviderSlashed {
                market: a.market.key(),
                provider: a.provider.key(),
                job: a.job.key(),
                amount: slashed,
                to_buyer: split.buyer,
                to_reporter: split.reporter,
                to_treasury: split.treasury,
                reporter: challenger,
                stake_after: a.provider.stake,
                score_after: a.provider.reputation.score,
                timestamp: now,
            });
            event.slashed = slashed;
            event.to_buyer = split.buyer;
            event.to_challenger = split.reporter;
            event.to_treasury = split.treasury;
            event.refunded = refund;
            event.bounty = bounty;
        } else if outcome == DisputeOutcome::NoRuling {
            // No ruling: nobody is slashed, the result stands, the bond goes back.
            a.provider.release_dispute_stake(a.dispute.stake_locked)?;
            return_bond(
                &v,
                &mut a.market,
                &a.challenger_payment_account.to_account_info(),
                &challenger,
                bond,
            )?;
            a.job.end_dispute(false)?;
        } else {
            a.provider.release_dispute_stake(a.dispute.stake_locked)?;
            // The referees' share first, paid to their recorded payout accounts.
            let (to_referees, unpaid) = match referees.as_ref() {
                Some(r) => r.pay_bond_shares(
                    &majority,
                    bond,
                    &a.token_program,
                    &a.market,
                    &a.payment_vault,
                )?,
                None => (0, 0),
            };
            event.to_referees = to_referees;
            // The same split as a slash: the wronged party (here the provider) takes the
            // buyer and reporter shares, the treasury the rest.
            let (to_provider, to_treasury) = pay_forfeited_bond(
                &v,
                &mut a.market,
                &terms,
                bond,
                math::sub(math::sub(bond, to_referees)?, unpaid)?,
                unpaid,
                &a.payout_account.to_account_info(),
            )?;
            a.job.end_dispute(false)?;
            event.bond_to_provider = to_provider;
            event.bond_to_treasury = to_treasury;
        }
        if let Some(r) = referees.as_mut() {
            let penalties = r.close_round(&a.dispute)?;
            a.market.totals.on_referee_penalty(penalties)?;
            r.persist()?;
            event.referee_penalties = penalties;
        }
        a.provider.invariant()?;
        a.market.invariant()?;
        crate::emit_event!(event);
        Ok(())
    }
}
