//! The `Market`: its parameters, its vaults, and running totals that let an
//! auditor read market-wide figures without an indexer.

use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::MarketError;
use crate::math;

#[account]
#[derive(InitSpace, Debug)]
pub struct Market {
    /// Signs parameter updates and pause/unpause; part of the PDA seeds.
    pub authority: Pubkey,
    /// Lets one authority run several markets; part of the PDA seeds.
    pub market_id: u64,
    /// Mint of job prices, escrow, fees and crank bounties.
    pub payment_mint: Pubkey,
    /// Mint of provider stake, bonds and slashes.
    pub stake_mint: Pubkey,
    /// PDA token account holding every live job's escrow.
    pub payment_vault: Pubkey,
    /// PDA token account holding every provider's stake.
    pub stake_vault: Pubkey,
    /// Payment-mint token account that receives protocol fees.
    pub fee_account: Pubkey,
    /// Stake-mint token account that receives the treasury share of slashes.
    pub slash_account: Pubkey,
    pub params: MarketParams,
    pub paused: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub totals: MarketTotals,
    pub bump: u8,
    pub payment_vault_bump: u8,
    pub stake_vault_bump: u8,
    /// An update that hurts participants, waiting out its delay (see
    /// `MarketParams::needs_delay`); anyone applies it once due.
    pub pending_update: Option<PendingUpdate>,
}

/// Parameters queued by `market_update`, applied by `market_apply_update` from
/// `effective_at` (unix seconds) on.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq)]
pub struct PendingUpdate {
    pub params: MarketParams,
    pub effective_at: i64,
}

/// Rules of the market. Jobs copy the rules that concern them when posted
/// (see `JobTerms`), so an update never changes the deal of work in flight.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq)]
pub struct MarketParams {
    /// Protocol fee on a job's price, bps, rounded up; at most `MAX_FEE_BPS`.
    pub fee_bps: u16,
    /// Stake (net of pending unstake) a provider must keep to register and claim.
    pub min_stake: u64,
    /// Bond locked per claim: `max(bond_min, ceil(price * bond_bps / 10_000))`, stake-mint units.
    pub bond_bps: u32,
    pub bond_min: u64,
    /// Seconds a provider has from claim to submission.
    pub claim_timeout: i64,
    /// Seconds after submission during which a result can be challenged.
    pub challenge_window: i64,
    /// Seconds a provider has to answer a challenge.
    pub dispute_timeout: i64,
    /// Seconds between an unstake request and the withdrawal; must exceed
    /// `challenge_window + dispute_timeout` so stake stays slashable while any
    /// of the provider's results can still be disputed.
    pub unstake_cooldown: i64,
    /// Bond a challenger posts, payment-mint units.
    pub challenger_bond: u64,
    /// Share of a slash paid to the wronged buyer, bps.
    pub slash_buyer_bps: u16,
    /// Share of a slash paid to whoever reported the fault, bps; the rest goes to the treasury.
    pub slash_reporter_bps: u16,
    /// Paid to whoever settles a job (finalize, expiry of an unclaimed job),
    /// deposited by the buyer on top of the price; payment-mint units.
    pub crank_bounty: u64,
    /// Fees (payment-mint units) at which reputation confidence reaches 50%.
    pub score_fee_scale: u64,
    /// Seconds a claim must leave to submit (`submit_deadline - now + 1`, the
    /// deadline second included); frozen into each job at posting. Between
    /// `MIN_SUBMIT_WINDOW` and `claim_timeout`.
    pub min_submit_window: i64,
}

