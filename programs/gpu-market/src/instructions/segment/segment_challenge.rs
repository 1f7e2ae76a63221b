//! Anyone challenges one committed segment's checkpoint within its challenge window
//! (`now <= challenge_deadline`, the job convention), posting the job's frozen challenger
//! bond. The segment becomes `Disputed` (no segment starts and no later one is paid until
//! it settles), the provider that ran it has as much stake again as the segment's bond
//! locked beside it, and a refereed `Dispute` (id from the market's dispute count,
//! created by `create::create_pda`) records the job and the segment: the drawn referees
//! re-execute only that segment from the previous checkpoint and reveal the root they
//! got, which `segment_settle` compares exactly with the committed `state_root`.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::*;
use crate::create;
use crate::errors::MarketError;
use crate::events::SegmentChallenged;
use crate::math;
use crate::state::{Dispute, Job, Market, Provider, RefereeRound, Segments, ACC_LEN};
use crate::token_ops;

#[derive(Accounts)]
#[instruction(index: u8)]
pub struct SegmentChallenge<'info> {
    #[account(mut)]
    pub challenger: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(mut, has_one = market @ MarketError::WrongMarket)]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, seeds = [SEGMENTS_SEED, job.key().as_ref()], bump = segments.bump)]
    pub segments: Box<Account<'info, Segments>>,
    /// The provider that ran segment `index` (an index with no segment, or a pending
    /// one, is refused by the handler with its own error).
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        constraint = segments.provider_of(index).is_none_or(|p| p == provider.key())
            @ MarketError::WrongProvider
    )]
    pub provider: Box<Account<'info, Provider>>,
    /// CHECK: the market's next dispute address (seeds checked), created in the handler by
    /// `create::create_pda`, which also works when someone sent lamports there first.
    #[account(
        mut,
        seeds = [DISPUTE_SEED, market.key().as_ref(), &market.totals.jobs_disputed.to_le_bytes()],
        bump
    )]
    pub dispute: UncheckedAccount<'info>,
    /// Pays the bond; gets it back if the challenge wins or there is no ruling.
    #[account(
        mut,
        constraint = challenger_payment_account.mint == market.payment_mint @ MarketError::WrongMint,
        constraint = challenger_payment_account.owner == challenger.key() @ MarketError::WrongTokenOwner
    )]
    pub challenger_payment_account: Box<Account<'info, TokenAccount>>,
    /// Gets the reporter share of the slash if the challenge wins.
    #[account(
        constraint = challenger_stake_account.mint == market.stake_mint @ MarketError::WrongMint,
        constraint = challenger_stake_account.owner == challenger.key() @ MarketError::WrongTokenOwner
    )]
    pub challenger_stake_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

impl SegmentChallenge<'_> {
    pub fn handle(ctx: Context<Self>, index: u8) -> Result<()> {
        let clock = Clock::get()?;
        let now = clock.unix_timestamp;
        let a = &mut *ctx.accounts;
        let dispute_key = a.dispute.key();
        let bond = a.job.terms.challenger_bond;
        let respond_deadline = math::add_i64(now, a.job.terms.dispute_timeout)?;
        let segment = a.segments.challenge(&mut a.job, index, dispute_key, now)?;
        let stake_locked = a.provider.lock_dispute_stake(segment.bond)?;
        let id = a.market.totals.jobs_disputed;
        a.market.totals.on_challenge(bond)?;
        token_ops::deposit(
            &a.token_program,
            &a.challenger_payment_account,
            &a.payment_vault,
            &a.challenger,
            bond,
        )?;
        let id_bytes = id.to_le_bytes();
        let market_key = a.market.key();
        create::create_pda(
            &a.challenger.to_account_info(),
            &a.dispute.to_account_info(),
            &a.system_program,
            8 + Dispute::INIT_SPACE,
            &[
                DISPUTE_SEED,
                market_key.as_ref(),
                &id_bytes,
                &[ctx.bumps.dispute],
            ],
        )?;
        let dispute = Dispute {
            market: market_key,
            job: a.job.key(),
            id,
            challenger: a.challenger.key(),
            challenger_payment_account: a.challenger_payment_account.key(),
            challenger_stake_account: a.challenger_stake_account.key(),
            provider: a.provider.key(),
            row: 0,
            col: 0,
            bond,
            stake_locked,
            opened_at: now,
            respond_deadline,
            proven: 0,
            claimed: [0; 4],
            acc: [0; ACC_LEN],
            bump: ctx.bumps.dispute,
            // Referees are drawn from a slot hash that does not exist yet.
            referee: RefereeRound {
                draw_slot: clock
                    .slot
                    .checked_add(REFEREE_DRAW_DELAY_SLOTS)
                    .ok_or(MarketError::MathOverflow)?,
                ..RefereeRound::default()
            },
            segment: Some(index),
        };
        create::write_new(&a.dispute.to_account_info(), &dispute)?;
        a.provider.invariant()?;
        a.segments.invariant(&a.job)?;
        a.market.invariant()?;
        crate::emit_event!(SegmentChallenged {
            job: a.job.key(),
            index,
            dispute: dispute_key,
            provider: a.provider.key(),
            challenger: a.challenger.key(),
            state_root: segment.state_root,
            bond,
            stake_locked,
            respond_deadline,
            timestamp: now,
        });
        Ok(())
    }
}
