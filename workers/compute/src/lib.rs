//! gpu-market-compute: everything a gpu-market worker or auditor does with a job's
//! bytes, and nothing that touches the chain. Spec bytes come in ([`spec`]), input blobs
//! are run by an [`exec::Executor`] (CPU, or CUDA through [`cuda`]), the output is
//! committed to as a Merkle root ([`commit`], [`merkle`]) for the on-chain `result_root`,
//! and anyone can check a GEMM result cheaply ([`verify`]) and build the element proof a
//! dispute stages on chain.
//!
//! Builds and runs without CUDA: cudarc is loaded dynamically and [`cuda::detect`]
//! probes for the driver before anything calls into it; [`select::best_executor`] falls
//! back to the CPU and says why. `unsafe` code lives only in [`cuda`]. GPU tests and the
//! GPU half of the benchmark are run on a GPU machine as described in [`cuda`] and
//! `docs/benchmarks.md`.

pub mod commit;
pub mod cuda;
pub mod exec;
pub mod gemm;
pub mod merkle;
pub mod select;
pub mod spec;
pub mod train;
pub mod verify;

pub use commit::{gemm_input_roots, proof_for_element, result_root};
pub use exec::{CpuExecutor, DeviceInfo, DeviceKind, ExecError, ExecOutput, Executor, Inputs};
pub use merkle::{verify_proof, MerkleTree};
pub use select::{best_executor, BestExecutor};
pub use spec::{
    spec_hash, BlobRef, Hash32, JobSpec, KernelArg, NamedBlob, SpecError, Workload, WorkloadKind,
};
