//! The ways training can fail: a data file, a configuration, a checkpoint's bytes, or a
//! checkpoint that does not belong to the data it is trained on. Each names the rule
//! that was broken; CUDA failures carry the executor's own [`ExecError`].

use crate::exec::ExecError;
use crate::spec::Hash32;

/// A digits file that does not follow `data/digits/README.md`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("digits file is {found} bytes, shorter than its 20-byte header")]
    TooShort { found: usize },
    #[error("digits file does not start with the magic GMDIGITS")]
    BadMagic,
    #[error("digits file version {found} is not supported (only 1)")]
    UnsupportedVersion { found: u32 },
    #[error("digits file header declares a zero dimension (count {count}, rows {rows}, cols {cols}, classes {classes})")]
    EmptyShape {
        count: u32,
        rows: u8,
        cols: u8,
        classes: u8,
    },
    #[error("digits file is {found} bytes, its header needs exactly {expected}")]
    Length { expected: usize, found: usize },
    #[error("image {index} has pixel value {value}, above the header's maximum {max}")]
    PixelRange { index: usize, value: u8, max: u8 },
    #[error("image {index} has label {label}, outside the header's {classes} classes")]
    LabelRange {
        index: usize,
        label: u8,
        classes: u8,
    },
    #[error(
        "examples hold {found} input values, {labels} labels of {inputs} inputs need {expected}"
    )]
    ExamplesShape {
        labels: usize,
        inputs: u32,
        expected: usize,
        found: usize,
    },
    #[error("example {index} has a non-finite input value")]
    NonFiniteInput { index: usize },
    #[error("example {index} has label {label}, outside the {classes} classes")]
    ExampleLabel {
        index: usize,
        label: u8,
        classes: u32,
    },
    #[error("could not read the digits file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A model or optimizer setting the engine refuses.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("layer width {name} = {value} is outside 1..={max}")]
    Width {
        name: &'static str,
        value: u32,
        max: u32,
    },
    #[error("batch size {batch} is outside 1..={examples} (the training examples)")]
    Batch { batch: u32, examples: u32 },
    #[error("learning rate {0} is not a finite positive number")]
    LearningRate(f32),
    #[error("momentum {0} is outside [0, 1)")]
    Momentum(f32),
    #[error(
        "the data has {data} inputs and {data_classes} classes, the model {input} and {classes}"
    )]
    Shape {
        input: u32,
        classes: u32,
        data: u32,
        data_classes: u32,
    },
}

/// Checkpoint bytes that are not a checkpoint this engine wrote.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CheckpointError {
    #[error("checkpoint is {found} bytes, shorter than its {needed}-byte header and trailer")]
    TooShort { needed: usize, found: usize },
    #[error("checkpoint does not start with the magic GMTRAINC")]
    BadMagic,
    #[error("checkpoint format version {found} is not supported (only 1)")]
    UnsupportedVersion { found: u32 },
    #[error("checkpoint is {found} bytes, its header's shapes need exactly {expected}")]
    Length { expected: u64, found: u64 },
    #[error("checkpoint hash {found} does not match its contents ({computed})")]
    HashMismatch { found: Hash32, computed: Hash32 },
    #[error("checkpoint header is invalid")]
    Config(#[from] ConfigError),
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Resuming on other data would silently train a different model.
    #[error("checkpoint was trained on data {checkpoint}, this run has data {data}")]
    DataMismatch { checkpoint: Hash32, data: Hash32 },
    #[error("step {step} + {steps} steps overflows the step counter")]
    StepOverflow { step: u64, steps: u64 },
    #[error(transparent)]
    Cuda(#[from] ExecError),
}
