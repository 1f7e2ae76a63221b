//! Executing a claimed job: its prepared inputs go to the executor (one job on
//! the device at a time, off the async threads), the output is committed to
//! with its Merkle root and stored in the blob store, and what a submission
//! needs comes back as a journal-ready [`Executed`].
//!
//! An execution is waited for only until `execution_margin` seconds before the
//! job's submit deadline (or `execution_timeout`, if sooner): past that a
//! result could not be submitted in time anyway. The worker then stops
//! waiting ([`JobError::ExecutionTimedOut`]); the blocking call keeps the
//! device lane until it returns, and while it has not the worker claims
//! nothing (the device is wedged), so the next job is not claimed onto it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gpu_market::state::Job;
use gpu_market_blobs::{BlobError, BlobRef};
use gpu_market_client::Pubkey;
use gpu_market_compute::commit::result_root;
use gpu_market_compute::exec::{Executor, Inputs};
use gpu_market_compute::spec::Workload;

use crate::error::JobError;
use crate::fetch::{Prepared, Purpose};
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
                .prepare(&key, job, Purpose::Claimed)
                .await
                .map_err(|e| WorkerError::job(key, e))?,
        };
        let job_error = |e: JobError| WorkerError::job(key, e);

        let out = {
            let now = self
                .sender
                .chain
                .clock()
                .await
                .map_err(|e| job_error(e.into()))?
                .unix_timestamp;
            let limit = self.execution_limit(job, now);
            let waited = Instant::now();
            let executor = self.executor.clone();
            let workload = spec.workload.clone();
            let lane = self.lane.clone();
            let run_state = Arc::new(Mutex::new(RunState::default()));
            let (inner, wedged) = (run_state.clone(), self.wedged.clone());
            let run = async move {
                // Waiting for the device is not execution time, but it counts
                // against the deadline.
                let device = lane
                    .acquire_owned()
                    .await
                    .expect("the lane is never closed");
                let start = Instant::now();
                let handle = tokio::task::spawn_blocking(move || {
                    inner.lock().unwrap().started = true;
                    let out = executor.execute(&workload, &inputs);
                    drop(device);
                    let mut st = inner.lock().unwrap();
                    st.finished = true;
                    if st.abandoned {
                        // Nobody waits for it any more; the device is free again.
                        wedged.fetch_sub(1, Ordering::SeqCst);
                    }
                    out
                });
                (start, handle.await)
            };
            match tokio::time::timeout(limit, run).await {
                Ok((start, joined)) => {
                    let out = joined
                        .map_err(|e| job_error(e.into()))?
                        .map_err(|e| job_error(e.into()))?;
                    self.timeline.record(key, Phase::Execute, start);
                    out
                }
                Err(_) => {
                    // The blocking call may still run: no claims until it returns.
                    let mut st = run_state.lock().unwrap();
                    if st.started && !st.finished {
                        st.abandoned = true;
                        self.wedged.fetch_add(1, Ordering::SeqCst);
                    }
                    drop(st);
                    return Err(job_error(JobError::ExecutionTimedOut {
                        after: waited.elapsed(),
                    }));
                }
            }
        };

        let device_ms = out.device_time.as_millis() as u64;
        let start = Instant::now();
        let workload = spec.workload.clone();
        let cheat = self.cfg.cheat_wrong_results;
        if cheat {
            tracing::warn!(job = %key, "TEST ONLY: cheat_wrong_results is on: corrupting this job's output before committing to it");
        }
        let (root, bytes) = tokio::task::spawn_blocking(move || {
            let mut bytes = out.bytes;
            if cheat {
                corrupt_first_element(&workload, &mut bytes);
            }
            let root = result_root(&workload, &bytes);
            (root, bytes)
        })
        .await
        .map_err(|e| job_error(e.into()))?;
        let root = root.map_err(|e| job_error(e.into()))?;
        self.timeline.record(key, Phase::Commit, start);

        let start = Instant::now();
        let stored = self
            .upload(job, &bytes)
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

/// The cheating test mode ([`crate::WorkerConfig::cheat_wrong_results`]): makes C[0][0]
/// of a GEMM output wrong, by 1 for gemm-i8 (exact, so any change is wrong) and by 1e6
/// for gemm-f32 (far beyond the ruling's error bound at any size the demo runs). Other
/// workloads are left as they are: the chain cannot rule on them. Returns whether the
/// output was changed.
pub fn corrupt_first_element(workload: &Workload, bytes: &mut [u8]) -> bool {
    let Some(first) = bytes.get_mut(..4) else {
        return false;
    };
    let mut word = [0u8; 4];
    word.copy_from_slice(first);
    let wrong = match workload {
        Workload::GemmI8 { .. } => i32::from_le_bytes(word).wrapping_add(1).to_le_bytes(),
        Workload::GemmF32 { .. } => (f32::from_le_bytes(word) + 1.0e6).to_le_bytes(),
        _ => return false,
    };
    first.copy_from_slice(&wrong);
    true
}

