//! The auditor's side of disputes: check a submitted GEMM result, name an element the
//! chain would rule wrong, challenge it and prove the challenger's half (the row of A
//! and the column of B, and the dot product), then settle once the rule decides.
//!
//! - [`verify_job`] reuses [`buyer::verify_result`] (spec, inputs and output fetched
//!   hash-checked, the output's Merkle root against the chain's, Freivalds' test seeded
//!   from the OS RNG) and, when Freivalds rejects a row, recomputes that row with the
//!   ruling's own accumulators (`gpu_market_ruling`: exact for i8, the f32 error bound
//!   for f32), so the element it names is one the chain will find wrong: an element
//!   the chain would uphold is never named.
//! - An output that cannot be fetched, or whose bytes are not the committed ones, is
//!   [`Verdict::OutputUnavailable`]. That is not proof of a wrong result: a challenge
//!   forces the provider to reveal the row (its worker does so from its own store), and
//!   if the row is right the challenger loses its bond.
//! - [`challenge_and_prove`], [`prove`] (resumable) and [`settle_when_due`] drive a
//!   dispute; [`watch_pass`] is one pass of the watching daemon (`gpumkt audit watch`).

use std::collections::HashSet;

use anchor_lang::prelude::Pubkey;
use gpu_market::state::{Dispute, DisputeOutcome, Job, JobState, ProofTree};
use gpu_market_compute::commit::{self, CommitError};
use gpu_market_compute::merkle::{MerkleError, MerkleTree};
use gpu_market_compute::spec::{Hash32, JobSpec, Workload};
use gpu_market_ruling::{F32Accumulator, I8Accumulator, RulingError};
use serde::Serialize;
use solana_sdk::signature::{Keypair, Signer};

use crate::buyer::{self, BuyerError};
use crate::dispute as d;
use crate::error::ClientError;
use crate::ix::{MarketKeys, SettleAccounts};
use crate::send::Sender;
use crate::{accounts, token};

/// What went wrong on the auditor's side, with the job it concerns.
#[derive(Debug, thiserror::Error)]
pub enum AuditorError {
    /// Reading the job, its spec or its inputs failed (the output's failures are the
    /// verdict [`Verdict::OutputUnavailable`], not an error).
    #[error(transparent)]
    Check(#[from] BuyerError),
    /// A chain read or a dispute transaction failed.
    #[error("job {job}: {source}")]
    Chain {
        job: Pubkey,
        #[source]
        source: ClientError,
    },
    /// The job's inputs do not build the proof material (wrong shape, ...).
    #[error("building the proof for job {job}: {source}")]
    Proof {
        job: Pubkey,
        #[source]
        source: CommitError,
    },
    #[error("building the proof for job {job}: {source}")]
    Merkle {
        job: Pubkey,
        #[source]
        source: MerkleError,
    },
    /// The inputs in the store are not those the job committed to at post: a challenge
    /// staged from them would fail its paths.
    #[error("job {job}'s inputs in the store are not the ones committed on chain (row or column roots differ)")]
    InputsNotCommitted { job: Pubkey },
    /// The chain rules only on GEMM workloads.
    #[error("job {job} is a {kind} job: only GEMM results can be disputed")]
    NotGemm { job: Pubkey, kind: &'static str },
    /// The ruling's accumulator refused the recomputation's input.
    #[error("recomputing an element of job {job}: {source}")]
    Ruling {
        job: Pubkey,
        #[source]
        source: RulingError,
    },
}

impl AuditorError {
    fn chain(job: Pubkey) -> impl FnOnce(ClientError) -> AuditorError {
        move |source| AuditorError::Chain { job, source }
    }
}

pub type Result<T, E = AuditorError> = std::result::Result<T, E>;

/// The outcome of checking one submitted result.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The output is the committed one and passes Freivalds' test.
    Correct,
    /// C[row][col] is wrong by the chain's own rule: challenging it wins.
    Wrong {
        row: u32,
        col: u32,
        /// The committed value (i32, or f32 as written by Rust's `Display`).
        claimed: String,
        /// The exact value for i8; `None` for f32 (the ruling bounds, it does not round).
        exact: Option<String>,
    },
    /// The committed output cannot be had: absent, unreachable, bytes that do not hash to
    /// the URI or do not have the committed root. Not proof of a wrong result.
    OutputUnavailable { reason: String },
    /// Freivalds' test rejected the result but no element of the rejected row is wrong by
    /// the ruling (f32 only: the row-wise screen is looser than the element-wise bound);
    /// nothing is challenged.
    Unprovable { row: u32 },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Correct => "correct",
            Verdict::Wrong { .. } => "wrong",
            Verdict::OutputUnavailable { .. } => "output_unavailable",
            Verdict::Unprovable { .. } => "unprovable",
        }
    }
}

