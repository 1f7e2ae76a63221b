//! Segmented jobs: a buyer posts a job in paid segments, extends it or ends it early;
//! the claiming provider commits one checkpoint per segment; anyone pays a committed
//! segment after its challenge window, or expires a running one past its deadline so
//! that another provider resumes from the last checkpoint. `job_claim` starts segments
//! too (see `job/job_claim.rs`). The rules are `Segments`' (state/segments/).

pub mod job_end;
pub mod job_extend;
pub mod job_post_segmented;
pub mod segment_challenge;
pub mod segment_commit;
pub mod segment_expire;
pub mod segment_finalize;
pub mod segment_refund;
pub mod segment_settle;

pub use job_end::*;
pub use job_extend::*;
pub use job_post_segmented::*;
pub use segment_challenge::*;
pub use segment_commit::*;
pub use segment_expire::*;
pub use segment_finalize::*;
pub use segment_refund::*;
pub use segment_settle::*;
