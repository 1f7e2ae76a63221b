//! Driving a dispute from the challenger's side: challenge, prove the row of A and the
//! column of B and absorb their dot product (resumably), and settle once the rule decides.

use anchor_lang::prelude::Pubkey;
use gpu_market::state::{Dispute, DisputeOutcome, Job, ProofTree};
use gpu_market_compute::commit::{self, CommitError};
use gpu_market_compute::merkle::MerkleTree;
use serde::Serialize;
use solana_sdk::signature::{Keypair, Signer};

use crate::dispute as d;
use crate::ix::{MarketKeys, SettleAccounts};
use crate::send::Sender;
use crate::{accounts, token};

use super::{elem_bytes, fetch_inputs, AuditorError, Inputs, Result};

#[derive(Clone, Copy, Debug)]
pub struct ChallengerAccounts {
    pub payment: Pubkey,
    pub stake: Pubkey,
}

impl ChallengerAccounts {
    /// The challenger's associated token accounts of the market's mints.
    pub fn associated(challenger: &Pubkey, m: &MarketKeys) -> Self {
        ChallengerAccounts {
            payment: token::ata(challenger, &m.payment_mint),
            stake: token::ata(challenger, &m.stake_mint),
        }
    }
}

/// What [`challenge_and_prove`] did.
#[derive(Clone, Debug, Serialize)]
pub struct Challenged {
    pub job: String,
    pub dispute: String,
    pub row: u32,
    pub col: u32,
    /// Transactions sent to stage and absorb (the challenge itself not counted).
    pub proof_transactions: usize,
}

/// Challenges C[row][col] of job `job_key` (the challenger pays the fees and the bond),
/// then proves the challenger's half with [`prove`]. Returns the dispute.
pub async fn challenge_and_prove(
    sender: &Sender,
    challenger: &Keypair,
    accounts: ChallengerAccounts,
    m: &MarketKeys,
    job_key: &Pubkey,
    row: u32,
    col: u32,
) -> Result<Challenged> {
    let key = *job_key;
    // Inputs first: nothing is bonded for a job whose inputs cannot be staged.
    let inputs = fetch_inputs(sender, &key).await?;
    let material = input_proofs(&key, &inputs, row, col)?;
    let dispute = d::challenge(
        sender,
        challenger,
        m,
        &key,
        challenger,
        accounts.payment,
        accounts.stake,
        row,
        col,
    )
    .await
    .map_err(AuditorError::chain(key))?;
    let sent = prove_with(sender, challenger, &key, &dispute, &inputs, &material).await?;
    Ok(Challenged {
        job: key.to_string(),
        dispute: dispute.to_string(),
        row,
        col,
        proof_transactions: sent,
    })
}

/// Row `row` of A and column `col` of B with their paths.
struct InputProofs {
    a_row: Vec<u8>,
    a_path: Vec<[u8; 32]>,
    b_col: Vec<u8>,
    b_path: Vec<[u8; 32]>,
}

fn input_proofs(job: &Pubkey, inputs: &Inputs, row: u32, col: u32) -> Result<InputProofs> {
    let w = &inputs.spec.workload;
    let (m, n, k) = w.gemm_dims().ok_or(AuditorError::NotGemm {
        job: *job,
        kind: w.kind_name(),
    })?;
    if row >= m || col >= n {
        return Err(AuditorError::Proof {
            job: *job,
            source: CommitError::ElementOutOfRange { row, col, m, n },
        });
    }
    let roots = commit::gemm_input_roots(w, &inputs.a, &inputs.b)
        .map_err(|source| AuditorError::Proof { job: *job, source })?;
    let g = &inputs.job.gemm;
    if roots.a_root.0 != g.a_root || roots.b_root.0 != g.b_root {
        return Err(AuditorError::InputsNotCommitted { job: *job });
    }
    let (n, k, e) = (n as usize, k as usize, elem_bytes(w));
    let merkle = |source| AuditorError::Merkle { job: *job, source };
    let a_tree = MerkleTree::from_leaves(inputs.a.chunks(k * e)).map_err(merkle)?;
    let cols = commit::gemm_b_columns(&inputs.b, k, n, e);
    let b_tree = MerkleTree::from_leaves(cols.chunks(k * e)).map_err(merkle)?;
    let (r, j) = (row as usize, col as usize);
    Ok(InputProofs {
        a_row: inputs.a[r * k * e..(r + 1) * k * e].to_vec(),
        a_path: a_tree.proof(r).map_err(merkle)?,
        b_col: cols[j * k * e..(j + 1) * k * e].to_vec(),
        b_path: b_tree.proof(j).map_err(merkle)?,
    })
}

