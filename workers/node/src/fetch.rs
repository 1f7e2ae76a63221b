//! Preparing a job: fetching its spec and inputs through the worker's blob
//! store (every read verified against its hash) and checking that this
//! executor can run them, before any bond is risked on the job.

use std::time::Instant;

use gpu_market::state::Job;
use gpu_market_client::Pubkey;
use gpu_market_compute::exec::{check_inputs, Inputs};
use gpu_market_compute::spec::{Hash32, JobSpec};

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

impl Worker {
    /// Fetches and checks the spec and inputs of `job`.
    pub(crate) async fn prepare(&self, key: &Pubkey, job: &Job) -> Result<Prepared, PrepareError> {
        let prepared = self.prepare_within(key, job, None).await?;
        Ok(prepared.expect("a preparation without a budget is never given up"))
    }

    /// [`Worker::prepare`] ahead of claiming: with a `budget`, the inputs the
    /// spec declares must fit it with what is already held, or the preparation
    /// is given up (`Ok(None)`) before any input is fetched.
    pub(crate) async fn prepare_within(
        &self,
        key: &Pubkey,
        job: &Job,
        budget: Option<u64>,
    ) -> Result<Option<Prepared>, PrepareError> {
        let start = Instant::now();
        let spec_bytes = self
            .blobs
            .get(&job.spec_uri, &Hash32(job.spec_hash))
            .await?;
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
            inputs.insert(input.name.clone(), bytes);
        }
        check_inputs(&spec.workload, &inputs)?;
        self.timeline.record(*key, Phase::Prepare, start);
        tracing::debug!(job = %key, workload = spec.workload.kind_name(), "job prepared");
        Ok(Some(Prepared { spec, inputs }))
    }
}
