//! The buyer's side of a job: generate or take inputs, upload them and the
//! spec to the blob store (content-addressed), post the job with its escrow,
//! and later check a submitted result against its on-chain Merkle root and,
//! for GEMM, with Freivalds' test against the inputs.
//!
//! It lives in the SDK rather than in the provider's daemon because buyers
//! (the CLI, the demo, tests) use it and providers do not; it needs the
//! compute crate (specs, commitments, Freivalds) and the blob store, neither
//! of which depends on Solana or on this crate.

use gpu_market::state::{GemmCommitment, Job, JobRequirements};
use gpu_market::JobPostArgs;
use gpu_market_blobs::{BlobError, BlobStore};
use gpu_market_compute::commit::{result_root, CommitError};
use gpu_market_compute::spec::{
    self, Hash32, JobSpec, NamedBlob, SpecError, Workload, SPEC_VERSION,
};
use gpu_market_compute::{gemm, verify};
use serde::Serialize;
use solana_sdk::signature::{Keypair, Signature, Signer};

use crate::error::ClientError;
use crate::ix::{self, MarketKeys};
use crate::send::Sender;
use crate::{accounts, pda, token, Pubkey};

/// What went wrong on the buyer's side, with the job (or input) it concerns
/// and the lower error that caused it. Blob errors are boxed: they are the
/// largest, and every `Result` of this module carries this type.
#[derive(Debug, thiserror::Error)]
pub enum BuyerError {
    /// Inputs are generated for GEMM workloads only; other workloads bring
    /// their own (see [`spec_with_inputs`]).
    #[error("cannot generate inputs for a {kind} workload: only GEMM inputs are generated")]
    NotGemm { kind: &'static str },
    /// A spec built here failed its own validation.
    #[error("invalid job spec: {0}")]
    Spec(#[from] SpecError),
    /// Uploading input `name` to the blob store failed.
    #[error("storing input {name:?}: {source}")]
    StoreInput {
        name: String,
        #[source]
        source: Box<BlobError>,
    },
    /// Uploading the spec of job `job` failed (nothing was posted).
    #[error("storing the spec of job {job}: {source}")]
    StoreSpec {
        job: Pubkey,
        #[source]
        source: Box<BlobError>,
    },
    /// The chain refused or did not take job `job`'s post.
    #[error("posting job {job}: {source}")]
    Post {
        job: Pubkey,
        #[source]
        source: ClientError,
    },
    /// Reading job `job` from the chain failed.
    #[error("reading job {job}: {source}")]
    Read {
        job: Pubkey,
        #[source]
        source: ClientError,
    },
    #[error("job {0} has no submitted result yet")]
    NoResult(Pubkey),
    #[error("job {0} is settled and its account closed; results are checked during the challenge window (`gpumkt job watch` does it)")]
    Settled(Pubkey),
    /// Fetching job `job`'s spec, one of its inputs or its output failed
    /// (absent, unreachable, or bytes that do not hash to what the chain says).
    #[error("fetching the {what} of job {job}: {source}")]
    Fetch {
        job: Pubkey,
        what: String,
        #[source]
        source: Box<BlobError>,
    },
    /// The spec stored for job `job` does not parse or is not usable.
    #[error("job {job}'s spec: {source}")]
    JobSpec {
        job: Pubkey,
        #[source]
        source: SpecError,
    },
    /// Content-addressed result URIs end in the output's hex SHA-256; this one does not.
    #[error("job {job}'s result URI {uri} does not name its SHA-256")]
    ResultUri { job: Pubkey, uri: String },
    /// The output cannot be committed to under the job's workload (wrong length, ...).
    #[error("committing to job {job}'s output: {source}")]
    Commit {
        job: Pubkey,
        #[source]
        source: CommitError,
    },
    /// A GEMM spec without the inputs Freivalds' test needs.
    #[error("job {job}'s GEMM spec has no input {name:?}")]
    MissingInput { job: Pubkey, name: &'static str },
    /// The operating system gave no randomness for job `job`'s Freivalds check.
    #[error("checking the result of job {job}: {source}")]
    Randomness {
        job: Pubkey,
        #[source]
        source: verify::VerifyError,
    },
}

impl BuyerError {
    /// The job this error concerns, when there is one yet.
    pub fn job(&self) -> Option<Pubkey> {
        match self {
            BuyerError::NotGemm { .. } | BuyerError::Spec(_) | BuyerError::StoreInput { .. } => {
                None
            }
            BuyerError::StoreSpec { job, .. }
            | BuyerError::Post { job, .. }
            | BuyerError::Read { job, .. }
            | BuyerError::Fetch { job, .. }
            | BuyerError::JobSpec { job, .. }
            | BuyerError::ResultUri { job, .. }
            | BuyerError::Commit { job, .. }
            | BuyerError::MissingInput { job, .. }
            | BuyerError::Randomness { job, .. } => Some(*job),
            BuyerError::NoResult(job) | BuyerError::Settled(job) => Some(*job),
        }
    }

    /// The chain's error underneath, if the chain is where it failed (so a
    /// caller can match on a program error's name or on unreachability).
    pub fn client_error(&self) -> Option<&ClientError> {
        match self {
            BuyerError::Post { source, .. } | BuyerError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

type Result<T, E = BuyerError> = std::result::Result<T, E>;

/// Uploads `inputs` (name, bytes) and returns the spec that names them.
pub async fn spec_with_inputs(
    blobs: &dyn BlobStore,
    workload: Workload,
    inputs: Vec<(&str, Vec<u8>)>,
) -> Result<JobSpec> {
    let mut refs = Vec::with_capacity(inputs.len());
    for (name, bytes) in inputs {
        let r = blobs
            .put(&bytes)
            .await
            .map_err(|source| BuyerError::StoreInput {
                name: name.to_string(),
                source: Box::new(source),
            })?;
        refs.push(NamedBlob {
            name: name.into(),
            blob: r,
        });
    }
    let spec = JobSpec {
        version: SPEC_VERSION,
        workload,
        inputs: refs,
    };
    spec.validate()?;
    Ok(spec)
}

/// Generates deterministic GEMM inputs, uploads them, and returns the spec.
pub async fn gemm_spec(blobs: &dyn BlobStore, workload: Workload, seed: u64) -> Result<JobSpec> {
    let (m, n, k) = workload.gemm_dims().ok_or(BuyerError::NotGemm {
        kind: workload.kind_name(),
    })?;
    let (a, b) = match workload {
        Workload::GemmI8 { .. } => (
            spec::random_i8_matrix(seed, m, k),
            spec::random_i8_matrix(seed ^ 0x9e37_79b9, k, n),
        ),
        _ => (
            spec::random_f32_matrix(seed, m, k),
            spec::random_f32_matrix(seed ^ 0x9e37_79b9, k, n),
        ),
    };
    spec_with_inputs(blobs, workload, vec![("a", a), ("b", b)]).await
}

#[derive(Clone, Debug, Serialize)]
pub struct Posted {
    pub job: String,
    pub spec_uri: String,
    /// Serialized as 64 lowercase hex characters.
    pub spec_hash: Hash32,
    pub price: u64,
    pub deadline: i64,
    pub signature: String,
}

/// What a GEMM job records at post so that the chain can rule on it: its shape and the
/// roots over the rows of A and the columns of B, computed from the inputs in the store
/// (the bytes providers will fetch). `None` for other workloads.
pub async fn gemm_commitment(
    blobs: &dyn BlobStore,
    job: Pubkey,
    spec: &JobSpec,
) -> Result<Option<GemmCommitment>> {
    let Some((m, n, k)) = spec.workload.gemm_dims() else {
        return Ok(None);
    };
    let mut inputs = Vec::with_capacity(2);
    for name in ["a", "b"] {
        let r = spec
            .input(name)
            .ok_or(BuyerError::MissingInput { job, name })?;
        let bytes = blobs
            .get(&r.uri, &r.sha256)
            .await
            .map_err(|source| BuyerError::Fetch {
                job,
                what: format!("input {name}"),
                source: Box::new(source),
            })?;
        inputs.push(bytes);
    }
    let roots =
        gpu_market_compute::commit::gemm_input_roots(&spec.workload, &inputs[0], &inputs[1])
            .map_err(|source| BuyerError::Commit { job, source })?;
    Ok(Some(GemmCommitment {
        m,
        n,
        k,
        a_root: roots.a_root.0,
        b_root: roots.b_root.0,
    }))
}

/// Uploads the spec and posts the job, paying escrow from the buyer's
/// associated payment-token account; fails with `EscrowAboveMaximum` if the
/// market's terms would take more than `max_escrow` (compute it with
/// `gpu_market::math::escrow_for` from the terms the buyer read). The buyer's
/// associated stake-mint account, recorded for its share of a slash, is
/// created in the same transaction if missing (the buyer's rent, its account).
#[allow(clippy::too_many_arguments)]
pub async fn post(
    sender: &Sender,
    buyer: &Keypair,
    market: &MarketKeys,
    blobs: &dyn BlobStore,
    spec: &JobSpec,
    nonce: u64,
    price: u64,
    deadline: i64,
    requirements: JobRequirements,
    max_escrow: u64,
) -> Result<(Pubkey, Posted, Signature)> {
    let job = pda::job(&market.market, &buyer.pubkey(), nonce);
    let bytes = spec.to_bytes()?;
    let stored = blobs
        .put(&bytes)
        .await
        .map_err(|source| BuyerError::StoreSpec {
            job,
            source: Box::new(source),
        })?;
    let gemm = gemm_commitment(blobs, job, spec).await?;
    let args = JobPostArgs {
        nonce,
        workload: spec.workload.kind_code(),
        spec_hash: stored.sha256.0,
        spec_uri: stored.uri.clone(),
        requirements,
        price,
        deadline,
        gemm,
        max_escrow,
    };
    let pay = token::ata(&buyer.pubkey(), &market.payment_mint);
    let own_stake =
        token::create_ata_idempotent(&buyer.pubkey(), &buyer.pubkey(), &market.stake_mint);
    let (ix, job) = ix::job_post(market, buyer.pubkey(), pay, args);
    let out = sender
        .send(&[own_stake, ix], buyer, &[])
        .await
        .map_err(|source| BuyerError::Post { job, source })?;
    let posted = Posted {
        job: job.to_string(),
        spec_uri: stored.uri,
        spec_hash: stored.sha256,
        price,
        deadline,
        signature: out.signature.to_string(),
    };
    Ok((job, posted, out.signature))
}

#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    pub job: String,
    pub result_uri: String,
    /// Serialized as 64 lowercase hex characters.
    pub result_root: Hash32,
    pub bytes: usize,
    /// The downloaded output's Merkle root equals the on-chain commitment.
    pub root_matches: bool,
    /// Freivalds' test against the inputs (GEMM only): `None` when not applicable.
    pub freivalds_ok: Option<bool>,
    /// For a failed Freivalds test: a row that is wrong (what a challenge names).
    pub bad_row: Option<usize>,
    #[serde(skip)]
    pub output: Vec<u8>,
}

impl Verified {
    pub fn ok(&self) -> bool {
        self.root_matches && self.freivalds_ok != Some(false)
    }
}

/// Downloads a submitted result and checks it: the bytes against the on-chain
/// root, and for GEMM the product against the inputs with Freivalds' test.
pub async fn verify_result(sender: &Sender, job_key: &Pubkey) -> Result<Verified> {
    let job: Job = accounts::fetch_job_opt(&*sender.chain, job_key)
        .await
        .map_err(|source| BuyerError::Read {
            job: *job_key,
            source,
        })?
        .ok_or(BuyerError::Settled(*job_key))?;
    verify_committed(job_key, &Committed::from(&job)).await
}

/// What a job committed to on chain that a result check needs: its spec and its
/// result. A live job's account holds it ([`Committed::from`] a [`Job`]); once the job
/// is settled and closed, an indexer rebuilds it from the job's `job_post` and
/// `job_submit` transactions (the dashboard's history does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The workload's kind code (`WorkloadKind`), for naming a non-GEMM job.
    pub workload: u8,
    pub spec_uri: String,
    pub spec_hash: [u8; 32],
    /// Empty, with an all-zero root, before a result is submitted.
    pub result_uri: String,
    pub result_root: [u8; 32],
}

impl From<&Job> for Committed {
    fn from(job: &Job) -> Self {
        Committed {
            workload: job.workload,
            spec_uri: job.spec_uri.clone(),
            spec_hash: job.spec_hash,
            result_uri: job.result_uri.clone(),
            result_root: job.result_root,
        }
    }
}

/// [`verify_result`] on the terms `job` committed to, wherever they were read from.
pub async fn verify_committed(job_key: &Pubkey, job: &Committed) -> Result<Verified> {
    let job_key = *job_key;
    let fetch = |what: &str, uri: String, sha: Hash32| {
        let what = what.to_string();
        async move {
            gpu_market_blobs::fetch(&uri, &sha)
                .await
                .map_err(|source| BuyerError::Fetch {
                    job: job_key,
                    what,
                    source: Box::new(source),
                })
        }
    };
    if job.result_root == [0; 32] {
        return Err(BuyerError::NoResult(job_key));
    }
    let spec_bytes = fetch("spec", job.spec_uri.clone(), Hash32(job.spec_hash)).await?;
    let spec = JobSpec::from_bytes(&spec_bytes).map_err(|source| BuyerError::JobSpec {
        job: job_key,
        source,
    })?;
    let sha =
        gpu_market_blobs::uri_sha256(&job.result_uri).ok_or_else(|| BuyerError::ResultUri {
            job: job_key,
            uri: job.result_uri.clone(),
        })?;
    let output = fetch("output", job.result_uri.clone(), sha).await?;
    let root = result_root(&spec.workload, &output).map_err(|source| BuyerError::Commit {
        job: job_key,
        source,
    })?;
    let root_matches = root.0 == job.result_root;
    let (freivalds_ok, bad_row) = match (&spec.workload, spec.workload.gemm_dims()) {
        (w, Some((m, n, k))) => {
            let input = |name: &'static str| {
                spec.input(name)
                    .cloned()
                    .ok_or(BuyerError::MissingInput { job: job_key, name })
            };
            let (a, b) = (input("a")?, input("b")?);
            let a = fetch("input a", a.uri, a.sha256).await?;
            let b = fetch("input b", b.uri, b.sha256).await?;
            let (m, n, k) = (m as usize, n as usize, k as usize);
            // Drawn now, after the result is committed, from the OS RNG: a
            // provider cannot know it in advance.
            let seed = verify::os_seed().map_err(|source| BuyerError::Randomness {
                job: job_key,
                source,
            })?;
            let r = match w {
                Workload::GemmI8 { .. } => verify::freivalds_i8(
                    m,
                    n,
                    k,
                    &gemm::i8s_from_bytes(&a),
                    &gemm::i8s_from_bytes(&b),
                    &gemm::i32s_from_le_bytes(&output),
                    8,
                    seed,
                ),
                Workload::GemmF32 { rel_tolerance, .. } => verify::freivalds_f32(
                    m,
                    n,
                    k,
                    &gemm::f32s_from_le_bytes(&a),
                    &gemm::f32s_from_le_bytes(&b),
                    &gemm::f32s_from_le_bytes(&output),
                    *rel_tolerance,
                    8,
                    seed,
                ),
                _ => Ok(()),
            };
            // A product of the wrong shape fails the check like a wrong one.
            match r {
                Ok(()) => (Some(true), None),
                Err(verify::VerifyError::Mismatch { row, .. }) => (Some(false), Some(row)),
                Err(_) => (Some(false), None),
            }
        }
        _ => (None, None),
    };
    Ok(Verified {
        job: job_key.to_string(),
        result_uri: job.result_uri.clone(),
        result_root: Hash32(job.result_root),
        bytes: output.len(),
        root_matches,
        freivalds_ok,
        bad_row,
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that refuses every write, to see which input a failure names.
    struct Refusing;

    #[async_trait::async_trait]
    impl BlobStore for Refusing {
        fn describe(&self) -> String {
            "refusing".into()
        }
        async fn put(&self, _bytes: &[u8]) -> Result<gpu_market_blobs::BlobRef, BlobError> {
            Err(BlobError::Denied {
                uri: "test://refusing".into(),
                detail: "read-only".into(),
            })
        }
        async fn get(&self, uri: &str, _sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
            Err(BlobError::NotFound { uri: uri.into() })
        }
        async fn exists(&self, _sha256: &Hash32) -> Result<bool, BlobError> {
            Ok(false)
        }
    }

    #[tokio::test]
    async fn a_refused_upload_names_the_input_and_keeps_the_store_error() {
        let w = Workload::GemmI8 { m: 2, n: 2, k: 2 };
        let e = gemm_spec(&Refusing, w, 1).await.unwrap_err();
        match &e {
            BuyerError::StoreInput { name, source } => {
                assert_eq!(name, "a");
                assert!(
                    matches!(source.as_ref(), BlobError::Denied { .. }),
                    "{source:?}"
                );
            }
            other => panic!("expected StoreInput, got {other:?}"),
        }
        assert_eq!(e.job(), None);
        assert!(e.to_string().contains("storing input \"a\""), "{e}");
    }

    #[tokio::test]
    async fn generating_inputs_for_a_kernel_is_refused_by_kind() {
        let w = Workload::CudaKernel {
            source: String::new(),
            entry: "k".into(),
            grid: [1, 1, 1],
            block: [1, 1, 1],
            shared_mem_bytes: 0,
            args: vec![],
        };
        let e = gemm_spec(&Refusing, w, 1).await.unwrap_err();
        assert!(
            matches!(
                e,
                BuyerError::NotGemm {
                    kind: "cuda-kernel"
                }
            ),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn an_invalid_generated_spec_carries_the_spec_error() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = gpu_market_blobs::open(dir.path().to_str().unwrap()).unwrap();
        let w = Workload::GemmI8 { m: 0, n: 2, k: 2 };
        let e = gemm_spec(&*blobs, w, 1).await.unwrap_err();
        assert!(
            matches!(e, BuyerError::Spec(SpecError::ZeroDimension { .. })),
            "{e:?}"
        );
    }
}
