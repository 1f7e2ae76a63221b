//! Refereed re-execution: how the chain settles a dispute over a result it cannot
//! recompute (a `cuda-kernel` job), and the pool it draws referees from.
//!
//! ```text
//! referee_join (provider owner: locks part of its free stake as referee weight)
//! job_challenge (anyone, within the window: the dispute's draw slot is the next slot)
//!   -> dispute_draw (anyone, once the draw slot's hash is in SlotHashes): up to
//!      REFEREES_PER_DISPUTE referees, drawn by weight without replacement, never the
//!      disputed provider or the challenger
//!   -> referee_commit (each drawn referee's worker: sha256(root || salt || provider))
//!   -> referee_reveal (once every referee committed or the commit deadline passed)
//!   -> dispute_settle (anyone): the root at least REFEREE_QUORUM referees revealed
//!      decides; no such root by the reveal deadline: no ruling (`RefereeVerdict::None`)
//! ```
//!
//! Randomness: the hash of the first slot at or after the draw slot, which did not exist
//! when the challenge landed. Its limit: the leader of that slot can choose to produce it
//! or skip it (and so pick between two draws), and a leader that also challenges could
//! time its challenge; a referee pool several times larger than the share of weight any
//! one party controls keeps what that buys small. docs/design.md, "Refereed re-execution".

use anchor_lang::prelude::*;

use crate::constants::{REFEREES_PER_DISPUTE, REFEREE_POOL_CAPACITY};
use crate::errors::MarketError;
use crate::math;

/// One provider's seat in the pool.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, Default, PartialEq)]
pub struct RefereeSeat {
    /// The `Provider` account.
    pub provider: Pubkey,
    /// Its owner, so the draw can leave out every account of a disputed party.
    pub owner: Pubkey,
    /// Stake locked as referee weight (`Provider::referee_stake`), stake-mint units.
    pub weight: u64,
    /// Disputes it was drawn for that have not settled yet; it cannot leave before 0.
    pub duties: u16,
}

/// The market's referee pool: `[REFEREE_POOL_SEED, market]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct RefereePool {
    pub market: Pubkey,
    /// Seats in use: `seats[..len]`.
    pub len: u16,
    pub seats: [RefereeSeat; REFEREE_POOL_CAPACITY],
    pub bump: u8,
}

impl RefereePool {
    pub fn seats(&self) -> &[RefereeSeat] {
        &self.seats[..self.len as usize]
    }

    fn position(&self, provider: &Pubkey) -> Option<usize> {
        self.seats().iter().position(|s| s.provider == *provider)
    }

    pub fn seat_mut(&mut self, provider: &Pubkey) -> Result<&mut RefereeSeat> {
        let i = self
            .position(provider)
            .ok_or(MarketError::RefereeNotInPool)?;
        Ok(&mut self.seats[i])
    }

