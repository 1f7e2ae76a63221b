//! Anyone opens a proof buffer for one leaf of an open dispute: a row of A or a column of
//! B (usually the challenger), the row of C (the provider). The buffer is sized to the
//! committed leaf exactly; its payer alone writes it and gets its rent back at close.
//! It is created with its fixed part only and grows as it is written (accounts created
//! or grown inside an instruction may gain at most 10 KiB each time).

use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::MarketError;
use crate::state::{leaf_for, Dispute, Job, ProofBuffer, ProofTree};

#[derive(Accounts)]
#[instruction(tree: ProofTree)]
pub struct ProofOpen<'info> {
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(constraint = job.dispute == dispute.key() @ MarketError::WrongDispute)]
    pub job: Box<Account<'info, Job>>,
    #[account(has_one = job @ MarketError::WrongDispute)]
    pub dispute: Box<Account<'info, Dispute>>,
    #[account(
        init,
        payer = payer,
        space = ProofBuffer::DATA_OFFSET,
        seeds = [PROOF_SEED, dispute.key().as_ref(), &[tree.seed()]],
        bump
    )]
    pub buffer: Box<Account<'info, ProofBuffer>>,
    pub system_program: Program<'info, System>,
}

impl ProofOpen<'_> {
    pub fn handle(ctx: Context<Self>, tree: ProofTree) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        a.dispute.check_staging_at(now)?;
        require!(
            !a.dispute.is_proven(tree),
            MarketError::ProofAlreadyVerified
        );
        let len = leaf_for(&a.job, &a.dispute, tree)?.3;
        a.buffer.set_inner(ProofBuffer {
            dispute: a.dispute.key(),
            payer: a.payer.key(),
            tree,
            len: u32::try_from(len).map_err(|_| MarketError::ProofLengthMismatch)?,
            bump: ctx.bumps.buffer,
        });
        Ok(())
    }
}
