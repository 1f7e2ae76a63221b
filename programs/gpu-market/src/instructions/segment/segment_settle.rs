//! Anyone settles a segment's dispute by the referees' verdict on its committed root
//! (`Dispute::segment_outcome_at`: a quorum of revealed roots equal to `state_root`
//! upholds it, another quorum root overturns it, anything else is no ruling).
//!
//! - Overturned (the checkpoint was wrong): the segment's bond and the stake locked
//!   beside it are slashed, the referees' share first, the rest by the job's frozen
//!   split (`settle_shares`, as for a single job); the segment's price goes back to the
//!   buyer's recorded account and its bounty to the settler; the challenger gets its
//!   bond back. The job ends at the previous checkpoint (`Segments::overturn`): every
//!   later segment, which resumed from the wrong one, is refunded to the buyer (price and
//!   bounty), and those that had started have their bonds released unslashed and unpaid
//!   (their providers' accounts follow the referee accounts: `SegmentProvidersMissing`).
//!   The segments before it stay payable. The provider's record counts a lost dispute.
//! - Upheld: the challenger's bond is split as for a single job (the provider's payout
//!   account, the referees, the treasury); the extra stake is unlocked; the segment is
//!   `Committed` again, payable once its window closed, and the job goes on.
//! - No ruling: the bond goes back, the extra stake is unlocked, the segment stands.
//!
//! Every drawn referee's duty ends (a silent committer pays its penalty), and the
//! dispute account closes (rent to the challenger) either way.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::SEGMENTS_SEED;
use crate::errors::MarketError;
use crate::events::{ProviderSlashed, SegmentDisputeSettled};
use crate::instructions::dispute::settle_shares::{
    pay_forfeited_bond, pay_slash_split, refund_price_pay_bounty, return_bond, Vaults,
};
use crate::instructions::RefereeAccounts;
use crate::math;
use crate::state::{
    Dispute, DisputeOutcome, Job, Market, Overturned, Provider, RefereeVerdict, Segments,
};
use crate::token_ops::pay_if_open;

#[derive(Accounts)]
pub struct SegmentSettle<'info> {
    pub settler: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        has_one = buyer @ MarketError::WrongBuyer,
        constraint = job.dispute == dispute.key() @ MarketError::WrongDispute
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, seeds = [SEGMENTS_SEED, job.key().as_ref()], bump = segments.bump)]
    pub segments: Box<Account<'info, Segments>>,
    /// CHECK: receives the job's and segments' rent if the job closes; `has_one = buyer`
    /// pins it.
    #[account(mut, dup)]
    pub buyer: UncheckedAccount<'info>,
    /// The provider that ran the disputed segment.
    #[account(mut, address = dispute.provider @ MarketError::WrongProvider)]
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
    /// CHECK: the payment-mint account recorded at the challenge; paid only if it can
    /// still receive.
    #[account(mut, dup, address = dispute.challenger_payment_account @ MarketError::WrongChallenger)]
    pub challenger_payment_account: UncheckedAccount<'info>,
    /// CHECK: the stake-mint account recorded at the challenge; paid only if it can
    /// still receive.
    #[account(mut, dup, address = dispute.challenger_stake_account @ MarketError::WrongChallenger)]
    pub challenger_stake_account: UncheckedAccount<'info>,
    /// CHECK: the buyer's recorded payment-mint account (refunds); paid only if it can
    /// still receive.
    #[account(mut, dup, address = job.refund_account @ MarketError::WrongTokenOwner)]
    pub buyer_payment_account: UncheckedAccount<'info>,
    /// CHECK: the buyer's recorded stake-mint account (its share of a slash); paid only
    /// if it can still receive.
    #[account(mut, dup, address = job.slash_share_account @ MarketError::WrongTokenOwner)]
    pub buyer_stake_account: UncheckedAccount<'info>,
    /// CHECK: the provider's payout account (a forfeited bond's share), by address; paid
    /// only if it can still receive.
    #[account(mut, dup, address = provider.payout_account @ MarketError::WrongPayoutAccount)]
    pub payout_account: UncheckedAccount<'info>,
    /// CHECK: the settler's payment-mint account (the bounty of an overturned segment);
    /// mint and owner are checked when it is paid.
    #[account(mut, dup)]
    pub settler_payment_account: UncheckedAccount<'info>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.stake_vault @ MarketError::WrongVault)]
    pub stake_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