/// A job's spec and inputs, fetched hash-checked from the URIs the chain names.
pub struct Inputs {
    pub job: Job,
    pub spec: JobSpec,
    pub a: Vec<u8>,
    pub b: Vec<u8>,
}

async fn fetch(job: Pubkey, what: &str, uri: &str, sha: Hash32) -> Result<Vec<u8>> {
    gpu_market_blobs::fetch(uri, &sha).await.map_err(|source| {
        BuyerError::Fetch {
            job,
            what: what.into(),
            source: Box::new(source),
        }
        .into()
    })
}

/// Fetches job `job_key`'s spec and its inputs A and B.
pub async fn fetch_inputs(sender: &Sender, job_key: &Pubkey) -> Result<Inputs> {
    let key = *job_key;
    let job = accounts::fetch_job_opt(&*sender.chain, &key)
        .await
        .map_err(|source| BuyerError::Read { job: key, source })?
        .ok_or(BuyerError::Settled(key))?;
    let spec_bytes = fetch(key, "spec", &job.spec_uri, Hash32(job.spec_hash)).await?;
    let spec = JobSpec::from_bytes(&spec_bytes)
        .map_err(|source| BuyerError::JobSpec { job: key, source })?;
    if spec.workload.gemm_dims().is_none() {
        return Err(AuditorError::NotGemm {
            job: key,
            kind: spec.workload.kind_name(),
        });
    }
    let mut ab = Vec::with_capacity(2);
    for name in ["a", "b"] {
        let r = spec
            .input(name)
            .ok_or(BuyerError::MissingInput { job: key, name })?;
        ab.push(fetch(key, &format!("input {name}"), &r.uri, r.sha256).await?);
    }
    let b = ab.pop().expect("two inputs");
    let a = ab.pop().expect("two inputs");
    Ok(Inputs { job, spec, a, b })
}

fn elem_bytes(w: &Workload) -> usize {
    match w {
        Workload::GemmI8 { .. } => 1,
        _ => 4,
    }
}

/// The first element of row `row` of `c` that the chain's ruling finds wrong, with its
/// claimed and (i8) exact values.
#[allow(clippy::type_complexity)]
pub fn wrong_in_row(
    workload: &Workload,
    a: &[u8],
    b: &[u8],
    c: &[u8],
    row: usize,
) -> Result<Option<(usize, String, Option<String>)>, RulingError> {
    let Some((_, n, k)) = workload.gemm_dims() else {
        return Ok(None);
    };
    let (n, k, e) = (n as usize, k as usize, elem_bytes(workload));
    let a_row = &a[row * k * e..(row + 1) * k * e];
    let mut col = vec![0u8; k * e];
    for j in 0..n {
        for t in 0..k {
            let src = (t * n + j) * e;
            col[t * e..(t + 1) * e].copy_from_slice(&b[src..src + e]);
        }
        let at = (row * n + j) * 4;
        let claimed: [u8; 4] = c[at..at + 4].try_into().expect("4 bytes");
        match workload {
            Workload::GemmI8 { .. } => {
                let mut acc = I8Accumulator::new();
                acc.absorb(a_row, &col)?;
                let claimed = i32::from_le_bytes(claimed);
                if let gpu_market_ruling::I8Verdict::Wrong { exact } =
                    acc.finish(k as u32, claimed)?
                {
                    return Ok(Some((j, claimed.to_string(), Some(exact.to_string()))));
                }
            }
            _ => {
                let mut acc = F32Accumulator::new();
                acc.absorb(a_row, &col)?;
                let bits = u32::from_le_bytes(claimed);
                if acc.finish(k as u32, bits)?.is_wrong() {
                    return Ok(Some((j, f32::from_bits(bits).to_string(), None)));
                }
            }
        }
    }
    Ok(None)
}