impl MarketParams {
    /// The bounds every market keeps, checked at creation and on every update.
    pub fn validate(&self) -> Result<()> {
        // A fee above the cap would make posting a job a tax, not a market.
        require!(self.fee_bps <= MAX_FEE_BPS, MarketError::FeeTooHigh);
        // Slash shares are paid out of the slashed amount; they cannot exceed it.
        require!(
            (self.slash_buyer_bps as u64).saturating_add(self.slash_reporter_bps as u64)
                <= BPS_DENOMINATOR,
            MarketError::SlashSplitInvalid
        );
        // Every claim must put something at stake, and not absurdly much.
        require!(
            self.bond_bps <= MAX_BOND_BPS && (self.bond_bps > 0 || self.bond_min > 0),
            MarketError::BondRuleInvalid
        );
        for phase in [
            self.claim_timeout,
            self.challenge_window,
            self.dispute_timeout,
        ] {
            require!(
                phase > 0 && phase <= MAX_PHASE_DURATION,
                MarketError::InvalidDuration
            );
        }
        require!(
            self.unstake_cooldown > 0 && self.unstake_cooldown <= MAX_UNSTAKE_COOLDOWN,
            MarketError::InvalidDuration
        );
        // Stake must outlive every result that could still be disputed.
        require!(
            self.unstake_cooldown > self.challenge_window.saturating_add(self.dispute_timeout),
            MarketError::CooldownTooShort
        );
        require!(self.score_fee_scale > 0, MarketError::ScoreScaleZero);
        // Every amount an update could ask of a participant is bounded.
        require!(
            self.crank_bounty <= MAX_CRANK_BOUNTY,
            MarketError::CrankBountyTooHigh
        );
        require!(self.bond_min <= MAX_BOND_MIN, MarketError::BondMinTooHigh);
        require!(
            self.min_stake <= MAX_MIN_STAKE,
            MarketError::MinStakeTooHigh
        );
        require!(
            self.challenger_bond <= MAX_CHALLENGER_BOND,
            MarketError::ChallengerBondTooHigh
        );
        require!(
            self.score_fee_scale <= MAX_SCORE_FEE_SCALE,
            MarketError::ScoreScaleTooHigh
        );
        // A claim always gets a real window, and never more than a full timeout.
        require!(
            self.min_submit_window >= MIN_SUBMIT_WINDOW
                && self.min_submit_window <= self.claim_timeout,
            MarketError::InvalidDuration
        );
        Ok(())
    }

    /// Whether moving from `self` to `new` hurts someone who relies on the
    /// current rules, so that it must wait [`MarketParams::update_delay`].
    /// Everything a job freezes at posting (fee, bounty, bond rule, phases,
    /// slash split, submit window, challenger bond) cannot touch a posted job,
    /// and a post carries its own `max_escrow`: those apply at once. What is read
    /// live hurts when raised: `min_stake` (claims and registration),
    /// `unstake_cooldown` (future unstake requests) and `score_fee_scale`
    /// (the confidence of every later settlement).
    pub fn needs_delay(&self, new: &MarketParams) -> bool {
        new.min_stake > self.min_stake
            || new.unstake_cooldown > self.unstake_cooldown
            || new.score_fee_scale > self.score_fee_scale
    }

    /// How long a delayed update waits: longer than any claim made now can
    /// keep a bond in play (`MAX_OBLIGATION`) plus the current cooldown, so a
    /// provider who disagrees can settle its jobs, unstake and withdraw first.
    pub fn update_delay(&self) -> Result<i64> {
        math::add_i64(math::add_i64(MAX_OBLIGATION, self.unstake_cooldown)?, 1)
    }
}

/// Running totals. `escrow_outstanding` and `stake_total` are what the vaults
/// owe; `gpumkt audit invariants` checks `vault balance >= owed` (any excess is a donation).
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, Default, PartialEq, Eq,
)]
pub struct MarketTotals {
    pub providers: u64,
    pub jobs_posted: u64,
    pub jobs_cancelled: u64,
    pub jobs_claimed: u64,
    /// Finalized and paid.
    pub jobs_completed: u64,
    /// Claims that missed their submit deadline (each slashed a bond).
    pub jobs_expired: u64,
    /// Jobs returned to their buyer unfinished (deadline passed).
    pub jobs_refunded: u64,
    pub jobs_disputed: u64,
    /// Metered GPU time of finalized jobs, milliseconds.
    pub gpu_ms_sold: u64,
    /// Paid to providers (net of fees), payment-mint units.
    pub volume_paid: u64,
    pub fees_collected: u64,
    pub bounties_paid: u64,
    /// Stake-mint units slashed from providers.
    pub slashed: u64,
    /// Payment-mint units the payment vault owes to live jobs.
    pub escrow_outstanding: u64,
    /// Stake-mint units the stake vault owes to providers.
    pub stake_total: u64,
    /// Jobs whose provider lost a dispute (closed: bond and stake slashed, escrow refunded).
    pub jobs_slashed: u64,
    /// Payment-mint units the payment vault holds as bonds of open disputes.
    pub challenger_bonds_outstanding: u64,
    /// Challenger bonds lost to upheld results (paid to providers and the treasury).
    pub challenger_bonds_forfeited: u64,
    /// Protocol fees accrued in the payment vault, not yet swept (payment mint).
    /// Fees stay in the program: settlement never pays a third-party account.
    pub fees_unswept: u64,
    /// Treasury shares of slashes accrued in the stake vault, not yet swept (stake mint).
    pub slash_unswept: u64,
    /// Treasury share of slashes, all time (stake mint).
    pub slash_to_treasury: u64,
    /// Refunds whose recorded buyer account could no longer receive (closed by
    /// the buyer), accrued to the treasury with the fees, all time (payment mint).
    pub refunds_forfeited: u64,
}

