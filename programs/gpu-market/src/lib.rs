//! gpu-market: a decentralized GPU compute market.
//!
//! This program holds buyers' job escrow and providers' stake in program-owned
//! vaults, and moves them only by rule: jobs are claimed against a bond,
//! submitted with a Merkle commitment to their result, finalized by anyone
//! after the challenge window, and expired by anyone past their deadline with
//! the bond slashed by the market's frozen split. A GEMM result can be challenged
//! within its window and is then ruled on by the chain itself: three Merkle paths and
//! the disputed dot product, recomputed (exactly for i8, within a proven bound for f32);
//! a CUDA kernel's result is re-executed by referees drawn by stake weight, whose
//! majority decides. Reputation and market totals are counters on-chain, so anyone can recompute the market's figures.
//! See docs/design.md.

// Consensus code: no floats, and every operation checked or saturating (tests exempt).
#![cfg_attr(
    not(test),
    deny(clippy::float_arithmetic, clippy::arithmetic_side_effects)
)]

use anchor_lang::prelude::*;

pub mod constants;
pub mod create;
pub mod errors;
pub mod events;
pub mod instructions;
pub mod math;
pub mod state;
pub mod token_ops;

pub use instructions::*;
pub use state::*;

declare_id!("GPUMkt1111111111111111111111111111111111111");

#[program]
pub mod gpu_market {
    use super::*;

    /// Creates a market with its parameters and vaults (authority).
    pub fn market_create(ctx: Context<MarketCreate>, args: MarketCreateArgs) -> Result<()> {
        MarketCreate::handle(ctx, args)
    }

    /// Replaces the market's parameters within the global bounds; changes that
    /// hurt participants are queued behind a delay (authority).
    pub fn market_update(ctx: Context<MarketUpdate>, params: MarketParams) -> Result<()> {
        MarketUpdate::handle(ctx, params)
    }

    /// Applies a queued parameter update once its delay is over (anyone).
    pub fn market_apply_update(ctx: Context<MarketApplyUpdate>) -> Result<()> {
        MarketApplyUpdate::handle(ctx)
    }

    /// Sends accrued fees and treasury slash shares to accounts it names (authority).
    pub fn market_sweep(ctx: Context<MarketSweep>) -> Result<()> {
        MarketSweep::handle(ctx)
    }

    /// Pauses or resumes registrations, posts and claims (authority).
    pub fn market_set_paused(ctx: Context<MarketSetPaused>, paused: bool) -> Result<()> {
        MarketSetPaused::handle(ctx, paused)
    }

    /// Registers a provider with its first stake (owner).
    pub fn provider_register(
        ctx: Context<ProviderRegister>,
        args: ProviderRegisterArgs,
    ) -> Result<()> {
        ProviderRegister::handle(ctx, args)
    }

    /// Adds stake (owner).
    pub fn provider_stake(ctx: Context<ProviderStake>, amount: u64) -> Result<()> {
        ProviderStake::handle(ctx, amount)
    }

    /// Starts the unstake cooldown for part of the free stake (owner).
    pub fn provider_unstake(ctx: Context<ProviderUnstake>, amount: u64) -> Result<()> {
        ProviderUnstake::handle(ctx, amount)
    }

    /// Withdraws the pending unstake after the cooldown (owner).
    pub fn provider_withdraw(ctx: Context<ProviderWithdraw>) -> Result<()> {
        ProviderWithdraw::handle(ctx)
    }

    /// Records a sign of life, optionally with a fresh GPU descriptor (worker).
    pub fn provider_heartbeat(
        ctx: Context<ProviderHeartbeat>,
        gpu: Option<GpuDescriptor>,
    ) -> Result<()> {
        ProviderHeartbeat::handle(ctx, gpu)
    }

    /// Changes worker key, payout account, price floor, concurrency or GPUs (owner).
    pub fn provider_update(ctx: Context<ProviderUpdate>, args: ProviderUpdateArgs) -> Result<()> {
        ProviderUpdate::handle(ctx, args)
    }

    /// Posts a job with its full escrow (buyer).
    pub fn job_post(ctx: Context<JobPost>, args: JobPostArgs) -> Result<()> {
        JobPost::handle(ctx, args)
    }

    /// Cancels an unclaimed job with a full refund (buyer).
    pub fn job_cancel(ctx: Context<JobCancel>) -> Result<()> {
        JobCancel::handle(ctx)
    }

    /// Claims an open job, or starts a segmented job's next segment, locking a bond (worker).
    pub fn job_claim(ctx: Context<JobClaim>) -> Result<()> {
        JobClaim::handle(ctx)
    }

    /// Submits the result commitment and metered GPU time (worker).
    pub fn job_submit(ctx: Context<JobSubmit>, args: JobSubmitArgs) -> Result<()> {
        JobSubmit::handle(ctx, args)
    }

    /// Pays out a submitted job after its challenge window (anyone, earns the bounty).
    pub fn job_finalize(ctx: Context<JobFinalize>) -> Result<()> {
        JobFinalize::handle(ctx)
    }

    /// Slashes a claim past its submit deadline; reopens or refunds (anyone, earns the reporter share).
    pub fn job_expire(ctx: Context<JobExpire>) -> Result<()> {
        JobExpire::handle(ctx)
    }

    /// Refunds an unclaimed job past its deadline (anyone, earns the bounty).
    pub fn job_expire_unclaimed(ctx: Context<JobExpireUnclaimed>) -> Result<()> {
        JobExpireUnclaimed::handle(ctx)
    }

