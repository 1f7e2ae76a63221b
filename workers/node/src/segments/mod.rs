//! Segmented train-mlp jobs on the worker side (issue 11): a job paid per segment,
//! each segment a checkpoint committed on chain. What the chain says comes in as a
//! [`Segments`] snapshot through a [`SegmentChain`]; the pure planner ([`plan`]) turns
//! it, this worker's [`journal`] and the time into one action; the runner ([`run`])
//! does it: train a segment from the previous checkpoint, store the checkpoint in the
//! buyer's store and locally, commit, resume its own crash from its own copy without
//! claiming again, or take over another provider's job from its last committed
//! checkpoint after verifying it against the on-chain root.
//!
//! Files: [`state`] (the plain mirror of the program's `Segments` account, until the
//! program's own type lands), [`plan`], [`journal`], [`chain`] (the trait), [`run`].

pub mod chain;
pub mod journal;
pub mod plan;
pub mod run;
pub mod state;

pub use chain::SegmentChain;
pub use journal::{SegmentJournal, Stored};
pub use plan::{next, Action, Facts, Start};
pub use run::{FailPoint, SegmentJob, SegmentRunError, SegmentRunner};
pub use state::{Segment, SegmentState, Segments};
