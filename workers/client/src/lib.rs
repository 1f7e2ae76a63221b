//! The gpu-market SDK. Everything off-chain (CLI, workers, auditors, tests)
//! reaches the program through this crate: addresses are derived in [`pda`],
//! instructions built in [`ix`], accounts decoded in [`accounts`], transactions
//! signed and sent by [`send::Sender`] over any [`chain::Chain`] (JSON-RPC to a
//! real cluster, or the embedded in-process chain), and program failures come
//! back as [`error::ClientError::Program`] carrying the program's error name.
//! On top of that sit the roles' helpers: [`buyer`] (post a job, check its
//! result), [`dispute`] (challenge, stage proofs, settle), [`auditor`] (check a
//! result, challenge and prove a wrong element, settle), [`segments`] (segmented jobs:
//! post, claim, commit, pay, expire, extend, end), [`crank`], [`audit`], and [`bootstrap`] (mints and a market, for
//! local chains, the demo and tests) with its [`conservation`] check.

pub mod accounts;
pub mod anchor_errors;
pub mod audit;
pub mod auditor;
pub mod bootstrap;
pub mod buyer;
pub mod chain;
pub mod config;
pub mod conservation;
pub mod crank;
pub mod dispute;
pub mod error;
pub mod events;
pub mod ix;
pub mod pda;
pub mod segments;
pub mod send;
pub mod token;
pub mod views;

pub use anchor_lang::prelude::Pubkey;
pub use gpu_market::{self as program, errors::MarketError, ID as PROGRAM_ID};
