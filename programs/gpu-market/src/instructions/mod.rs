//! Instruction handlers, grouped by what they act on. Each file holds one
//! instruction: its accounts (identity checks as constraints, each with a named
//! error), a `validate()` for business rules where there are any, and a short
//! handler that calls the pure state transitions, moves tokens and emits an event.

pub mod dispute;
pub mod job;
pub mod market;
pub mod provider;
pub mod referee;
pub mod segment;

pub use dispute::*;
pub use job::*;
pub use market::*;
pub use provider::*;
pub use referee::*;
pub use segment::*;
