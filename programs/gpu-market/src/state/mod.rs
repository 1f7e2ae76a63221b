//! Account types and their state transitions. Transitions are pure methods
//! (no accounts, no CPIs) so that they are unit-tested without a chain; the
//! instruction handlers only load accounts, call them, move tokens and emit events.

mod dispute;
mod job;
mod market;
mod provider;
mod referee;
mod segments;

pub use dispute::*;
pub use job::*;
pub use market::*;
pub use provider::*;
pub use referee::*;
pub use segments::*;