/// Checks job `job_key`'s submitted result (see the module doc).
pub async fn verify_job(sender: &Sender, job_key: &Pubkey) -> Result<Verdict> {
    let key = *job_key;
    let v = match buyer::verify_result(sender, &key).await {
        Ok(v) => v,
        Err(BuyerError::Fetch { what, source, .. }) if what == "output" => {
            return Ok(Verdict::OutputUnavailable {
                reason: source.to_string(),
            })
        }
        Err(BuyerError::ResultUri { uri, .. }) => {
            return Ok(Verdict::OutputUnavailable {
                reason: format!("the result URI {uri} does not name its SHA-256"),
            })
        }
        Err(BuyerError::Commit { source, .. }) => {
            return Ok(Verdict::OutputUnavailable {
                reason: format!(
                    "the bytes at the result URI are not a committable output: {source}"
                ),
            })
        }
        Err(e) => return Err(e.into()),
    };
    if !v.root_matches {
        return Ok(Verdict::OutputUnavailable {
            reason: "the bytes at the result URI are not the committed output (their Merkle root differs)".into(),
        });
    }
    match (v.freivalds_ok, v.bad_row) {
        (None, _) => {
            let job = accounts::fetch_job(&*sender.chain, &key)
                .await
                .map_err(AuditorError::chain(key))?;
            Err(AuditorError::NotGemm {
                job: key,
                kind: gpu_market_compute::spec::WorkloadKind::from_u8(job.workload)
                    .map(|k| k.name())
                    .unwrap_or("unknown"),
            })
        }
        (Some(true), _) => Ok(Verdict::Correct),
        (Some(false), row) => {
            let inputs = fetch_inputs(sender, &key).await?;
            // A shape failure (no row named) was caught above as a commit error: the
            // output's length is the committed tree's.
            let row = row.unwrap_or(0);
            let found = wrong_in_row(&inputs.spec.workload, &inputs.a, &inputs.b, &v.output, row)
                .map_err(|source| AuditorError::Ruling { job: key, source })?;
            Ok(match found {
                Some((col, claimed, exact)) => Verdict::Wrong {
                    row: row as u32,
                    col: col as u32,
                    claimed,
                    exact,
                },
                None => Verdict::Unprovable { row: row as u32 },
            })
        }
    }
}

/// The challenger's token accounts: the payment-mint one pays the bond (and gets it
/// back on a win), the stake-mint one gets the reporter share of the slash.
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

/// What [`watch_pass`] does about results it cannot fetch.
#[derive(Clone, Copy, Debug, Default)]
pub struct WatchPolicy {
    /// Challenge C[0][0] of a job whose output is unavailable. Risky: the provider's
    /// worker reveals the row from its own store, and if it is right the challenger
    /// loses its bond.
    pub challenge_unavailable: bool,
}

/// One thing [`watch_pass`] did or saw, for progress lines.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    Verified {
        job: String,
        #[serde(flatten)]
        verdict: Verdict,
    },
    Challenged(Challenged),
    /// A dispute of ours resumed (proof transactions sent).
    Proven {
        job: String,
        dispute: String,
        proof_transactions: usize,
    },
    Settled {
        job: String,
        dispute: String,
        outcome: String,
    },
    Pending {
        job: String,
        dispute: String,
        respond_deadline: i64,
    },
    /// Checking or acting on a job failed; it is tried again on the next pass.
    Error {
        job: String,
        error: String,
    },
}

fn outcome_name(o: DisputeOutcome) -> &'static str {
    match o {
        DisputeOutcome::ProviderWrong => "provider_wrong",
        DisputeOutcome::ProviderSilent => "provider_silent",
        DisputeOutcome::ChallengerWrong => "challenger_wrong",
        DisputeOutcome::ChallengerIncomplete => "challenger_incomplete",
    }
}

