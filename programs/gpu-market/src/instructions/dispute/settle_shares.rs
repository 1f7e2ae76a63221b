//! Where a settled dispute's money goes, one rule for `dispute_settle` (a single job) and
//! `segment_settle` (one segment of a segmented job): the loser's pot, after the
//! referees' share, is split by the job's frozen terms; a slash's buyer and reporter
//! shares go to the stake-mint accounts recorded at posting and at the challenge, a
//! forfeited bond's to the provider's payout account; whatever a recorded account can no
//! longer take accrues to the treasury, so a party that closes its own account forfeits
//! only its own payment. The challenger's bond, when it comes back, goes the same way.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::math::{self, SlashSplit};
use crate::state::{JobTerms, Market};
use crate::token_ops::{expect_token_account, pay_from_vault_to, pay_if_open, token_owner};

/// The vaults and the program the shares leave by.
pub struct Vaults<'a, 'info> {
    pub token_program: &'a Program<'info, Token>,
    pub payment_vault: &'a Account<'info, TokenAccount>,
    pub stake_vault: &'a Account<'info, TokenAccount>,
}

/// Splits a slash (`pot`, stake mint, the referees' share already taken) by `terms`:
/// the buyer's share to `buyer_stake` (owned by `buyer`), the reporter's to
/// `challenger_stake` (owned by `challenger`), the rest, and any share a closed account
/// cannot take, to the treasury. Returns the split as paid.
#[allow(clippy::too_many_arguments)]
pub fn pay_slash_split<'info>(
    v: &Vaults<'_, 'info>,
    market: &Account<'info, Market>,
    terms: &JobTerms,
    pot: u64,
    buyer_stake: &AccountInfo<'info>,
    buyer: &Pubkey,
    challenger_stake: &AccountInfo<'info>,
    challenger: &Pubkey,
) -> Result<SlashSplit> {
    let mut split = math::slash_split(pot, terms.slash_buyer_bps, terms.slash_reporter_bps)?;
    for (to, owner, share) in [
        (buyer_stake, buyer, &mut split.buyer),
        (challenger_stake, challenger, &mut split.reporter),
    ] {
        if !pay_if_open(v.token_program, market, v.stake_vault, to, owner, *share)? {
            split.treasury = math::add(split.treasury, *share)?;
            *share = 0;
        }
    }
    Ok(split)
}

/// A forfeited challenger bond (`pot`, payment mint, the referees' share already taken;
/// `unpaid` of their share could not be paid and is the treasury's): the buyer and
/// reporter shares of the split to the wronged provider's payout account, the rest to the
/// treasury; the market's books record the bond as forfeited. Returns (to the provider,
/// to the treasury).
pub fn pay_forfeited_bond<'info>(
    v: &Vaults<'_, 'info>,
    market: &mut Account<'info, Market>,
    terms: &JobTerms,
    bond: u64,
    pot: u64,
    unpaid: u64,
    payout_account: &AccountInfo<'info>,
) -> Result<(u64, u64)> {
    let split = math::slash_split(pot, terms.slash_buyer_bps, terms.slash_reporter_bps)?;
    let mut to_provider = math::add(split.buyer, split.reporter)?;
    let mut to_treasury = math::add(split.treasury, unpaid)?;
    // The payout account is whatever account the provider chose; its own owner.
    let owner = token_owner(payout_account).unwrap_or_default();
    if !pay_if_open(
        v.token_program,
        market,
        v.payment_vault,
        payout_account,
        &owner,
        to_provider,
    )? {
        to_treasury = math::add(to_treasury, to_provider)?;
        to_provider = 0;
    }
    market.totals.on_dispute_settled(bond, true, to_treasury)?;
    Ok((to_provider, to_treasury))
}

/// The challenger's bond back (it won, or there was no ruling) to the account it
/// recorded at the challenge; the treasury's if that account can no longer receive.
pub fn return_bond<'info>(
    v: &Vaults<'_, 'info>,
    market: &mut Account<'info, Market>,
    challenger_payment: &AccountInfo<'info>,
    challenger: &Pubkey,
    bond: u64,
) -> Result<()> {
    let returned = pay_if_open(
        v.token_program,
        market,
        v.payment_vault,
        challenger_payment,
        challenger,
        bond,
    )?;
    market
        .totals
        .on_dispute_settled(bond, !returned, if returned { 0 } else { bond })
}

/// A slashed provider's job or segment is not paid: its price back to the buyer's
/// recorded account (the treasury's, as a forfeited refund, if that account can no
/// longer receive) and its crank bounty to the settler, whose account is checked here.
#[allow(clippy::too_many_arguments)]
pub fn refund_price_pay_bounty<'info>(
    v: &Vaults<'_, 'info>,
    market: &mut Account<'info, Market>,
    refund: u64,
    buyer_payment: &AccountInfo<'info>,
    buyer: &Pubkey,
    bounty: u64,
    settler_payment: &AccountInfo<'info>,
    settler: &Pubkey,
) -> Result<()> {
    if !pay_if_open(
        v.token_program,
        market,
        v.payment_vault,
        buyer_payment,
        buyer,
        refund,
    )? {
        market.totals.accrue_forfeited_refund(refund)?;
    }
    if bounty > 0 {
        let mint = market.payment_mint;
        expect_token_account(settler_payment, &mint, settler)?;
        pay_from_vault_to(
            v.token_program,
            market,
            v.payment_vault,
            settler_payment.clone(),
            bounty,
        )?;
        market.totals.bounties_paid = math::add(market.totals.bounties_paid, bounty)?;
    }
    Ok(())
}
