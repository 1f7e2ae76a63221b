//! What a command can fail with. Each failure carries the error underneath
//! (the chain's, the blob store's, the buyer helpers', the demo's) and the
//! key or path it concerns, so a program embedding the CLI can match on the
//! cause; `main` prints the message as one line on stderr. Usage errors
//! (something the user can fix by changing the command) exit with 2, `audit
//! verify`'s unavailable output with 3 and a result nothing can be challenged
//! in (an unprovable rejection, a workload the chain cannot rule on) with 4,
//! everything else with 1.

use std::net::SocketAddr;
use std::path::PathBuf;

use gpu_market_blobs::BlobError;
use gpu_market_client::auditor::AuditorError;
use gpu_market_client::buyer::BuyerError;
use gpu_market_client::config::KeyFileError;
use gpu_market_client::error::ClientError;
use gpu_market_client::{MarketError, Pubkey};
use gpu_market_compute::train::DataError;
use gpu_market_compute::SpecError;
use gpu_market_localnet::LocalnetError;

use crate::cmd::demo::DemoError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag, argument or setting to change; the message says which and why.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The cluster did not answer (the chain error, with advice added).
    #[error("cannot reach the cluster at {url} ({detail}); is a node running there? Start one with `gpumkt localnet`, or pass --url")]
    Unreachable { url: String, detail: String },
    #[error(transparent)]
    Buyer(#[from] BuyerError),
    #[error("blob store: {0}")]
    Blob(#[from] BlobError),
    /// The dashboard could not start (a port in use, a non-local address, a missing or
    /// unbuilt web dir, an unopenable history database): each is the user's to fix.
    #[error("dashboard: {0}")]
    Dashboard(#[from] gpu_market_dashboard::DashboardError),
    /// Writing the command's output (stdout) failed.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file named on the command line could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `--spec` names a file that could not be read.
    #[error("cannot read spec {}: {source}", path.display())]
    ReadSpec {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `--spec` names a file that is not a valid job spec.
    #[error("malformed spec {}: {source}", path.display())]
    BadSpec {
        path: PathBuf,
        #[source]
        source: SpecError,
    },
    #[error("no provider at {provider} in market {market}")]
    NoProvider { provider: Pubkey, market: Pubkey },
    #[error("job {job} not found: settled jobs close their accounts (check the address, or `gpumkt audit stats`)")]
    JobNotFound { job: Pubkey },
    /// The buyer's check of a submitted result failed: the job is worth a challenge.
    #[error("job {job}'s result does not check out: challenge it before {challenge_deadline}")]
    ResultRejected {
        job: Pubkey,
        challenge_deadline: i64,
    },
    #[error("job {job} did not settle within {timeout_s} s (last state {})", last_state.unwrap_or("unknown"))]
    WatchTimeout {
        job: Pubkey,
        timeout_s: u64,
        last_state: Option<&'static str>,
    },
    /// `audit verify`: the chain would rule this element wrong.
    #[error("job {job}'s result is wrong at C[{row}][{col}]: `gpumkt audit challenge {job} --row {row} --col {col}` wins the dispute")]
    ResultWrong { job: Pubkey, row: u32, col: u32 },
    /// `audit verify`: the committed output cannot be had (not proof that it is wrong).
    #[error("job {job}'s output is unavailable: {reason}")]
    OutputUnavailable { job: Pubkey, reason: String },
    /// `audit verify`: Freivalds' test rejected row `row`, but no element of it is wrong
    /// by the ruling (f32), so no challenge would win.
    #[error(
        "job {job}: row {row} fails Freivalds' test but no element is beyond the ruling's bound"
    )]
    Unprovable { job: Pubkey, row: u32 },
    #[error(transparent)]
    Auditor(#[from] AuditorError),
    #[error("market {market}: invariants violated")]
    InvariantsViolated { market: Pubkey },
    #[error("airdrop to {to} failed (only local chains and devnet have faucets): {source}")]
    Airdrop {
        to: Pubkey,
        #[source]
        source: ClientError,
    },
    #[error("localnet could not start on {addr} (is the port taken?): {source}")]
    Localnet {
        addr: SocketAddr,
        #[source]
        source: LocalnetError,
    },
    /// Boxed: the demo's errors are the largest and the rarest.
    #[error("demo: {0}")]
    Demo(#[source] Box<DemoError>),
    /// A segmented job's post, extension or end that would be refused: nothing was sent.
    #[error(transparent)]
    Segments(#[from] SegmentInputError),
    /// Only a job's buyer may change it (cancel, extend, end).
    #[error("job {job} was posted by {buyer}, not you ({me})")]
    NotYourJob {
        job: Pubkey,
        buyer: Pubkey,
        me: Pubkey,
    },
    /// `job extend` / `job end` on a job that has no segments.
    #[error(
        "job {job} is {state}, not a segmented job: only segmented jobs are extended or ended"
    )]
    NotSegmented { job: Pubkey, state: &'static str },
    /// `--max-escrow` is below what the program's rule takes.
    #[error("{what} escrows {escrow}, above --max-escrow {max}: nothing was sent")]
    EscrowAboveMax {
        what: &'static str,
        escrow: u64,
        max: u64,
    },
    /// The payment account cannot cover what the command would escrow.
    #[error("insufficient balance: {what} escrows {need} but your payment account {account} holds {have}")]
    InsufficientBalance {
        what: &'static str,
        account: Pubkey,
        need: u64,
        have: u64,
    },
}

/// Why a segmented job's post (`job post --segments`), extension or end is refused
/// before anything is sent, one variant per rule, carrying the value concerned. Where
/// the rule is the program's, the variant carries the program's own verdict
/// ([`MarketError`], from the `Segments` function that decides it).
#[derive(Debug, thiserror::Error)]
pub enum SegmentInputError {
    /// The program's `Segments` rules refuse the terms or the change (`SegmentsEmpty`,
    /// `TooManySegments`, `PriceZero`, `SegmentDurationInvalid`, `JobAlreadyEnded`,
    /// `JobDeadlinePassed`, ...), as checked by the function `job_post_segmented`,
    /// `job_extend` or `job_end` calls.
    #[error("{} ({}): nothing was sent", rule.name(), rule)]
    Refused { rule: MarketError },
    /// A per-segment list (`--segment-price`, `--segment-duration`) must have one value
    /// for all segments or one per segment.
    #[error(
        "{flag} has {given} values for {segments} segments: give one value, or one per segment"
    )]
    TermsListLength {
        flag: &'static str,
        given: usize,
        segments: u8,
    },
    /// Only train-mlp runs in segments.
    #[error("a {kind} workload is not segmentable: --segments is for train-mlp jobs")]
    NotSegmentable { kind: String },
    /// A train-mlp job is posted as segments.
    #[error("train-mlp jobs are paid by segment: pass --segments N (and --segment-price)")]
    SegmentsRequired,
    /// `--segments` and a spec file's `segments` must say the same.
    #[error("spec {} plans {spec} segments but --segments says {flag}", path.display())]
    SpecSegmentsDisagree { path: PathBuf, spec: u32, flag: u8 },
    #[error("--segment-price is required with --segments (one price, or one per segment)")]
    SegmentPriceRequired,
    /// A spec built from flags needs the buyer's checkpoint store.
    #[error("--checkpoint-store is required: the store you control where checkpoints are written (file:///dir, https://host/base or s3://bucket/prefix)")]
    CheckpointStoreRequired,
    /// The training data file does not parse.
    #[error("training data {}: {source}", path.display())]
    Data {
        path: PathBuf,
        #[source]
        source: DataError,
    },
    /// The train-mlp spec the flags build breaks one of its rules (a bad checkpoint
    /// store URI, settings the data cannot train with, ...).
    #[error("train-mlp spec: {0}")]
    Spec(#[source] SpecError),
}

impl SegmentInputError {
    /// The program's verdict on a `Segments` rule, from its error number; anything that
    /// is not one of the program's errors is reported as a broken invariant.
    pub fn refused(e: anchor_lang::error::Error) -> SegmentInputError {
        let rule = match e {
            anchor_lang::error::Error::AnchorError(a) => {
                MarketError::from_code(a.error_code_number)
            }
            anchor_lang::error::Error::ProgramError(_) => None,
        };
        SegmentInputError::Refused {
            rule: rule.unwrap_or(MarketError::SegmentsInvariant),
        }
    }
}

/// Key files are the client's: their errors reach the user as the client's do.
impl From<KeyFileError> for CliError {
    fn from(e: KeyFileError) -> Self {
        CliError::Client(e.into())
    }
}

impl From<DemoError> for CliError {
    fn from(e: DemoError) -> Self {
        CliError::Demo(Box::new(e))
    }
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_)
            | CliError::ReadFile { .. }
            | CliError::ReadSpec { .. }
            | CliError::BadSpec { .. }
            | CliError::Segments(_)
            | CliError::NotYourJob { .. }
            | CliError::NotSegmented { .. }
            | CliError::EscrowAboveMax { .. }
            | CliError::InsufficientBalance { .. }
            | CliError::Dashboard(_) => 2,
            CliError::OutputUnavailable { .. } => 3,
            CliError::Unprovable { .. } | CliError::Auditor(AuditorError::NotGemm { .. }) => 4,
            _ => 1,
        }
    }

    /// A chain error with advice for the one the user can act on: a cluster
    /// that does not answer is named with its URL.
    pub fn explained(e: ClientError) -> CliError {
        match e {
            ClientError::Unreachable { url, detail } => CliError::Unreachable { url, detail },
            other => CliError::Client(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_cluster_is_explained_and_other_chain_errors_kept() {
        let e = CliError::explained(ClientError::Unreachable {
            url: "http://127.0.0.1:9".into(),
            detail: "connection refused".into(),
        });
        assert!(matches!(e, CliError::Unreachable { .. }), "{e:?}");
        assert!(e.to_string().contains("gpumkt localnet"), "{e}");
        let key = Pubkey::new_unique();
        let e = CliError::explained(ClientError::AccountNotFound(key));
        assert!(
            matches!(e, CliError::Client(ClientError::AccountNotFound(k)) if k == key),
            "{e:?}"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
    }

    /// `audit verify`'s outcomes are told apart by exit code alone: a script must not
    /// mistake an unavailable output (not proof of anything) for a wrong one.
    #[test]
    fn audit_verify_outcomes_have_distinct_exit_codes() {
        let job = Pubkey::new_unique();
        let wrong = CliError::ResultWrong {
            job,
            row: 3,
            col: 5,
        };
        assert!(wrong.to_string().contains("C[3][5]"), "{wrong}");
        let unavailable = CliError::OutputUnavailable {
            job,
            reason: "gone".into(),
        };
        let unprovable = CliError::Unprovable { job, row: 0 };
        let kernel = CliError::Auditor(AuditorError::NotGemm {
            job,
            kind: "cuda-kernel",
        });
        let codes: Vec<i32> = [&wrong, &unavailable, &unprovable, &kernel]
            .iter()
            .map(|e| e.exit_code())
            .collect();
        assert_eq!(codes, [1, 3, 4, 4]);
    }

    #[test]
    fn a_failed_write_names_the_path_and_keeps_the_io_error() {
        let e = CliError::WriteFile {
            path: "/nowhere/out.bin".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(
            e.to_string().starts_with("cannot write /nowhere/out.bin: "),
            "{e}"
        );
        let source = std::error::Error::source(&e).unwrap();
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }
}