/// One pass of the watcher: first its own open disputes (proof resumed while staging is
/// open, settled once due), then every `Submitted` job not in `seen` (verified once; a
/// wrong one challenged and proven; an unavailable one only under
/// [`WatchPolicy::challenge_unavailable`]). Failures are reported per job and retried
/// next pass; only failing to list the market's accounts fails the pass.
pub async fn watch_pass(
    sender: &Sender,
    auditor: &Keypair,
    challenger: ChallengerAccounts,
    m: &MarketKeys,
    policy: WatchPolicy,
    seen: &mut HashSet<Pubkey>,
    report: &mut (dyn FnMut(WatchEvent) + Send),
) -> Result<()> {
    let chain = &*sender.chain;
    let market = m.market;
    let list_err = AuditorError::chain(market);
    let me = auditor.pubkey();
    let disputes = accounts::list_disputes(chain, &market)
        .await
        .map_err(list_err)?;
    for (key, dispute) in disputes.iter().filter(|(_, x)| x.challenger == me) {
        let (job, dk) = (dispute.job.to_string(), key.to_string());
        let now = chain
            .clock()
            .await
            .map_err(AuditorError::chain(market))?
            .unix_timestamp;
        if gpu_market::state::on_time(now, dispute.respond_deadline)
            && !challenger_half_done(chain, dispute).await
        {
            match prove(sender, auditor, &dispute.job, key).await {
                Ok(0) => {}
                Ok(sent) => report(WatchEvent::Proven {
                    job: job.clone(),
                    dispute: dk.clone(),
                    proof_transactions: sent,
                }),
                Err(e) => report(WatchEvent::Error {
                    job: job.clone(),
                    error: e.to_string(),
                }),
            }
        }
        settle_report(sender, auditor, m, key, dispute, report).await;
    }
    let jobs = accounts::list_jobs(chain, &market, Some(JobState::Submitted))
        .await
        .map_err(AuditorError::chain(market))?;
    for (key, job) in jobs {
        if seen.contains(&key) {
            continue;
        }
        let name = key.to_string();
        let verdict = match verify_job(sender, &key).await {
            Ok(v) => v,
            Err(e @ AuditorError::NotGemm { .. }) => {
                // Nothing to rule on, now or later: reported once.
                seen.insert(key);
                report(WatchEvent::Error {
                    job: name,
                    error: e.to_string(),
                });
                continue;
            }
            Err(e) => {
                report(WatchEvent::Error {
                    job: name,
                    error: e.to_string(),
                });
                continue;
            }
        };
        seen.insert(key);
        let target = match &verdict {
            Verdict::Wrong { row, col, .. } => Some((*row, *col)),
            Verdict::OutputUnavailable { .. } if policy.challenge_unavailable => Some((0, 0)),
            _ => None,
        };
        report(WatchEvent::Verified {
            job: name.clone(),
            verdict,
        });
        let Some((row, col)) = target else { continue };
        let now = chain
            .clock()
            .await
            .map_err(AuditorError::chain(market))?
            .unix_timestamp;
        if !gpu_market::state::on_time(now, job.challenge_deadline) {
            report(WatchEvent::Error {
                job: name,
                error: format!(
                    "the challenge window closed at {}; not challenged",
                    job.challenge_deadline
                ),
            });
            continue;
        }
        match challenge_and_prove(sender, auditor, challenger, m, &key, row, col).await {
            Ok(c) => {
                let dispute: Pubkey = c.dispute.parse().expect("a key we printed");
                report(WatchEvent::Challenged(c));
                if let Ok(state) = accounts::fetch_dispute(chain, &dispute).await {
                    settle_report(sender, auditor, m, &dispute, &state, report).await;
                }
            }
            Err(e) => {
                // Tried again next pass (the dispute, if opened, is resumed as ours).
                seen.remove(&key);
                report(WatchEvent::Error {
                    job: name,
                    error: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The row of A and the column of B are verified and their whole dot product absorbed
/// (so a pass need not fetch the inputs again). `false` when unknown.
async fn challenger_half_done(chain: &dyn crate::chain::Chain, dispute: &Dispute) -> bool {
    if !(dispute.is_proven(ProofTree::A) && dispute.is_proven(ProofTree::B)) {
        return false;
    }
    match accounts::fetch_job(chain, &dispute.job).await {
        Ok(job) => job
            .workload_kind()
            .is_some_and(|w| dispute.absorbed(w) == job.gemm.k),
        Err(_) => false,
    }
}

async fn settle_report(
    sender: &Sender,
    auditor: &Keypair,
    m: &MarketKeys,
    key: &Pubkey,
    dispute: &Dispute,
    report: &mut (dyn FnMut(WatchEvent) + Send),
) {
    let (job, dk) = (dispute.job.to_string(), key.to_string());
    match settle_when_due(sender, auditor, m, key).await {
        Ok(Settlement::Settled(o)) => report(WatchEvent::Settled {
            job,
            dispute: dk,
            outcome: outcome_name(o).into(),
        }),
        Ok(Settlement::Pending) => report(WatchEvent::Pending {
            job,
            dispute: dk,
            respond_deadline: dispute.respond_deadline,
        }),
        Ok(Settlement::Closed) => {}
        Err(e) => report(WatchEvent::Error {
            job,
            error: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market_compute::gemm;

    fn i8_case() -> (Workload, Vec<u8>, Vec<u8>, Vec<u8>) {
        let (m, n, k) = (3usize, 4usize, 5usize);
        let a: Vec<u8> = (0..m * k).map(|i| (i as i8 * 7 - 20) as u8).collect();
        let b: Vec<u8> = (0..k * n).map(|i| (i as i8 * 5 - 30) as u8).collect();
        let c = gemm::gemm_i8(
            m,
            n,
            k,
            &gemm::i8s_from_bytes(&a),
            &gemm::i8s_from_bytes(&b),
        )
        .unwrap();
        (
            Workload::GemmI8 {
                m: m as u32,
                n: n as u32,
                k: k as u32,
            },
            a,
            b,
            gemm::i32s_to_le_bytes(&c),
        )
    }

    #[test]
    fn an_honest_row_has_no_wrong_element_and_a_tampered_one_is_named_exactly() {
        let (w, a, b, mut c) = i8_case();
        for row in 0..3 {
            assert_eq!(wrong_in_row(&w, &a, &b, &c, row).unwrap(), None);
        }
        let at = (4 + 2) * 4; // row 1, col 2
        let honest = i32::from_le_bytes(c[at..at + 4].try_into().unwrap());
        c[at..at + 4].copy_from_slice(&(honest + 1).to_le_bytes());
        let (col, claimed, exact) = wrong_in_row(&w, &a, &b, &c, 1).unwrap().unwrap();
        assert_eq!(
            (col, claimed, exact),
            (2, (honest + 1).to_string(), Some(honest.to_string()))
        );
    }

    /// The attack on a careless auditor: an f32 element off by less than the ruling's
    /// bound. Challenging it would lose the bond, so it is not named.
    #[test]
    fn an_f32_element_within_the_rulings_bound_is_not_named_and_one_beyond_it_is() {
        let (m, n, k) = (2usize, 3usize, 4usize);
        let af: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.25 - 1.0).collect();
        let bf: Vec<f32> = (0..k * n).map(|i| 1.5 - i as f32 * 0.125).collect();
        let cf = gemm::gemm_f32(m, n, k, &af, &bf).unwrap();
        let w = Workload::GemmF32 {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            rel_tolerance: 1e-4,
        };
        let (a, b) = (gemm::f32s_to_le_bytes(&af), gemm::f32s_to_le_bytes(&bf));
        let mut near = cf.clone();
        near[1] = f32::from_bits(near[1].to_bits() + 1);
        let near = gemm::f32s_to_le_bytes(&near);
        assert_eq!(wrong_in_row(&w, &a, &b, &near, 0).unwrap(), None);
        let mut far = cf;
        far[4] += 10.0;
        let far = gemm::f32s_to_le_bytes(&far);
        let (col, _, exact) = wrong_in_row(&w, &a, &b, &far, 1).unwrap().unwrap();
        assert_eq!((col, exact), (1, None));
    }
}