    /// Disputes one output element of a submitted GEMM result, posting the challenger
    /// bond (anyone, within the challenge window).
    pub fn job_challenge(ctx: Context<JobChallenge>, args: JobChallengeArgs) -> Result<()> {
        JobChallenge::handle(ctx, args)
    }

    /// Opens a proof buffer for one leaf of an open dispute (anyone; pays its rent).
    pub fn proof_open(ctx: Context<ProofOpen>, tree: ProofTree) -> Result<()> {
        ProofOpen::handle(ctx, tree)
    }

    /// Writes bytes of the staged leaf (the buffer's payer).
    pub fn proof_write(ctx: Context<ProofWrite>, args: ProofWriteArgs) -> Result<()> {
        ProofWrite::handle(ctx, args)
    }

    /// Verifies a staged leaf's Merkle path against its committed root (anyone).
    pub fn proof_verify(ctx: Context<ProofVerify>, args: ProofVerifyArgs) -> Result<()> {
        ProofVerify::handle(ctx, args)
    }

    /// Absorbs the next elements of the disputed dot product (anyone).
    pub fn dispute_absorb(ctx: Context<DisputeAbsorb>, count: u32) -> Result<()> {
        DisputeAbsorb::handle(ctx, count)
    }

    /// Settles a dispute by the ruling, or by default past its response deadline (anyone).
    pub fn dispute_settle<'info>(ctx: Context<'info, DisputeSettle<'info>>) -> Result<()> {
        DisputeSettle::handle(ctx)
    }

    /// Creates the market's referee pool (anyone, once).
    pub fn referee_pool_create(ctx: Context<RefereePoolCreate>) -> Result<()> {
        RefereePoolCreate::handle(ctx)
    }

    /// Takes a seat in the referee pool, locking `amount` of free stake as its weight (owner).
    pub fn referee_join(ctx: Context<RefereeJoin>, amount: u64) -> Result<()> {
        RefereeJoin::handle(ctx, amount)
    }

    /// Leaves the referee pool once no dispute it was drawn for is open (owner).
    pub fn referee_leave(ctx: Context<RefereeLeave>) -> Result<()> {
        RefereeLeave::handle(ctx)
    }

    /// Draws a refereed dispute's referees from a slot hash (anyone).
    pub fn dispute_draw(ctx: Context<DisputeDraw>) -> Result<()> {
        DisputeDraw::handle(ctx)
    }

    /// Commits a drawn referee to its re-executed result root (the referee's worker).
    pub fn referee_commit(ctx: Context<RefereeCommit>, commitment: [u8; 32]) -> Result<()> {
        RefereeCommit::handle(ctx, commitment)
    }

    /// Reveals a referee's root and salt after the commit phase (the referee's worker).
    pub fn referee_reveal(ctx: Context<RefereeReveal>, args: RefereeRevealArgs) -> Result<()> {
        RefereeReveal::handle(ctx, args)
    }

    /// Closes a settled dispute's proof buffer, rent back to its payer (anyone).
    pub fn proof_close(ctx: Context<ProofClose>) -> Result<()> {
        ProofClose::handle(ctx)
    }

    /// Posts a job in paid segments with the full escrow of every segment (buyer).
    pub fn job_post_segmented(
        ctx: Context<JobPostSegmented>,
        args: JobPostArgs,
        segments: Vec<SegmentTerms>,
    ) -> Result<()> {
        JobPostSegmented::handle(ctx, args, segments)
    }

    /// Commits a running segment's checkpoint root and URI, and starts the next segment
    /// for the same provider when it may (the segment's worker).
    pub fn segment_commit(
        ctx: Context<SegmentCommit>,
        index: u8,
        state_root: [u8; 32],
        checkpoint_uri: String,
    ) -> Result<()> {
        SegmentCommit::handle(ctx, index, state_root, checkpoint_uri)
    }

    /// Pays a committed segment after its challenge window (anyone, earns the bounty).
    pub fn segment_finalize(ctx: Context<SegmentFinalize>, index: u8) -> Result<()> {
        SegmentFinalize::handle(ctx, index)
    }

    /// Slashes a running segment past its deadline; reopens the job at its last
    /// checkpoint or refunds the rest (anyone, earns the reporter share).
    pub fn segment_expire(ctx: Context<SegmentExpire>, index: u8) -> Result<()> {
        SegmentExpire::handle(ctx, index)
    }

    /// Adds segments to a segmented job with their escrow (buyer).
    pub fn job_extend(ctx: Context<JobExtend>, segments: Vec<SegmentTerms>) -> Result<()> {
        JobExtend::handle(ctx, segments)
    }

    /// Ends a segmented job after its running segment; the unstarted ones are refunded (buyer).
    pub fn job_end(ctx: Context<JobEnd>) -> Result<()> {
        JobEnd::handle(ctx)
    }

    /// Challenges a committed segment's checkpoint within its window, posting the
    /// challenger bond; referees re-execute that segment (anyone).
    pub fn segment_challenge(ctx: Context<SegmentChallenge>, index: u8) -> Result<()> {
        SegmentChallenge::handle(ctx, index)
    }

    /// Settles a segment's dispute by the referees' verdict: slashes a wrong checkpoint
    /// and ends the job at the previous one, or lets the segment stand (anyone).
    pub fn segment_settle<'info>(ctx: Context<'info, SegmentSettle<'info>>) -> Result<()> {
        SegmentSettle::handle(ctx)
    }

    /// Refunds a segmented job's pending segments past its deadline with none running
    /// (anyone, earns one crank bounty).
    pub fn segment_refund(ctx: Context<SegmentRefund>) -> Result<()> {
        SegmentRefund::handle(ctx)
    }
}
