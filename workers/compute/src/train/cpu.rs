//! The CPU training engine, [`CpuTrainer`]: a checkpoint and the examples go in, the
//! checkpoint `steps` later comes out, with the bits of the model's definition
//! ([`super::model`]; [`super::ReferenceTrainer`] is that definition as a plain loop, and
//! the tests hold the two equal). Its loops are ordered so the innermost one runs over
//! independent output elements (it vectorises) while every element still sums its terms
//! in the model's order. Transposed copies of `w1` and `w2` make the forward pass walk
//! memory contiguously; the input gradient skips hidden units whose gradient is zero,
//! which leaves every sum's bits unchanged (adding a `±0` product to a sum that started
//! at `+0.0` never changes it: such a sum is never `-0.0`, and the inputs are finite,
//! which [`super::Examples::check`] ensures before any step). The pieces both CPU
//! trainers share (the run loop, the softmax gradient, the update) live here too.

use super::checkpoint::Checkpoint;
use super::data::Examples;
use super::error::TrainError;
use super::model::{BatchOrder, Config, Layout};
use super::ops::exp;
use super::Trainer;

/// The CPU training engine (see the module doc).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTrainer;

/// Step 3 of the model for one example: `dz` from the logits `z` and the label.
pub(super) fn softmax_grad(z: &[f32], label: u8, inv_b: f32, dz: &mut [f32]) {
    let mut m = z[0];
    for &v in &z[1..] {
        if v > m {
            m = v;
        }
    }
    let mut s = 0.0f32;
    for (d, &v) in dz.iter_mut().zip(z) {
        *d = exp(v - m);
        s += *d;
    }
    for (j, d) in dz.iter_mut().enumerate() {
        let target = if j == label as usize { 1.0 } else { 0.0 };
        *d = (*d / s - target) * inv_b;
    }
}

/// Runs `steps` steps of `step_fn` from `from`, after checking that `from` belongs to
/// `data`; shared by both CPU trainers.
pub(super) fn run(
    from: &Checkpoint,
    data: &Examples,
    steps: u64,
    mut step_fn: impl FnMut(&Config, &mut [f32], &mut [f32], &[u32]),
) -> Result<Checkpoint, TrainError> {
    from.check_for(data)?;
    let end = from
        .step
        .checked_add(steps)
        .ok_or(TrainError::StepOverflow {
            step: from.step,
            steps,
        })?;
    let mut out = from.clone();
    let mut order = BatchOrder::new(from.data_seed, data.len(), from.config.batch as usize);
    for s in from.step..end {
        step_fn(
            &out.config,
            &mut out.params,
            &mut out.velocity,
            order.batch(s),
        );
    }
    out.step = end;
    Ok(out)
}

impl Trainer for CpuTrainer {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn train(
        &self,
        from: &Checkpoint,
        data: &Examples,
        steps: u64,
    ) -> Result<Checkpoint, TrainError> {
        let mut work = Work::new(&from.config);
        run(from, data, steps, |c, p, v, idx| {
            work.step(c, p, v, data, idx)
        })
    }
}

/// The engine's buffers, allocated once per [`CpuTrainer::train`] call.
pub(super) struct Work {
    layout: Layout,
    /// w1ᵀ (input x hidden) and w2ᵀ (hidden x classes) of the current step.
    w1t: Vec<f32>,
    w2t: Vec<f32>,
    /// batch x hidden, batch x classes, batch x classes, batch x hidden.
    h: Vec<f32>,
    pub(super) z: Vec<f32>,
    dz: Vec<f32>,
    dh: Vec<f32>,
    grad: Vec<f32>,
}

impl Work {
    pub(super) fn new(c: &Config) -> Self {
        let (n, hd, k, b) = dims(c);
        let layout = c.layout();
        Work {
            layout,
            w1t: vec![0.0; n * hd],
            w2t: vec![0.0; hd * k],
            h: vec![0.0; b * hd],
            z: vec![0.0; b * k],
            dz: vec![0.0; b * k],
            dh: vec![0.0; b * hd],
            grad: vec![0.0; layout.len],
        }
    }

