//! Money and reputation math, as pure functions.
//!
//! Amounts are token base units (u64); rates are basis points of
//! [`BPS_DENOMINATOR`]. Every operation is checked and widens to u128 where a
//! product could overflow. Rounding always favours the protocol's solvency:
//! fees and bonds round up, payouts and slash shares round down, and whatever
//! rounding leaves over goes to the treasury, never out of thin air.

use anchor_lang::prelude::*;

use crate::constants::{BPS_DENOMINATOR, DISPUTE_PENALTY_WEIGHT, EXPIRY_PENALTY_WEIGHT};
use crate::errors::MarketError;

/// A `MathOverflow` that names the line that overflowed: with `#[track_caller]`
/// on the checked operations below, that is their caller's line, which Anchor
/// logs with the error ("thrown in programs/gpu-market/src/state/provider.rs:123")
/// instead of this file's.
#[track_caller]
fn overflow() -> Error {
    let at = core::panic::Location::caller();
    error!(MarketError::MathOverflow).with_source(anchor_lang::error::Source {
        filename: at.file(),
        line: at.line(),
    })
}

// The checked operations match instead of calling `ok_or_else(overflow)`: a
// location is only forwarded through functions marked `#[track_caller]`, and
// `Option::ok_or_else` is not one.

#[track_caller]
pub fn add(a: u64, b: u64) -> Result<u64> {
    match a.checked_add(b) {
        Some(v) => Ok(v),
        None => Err(overflow()),
    }
}

#[track_caller]
pub fn sub(a: u64, b: u64) -> Result<u64> {
    match a.checked_sub(b) {
        Some(v) => Ok(v),
        None => Err(overflow()),
    }
}

#[track_caller]
pub fn add_i64(a: i64, b: i64) -> Result<i64> {
    match a.checked_add(b) {
        Some(v) => Ok(v),
        None => Err(overflow()),
    }
}

fn narrow(x: u128) -> Result<u64> {
    u64::try_from(x).map_err(|_| error!(MarketError::MathOverflow))
}

/// `ceil(amount * bps / 10_000)`.
pub fn bps_ceil(amount: u64, bps: u64) -> Result<u64> {
    let num = (amount as u128)
        .checked_mul(bps as u128)
        .ok_or_else(|| error!(MarketError::MathOverflow))?;
    narrow(num.div_ceil(BPS_DENOMINATOR as u128))
}

/// `floor(amount * bps / 10_000)`.
pub fn bps_floor(amount: u64, bps: u64) -> Result<u64> {
    let num = (amount as u128)
        .checked_mul(bps as u128)
        .ok_or_else(|| error!(MarketError::MathOverflow))?;
    narrow(num.checked_div(BPS_DENOMINATOR as u128).unwrap_or(0))
}

/// The protocol fee on a job's price, rounded up. Never exceeds the price
/// while `fee_bps <= 10_000` (the market caps it far lower).
pub fn fee_for(price: u64, fee_bps: u16) -> Result<u64> {
    bps_ceil(price, fee_bps as u64)
}

/// What the provider receives for a finalized job: price minus fee.
pub fn payout_for(price: u64, fee_bps: u16) -> Result<u64> {
    sub(price, fee_for(price, fee_bps)?)
}

/// The bond a provider locks from its stake when it claims a job:
/// `max(bond_min, ceil(price * bond_bps / 10_000))`, in stake-mint base units.
pub fn bond_for(price: u64, bond_bps: u32, bond_min: u64) -> Result<u64> {
    Ok(bps_ceil(price, bond_bps as u64)?.max(bond_min))
}

/// What the buyer deposits when posting: the price plus the crank bounty that
/// pays whoever settles the job.
pub fn escrow_for(price: u64, crank_bounty: u64) -> Result<u64> {
    add(price, crank_bounty)
}

/// What the buyer deposits for a segmented job's segments: each segment's price plus
/// one crank bounty, since each segment is settled (paid) by its own transaction.
pub fn segments_escrow(prices: impl IntoIterator<Item = u64>, crank_bounty: u64) -> Result<u64> {
    prices.into_iter().try_fold(0u64, |sum, price| {
        add(sum, escrow_for(price, crank_bounty)?)
    })
}

