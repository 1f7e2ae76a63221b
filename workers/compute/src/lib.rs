//! gpu-market-compute: workloads, executors, commitments (work in progress).

pub mod commit;
pub mod gemm;
pub mod merkle;
pub mod spec;
pub mod verify;
