//! The buyer's side of a job: generate or take inputs, upload them and the
//! spec to the blob store (content-addressed), post the job with its escrow,
//! and later check a submitted result against its on-chain Merkle root and,
//! for GEMM, with Freivalds' test against the inputs.

use gpu_market::state::{Job, JobRequirements};
use gpu_market::JobPostArgs;
use gpu_market_blobs::BlobStore;
use gpu_market_client::error::ClientError;
use gpu_market_client::ix::{self, MarketKeys};
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, token, Pubkey};
use gpu_market_compute::commit::result_root;
use gpu_market_compute::spec::{self, BlobRef, Hash32, JobSpec, Workload, SPEC_VERSION};
use gpu_market_compute::{gemm, verify};
use serde::Serialize;
use solana_sdk::signature::{Keypair, Signature, Signer};

#[derive(Debug, thiserror::Error)]
pub enum BuyerError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("blob store: {0}")]
    Blob(String),
    #[error("invalid job spec: {0}")]
    Spec(String),
    #[error("job {0} has no submitted result yet")]
    NoResult(Pubkey),
    #[error("job {0} is settled and its account closed; results are checked during the challenge window (`gpumkt job watch` does it)")]
    Settled(Pubkey),
}

type Result<T, E = BuyerError> = std::result::Result<T, E>;

/// Generates deterministic GEMM inputs, uploads them, and returns the spec.
pub async fn gemm_spec(blobs: &dyn BlobStore, workload: Workload, seed: u64) -> Result<JobSpec> {
    let (m, n, k) = workload
        .gemm_dims()
        .ok_or_else(|| BuyerError::Spec("not a GEMM workload".into()))?;
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
    let mut inputs = Vec::new();
    for (name, bytes) in [("a", a), ("b", b)] {
        let r = blobs
            .put(&bytes)
            .await
            .map_err(|e| BuyerError::Blob(e.to_string()))?;
        inputs.push(BlobRef {
            name: name.into(),
            uri: r.uri,
            sha256: Hash32(r.sha256),
            len: r.len,
        });
    }
    let spec = JobSpec {
        version: SPEC_VERSION,
        workload,
        inputs,
    };
    spec.validate()
        .map_err(|e| BuyerError::Spec(e.to_string()))?;
    Ok(spec)
}

#[derive(Clone, Debug, Serialize)]
pub struct Posted {
    pub job: String,
    pub spec_uri: String,
    pub spec_hash: String,
    pub price: u64,
    pub deadline: i64,
    pub signature: String,
}

/// Uploads the spec and posts the job, paying escrow from the buyer's
/// associated payment-token account.
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
) -> Result<(Pubkey, Posted, Signature)> {
    let bytes = spec
        .to_bytes()
        .map_err(|e| BuyerError::Spec(e.to_string()))?;
    let stored = blobs
        .put(&bytes)
        .await
        .map_err(|e| BuyerError::Blob(e.to_string()))?;
    let args = JobPostArgs {
        nonce,
        workload: spec.workload.kind_code(),
        spec_hash: stored.sha256,
        spec_uri: stored.uri.clone(),
        requirements,
        price,
        deadline,
    };
    let pay = token::ata(&buyer.pubkey(), &market.payment_mint);
    let (ix, job) = ix::job_post(market, buyer.pubkey(), pay, args);
    let out = sender.send(&[ix], buyer, &[]).await?;
    let posted = Posted {
        job: job.to_string(),
        spec_uri: stored.uri,
        spec_hash: hex::encode(stored.sha256),
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
    pub result_root: String,
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
        .await?
        .ok_or(BuyerError::Settled(*job_key))?;
    if job.result_root == [0; 32] {
        return Err(BuyerError::NoResult(*job_key));
    }
    let spec_bytes = gpu_market_blobs::fetch(&job.spec_uri, &job.spec_hash)
        .await
        .map_err(|e| BuyerError::Blob(e.to_string()))?;
    let spec = JobSpec::from_bytes(&spec_bytes).map_err(|e| BuyerError::Spec(e.to_string()))?;
    let sha = crate::worker::uri_sha256(&job.result_uri).ok_or_else(|| {
        BuyerError::Blob(format!(
            "result URI {} does not name its SHA-256",
            job.result_uri
        ))
    })?;
    let output = gpu_market_blobs::fetch(&job.result_uri, &sha)
        .await
        .map_err(|e| BuyerError::Blob(e.to_string()))?;
    let root = result_root(&spec.workload, &output).map_err(|e| BuyerError::Spec(e.to_string()))?;
    let root_matches = root.0 == job.result_root;
    let (freivalds_ok, bad_row) = match (&spec.workload, spec.workload.gemm_dims()) {
        (w, Some((m, n, k))) => {
            let get = |name: &str| spec.input(name).cloned();
            let (Some(a), Some(b)) = (get("a"), get("b")) else {
                return Err(BuyerError::Spec("GEMM spec without inputs a and b".into()));
            };
            let a = gpu_market_blobs::fetch(&a.uri, &a.sha256.0)
                .await
                .map_err(|e| BuyerError::Blob(e.to_string()))?;
            let b = gpu_market_blobs::fetch(&b.uri, &b.sha256.0)
                .await
                .map_err(|e| BuyerError::Blob(e.to_string()))?;
            let (m, n, k) = (m as usize, n as usize, k as usize);
            let r = match w {
                Workload::GemmI8 { .. } => verify::freivalds_i8(
                    m,
                    n,
                    k,
                    &gemm::i8s_from_bytes(&a),
                    &gemm::i8s_from_bytes(&b),
                    &gemm::i32s_from_le_bytes(&output),
                    8,
                    rand_seed(),
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
                    rand_seed(),
                ),
                _ => Ok(()),
            };
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
        result_root: hex::encode(job.result_root),
        bytes: output.len(),
        root_matches,
        freivalds_ok,
        bad_row,
        output,
    })
}

/// Verifiers pick their own randomness: a provider must not know it in advance.
fn rand_seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (t as u64) ^ ((t >> 64) as u64) ^ (std::process::id() as u64).rotate_left(32)
}
