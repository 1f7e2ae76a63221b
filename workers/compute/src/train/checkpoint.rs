//! Checkpoints: the whole training state (configuration, data-order seed, the hash of
//! the training data, step, parameters, momentum velocities) as canonical bytes with a
//! SHA-256 state root. A [`Checkpoint`] goes in, its bytes go out to a blob store; bytes
//! come back in from any worker and are refused unless every field checks out. Two runs
//! agree on a checkpoint exactly when they agree on its bytes, so resuming, comparing
//! executors and committing to a segment's result all compare [`Checkpoint::to_bytes`]
//! or [`Checkpoint::state_root`].
//!
//! # Format (version 1, little-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `GMTRAINC` |
//! | 8 | 4 | version, u32 = 1 |
//! | 12 | 16 | input, hidden, classes, batch: u32 each |
//! | 28 | 8 | learning rate, momentum: f32 bit patterns |
//! | 36 | 8 | data-order seed, u64 |
//! | 44 | 8 | step (SGD steps taken), u64 |
//! | 52 | 32 | SHA-256 of the training data ([`super::Examples::hash`]) |
//! | 84 | 4·P | parameters, f32, in [`super::Layout`] order |
//! | 84 + 4·P | 4·P | velocities, same order |
//! | 84 + 8·P | 32 | state root: SHA-256 of every byte before it |
//!
//! `P` follows from the header's widths, so the length is checked before anything is
//! read; the trailing root catches any flipped bit.

use super::data::Examples;
use super::error::{CheckpointError, TrainError};
use super::model::{init_params, Config};
use crate::spec::{sha256, Hash32};

pub const CHECKPOINT_MAGIC: &[u8; 8] = b"GMTRAINC";
pub const CHECKPOINT_VERSION: u32 = 1;
/// Bytes before the parameters.
pub const CHECKPOINT_HEADER_LEN: usize = 84;
/// The trailing state root.
pub const CHECKPOINT_TRAILER_LEN: usize = 32;

/// The state of a training run after `step` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub config: Config,
    /// Seeds the data order ([`super::BatchOrder`]).
    pub data_seed: u64,
    /// The training data this run reads; resuming on other data is refused.
    pub data_hash: Hash32,
    pub step: u64,
    /// [`super::Layout`] order.
    pub params: Vec<f32>,
    /// Momentum velocities, same order; zero at step 0.
    pub velocity: Vec<f32>,
}

impl Checkpoint {
    /// Step 0: Glorot weights from `init_seed`, zero biases and velocities.
    pub fn init(
        config: Config,
        data: &Examples,
        init_seed: u64,
        data_seed: u64,
    ) -> Result<Self, TrainError> {
        config.validate_for(data)?;
        let params = init_params(&config, init_seed);
        let velocity = vec![0.0; params.len()];
        Ok(Checkpoint {
            config,
            data_seed,
            data_hash: data.hash,
            step: 0,
            params,
            velocity,
        })
    }

    /// Whether this checkpoint can be trained on `data`: consistent examples
    /// ([`Examples::check`]), a valid configuration that fits them, parameter vectors of the layout's length, and the same data hash.
    pub fn check_for(&self, data: &Examples) -> Result<(), TrainError> {
        data.check()?;
        self.config.validate_for(data)?;
        let len = self.config.layout().len;
        if self.params.len() != len || self.velocity.len() != len {
            return Err(CheckpointError::Length {
                expected: Self::encoded_len(len),
                found: Self::encoded_len(self.params.len().min(self.velocity.len())),
            }
            .into());
        }
        if self.data_hash != data.hash {
            return Err(TrainError::DataMismatch {
                checkpoint: self.data_hash,
                data: data.hash,
            });
        }
        Ok(())
    }

    fn encoded_len(params: usize) -> u64 {
        (CHECKPOINT_HEADER_LEN + CHECKPOINT_TRAILER_LEN) as u64 + 8 * params as u64
    }

    fn body(&self) -> Vec<u8> {
        let c = &self.config;
        let mut out = Vec::with_capacity(Self::encoded_len(self.params.len()) as usize);
        out.extend_from_slice(CHECKPOINT_MAGIC);
        out.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
        for v in [c.input, c.hidden, c.classes, c.batch] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&c.learning_rate.to_bits().to_le_bytes());
        out.extend_from_slice(&c.momentum.to_bits().to_le_bytes());
        out.extend_from_slice(&self.data_seed.to_le_bytes());
        out.extend_from_slice(&self.step.to_le_bytes());
        out.extend_from_slice(&self.data_hash.0);
        for v in self.params.iter().chain(&self.velocity) {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        out
    }

    /// SHA-256 of the canonical bytes before the trailer: what two runs compare and what
    /// a segment's result commits to.
    pub fn state_root(&self) -> Hash32 {
        sha256(&self.body())
    }

    /// The canonical bytes: body, then its SHA-256.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body();
        let root = sha256(&out);
        out.extend_from_slice(&root.0);
        out
    }

    /// Parses canonical bytes, refusing a wrong magic, version, length, header or root.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let needed = CHECKPOINT_HEADER_LEN + CHECKPOINT_TRAILER_LEN;
        if bytes.len() < needed {
            return Err(CheckpointError::TooShort {
                needed,
                found: bytes.len(),
            });
        }
        if &bytes[..8] != CHECKPOINT_MAGIC {
            return Err(CheckpointError::BadMagic);
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let version = u32_at(8);
        if version != CHECKPOINT_VERSION {
            return Err(CheckpointError::UnsupportedVersion { found: version });
        }
        let config = Config {
            input: u32_at(12),
            hidden: u32_at(16),
            classes: u32_at(20),
            batch: u32_at(24),
            learning_rate: f32::from_bits(u32_at(28)),
            momentum: f32::from_bits(u32_at(32)),
        };
        // Widths are bounded before they size anything.
        config.validate()?;
        let len = config.layout().len;
        let expected = Self::encoded_len(len);
        if bytes.len() as u64 != expected {
            return Err(CheckpointError::Length {
                expected,
                found: bytes.len() as u64,
            });
        }
        let (body, trailer) = bytes.split_at(bytes.len() - CHECKPOINT_TRAILER_LEN);
        let computed = sha256(body);
        let found = Hash32(trailer.try_into().unwrap());
        if found != computed {
            return Err(CheckpointError::HashMismatch { found, computed });
        }
        let floats = |from: usize| -> Vec<f32> {
            bytes[from..from + 4 * len]
                .chunks_exact(4)
                .map(|b| f32::from_bits(u32::from_le_bytes(b.try_into().unwrap())))
                .collect()
        };
        Ok(Checkpoint {
            config,
            data_seed: u64_at(36),
            step: u64_at(44),
            data_hash: Hash32(bytes[52..84].try_into().unwrap()),
            params: floats(CHECKPOINT_HEADER_LEN),
            velocity: floats(CHECKPOINT_HEADER_LEN + 4 * len),
        })
    }
}
