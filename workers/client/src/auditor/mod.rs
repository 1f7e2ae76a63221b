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
//! - A segmented train-mlp job's committed segments are re-executed as a referee would
//!   ([`verify_segment`], [`verify_segments`]: `Correct`, `Wrong` or `Unavailable`), and
//!   the watcher challenges a wrong one within its window (`segment.rs`).

use anchor_lang::prelude::Pubkey;
use gpu_market::state::Job;
use gpu_market_compute::commit::CommitError;
use gpu_market_compute::merkle::MerkleError;
use gpu_market_compute::spec::{Hash32, JobSpec, Workload};
use gpu_market_ruling::{F32Accumulator, I8Accumulator, RulingError};
use serde::Serialize;

use crate::accounts;
use crate::buyer::{self, BuyerError};
use crate::error::ClientError;
use crate::send::Sender;

mod prove;
mod segment;
mod segment_watch;
mod watch;

pub use prove::*;
pub use segment::*;
pub use segment_watch::{seen_key, settle_segment_when_due};
pub use watch::*;

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
    /// `audit verify --segment` or the watcher asked about a job with no segments (a
    /// single job, or one whose accounts closed), or one that is not train-mlp.
    #[error("job {job} is not a live segmented train-mlp job")]
    NotSegmented { job: Pubkey },
    #[error("job {job} has {count} segments; there is no segment {index}")]
    NoSuchSegment { job: Pubkey, index: u8, count: u8 },
    /// Pending or running: there is no committed root to check yet.
    #[error("segment {index} of job {job} has no committed checkpoint yet")]
    SegmentNotCommitted { job: Pubkey, index: u8 },
    /// The training data the spec names does not check against it.
    #[error("job {job}'s training data: {source}")]
    TrainData {
        job: Pubkey,
        #[source]
        source: Box<gpu_market_compute::train::SegmentError>,
    },
    /// Re-executing the segment failed for a reason other than its previous checkpoint
    /// (those are the verdict `SegmentVerdict::Unavailable`).
    #[error("re-executing segment {index} of job {job}: {source}")]
    Training {
        job: Pubkey,
        index: u8,
        #[source]
        source: Box<gpu_market_compute::train::SegmentError>,
    },
    #[error("re-executing segment {index} of job {job}: the training task failed: {why}")]
    TrainingPanicked { job: Pubkey, index: u8, why: String },
    /// The verdict `SegmentVerdict::Wrong` as an error, for callers that fail on it
    /// (`audit verify` exits 1 with it).
    #[error("segment {index} of job {job} is WRONG: committed root {committed_root}, its re-execution ends at {expected_root}")]
    SegmentWrong {
        job: Pubkey,
        index: u8,
        expected_root: Box<gpu_market_compute::spec::Hash32>,
        committed_root: Box<gpu_market_compute::spec::Hash32>,
    },
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
    let (spec, a, b) = fetch_spec_inputs(&key, &job.spec_uri, job.spec_hash).await?;
    Ok(Inputs { job, spec, a, b })
}

/// The spec at `spec_uri` (checked against `spec_hash`) and its GEMM inputs A and B.
async fn fetch_spec_inputs(
    job_key: &Pubkey,
    spec_uri: &str,
    spec_hash: [u8; 32],
) -> Result<(JobSpec, Vec<u8>, Vec<u8>)> {
    let key = *job_key;
    let spec_bytes = fetch(key, "spec", spec_uri, Hash32(spec_hash)).await?;
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
    Ok((spec, a, b))
}

pub(crate) fn elem_bytes(w: &Workload) -> usize {
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
    let job = accounts::fetch_job_opt(&*sender.chain, job_key)
        .await
        .map_err(|source| BuyerError::Read {
            job: *job_key,
            source,
        })?
        .ok_or(BuyerError::Settled(*job_key))?;
    verify_committed(job_key, &buyer::Committed::from(&job)).await
}

/// [`verify_job`] on the terms the job committed to, wherever they were read from (a
/// settled job's come from its transactions: the dashboard checks those).
pub async fn verify_committed(job_key: &Pubkey, job: &buyer::Committed) -> Result<Verdict> {
    let key = *job_key;
    let v = match buyer::verify_committed(&key, job).await {
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
        (None, _) => Err(AuditorError::NotGemm {
            job: key,
            kind: gpu_market_compute::spec::WorkloadKind::from_u8(job.workload)
                .map(|k| k.name())
                .unwrap_or("unknown"),
        }),
        (Some(true), _) => Ok(Verdict::Correct),
        (Some(false), row) => {
            let (spec, a, b) = fetch_spec_inputs(&key, &job.spec_uri, job.spec_hash).await?;
            // A shape failure (no row named) was caught above as a commit error: the
            // output's length is the committed tree's.
            let row = row.unwrap_or(0);
            let found = wrong_in_row(&spec.workload, &a, &b, &v.output, row)
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
