//! Anyone absorbs the next `count` elements of the verified row of A and column of B into
//! the dispute's dot product (about 93,000 i8 or 10,500 f32 elements fit one transaction's
//! compute budget; see docs/benchmarks.md), until all k are in and the ruling can decide.

use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::MarketError;
use crate::state::{gemm_elem_bytes, Dispute, Job, ProofBuffer, ProofTree};

#[derive(Accounts)]
pub struct DisputeAbsorb<'info> {
    #[account(constraint = job.dispute == dispute.key() @ MarketError::WrongDispute)]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, has_one = job @ MarketError::WrongDispute)]
    pub dispute: Box<Account<'info, Dispute>>,
    #[account(
        seeds = [PROOF_SEED, dispute.key().as_ref(), &[ProofTree::A.seed()]],
        bump = a_buffer.bump
    )]
    pub a_buffer: Box<Account<'info, ProofBuffer>>,
    #[account(
        seeds = [PROOF_SEED, dispute.key().as_ref(), &[ProofTree::B.seed()]],
        bump = b_buffer.bump
    )]
    pub b_buffer: Box<Account<'info, ProofBuffer>>,
}

impl DisputeAbsorb<'_> {
    pub fn handle(ctx: Context<Self>, count: u32) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        a.dispute.check_staging_at(now)?;
        require!(
            a.dispute.is_proven(ProofTree::A) && a.dispute.is_proven(ProofTree::B),
            MarketError::ProofNotVerified
        );
        require!(count > 0, MarketError::AmountZero);
        let kind = a
            .job
            .workload_kind()
            .ok_or(MarketError::DisputeUnsupportedWorkload)?;
        let elem = gemm_elem_bytes(kind).ok_or(MarketError::DisputeUnsupportedWorkload)? as usize;
        let next = a.dispute.absorbed(kind);
        let left = a.job.gemm.k.saturating_sub(next);
        require!(left > 0, MarketError::NothingToAbsorb);
        let take = count.min(left) as usize;
        let from = ProofBuffer::DATA_OFFSET.saturating_add((next as usize).saturating_mul(elem));
        let to = from.saturating_add(take.saturating_mul(elem));
        let (a_info, b_info) = (a.a_buffer.to_account_info(), a.b_buffer.to_account_info());
        let (a_data, b_data) = (a_info.try_borrow_data()?, b_info.try_borrow_data()?);
        // Both leaves were verified at their full length k * elem.
        let (a_chunk, b_chunk) = (
            a_data
                .get(from..to)
                .ok_or(MarketError::ProofLengthMismatch)?,
            b_data
                .get(from..to)
                .ok_or(MarketError::ProofLengthMismatch)?,
        );
        a.dispute.absorb(kind, a_chunk, b_chunk)?;
        Ok(())
    }
}
