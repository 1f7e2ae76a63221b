//! gpu-market-ruling: the pure math of an on-chain ruling over one disputed GEMM output
//! element. Staged bytes go in (a row of A, a column of B, a row of C, their Merkle paths
//! and the job's roots); out come "the paths hold" or which one fails, and then, from
//! chunks of the row and column absorbed over as many transactions as the compute budget
//! needs, whether the claimed element is wrong: exactly for gemm-i8 ([`dot_i8`]), by a
//! deterministic integer test of the f32 error bound for gemm-f32 ([`dot_f32`]).
//!
//! `no_std`, no Solana dependencies, no floats, no heap, no `unsafe`: the Anchor program
//! calls it on SBF with Solana's sha256 syscall behind [`hash::Sha256`]; auditors and tests
//! call it natively with [`hash::Sha2`] (default feature `sha2`), so a challenger decides
//! whether to challenge by the very rule the chain applies. Its compute-unit cost in the
//! real SBF VM is measured by `programs/ruling/sbf/bench.sh` (figures in
//! `docs/benchmarks.md`).

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::float_arithmetic))]

#[cfg(test)]
extern crate std;

pub mod dot_f32;
pub mod dot_i8;
pub mod element;
pub mod error;
pub mod hash;
pub mod merkle;
pub mod wide;

pub use dot_f32::{F32Accumulator, F32Verdict};
pub use dot_i8::{I8Accumulator, I8Verdict};
pub use element::{check_element_paths, ElementPaths, GemmDims, GemmRoots, Tree};
pub use error::RulingError;
pub use hash::Sha256;

/// The largest k a ruling accepts: gpu-market's largest GEMM dimension
/// (`gpu_market_compute::spec::MAX_DIM`, 2^21; a test keeps the two equal). The f32
/// accumulator's width and the f32 bound's integer ranges are sized for it.
pub const MAX_K: u32 = 1 << 21;
