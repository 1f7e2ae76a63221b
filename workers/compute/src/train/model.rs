//! The model and its step, as data: a [`Config`] (layer widths, batch size, learning
//! rate, momentum) fixes the flat parameter [`Layout`] that checkpoints, the CPU engine
//! and the CUDA kernels share, the Glorot initialisation, and the data order (which
//! examples each step reads, [`BatchOrder`]).
//!
//! # One SGD step, operation for operation
//!
//! Every executor computes exactly this, in f32 with each operation rounded on its own
//! (no fused multiply-add) and every sum taken from `+0.0` (or from the bias) in the
//! stated index order. `x[b]` is the batch's `b`-th example ([`BatchOrder`]), `B` the
//! batch size, `inv_b = 1 / B` rounded once.
//!
//! 1. hidden, for each `b, i`: `a = b1[i]; a += w1[i][k]·x[b][k]` for `k` ascending;
//!    `h[b][i] = a if a > 0 else 0`.
//! 2. logits, for each `b, j`: `z = b2[j]; z += w2[j][i]·h[b][i]` for `i` ascending.
//! 3. softmax gradient, for each `b`: `m` = the first largest `z[b][j]`;
//!    `e_j = exp(z[b][j] − m)` ([`super::ops::exp`]); `s = 0; s += e_j` for `j`
//!    ascending; `dz[b][j] = (e_j / s − [j = label]) · inv_b`.
//! 4. output gradients: `gw2[j][i] = 0; += dz[b][j]·h[b][i]` and `gb2[j] = 0;
//!    += dz[b][j]`, `b` ascending.
//! 5. hidden gradient: `dh[b][i] = 0; += w2[j][i]·dz[b][j]` for `j` ascending if
//!    `h[b][i] > 0`, else `0`.
//! 6. input gradients: `gw1[i][k] = 0; += dh[b][i]·x[b][k]` and `gb1[i] = 0;
//!    += dh[b][i]`, `b` ascending.
//! 7. momentum SGD for every parameter `p` with gradient `g` and velocity `v`:
//!    `v = momentum·v + g; p = p − lr·v`.

use super::data::Examples;
use super::error::ConfigError;
use crate::spec::SplitMix64;

/// Largest layer width the engine accepts (keeps every buffer size far from overflow).
pub const MAX_WIDTH: u32 = 4096;

/// Model shape and optimizer settings, all recorded in every checkpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Inputs per example (64 for 8x8 digits).
    pub input: u32,
    pub hidden: u32,
    /// Output classes (10 for digits).
    pub classes: u32,
    /// Examples per step.
    pub batch: u32,
    pub learning_rate: f32,
    pub momentum: f32,
}

impl Config {
    /// 64-32-10 for the digits, batch 32, learning rate 0.1, momentum 0.9: reaches the
    /// held-out accuracy stated in tests/train.rs.
    pub fn digits() -> Self {
        Config {
            input: 64,
            hidden: 32,
            classes: 10,
            batch: 32,
            learning_rate: 0.1,
            momentum: 0.9,
        }
    }

    /// The checks every checkpoint header passes, independent of any data.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("input", self.input),
            ("hidden", self.hidden),
            ("classes", self.classes),
        ] {
            if value == 0 || value > MAX_WIDTH {
                return Err(ConfigError::Width {
                    name,
                    value,
                    max: MAX_WIDTH,
                });
            }
        }
        if self.batch == 0 || self.batch > MAX_WIDTH {
            return Err(ConfigError::Batch {
                batch: self.batch,
                examples: MAX_WIDTH,
            });
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(ConfigError::LearningRate(self.learning_rate));
        }
        if !(self.momentum >= 0.0 && self.momentum < 1.0) {
            return Err(ConfigError::Momentum(self.momentum));
        }
        Ok(())
    }

    /// [`Config::validate`] plus the fit to `data`: its input width and classes, and a
    /// batch no larger than the data.
    pub fn validate_for(&self, data: &Examples) -> Result<(), ConfigError> {
        self.validate()?;
        if data.inputs != self.input || data.classes != self.classes {
            return Err(ConfigError::Shape {
                input: self.input,
                classes: self.classes,
                data: data.inputs,
                data_classes: data.classes,
            });
        }
        if self.batch as usize > data.len() {
            return Err(ConfigError::Batch {
                batch: self.batch,
                examples: data.len() as u32,
            });
        }
        Ok(())
    }

    pub fn layout(&self) -> Layout {
        let (n, h, c) = (
            self.input as usize,
            self.hidden as usize,
            self.classes as usize,
        );
        Layout {
            w1: 0,
            b1: h * n,
            w2: h * n + h,
            b2: h * n + h + c * h,
            len: h * n + h + c * h + c,
        }
    }

    /// `1 / batch`, rounded once; every executor uses this value.
    pub fn inv_batch(&self) -> f32 {
        1.0 / self.batch as f32
    }
}