    /// Steps 1 and 2: hidden activations and logits for the examples in `idx`.
    pub(super) fn forward(&mut self, c: &Config, params: &[f32], data: &Examples, idx: &[u32]) {
        let (n, hd, k, _) = dims(c);
        let l = self.layout;
        for i in 0..hd {
            for kk in 0..n {
                self.w1t[kk * hd + i] = params[l.w1 + i * n + kk];
            }
        }
        for j in 0..k {
            for i in 0..hd {
                self.w2t[i * k + j] = params[l.w2 + j * hd + i];
            }
        }
        for (b, &e) in idx.iter().enumerate() {
            let x = data.row(e as usize);
            let h = &mut self.h[b * hd..(b + 1) * hd];
            h.copy_from_slice(&params[l.b1..l.b1 + hd]);
            for (kk, &xk) in x.iter().enumerate() {
                for (a, &w) in h.iter_mut().zip(&self.w1t[kk * hd..(kk + 1) * hd]) {
                    *a += w * xk;
                }
            }
            for a in h.iter_mut() {
                *a = if *a > 0.0 { *a } else { 0.0 };
            }
            let z = &mut self.z[b * k..(b + 1) * k];
            z.copy_from_slice(&params[l.b2..l.b2 + k]);
            for (i, &hi) in h.iter().enumerate() {
                for (a, &w) in z.iter_mut().zip(&self.w2t[i * k..(i + 1) * k]) {
                    *a += w * hi;
                }
            }
        }
    }

    fn step(
        &mut self,
        c: &Config,
        params: &mut [f32],
        velocity: &mut [f32],
        data: &Examples,
        idx: &[u32],
    ) {
        let (n, hd, k, _) = dims(c);
        let l = self.layout;
        self.forward(c, params, data, idx);
        let inv_b = c.inv_batch();
        for (b, &e) in idx.iter().enumerate() {
            let r = b * k..(b + 1) * k;
            softmax_grad(
                &self.z[r.clone()],
                data.labels[e as usize],
                inv_b,
                &mut self.dz[r],
            );
        }
        self.grad.fill(0.0);
        let (g_in, g_out) = self.grad.split_at_mut(l.w2);
        let (gw1, gb1) = g_in.split_at_mut(l.b1);
        let (gw2, gb2) = g_out.split_at_mut(l.b2 - l.w2);
        // Step 4, b ascending for every element.
        for b in 0..idx.len() {
            let h = &self.h[b * hd..(b + 1) * hd];
            for j in 0..k {
                let d = self.dz[b * k + j];
                for (g, &hi) in gw2[j * hd..(j + 1) * hd].iter_mut().zip(h) {
                    *g += d * hi;
                }
                gb2[j] += d;
            }
        }
        // Step 5, j ascending; the mask is applied after the sum, which is the same
        // value the model's "0 if h <= 0" gives.
        for b in 0..idx.len() {
            let dh = &mut self.dh[b * hd..(b + 1) * hd];
            dh.fill(0.0);
            for j in 0..k {
                let d = self.dz[b * k + j];
                let w = &params[l.w2 + j * hd..l.w2 + (j + 1) * hd];
                for (a, &wi) in dh.iter_mut().zip(w) {
                    *a += wi * d;
                }
            }
            for (a, &hi) in dh.iter_mut().zip(&self.h[b * hd..(b + 1) * hd]) {
                *a = if hi > 0.0 { *a } else { 0.0 };
            }
        }
        // Step 6, b ascending; zero gradients are skipped (module doc).
        for (b, &e) in idx.iter().enumerate() {
            let x = data.row(e as usize);
            for i in 0..hd {
                let d = self.dh[b * hd + i];
                if d == 0.0 {
                    continue;
                }
                for (g, &xk) in gw1[i * n..(i + 1) * n].iter_mut().zip(x) {
                    *g += d * xk;
                }
                gb1[i] += d;
            }
        }
        update(c, params, velocity, &self.grad);
    }
}

/// Step 7.
pub(super) fn update(c: &Config, params: &mut [f32], velocity: &mut [f32], grad: &[f32]) {
    let (mu, lr) = (c.momentum, c.learning_rate);
    for ((p, v), &g) in params.iter_mut().zip(velocity.iter_mut()).zip(grad) {
        *v = mu * *v + g;
        *p -= lr * *v;
    }
}

pub(super) fn dims(c: &Config) -> (usize, usize, usize, usize) {
    (
        c.input as usize,
        c.hidden as usize,
        c.classes as usize,
        c.batch as usize,
    )
}
