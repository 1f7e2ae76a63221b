//! A buyer posts a job with its full escrow (price + crank bounty) and the
//! market's current terms frozen into it. The buyer says the most it agrees
//! to deposit (`max_escrow`), so a parameter change landing just before the
//! post cannot take more; and it records where refunds and its share of a
//! slash go (its own accounts, which exist now), so settlement never needs
//! an account created for it. The job's address is predictable, so the job is
//! created by `create_job` (lamports sent there first cannot block the post).

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::*;
use crate::create;
use crate::errors::MarketError;
use crate::events::JobPosted;
use crate::math;
use crate::state::{
    gemm_elem_bytes, GemmCommitment, Job, JobRequirements, JobState, JobTerms, Market,
    MarketParams, WorkloadKind,
};
use crate::token_ops;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct JobPostArgs {
    pub nonce: u64,
    pub workload: u8,
    /// SHA-256 of the job spec's bytes.
    pub spec_hash: [u8; 32],
    pub spec_uri: String,
    pub requirements: JobRequirements,
    /// Payment-mint units paid for the job (the provider gets it minus the fee).
    pub price: u64,
    /// Unix seconds: last second the job may be claimed or its result submitted.
    pub deadline: i64,
    /// For gemm-i8 and gemm-f32 (required there, refused elsewhere): the shape and input
    /// roots a dispute's ruling checks against.
    pub gemm: Option<GemmCommitment>,
    /// The most the buyer agrees to deposit (payment-mint units); the post
    /// fails with `EscrowAboveMaximum` if the market's terms ask for more.
    pub max_escrow: u64,
}

#[derive(Accounts)]
#[instruction(args: JobPostArgs)]
pub struct JobPost<'info> {
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

impl JobPost<'_> {
    pub fn validate(&self, args: &JobPostArgs, now: i64) -> Result<()> {
        let kind = check_post_args(&self.market.params, args, now)?;
        check_gemm_commitment(kind, args.gemm.as_ref())
    }

    pub fn handle(ctx: Context<Self>, args: JobPostArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        ctx.accounts.validate(&args, now)?;
        let a = &mut *ctx.accounts;
        let terms = JobTerms::from(&a.market.params);
        let escrow = math::escrow_for(args.price, terms.crank_bounty)?;
        require!(escrow <= args.max_escrow, MarketError::EscrowAboveMaximum);
        token_ops::deposit(
            &a.token_program,
            &a.buyer_payment_account,
            &a.payment_vault,
            &a.buyer,
            escrow,
        )?;
        a.market.totals.on_post(escrow)?;
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
        let job = posted_job(args, keys, terms, escrow, now, JobState::Open);
        create_job(&a.buyer, &a.job, &a.system_program, &job)?;
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

/// The rules every post checks, single or segmented, in order: a price, a deadline in
/// the future, not too far and not too soon for a claim's minimum submit window, a
/// bounded spec URI and a known workload (returned).
pub fn check_post_args(
    params: &MarketParams,
    args: &JobPostArgs,
    now: i64,
) -> Result<WorkloadKind> {
    require!(args.price > 0, MarketError::PriceZero);
    require!(args.deadline > now, MarketError::DeadlineInPast);
    require!(
        args.deadline.saturating_sub(now) <= MAX_JOB_DURATION,
        MarketError::DeadlineTooFar
    );
    // A claim at posting gets `deadline - now + 1` seconds (the deadline
    // second included): a job no claim could take in time is refused.
    require!(
        args.deadline.saturating_sub(now).saturating_add(1) >= params.min_submit_window,
        MarketError::DeadlineTooSoon
    );
    require!(args.spec_uri.len() <= MAX_URI_LEN, MarketError::UriTooLong);
    WorkloadKind::from_u8(args.workload).ok_or_else(|| error!(MarketError::UnknownWorkload))
}

/// Creates the job account at its address (`job`'s market, buyer and nonce, with its
/// stored bump) and writes `job` into it, `payer` paying the rent still missing there.
/// By `create::create_pda`, as every address anyone could fund first: lamports sent to
/// the address before the post cannot block it, and a job already live there (a second
/// post under its nonce) refuses the post with `AccountAddressInUse`, never overwritten.
pub fn create_job<'info>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    system: &Program<'info, System>,
    job: &Job,
) -> Result<()> {
    let nonce = job.nonce.to_le_bytes();
    create::create_pda(
        payer,
        target,
        system,
        8 + Job::INIT_SPACE,
        &[
            JOB_SEED,
            job.market.as_ref(),
            job.buyer.as_ref(),
            &nonce,
            &[job.bump],
        ],
    )?;
    create::write_new(target, job)
}

/// The accounts a post records in its job.
pub struct PostKeys {
    pub market: Pubkey,
    pub buyer: Pubkey,
    /// The buyer's payment-mint account that funded the escrow: refunds go back to it.
    pub refund_account: Pubkey,
    /// The buyer's stake-mint account: its share of a slash.
    pub slash_share_account: Pubkey,
    pub bump: u8,
}

/// The job a post creates, in `state` (`Open`, or `Segmented`), unclaimed.
pub fn posted_job(
    args: JobPostArgs,
    keys: PostKeys,
    terms: JobTerms,
    escrow: u64,
    now: i64,
    state: JobState,
) -> Job {
    Job {
        market: keys.market,
        buyer: keys.buyer,
        nonce: args.nonce,
        workload: args.workload,
        spec_hash: args.spec_hash,
        spec_uri: args.spec_uri,
        requirements: args.requirements,
        price: args.price,
        escrow,
        terms,
        state,
        provider: Pubkey::default(),
        bond: 0,
        posted_at: now,
        deadline: args.deadline,
        claimed_at: 0,
        submit_deadline: 0,
        submitted_at: 0,
        challenge_deadline: 0,
        result_root: [0; 32],
        result_uri: String::new(),
        gpu_ms: 0,
        attempts: 0,
        gemm: args.gemm.unwrap_or_default(),
        dispute: Pubkey::default(),
        bump: keys.bump,
        refund_account: keys.refund_account,
        slash_share_account: keys.slash_share_account,
        claim_gpu_count: 0,
        claim_score_fee_scale: 0,
    }
}

/// A job the chain can rule on must say what it would rule against: a GEMM job records
/// its shape and input roots, within the sizes a ruling can stage (every committed leaf
/// fits one verifying transaction); other workloads record none.
pub fn check_gemm_commitment(kind: WorkloadKind, gemm: Option<&GemmCommitment>) -> Result<()> {
    let Some(elem) = gemm_elem_bytes(kind) else {
        require!(gemm.is_none(), MarketError::GemmCommitmentUnexpected);
        return Ok(());
    };
    let g = gemm.ok_or(MarketError::GemmCommitmentMissing)?;
    let dims_ok = [g.m, g.n, g.k].iter().all(|&d| d > 0 && d <= MAX_GEMM_DIM);
    let input_leaf = (g.k as u64).saturating_mul(elem as u64);
    let output_leaf = (g.n as u64).saturating_mul(4);
    require!(
        dims_ok && input_leaf <= MAX_PROOF_LEAF_BYTES && output_leaf <= MAX_PROOF_LEAF_BYTES,
        MarketError::GemmShapeInvalid
    );
    Ok(())
}
