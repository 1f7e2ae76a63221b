//! Preparing a job: fetching its spec and inputs through the worker's blob
//! store (every read verified against its hash) and checking that this
//! executor can run them, before any bond is risked on the job. What the
//! worker will fetch is bounded before it fetches it: chain-supplied URIs pass
//! the worker's [`crate::policy::UriPolicy`], the spec is at most
//! `max_spec_bytes`, the inputs and output the spec declares fit the memory
//! budget (and the GPU's memory), the whole preparation finishes within
//! `fetch_timeout` (a stalled store holds up only this job), and a claim now
//! leaves the time the job needs at the provider's measured rate
//! ([`crate::budget`]).

use std::time::Instant;

use gpu_market::state::Job;
use gpu_market_blobs::{BlobError, BlobStore};
use gpu_market_client::Pubkey;
use gpu_market_compute::exec::Inputs;
use gpu_market_compute::spec::{Hash32, JobSpec};

use crate::budget::{self, Pace};
use crate::error::PrepareError;
use crate::timing::Phase;
use crate::worker::Worker;

/// A job's spec and inputs, fetched and checked.
#[derive(Debug)]
pub struct Prepared {
    pub spec: JobSpec,
    pub inputs: Inputs,
}

impl Prepared {
    /// Input bytes held in memory.
    pub fn bytes(&self) -> u64 {
        self.inputs.values().map(|b| b.len() as u64).sum()
    }
}

/// Whether a preparation is for a claim (the time a claim would leave is
/// checked) or for a job already claimed (after a restart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Claim,
    Claimed,
}

impl Worker {
    /// Fetches and checks the spec and inputs of `job`.
    pub(crate) async fn prepare(
        &self,
        key: &Pubkey,
        job: &Job,
        purpose: Purpose,
    ) -> Result<Prepared, PrepareError> {
        let prepared = self.prepare_within(key, job, None, purpose).await?;
        Ok(prepared.expect("a preparation without a budget is never given up"))
    }

    /// The worker's measured rate and margins, as the chain last said.
    pub(crate) fn pace(&self) -> Pace {
        Pace {
            gflops: self
                .benchmark_gflops
                .load(std::sync::atomic::Ordering::SeqCst),
            safety_factor: self.cfg.work_safety_factor,
            min_time_to_submit: self.cfg.min_time_to_submit,
        }
    }

    /// Whether a claim of `job` (whose spec is `spec`) now still leaves the
    /// time it needs; read from the chain's clock.
    pub(crate) async fn check_time_left(
        &self,
        job: &Job,
        spec: &JobSpec,
    ) -> Result<(), PrepareError> {
        let now = self.sender.chain.clock().await?.unix_timestamp;
        budget::check_time(job, now, self.pace().needed_secs(spec))
    }

    /// [`Worker::prepare`] ahead of claiming: with a `budget`, the inputs the
    /// spec declares must fit it with what is already held, or the preparation
    /// is given up (`Ok(None)`) before any input is fetched.
    pub(crate) async fn prepare_within(
        &self,
        key: &Pubkey,
        job: &Job,
        budget: Option<u64>,
        purpose: Purpose,
    ) -> Result<Option<Prepared>, PrepareError> {
        let timeout = self.cfg.fetch_timeout;
        match tokio::time::timeout(timeout, self.prepare_unbounded(key, job, budget, purpose)).await
        {
            Ok(r) => r,
            Err(_) => Err(PrepareError::FetchTimedOut {
                what: "the spec and inputs".into(),
                after: timeout,
            }),
        }
    }

