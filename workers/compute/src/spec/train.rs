//! The train-mlp job spec: the JSON document a buyer publishes for a segmented training
//! job (issue 11). Bytes come in, are parsed and validated here, and a [`TrainMlpSpec`]
//! goes out to the segment executor ([`crate::train::segment`]) and the worker's segment
//! runner: the training data blob, the model and optimizer settings, the seeds, how many
//! steps each paid segment trains, how many segments the buyer posted, and the
//! `checkpoint_store` the buyer controls, where checkpoint `i` is written as
//! `<job>/<i>.ckpt`.
//!
//! The envelope is [`super::JobSpec`]'s (`version`, `workload` tagged by `kind`, `inputs`
//! in the flat blob form), so once the program's `WorkloadKind::TrainMlp` lands the
//! workload can move into [`super::Workload`] unchanged. Until then the kind is the spec
//! name [`TRAIN_MLP_KIND`] and this type is parsed on its own ([`spec_kind`] tells a
//! worker which parser a spec's bytes need).
//!
//! ```json
//! {"version":1,
//!  "workload":{"kind":"train-mlp","input":64,"hidden":32,"classes":10,"batch":32,
//!              "learning_rate":0.1,"momentum":0.9,"init_seed":1,"data_seed":2,
//!              "steps_per_segment":100,"segments":6,
//!              "checkpoint_store":"s3://buyer-bucket/runs"},
//!  "inputs":[{"name":"digits","uri":"https://...","sha256":"<64 hex>","len":116825}]}
//! ```
//!
//! `segments` is the count the buyer posted; `job_extend` can add more on chain, so the
//! worker takes the chain's count as the final word and this one only as the plan.

use serde::{Deserialize, Serialize};

use super::{sha256, spec_hash, BlobRef, Hash32, NamedBlob, SpecError, SPEC_VERSION};
use crate::train::data::DIGITS_HEADER_LEN;
use crate::train::Config;

/// The `kind` tag of a train-mlp workload.
pub const TRAIN_MLP_KIND: &str = "train-mlp";
/// The name of the one input a train-mlp job reads: a digits-format file
/// (`data/digits/README.md`), split by [`crate::train::Digits::split`].
pub const TRAIN_DATA_INPUT: &str = "digits";
/// Most segments one spec may plan: the program's `MAX_SEGMENTS` (a job's `Segments`
/// account holds at most that many, extensions included). This crate does not depend
/// on the program; `workers/node/tests/segments_chain.rs` pins the two equal.
pub const MAX_TRAIN_SEGMENTS: u32 = 32;
/// Most SGD steps one segment may train: 2^24 keeps `segments · steps_per_segment` far
/// below u64's range and a segment within hours on one CPU core.
pub const MAX_STEPS_PER_SEGMENT: u64 = 1 << 24;
/// Largest training data file.
pub const MAX_TRAIN_DATA_BYTES: u64 = 256 << 20;
/// Longest `checkpoint_store`: a checkpoint's URI is the store plus
/// `/<job address, at most 44 base58 characters>/<index, at most 10 digits>.ckpt`, and
/// the program keeps URIs of at most 200 bytes (`MAX_URI_LEN`).
pub const MAX_CHECKPOINT_STORE_LEN: usize = 128;

/// A train-mlp job (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainMlpSpec {
    /// Format version, [`SPEC_VERSION`].
    pub version: u32,
    pub workload: TrainWorkload,
    /// Exactly one: [`TRAIN_DATA_INPUT`].
    pub inputs: Vec<NamedBlob>,
}

/// The workload, tagged as in [`super::Workload`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TrainWorkload {
    TrainMlp(TrainMlp),
}

/// What a train-mlp job trains and how it is cut into segments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainMlp {
    /// Inputs per example (64 for 8x8 digits); must match the data.
    pub input: u32,
    pub hidden: u32,
    /// Output classes (10 for digits); must match the data.
    pub classes: u32,
    /// Examples per SGD step; at most the training examples (checked on the data).
    pub batch: u32,
    pub learning_rate: f32,
    pub momentum: f32,
    /// Seeds the step-0 weights.
    pub init_seed: u64,
    /// Seeds the data order, recorded in every checkpoint.
    pub data_seed: u64,
    /// SGD steps per paid segment: segment `i` trains steps
    /// `i·steps_per_segment .. (i+1)·steps_per_segment`.
    pub steps_per_segment: u64,
    /// Segments the buyer posts.
    pub segments: u32,
    /// Where checkpoints go: `file:///dir`, `http(s)://host/base` or
    /// `s3://bucket/prefix`, a store the buyer controls.
    pub checkpoint_store: String,
}

/// Just the kind tag, read before the full parse.
#[derive(Deserialize)]
struct Peek {
    workload: PeekKind,
}

#[derive(Deserialize)]
struct PeekKind {
    kind: String,
}

/// The `workload.kind` a spec's bytes name ("gemm-i8", "train-mlp", ...), so a worker
/// knows whether to parse them as a [`super::JobSpec`] or a [`TrainMlpSpec`].
pub fn spec_kind(bytes: &[u8]) -> Result<String, SpecError> {
    let peek: Peek = serde_json::from_slice(bytes)?;
    Ok(peek.workload.kind)
}