/// One execution, as the waiting side and the blocking call both see it.
#[derive(Default)]
struct RunState {
    started: bool,
    finished: bool,
    /// The worker stopped waiting while it ran.
    abandoned: bool,
}

impl Worker {
    /// Stores a computed output. A store that cannot be reached (or does not
    /// answer within `fetch_timeout`) is tried again, from a 50 ms pause
    /// doubling to 2 s, for as long as a submission could still be in time
    /// (until `execution_margin` seconds before the submit deadline, by the
    /// chain's clock): a result is not given up, and the bond with it, for an
    /// upload that works a moment later. Other refusals are final.
    async fn upload(&self, job: &Job, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        let mut pause = Duration::from_millis(50);
        loop {
            let failed = match tokio::time::timeout(self.cfg.fetch_timeout, self.blobs.put(bytes))
                .await
            {
                Ok(Ok(stored)) => return Ok(stored),
                Ok(Err(e @ (BlobError::Unreachable { .. } | BlobError::Io { .. }))) => e,
                Ok(Err(e)) => return Err(e),
                Err(_) => BlobError::Unreachable {
                    uri: self.blobs.describe(),
                    detail: format!("no answer to an upload within {:?}", self.cfg.fetch_timeout),
                },
            };
            let Ok(clock) = self.sender.chain.clock().await else {
                return Err(failed);
            };
            let left = job
                .submit_deadline
                .saturating_sub(self.cfg.execution_margin)
                .saturating_sub(clock.unix_timestamp);
            if left <= 0 {
                return Err(failed);
            }
            tracing::warn!(error = %failed, left, "upload failed; trying again");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// How long an execution of `job` may be waited for at chain time `now`:
    /// until `execution_margin` seconds before its submit deadline, and no
    /// longer than `execution_timeout`.
    pub(crate) fn execution_limit(&self, job: &Job, now: i64) -> Duration {
        let secs = job
            .submit_deadline
            .saturating_sub(self.cfg.execution_margin)
            .saturating_sub(now)
            .max(0);
        let by_deadline = Duration::from_secs(secs as u64);
        match self.cfg.execution_timeout {
            Some(cap) => by_deadline.min(cap),
            None => by_deadline,
        }
    }
}

/// A quick GEMM throughput measurement for the on-chain descriptor, GFLOP/s
/// (f32, 256^3; a few milliseconds on a CPU, microseconds on a GPU).
pub fn measure_gflops(executor: &dyn Executor) -> u32 {
    use gpu_market_compute::spec::random_f32_matrix;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cheat_mode_makes_c00_wrong_for_both_gemms_and_leaves_other_workloads() {
        let i8 = Workload::GemmI8 { m: 1, n: 2, k: 1 };
        let mut c = gpu_market_compute::gemm::i32s_to_le_bytes(&[41, 7]);
        assert!(corrupt_first_element(&i8, &mut c));
        assert_eq!(c, gpu_market_compute::gemm::i32s_to_le_bytes(&[42, 7]));

        let f32 = Workload::GemmF32 {
            m: 1,
            n: 2,
            k: 1,
            rel_tolerance: 1e-3,
        };
        let mut c = gpu_market_compute::gemm::f32s_to_le_bytes(&[0.5, 2.0]);
        assert!(corrupt_first_element(&f32, &mut c));
        assert_eq!(
            c,
            gpu_market_compute::gemm::f32s_to_le_bytes(&[1.0e6 + 0.5, 2.0])
        );

        let other = Workload::CudaKernel {
            source: String::new(),
            entry: "k".into(),
            grid: [1, 1, 1],
            block: [1, 1, 1],
            shared_mem_bytes: 0,
            args: vec![],
        };
        let mut c = vec![1, 2, 3, 4];
        assert!(!corrupt_first_element(&other, &mut c));
        assert_eq!(c, [1, 2, 3, 4]);
        assert!(!corrupt_first_element(&i8, &mut [0u8; 3]));
    }

    #[test]
    fn the_cheat_mode_is_off_by_default() {
        let cfg = crate::WorkerConfig::new(Default::default(), Default::default(), "j".into());
        assert!(!cfg.cheat_wrong_results);
    }
}
