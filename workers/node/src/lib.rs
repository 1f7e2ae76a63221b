//! gpu-worker, the daemon a provider runs next to its GPUs. It watches the
//! market (a subscription plus a periodic reconcile scan, since streams drop),
//! decides with a pure planner ([`plan`]) which open jobs to take, checks a
//! job's spec and inputs before risking a bond on it, claims, executes on the
//! best executor it finds (CUDA, else CPU, and it says why), commits to the
//! result with a Merkle root, uploads the output, and submits before the
//! deadline. How each job goes on from where it is, a crash at any point
//! included, is a pure function ([`lifecycle::next`]) of what the worker
//! journaled ([`journal`]), what the chain says and the time; while one job
//! executes, the next ones are prepared ahead within a memory budget
//! ([`prefetch`]), so the executor does not wait on downloads. The other
//! side (building specs, uploading inputs, posting, verifying results) is the
//! SDK's `gpu_market_client::buyer`.

pub mod budget;
pub mod config;
mod cranking;
pub mod defend;
mod drive;
pub mod error;
mod execute;
mod fetch;
pub mod journal;
pub mod lifecycle;
pub mod plan;
pub mod policy;
pub mod prefetch;
pub mod referee;
mod segmented;
pub mod segments;
mod store_check;
pub mod timing;
mod transactions;
pub mod worker;

pub use config::SpecStore;
pub use error::{JobError, PrepareError, WorkerError};
pub use policy::{PolicyError, UriPolicy};
pub use worker::{FailPoint, Stats, Worker, WorkerConfig};

use gpu_market::state::GpuDescriptor;
use gpu_market_compute::exec::{DeviceInfo, DeviceKind, Executor};

/// The on-chain descriptor for a device the executor drives.
pub fn descriptor(device: &DeviceInfo, benchmark_gflops: u32) -> GpuDescriptor {
    GpuDescriptor {
        model: GpuDescriptor::model_from_str(&device.name),
        vram_mb: (device.memory_bytes / (1024 * 1024)).clamp(1, u32::MAX as u64) as u32,
        count: device.count.clamp(1, u16::MAX as u32) as u16,
        compute_capability: match device.kind {
            DeviceKind::Cpu => 0,
            DeviceKind::Cuda => device.compute_capability,
        },
        benchmark_gflops,
    }
}

/// Workload kind codes `executor` runs, as the executor itself reports them.
pub fn supported_kinds(executor: &dyn Executor) -> Vec<u8> {
    executor
        .supported_kinds()
        .into_iter()
        .map(|kind| kind.code())
        .collect()
}
