//! Segmented train-mlp jobs on the worker side (issue 11): a job paid per segment,
//! each segment a checkpoint committed on chain. What the chain says comes in as a
//! [`Segments`] snapshot through a [`SegmentChain`]; the pure planner ([`plan`]) turns
//! it, this worker's [`journal`] and the time into one action; the runner ([`run`])
//! does it: train a segment from the previous checkpoint, store the checkpoint in the
//! buyer's store and locally, commit, resume its own crash from its own copy without
//! claiming again, or take over another provider's job from its last committed
//! checkpoint after verifying it against the on-chain root.
//!
//! What the chain says is the program's own `Segments` account (`gpu_market::state`),
//! read as it is. Files: [`plan`], [`journal`], [`chain`] (the trait and its
//! implementation over the client), [`run`].

pub mod chain;
pub mod journal;
pub mod plan;
pub mod run;

pub use chain::{ClientChain, SegmentChain};
pub use journal::{SegmentJournal, Stored};
pub use plan::{next, Action, Facts, Start};
pub use run::{FailPoint, SegmentJob, SegmentRunError, SegmentRunner};
