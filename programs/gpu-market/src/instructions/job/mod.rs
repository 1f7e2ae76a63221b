//! The job lifecycle: buyers post and cancel, workers claim and submit, and
//! anyone settles (finalize, expire) once the chain's clock says it is due.

pub mod job_cancel;
pub mod job_challenge;
pub mod job_claim;
pub mod job_expire;
pub mod job_expire_unclaimed;
pub mod job_finalize;
pub mod job_post;
pub mod job_submit;
pub(crate) mod missed_deadline;

pub use job_cancel::*;
pub use job_challenge::*;
pub use job_claim::*;
pub use job_expire::*;
pub use job_expire_unclaimed::*;
pub use job_finalize::*;
pub use job_post::*;
pub use job_submit::*;
