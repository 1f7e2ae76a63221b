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
use crate::policy::PolicyError;

/// Why a job cannot be run here, found before it is claimed (so no bond is
/// ever risked on it).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("spec unavailable: {0}")]
    SpecUnavailable(#[from] BlobError),
    #[error("the spec is {len} bytes, over the {max}-byte limit")]
    SpecTooLarge { len: u64, max: u64 },
    /// A chain-supplied URI (`what`: "spec" or the input's name) the worker's
    /// policy does not fetch.
    #[error("{what} URI refused: {source}")]
    UriRefused {
        what: String,
        #[source]
        source: PolicyError,
    },
    /// Fetching `what` ("spec" or the input's name) took longer than the
    /// worker's fetch timeout; tried again on a later tick.
    #[error("fetching {what} timed out after {after:?}")]
    FetchTimedOut {
        what: String,
        after: std::time::Duration,
    },
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
    #[error("input {name:?} is {found} bytes, the spec declares {declared}")]
    DeclaredLength {
        name: String,
        declared: u64,
        found: u64,
    },
    #[error("the job needs {needed} bytes, over {what} ({available} bytes)")]
    TooLarge {
        what: &'static str,
        needed: u64,
        available: u64,
    },
    /// A claim now would leave `left` seconds to submit; the job needs `needed`
    /// (its estimated execution at the measured rate plus the submission margin).
    #[error("a claim now leaves {left} s to submit, the job needs {needed} s")]
    TooLittleTime { left: i64, needed: i64 },
    #[error("the job has no valid submit deadline")]
    NoSubmitDeadline,
    /// A train-mlp spec's data blob is not the data it declares, or not digits.
    #[error("the training data is unusable: {0}")]
    TrainingData(#[from] gpu_market_compute::train::SegmentError),
    /// The executor's own check (inputs, and for cuda-kernel the compilation).
    #[error("the executor cannot run it: {0}")]
    ExecutorRefuses(#[from] ExecError),
    #[error("the executor's check panicked: {0}")]
    CheckPanicked(#[source] tokio::task::JoinError),
    /// The GEMM commitment recorded on chain is not the spec's: a ruling would judge the
    /// result against other matrices.
    #[error("the job's on-chain gemm commitment disagrees with its spec ({what})")]
    CommitmentMismatch { what: &'static str },
    /// Reading the chain's clock for the time check failed; tried again later.
    #[error("cannot read the chain's clock: {0}")]
    Chain(#[from] ClientError),
    /// The worker's own disk failed it (creating, writing or reading a
    /// preparation's input file): no verdict on the job, tried again later.
    #[error("work directory {}: {source}", path.display())]
    WorkDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PrepareError {
    /// A failure that may not recur (a stalled blob store): the job is tried
    /// again later instead of being refused for good.
    pub fn is_transient(&self) -> bool {
        match self {
            PrepareError::FetchTimedOut { .. }
            | PrepareError::Chain(_)
            | PrepareError::WorkDir { .. } => true,
            PrepareError::UriRefused { source, .. } => source.is_transient(),
            _ => false,
        }
    }
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
    /// The execution did not finish `margin` seconds before the submit
    /// deadline; the worker stopped waiting for it.
    #[error("execution still running {after:?} in, past the submit deadline less the margin")]
    ExecutionTimedOut { after: std::time::Duration },
    #[error("commitment failed: {0}")]
    Commit(#[from] CommitError),
    #[error("could not upload the output: {0}")]
    Upload(#[from] BlobError),
    #[error("submission failed: {0}")]
    Submission(#[from] ClientError),
    /// A `Claiming` or `Submitting` journal line whose transaction does not decode.
    #[error("the journaled {what} transaction is unreadable")]
    UnreadableJournal { what: &'static str },
    /// Carrying a segmented job's segments (train, store, journal, commit, expire).
    #[error("segments: {0}")]
    Segments(#[from] crate::segments::SegmentRunError),
    /// The buyer's checkpoint store the spec names cannot be opened.
    #[error("the spec's checkpoint store: {0}")]
    CheckpointStore(#[from] gpu_market_blobs::CheckpointStoreError),
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
    /// Every submission would fail on chain (`UriTooLong`) after its claim, and
    /// the bond would be slashed: the worker does not start.
    #[error("the blob store's result URIs are {len} bytes ({uri}), over the program's {max}-byte cap: use a shorter blob-store location")]
    ResultUriTooLong { uri: String, len: usize, max: usize },
    #[error("cannot store a probe blob in the blob store: {0}")]
    BlobStore(#[source] BlobError),
    #[error(transparent)]
    SegmentJournal(#[from] crate::segments::journal::JournalError),
    /// The worker's own checkpoint directory cannot be opened.
    #[error("the worker's checkpoint directory: {0}")]
    Checkpoints(#[source] gpu_market_blobs::CheckpointStoreError),
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
