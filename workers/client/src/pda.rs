//! Program-derived addresses, from the seeds in `gpu_market::constants`.

use anchor_lang::prelude::Pubkey;
use gpu_market::constants::*;
use gpu_market::ID;

pub fn market(authority: &Pubkey, market_id: u64) -> Pubkey {
    Pubkey::find_program_address(
        &[MARKET_SEED, authority.as_ref(), &market_id.to_le_bytes()],
        &ID,
    )
    .0
}

pub fn payment_vault(market: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[PAYMENT_VAULT_SEED, market.as_ref()], &ID).0
}

pub fn stake_vault(market: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[STAKE_VAULT_SEED, market.as_ref()], &ID).0
}

pub fn provider(market: &Pubkey, owner: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[PROVIDER_SEED, market.as_ref(), owner.as_ref()], &ID).0
}

pub fn job(market: &Pubkey, buyer: &Pubkey, nonce: u64) -> Pubkey {
    Pubkey::find_program_address(
        &[
            JOB_SEED,
            market.as_ref(),
            buyer.as_ref(),
            &nonce.to_le_bytes(),
        ],
        &ID,
    )
    .0
}

/// The market's dispute number `id` (its `totals.jobs_disputed` when it was opened).
pub fn dispute(market: &Pubkey, id: u64) -> Pubkey {
    Pubkey::find_program_address(&[DISPUTE_SEED, market.as_ref(), &id.to_le_bytes()], &ID).0
}

pub fn proof_buffer(dispute: &Pubkey, tree: gpu_market::state::ProofTree) -> Pubkey {
    Pubkey::find_program_address(&[PROOF_SEED, dispute.as_ref(), &[tree.seed()]], &ID).0
}

/// The market's referee pool.
pub fn referee_pool(market: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[REFEREE_POOL_SEED, market.as_ref()], &ID).0
}

/// A segmented job's `Segments` account.
pub fn segments(job: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[SEGMENTS_SEED, job.as_ref()], &ID).0
}
