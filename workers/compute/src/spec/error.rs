//! Every way a spec can be rejected, one variant per broken rule, naming the field and
//! the value concerned.

use super::{Hash32, MAX_THREADS_PER_BLOCK, SPEC_VERSION};
use super::{HexError, MAX_GEMM_I8_K, MAX_KERNEL_ARGS, MAX_SHARED_MEM_BYTES, MAX_SOURCE_BYTES};
use crate::train::ConfigError;

/// Every way a spec can be rejected.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("malformed job spec JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("spec version {found} is not supported (expected {SPEC_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("bad sha256: {0}")]
    BadHash(#[from] HexError),
    #[error("dimension {dim} must be at least 1")]
    ZeroDimension { dim: &'static str },
    #[error("dimension {dim} = {value} exceeds the maximum {max}")]
    DimensionTooLarge {
        dim: &'static str,
        value: u32,
        max: u32,
    },
    #[error("gemm-i8 k = {k} exceeds {MAX_GEMM_I8_K}: i32 accumulation could overflow")]
    GemmI8KTooLarge { k: u32 },
    #[error("rel_tolerance {0} must be finite, > 0 and < 1")]
    BadTolerance(f32),
    #[error("buffer {name:?} is {bytes} bytes, more than the {max}-byte limit")]
    BufferTooLarge { name: String, bytes: u64, max: u64 },
    #[error("the job's buffers total {bytes} bytes, more than the {max}-byte limit")]
    JobTooLarge { bytes: u64, max: u64 },
    #[error("size computation overflowed")]
    Overflow,
    #[error("input {name:?} is required by the workload but not listed")]
    MissingInput { name: String },
    #[error("input {name:?} is listed but the workload does not use it")]
    UnexpectedInput { name: String },
    #[error("input {name:?} is listed twice")]
    DuplicateInput { name: String },
    #[error("input {name:?} must be {expected} bytes, spec says {found}")]
    InputLength {
        name: String,
        expected: u64,
        found: u64,
    },
    #[error("input {index} has an empty name or uri")]
    EmptyBlobField { index: usize },
    #[error("cuda-kernel source is empty")]
    EmptySource,
    #[error("cuda-kernel source is {0} bytes, more than {MAX_SOURCE_BYTES}")]
    SourceTooLarge(usize),
    #[error("cuda-kernel source contains a NUL byte")]
    SourceContainsNul,
    #[error("cuda-kernel entry {0:?} is not a C identifier")]
    BadEntry(String),
    #[error("{what}[{axis}] = {value} is out of range 1..={max}")]
    LaunchDim {
        what: &'static str,
        axis: usize,
        value: u32,
        max: u32,
    },
    #[error("block has {threads} threads, more than {MAX_THREADS_PER_BLOCK}")]
    BlockTooLarge { threads: u64 },
    #[error("shared_mem_bytes {0} exceeds {MAX_SHARED_MEM_BYTES}")]
    SharedMemTooLarge(u32),
    #[error("{0} kernel arguments, more than {MAX_KERNEL_ARGS}")]
    TooManyArgs(usize),
    #[error("cuda-kernel has no output argument")]
    NoOutputs,
    #[error("output {name:?} has length 0")]
    EmptyOutput { name: String },
    #[error("argument name {name:?} is used twice (inputs and outputs share one namespace)")]
    DuplicateArgName { name: String },
    #[error("f32 argument {index} is not finite (JSON cannot carry it)")]
    NonFiniteArg { index: usize },
    #[error("spec is a {kind:?} job, not train-mlp")]
    NotTrainMlp { kind: String },
    #[error("train-mlp settings: {0}")]
    TrainConfig(#[from] ConfigError),
    #[error("train-mlp steps_per_segment must be at least 1")]
    ZeroStepsPerSegment,
    #[error("train-mlp steps_per_segment {steps} exceeds {max}")]
    StepsPerSegmentTooLarge { steps: u64, max: u64 },
    #[error("train-mlp segments = {segments} is outside 1..={max}")]
    SegmentCount { segments: u32, max: u32 },
    #[error("checkpoint_store {uri:?} {reason}")]
    CheckpointStore { uri: String, reason: &'static str },
    #[error("train-mlp data is {len} bytes, outside {min}..={max}")]
    TrainDataLength { len: u64, min: u64, max: u64 },
    #[error("train-mlp data ({len} bytes, sha256 {found}) is not the spec's blob {expected}")]
    TrainDataMismatch {
        expected: Hash32,
        found: Hash32,
        len: u64,
    },
}
