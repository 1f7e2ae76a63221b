//! Disputes from the parties' side: what a challenger, a provider answering a challenge,
//! or anyone helping a dispute along sends. An `ElementProof` (built by
//! `gpu_market_compute::commit::proof_for_element` from the matrices) goes in; the
//! transactions that stage its leaves in proof buffers, verify their paths, absorb the
//! dot product and settle come out, each sized to fit Solana's 1,232-byte transactions.

use anchor_lang::prelude::Pubkey;
use gpu_market::state::{Dispute, Job, ProofTree};
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};

use crate::accounts;
use crate::error::Result;
use crate::ix::{self, MarketKeys, SettleAccounts};
use crate::pda;
use crate::send::Sender;

/// Bytes of a leaf one `proof_write` carries: with its four accounts, a signature and
/// the blockhash, 900 bytes keep the transaction under 1,232.
pub const WRITE_CHUNK: usize = 900;

/// Elements one `dispute_absorb` takes: i8 elements cost about 15 CU and f32 about 130
/// (measured in the SBF VM, `programs/ruling/sbf`), so these stay well inside the
/// 1.4M-CU budget.
pub const fn absorb_per_tx(elem_bytes: u32) -> u32 {
    if elem_bytes == 1 {
        65_536
    } else {
        8_192
    }
}

/// Compute units asked for the heavy steps (verifying a path over a leaf of up to 1 MiB,
/// absorbing a chunk of the dot product): the transaction maximum, since the default
/// 200,000 per instruction is below what they need.
pub const HEAVY_CU: u32 = 1_400_000;

/// `ix` with a compute-unit limit for a heavy step, unless the sender sets one itself
/// (a transaction may carry only one).
fn heavy(sender: &Sender, ix: Instruction) -> Vec<Instruction> {
    match sender.options.compute_unit_limit {
        Some(_) => vec![ix],
        None => vec![
            ComputeBudgetInstruction::set_compute_unit_limit(HEAVY_CU),
            ix,
        ],
    }
}

/// The address the market's next dispute will have.
pub async fn next_dispute(sender: &Sender, market: &Pubkey) -> Result<(u64, Pubkey)> {
    let m = accounts::fetch_market(&*sender.chain, market).await?;
    let id = m.totals.jobs_disputed;
    Ok((id, pda::dispute(market, id)))
}

/// Challenges C[row][col]; returns the dispute's address.
#[allow(clippy::too_many_arguments)]
pub async fn challenge(
    sender: &Sender,
    fee_payer: &Keypair,
    m: &MarketKeys,
    job_key: &Pubkey,
    challenger: &Keypair,
    challenger_payment_account: Pubkey,
    challenger_stake_account: Pubkey,
    row: u32,
    col: u32,
) -> Result<Pubkey> {
    let job = accounts::fetch_job(&*sender.chain, job_key).await?;
    let (id, dispute) = next_dispute(sender, &m.market).await?;
    let ix = ix::job_challenge(
        m,
        *job_key,
        &job,
        id,
        challenger.pubkey(),
        challenger_payment_account,
        challenger_stake_account,
        row,
        col,
    );
    sender.send(&[ix], fee_payer, &[challenger]).await?;
    Ok(dispute)
}

/// Stages one leaf: opens its buffer (paid by `payer`) unless an earlier attempt did,
/// writes it in chunks, verifies its path; nothing if the leaf is already verified.
/// Returns the number of transactions sent.
pub async fn stage_leaf(
    sender: &Sender,
    payer: &Keypair,
    job_key: &Pubkey,
    dispute: &Pubkey,
    tree: ProofTree,
    leaf: &[u8],
    path: &[[u8; 32]],
) -> Result<usize> {
    let chain = &*sender.chain;
    let state = accounts::fetch_dispute(chain, dispute).await?;
    if state.is_proven(tree) {
        return Ok(0);
    }
    let mut sent = 0;
    // Resumable: a buffer opened by an earlier, interrupted attempt is written again. Only
    // an account of the program is one: lamports someone sent to the address are not.
    let buffer = pda::proof_buffer(dispute, tree);
    let opened = chain
        .get_account(&buffer)
        .await?
        .is_some_and(|a| a.owner == gpu_market::ID);
    if !opened {
        let open = ix::proof_open(payer.pubkey(), *job_key, *dispute, tree);
        sender.send(&[open], payer, &[]).await?;
        sent += 1;
    }
    for (i, chunk) in leaf.chunks(WRITE_CHUNK).enumerate() {
        let offset = u32::try_from(i * WRITE_CHUNK).expect("leaves are at most 1 MiB");
        let write = ix::proof_write(payer.pubkey(), *dispute, tree, offset, chunk.to_vec());
        sender.send(&[write], payer, &[]).await?;
        sent += 1;
    }
    let verify = ix::proof_verify(*job_key, *dispute, tree, path.to_vec());
    sender.send(&heavy(sender, verify), payer, &[]).await?;
    Ok(sent + 1)
}