async fn prove_with(
    sender: &Sender,
    payer: &Keypair,
    job_key: &Pubkey,
    dispute_key: &Pubkey,
    inputs: &Inputs,
    p: &InputProofs,
) -> Result<usize> {
    let err = AuditorError::chain(*job_key);
    let mut sent = d::stage_leaf(
        sender,
        payer,
        job_key,
        dispute_key,
        ProofTree::A,
        &p.a_row,
        &p.a_path,
    )
    .await
    .map_err(AuditorError::chain(*job_key))?;
    sent += d::stage_leaf(
        sender,
        payer,
        job_key,
        dispute_key,
        ProofTree::B,
        &p.b_col,
        &p.b_path,
    )
    .await
    .map_err(AuditorError::chain(*job_key))?;
    let dispute = accounts::fetch_dispute(&*sender.chain, dispute_key)
        .await
        .map_err(AuditorError::chain(*job_key))?;
    let kind = inputs.job.workload_kind().ok_or(AuditorError::NotGemm {
        job: *job_key,
        kind: inputs.spec.workload.kind_name(),
    })?;
    let k = inputs.job.gemm.k;
    let left = k.saturating_sub(dispute.absorbed(kind));
    if left > 0 {
        sent += d::absorb_all(
            sender,
            payer,
            job_key,
            dispute_key,
            left,
            elem_bytes(&inputs.spec.workload) as u32,
        )
        .await
        .map_err(err)?;
    }
    Ok(sent)
}

/// Stages the challenger's half of dispute `dispute_key` (row of A, column of B, the dot
/// product), skipping what is already on chain: resumes an interrupted attempt.
/// Returns the transactions sent.
pub async fn prove(
    sender: &Sender,
    payer: &Keypair,
    job_key: &Pubkey,
    dispute_key: &Pubkey,
) -> Result<usize> {
    let dispute = accounts::fetch_dispute(&*sender.chain, dispute_key)
        .await
        .map_err(AuditorError::chain(*job_key))?;
    let inputs = fetch_inputs(sender, job_key).await?;
    let p = input_proofs(job_key, &inputs, dispute.row, dispute.col)?;
    prove_with(sender, payer, job_key, dispute_key, &inputs, &p).await
}

/// Where a dispute stands after [`settle_when_due`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Neither side has lost yet (incomplete, before the response deadline).
    Pending,
    /// Settled now, with this outcome.
    Settled(DisputeOutcome),
    /// The dispute account is gone: someone settled it already.
    Closed,
}

/// Settles dispute `dispute_key` once [`Dispute::outcome_at`] decides, whatever the
/// outcome (`settler` pays the fee and gets the crank bounty when the provider loses),
/// then closes the proof buffers `settler` paid for.
pub async fn settle_when_due(
    sender: &Sender,
    settler: &Keypair,
    m: &MarketKeys,
    dispute_key: &Pubkey,
) -> Result<Settlement> {
    let chain = &*sender.chain;
    let Some(raw) = chain
        .get_account(dispute_key)
        .await
        .map_err(AuditorError::chain(*dispute_key))?
    else {
        return Ok(Settlement::Closed);
    };
    let dispute: Dispute = accounts::decode(dispute_key, &raw.data, "dispute")
        .map_err(AuditorError::chain(*dispute_key))?;
    let job_key = dispute.job;
    let err = AuditorError::chain(job_key);
    let job: Job = accounts::fetch_job(chain, &job_key).await.map_err(err)?;
    let now = chain
        .clock()
        .await
        .map_err(AuditorError::chain(job_key))?
        .unix_timestamp;
    let Ok(outcome) = dispute.outcome_at(&job, now) else {
        return Ok(Settlement::Pending);
    };
    let accounts = SettleAccounts {
        settler: settler.pubkey(),
        settler_payment_account: token::ata(&settler.pubkey(), &m.payment_mint),
    };
    d::settle(sender, settler, m, &job_key, dispute_key, &accounts)
        .await
        .map_err(AuditorError::chain(job_key))?;
    let mine: Vec<ProofTree> = accounts::list_proof_buffers(chain, &settler.pubkey())
        .await
        .map_err(AuditorError::chain(job_key))?
        .into_iter()
        .filter(|(_, b)| b.dispute == *dispute_key)
        .map(|(_, b)| b.tree)
        .collect();
    d::close_buffers(sender, settler, dispute_key, &mine)
        .await
        .map_err(AuditorError::chain(job_key))?;
    Ok(Settlement::Settled(outcome))
}
