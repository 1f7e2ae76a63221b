//! The train-mlp spec a segmented post publishes: read from a spec file (`--spec`, its
//! data already in a blob store) or built from flags over a digits file (the bundled
//! scikit-learn digits by default), whose bytes the post uploads as the spec's one input.
//! Every rule is checked here before anything is uploaded or sent: the workload is one
//! that runs in segments, the spec plans as many segments as `--segments` posts, and the
//! spec's own rules (`TrainMlpSpec::validate`, the settings against the data).

use std::path::{Path, PathBuf};

use clap::Args;
use gpu_market_compute::spec::train::TRAIN_DATA_INPUT;
use gpu_market_compute::spec::{
    sha256, spec_kind, BlobRef, NamedBlob, TrainMlp, TrainMlpSpec, TrainWorkload, SPEC_VERSION,
    TRAIN_MLP_KIND,
};
use gpu_market_compute::train::{Config, Digits};

use super::post::{PostArgs, WorkloadArg};
use crate::error::SegmentInputError;
use crate::{CliError, Result};

/// The settings of a train-mlp spec built from flags (ignored with `--spec`, which
/// carries its own).
#[derive(Args, Debug)]
#[command(next_help_heading = "Training spec (train-mlp, built from these flags without --spec)")]
pub struct TrainArgs {
    /// The buyer's checkpoint store, a store you control: checkpoint i of the job is
    /// written there as <job>/<i>.ckpt by whichever provider runs segment i, so it
    /// survives that provider (file:///dir, http(s)://host/base or s3://bucket/prefix).
    #[arg(long, conflicts_with = "spec")]
    pub checkpoint_store: Option<String>,
    /// Training data, a digits-format file (default: the bundled scikit-learn digits);
    /// uploaded to --blob-store as the spec's input.
    #[arg(long, conflicts_with = "spec")]
    pub data: Option<PathBuf>,
    /// Hidden layer width.
    #[arg(long, default_value_t = Config::digits().hidden, conflicts_with = "spec")]
    pub hidden: u32,
    /// Examples per SGD step.
    #[arg(long, default_value_t = Config::digits().batch, conflicts_with = "spec")]
    pub batch: u32,
    /// SGD learning rate.
    #[arg(long, default_value_t = Config::digits().learning_rate, conflicts_with = "spec")]
    pub learning_rate: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = Config::digits().momentum, conflicts_with = "spec")]
    pub momentum: f32,
    /// Seed of the step-0 weights.
    #[arg(long, default_value_t = 1, conflicts_with = "spec")]
    pub init_seed: u64,
    /// Seed of the data order (recorded in every checkpoint).
    #[arg(long, default_value_t = 2, conflicts_with = "spec")]
    pub data_seed: u64,
    /// SGD steps each paid segment trains.
    #[arg(long, default_value_t = 100, conflicts_with = "spec")]
    pub steps_per_segment: u64,
}

/// A checked train-mlp spec, and the data bytes still to upload when the flags built it
/// (its input's URI is then filled in by [`Prepared::with_data_at`]).
pub struct Prepared {
    pub spec: TrainMlpSpec,
    pub data: Option<Vec<u8>>,
}

impl Prepared {
    /// The spec naming the uploaded data at `stored` (same hash and length as checked).
    pub fn with_data_at(mut self, stored: BlobRef) -> TrainMlpSpec {
        self.spec.inputs = vec![NamedBlob {
            name: TRAIN_DATA_INPUT.into(),
            blob: stored,
        }];
        self.spec
    }
}

/// The spec a `job post --segments N` publishes, checked (see the module doc).
pub fn prepare(a: &PostArgs, segments: u8) -> Result<Prepared> {
    match &a.spec {
        Some(path) => from_file(path, segments),
        None => from_flags(a, segments),
    }
}

/// Reads a spec file's bytes and names its workload kind.
pub fn read_kind(path: &Path) -> Result<(Vec<u8>, String)> {
    let bytes = std::fs::read(path).map_err(|source| CliError::ReadSpec {
        path: path.into(),
        source,
    })?;
    let kind = spec_kind(&bytes).map_err(|source| CliError::BadSpec {
        path: path.into(),
        source,
    })?;
    Ok((bytes, kind))
}

fn from_file(path: &Path, segments: u8) -> Result<Prepared> {
    let (bytes, kind) = read_kind(path)?;
    if kind != TRAIN_MLP_KIND {
        return Err(SegmentInputError::NotSegmentable { kind }.into());
    }
    let spec = TrainMlpSpec::from_bytes(&bytes).map_err(|source| CliError::BadSpec {
        path: path.into(),
        source,
    })?;
    let planned = spec.params().segments;
    if planned != u32::from(segments) {
        return Err(SegmentInputError::SpecSegmentsDisagree {
            path: path.into(),
            spec: planned,
            flag: segments,
        }
        .into());
    }
    Ok(Prepared { spec, data: None })
}

fn from_flags(a: &PostArgs, segments: u8) -> Result<Prepared> {
    if let Some(w) = a.workload.filter(|w| *w != WorkloadArg::TrainMlp) {
        return Err(SegmentInputError::NotSegmentable {
            kind: w.kind_name().into(),
        }
        .into());
    }
    let t = &a.train;
    let store = t
        .checkpoint_store
        .clone()
        .ok_or(SegmentInputError::CheckpointStoreRequired)?;
    let path = t.data.clone().unwrap_or_else(Digits::bundled_path);
    let bytes = std::fs::read(&path).map_err(|source| CliError::ReadFile {
        path: path.clone(),
        source,
    })?;
    let digits = Digits::from_bytes(&bytes).map_err(|source| SegmentInputError::Data {
        path: path.clone(),
        source,
    })?;
    let spec = TrainMlpSpec {
        version: SPEC_VERSION,
        workload: TrainWorkload::TrainMlp(TrainMlp {
            input: digits.inputs() as u32,
            hidden: t.hidden,
            classes: u32::from(digits.classes),
            batch: t.batch,
            learning_rate: t.learning_rate,
            momentum: t.momentum,
            init_seed: t.init_seed,
            data_seed: t.data_seed,
            steps_per_segment: t.steps_per_segment,
            segments: u32::from(segments),
            checkpoint_store: store,
        }),
        // The data's URI is the blob store's answer to the upload, which waits until
        // every rule passed; its hash and length, which the rules read, are known now.
        inputs: vec![NamedBlob {
            name: TRAIN_DATA_INPUT.into(),
            blob: BlobRef {
                uri: "upload-pending".into(),
                sha256: sha256(&bytes),
                len: bytes.len() as u64,
            },
        }],
    };
    spec.validate().map_err(SegmentInputError::Spec)?;
    let (train, _) = digits.split();
    spec.config()
        .validate_for(&train)
        .map_err(|e| SegmentInputError::Spec(e.into()))?;
    Ok(Prepared {
        spec,
        data: Some(bytes),
    })
}