impl<'info> SegmentSettle<'info> {
    /// The dispute is over one of this job's segments. (A single job's dispute names a
    /// job without a segments account, so the constraints already refuse it; this keeps
    /// the index honest.)
    pub fn validate(&self) -> Result<u8> {
        self.dispute
            .segment
            .ok_or_else(|| error!(MarketError::WrongDispute))
    }

    pub fn handle(ctx: Context<'info, Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let index = ctx.accounts.validate()?;
        // Remaining accounts: the referee accounts when drawn, then the providers of
        // later started segments (read only when the segment is overturned).
        let remaining = ctx.remaining_accounts;
        let round = &ctx.accounts.dispute.referee;
        let referee_len = if round.drawn {
            (round.count as usize).saturating_mul(2).saturating_add(1)
        } else {
            0
        };
        let (referee_part, later_part) = remaining.split_at(referee_len.min(remaining.len()));
        let mut referees = match round.drawn {
            true => Some(RefereeAccounts::load(
                referee_part,
                &ctx.accounts.market.key(),
                &ctx.accounts.dispute,
            )?),
            false => None,
        };
        let a = &mut *ctx.accounts;
        let outcome = a.dispute.segment_outcome_at(&a.segments, now)?;
        let root = a.segments.segment(index)?.state_root;
        let verdict = match outcome {
            DisputeOutcome::ProviderWrong => RefereeVerdict::Overturned,
            DisputeOutcome::ChallengerWrong => RefereeVerdict::Upheld,
            _ => RefereeVerdict::None,
        };
        let majority = a.dispute.referee.majority(&root, verdict);
        let v = Vaults {
            token_program: &a.token_program,
            payment_vault: &a.payment_vault,
            stake_vault: &a.stake_vault,
        };
        let (bond, terms, challenger) = (a.dispute.bond, a.job.terms, a.dispute.challenger);
        let mut event = SegmentDisputeSettled {
            job: a.job.key(),
            index,
            dispute: a.dispute.key(),
            provider: a.provider.key(),
            challenger,
            outcome: outcome as u8,
            slashed: 0,
            to_buyer: 0,
            to_challenger: 0,
            to_treasury: 0,
            to_referees: 0,
            refunded: 0,
            segments_refunded: 0,
            segments_undone: 0,
            bond_to_provider: 0,
            bond_to_treasury: 0,
            bond_to_referees: 0,
            bounty: 0,
            referee_penalties: 0,
            settler: a.settler.key(),
            closed: false,
            timestamp: now,
        };
        if outcome.provider_loses() {
            let fee = math::fee_for(a.segments.segment(index)?.price, terms.fee_bps)?;
            let wrong = a.segments.overturn(&mut a.job, index)?;
            let slashed = a.provider.record_dispute_lost(
                wrong.bond,
                a.dispute.stake_locked,
                fee,
                wrong.score_fee_scale,
            )?;
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
            a.market
                .totals
                .on_dispute_slash(slashed, split.treasury, wrong.escrow)?;
            a.market.totals.on_stake(to_referees)?;
            let bounty = math::sub(wrong.escrow, wrong.price)?;
            refund_price_pay_bounty(
                &v,
                &mut a.market,
                wrong.price,
                &a.buyer_payment_account.to_account_info(),
                &buyer,
                bounty,
                &a.settler_payment_account.to_account_info(),
                &a.settler.key(),
            )?;
            undo_later_segments(&wrong, &mut a.provider, referees.as_mut(), later_part)?;
            for _ in &wrong.undone {
                a.market.totals.on_claim_undone()?;
            }
            let mut refunded = wrong.price;
            if wrong.refund.segments > 0 {
                a.market
                    .totals
                    .on_segments_refunded(wrong.refund.segments, wrong.refund.escrow)?;
                if pay_if_open(
                    v.token_program,
                    &a.market,
                    v.payment_vault,
                    &a.buyer_payment_account.to_account_info(),
                    &buyer,
                    wrong.refund.escrow,
                )? {
                    refunded = math::add(refunded, wrong.refund.escrow)?;
                } else {
                    a.market
                        .totals
                        .accrue_forfeited_refund(wrong.refund.escrow)?;
                }
            }
            return_bond(
                &v,
                &mut a.market,
                &a.challenger_payment_account.to_account_info(),
                &challenger,
                bond,
            )?;
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
            event.to_referees = to_referees;
            event.refunded = refunded;
            event.segments_refunded = wrong.refund.segments;
            event.segments_undone = u8::try_from(wrong.undone.len()).unwrap_or(u8::MAX);
            event.bounty = bounty;
        } else if outcome == DisputeOutcome::NoRuling {
            a.provider.release_dispute_stake(a.dispute.stake_locked)?;
            a.segments.uphold(&mut a.job, index)?;
            return_bond(
                &v,
                &mut a.market,
                &a.challenger_payment_account.to_account_info(),
                &challenger,
                bond,
            )?;
        } else {
            a.provider.release_dispute_stake(a.dispute.stake_locked)?;
            a.segments.uphold(&mut a.job, index)?;
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
            let (to_provider, to_treasury) = pay_forfeited_bond(
                &v,
                &mut a.market,
                &terms,
                bond,
                math::sub(math::sub(bond, to_referees)?, unpaid)?,
                unpaid,
                &a.payout_account.to_account_info(),
            )?;
            event.bond_to_provider = to_provider;
            event.bond_to_treasury = to_treasury;
            event.bond_to_referees = to_referees;
        }
        if let Some(r) = referees.as_mut() {
            let penalties = r.close_round(&a.dispute)?;
            a.market.totals.on_referee_penalty(penalties)?;
            r.persist()?;
            event.referee_penalties = penalties;
        }
        a.provider.invariant()?;
        a.segments.invariant(&a.job)?;
        a.market.invariant()?;
        let closed = a.segments.settled();
        if closed {
            a.segments.close(a.buyer.to_account_info())?;
            a.job.close(a.buyer.to_account_info())?;
        }
        event.closed = closed;
        crate::emit_event!(event);
        Ok(())
    }
}