/// Offsets into the flat parameter vector (and the velocity and gradient vectors,
/// which share it): `w1` (hidden x input, row-major), `b1` (hidden), `w2` (classes x
/// hidden), `b2` (classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub w1: usize,
    pub b1: usize,
    pub w2: usize,
    pub b2: usize,
    /// Total parameters.
    pub len: usize,
}

/// Glorot-uniform weights (`±sqrt(6 / (fan_in + fan_out))`) from splitmix64 seeded
/// with `seed`, zero biases: the parameters of step 0.
pub fn init_params(config: &Config, seed: u64) -> Vec<f32> {
    let l = config.layout();
    let mut params = vec![0f32; l.len];
    let mut rng = SplitMix64::new(seed);
    let mut fill = |out: &mut [f32], fan_in: u32, fan_out: u32| {
        let limit = (6.0f32 / (fan_in + fan_out) as f32).sqrt();
        for v in out {
            // 24 random bits: a uniform value in [-1, 1) exactly.
            let u = (rng.next_u64() >> 40) as f32 / (1u32 << 23) as f32 - 1.0;
            *v = u * limit;
        }
    };
    fill(&mut params[l.w1..l.b1], config.input, config.hidden);
    fill(&mut params[l.w2..l.b2], config.hidden, config.classes);
    params
}

/// Which examples each step reads: epochs of `len / batch` steps (the last partial
/// batch of an epoch is dropped), each epoch a Fisher-Yates permutation of all
/// examples drawn from splitmix64 seeded by `(seed, epoch)`. Step `s` reads positions
/// `(s mod steps_per_epoch)·batch ..` of epoch `s / steps_per_epoch`. A pure function
/// of the checkpoint's seed and step, so a resumed run reads what an uninterrupted one
/// would; the permutation of the current epoch is cached.
#[derive(Clone, Debug)]
pub struct BatchOrder {
    seed: u64,
    examples: usize,
    batch: usize,
    epoch: Option<u64>,
    permutation: Vec<u32>,
}

impl BatchOrder {
    /// `batch` must be in `1..=examples` ([`Config::validate_for`]).
    pub fn new(seed: u64, examples: usize, batch: usize) -> Self {
        BatchOrder {
            seed,
            examples,
            batch,
            epoch: None,
            permutation: Vec::new(),
        }
    }

    pub fn steps_per_epoch(&self) -> u64 {
        (self.examples / self.batch) as u64
    }

    /// The example indices step `step` trains on.
    pub fn batch(&mut self, step: u64) -> &[u32] {
        let per_epoch = self.steps_per_epoch();
        let (epoch, pos) = (step / per_epoch, (step % per_epoch) as usize);
        if self.epoch != Some(epoch) {
            self.permutation = permutation(self.seed, epoch, self.examples);
            self.epoch = Some(epoch);
        }
        &self.permutation[pos * self.batch..(pos + 1) * self.batch]
    }
}

fn permutation(seed: u64, epoch: u64, n: usize) -> Vec<u32> {
    // One splitmix64 output of (seed, epoch) seeds the epoch's stream, so that epochs
    // of nearby seeds do not share streams shifted by one.
    let mut rng = SplitMix64::new(SplitMix64::new(seed ^ epoch.rotate_left(32)).next_u64());
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_order_is_a_permutation_per_epoch_and_differs_between_epochs() {
        let mut order = BatchOrder::new(7, 100, 10);
        let epoch = |order: &mut BatchOrder, e: u64| -> Vec<u32> {
            (e * 10..e * 10 + 10)
                .flat_map(|s| order.batch(s).to_vec())
                .collect()
        };
        let e0 = epoch(&mut order, 0);
        let e1 = epoch(&mut order, 1);
        let mut sorted = e0.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        // A fresh order asked for step 13 directly agrees with the sequential one.
        assert_eq!(BatchOrder::new(7, 100, 10).batch(13), &e1[30..40]);
    }
}