/// Metered GPU time of a committed segment: whole seconds of wall clock from its start
/// to its commit times the provider's GPU count at the start, milliseconds. A segment
/// commits no metering of its own; a checkpoint's step count, not this, says how much
/// work it holds. Saturates (a figure for the books, never a payment).
pub fn segment_gpu_ms(started_at: i64, committed_at: i64, gpu_count: u16) -> u64 {
    let elapsed = committed_at.saturating_sub(started_at).max(0) as u128;
    let ms = elapsed
        .saturating_mul(crate::constants::MS_PER_SECOND as u128)
        .saturating_mul(gpu_count.max(1) as u128);
    ms.min(u64::MAX as u128) as u64
}

/// How a slashed amount is divided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlashSplit {
    /// To the wronged buyer.
    pub buyer: u64,
    /// To whoever reported the fault (the crank that expired the job, or a challenger).
    pub reporter: u64,
    /// To the market's slash account: the rest, including rounding dust.
    pub treasury: u64,
}

/// Split `amount` by the market's rule; the shares always sum to `amount`.
/// Requires `buyer_bps + reporter_bps <= 10_000` (enforced on the market).
pub fn slash_split(amount: u64, buyer_bps: u16, reporter_bps: u16) -> Result<SlashSplit> {
    let buyer = bps_floor(amount, buyer_bps as u64)?;
    let reporter = bps_floor(amount, reporter_bps as u64)?;
    let treasury = sub(sub(amount, buyer)?, reporter)?;
    Ok(SlashSplit {
        buyer,
        reporter,
        treasury,
    })
}

/// The most GPU time a provider may meter for a job: whole seconds of wall
/// clock from claim to submission, plus one second of grace for sub-second
/// jobs, times its GPU count, in milliseconds. Metering is self-reported; this
/// bound keeps utilization figures derived from it physically possible.
pub fn max_metered_ms(claimed_at: i64, now: i64, gpu_count: u16) -> u64 {
    let elapsed = now.saturating_sub(claimed_at).max(0) as u128;
    let bound = elapsed
        .saturating_add(1)
        .saturating_mul(crate::constants::MS_PER_SECOND as u128)
        .saturating_mul(gpu_count.max(1) as u128);
    // An upper bound that does not fit u64 bounds nothing: saturate.
    bound.min(u64::MAX as u128) as u64
}