impl MarketTotals {
    pub fn on_post(&mut self, escrow: u64) -> Result<()> {
        self.jobs_posted = math::add(self.jobs_posted, 1)?;
        self.escrow_outstanding = math::add(self.escrow_outstanding, escrow)?;
        Ok(())
    }

    /// A segmented job posted or extended: in the market's counters each segment is a
    /// job (it is claimed, paid, expired or refunded on its own), so `segments` jobs
    /// are posted with their escrow.
    pub fn on_post_segments(&mut self, segments: u8, escrow: u64) -> Result<()> {
        self.jobs_posted = math::add(self.jobs_posted, segments as u64)?;
        self.escrow_outstanding = math::add(self.escrow_outstanding, escrow)?;
        Ok(())
    }

    /// Segments that never started went back to their buyer (`escrow` in all), each
    /// closing as a refunded job.
    pub fn on_segments_refunded(&mut self, segments: u8, escrow: u64) -> Result<()> {
        self.release_escrow(escrow)?;
        self.jobs_refunded = math::add(self.jobs_refunded, segments as u64)?;
        Ok(())
    }

    /// Escrow leaves the vault for good (refund, cancel, payout).
    pub fn release_escrow(&mut self, escrow: u64) -> Result<()> {
        self.escrow_outstanding = math::sub(self.escrow_outstanding, escrow)?;
        Ok(())
    }

    pub fn on_stake(&mut self, amount: u64) -> Result<()> {
        self.stake_total = math::add(self.stake_total, amount)?;
        Ok(())
    }

    pub fn on_unstake(&mut self, amount: u64) -> Result<()> {
        self.stake_total = math::sub(self.stake_total, amount)?;
        Ok(())
    }

    pub fn on_finalize(
        &mut self,
        escrow: u64,
        gpu_ms: u64,
        payout: u64,
        fee: u64,
        bounty: u64,
    ) -> Result<()> {
        self.release_escrow(escrow)?;
        self.jobs_completed = math::add(self.jobs_completed, 1)?;
        self.gpu_ms_sold = math::add(self.gpu_ms_sold, gpu_ms)?;
        self.volume_paid = math::add(self.volume_paid, payout)?;
        self.fees_collected = math::add(self.fees_collected, fee)?;
        self.fees_unswept = math::add(self.fees_unswept, fee)?;
        self.bounties_paid = math::add(self.bounties_paid, bounty)?;
        Ok(())
    }

    /// A challenge opened: its bond enters the payment vault.
    pub fn on_challenge(&mut self, bond: u64) -> Result<()> {
        self.jobs_disputed = math::add(self.jobs_disputed, 1)?;
        self.challenger_bonds_outstanding = math::add(self.challenger_bonds_outstanding, bond)?;
        Ok(())
    }

    /// A dispute settled: its bond leaves the vault's books (back to the challenger, or
    /// when `forfeited` to the provider, with `to_treasury` of it staying in the payment
    /// vault for the treasury until swept).
    pub fn on_dispute_settled(
        &mut self,
        bond: u64,
        forfeited: bool,
        to_treasury: u64,
    ) -> Result<()> {
        self.challenger_bonds_outstanding = math::sub(self.challenger_bonds_outstanding, bond)?;
        if forfeited {
            self.challenger_bonds_forfeited = math::add(self.challenger_bonds_forfeited, bond)?;
            self.fees_unswept = math::add(self.fees_unswept, to_treasury)?;
        }
        Ok(())
    }

