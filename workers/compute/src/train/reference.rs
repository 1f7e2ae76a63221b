//! [`ReferenceTrainer`]: the step of [`super::model`] as a plain loop, one output
//! element at a time, one sequential sum each, exactly as the model doc lists the steps
//! (and as the CUDA kernels compute them, one thread per element). A checkpoint and the
//! examples go in, the checkpoint `steps` later comes out. It is the definition the
//! engine ([`super::CpuTrainer`]) is tested against bit for bit and benchmarked
//! against.

use super::checkpoint::Checkpoint;
use super::cpu::{dims, run, softmax_grad, update};
use super::data::Examples;
use super::error::TrainError;
use super::model::Config;
use super::Trainer;

/// The model's step as a plain loop (see the module doc).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReferenceTrainer;

impl Trainer for ReferenceTrainer {
    fn name(&self) -> &'static str {
        "cpu-reference"
    }

    fn train(
        &self,
        from: &Checkpoint,
        data: &Examples,
        steps: u64,
    ) -> Result<Checkpoint, TrainError> {
        run(from, data, steps, |c, p, v, idx| {
            reference_step(c, p, v, data, idx)
        })
    }
}

/// The model doc's seven steps, written out literally (index loops on purpose: each
/// reads like the formula it implements).
#[allow(clippy::needless_range_loop)]
fn reference_step(
    c: &Config,
    params: &mut [f32],
    velocity: &mut [f32],
    data: &Examples,
    idx: &[u32],
) {
    let (n, hd, k, bs) = dims(c);
    let l = c.layout();
    let p = &*params;
    let x = |b: usize, kk: usize| data.x[idx[b] as usize * n + kk];
    let mut h = vec![0f32; bs * hd];
    for b in 0..bs {
        for i in 0..hd {
            let mut a = p[l.b1 + i];
            for kk in 0..n {
                a += p[l.w1 + i * n + kk] * x(b, kk);
            }
            h[b * hd + i] = if a > 0.0 { a } else { 0.0 };
        }
    }
    let mut z = vec![0f32; bs * k];
    for b in 0..bs {
        for j in 0..k {
            let mut a = p[l.b2 + j];
            for i in 0..hd {
                a += p[l.w2 + j * hd + i] * h[b * hd + i];
            }
            z[b * k + j] = a;
        }
    }
    let mut dz = vec![0f32; bs * k];
    for b in 0..bs {
        let r = b * k..(b + 1) * k;
        softmax_grad(
            &z[r.clone()],
            data.labels[idx[b] as usize],
            c.inv_batch(),
            &mut dz[r],
        );
    }
    let mut grad = vec![0f32; l.len];
    for j in 0..k {
        for i in 0..hd {
            let mut a = 0.0f32;
            for b in 0..bs {
                a += dz[b * k + j] * h[b * hd + i];
            }
            grad[l.w2 + j * hd + i] = a;
        }
        let mut a = 0.0f32;
        for b in 0..bs {
            a += dz[b * k + j];
        }
        grad[l.b2 + j] = a;
    }
    let mut dh = vec![0f32; bs * hd];
    for b in 0..bs {
        for i in 0..hd {
            if h[b * hd + i] > 0.0 {
                let mut a = 0.0f32;
                for j in 0..k {
                    a += p[l.w2 + j * hd + i] * dz[b * k + j];
                }
                dh[b * hd + i] = a;
            }
        }
    }
    for i in 0..hd {
        for kk in 0..n {
            let mut a = 0.0f32;
            for b in 0..bs {
                a += dh[b * hd + i] * x(b, kk);
            }
            grad[l.w1 + i * n + kk] = a;
        }
        let mut a = 0.0f32;
        for b in 0..bs {
            a += dh[b * hd + i];
        }
        grad[l.b1 + i] = a;
    }
    update(c, params, velocity, &grad);
}
