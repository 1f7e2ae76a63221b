//! Draws a refereed dispute's referees (anyone) from the hash of the first slot at or
//! after its draw slot, read from the SlotHashes sysvar (its address checked, so a forged
//! account cannot pick the referees). If that slot's hash has left the sysvar (it keeps
//! the last 512), the draw slot moves to the next slot and nothing is drawn yet: the
//! seed is always a hash that did not exist when the draw slot was set.

use anchor_lang::prelude::*;
use anchor_lang::solana_program::sysvar::SysvarId;

use crate::constants::*;
use crate::errors::MarketError;
use crate::events::DisputeDrawn;
use crate::math;
use crate::state::{Dispute, Job, Market, Provider, RefereePool};

#[derive(Accounts)]
pub struct DisputeDraw<'info> {
    pub market: Box<Account<'info, Market>>,
    #[account(
        has_one = market @ MarketError::WrongMarket,
        constraint = job.dispute == dispute.key() @ MarketError::WrongDispute
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, has_one = job @ MarketError::WrongDispute)]
    pub dispute: Box<Account<'info, Dispute>>,
    /// The disputed provider: its owner's seats are left out of the draw.
    #[account(address = dispute.provider @ MarketError::WrongProvider)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        seeds = [REFEREE_POOL_SEED, market.key().as_ref()],
        bump = pool.bump,
        has_one = market @ MarketError::WrongMarket
    )]
    pub pool: Box<Account<'info, RefereePool>>,
    /// CHECK: the SlotHashes sysvar, by address; read as raw bytes.
    #[account(address = SlotHashes::id() @ MarketError::WrongSysvar)]
    pub slot_hashes: UncheckedAccount<'info>,
}

/// What SlotHashes says about the draw slot.
#[derive(Debug, PartialEq, Eq)]
pub enum DrawSeed {
    /// The hash of the first slot at or after the draw slot.
    Ready([u8; 32]),
    /// No slot at or after the draw slot has a hash yet.
    NotYet,
    /// The sysvar is full and its oldest slot is after the draw slot: the hash that
    /// should draw may be gone, so the draw is rescheduled.
    Expired,
}

/// Reads SlotHashes' bytes (a u64 count, then (slot u64, hash) pairs, newest first).
pub fn draw_seed(data: &[u8], draw_slot: u64) -> Result<DrawSeed> {
    const ENTRY: usize = 8 + 32;
    let count = data
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or(MarketError::WrongSysvar)? as usize;
    let entries = data
        .get(8..)
        .ok_or(MarketError::WrongSysvar)?
        .chunks_exact(ENTRY)
        .take(count)
        .map(|e| {
            let slot = u64::from_le_bytes(e[..8].try_into().expect("8 bytes"));
            let hash: [u8; 32] = e[8..].try_into().expect("32 bytes");
            (slot, hash)
        });
    let mut found = None;
    let mut oldest = u64::MAX;
    let mut seen = 0usize;
    for (slot, hash) in entries {
        seen = seen.saturating_add(1);
        oldest = slot;
        if slot >= draw_slot {
            found = Some(hash);
        }
    }
    Ok(match found {
        None => DrawSeed::NotYet,
        Some(_) if seen >= SLOT_HASHES_MAX_ENTRIES && oldest > draw_slot => DrawSeed::Expired,
        Some(hash) => DrawSeed::Ready(hash),
    })
}

impl DisputeDraw<'_> {
    pub fn validate(&self) -> Result<()> {
        require!(
            self.dispute.is_refereed(&self.job),
            MarketError::NotRefereed
        );
        require!(
            !self.dispute.referee.drawn,
            MarketError::RefereesAlreadyDrawn
        );
        Ok(())
    }

    pub fn handle(ctx: Context<Self>) -> Result<()> {
        ctx.accounts.validate()?;
        let clock = Clock::get()?;
        let a = &mut *ctx.accounts;
        let seed = {
            let data = a.slot_hashes.try_borrow_data()?;
            draw_seed(&data, a.dispute.referee.draw_slot)?
        };
        let hash = match seed {
            DrawSeed::Ready(hash) => hash,
            DrawSeed::NotYet => return err!(MarketError::DrawNotReady),
            DrawSeed::Expired => {
                a.dispute.referee.draw_slot = clock
                    .slot
                    .checked_add(REFEREE_DRAW_DELAY_SLOTS)
                    .ok_or(MarketError::MathOverflow)?;
                msg!(
                    "draw slot's hash expired; redrawing at slot {}",
                    a.dispute.referee.draw_slot
                );
                return Ok(());
            }
        };
        let dispute_key = a.dispute.key();
        let seed = solana_sha256_hasher::hashv(&[&hash, dispute_key.as_ref()]).to_bytes();
        let excluded = [a.dispute.provider, a.provider.owner, a.dispute.challenger];
        let (referees, count) = a.pool.draw(&seed, &excluded)?;
        let timeout = a.job.terms.dispute_timeout;
        let r = &mut a.dispute.referee;
        r.drawn = true;
        r.count = count;
        r.referees = referees;
        r.commit_deadline = math::add_i64(clock.unix_timestamp, timeout)?;
        r.reveal_deadline = math::add_i64(r.commit_deadline, timeout)?;
        crate::emit_event!(DisputeDrawn {
            dispute: dispute_key,
            job: a.job.key(),
            referees,
            count,
            commit_deadline: r.commit_deadline,
            reveal_deadline: r.reveal_deadline,
            timestamp: clock.unix_timestamp,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysvar(entries: &[(u64, u8)]) -> Vec<u8> {
        let mut d = (entries.len() as u64).to_le_bytes().to_vec();
        for (slot, h) in entries {
            d.extend_from_slice(&slot.to_le_bytes());
            d.extend_from_slice(&[*h; 32]);
        }
        d
    }

    #[test]
    fn the_first_slot_at_or_after_the_draw_slot_draws() {
        // Newest first; slot 11 was skipped, so a draw at 11 takes slot 12's hash.
        let d = sysvar(&[(13, 3), (12, 2), (10, 1)]);
        assert_eq!(draw_seed(&d, 11).unwrap(), DrawSeed::Ready([2; 32]));
        assert_eq!(draw_seed(&d, 10).unwrap(), DrawSeed::Ready([1; 32]));
        assert_eq!(draw_seed(&d, 14).unwrap(), DrawSeed::NotYet);
        assert!(draw_seed(&[1, 2], 1).is_err());
    }

    #[test]
    fn a_hash_that_left_a_full_sysvar_reschedules_the_draw() {
        let entries: Vec<(u64, u8)> = (0..SLOT_HASHES_MAX_ENTRIES as u64)
            .map(|i| (1_000 - i, 7))
            .collect();
        let d = sysvar(&entries);
        let oldest = 1_000 - SLOT_HASHES_MAX_ENTRIES as u64 + 1;
        assert_eq!(draw_seed(&d, oldest - 1).unwrap(), DrawSeed::Expired);
        assert_eq!(draw_seed(&d, oldest).unwrap(), DrawSeed::Ready([7; 32]));
    }
}