    /// Seats a provider with `weight` of locked stake.
    pub fn join(&mut self, provider: Pubkey, owner: Pubkey, weight: u64) -> Result<()> {
        require!(weight > 0, MarketError::AmountZero);
        require!(
            self.position(&provider).is_none(),
            MarketError::RefereeAlreadyInPool
        );
        let len = self.len as usize;
        require!(len < REFEREE_POOL_CAPACITY, MarketError::RefereePoolFull);
        self.seats[len] = RefereeSeat {
            provider,
            owner,
            weight,
            duties: 0,
        };
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    /// Removes a provider with no open duty; returns its weight (to unlock).
    pub fn leave(&mut self, provider: &Pubkey) -> Result<u64> {
        let i = self
            .position(provider)
            .ok_or(MarketError::RefereeNotInPool)?;
        require!(self.seats[i].duties == 0, MarketError::RefereeHasDuties);
        let weight = self.seats[i].weight;
        let last = self.len.saturating_sub(1) as usize;
        self.seats[i] = self.seats[last];
        self.seats[last] = RefereeSeat::default();
        self.len = last as u16;
        Ok(weight)
    }

    /// Draws up to `REFEREES_PER_DISPUTE` seats by weight, without replacement, from
    /// those whose provider and owner are not in `excluded`. `seed` is the slot hash
    /// mixed with the dispute's address; draw `i` takes the first 8 bytes of
    /// `sha256(seed || i)` modulo the eligible weight left (the modulo bias is below
    /// total weight / 2^64). Each drawn seat gets a duty. Returns the providers drawn.
    pub fn draw(
        &mut self,
        seed: &[u8; 32],
        excluded: &[Pubkey],
    ) -> Result<([Pubkey; REFEREES_PER_DISPUTE], u8)> {
        let mut eligible: Vec<usize> = (0..self.len as usize)
            .filter(|&i| {
                let s = &self.seats[i];
                s.weight > 0 && !excluded.contains(&s.provider) && !excluded.contains(&s.owner)
            })
            .collect();
        let mut drawn = [Pubkey::default(); REFEREES_PER_DISPUTE];
        let mut count = 0u8;
        for (round, slot) in drawn.iter_mut().enumerate() {
            let total = eligible
                .iter()
                .try_fold(0u64, |t, &i| math::add(t, self.seats[i].weight))?;
            if total == 0 {
                break;
            }
            let h = solana_sha256_hasher::hashv(&[seed, &[round as u8]]).to_bytes();
            let mut r = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"))
                .checked_rem(total)
                .ok_or(MarketError::MathOverflow)?;
            let pick = eligible
                .iter()
                .position(|&i| {
                    let w = self.seats[i].weight;
                    if r < w {
                        true
                    } else {
                        r = r.saturating_sub(w);
                        false
                    }
                })
                .ok_or(MarketError::MathOverflow)?;
            let seat = eligible.swap_remove(pick);
            let s = &mut self.seats[seat];
            s.duties = s.duties.checked_add(1).ok_or(MarketError::MathOverflow)?;
            *slot = s.provider;
            count = count.saturating_add(1);
        }
        Ok((drawn, count))
    }
}

/// The referee side of a `Dispute` (all zero for a GEMM dispute, which the chain rules on
/// itself).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, Default, PartialEq)]
pub struct RefereeRound {
    /// The referees are drawn from the hash of the first slot at or after this one.
    pub draw_slot: u64,
    pub drawn: bool,
    /// Referees drawn: `referees[..count]`.
    pub count: u8,
    /// Their `Provider` accounts.
    pub referees: [Pubkey; REFEREES_PER_DISPUTE],
    /// Their payout accounts, recorded at the commit (the bond's referee share goes there).
    pub payouts: [Pubkey; REFEREES_PER_DISPUTE],
    pub commitments: [[u8; 32]; REFEREES_PER_DISPUTE],
    pub roots: [[u8; 32]; REFEREES_PER_DISPUTE],
    /// Bit `i`: referee `i` committed / revealed.
    pub committed: u8,
    pub revealed: u8,
    pub commit_deadline: i64,
    pub reveal_deadline: i64,
}

/// Referee `i`'s bit in `RefereeRound::committed` and `revealed`.
const fn bit(i: usize) -> u8 {
    if i < 8 {
        1u8 << i
    } else {
        0
    }
}

/// What the referees decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefereeVerdict {
    /// At least `REFEREE_QUORUM` referees revealed the provider's own root.
    Upheld,
    /// At least `REFEREE_QUORUM` referees revealed one other root.
    Overturned,
    /// Neither: too few referees drawn, committed or revealed, or no root with a quorum.
    None,
}

/// What a referee commits to: `sha256(root || salt || provider)`. The provider's address
/// binds the commitment to its seat, so another referee cannot replay it.
pub fn referee_commitment(root: &[u8; 32], salt: &[u8; 32], provider: &Pubkey) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[root, salt, provider.as_ref()]).to_bytes()
}

