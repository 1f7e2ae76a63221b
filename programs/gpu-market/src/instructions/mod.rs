//! Instruction handlers, grouped by who calls them. Each file holds one
//! instruction: its accounts (identity checks as constraints, each with a named
//! error), a `validate()` for business rules where there are any, and a short
//! handler that calls the pure state transitions, moves tokens and emits an event.

pub mod job;
pub mod market;
pub mod provider;

pub use job::*;
pub use market::*;
pub use provider::*;
