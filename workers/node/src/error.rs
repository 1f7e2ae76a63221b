//! The worker's errors. Each failure carries the lower error that caused it
//! (`#[from]` the blob store's, the spec's, the executor's or the chain
//! client's), and failures of one job are wrapped with that job's key in
//! [`WorkerError::Job`], so an operator reads one line ("job X: input "a"
//! unavailable: blob not found at ...") and code matches on the cause.

use gpu_market_blobs::BlobError;
use gpu_market_client::error::ClientError;
use gpu_market_client::Pubkey;
use gpu_market_compute::commit::CommitError;
use gpu_market_compute::exec::ExecError;
use gpu_market_compute::spec::SpecError;

use crate::config::FailPoint;
use crate::journal::JournalError;

/// Why a job cannot be run here, found before it is claimed (so no bond is
/// ever risked on it).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("spec unavailable: {0}")]
    SpecUnavailable(#[from] BlobError),
    #[error("malformed spec: {0}")]
    MalformedSpec(#[from] SpecError),
    #[error("spec says {spec} but the job was posted as workload {posted}")]
    KindMismatch { spec: &'static str, posted: u8 },
    #[error("{kind} is not supported by this executor")]
    Unsupported { kind: &'static str },
    #[error("input {name:?} unavailable: {source}")]
    InputUnavailable {
        name: String,
        #[source]
        source: BlobError,
    },
    #[error("inputs do not fit the workload: {0}")]
    InputsMismatch(#[from] ExecError),
}

/// What went wrong while carrying one job through its lifecycle.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("execution failed: {0}")]
    Execution(#[from] ExecError),
    #[error("the executor panicked: {0}")]
    Panicked(#[from] tokio::task::JoinError),
    #[error("commitment failed: {0}")]
    Commit(#[from] CommitError),
    #[error("could not upload the output: {0}")]
    Upload(#[from] BlobError),
    #[error("submission failed: {0}")]
    Submission(#[from] ClientError),
    /// A `Claiming` or `Submitting` journal line whose transaction does not decode.
    #[error("the journaled {what} transaction is unreadable")]
    UnreadableJournal { what: &'static str },
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("provider {provider} is not registered in market {market}: run `gpumkt provider register` first")]
    NotRegistered { provider: Pubkey, market: Pubkey },
    #[error("this worker key {key} is not provider {provider}'s worker key {expected}: run `gpumkt provider update --worker {key}` or use the right --keypair")]
    WrongWorkerKey {
        key: Pubkey,
        provider: Pubkey,
        expected: Pubkey,
    },
    /// Boxed: job errors carry chain and blob errors, and most results of the
    /// worker are `Ok`.
    #[error("job {job}: {source}")]
    Job {
        job: Pubkey,
        #[source]
        source: Box<JobError>,
    },
    /// A task of the worker panicked (its job, if it had one, resumes from the journal).
    #[error("a worker task panicked: {0}")]
    TaskPanicked(#[source] tokio::task::JoinError),
    #[error("simulated crash at {0:?}")]
    Crashed(FailPoint),
}

impl WorkerError {
    /// Wraps a failure of job `job`.
    pub fn job(job: Pubkey, source: impl Into<JobError>) -> Self {
        WorkerError::Job {
            job,
            source: Box::new(source.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_failure_reads_as_one_line_and_matches_on_its_cause() {
        let job = Pubkey::new_unique();
        let e = WorkerError::job(
            job,
            PrepareError::InputUnavailable {
                name: "a".into(),
                source: BlobError::NotFound {
                    uri: "file:///blobs/00".into(),
                },
            },
        );
        assert_eq!(
            e.to_string(),
            format!("job {job}: input \"a\" unavailable: blob not found at file:///blobs/00")
        );
        let WorkerError::Job { source, .. } = e else {
            panic!("not a job error: {e}")
        };
        assert!(matches!(
            *source,
            JobError::Prepare(PrepareError::InputUnavailable {
                source: BlobError::NotFound { .. },
                ..
            })
        ));
        let upload = WorkerError::job(
            job,
            BlobError::TooLarge {
                uri: "s3://b".into(),
                len: 9,
                max: 8,
            },
        );
        assert!(upload
            .to_string()
            .starts_with(&format!("job {job}: could not upload the output: ")));
    }
}