impl RefereeRound {
    pub fn index_of(&self, provider: &Pubkey) -> Result<usize> {
        self.referees[..self.count as usize]
            .iter()
            .position(|r| r == provider)
            .ok_or_else(|| error!(MarketError::NotADrawnReferee))
    }

    fn all(&self) -> u8 {
        (1u16 << self.count).saturating_sub(1) as u8
    }

    pub fn has_committed(&self, i: usize) -> bool {
        self.committed & bit(i) != 0
    }

    pub fn has_revealed(&self, i: usize) -> bool {
        self.revealed & bit(i) != 0
    }

    /// Commits are taken until the commit deadline (on time at its second).
    pub fn commit_open_at(&self, now: i64) -> bool {
        crate::state::on_time(now, self.commit_deadline)
    }

    /// The commit phase is over: every drawn referee committed, or its deadline passed.
    pub fn commit_phase_over_at(&self, now: i64) -> bool {
        self.committed == self.all() || !self.commit_open_at(now)
    }

    /// Reveals are taken once the commit phase is over and until the reveal deadline.
    pub fn reveal_open_at(&self, now: i64) -> bool {
        self.commit_phase_over_at(now) && crate::state::on_time(now, self.reveal_deadline)
    }

    pub fn commit(
        &mut self,
        i: usize,
        commitment: [u8; 32],
        payout: Pubkey,
        now: i64,
    ) -> Result<()> {
        require!(self.commit_open_at(now), MarketError::RefereeWindowClosed);
        require!(!self.has_committed(i), MarketError::RefereeAlreadyCommitted);
        self.commitments[i] = commitment;
        self.payouts[i] = payout;
        self.committed |= bit(i);
        Ok(())
    }

    /// Reveals are taken once the commit phase is over (every referee committed, or its
    /// deadline passed), so no referee sees another's root before committing its own.
    pub fn reveal(
        &mut self,
        i: usize,
        provider: &Pubkey,
        root: [u8; 32],
        salt: [u8; 32],
        now: i64,
    ) -> Result<()> {
        require!(self.has_committed(i), MarketError::RefereeNotCommitted);
        require!(!self.has_revealed(i), MarketError::RefereeAlreadyRevealed);
        require!(
            self.commit_phase_over_at(now),
            MarketError::RefereeCommitPhaseOpen
        );
        require!(
            crate::state::on_time(now, self.reveal_deadline),
            MarketError::RefereeWindowClosed
        );
        require!(
            referee_commitment(&root, &salt, provider) == self.commitments[i],
            MarketError::RefereeRevealMismatch
        );
        self.roots[i] = root;
        self.revealed |= bit(i);
        Ok(())
    }

    /// Every drawn referee revealed, or the reveal deadline passed: the round is over.
    pub fn finished_at(&self, now: i64) -> bool {
        self.drawn
            && (self.revealed == self.all() || !crate::state::on_time(now, self.reveal_deadline))
    }

    /// The verdict of the revealed roots against the provider's `result_root`.
    pub fn verdict(&self, result_root: &[u8; 32]) -> RefereeVerdict {
        let revealed: Vec<&[u8; 32]> = (0..self.count as usize)
            .filter(|&i| self.has_revealed(i))
            .map(|i| &self.roots[i])
            .collect();
        let votes = |root: &[u8; 32]| revealed.iter().filter(|r| **r == root).count();
        if votes(result_root) >= crate::constants::REFEREE_QUORUM {
            return RefereeVerdict::Upheld;
        }
        if revealed
            .iter()
            .any(|r| *r != result_root && votes(r) >= crate::constants::REFEREE_QUORUM)
        {
            return RefereeVerdict::Overturned;
        }
        RefereeVerdict::None
    }

    /// Referees that revealed the decided root (they share the referee reward).
    pub fn majority(&self, result_root: &[u8; 32], verdict: RefereeVerdict) -> Vec<usize> {
        (0..self.count as usize)
            .filter(|&i| self.has_revealed(i))
            .filter(|&i| match verdict {
                RefereeVerdict::Upheld => self.roots[i] == *result_root,
                RefereeVerdict::Overturned => self.roots[i] != *result_root,
                RefereeVerdict::None => false,
            })
            .collect()
    }

