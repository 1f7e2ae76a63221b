//! Disputes over a submitted GEMM result (the challenge itself is `job_challenge`): staging
//! and verifying the three leaves a ruling needs in proof buffers, absorbing the dot
//! product over as many transactions as k needs, and settling by rule.

pub mod dispute_absorb;
pub mod dispute_settle;
pub mod proof_close;
pub mod proof_open;
pub mod proof_verify;
pub mod proof_write;
pub mod settle_shares;

pub use dispute_absorb::*;
pub use dispute_settle::*;
pub use proof_close::*;
pub use proof_open::*;
pub use proof_verify::*;
pub use proof_write::*;
