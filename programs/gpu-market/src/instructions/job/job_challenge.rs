//! Anyone challenges one output element of a submitted GEMM result (or a CUDA kernel's
//! whole result, for referees to re-execute) within its challenge window, posting the job's challenger bond. The job becomes `Disputed` (finalization
//! waits), the provider's bond stays locked and as much stake again is locked beside it,
//! and a `Dispute` account records what is disputed and who is paid what when it settles.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::*;
use crate::create;
use crate::errors::MarketError;
use crate::events::JobChallenged;
use crate::math;
use crate::state::{Dispute, Job, Market, Provider, RefereeRound, WorkloadKind, ACC_LEN};
use crate::token_ops;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct JobChallengeArgs {
    /// The disputed element C[row][col].
    pub row: u32,
    pub col: u32,
}

#[derive(Accounts)]
pub struct JobChallenge<'info> {
    #[account(mut)]
    pub challenger: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        constraint = job.provider == provider.key() @ MarketError::WrongProvider
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, has_one = market @ MarketError::WrongMarket)]
    pub provider: Box<Account<'info, Provider>>,
    /// CHECK: the market's next dispute address (seeds checked), created in the handler by
    /// `create::create_pda`, which also works when someone sent lamports there first.
    #[account(
        mut,
        seeds = [DISPUTE_SEED, market.key().as_ref(), &market.totals.jobs_disputed.to_le_bytes()],
        bump
    )]
    pub dispute: UncheckedAccount<'info>,
    /// Pays the bond; gets it back if the challenge wins.
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

impl JobChallenge<'_> {
    pub fn validate(&self, args: &JobChallengeArgs, now: i64) -> Result<()> {
        self.job.check_challenge_at(now)?;
        // A GEMM challenge names an element of the committed result; a refereed one
        // disputes the whole root and names none.
        let (m, n) = match self.job.workload_kind() {
            Some(WorkloadKind::CudaKernel) => (1, 1),
            _ => (self.job.gemm.m, self.job.gemm.n),
        };
        require!(args.row < m && args.col < n, MarketError::GemmShapeInvalid);
        Ok(())
    }

    pub fn handle(ctx: Context<Self>, args: JobChallengeArgs) -> Result<()> {
        let clock = Clock::get()?;
        let now = clock.unix_timestamp;
        ctx.accounts.validate(&args, now)?;
        let a = &mut *ctx.accounts;
        let dispute_key = a.dispute.key();
        let bond = a.job.terms.challenger_bond;
        let respond_deadline = math::add_i64(now, a.job.terms.dispute_timeout)?;
        a.job.challenge(dispute_key, now)?;
        let stake_locked = a.provider.lock_dispute_stake(a.job.bond)?;
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
            market: a.market.key(),
            job: a.job.key(),
            id,
            challenger: a.challenger.key(),
            challenger_payment_account: a.challenger_payment_account.key(),
            challenger_stake_account: a.challenger_stake_account.key(),
            provider: a.provider.key(),
            row: args.row,
            col: args.col,
            bond,
            stake_locked,
            opened_at: now,
            respond_deadline,
            proven: 0,
            claimed: [0; 4],
            acc: [0; ACC_LEN],
            bump: ctx.bumps.dispute,
            // Referees (a kernel result) are drawn from a slot hash that does not exist yet.
            referee: RefereeRound {
                draw_slot: clock
                    .slot
                    .checked_add(REFEREE_DRAW_DELAY_SLOTS)
                    .ok_or(MarketError::MathOverflow)?,
                ..RefereeRound::default()
            },
            segment: None,
        };
        create::write_new(&a.dispute.to_account_info(), &dispute)?;
        a.provider.invariant()?;
        a.market.invariant()?;
        crate::emit_event!(JobChallenged {
            job: a.job.key(),
            dispute: dispute_key,
            provider: a.provider.key(),
            challenger: a.challenger.key(),
            row: args.row,
            col: args.col,
            bond,
            stake_locked,
            respond_deadline,
            timestamp: now,
        });
        Ok(())
    }
}
