//! Executing a claimed job: its prepared inputs go to the executor (one job on
//! the device at a time, off the async threads), the output is committed to
//! with its Merkle root and stored in the blob store, and what a submission
//! needs comes back as a journal-ready [`Executed`].

use std::time::Instant;

use gpu_market::state::Job;
use gpu_market_client::Pubkey;
use gpu_market_compute::commit::result_root;
use gpu_market_compute::exec::{Executor, Inputs};

use crate::error::JobError;
use crate::fetch::Prepared;
use crate::journal::Executed;
use crate::timing::Phase;
use crate::worker::{Result, Worker, WorkerError};

impl Worker {
    /// Runs `job` and stores its output. Uses `prepared` (or what was prepared
    /// ahead), and prepares it now otherwise (after a restart).
    pub(crate) async fn execute(
        &self,
        key: Pubkey,
        job: &Job,
        prepared: Option<Prepared>,
    ) -> Result<Executed> {
        let held = || self.local.lock().unwrap().held.take(&key);
        let Prepared { spec, inputs } = match prepared.or_else(held) {
            Some(p) => p,
            None => self
                .prepare(&key, job)
                .await
                .map_err(|e| WorkerError::job(key, e))?,
        };
        let job_error = |e: JobError| WorkerError::job(key, e);

        let out = {
            // Waiting for the device is not execution time.
            let _device = self.lane.acquire().await.expect("the lane is never closed");
            let start = Instant::now();
            let executor = self.executor.clone();
            let workload = spec.workload.clone();
            let out = tokio::task::spawn_blocking(move || executor.execute(&workload, &inputs))
                .await
                .map_err(|e| job_error(e.into()))?
                .map_err(|e| job_error(e.into()))?;
            self.timeline.record(key, Phase::Execute, start);
            out
        };

        let device_ms = out.device_time.as_millis() as u64;
        let start = Instant::now();
        let workload = spec.workload.clone();
        let (root, bytes) = tokio::task::spawn_blocking(move || {
            let root = result_root(&workload, &out.bytes);
            (root, out.bytes)
        })
        .await
        .map_err(|e| job_error(e.into()))?;
        let root = root.map_err(|e| job_error(e.into()))?;
        self.timeline.record(key, Phase::Commit, start);

        let start = Instant::now();
        let stored = self
            .blobs
            .put(&bytes)
            .await
            .map_err(|e| job_error(e.into()))?;
        self.timeline.record(key, Phase::Upload, start);

        let devices = self.executor.device().count.max(1) as u64;
        let gpu_ms = device_ms.max(1).saturating_mul(devices);
        self.bump(|s| s.executed += 1);
        Ok(Executed {
            root,
            output_uri: stored.uri,
            gpu_ms,
        })
    }
}

/// A quick GEMM throughput measurement for the on-chain descriptor, GFLOP/s
/// (f32, 256^3; a few milliseconds on a CPU, microseconds on a GPU).
pub fn measure_gflops(executor: &dyn Executor) -> u32 {
    use gpu_market_compute::spec::{random_f32_matrix, Workload};
    let n = 256u32;
    let w = Workload::GemmF32 {
        m: n,
        n,
        k: n,
        rel_tolerance: 1e-3,
    };
    let mut inputs = Inputs::new();
    inputs.insert("a".into(), random_f32_matrix(1, n, n));
    inputs.insert("b".into(), random_f32_matrix(2, n, n));
    let _ = executor.execute(&w, &inputs); // warm-up
    match executor.execute(&w, &inputs) {
        Ok(out) if !out.device_time.is_zero() => {
            (w.flops() as f64 / out.device_time.as_secs_f64() / 1e9) as u32
        }
        _ => 0,
    }
}
