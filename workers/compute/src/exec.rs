//! Executors: a validated [`Workload`] and its input blobs go in, the output bytes and
//! the device time come out. The worker holds one `Box<dyn Executor>` chosen by
//! [`crate::select::best_executor`]: the CUDA executor when a usable GPU exists, else
//! the CPU one, with a sentence saying why it fell back. Both check input lengths themselves (a spec may
//! have been validated against different blobs), and both produce gemm-i8 outputs that
//! are byte-identical.

use crate::gemm::{self, GemmError};
use crate::spec::{SpecError, Workload, WorkloadKind};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Input name -> bytes.
pub type Inputs = BTreeMap<String, Vec<u8>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

/// What a provider registers on chain about its hardware.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub kind: DeviceKind,
    /// "NVIDIA H100 80GB HBM3", or the CPU description.
    pub name: String,
    /// Device memory (GPU) or system memory visible to us (CPU), in bytes; 0 if unknown.
    pub memory_bytes: u64,
    /// Streaming multiprocessors (GPU) or worker threads (CPU).
    pub sm_count: u32,
    /// major·10 + minor (90 for Hopper); 0 for CPU.
    pub compute_capability: u16,
    /// Number of identical devices this executor drives (1 today).
    pub count: u32,
}

/// A finished execution.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecOutput {
    /// The result bytes, as committed by [`crate::commit::result_root`].
    pub bytes: Vec<u8>,
    /// Time spent computing on the device (CUDA events around the kernels on a GPU;
    /// wall time of the computation on the CPU). Excludes input validation and, on a
    /// GPU, host<->device copies.
    pub device_time: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{executor} executor does not run {kind} workloads")]
    Unsupported {
        executor: &'static str,
        kind: &'static str,
    },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("input {name:?} is missing")]
    MissingInput { name: String },
    #[error("input {name:?} is not used by the workload")]
    UnexpectedInput { name: String },
    /// `expected` 0: any length from 1 byte to the buffer limit.
    #[error("input {name:?} is {found} bytes, the workload needs {expected} (0: 1 byte up to the buffer limit)")]
    InputLength {
        name: String,
        expected: u64,
        found: u64,
    },
    #[error(transparent)]
    Gemm(#[from] GemmError),
    #[error("CUDA is unavailable: {0}")]
    CudaUnavailable(String),
    #[error("CUDA driver error during {during}: {message}")]
    Driver {
        during: &'static str,
        message: String,
    },
    #[error("cuBLAS error during {during}: {message}")]
    Cublas {
        during: &'static str,
        message: String,
    },
    #[error("NVRTC could not compile the kernel: {log}")]
    Compile { log: String },
    #[error("kernel {entry:?} not found in the compiled module")]
    MissingEntry { entry: String },
    #[error("launch rejected: {0}")]
    Launch(String),
    #[error("job needs {needed} bytes of device memory, {free} are free")]
    OutOfMemory { needed: u64, free: u64 },
}

/// Runs workloads on one device.
pub trait Executor: Send + Sync {
    fn device(&self) -> &DeviceInfo;
    fn supports(&self, w: &Workload) -> bool;
    fn execute(&self, w: &Workload, inputs: &Inputs) -> Result<ExecOutput, ExecError>;

    /// Whether `execute` can run `w` on `inputs` here, checked before a worker risks a
    /// bond on the job: the workload is supported and valid and the inputs fit it; an
    /// executor that compiles code (the CUDA executor with a cuda-kernel source) compiles
    /// it here, so a job whose kernel does not build is refused unclaimed. It does not
    /// run the job. The default checks support and inputs.
    fn check(&self, w: &Workload, inputs: &Inputs) -> Result<(), ExecError> {
        if !self.supports(w) {
            return Err(ExecError::Unsupported {
                executor: "this",
                kind: w.kind_name(),
            });
        }
        check_inputs(w, inputs)
    }

    /// The kinds this executor runs, in protocol-number order: those whose smallest
    /// workload ([`Workload::smallest_of`]) it [`supports`](Executor::supports). What a
    /// worker advertises and claims, so it never claims a kind it would refuse.
    fn supported_kinds(&self) -> Vec<WorkloadKind> {
        WorkloadKind::ALL
            .into_iter()
            .filter(|&kind| Workload::smallest_of(kind).is_some_and(|w| self.supports(&w)))
            .collect()
    }
}

