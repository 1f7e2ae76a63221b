//! The accounts a refereed dispute's settlement needs beyond `DisputeSettle`'s, passed as
//! remaining accounts: the market's referee pool, then for each drawn referee in draw
//! order its `Provider` account (writable) and its payout account (the one recorded at
//! its commit; for a referee that never committed, any account: it is not paid).
//! Every one is checked against what the dispute recorded, so no caller can credit or
//! penalize an account the draw did not pick.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::*;
use crate::errors::MarketError;
use crate::math;
use crate::state::{no_reveal_penalty, referee_shares, Dispute, Market, Provider, RefereePool};
use crate::token_ops::{pay_if_open, token_owner};

pub struct RefereeAccounts<'info> {
    pub pool: Account<'info, RefereePool>,
    pub providers: Vec<Account<'info, Provider>>,
    pub payouts: Vec<AccountInfo<'info>>,
}

impl<'info> RefereeAccounts<'info> {
    pub fn load(
        remaining: &'info [AccountInfo<'info>],
        market: &Pubkey,
        dispute: &Dispute,
    ) -> Result<Self> {
        let round = &dispute.referee;
        let count = round.count as usize;
        let (pool_info, pairs) = remaining
            .split_first()
            .ok_or(MarketError::RefereeAccountsMissing)?;
        require!(
            Some(pairs.len()) == count.checked_mul(2),
            MarketError::RefereeAccountsMissing
        );
        require!(pool_info.is_writable, MarketError::RefereeAccountsMissing);
        let pool = Account::<RefereePool>::try_from(pool_info)?;
        let expected = Pubkey::create_program_address(
            &[REFEREE_POOL_SEED, market.as_ref(), &[pool.bump]],
            &crate::ID,
        )
        .map_err(|_| error!(MarketError::RefereeAccountsMissing))?;
        require_keys_eq!(pool.key(), expected, MarketError::RefereeAccountsMissing);
        require_keys_eq!(pool.market, *market, MarketError::WrongMarket);
        let mut providers = Vec::with_capacity(count);
        let mut payouts = Vec::with_capacity(count);
        for (i, pair) in pairs.chunks_exact(2).enumerate() {
            let (info, payout) = (&pair[0], &pair[1]);
            require!(info.is_writable, MarketError::RefereeAccountsMissing);
            require_keys_eq!(
                info.key(),
                round.referees[i],
                MarketError::RefereeAccountsMissing
            );
            providers.push(Account::<Provider>::try_from(info)?);
            if round.has_committed(i) {
                require_keys_eq!(
                    payout.key(),
                    round.payouts[i],
                    MarketError::RefereeAccountsMissing
                );
                require!(payout.is_writable, MarketError::RefereeAccountsMissing);
            }
            payouts.push(payout.clone());
        }
        Ok(RefereeAccounts {
            pool,
            providers,
            payouts,
        })
    }

    /// Credits each referee in `majority` its share of a slash (`pot`, stake mint) to its
    /// stake; the tokens stay in the stake vault. Returns what was credited.
    pub fn credit_slash_shares(&mut self, majority: &[usize], pot: u64) -> Result<u64> {
        let (each, _) = referee_shares(pot, majority.len())?;
        let mut paid = 0u64;
        for &i in majority {
            self.providers[i].credit_referee_reward(each)?;
            paid = math::add(paid, each)?;
        }
        Ok(paid)
    }

    /// Pays each referee in `majority` its share of a forfeited bond (`pot`, payment mint)
    /// to its recorded payout account. Returns (paid, what could not be paid: the
    /// treasury's).
    pub fn pay_bond_shares(
        &self,
        majority: &[usize],
        pot: u64,
        token_program: &Program<'info, Token>,
        market: &Account<'info, Market>,
        vault: &Account<'info, TokenAccount>,
    ) -> Result<(u64, u64)> {
        let (each, _) = referee_shares(pot, majority.len())?;
        let (mut paid, mut unpaid) = (0u64, 0u64);
        for &i in majority {
            let to = &self.payouts[i];
            let owner = token_owner(to).unwrap_or_default();
            if pay_if_open(token_program, market, vault, to, &owner, each)? {
                paid = math::add(paid, each)?;
            } else {
                unpaid = math::add(unpaid, each)?;
            }
        }
        Ok((paid, unpaid))
    }

    /// Ends the round: a referee that committed and did not reveal loses
    /// `REFEREE_NO_REVEAL_BPS` of its seat weight (the treasury's), and every drawn
    /// referee's duty ends. Returns the penalties taken.
    pub fn close_round(&mut self, dispute: &Dispute) -> Result<u64> {
        let mut penalties = 0u64;
        for i in dispute.referee.silent_committers() {
            let key = self.providers[i].key();
            let seat = self.pool.seat_mut(&key)?;
            let penalty = no_reveal_penalty(seat.weight)?
                .min(self.providers[i].referee_stake)
                .min(seat.weight);
            seat.weight = math::sub(seat.weight, penalty)?;
            self.providers[i].slash_referee_stake(penalty)?;
            penalties = math::add(penalties, penalty)?;
        }
        for p in &self.providers {
            let seat = self.pool.seat_mut(&p.key())?;
            seat.duties = seat
                .duties
                .checked_sub(1)
                .ok_or(MarketError::MathOverflow)?;
        }
        Ok(penalties)
    }

    /// Writes the pool and the referees' provider accounts back.
    pub fn persist(&self) -> Result<()> {
        for p in &self.providers {
            p.invariant()?;
            p.exit(&crate::ID)?;
        }
        self.pool.exit(&crate::ID)
    }
}
