//! Workloads, executors, commitments (work in progress).