/// Validates the workload and checks that `inputs` holds exactly the blobs it reads:
/// GEMM inputs with their exact sizes, cuda-kernel inputs non-empty and within
/// [`crate::spec::MAX_BUFFER_BYTES`] (their sizes are otherwise the buyer's business).
pub fn check_inputs(w: &Workload, inputs: &Inputs) -> Result<(), ExecError> {
    w.validate()?;
    let expected = w.expected_inputs()?;
    for (name, len) in &expected {
        let found = inputs
            .get(name)
            .ok_or_else(|| ExecError::MissingInput { name: name.clone() })?
            .len() as u64;
        let ok = if *len != 0 {
            found == *len
        } else {
            (1..=crate::spec::MAX_BUFFER_BYTES).contains(&found)
        };
        if !ok {
            return Err(ExecError::InputLength {
                name: name.clone(),
                expected: *len,
                found,
            });
        }
    }
    if let Some(extra) = inputs
        .keys()
        .find(|k| !expected.iter().any(|(n, _)| n == *k))
    {
        return Err(ExecError::UnexpectedInput {
            name: extra.clone(),
        });
    }
    Ok(())
}

/// Multi-threaded CPU executor: gemm-i8 and gemm-f32; refuses cuda-kernel.
pub struct CpuExecutor {
    info: DeviceInfo,
    pool: Option<rayon::ThreadPool>,
}

impl CpuExecutor {
    /// One worker thread per available hardware thread.
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Self::with_threads(threads)
    }

    pub fn with_threads(threads: usize) -> Self {
        let threads = threads.max(1);
        // If the pool cannot be built (thread spawn refused), run on rayon's global
        // pool rather than fail: the result is the same.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("gpu-market-cpu-{i}"))
            .build()
            .ok();
        let info = DeviceInfo {
            kind: DeviceKind::Cpu,
            name: format!(
                "{} ({threads} threads)",
                cpu_model().unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
            ),
            memory_bytes: system_memory_bytes(),
            sm_count: threads as u32,
            compute_capability: 0,
            count: 1,
        };
        CpuExecutor { info, pool }
    }

    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }
}

impl Default for CpuExecutor {
    fn default() -> Self {
        Self::new()
    }
}

/// "model name" from /proc/cpuinfo, where there is one.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string()).filter(|s| !s.is_empty())
}

/// MemTotal from /proc/meminfo; 0 where unavailable.
fn system_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb.saturating_mul(1024))
        .unwrap_or(0)
}

impl Executor for CpuExecutor {
    fn device(&self) -> &DeviceInfo {
        &self.info
    }

    fn supports(&self, w: &Workload) -> bool {
        matches!(w, Workload::GemmI8 { .. } | Workload::GemmF32 { .. })
    }

    /// Refuses what the CPU cannot run (cuda-kernel), then checks the inputs.
    fn check(&self, w: &Workload, inputs: &Inputs) -> Result<(), ExecError> {
        if !self.supports(w) {
            return Err(ExecError::Unsupported {
                executor: "CPU",
                kind: w.kind_name(),
            });
        }
        check_inputs(w, inputs)
    }

    fn execute(&self, w: &Workload, inputs: &Inputs) -> Result<ExecOutput, ExecError> {
        if !self.supports(w) {
            return Err(ExecError::Unsupported {
                executor: "CPU",
                kind: w.kind_name(),
            });
        }
        check_inputs(w, inputs)?;
        let input = |name: &str| {
            inputs
                .get(name)
                .map(Vec::as_slice)
                .ok_or_else(|| ExecError::MissingInput { name: name.into() })
        };
        let (a, b) = (input("a")?, input("b")?);
        let Some((m, n, k)) = w.gemm_dims() else {
            return Err(ExecError::Unsupported {
                executor: "CPU",
                kind: w.kind_name(),
            });
        };
        let (m, n, k) = (m as usize, n as usize, k as usize);
        let start = Instant::now();
        let bytes = match w {
            Workload::GemmI8 { .. } => {
                let (a, b) = (gemm::i8s_from_bytes(a), gemm::i8s_from_bytes(b));
                let c = self.run(|| gemm::gemm_i8(m, n, k, &a, &b))?;
                gemm::i32s_to_le_bytes(&c)
            }
            _ => {
                let (a, b) = (gemm::f32s_from_le_bytes(a), gemm::f32s_from_le_bytes(b));
                let c = self.run(|| gemm::gemm_f32(m, n, k, &a, &b))?;
                gemm::f32s_to_le_bytes(&c)
            }
        };
        Ok(ExecOutput {
            bytes,
            device_time: start.elapsed(),
        })
    }
}
