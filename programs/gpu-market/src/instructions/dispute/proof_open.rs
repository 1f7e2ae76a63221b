//! Anyone opens a proof buffer for one leaf of an open dispute: a row of A or a column of
//! B (usually the challenger), the row of C (the provider). The buffer is sized to the
//! committed leaf exactly; its payer alone writes it and gets its rent back at close.
//! It is created with its fixed part only and grows as it is written (accounts created
//! or grown inside an instruction may gain at most 10 KiB each time).

use anchor_lang::prelude::*;

use crate::constants::*;
use crate::create;
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
    /// CHECK: the buffer's address (seeds checked), created in the handler by
    /// `create::create_pda`, which also works when someone (a cheating provider, say) sent
    /// lamports there first to keep the challenger from staging.
    #[account(
        mut,
        seeds = [PROOF_SEED, dispute.key().as_ref(), &[tree.seed()]],
        bump
    )]
    pub buffer: UncheckedAccount<'info>,
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
        let dispute_key = a.dispute.key();
        create::create_pda(
            &a.payer.to_account_info(),
            &a.buffer.to_account_info(),
            &a.system_program,
            ProofBuffer::DATA_OFFSET,
            &[
                PROOF_SEED,
                dispute_key.as_ref(),
                &[tree.seed()],
                &[ctx.bumps.buffer],
            ],
        )?;
        let buffer = ProofBuffer {
            dispute: dispute_key,
            payer: a.payer.key(),
            tree,
            len: u32::try_from(len).map_err(|_| MarketError::ProofLengthMismatch)?,
            bump: ctx.bumps.buffer,
        };
        create::write_new(&a.buffer.to_account_info(), &buffer)
    }
}
