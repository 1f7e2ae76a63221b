//! The segment executor: one paid segment of a train-mlp job. The spec, the training
//! examples, the segment's index and (past segment 0) the previous segment's checkpoint
//! bytes with the state root the chain committed for them go in; the checkpoint
//! `steps_per_segment` steps later comes out as canonical bytes with its state root,
//! which the worker stores as `<job>/<index>.ckpt` and commits on chain.
//!
//! Nothing is trained from bytes the chain did not commit to: the previous checkpoint's
//! root is compared with the committed one before the bytes are even parsed, then the
//! checkpoint must be the spec's run (configuration, data-order seed, training data) at
//! exactly the step segment `index` starts from. Segment 0 starts from the spec's
//! step-0 state ([`initial_checkpoint`]), never from bytes a worker was handed. The
//! trainer is any [`Trainer`] (the CPU engine, the CUDA trainer): all give the same bytes.

use super::checkpoint::{Checkpoint, CHECKPOINT_TRAILER_LEN};
use super::data::{Digits, Examples};
use super::error::{CheckpointError, TrainError};
use super::Trainer;
use crate::spec::{sha256, Hash32, SpecError, TrainMlpSpec};

/// The checkpoint a segment resumes from: its bytes as fetched, and the state root the
/// chain committed for them.
#[derive(Clone, Copy, Debug)]
pub struct Previous<'a> {
    pub bytes: &'a [u8],
    pub root: Hash32,
}

/// A segment's result.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentOutput {
    /// [`Checkpoint::to_bytes`]: what is stored.
    pub bytes: Vec<u8>,
    /// [`Checkpoint::state_root`] (the bytes' last 32): what is committed on chain.
    pub state_root: Hash32,
    pub checkpoint: Checkpoint,
}

/// Why a segment was not run.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("segment {index} resumes from checkpoint {}, and none was given", index - 1)]
    MissingPrevious { index: u32 },
    /// Segment 0's start is the spec's; bytes offered for it could be anyone's.
    #[error("segment 0 starts from the spec's step-0 state; a previous checkpoint was given")]
    UnexpectedPrevious,
    #[error(
        "the checkpoint given for segment {index} has root {found}, the chain committed {expected}"
    )]
    PreviousRootMismatch {
        index: u32,
        expected: Hash32,
        found: Hash32,
    },
    #[error("the checkpoint given for segment {index} is malformed")]
    PreviousMalformed {
        index: u32,
        #[source]
        source: CheckpointError,
    },
    #[error("the checkpoint given for segment {index} is at step {found}, the segment starts at step {expected}")]
    WrongStep {
        index: u32,
        expected: u64,
        found: u64,
    },
    #[error("the checkpoint given for segment {index} has another {field} than the spec")]
    ForeignCheckpoint { index: u32, field: &'static str },
    #[error("segment {index} would start past step {}", u64::MAX)]
    StepOverflow { index: u32 },
}

/// The training examples of a spec's data blob: `bytes` must be the blob the spec
/// names (length and SHA-256), a valid digits file; its fixed training split is used.
pub fn training_data(spec: &TrainMlpSpec, bytes: &[u8]) -> Result<Examples, SegmentError> {
    spec.check_data(bytes)?;
    let digits = Digits::from_bytes(bytes).map_err(TrainError::from)?;
    Ok(digits.split().0)
}

/// The spec's step-0 checkpoint on `data`: Glorot weights from `init_seed`, the data
/// order from `data_seed`.
pub fn initial_checkpoint(spec: &TrainMlpSpec, data: &Examples) -> Result<Checkpoint, TrainError> {
    let p = spec.params();
    Checkpoint::init(spec.config(), data, p.init_seed, p.data_seed)
}

/// Runs segment `index` of `spec` on `trainer` (see the module doc).
pub fn run_segment(
    trainer: &dyn Trainer,
    spec: &TrainMlpSpec,
    data: &Examples,
    previous: Option<Previous<'_>>,
    index: u32,
) -> Result<SegmentOutput, SegmentError> {
    let from = start_of(spec, data, previous, index)?;
    let checkpoint = trainer.train(&from, data, spec.params().steps_per_segment)?;
    let bytes = checkpoint.to_bytes();
    let state_root = checkpoint.state_root();
    Ok(SegmentOutput {
        bytes,
        state_root,
        checkpoint,
    })
}

/// The checkpoint segment `index` starts from, after every check in the module doc.
pub fn start_of(
    spec: &TrainMlpSpec,
    data: &Examples,
    previous: Option<Previous<'_>>,
    index: u32,
) -> Result<Checkpoint, SegmentError> {
    let expected_step = spec
        .start_step(index)
        .ok_or(SegmentError::StepOverflow { index })?;
    let prev = match (index, previous) {
        (0, None) => return Ok(initial_checkpoint(spec, data)?),
        (0, Some(_)) => return Err(SegmentError::UnexpectedPrevious),
        (_, None) => return Err(SegmentError::MissingPrevious { index }),
        (_, Some(prev)) => prev,
    };
    // The root first: bytes the chain did not commit to are not even parsed.
    let found = body_root(prev.bytes);
    if found != prev.root {
        return Err(SegmentError::PreviousRootMismatch {
            index,
            expected: prev.root,
            found,
        });
    }
    let ckpt = Checkpoint::from_bytes(prev.bytes)
        .map_err(|source| SegmentError::PreviousMalformed { index, source })?;
    let foreign = |field| Err(SegmentError::ForeignCheckpoint { index, field });
    if ckpt.config != spec.config() {
        return foreign("model or optimizer configuration");
    }
    if ckpt.data_seed != spec.params().data_seed {
        return foreign("data-order seed");
    }
    if ckpt.data_hash != data.hash {
        return foreign("training data");
    }
    if ckpt.step != expected_step {
        return Err(SegmentError::WrongStep {
            index,
            expected: expected_step,
            found: ckpt.step,
        });
    }
    Ok(ckpt)
}

/// SHA-256 of everything before the trailer: the state root the bytes claim to have
/// (equal to their trailer when they are intact). Bytes shorter than a trailer claim the
/// root of nothing; if that was committed, parsing refuses them next.
fn body_root(bytes: &[u8]) -> Hash32 {
    let body = bytes.len().saturating_sub(CHECKPOINT_TRAILER_LEN);
    sha256(&bytes[..body])
}
