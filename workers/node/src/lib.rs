//! gpu-worker, the daemon a provider runs next to its GPUs. It watches the
//! market (a subscription plus a periodic reconcile scan, since streams drop),
//! decides with a pure planner ([`plan`]) which open jobs to take, checks a
//! job's spec and inputs before risking a bond on it, claims, executes on the
//! best executor it finds (CUDA, else CPU, and it says why), commits to the
//! result with a Merkle root, uploads the output, and submits before the
//! deadline. A crash journal ([`journal`]) lets a killed worker resume every
//! job without double claims, double submissions or lost work. [`buyer`] holds
//! the other side: building specs, uploading inputs, posting, and verifying results.

pub mod buyer;
pub mod journal;
pub mod plan;
pub mod worker;

pub use worker::{FailPoint, Stats, Worker, WorkerConfig, WorkerError};

use gpu_market::state::GpuDescriptor;
use gpu_market_compute::exec::{DeviceInfo, DeviceKind};

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

/// Workload kinds an executor of this kind runs (CUDA C needs a GPU).
pub fn supported_kinds(device: &DeviceInfo) -> Vec<u8> {
    match device.kind {
        DeviceKind::Cpu => vec![0, 1],
        DeviceKind::Cuda => vec![0, 1, 3],
    }
}
