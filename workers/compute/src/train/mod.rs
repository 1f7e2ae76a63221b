//! The train-mlp engine: SGD training of a small multilayer perceptron that gives the
//! same bytes on every machine and every executor. A [`Checkpoint`] and the training
//! [`Examples`] go in, the checkpoint `steps` SGD steps later comes out, as canonical
//! bytes with a SHA-256 state root; a run cut into segments and resumed from any
//! checkpoint by any worker ends with the bytes of an uninterrupted run.
//!
//! Bitwise reproducibility (the approach Gensyn calls RepOps): the step is defined
//! operation by operation in [`model`] (f32, every sum in a fixed sequential order, no
//! fused multiply-add), elementary functions are our own ([`ops`]), the data order is a
//! pure function of the checkpoint's seed and step ([`BatchOrder`]), and every executor
//! follows that definition: [`CpuTrainer`] (the engine), [`ReferenceTrainer`] (the
//! definition as a plain loop) and [`CudaTrainer`] (NVRTC kernels, one thread per output
//! element, every operation an `_rn` intrinsic, compiled with `--fmad=false`).
//!
//! Files: [`data`] (the digits file format, the fixed split), [`model`] (configuration,
//! parameter layout, initialisation, data order, the step's definition), [`ops`]
//! (deterministic `exp`/`ln`), [`checkpoint`] (canonical bytes), [`cpu`] (the engine),
//! [`reference`](mod@reference) (the plain loop), [`eval`] (held-out accuracy and loss), [`cuda`] (the
//! CUDA trainer) with [`kernels`] (its CUDA C source), [`segment`] (one paid segment of a
//! train-mlp job, resumed only from a checkpoint whose root the chain committed), [`error`].

pub mod checkpoint;
pub mod cpu;
pub mod cuda;
pub mod data;
pub mod error;
pub mod eval;
pub mod kernels;
pub mod model;
pub mod ops;
pub mod reference;
pub mod segment;

pub use checkpoint::Checkpoint;
pub use cpu::CpuTrainer;
pub use cuda::CudaTrainer;
pub use data::{Digits, Examples};
pub use error::{CheckpointError, ConfigError, DataError, TrainError};
pub use eval::{evaluate, Evaluation};
pub use model::{BatchOrder, Config, Layout};
pub use reference::ReferenceTrainer;
pub use segment::{run_segment, training_data, Previous, SegmentError, SegmentOutput};

/// An executor of the step in [`model`]. Implementations differ in speed only: from the
/// same checkpoint and data, every one returns a checkpoint with the same bytes.
pub trait Trainer: Send + Sync {
    /// "cpu", "cpu-reference", "cuda".
    fn name(&self) -> &'static str;

    /// `steps` more SGD steps from `from` on `data` (the training examples `from` was
    /// started on: [`Checkpoint::check_for`]). `steps` 0 returns `from` unchanged.
    fn train(
        &self,
        from: &Checkpoint,
        data: &Examples,
        steps: u64,
    ) -> Result<Checkpoint, TrainError>;
}

/// Trains `steps` steps in segments of `every` (the last may be shorter), handing each
/// segment's checkpoint to `on_checkpoint` (which stores it: serialize, hash, upload)
/// before the next segment starts; returns the last checkpoint. `every` 0 is taken as
/// one segment of all the steps.
pub fn train_segments<E: From<TrainError>>(
    trainer: &dyn Trainer,
    from: &Checkpoint,
    data: &Examples,
    steps: u64,
    every: u64,
    mut on_checkpoint: impl FnMut(&Checkpoint) -> Result<(), E>,
) -> Result<Checkpoint, E> {
    let every = if every == 0 { steps.max(1) } else { every };
    let mut ckpt = from.clone();
    let mut left = steps;
    while left > 0 {
        let n = left.min(every);
        ckpt = trainer.train(&ckpt, data, n)?;
        on_checkpoint(&ckpt)?;
        left -= n;
    }
    Ok(ckpt)
}
