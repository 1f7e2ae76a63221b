//! How the demo can fail, step by step, each with the error underneath and
//! the job, provider or location it concerns.

use gpu_market_blobs::BlobError;
use gpu_market_client::buyer::BuyerError;
use gpu_market_client::error::ClientError;
use gpu_market_client::Pubkey;
use gpu_market_worker::WorkerError;

use super::report::Progress;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A chain call in the named step failed.
    #[error("{step}: {source}")]
    Chain {
        step: &'static str,
        #[source]
        source: ClientError,
    },
    #[error("temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("blob store at {location}: {source}")]
    BlobStore {
        location: String,
        #[source]
        source: BlobError,
    },
    /// A provider's worker refused to start (not registered, wrong key, journal).
    #[error("starting the worker of provider {provider}: {source}")]
    Worker {
        provider: Pubkey,
        #[source]
        source: WorkerError,
    },
    /// The first act needs the soon-offline provider to hold the first job.
    #[error("the offline provider {provider} did not get the first job {job}")]
    OfflineMissedFirstJob { provider: Pubkey, job: Pubkey },
    /// The cheating provider never submitted its (wrong) result.
    #[error("the cheating provider did not submit job {job} in time")]
    CheatNotSubmitted { job: Pubkey },
    #[error("posting job {nonce}: {source}")]
    Post {
        nonce: u64,
        #[source]
        source: BuyerError,
    },
    #[error("not settled after {timeout_s} s: {progress:?}")]
    NotSettled {
        timeout_s: u64,
        progress: Box<Progress>,
    },
    #[error("crank task: {0}")]
    CrankTask(#[source] tokio::task::JoinError),
    #[error("auditor task: {0}")]
    AuditorTask(#[source] tokio::task::JoinError),
    /// The market's slash rule could not split the offline provider's bond.
    #[error("slash split of bond {bond}: {source}")]
    SlashSplit {
        bond: u64,
        #[source]
        source: anchor_lang::error::Error,
    },
    #[error("finished with a failed check (see the report)")]
    FailedCheck,
    /// The training act: a blob it stores (the digits, the spec).
    #[error("{step}: {source}")]
    Blob {
        step: &'static str,
        #[source]
        source: BlobError,
    },
    #[error("reading the bundled digits: {0}")]
    TrainingData(#[source] std::io::Error),
    #[error("the training spec: {0}")]
    TrainSpec(#[source] gpu_market_compute::spec::SpecError),
    #[error("training the reference run: {0}")]
    Train(#[source] gpu_market_compute::train::TrainError),
    #[error("the buyer's checkpoint store: {0}")]
    Checkpoints(#[source] gpu_market_blobs::CheckpointStoreError),
    /// A rule of the program's money math refused the act's figures.
    #[error("{what}: {source}")]
    Rule {
        what: &'static str,
        #[source]
        source: anchor_lang::error::Error,
    },
    /// The training act needs its first provider to die holding the segment it names.
    #[error("the first trainer of job {job} was not holding the segment it dies in")]
    TrainerNotKilled { job: Pubkey },
    #[error("the training job {job} was not finished and paid in time")]
    TrainingNotDone { job: Pubkey },
    #[error("writing the key file {}: {source}", path.display())]
    KeyFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DemoError {
    /// Names the step a chain error happened in.
    pub(super) fn chain(step: &'static str) -> impl Fn(ClientError) -> DemoError {
        move |source| DemoError::Chain { step, source }
    }

    /// Names the step a blob store error happened in.
    pub(super) fn blob(step: &'static str) -> impl Fn(BlobError) -> DemoError {
        move |source| DemoError::Blob { step, source }
    }
}
