//! gpu-market-types: the words every gpu-market crate shares, defined once. A
//! [`Hash32`] is the SHA-256 that names a job's spec, its inputs and its result, on
//! chain and in the blob store; a [`WorkloadKind`] is the one-byte workload number a
//! job carries on chain and the `kind` name its spec carries off chain; a [`BlobRef`]
//! is a stored blob's URI, hash and length, as the blob store returns it and a job spec
//! names an input. The program, the compute crate and the blob store all use these
//! types, so a number or a hex spelling cannot drift between them.
//!
//! `#![no_std]` with `alloc` and no dependencies, so the on-chain program can link it;
//! the `serde` feature adds (de)serialization in the spellings the job spec uses.

#![no_std]

extern crate alloc;

mod blob;
mod hash;
mod kind;

pub use blob::BlobRef;
pub use hash::{Hash32, HexError};
pub use kind::WorkloadKind;