impl TrainMlpSpec {
    /// Parses and validates; a spec of another kind is [`SpecError::NotTrainMlp`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SpecError> {
        let kind = spec_kind(bytes)?;
        if kind != TRAIN_MLP_KIND {
            return Err(SpecError::NotTrainMlp { kind });
        }
        let spec: TrainMlpSpec = serde_json::from_slice(bytes)?;
        spec.validate()?;
        Ok(spec)
    }

    /// Canonical bytes (compact, field order as declared): publish these.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SpecError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// `spec_hash` of [`Self::to_bytes`].
    pub fn hash(&self) -> Result<Hash32, SpecError> {
        Ok(spec_hash(&self.to_bytes()?))
    }

    pub fn params(&self) -> &TrainMlp {
        let TrainWorkload::TrainMlp(p) = &self.workload;
        p
    }

    /// The engine's configuration the spec names.
    pub fn config(&self) -> Config {
        let p = self.params();
        Config {
            input: p.input,
            hidden: p.hidden,
            classes: p.classes,
            batch: p.batch,
            learning_rate: p.learning_rate,
            momentum: p.momentum,
        }
    }

    /// The training data blob.
    pub fn data(&self) -> Option<&BlobRef> {
        self.inputs
            .iter()
            .find(|i| i.name == TRAIN_DATA_INPUT)
            .map(|i| &i.blob)
    }

    /// The step segment `index` starts at (its previous checkpoint's step), or `None`
    /// past u64 (an extended job can outgrow the spec's plan).
    pub fn start_step(&self, index: u32) -> Option<u64> {
        self.params().steps_per_segment.checked_mul(index as u64)
    }

    /// Version, the model and optimizer settings, the segment plan, the checkpoint store
    /// and the one data input, each rule a named error.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.version != SPEC_VERSION {
            return Err(SpecError::UnsupportedVersion {
                found: self.version,
            });
        }
        let p = self.params();
        self.config().validate()?;
        if p.steps_per_segment == 0 {
            return Err(SpecError::ZeroStepsPerSegment);
        }
        if p.steps_per_segment > MAX_STEPS_PER_SEGMENT {
            return Err(SpecError::StepsPerSegmentTooLarge {
                steps: p.steps_per_segment,
                max: MAX_STEPS_PER_SEGMENT,
            });
        }
        if p.segments == 0 || p.segments > MAX_TRAIN_SEGMENTS {
            return Err(SpecError::SegmentCount {
                segments: p.segments,
                max: MAX_TRAIN_SEGMENTS,
            });
        }
        check_checkpoint_store(&p.checkpoint_store)?;
        self.check_inputs()
    }

    fn check_inputs(&self) -> Result<(), SpecError> {
        for (index, input) in self.inputs.iter().enumerate() {
            if input.name.is_empty() || input.blob.uri.is_empty() {
                return Err(SpecError::EmptyBlobField { index });
            }
            if input.name != TRAIN_DATA_INPUT {
                return Err(SpecError::UnexpectedInput {
                    name: input.name.clone(),
                });
            }
            if index > 0 {
                return Err(SpecError::DuplicateInput {
                    name: input.name.clone(),
                });
            }
        }
        let data = self.data().ok_or_else(|| SpecError::MissingInput {
            name: TRAIN_DATA_INPUT.into(),
        })?;
        // A digits file holds its header and at least one image and label.
        let min = DIGITS_HEADER_LEN as u64 + 2;
        if data.len < min || data.len > MAX_TRAIN_DATA_BYTES {
            return Err(SpecError::TrainDataLength {
                len: data.len,
                min,
                max: MAX_TRAIN_DATA_BYTES,
            });
        }
        Ok(())
    }

    /// Whether `bytes` are the data blob the spec names (length and SHA-256): what a
    /// worker checks before training on bytes it was handed.
    pub fn check_data(&self, bytes: &[u8]) -> Result<(), SpecError> {
        let data = self.data().ok_or_else(|| SpecError::MissingInput {
            name: TRAIN_DATA_INPUT.into(),
        })?;
        let found = sha256(bytes);
        if bytes.len() as u64 != data.len || found != data.sha256 {
            return Err(SpecError::TrainDataMismatch {
                expected: data.sha256,
                found,
                len: bytes.len() as u64,
            });
        }
        Ok(())
    }
}

/// The checkpoint store URI's shape: a supported scheme, something after it, no
/// whitespace, control characters, query or fragment (the store appends
/// `/<job>/<index>.ckpt`), and short enough for the chain. The blob store parses it
/// fully when it opens it.
fn check_checkpoint_store(uri: &str) -> Result<(), SpecError> {
    let bad = |reason: &'static str| SpecError::CheckpointStore {
        uri: uri.chars().take(MAX_CHECKPOINT_STORE_LEN + 8).collect(),
        reason,
    };
    if uri.is_empty() {
        return Err(bad("empty"));
    }
    if uri.len() > MAX_CHECKPOINT_STORE_LEN {
        return Err(bad(
            "longer than 128 bytes (checkpoint URIs must fit the chain's 200)",
        ));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace or a control character"));
    }
    if uri.contains(['?', '#']) {
        return Err(bad("has a query or fragment"));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(bad("has no scheme (file://, http://, https:// or s3://)"));
    };
    let rest = rest.trim_end_matches('/');
    match scheme {
        "file" if !rest.starts_with('/') || rest.len() < 2 => Err(bad(
            "file:// needs an absolute directory, as in file:///var/ckpt",
        )),
        "http" | "https" | "s3" if rest.is_empty() || rest.starts_with('/') => {
            Err(bad("names no host or bucket"))
        }
        "file" | "http" | "https" | "s3" => Ok(()),
        _ => Err(bad(
            "unsupported scheme (file://, http://, https:// or s3://)",
        )),
    }
}