/// Reputation score in basis points (0..=10_000), derived only from on-chain
/// counters so that anyone can recompute it, every term weighted by value
/// (payment-mint units), never by job counts:
///
/// ```text
/// penalty     = 3 * forfeited_fees + 5 * disputed_fees
/// reliability = fees_paid * 10_000 / (fees_paid + penalty)
/// confidence  = fees_paid * 10_000 / (fees_paid + score_fee_scale)
/// score       = reliability * confidence / 10_000
/// ```
///
/// `fees_paid` are the protocol fees of the provider's completed jobs;
/// `forfeited_fees` the fees its expired claims would have paid (the fee of the
/// job at its frozen rate), `disputed_fees` those of lost disputes. An expiry
/// of a job of price P costs reliability as much as 3 * fee(P) of fees paid
/// earns back, so dust jobs (fee 1 each) cannot wash it out cheaply: holding
/// reliability r after forfeiting F takes `3 F r / (1 - r)` in fees paid to
/// the protocol. Confidence is the same fees against `score_fee_scale`: half
/// confidence costs the scale in fees. See docs/security.md for the arithmetic.
pub fn reputation_score(
    fees_paid: u64,
    forfeited_fees: u64,
    disputed_fees: u64,
    score_fee_scale: u64,
) -> u32 {
    // u64 counters widened to u128 cannot overflow these sums and products;
    // saturating ops keep the arithmetic lint-clean all the same.
    let bps = BPS_DENOMINATOR as u128;
    if fees_paid == 0 {
        return 0;
    }
    let paid = fees_paid as u128;
    let denom = paid
        .saturating_add((EXPIRY_PENALTY_WEIGHT as u128).saturating_mul(forfeited_fees as u128))
        .saturating_add((DISPUTE_PENALTY_WEIGHT as u128).saturating_mul(disputed_fees as u128));
    let reliability = paid.saturating_mul(bps).checked_div(denom).unwrap_or(0);
    let confidence = paid
        .saturating_mul(bps)
        .checked_div(paid.saturating_add(score_fee_scale.max(1) as u128))
        .unwrap_or(0);
    // Both factors are <= 10_000, so the result is <= 10_000.
    reliability
        .saturating_mul(confidence)
        .checked_div(bps)
        .unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file and line an overflow error reports.
    fn origin(e: Error) -> (String, u32) {
        match e {
            Error::AnchorError(a) => match a.error_origin {
                Some(anchor_lang::error::ErrorOrigin::Source(s)) => {
                    (s.filename.to_string(), s.line)
                }
                o => panic!("no source origin: {o:?}"),
            },
            e => panic!("not an AnchorError: {e:?}"),
        }
    }

    #[test]
    fn overflow_reports_the_callers_line() {
        let (file, line) = origin(add(u64::MAX, 1).unwrap_err());
        assert_eq!((file.as_str(), line), (file!(), line!() - 1));
        let (_, line) = origin(sub(0, 1).unwrap_err());
        assert_eq!(line, line!() - 1);
        let (_, line) = origin(add_i64(i64::MAX, 1).unwrap_err());
        assert_eq!(line, line!() - 1);
        // Through a transition: the line in provider.rs that added, not math.rs.
        let mut p = crate::state::Provider {
            stake: u64::MAX,
            ..provider_for_overflow()
        };
        let (file, _) = origin(p.add_stake(1).unwrap_err());
        assert!(file.ends_with("state/provider.rs"), "{file}");
    }

    fn provider_for_overflow() -> crate::state::Provider {
        crate::state::Provider {
            market: Pubkey::default(),
            owner: Pubkey::default(),
            worker: Pubkey::default(),
            payout_account: Pubkey::default(),
            stake: 0,
            locked: 0,
            pending_unstake: 0,
            unstake_release_at: 0,
            gpu: crate::state::GpuDescriptor::default(),
            price_floor: 0,
            max_concurrent: 1,
            active_jobs: 0,
            registered_at: 0,
            last_heartbeat: 0,
            last_heartbeat_slot: 0,
            reputation: crate::state::Reputation::default(),
            bump: 0,
            referee_stake: 0,
        }
    }

    #[test]
    fn fee_rounds_up_and_payout_down() {
        assert_eq!(fee_for(10_000, 250).unwrap(), 250);
        // 1 * 250 / 10_000 = 0.025 -> 1 (protocol favour)
        assert_eq!(fee_for(1, 250).unwrap(), 1);
        assert_eq!(payout_for(1, 250).unwrap(), 0);
        assert_eq!(fee_for(0, 250).unwrap(), 0);
        assert_eq!(fee_for(12_345, 0).unwrap(), 0);
        assert_eq!(fee_for(12_345, 100).unwrap(), 124); // 123.45 -> 124
        assert_eq!(payout_for(12_345, 100).unwrap(), 12_221);
    }

    #[test]
    fn fee_and_payout_never_overflow_at_u64_max() {
        let fee = fee_for(u64::MAX, 2_000).unwrap();
        assert_eq!(fee, (u64::MAX as u128 * 2_000).div_ceil(10_000) as u64);
        assert_eq!(payout_for(u64::MAX, 2_000).unwrap() + fee, u64::MAX);
        assert_eq!(fee_for(u64::MAX, 10_000).unwrap(), u64::MAX);
    }

    #[test]
    fn bond_takes_the_larger_of_rule_and_minimum() {
        assert_eq!(bond_for(1_000, 5_000, 100).unwrap(), 500);
        assert_eq!(bond_for(10, 5_000, 100).unwrap(), 100);
        assert_eq!(bond_for(3, 5_000, 0).unwrap(), 2); // 1.5 -> 2
                                                       // 100x a huge price does not fit u64: a named overflow, not a wrap.
        assert!(bond_for(u64::MAX, 1_000_000, 0).is_err());
        assert_eq!(bond_for(u64::MAX, 10_000, 0).unwrap(), u64::MAX);
    }

    #[test]
    fn escrow_is_checked() {
        assert_eq!(escrow_for(100, 5).unwrap(), 105);
        assert!(escrow_for(u64::MAX, 1).is_err());
    }

    #[test]
    fn slash_shares_sum_to_amount_with_dust_to_treasury() {
        for amount in [0u64, 1, 2, 3, 7, 99, 10_001, 123_456_789, u64::MAX] {
            for (b, r) in [
                (0u16, 0u16),
                (5_000, 1_000),
                (3_333, 3_333),
                (10_000, 0),
                (0, 10_000),
                (9_999, 1),
            ] {
                let s = slash_split(amount, b, r).unwrap();
                assert_eq!(
                    s.buyer as u128 + s.reporter as u128 + s.treasury as u128,
                    amount as u128
                );
                assert!(s.buyer as u128 <= amount as u128 * b as u128 / 10_000);
                assert!(s.reporter as u128 <= amount as u128 * r as u128 / 10_000);
            }
        }
        let s = slash_split(10, 3_333, 3_333).unwrap();
        assert_eq!((s.buyer, s.reporter, s.treasury), (3, 3, 4));
    }

    #[test]
    fn slash_split_rejects_overcommitted_shares_by_error_not_wrap() {
        // buyer + reporter > 100% cannot be paid out of the amount.
        assert!(slash_split(100, 9_000, 9_000).is_err());
    }

    #[test]
    fn segments_escrow_is_checked_per_segment() {
        assert_eq!(segments_escrow([100, 200, 300], 5).unwrap(), 615);
        assert_eq!(segments_escrow([], 5).unwrap(), 0);
        assert!(segments_escrow([u64::MAX - 4, 1], 5).is_err());
        assert!(segments_escrow([u64::MAX / 2, u64::MAX / 2], 2).is_err());
    }

    #[test]
    fn segment_metering() {
        assert_eq!(segment_gpu_ms(100, 160, 2), 120_000);
        assert_eq!(segment_gpu_ms(100, 100, 1), 0);
        assert_eq!(segment_gpu_ms(100, 90, 1), 0);
        assert_eq!(segment_gpu_ms(i64::MIN, i64::MAX, u16::MAX), u64::MAX);
    }

    #[test]
    fn metering_bound() {
        assert_eq!(max_metered_ms(100, 100, 1), 1_000);
        assert_eq!(max_metered_ms(100, 110, 4), 44_000);
        // A clock that went backwards grants only the grace second.
        assert_eq!(max_metered_ms(100, 90, 2), 2_000);
        assert_eq!(max_metered_ms(i64::MIN, i64::MAX, u16::MAX), u64::MAX);
    }

    #[test]
    fn reputation_score_formula() {
        assert_eq!(reputation_score(0, 0, 0, 1_000), 0);
        assert_eq!(reputation_score(0, 5, 0, 1_000), 0);
        // Perfect record, fees equal to the scale: half confidence.
        assert_eq!(reputation_score(1_000, 0, 0, 1_000), 5_000);
        // 1_000 paid, 100 forfeited: reliability 1_000 / 1_300.
        assert_eq!(
            reputation_score(1_000, 100, 0, 1_000),
            7_692 * 5_000 / 10_000
        );
        // A lost dispute hurts more than an expiry of the same value.
        assert!(reputation_score(1_000, 0, 100, 1_000) < reputation_score(1_000, 100, 0, 1_000));
        // More paid volume, more confidence; never above 10_000.
        assert!(reputation_score(9_000, 0, 0, 1_000) > reputation_score(1_000, 0, 0, 1_000));
        assert!(reputation_score(u64::MAX, 0, 0, 1) <= 10_000);
        assert!(reputation_score(u64::MAX, u64::MAX, u64::MAX, u64::MAX) <= 10_000);
    }

    #[test]
    fn dust_fees_do_not_wash_out_a_valuable_expiry() {
        // One expiry of a job whose fee is 250; 100 dust jobs of fee 1 each.
        let after_dust = reputation_score(100, 250, 0, 1);
        // Reliability 100 / 850: far below the 100/103 a count would give.
        assert!(after_dust < 1_200, "{after_dust}");
        // Holding 90% reliability takes 3 * 250 * 9 = 6_750 in fees.
        assert!(reputation_score(6_750, 250, 0, 1) >= 8_990);
        assert!(reputation_score(6_700, 250, 0, 1) < 9_000);
    }
}