    async fn prepare_unbounded(
        &self,
        key: &Pubkey,
        job: &Job,
        budget: Option<u64>,
        purpose: Purpose,
    ) -> Result<Option<Prepared>, PrepareError> {
        let start = Instant::now();
        let policy = &self.cfg.uri_policy;
        policy
            .check(&job.spec_uri)
            .map_err(|source| PrepareError::UriRefused {
                what: "spec".into(),
                source,
            })?;
        let specs: &dyn BlobStore = match &self.cfg.spec_store {
            Some(store) => &*store.0,
            None => &*self.blobs,
        };
        let spec_bytes = specs
            .get(&job.spec_uri, &Hash32(job.spec_hash))
            .await
            .map_err(|e| match e {
                BlobError::TooLarge { len, .. } => PrepareError::SpecTooLarge {
                    len,
                    max: self.cfg.max_spec_bytes,
                },
                e => PrepareError::SpecUnavailable(e),
            })?;
        if spec_bytes.len() as u64 > self.cfg.max_spec_bytes {
            return Err(PrepareError::SpecTooLarge {
                len: spec_bytes.len() as u64,
                max: self.cfg.max_spec_bytes,
            });
        }
        let spec = JobSpec::from_bytes(&spec_bytes)?;
        if spec.workload.kind_code() != job.workload {
            return Err(PrepareError::KindMismatch {
                spec: spec.workload.kind_name(),
                posted: job.workload,
            });
        }
        if !self.executor.supports(&spec.workload) {
            return Err(PrepareError::Unsupported {
                kind: spec.workload.kind_name(),
            });
        }
        for input in &spec.inputs {
            policy
                .check(&input.blob.uri)
                .map_err(|source| PrepareError::UriRefused {
                    what: format!("input {:?}", input.name),
                    source,
                })?;
        }
        budget::check_memory(&spec, self.cfg.memory_budget_bytes, self.executor.device())?;
        if purpose == Purpose::Claim {
            self.check_time_left(job, &spec).await?;
        }
        if let Some(budget) = budget {
            let declared = spec
                .inputs
                .iter()
                .map(|i| i.blob.len)
                .fold(0u64, u64::saturating_add);
            if !self
                .local
                .lock()
                .unwrap()
                .held
                .admit(*key, declared, budget)
            {
                tracing::debug!(job = %key, declared, "too large to prepare ahead now");
                return Ok(None);
            }
        }
        let mut inputs = Inputs::new();
        for input in &spec.inputs {
            let bytes = self
                .blobs
                .get(&input.blob.uri, &input.blob.sha256)
                .await
                .map_err(|source| PrepareError::InputUnavailable {
                    name: input.name.clone(),
                    source,
                })?;
            if bytes.len() as u64 != input.blob.len {
                return Err(PrepareError::DeclaredLength {
                    name: input.name.clone(),
                    declared: input.blob.len,
                    found: bytes.len() as u64,
                });
            }
            inputs.insert(input.name.clone(), bytes);
        }
        check_gemm_commitment(job, &spec, &inputs)?;
        // The executor's own check (for cuda-kernel, NVRTC compiles the source)
        // is blocking work.
        let executor = self.executor.clone();
        let workload = spec.workload.clone();
        let (inputs, checked) = tokio::task::spawn_blocking(move || {
            let r = executor.check(&workload, &inputs);
            (inputs, r)
        })
        .await
        .map_err(PrepareError::CheckPanicked)?;
        checked?;
        self.timeline.record(*key, Phase::Prepare, start);
        tracing::debug!(job = %key, workload = spec.workload.kind_name(), "job prepared");
        Ok(Some(Prepared { spec, inputs }))
    }
}

/// A GEMM job is ruled on against the shape and input roots it recorded at post, not
/// against its spec: a buyer that posted the roots of other matrices could prove an honest
/// result wrong. So a bond is risked only on a job whose commitment is its spec's inputs'.
fn check_gemm_commitment(job: &Job, spec: &JobSpec, inputs: &Inputs) -> Result<(), PrepareError> {
    let Some((m, n, k)) = spec.workload.gemm_dims() else {
        return Ok(());
    };
    let g = &job.gemm;
    let mismatch = |what: &'static str| PrepareError::CommitmentMismatch { what };
    if (g.m, g.n, g.k) != (m, n, k) {
        return Err(mismatch("shape"));
    }
    let (Some(a), Some(b)) = (inputs.get("a"), inputs.get("b")) else {
        return Err(mismatch("inputs"));
    };
    let roots = gpu_market_compute::commit::gemm_input_roots(&spec.workload, a, b)
        .map_err(|_| mismatch("inputs"))?;
    if roots.a_root.0 != g.a_root {
        return Err(mismatch("root of A's rows"));
    }
    if roots.b_root.0 != g.b_root {
        return Err(mismatch("root of B's columns"));
    }
    Ok(())
}
