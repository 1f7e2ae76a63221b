//! The slash for a missed deadline, one rule for `job_expire` (a job's claim) and
//! `segment_expire` (one segment of a segmented job): the bond is split by the job's
//! frozen terms; the reporter's share goes to the caller, or to the treasury when the
//! caller is the buyer (a buyer never earns for reporting its own job); the buyer's
//! share goes to the stake-mint account it recorded at posting, or to the treasury when
//! that account can no longer receive; the provider is rescored and the market's totals
//! move; `ProviderSlashed` records it.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::events::ProviderSlashed;
use crate::math;
use crate::state::{JobTerms, Market, Provider};
use crate::token_ops;

/// What the missed claim locked and what its settlement would have rescored with.
pub struct MissedDeadline {
    /// Stake-mint units.
    pub bond: u64,
    /// Payment-mint units the provider would have paid in fees.
    pub forfeited_fee: u64,
    pub score_fee_scale: u64,
}

/// The accounts every missed-deadline slash moves tokens between.
pub struct SlashAccounts<'a, 'info> {
    pub token_program: &'a Program<'info, Token>,
    pub stake_vault: &'a Account<'info, TokenAccount>,
    pub cranker_stake_account: &'a Account<'info, TokenAccount>,
    pub buyer_stake_account: &'a AccountInfo<'info>,
}

#[allow(clippy::too_many_arguments)]
pub fn slash_missed_deadline<'info>(
    accounts: SlashAccounts<'_, 'info>,
    market: &mut Account<'info, Market>,
    provider: &mut Account<'info, Provider>,
    job: Pubkey,
    buyer: Pubkey,
    cranker: Pubkey,
    terms: &JobTerms,
    missed: MissedDeadline,
    now: i64,
) -> Result<()> {
    let mut split =
        math::slash_split(missed.bond, terms.slash_buyer_bps, terms.slash_reporter_bps)?;
    if cranker == buyer {
        split.treasury = math::add(split.treasury, split.reporter)?;
        split.reporter = 0;
    }
    provider.record_expiry(missed.bond, missed.forfeited_fee, missed.score_fee_scale)?;
    token_ops::pay_from_vault(
        accounts.token_program,
        market,
        accounts.stake_vault,
        accounts.cranker_stake_account,
        split.reporter,
    )?;
    if !token_ops::pay_if_open(
        accounts.token_program,
        market,
        accounts.stake_vault,
        accounts.buyer_stake_account,
        &buyer,
        split.buyer,
    )? {
        split.treasury = math::add(split.treasury, split.buyer)?;
        split.buyer = 0;
    }
    market.totals.on_slash(missed.bond, split.treasury)?;
    crate::emit_event!(ProviderSlashed {
        market: market.key(),
        provider: provider.key(),
        job,
        amount: missed.bond,
        to_buyer: split.buyer,
        to_reporter: split.reporter,
        to_treasury: split.treasury,
        reporter: cranker,
        stake_after: provider.stake,
        score_after: provider.reputation.score,
        timestamp: now,
    });
    Ok(())
}
