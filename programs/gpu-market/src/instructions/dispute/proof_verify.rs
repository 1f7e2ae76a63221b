//! Anyone checks a staged leaf's Merkle path against its committed root (the job's input
//! roots for A and B, the provider's result root for C), with the leaf count and index
//! taken from the job and the dispute, never from the caller. A verified row of C also
//! fixes the claimed element the ruling judges.

use anchor_lang::prelude::*;
use gpu_market_ruling::merkle;

use crate::errors::MarketError;
use crate::events::ProofVerified;
use crate::state::{leaf_for, Dispute, Job, ProofBuffer, ProofTree, SolSha256};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct ProofVerifyArgs {
    /// Sibling hashes, bottom-up (a promoted level contributes none).
    pub path: Vec<[u8; 32]>,
}

#[derive(Accounts)]
pub struct ProofVerify<'info> {
    #[account(constraint = job.dispute == dispute.key() @ MarketError::WrongDispute)]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, has_one = job @ MarketError::WrongDispute)]
    pub dispute: Box<Account<'info, Dispute>>,
    #[account(has_one = dispute @ MarketError::WrongDispute)]
    pub buffer: Box<Account<'info, ProofBuffer>>,
}

impl ProofVerify<'_> {
    pub fn handle(ctx: Context<Self>, args: ProofVerifyArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let tree = a.buffer.tree;
        a.dispute.check_staging_at(now)?;
        require!(
            !a.dispute.is_proven(tree),
            MarketError::ProofAlreadyVerified
        );
        let (root, count, index, len) = leaf_for(&a.job, &a.dispute, tree)?;
        require!(a.buffer.len as u64 == len, MarketError::ProofLengthMismatch);
        let info = a.buffer.to_account_info();
        let data = info.try_borrow_data()?;
        // Written to its full length: the account grows only as it is written.
        let leaf = data
            .get(ProofBuffer::DATA_OFFSET..)
            .filter(|leaf| leaf.len() as u64 == len)
            .ok_or(MarketError::ProofLengthMismatch)?;
        require!(
            merkle::verify::<SolSha256>(&root, count, index, leaf, &args.path),
            MarketError::ProofPathInvalid
        );
        if tree == ProofTree::C {
            let at = (a.dispute.col as usize).saturating_mul(4);
            let element = leaf
                .get(at..at.saturating_add(4))
                .ok_or(MarketError::ProofLengthMismatch)?;
            a.dispute.claimed.copy_from_slice(element);
        }
        a.dispute.proven |= tree.bit();
        crate::emit_event!(ProofVerified {
            dispute: a.dispute.key(),
            job: a.job.key(),
            tree: tree as u8,
            timestamp: now,
        });
        Ok(())
    }
}