    /// A provider lost a dispute: `amount` of stake slashed (`to_treasury` of it stays in
    /// the stake vault until swept), the job's escrow released, the job closed.
    pub fn on_dispute_slash(&mut self, amount: u64, to_treasury: u64, escrow: u64) -> Result<()> {
        self.jobs_slashed = math::add(self.jobs_slashed, 1)?;
        self.slashed = math::add(self.slashed, amount)?;
        self.slash_unswept = math::add(self.slash_unswept, to_treasury)?;
        self.slash_to_treasury = math::add(self.slash_to_treasury, to_treasury)?;
        self.release_escrow(escrow)?;
        self.on_unstake(amount)
    }

    /// A referee that committed and did not reveal lost `amount` of its seat weight; it
    /// stays in the stake vault for the treasury until swept.
    pub fn on_referee_penalty(&mut self, amount: u64) -> Result<()> {
        if amount == 0 {
            return Ok(());
        }
        self.slashed = math::add(self.slashed, amount)?;
        self.slash_unswept = math::add(self.slash_unswept, amount)?;
        self.slash_to_treasury = math::add(self.slash_to_treasury, amount)?;
        self.on_unstake(amount)
    }

    /// A bond slashed: it leaves the stake; `to_treasury` of it stays in the
    /// stake vault until swept.
    pub fn on_slash(&mut self, amount: u64, to_treasury: u64) -> Result<()> {
        self.jobs_expired = math::add(self.jobs_expired, 1)?;
        self.slashed = math::add(self.slashed, amount)?;
        self.slash_unswept = math::add(self.slash_unswept, to_treasury)?;
        self.slash_to_treasury = math::add(self.slash_to_treasury, to_treasury)?;
        self.on_unstake(amount)
    }

    /// A refund the buyer's recorded account could not take: it stays in the
    /// payment vault for the treasury.
    pub fn accrue_forfeited_refund(&mut self, amount: u64) -> Result<()> {
        self.fees_unswept = math::add(self.fees_unswept, amount)?;
        self.refunds_forfeited = math::add(self.refunds_forfeited, amount)?;
        Ok(())
    }

    /// A started segment undone (it resumed from a checkpoint proven wrong): its claim
    /// no longer counts, so claims still equal completions, expiries, lost disputes
    /// and active jobs.
    pub fn on_claim_undone(&mut self) -> Result<()> {
        self.jobs_claimed = math::sub(self.jobs_claimed, 1)?;
        Ok(())
    }

    pub fn on_claim(&mut self) -> Result<()> {
        self.jobs_claimed = math::add(self.jobs_claimed, 1)?;
        Ok(())
    }

    /// Everything accrued for the treasury leaves the vaults; returns
    /// (fees, slash share) swept.
    pub fn on_sweep(&mut self) -> (u64, u64) {
        let swept = (self.fees_unswept, self.slash_unswept);
        self.fees_unswept = 0;
        self.slash_unswept = 0;
        swept
    }

    /// What the payment vault owes: live escrow, unswept fees and open disputes' bonds.
    pub fn payment_owed(&self) -> u128 {
        (self.escrow_outstanding as u128)
            .saturating_add(self.fees_unswept as u128)
            .saturating_add(self.challenger_bonds_outstanding as u128)
    }

    /// What the stake vault owes: providers' stake and the unswept treasury share.
    pub fn stake_owed(&self) -> u128 {
        (self.stake_total as u128).saturating_add(self.slash_unswept as u128)
    }
}

impl MarketTotals {
    /// Jobs posted and not yet closed (finalized, cancelled, refunded or slashed).
    /// `None` when more jobs closed than were posted, which the invariant forbids.
    pub fn live_jobs(&self) -> Option<u64> {
        let closed = (self.jobs_completed as u128)
            .saturating_add(self.jobs_cancelled as u128)
            .saturating_add(self.jobs_refunded as u128)
            .saturating_add(self.jobs_slashed as u128);
        u64::try_from((self.jobs_posted as u128).checked_sub(closed)?).ok()
    }

    /// What the totals alone guarantee (the vault balances and the sums over
    /// jobs and providers need other accounts; the auditor checks those).
    /// Every handler that changes the market checks it last.
    ///
    /// - Every job closes once, as completed, cancelled, refunded or slashed:
    ///   `completed + cancelled + refunded + slashed <= posted`.
    /// - Every live job holds a positive escrow (prices are positive), and a
    ///   closed job holds none: `escrow_outstanding >= live jobs`, and
    ///   `escrow_outstanding == 0` when no job is live.
    /// - Nothing is paid for work before a job completes: volume, fees and GPU
    ///   time sold are zero while `jobs_completed` is.
    pub fn invariant(&self) -> Result<()> {
        let live = self.live_jobs();
        require!(
            live.is_some_and(|live| self.escrow_outstanding >= live
                && (live > 0 || self.escrow_outstanding == 0)),
            MarketError::MarketTotalsInvariant
        );
        require!(
            self.jobs_completed > 0
                || (self.volume_paid == 0 && self.fees_collected == 0 && self.gpu_ms_sold == 0),
            MarketError::MarketTotalsInvariant
        );
        Ok(())
    }
}