/// Releases the bonds of the segments started after an overturned one, on whichever
/// account holds each provider: the disputed provider's own, a drawn referee's (already
/// loaded), or one of `later`, which must hold exactly the other providers, each once and
/// writable (`SegmentProvidersMissing`), and is written back here.
fn undo_later_segments<'info>(
    wrong: &Overturned,
    disputed: &mut Account<'info, Provider>,
    mut referees: Option<&mut RefereeAccounts<'info>>,
    later: &'info [AccountInfo<'info>],
) -> Result<()> {
    let mut others: Vec<Account<'info, Provider>> = Vec::with_capacity(later.len());
    for info in later {
        require!(info.is_writable, MarketError::SegmentProvidersMissing);
        let p = Account::<Provider>::try_from(info)?;
        let key = p.key();
        let needed = wrong.undone.iter().any(|(k, _)| *k == key)
            && key != disputed.key()
            && referees
                .as_ref()
                .is_none_or(|r| r.providers.iter().all(|rp| rp.key() != key))
            && others.iter().all(|o| o.key() != key);
        require!(needed, MarketError::SegmentProvidersMissing);
        others.push(p);
    }
    for (key, bond) in &wrong.undone {
        if *key == disputed.key() {
            disputed.release_undone_segment(*bond)?;
        } else if let Some(p) = referees
            .as_deref_mut()
            .and_then(|r| r.providers.iter_mut().find(|p| p.key() == *key))
        {
            p.release_undone_segment(*bond)?;
        } else {
            others
                .iter_mut()
                .find(|p| p.key() == *key)
                .ok_or(MarketError::SegmentProvidersMissing)?
                .release_undone_segment(*bond)?;
        }
    }
    for p in &others {
        p.invariant()?;
        p.exit(&crate::ID)?;
    }
    Ok(())
}
