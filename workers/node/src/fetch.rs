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
//!
//! Every fetch connects only where the policy checked (the addresses a host
//! name resolved to when it was admitted, [`gpu_market_blobs::Connect`]).
//! Inputs are streamed to files in a directory of the preparation's own under
//! `work_dir`, hashed as they arrive and cut at the first byte past their
//! declared length, so a store sending an endless body costs one chunk of
//! memory and no more than the declared bytes of disk; only verified files
//! are read into memory for the executor, and the directory is removed when
//! the preparation ends, however it ends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use gpu_market::state::Job;
use gpu_market_blobs::{BlobError, BlobStore, Connect, Len};
use gpu_market_client::Pubkey;
use gpu_market_compute::exec::Inputs;
use gpu_market_compute::spec::{Hash32, JobSpec, NamedBlob};

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
    /// Reads and parses `job`'s spec: its URI admitted by the worker's policy (resolved
    /// and pinned), at most `max_spec_bytes`, checked against the posted hash. Every
    /// read of a chain-supplied spec goes through here (preparing, defending a result).
    pub(crate) async fn read_spec(&self, job: &Job) -> Result<JobSpec, PrepareError> {
        Ok(JobSpec::from_bytes(&self.read_spec_bytes(job).await?)?)
    }

    /// The bytes of `job`'s spec, read as [`Worker::read_spec`] says, whatever its kind.
    pub(crate) async fn read_spec_bytes(&self, job: &Job) -> Result<Vec<u8>, PrepareError> {
        let policy = &self.cfg.uri_policy;
        let resolver = &*self.cfg.resolver.0;
        let spec_route = policy
            .admit(&job.spec_uri, resolver)
            .await
            .map_err(|source| PrepareError::UriRefused {
                what: "spec".into(),
                source,
            })?;
        let specs: &dyn BlobStore = match &self.cfg.spec_store {
            Some(store) => &*store.0,
            None => &*self.blobs,
        };
        let max = self.cfg.max_spec_bytes;
        let mut spec_bytes = Vec::new();
        specs
            .get_to(
                &job.spec_uri,
                &Hash32(job.spec_hash),
                Len::AtMost(max),
                &spec_route,
                &mut spec_bytes,
            )
            .await
            .map_err(|e| match e {
                BlobError::TooLarge { len, .. } => PrepareError::SpecTooLarge { len, max },
                e => PrepareError::SpecUnavailable(e),
            })?;
        Ok(spec_bytes)
    }

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
        let spec = self.read_spec(job).await?;
        let policy = &self.cfg.uri_policy;
        let resolver = &*self.cfg.resolver.0;
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
        // Every input's host is checked (and resolved) before any is fetched.
        let mut routes = Vec::with_capacity(spec.inputs.len());
        for input in &spec.inputs {
            let route = policy
                .admit(&input.blob.uri, resolver)
                .await
                .map_err(|source| PrepareError::UriRefused {
                    what: format!("input {:?}", input.name),
                    source,
                })?;
            routes.push(route);
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
        let inputs = self.fetch_inputs(key, &spec, &routes).await?;
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

impl Worker {
    /// Streams each input of `spec` to a file in a directory of this
    /// preparation's own, then reads the verified files for the executor.
    async fn fetch_inputs(
        &self,
        key: &Pubkey,
        spec: &JobSpec,
        routes: &[Connect],
    ) -> Result<Inputs, PrepareError> {
        let dir = WorkDir::create(&self.cfg.work_dir, key)?;
        let mut inputs = Inputs::new();
        for (i, (input, route)) in spec.inputs.iter().zip(routes).enumerate() {
            // Named by position: input names are the buyer's words, not paths.
            let path = dir.path.join(format!("input-{i}"));
            let at = |source| PrepareError::WorkDir {
                path: path.clone(),
                source,
            };
            let mut file = tokio::fs::File::create(&path).await.map_err(at)?;
            self.blobs
                .get_to(
                    &input.blob.uri,
                    &input.blob.sha256,
                    Len::Exactly(input.blob.len),
                    route,
                    &mut file,
                )
                .await
                .map_err(|e| input_error(input, &path, e))?;
            drop(file);
            let bytes = tokio::fs::read(&path).await.map_err(at)?;
            // Its bytes are in memory now; the disk is freed input by input.
            tokio::fs::remove_file(&path).await.map_err(at)?;
            inputs.insert(input.name.clone(), bytes);
        }
        Ok(inputs)
    }
}

/// What a failed input download says about the job: a body shorter than its
/// declared length is the spec's error, as when it was read whole; a failure
/// to write the file is the worker's own disk, not the job.
fn input_error(input: &NamedBlob, path: &Path, e: BlobError) -> PrepareError {
    match e {
        BlobError::ShorterThanDeclared {
            declared, received, ..
        } => PrepareError::DeclaredLength {
            name: input.name.clone(),
            declared,
            found: received,
        },
        BlobError::Sink { source, .. } => PrepareError::WorkDir {
            path: path.to_path_buf(),
            source,
        },
        source => PrepareError::InputUnavailable {
            name: input.name.clone(),
            source,
        },
    }
}

/// One preparation's directory under the worker's `work_dir`, named
/// `<job>-<process>-<n>` (so concurrent preparations of one job never share
/// it), removed with what was downloaded into it when the preparation ends:
/// done, failed, timed out or abandoned (its future dropped).
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(root: &Path, job: &Pubkey) -> Result<Self, PrepareError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        sweep_once(root);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = root.join(format!("{job}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|source| PrepareError::WorkDir {
            path: path.clone(),
            source,
        })?;
        Ok(WorkDir { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(dir = %self.path.display(), error = %e, "cannot remove a preparation's directory");
            }
            _ => {}
        }
    }
}

/// Removes what an earlier run left under `root` (killed mid-download), the
/// first time this process prepares a job there. Only directories named as
/// [`WorkDir`] names them are touched, whatever else `root` holds.
fn sweep_once(root: &Path) {
    static SWEPT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut swept = SWEPT.lock().unwrap();
    if swept.iter().any(|p| p == root) {
        return;
    }
    swept.push(root.to_path_buf());
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .is_some_and(|job| job.parse::<Pubkey>().is_ok());
        if ours && entry.path().is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
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