impl Market {
    /// See [`MarketTotals::invariant`].
    pub fn invariant(&self) -> Result<()> {
        self.totals.invariant()
    }

    /// Token-moving paths only go through vaults this market created.
    pub fn is_vault(&self, key: &Pubkey) -> bool {
        *key == self.payment_vault || *key == self.stake_vault
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn params() -> MarketParams {
        MarketParams {
            fee_bps: 250,
            min_stake: 1_000,
            bond_bps: 5_000,
            bond_min: 100,
            claim_timeout: 60,
            challenge_window: 30,
            dispute_timeout: 30,
            unstake_cooldown: 120,
            challenger_bond: 500,
            slash_buyer_bps: 5_000,
            slash_reporter_bps: 1_000,
            crank_bounty: 10,
            score_fee_scale: 1_000,
            min_submit_window: 30,
        }
    }

    fn code(r: Result<()>) -> u32 {
        match r.unwrap_err() {
            Error::AnchorError(e) => e.error_code_number,
            e => panic!("unexpected {e:?}"),
        }
    }

    fn num(e: MarketError) -> u32 {
        anchor_lang::error::ERROR_CODE_OFFSET + e as u32
    }

    #[test]
    fn default_params_are_valid() {
        params().validate().unwrap();
    }

    #[test]
    fn each_bound_has_its_error() {
        type Case = (fn(&mut MarketParams), MarketError);
        let cases: Vec<Case> = vec![
            (|p| p.fee_bps = MAX_FEE_BPS + 1, MarketError::FeeTooHigh),
            (
                |p| {
                    p.slash_buyer_bps = 9_000;
                    p.slash_reporter_bps = 1_001
                },
                MarketError::SlashSplitInvalid,
            ),
            (
                |p| {
                    p.bond_bps = 0;
                    p.bond_min = 0
                },
                MarketError::BondRuleInvalid,
            ),
            (
                |p| p.bond_bps = MAX_BOND_BPS + 1,
                MarketError::BondRuleInvalid,
            ),
            (|p| p.claim_timeout = 0, MarketError::InvalidDuration),
            (|p| p.challenge_window = -1, MarketError::InvalidDuration),
            (
                |p| p.dispute_timeout = MAX_PHASE_DURATION + 1,
                MarketError::InvalidDuration,
            ),
            (|p| p.unstake_cooldown = 0, MarketError::InvalidDuration),
            (|p| p.unstake_cooldown = 60, MarketError::CooldownTooShort),
            (|p| p.score_fee_scale = 0, MarketError::ScoreScaleZero),
            (
                |p| p.crank_bounty = MAX_CRANK_BOUNTY + 1,
                MarketError::CrankBountyTooHigh,
            ),
            (
                |p| p.bond_min = MAX_BOND_MIN + 1,
                MarketError::BondMinTooHigh,
            ),
            (
                |p| p.min_stake = MAX_MIN_STAKE + 1,
                MarketError::MinStakeTooHigh,
            ),
            (
                |p| p.challenger_bond = MAX_CHALLENGER_BOND + 1,
                MarketError::ChallengerBondTooHigh,
            ),
            (
                |p| p.score_fee_scale = MAX_SCORE_FEE_SCALE + 1,
                MarketError::ScoreScaleTooHigh,
            ),
            (|p| p.min_submit_window = 0, MarketError::InvalidDuration),
            (|p| p.min_submit_window = 61, MarketError::InvalidDuration),
        ];
        for (mutate, want) in cases {
            let mut p = params();
            mutate(&mut p);
            assert_eq!(code(p.validate()), num(want), "{want:?}");
        }
        // The boundary values themselves are accepted.
        let mut p = params();
        p.fee_bps = MAX_FEE_BPS;
        p.slash_buyer_bps = 9_000;
        p.slash_reporter_bps = 1_000;
        p.unstake_cooldown = p.challenge_window + p.dispute_timeout + 1;
        p.crank_bounty = MAX_CRANK_BOUNTY;
        p.bond_min = MAX_BOND_MIN;
        p.min_stake = MAX_MIN_STAKE;
        p.challenger_bond = MAX_CHALLENGER_BOND;
        p.score_fee_scale = MAX_SCORE_FEE_SCALE;
        p.min_submit_window = p.claim_timeout;
        p.validate().unwrap();
        p.min_submit_window = MIN_SUBMIT_WINDOW;
        p.validate().unwrap();
    }

    #[test]
    fn raising_what_is_read_live_is_delayed() {
        let p = params();
        assert!(!p.needs_delay(&p));
        type Case = (fn(&mut MarketParams), bool);
        let cases: Vec<Case> = vec![
            (|q| q.min_stake += 1, true),
            (|q| q.unstake_cooldown += 1, true),
            (|q| q.score_fee_scale += 1, true),
            (|q| q.min_stake -= 1, false),
            (|q| q.unstake_cooldown -= 1, false),
            (|q| q.crank_bounty += 1_000, false),
            (|q| q.fee_bps += 1, false),
            (|q| q.bond_min += 1, false),
        ];
        for (mutate, delayed) in cases {
            let mut q = p;
            mutate(&mut q);
            assert_eq!(p.needs_delay(&q), delayed, "{q:?}");
        }
        assert_eq!(
            p.update_delay().unwrap(),
            MAX_OBLIGATION + p.unstake_cooldown + 1
        );
    }

    #[test]
    fn totals_invariant_holds_through_every_transition() {
        let mut t = MarketTotals::default();
        let steps: Vec<fn(&mut MarketTotals) -> Result<()>> = vec![
            |t| t.on_stake(5_000),
            |t| t.on_post(110),
            |t| t.on_post(220),
            |t| t.on_finalize(110, 1_500, 98, 2, 10),
            |t| t.on_slash(100, 40),
            |t| {
                // An expired claim past the job deadline: refunded and closed.
                t.release_escrow(220)?;
                t.jobs_refunded += 1;
                Ok(())
            },
            |t| t.on_unstake(4_900),
        ];
        t.invariant().unwrap();
        for step in steps {
            step(&mut t).unwrap();
            t.invariant().unwrap();
        }
        assert_eq!((t.live_jobs(), t.escrow_outstanding), (Some(0), 0));
    }

    #[test]
    fn totals_invariant_names_each_broken_rule() {
        let ok = MarketTotals {
            jobs_posted: 3,
            jobs_completed: 1,
            jobs_cancelled: 1,
            escrow_outstanding: 1,
            volume_paid: 9,
            ..Default::default()
        };
        ok.invariant().unwrap();
        let broken = [
            // More jobs closed than posted.
            MarketTotals {
                jobs_refunded: 2,
                ..ok
            },
            // A live job with no escrow behind it.
            MarketTotals {
                escrow_outstanding: 0,
                ..ok
            },
            // Escrow owed with every job closed.
            MarketTotals {
                jobs_refunded: 1,
                ..ok
            },
            // Payments with nothing completed.
            MarketTotals {
                jobs_completed: 0,
                jobs_cancelled: 2,
                ..ok
            },
            MarketTotals {
                jobs_posted: u64::MAX,
                jobs_completed: u64::MAX,
                jobs_refunded: u64::MAX,
                ..ok
            },
        ];
        for t in broken {
            assert_eq!(
                code(t.invariant()),
                num(MarketError::MarketTotalsInvariant),
                "{t:?}"
            );
        }
    }

    #[test]
    fn totals_track_what_vaults_owe() {
        let mut t = MarketTotals::default();
        t.on_post(110).unwrap();
        t.on_stake(5_000).unwrap();
        t.on_finalize(110, 1_500, 98, 2, 10).unwrap();
        t.on_slash(100, 40).unwrap();
        assert_eq!(t.escrow_outstanding, 0);
        assert_eq!(t.stake_total, 4_900);
        assert_eq!((t.payment_owed(), t.stake_owed()), (2, 4_940));
        assert_eq!(t.on_sweep(), (2, 40));
        assert_eq!((t.payment_owed(), t.stake_owed()), (0, 4_900));
        assert_eq!((t.jobs_completed, t.jobs_expired, t.slashed), (1, 1, 100));
        assert!(t.release_escrow(1).is_err());
    }
}
