//! A buyer posts a segmented job: the job's terms as `job_post` takes them, and its
//! segments, each with a price and a duration. The escrow is every segment's price plus
//! one crank bounty per segment (each is settled by its own transaction), deposited at
//! once and paid out segment by segment. The job's `price` is the segments' total; its
//! `deadline` is the last second a segment may start. The job (by `job_post`'s
//! `create_job`) and its segments account are both created with `create::create_pda`, so
//! a transfer to either predictable address cannot block the post.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::*;
use crate::create;
use crate::errors::MarketError;
use crate::events::JobPosted;
use crate::instructions::job::{check_post_args, create_job, posted_job, JobPostArgs, PostKeys};
use crate::state::{JobState, JobTerms, Market, SegmentTerms, Segments, WorkloadKind};
use crate::token_ops;

#[derive(Accounts)]
#[instruction(args: JobPostArgs)]
pub struct JobPostSegmented<'info> {
    #[account(mut)]
    pub buyer: Signer<'info>,
    #[account(mut, constraint = !market.paused @ MarketError::MarketPaused)]
    pub market: Box<Account<'info, Market>>,
    /// CHECK: the job's address (seeds checked), created in the handler by `create_job`.
    /// Lamports sent there before the post cannot block it; a live job there refuses the
    /// post (`AccountAddressInUse`).
    #[account(
        mut,
        seeds = [JOB_SEED, market.key().as_ref(), buyer.key().as_ref(), &args.nonce.to_le_bytes()],
        bump
    )]
    pub job: UncheckedAccount<'info>,
    /// CHECK: the job's segments address (seeds checked), created in the handler by
    /// `create::create_pda`, so lamports sent there before the post cannot block it.
    #[account(mut, seeds = [SEGMENTS_SEED, job.key().as_ref()], bump)]
    pub segments: UncheckedAccount<'info>,
    #[account(
        mut,
        constraint = buyer_payment_account.mint == market.payment_mint @ MarketError::WrongMint,
        constraint = buyer_payment_account.owner == buyer.key() @ MarketError::WrongTokenOwner
    )]
    pub buyer_payment_account: Box<Account<'info, TokenAccount>>,
    /// Where the buyer's share of a slash goes (recorded in the job).
    #[account(
        dup,
        constraint = buyer_stake_account.mint == market.stake_mint @ MarketError::WrongMint,
        constraint = buyer_stake_account.owner == buyer.key() @ MarketError::WrongTokenOwner
    )]
    pub buyer_stake_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.payment_vault @ MarketError::WrongVault)]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

impl JobPostSegmented<'_> {
    /// The segments' rules first (valid terms, and a stated price equal to their sum:
    /// the buyer says what it agrees to pay in all, as it does for a single job), then
    /// `job_post`'s, then a workload that checkpoints (and so has no GEMM commitment).
    pub fn validate(&self, args: &JobPostArgs, segments: &[SegmentTerms], now: i64) -> Result<()> {
        Segments::check_terms(segments, 0, self.market.params.min_submit_window)?;
        require!(
            Segments::total_price(segments)? == args.price,
            MarketError::SegmentTotalMismatch
        );
        let kind = check_post_args(&self.market.params, args, now)?;
        require!(
            kind == WorkloadKind::TrainMlp,
            MarketError::WorkloadNotSegmentable
        );
        require!(args.gemm.is_none(), MarketError::GemmCommitmentUnexpected);
        Ok(())
    }

    pub fn handle(
        ctx: Context<Self>,
        args: JobPostArgs,
        segments: Vec<SegmentTerms>,
    ) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        ctx.accounts.validate(&args, &segments, now)?;
        let a = &mut *ctx.accounts;
        let terms = JobTerms::from(&a.market.params);
        let escrow = Segments::escrow_for(&segments, terms.crank_bounty)?;
        require!(escrow <= args.max_escrow, MarketError::EscrowAboveMaximum);
        token_ops::deposit(
            &a.token_program,
            &a.buyer_payment_account,
            &a.payment_vault,
            &a.buyer,
            escrow,
        )?;
        let count = u8::try_from(segments.len()).map_err(|_| MarketError::TooManySegments)?;
        a.market.totals.on_post_segments(count, escrow)?;
        let keys = PostKeys {
            market: a.market.key(),
            buyer: a.buyer.key(),
            refund_account: a.buyer_payment_account.key(),
            slash_share_account: a.buyer_stake_account.key(),
            bump: ctx.bumps.job,
        };
        let (nonce, spec_hash, workload, deadline, price) = (
            args.nonce,
            args.spec_hash,
            args.workload,
            args.deadline,
            args.price,
        );
        let job = posted_job(args, keys, terms, escrow, now, JobState::Segmented);
        let job_key = a.job.key();
        let posted = Segments::posted(job_key, ctx.bumps.segments, &segments);
        posted.invariant(&job)?;
        create_job(&a.buyer, &a.job, &a.system_program, &job)?;
        create::create_pda(
            &a.buyer.to_account_info(),
            &a.segments.to_account_info(),
            &a.system_program,
            8 + Segments::INIT_SPACE,
            &[SEGMENTS_SEED, job_key.as_ref(), &[ctx.bumps.segments]],
        )?;
        create::write_new(&a.segments.to_account_info(), &posted)?;
        a.market.invariant()?;
        crate::emit_event!(JobPosted {
            market: a.market.key(),
            job: a.job.key(),
            buyer: a.buyer.key(),
            nonce,
            workload,
            spec_hash,
            price,
            escrow,
            deadline,
            timestamp: now,
        });
        Ok(())
    }
}
