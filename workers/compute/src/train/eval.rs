//! Evaluation: a checkpoint's parameters and a set of examples go in (the held-out
//! digits, usually), the count classified correctly and the mean cross-entropy come out.
//! Runs the engine's forward pass on the CPU; not part of any checkpoint.

use super::checkpoint::Checkpoint;
use super::cpu::Work;
use super::data::Examples;
use super::error::TrainError;
use super::model::Config;
use super::ops::exp;

/// How well a checkpoint's parameters classify a set of examples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub correct: usize,
    pub total: usize,
    /// Mean softmax cross-entropy in nats, with [`super::ops::ln`].
    pub loss: f64,
}

impl Evaluation {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

/// Classifies every example of `data` with `ckpt`'s parameters (steps 1 and 2 of the
/// model, on the CPU); the predicted class is the first largest logit.
pub fn evaluate(ckpt: &Checkpoint, data: &Examples) -> Result<Evaluation, TrainError> {
    // Held-out data has its own hash: only the shapes must fit.
    let c = Config {
        batch: 1,
        ..ckpt.config
    };
    data.check()?;
    c.validate_for(data)?;
    if ckpt.params.len() != c.layout().len {
        return Err(super::error::CheckpointError::Length {
            expected: c.layout().len as u64,
            found: ckpt.params.len() as u64,
        }
        .into());
    }
    let mut work = Work::new(&c);
    let k = c.classes as usize;
    let (mut correct, mut loss) = (0usize, 0f64);
    for e in 0..data.len() as u32 {
        work.forward(&c, &ckpt.params, data, &[e]);
        let z = &work.z[..k];
        let mut best = 0;
        for j in 1..k {
            if z[j] > z[best] {
                best = j;
            }
        }
        let label = data.labels[e as usize] as usize;
        correct += usize::from(best == label);
        let mut s = 0f32;
        for &v in z {
            s += exp(v - z[best]);
        }
        loss += (super::ops::ln(s) - (z[label] - z[best])) as f64;
    }
    Ok(Evaluation {
        correct,
        total: data.len(),
        loss: loss / data.len().max(1) as f64,
    })
}