/// Absorbs the whole dot product of the verified row and column; returns the number of
/// transactions sent.
pub async fn absorb_all(
    sender: &Sender,
    payer: &Keypair,
    job_key: &Pubkey,
    dispute: &Pubkey,
    k: u32,
    elem_bytes: u32,
) -> Result<usize> {
    let per_tx = absorb_per_tx(elem_bytes);
    let mut done = 0u32;
    let mut sent = 0u32;
    while done < k {
        // One fewer element each time, so that no two transactions carry the same
        // message (the sender refuses to sign one twice under one blockhash).
        let count = per_tx.saturating_sub(sent).max(1).min(k - done);
        let ix = ix::dispute_absorb(*job_key, *dispute, count);
        sender.send(&heavy(sender, ix), payer, &[]).await?;
        done = done.saturating_add(count);
        sent += 1;
    }
    Ok(sent as usize)
}

/// Settles the dispute (the ruling, or the default past the response deadline).
pub async fn settle(
    sender: &Sender,
    settler: &Keypair,
    m: &MarketKeys,
    job_key: &Pubkey,
    dispute_key: &Pubkey,
    s: &SettleAccounts,
) -> Result<()> {
    let chain = &sender.chain;
    let job: Job = accounts::fetch_job(&**chain, job_key).await?;
    let provider = accounts::fetch_provider(&**chain, &job.provider).await?;
    let dispute: Dispute = accounts::fetch_dispute(&**chain, dispute_key).await?;
    let ix = ix::dispute_settle(m, *job_key, &job, &provider, *dispute_key, &dispute, s);
    sender.send(&[ix], settler, &[]).await?;
    Ok(())
}

/// Closes the proof buffers of a settled dispute that `payer` paid for.
pub async fn close_buffers(
    sender: &Sender,
    payer: &Keypair,
    dispute: &Pubkey,
    trees: &[ProofTree],
) -> Result<()> {
    for &tree in trees {
        let ix = ix::proof_close(payer.pubkey(), *dispute, tree);
        sender.send(&[ix], payer, &[]).await?;
    }
    Ok(())
}

/// Creates the market's referee pool (once; `payer` pays its rent).
pub async fn create_referee_pool(
    sender: &Sender,
    payer: &Keypair,
    market: &Pubkey,
) -> Result<Pubkey> {
    let ix = ix::referee_pool_create(payer.pubkey(), *market);
    sender.send(&[ix], payer, &[]).await?;
    Ok(pda::referee_pool(market))
}

/// Seats the provider owned by `owner` in the referee pool with `weight` of its free
/// stake locked (`fee_payer` pays the fee).
pub async fn join_referee_pool(
    sender: &Sender,
    fee_payer: &Keypair,
    owner: &Keypair,
    market: &Pubkey,
    weight: u64,
) -> Result<()> {
    let ix = ix::referee_join(*market, owner.pubkey(), weight);
    sender.send(&[ix], fee_payer, &[owner]).await?;
    Ok(())
}

/// Draws a refereed dispute's referees (anyone; `payer` pays the fee).
pub async fn draw(
    sender: &Sender,
    payer: &Keypair,
    market: &Pubkey,
    dispute_key: &Pubkey,
) -> Result<Dispute> {
    let chain = &sender.chain;
    let dispute: Dispute = accounts::fetch_dispute(&**chain, dispute_key).await?;
    let ix = ix::dispute_draw(*market, dispute.job, *dispute_key, &dispute);
    sender.send(&[ix], payer, &[]).await?;
    accounts::fetch_dispute(&**chain, dispute_key).await
}

/// The salt a referee commits with: derived from its worker key's secret and the dispute,
/// so a worker that restarts between commit and reveal finds it again without a journal,
/// and nobody without the key can guess it.
pub fn referee_salt(worker: &Keypair, dispute: &Pubkey) -> [u8; 32] {
    let mut preimage = b"gpu-market referee salt".to_vec();
    preimage.extend_from_slice(worker.secret_bytes());
    preimage.extend_from_slice(dispute.as_ref());
    gpu_market_compute::spec::sha256(&preimage).0
}

/// A drawn referee (its provider account `provider`, signing with `worker`) commits to
/// `root`.
pub async fn referee_commit(
    sender: &Sender,
    worker: &Keypair,
    provider: &Pubkey,
    dispute: &Pubkey,
    root: &[u8; 32],
) -> Result<()> {
    let salt = referee_salt(worker, dispute);
    let commitment = gpu_market::state::referee_commitment(root, &salt, provider);
    let ix = ix::referee_commit(worker.pubkey(), *provider, *dispute, commitment);
    sender.send(&[ix], worker, &[]).await?;
    Ok(())
}

/// The same referee reveals `root` once the commit phase is over.
pub async fn referee_reveal(
    sender: &Sender,
    worker: &Keypair,
    provider: &Pubkey,
    dispute: &Pubkey,
    root: &[u8; 32],
) -> Result<()> {
    let salt = referee_salt(worker, dispute);
    let ix = ix::referee_reveal(worker.pubkey(), *provider, *dispute, *root, salt);
    sender.send(&[ix], worker, &[]).await?;
    Ok(())
}