    /// Referees that committed and did not reveal by the deadline (they lose a penalty).
    pub fn silent_committers(&self) -> Vec<usize> {
        (0..self.count as usize)
            .filter(|&i| self.has_committed(i) && !self.has_revealed(i))
            .collect()
    }
}

/// The part of a referee's seat weight a commit without a reveal costs it.
pub fn no_reveal_penalty(weight: u64) -> Result<u64> {
    math::bps_ceil(weight, crate::constants::REFEREE_NO_REVEAL_BPS as u64)
}

/// `REFEREE_SHARE_BPS` of `pot` (rounded down), split equally among `n` referees:
/// (each, dust). The dust (the rounding remainder) stays with the pot.
pub fn referee_shares(pot: u64, n: usize) -> Result<(u64, u64)> {
    if n == 0 {
        return Ok((0, 0));
    }
    let total = math::bps_floor(pot, crate::constants::REFEREE_SHARE_BPS as u64)?;
    let each = total.checked_div(n as u64).unwrap_or(0);
    let paid = each
        .checked_mul(n as u64)
        .ok_or(MarketError::MathOverflow)?;
    Ok((each, math::sub(total, paid)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(weights: &[u64]) -> (RefereePool, Vec<Pubkey>) {
        let mut p = RefereePool {
            market: Pubkey::default(),
            len: 0,
            seats: [RefereeSeat::default(); REFEREE_POOL_CAPACITY],
            bump: 0,
        };
        let keys: Vec<Pubkey> = weights.iter().map(|_| Pubkey::new_unique()).collect();
        for (k, w) in keys.iter().zip(weights) {
            p.join(*k, Pubkey::new_unique(), *w).unwrap();
        }
        (p, keys)
    }

    #[test]
    fn the_draw_leaves_out_excluded_seats_and_never_repeats_one() {
        let (mut p, keys) = pool(&[5, 5, 5, 5, 5]);
        for s in 0..50u8 {
            let (drawn, n) = p.draw(&[s; 32], &[keys[0], keys[3]]).unwrap();
            assert_eq!(n, 3);
            assert!(!drawn.contains(&keys[0]) && !drawn.contains(&keys[3]));
            assert!(drawn[0] != drawn[1] && drawn[1] != drawn[2] && drawn[0] != drawn[2]);
        }
        // Excluding by owner works the same.
        let owner = p.seats[1].owner;
        let (drawn, n) = p.draw(&[9; 32], &[owner]).unwrap();
        assert_eq!(n, 3);
        assert!(!drawn.contains(&keys[1]));
    }

    #[test]
    fn the_draw_follows_the_weights() {
        // One seat with 3/4 of the weight is first pick about 3/4 of the time.
        let (mut p, keys) = pool(&[300, 50, 50]);
        let firsts = (0..2_000u32)
            .filter(|s| {
                let mut seed = [0u8; 32];
                seed[..4].copy_from_slice(&s.to_le_bytes());
                p.draw(&seed, &[]).unwrap().0[0] == keys[0]
            })
            .count();
        assert!((1_380..=1_620).contains(&firsts), "{firsts} of 2000");
    }

    #[test]
    fn a_small_pool_draws_what_it_has_and_duties_block_leaving() {
        let (mut p, keys) = pool(&[7, 9]);
        let (drawn, n) = p.draw(&[1; 32], &[keys[1]]).unwrap();
        assert_eq!((n, drawn[0]), (1, keys[0]));
        assert_eq!(
            p.leave(&keys[0]).unwrap_err(),
            error!(MarketError::RefereeHasDuties)
        );
        p.seat_mut(&keys[0]).unwrap().duties = 0;
        assert_eq!(p.leave(&keys[0]).unwrap(), 7);
        assert_eq!(p.seats().len(), 1);
        assert_eq!(p.seats()[0].provider, keys[1]);
    }

    #[test]
    fn a_full_pool_and_a_second_seat_are_refused() {
        let (mut p, keys) = pool(&[1; REFEREE_POOL_CAPACITY]);
        assert_eq!(
            p.join(Pubkey::new_unique(), Pubkey::new_unique(), 1)
                .unwrap_err(),
            error!(MarketError::RefereePoolFull)
        );
        p.leave(&keys[0]).unwrap();
        assert_eq!(
            p.join(keys[1], Pubkey::new_unique(), 1).unwrap_err(),
            error!(MarketError::RefereeAlreadyInPool)
        );
    }

    fn round(count: u8) -> (RefereeRound, Vec<Pubkey>) {
        let keys: Vec<Pubkey> = (0..count).map(|_| Pubkey::new_unique()).collect();
        let mut r = RefereeRound {
            drawn: true,
            count,
            commit_deadline: 100,
            reveal_deadline: 200,
            ..Default::default()
        };
        r.referees[..count as usize].copy_from_slice(&keys);
        (r, keys)
    }

    #[test]
    fn reveals_wait_for_the_commit_phase_and_must_match_the_commitment() {
        let (mut r, keys) = round(3);
        let (root, salt) = ([7u8; 32], [8u8; 32]);
        r.commit(
            0,
            referee_commitment(&root, &salt, &keys[0]),
            Pubkey::default(),
            50,
        )
        .unwrap();
        assert_eq!(
            r.reveal(0, &keys[0], root, salt, 60).unwrap_err(),
            error!(MarketError::RefereeCommitPhaseOpen)
        );
        // Another referee's key, or another root, does not open the commitment.
        assert_eq!(
            r.reveal(0, &keys[1], root, salt, 101).unwrap_err(),
            error!(MarketError::RefereeRevealMismatch)
        );
        assert_eq!(
            r.reveal(0, &keys[0], [6; 32], salt, 101).unwrap_err(),
            error!(MarketError::RefereeRevealMismatch)
        );
        r.reveal(0, &keys[0], root, salt, 101).unwrap();
        assert_eq!(
            r.commit(1, [0; 32], Pubkey::default(), 101).unwrap_err(),
            error!(MarketError::RefereeWindowClosed)
        );
        assert!(!r.finished_at(200) && r.finished_at(201));
    }

    #[test]
    fn the_root_with_a_quorum_decides() {
        let provider_root = [1u8; 32];
        let cases: [(&[[u8; 32]], RefereeVerdict); 6] = [
            (&[[1; 32], [1; 32], [2; 32]], RefereeVerdict::Upheld),
            (&[[2; 32], [2; 32], [1; 32]], RefereeVerdict::Overturned),
            (&[[2; 32], [3; 32], [1; 32]], RefereeVerdict::None),
            (&[[2; 32], [2; 32]], RefereeVerdict::Overturned),
            (&[[1; 32]], RefereeVerdict::None),
            (&[], RefereeVerdict::None),
        ];
        for (roots, want) in cases {
            let (mut r, _) = round(3);
            for (i, root) in roots.iter().enumerate() {
                r.roots[i] = *root;
                r.committed |= 1 << i;
                r.revealed |= 1 << i;
            }
            assert_eq!(r.verdict(&provider_root), want, "{roots:?}");
            let majority = r.majority(&provider_root, want);
            assert_eq!(
                majority.len(),
                match want {
                    RefereeVerdict::None => 0,
                    _ => 2,
                },
                "{roots:?}"
            );
        }
    }

    #[test]
    fn referee_shares_split_evenly_and_keep_the_dust() {
        // 20% of 1,001 is 200 (rounded down); 3 referees take 66 each, 2 stays.
        assert_eq!(referee_shares(1_001, 3).unwrap(), (66, 2));
        assert_eq!(referee_shares(1_000, 0).unwrap(), (0, 0));
        assert_eq!(no_reveal_penalty(1_000).unwrap(), 50);
    }
}
