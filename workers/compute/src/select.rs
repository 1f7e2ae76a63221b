//! Choosing the executor: probes for CUDA (never panics) and hands the worker one
//! `Box<dyn Executor>`, the CUDA one when a usable GPU exists, else the CPU one with the
//! sentence saying why. The only module that knows both [`crate::exec`] and
//! [`crate::cuda`], so neither has to import the other.

use crate::cuda::{self, CudaExecutor, Detection};
use crate::exec::{CpuExecutor, Executor};

/// The executor a worker should use, and why it is not a GPU when it is not.
pub struct BestExecutor {
    pub executor: Box<dyn Executor>,
    /// `None` when `executor` is the CUDA one; otherwise a human-readable reason, e.g.
    /// "no libcuda.so.1 found".
    pub fallback_reason: Option<String>,
}

/// The CUDA executor on device 0 when usable, else the CPU executor plus the reason.
pub fn best_executor() -> BestExecutor {
    let cpu = |reason: String| BestExecutor {
        executor: Box::new(CpuExecutor::new()),
        fallback_reason: Some(reason),
    };
    match cuda::detect() {
        Detection::Available { .. } => match CudaExecutor::new(0) {
            Ok(gpu) => BestExecutor {
                executor: Box::new(gpu),
                fallback_reason: None,
            },
            Err(e) => cpu(format!("a GPU was found but could not be used: {e}")),
        },
        Detection::Unavailable { reason } => cpu(reason),
    }
}
