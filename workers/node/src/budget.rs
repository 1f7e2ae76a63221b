//! What one job costs the worker, as pure functions checked before a bond is
//! risked on it: its time (a GEMM's 2·m·n·k operations at the provider's
//! measured rate, slowed by a safety factor, against the submit window a
//! claim would get now, read again after its inputs are fetched) and its
//! memory (the inputs and output the spec declares, against the worker's
//! memory budget and the device's memory). A job that fails either is not
//! claimed: a claim it cannot finish only ends in the bond's slash.

use gpu_market::state::Job;
use gpu_market_compute::exec::{DeviceInfo, DeviceKind};
use gpu_market_compute::spec::JobSpec;

use crate::error::PrepareError;

/// The worker's measured speed and the margin it keeps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    /// Measured GEMM rate registered on chain (`GpuDescriptor::benchmark_gflops`);
    /// 0: not measured, so no estimate is made.
    pub gflops: u32,
    /// The job is assumed to run this many times slower than the measured rate
    /// (other shapes, transfers, a busy device); at least 1.
    pub safety_factor: f64,
    /// Seconds kept after the execution for committing, uploading and submitting.
    pub min_time_to_submit: i64,
}

impl Pace {
    /// Seconds the computation of `spec` is expected to take, rounded up: 0 for a
    /// workload whose work the market cannot know (cuda-kernel) or when no rate is
    /// measured.
    pub fn execution_secs(&self, spec: &JobSpec) -> i64 {
        let ops = spec.workload.flops();
        if ops == 0 || self.gflops == 0 {
            return 0;
        }
        let secs = ops as f64 * self.safety_factor.max(1.0) / (self.gflops as f64 * 1e9);
        secs.ceil().min(i64::MAX as f64) as i64
    }

    /// Seconds a claim of `spec` needs before its submit deadline.
    pub fn needed_secs(&self, spec: &JobSpec) -> i64 {
        self.execution_secs(spec)
            .saturating_add(self.min_time_to_submit)
    }
}

/// Whether a claim of `job` at `now` leaves the `needed` seconds before the
/// submit deadline the program would give it. The window only shrinks as time
/// passes (`min(now + claim_timeout, deadline) - now`), so a job that fails
/// this never becomes claimable later.
pub fn check_time(job: &Job, now: i64, needed: i64) -> Result<(), PrepareError> {
    let submit_by = job
        .submit_deadline_for_claim_at(now)
        .map_err(|_| PrepareError::NoSubmitDeadline)?;
    let left = submit_by.saturating_sub(now);
    if left < needed {
        return Err(PrepareError::TooLittleTime { left, needed });
    }
    Ok(())
}

/// The bytes a job holds at once: its declared inputs and its output.
pub fn job_bytes(spec: &JobSpec) -> Result<u64, PrepareError> {
    let inputs = spec
        .inputs
        .iter()
        .map(|i| i.blob.len)
        .fold(0u64, u64::saturating_add);
    let output = spec.workload.expected_output_len()?;
    Ok(inputs.saturating_add(output))
}

/// Refuses a job whose declared inputs and output exceed `memory_budget` (host
/// memory for one job) or, on a GPU, the device's memory, before any input is
/// fetched.
pub fn check_memory(
    spec: &JobSpec,
    memory_budget: u64,
    device: &DeviceInfo,
) -> Result<(), PrepareError> {
    let needed = job_bytes(spec)?;
    if needed > memory_budget {
        return Err(PrepareError::TooLarge {
            what: "the worker's memory budget",
            needed,
            available: memory_budget,
        });
    }
    if device.kind == DeviceKind::Cuda && device.memory_bytes > 0 && needed > device.memory_bytes {
        return Err(PrepareError::TooLarge {
            what: "the GPU's memory",
            needed,
            available: device.memory_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market_compute::spec::{BlobRef, Hash32, NamedBlob, Workload, SPEC_VERSION};

    fn input(name: &str, len: u64) -> NamedBlob {
        NamedBlob {
            name: name.into(),
            blob: BlobRef {
                uri: format!("https://x/{name}"),
                sha256: Hash32([1; 32]),
                len,
            },
        }
    }

    fn gemm(m: u32, n: u32, k: u32) -> JobSpec {
        JobSpec {
            version: SPEC_VERSION,
            workload: Workload::GemmI8 { m, n, k },
            inputs: vec![
                input("a", m as u64 * k as u64),
                input("b", k as u64 * n as u64),
            ],
        }
    }

    #[test]
    fn a_job_too_big_for_the_measured_rate_is_not_worth_claiming() {
        let pace = Pace {
            gflops: 100,
            safety_factor: 2.0,
            min_time_to_submit: 5,
        };
        // 2 * 4096^3 = 1.37e11 ops at 100 GFLOP/s, twice as slow: 2.7 s -> 3 s.
        assert_eq!(pace.execution_secs(&gemm(4096, 4096, 4096)), 3);
        assert_eq!(pace.needed_secs(&gemm(4096, 4096, 4096)), 8);
        let unmeasured = Pace { gflops: 0, ..pace };
        assert_eq!(unmeasured.needed_secs(&gemm(4096, 4096, 4096)), 5);

        let job = Job {
            deadline: 1_000,
            ..Job::fixture()
        };
        let claim_timeout = job.terms.claim_timeout;
        #[rustfmt::skip]
        let table: [(&str, i64, i64, bool); 5] = [
            ("plenty of time", 0, 8, true),
            ("a window of claim_timeout, needed more", 0, claim_timeout + 1, false),
            ("exactly enough", 1_000 - 8, 8, true),
            ("the deadline caps the window", 1_000 - 7, 8, false),
            ("past the deadline", 1_001, 0, false),
        ];
        for (name, now, needed, ok) in table {
            assert_eq!(check_time(&job, now, needed).is_ok(), ok, "{name}");
        }
        assert!(matches!(
            check_time(&job, 1_000 - 7, 8),
            Err(PrepareError::TooLittleTime { left: 7, needed: 8 })
        ));
    }

    #[test]
    fn declared_sizes_are_checked_against_memory_before_fetching() {
        let cpu = DeviceInfo {
            kind: DeviceKind::Cpu,
            name: "cpu".into(),
            memory_bytes: 1 << 40,
            sm_count: 1,
            compute_capability: 0,
            count: 1,
        };
        let gpu = DeviceInfo {
            kind: DeviceKind::Cuda,
            memory_bytes: 1 << 20,
            ..cpu.clone()
        };
        // 2 * 1 MiB of inputs + 4 MiB of output.
        let spec = gemm(1024, 1024, 1024);
        assert_eq!(job_bytes(&spec).unwrap(), 6 << 20);
        assert!(check_memory(&spec, 6 << 20, &cpu).is_ok());
        assert!(matches!(
            check_memory(&spec, (6 << 20) - 1, &cpu),
            Err(PrepareError::TooLarge { needed, .. }) if needed == 6 << 20
        ));
        assert!(matches!(
            check_memory(&spec, 1 << 40, &gpu),
            Err(PrepareError::TooLarge {
                what: "the GPU's memory",
                ..
            })
        ));
        // A declared length cannot overflow the sum.
        let mut huge = spec.clone();
        huge.inputs[0].blob.len = u64::MAX;
        assert!(check_memory(&huge, u64::MAX - 1, &cpu).is_err());
    }
}
