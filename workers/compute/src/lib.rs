//! gpu-market-compute: workloads, executors, commitments (work in progress).

pub mod merkle;
pub mod spec;
