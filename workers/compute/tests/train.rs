//! train-mlp engine tests: the bundled digits file and its loader, held-out accuracy,
//! bit-for-bit reproducibility (two runs, the engine against the reference loop, a run
//! killed mid-segment and resumed by another worker), checkpoint bytes and the ways a
//! bad or foreign checkpoint is refused, and the CUDA trainer's refusal without a GPU.
//! The CUDA-against-CPU bytes test is in tests/gpu.rs (ignored; run on a GPU machine).

use gpu_market_compute::cuda::{self, Detection};
use gpu_market_compute::exec::ExecError;
use gpu_market_compute::spec::{sha256, SplitMix64};
use gpu_market_compute::train::checkpoint::{CHECKPOINT_HEADER_LEN, CHECKPOINT_TRAILER_LEN};
use gpu_market_compute::train::data::{BUNDLED_DIGITS_SHA256, DIGITS_HEADER_LEN};
use gpu_market_compute::train::{
    evaluate, train_segments, Checkpoint, CheckpointError, Config, ConfigError, CpuTrainer,
    CudaTrainer, DataError, Digits, Examples, ReferenceTrainer, TrainError, Trainer,
};
use std::collections::BTreeMap;

/// Steps the accuracy test trains: about 13 epochs of the 1438 training images at
/// batch 32.
const ACCURACY_STEPS: u64 = 600;
/// Held-out accuracy it must reach (measured: 96.4 %, 346 of 359).
const ACCURACY_FLOOR: f64 = 0.94;

fn digits() -> Digits {
    Digits::load(&Digits::bundled_path()).expect("bundled digits load")
}

fn split() -> (Examples, Examples) {
    digits().split()
}

fn start(train: &Examples) -> Checkpoint {
    Checkpoint::init(Config::digits(), train, 1, 2).unwrap()
}

/// Re-hashes a checkpoint body after an edit, as a forger would.
fn rehash(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - CHECKPOINT_TRAILER_LEN;
    let root = sha256(&bytes[..body]);
    bytes[body..].copy_from_slice(&root.0);
    bytes
}

// ---------------------------------------------------------------- data

#[test]
fn bundled_digits_are_sklearns_1797_images_split_1438_to_359() {
    let bytes = std::fs::read(Digits::bundled_path()).unwrap();
    assert_eq!(sha256(&bytes).to_hex(), BUNDLED_DIGITS_SHA256);
    let d = Digits::from_bytes(&bytes).unwrap();
    assert_eq!(
        (d.len(), d.rows, d.cols, d.max_value, d.classes),
        (1797, 8, 8, 16, 10)
    );
    assert_eq!(d.to_bytes(), bytes, "canonical re-encoding");
    // Every class is present (sklearn's counts: 174..=183 per digit).
    let mut counts = [0usize; 10];
    d.labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert!(
        counts.iter().all(|&c| (174..=183).contains(&c)),
        "{counts:?}"
    );
    let (train, held) = d.split();
    assert_eq!((train.len(), held.len()), (1438, 359));
    assert_eq!(train.x.len(), 1438 * 64);
    assert!(train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // The split is fixed: image 4 is the first held out, image 5 follows image 3.
    assert_eq!(held.row(0), Examples::new(&d).row(4));
    assert_eq!(train.row(4), Examples::new(&d).row(5));
    assert_ne!(train.hash, held.hash);
}

#[test]
fn malformed_digits_files_are_refused_with_named_errors() {
    let good = digits().to_bytes();
    let edit = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        b
    };
    assert!(matches!(
        Digits::from_bytes(&good[..10]),
        Err(DataError::TooShort { found: 10 })
    ));
    assert!(matches!(
        Digits::from_bytes(&edit(0, b'X')),
        Err(DataError::BadMagic)
    ));
    assert!(matches!(
        Digits::from_bytes(&edit(8, 2)),
        Err(DataError::UnsupportedVersion { found: 2 })
    ));
    assert!(matches!(
        Digits::from_bytes(&edit(17, 0)),
        Err(DataError::EmptyShape { cols: 0, .. })
    ));
    assert!(matches!(
        Digits::from_bytes(&good[..good.len() - 1]),
        Err(DataError::Length {
            expected: 116_825,
            found: 116_824
        })
    ));
    // Image 3's first pixel set to 17 > max 16.
    assert!(matches!(
        Digits::from_bytes(&edit(DIGITS_HEADER_LEN + 3 * 64, 17)),
        Err(DataError::PixelRange {
            index: 3,
            value: 17,
            max: 16
        })
    ));
    let last = good.len() - 1;
    assert!(matches!(
        Digits::from_bytes(&edit(last, 10)),
        Err(DataError::LabelRange {
            index: 1796,
            label: 10,
            classes: 10
        })
    ));
    assert!(matches!(
        Digits::load(std::path::Path::new("/nonexistent/digits.bin")),
        Err(DataError::Io { .. })
    ));
}

/// Attack: hand-built examples whose fields disagree (fewer input values than labels
/// times inputs would make the CUDA kernels read past the buffer; an infinite input
/// would make the engine's zero-skipping disagree with the reference loop; a label
/// past the classes would index past the logits). Every trainer refuses them before
/// any step, and so does evaluation.
#[test]
fn inconsistent_examples_are_refused_before_any_step() {
    let (train, _) = split();
    let c = start(&train);
    let mut short = train.clone();
    short.x.pop();
    let mut infinite = train.clone();
    infinite.x[64 * 7 + 3] = f32::INFINITY;
    let mut label = train.clone();
    label.labels[9] = 10;
    for trainer in [&CpuTrainer as &dyn Trainer, &ReferenceTrainer] {
        assert!(matches!(
            trainer.train(&c, &short, 1),
            Err(TrainError::Data(DataError::ExamplesShape { found, expected, .. }))
                if found + 1 == expected
        ));
        assert!(matches!(
            trainer.train(&c, &infinite, 1),
            Err(TrainError::Data(DataError::NonFiniteInput { index: 7 }))
        ));
        assert!(matches!(
            trainer.train(&c, &label, 1),
            Err(TrainError::Data(DataError::ExampleLabel {
                index: 9,
                label: 10,
                classes: 10
            }))
        ));
    }
    assert!(matches!(
        evaluate(&c, &short),
        Err(TrainError::Data(DataError::ExamplesShape { .. }))
    ));
}

// ---------------------------------------------------------------- training

#[test]
fn cpu_training_reaches_94_percent_on_the_held_out_digits_in_600_steps() {
    let (train, held) = split();
    let c0 = start(&train);
    let before = evaluate(&c0, &held).unwrap();
    let ckpt = CpuTrainer.train(&c0, &train, ACCURACY_STEPS).unwrap();
    let after = evaluate(&ckpt, &held).unwrap();
    eprintln!(
        "held-out after {ACCURACY_STEPS} steps: {}/{} = {:.1} % (loss {:.3}; at step 0 {:.1} %, loss {:.3})",
        after.correct,
        after.total,
        100.0 * after.accuracy(),
        after.loss,
        100.0 * before.accuracy(),
        before.loss
    );
    assert_eq!(ckpt.step, ACCURACY_STEPS);
    assert!(after.accuracy() >= ACCURACY_FLOOR, "{after:?}");
    assert!(after.loss < before.loss / 5.0, "{before:?} -> {after:?}");
    assert!(
        before.accuracy() < 0.5,
        "an untrained model guesses: {before:?}"
    );
}

#[test]
fn two_runs_from_the_same_start_give_identical_bytes_and_other_seeds_do_not() {
    let (train, _) = split();
    let a = CpuTrainer.train(&start(&train), &train, 120).unwrap();
    let b = CpuTrainer.train(&start(&train), &train, 120).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes());
    assert_eq!(a.state_root(), b.state_root());
    // The data-order seed and the init seed each change the result.
    let other_order = Checkpoint::init(Config::digits(), &train, 1, 3).unwrap();
    let other_init = Checkpoint::init(Config::digits(), &train, 9, 2).unwrap();
    for from in [other_order, other_init] {
        let c = CpuTrainer.train(&from, &train, 120).unwrap();
        assert_ne!(c.state_root(), a.state_root());
    }
}

#[test]
fn the_engine_matches_the_reference_loop_bit_for_bit() {
    let (train, _) = split();
    // Momentum 0 and an odd batch too, so no setting hides a difference.
    for config in [
        Config::digits(),
        Config {
            hidden: 17,
            batch: 7,
            momentum: 0.0,
            learning_rate: 0.05,
            ..Config::digits()
        },
    ] {
        let from = Checkpoint::init(config, &train, 5, 6).unwrap();
        let engine = CpuTrainer.train(&from, &train, 90).unwrap();
        let reference = ReferenceTrainer.train(&from, &train, 90).unwrap();
        assert_eq!(engine.to_bytes(), reference.to_bytes(), "{config:?}");
        assert_ne!(engine.params, from.params);
    }
}

/// The step's definition is part of the protocol: a change to any operation, its order,
/// the data order, the initialisation or the checkpoint format changes this root, and
/// then old checkpoints can no longer be resumed bit for bit. Update it only with a new
/// checkpoint format version.
#[test]
fn the_state_root_after_100_steps_is_frozen() {
    let (train, _) = split();
    let c = CpuTrainer.train(&start(&train), &train, 100).unwrap();
    assert_eq!(c.state_root().to_hex(), FROZEN_ROOT_100);
}

const FROZEN_ROOT_100: &str = "2496491e3f1184cc3541db1794bff03eb2d02a3261e720f94715b65cdbf9e4e3";

/// A run is split into segments of S steps; after each one the worker stores the
/// checkpoint's bytes. Worker A is killed in the middle of a random segment (the steps
/// it did since its last checkpoint are lost); worker B, a different trainer instance
/// starting from nothing but the stored bytes, finishes the run (the seed is printed;
/// `GPU_MARKET_TRAIN_KILL_SEED` replays one). Its last checkpoint must have the bytes of
/// a run that was never interrupted.
#[test]
fn a_run_killed_in_a_random_segment_and_resumed_by_another_worker_matches_an_uninterrupted_run() {
    const TOTAL: u64 = 300;
    const EVERY: u64 = 25;
    let (train, _) = split();
    let c0 = start(&train);
    let uninterrupted = CpuTrainer.train(&c0, &train, TOTAL).unwrap().to_bytes();

    let seed = std::env::var("GPU_MARKET_TRAIN_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    let mut rng = SplitMix64::new(seed);
    // Worker B runs the engine, then the reference loop, then the engine again: another
    // implementation must finish the run to the same bytes too.
    let workers: [&dyn Trainer; 3] = [&CpuTrainer, &ReferenceTrainer, &CpuTrainer];
    for worker_b in workers {
        let segments = TOTAL / EVERY;
        let killed_in = rng.next_u64() % segments; // 0-based segment index
        let done_in_killed = rng.next_u64() % EVERY; // steps lost
        eprintln!(
            "kill seed {seed}: worker A killed {done_in_killed} steps into segment {killed_in}, {} finishes",
            worker_b.name()
        );

        // Worker A: stores checkpoints until it dies.
        let mut store: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        store.insert(0, c0.to_bytes());
        let a_done = train_segments(&CpuTrainer, &c0, &train, killed_in * EVERY, EVERY, |c| {
            store.insert(c.step, c.to_bytes());
            Ok::<(), TrainError>(())
        })
        .unwrap();
        // The partial segment it was computing when it was killed: never stored.
        let lost = CpuTrainer.train(&a_done, &train, done_in_killed).unwrap();
        drop(lost);

        // Worker B: the latest stored checkpoint, parsed from bytes alone.
        let (&step, bytes) = store.last_key_value().unwrap();
        assert_eq!(step, killed_in * EVERY);
        let resumed = Checkpoint::from_bytes(bytes).unwrap();
        let end = train_segments(worker_b, &resumed, &train, TOTAL - step, EVERY, |c| {
            store.insert(c.step, c.to_bytes());
            Ok::<(), TrainError>(())
        })
        .unwrap();
        assert_eq!(end.step, TOTAL);
        assert_eq!(end.to_bytes(), uninterrupted, "kill seed {seed}");
        assert_eq!(store.len() as u64, segments + 1);
    }
}

#[test]
fn resuming_at_any_step_not_only_segment_ends_gives_the_same_bytes() {
    let (train, _) = split();
    let c0 = start(&train);
    // 45 steps = one epoch of 44 and one more: a cut across the epoch boundary too.
    let whole = CpuTrainer.train(&c0, &train, 100).unwrap();
    for cut in [1, 17, 44, 45, 99] {
        let first = CpuTrainer.train(&c0, &train, cut).unwrap();
        let first = Checkpoint::from_bytes(&first.to_bytes()).unwrap();
        let rest = ReferenceTrainer.train(&first, &train, 100 - cut).unwrap();
        assert_eq!(rest.to_bytes(), whole.to_bytes(), "cut at {cut}");
    }
    assert_eq!(CpuTrainer.train(&whole, &train, 0).unwrap(), whole);
}

#[test]
fn train_segments_stores_one_checkpoint_per_segment_and_a_short_last_one() {
    let (train, _) = split();
    let c0 = start(&train);
    let mut steps = Vec::new();
    let end = train_segments(&CpuTrainer, &c0, &train, 70, 30, |c| {
        steps.push(c.step);
        Ok::<(), TrainError>(())
    })
    .unwrap();
    assert_eq!(steps, [30, 60, 70]);
    assert_eq!(end, CpuTrainer.train(&c0, &train, 70).unwrap());
    // A failing store stops the run at once, with the store's error.
    let mut calls = 0;
    let r = train_segments(&CpuTrainer, &c0, &train, 70, 30, |_| {
        calls += 1;
        Err(TrainError::StepOverflow { step: 0, steps: 0 })
    });
    assert!(matches!(r, Err(TrainError::StepOverflow { .. })));
    assert_eq!(calls, 1);
}

// ---------------------------------------------------------------- checkpoints

#[test]
fn checkpoint_bytes_round_trip_and_have_the_documented_layout() {
    let (train, _) = split();
    let c = CpuTrainer.train(&start(&train), &train, 10).unwrap();
    let bytes = c.to_bytes();
    let p = Config::digits().layout().len;
    assert_eq!(p, 64 * 32 + 32 + 32 * 10 + 10);
    assert_eq!(
        bytes.len(),
        CHECKPOINT_HEADER_LEN + 8 * p + CHECKPOINT_TRAILER_LEN
    );
    assert_eq!(&bytes[..8], b"GMTRAINC");
    assert_eq!(u64::from_le_bytes(bytes[44..52].try_into().unwrap()), 10);
    assert_eq!(&bytes[52..84], &train.hash.0);
    assert_eq!(
        &bytes[bytes.len() - 32..],
        &c.state_root().0,
        "the trailer is the state root"
    );
    let back = Checkpoint::from_bytes(&bytes).unwrap();
    assert_eq!(back, c);
    assert_eq!(back.to_bytes(), bytes);
}

#[test]
fn corrupted_checkpoints_are_refused_with_named_errors() {
    let (train, _) = split();
    let good = CpuTrainer
        .train(&start(&train), &train, 5)
        .unwrap()
        .to_bytes();
    let edit = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        b
    };
    assert!(matches!(
        Checkpoint::from_bytes(&good[..100]),
        Err(CheckpointError::TooShort {
            needed: 116,
            found: 100
        })
    ));
    assert_eq!(
        Checkpoint::from_bytes(&edit(3, b'x')),
        Err(CheckpointError::BadMagic)
    );
    assert_eq!(
        Checkpoint::from_bytes(&rehash(edit(8, 2))),
        Err(CheckpointError::UnsupportedVersion { found: 2 })
    );
    // Truncated, or one byte appended.
    let expected = good.len() as u64;
    assert_eq!(
        Checkpoint::from_bytes(&good[..good.len() - 4]),
        Err(CheckpointError::Length {
            expected,
            found: expected - 4
        })
    );
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        Checkpoint::from_bytes(&longer),
        Err(CheckpointError::Length {
            expected,
            found: expected + 1
        })
    );
    // Hidden width 32 -> 33 with a valid hash: the shapes no longer fit the length.
    assert!(matches!(
        Checkpoint::from_bytes(&rehash(edit(16, 33))),
        Err(CheckpointError::Length { .. })
    ));
    // A width beyond the engine's limit is refused before it sizes anything.
    let mut huge = good.clone();
    huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Checkpoint::from_bytes(&rehash(huge)),
        Err(CheckpointError::Config(ConfigError::Width {
            name: "hidden",
            ..
        }))
    ));
    // A NaN learning rate with a valid hash.
    let mut nan = good.clone();
    nan[28..32].copy_from_slice(&f32::NAN.to_bits().to_le_bytes());
    assert!(matches!(
        Checkpoint::from_bytes(&rehash(nan)),
        Err(CheckpointError::Config(ConfigError::LearningRate(_)))
    ));
    // One flipped bit in a weight, the step, or the trailer itself.
    for at in [CHECKPOINT_HEADER_LEN + 100, 44, good.len() - 1] {
        assert!(
            matches!(
                Checkpoint::from_bytes(&edit(at, good[at] ^ 1)),
                Err(CheckpointError::HashMismatch { .. })
            ),
            "bit flipped at {at}"
        );
    }
}

/// Attack: a worker paid to continue a run resumes the checkpoint on other (cheaper,
/// or poisoned) data, hoping the result passes for the buyer's run. The checkpoint
/// records the hash of its training data, so the trainer refuses before any step.
#[test]
fn a_checkpoint_is_never_trained_on_data_other_than_its_own() {
    let (train, held) = split();
    let c = CpuTrainer.train(&start(&train), &train, 5).unwrap();
    for trainer in [&CpuTrainer as &dyn Trainer, &ReferenceTrainer] {
        match trainer.train(&c, &held, 5) {
            Err(TrainError::DataMismatch { checkpoint, data }) => {
                assert_eq!((checkpoint, data), (train.hash, held.hash));
            }
            other => panic!("{}: {other:?}", trainer.name()),
        }
    }
    // Same pixels, one label changed: a different data set.
    let mut d = digits();
    d.labels[0] = (d.labels[0] + 1) % 10;
    let (poisoned, _) = d.split();
    assert!(matches!(
        CpuTrainer.train(&c, &poisoned, 5),
        Err(TrainError::DataMismatch { .. })
    ));
    // A checkpoint edited by hand to claim the poisoned data's hash still needs a
    // valid state root to be loaded at all.
    let mut bytes = c.to_bytes();
    bytes[52..84].copy_from_slice(&poisoned.hash.0);
    assert!(matches!(
        Checkpoint::from_bytes(&bytes),
        Err(CheckpointError::HashMismatch { .. })
    ));
}

#[test]
fn bad_configurations_and_step_overflow_are_refused() {
    let (train, _) = split();
    let bad = |config: Config| Checkpoint::init(config, &train, 1, 2).unwrap_err();
    let d = Config::digits();
    assert!(matches!(
        bad(Config { input: 63, ..d }),
        TrainError::Config(ConfigError::Shape {
            input: 63,
            data: 64,
            ..
        })
    ));
    assert!(matches!(
        bad(Config { classes: 9, ..d }),
        TrainError::Config(ConfigError::Shape { classes: 9, .. })
    ));
    assert!(matches!(
        bad(Config { hidden: 0, ..d }),
        TrainError::Config(ConfigError::Width {
            name: "hidden",
            value: 0,
            ..
        })
    ));
    assert!(matches!(
        bad(Config { batch: 1439, ..d }),
        TrainError::Config(ConfigError::Batch {
            batch: 1439,
            examples: 1438
        })
    ));
    assert!(matches!(
        bad(Config {
            learning_rate: -0.1,
            ..d
        }),
        TrainError::Config(ConfigError::LearningRate(_))
    ));
    assert!(matches!(
        bad(Config { momentum: 1.0, ..d }),
        TrainError::Config(ConfigError::Momentum(_))
    ));
    let mut late = start(&train);
    late.step = u64::MAX - 1;
    assert!(matches!(
        CpuTrainer.train(&late, &train, 5),
        Err(TrainError::StepOverflow { step, steps: 5 }) if step == u64::MAX - 1
    ));
    // Parameter vectors of the wrong length (a hand-built checkpoint).
    let mut short = start(&train);
    short.params.pop();
    assert!(matches!(
        CpuTrainer.train(&short, &train, 1),
        Err(TrainError::Checkpoint(CheckpointError::Length { .. }))
    ));
    assert!(evaluate(&short, &train).is_err());
}

// ---------------------------------------------------------------- CUDA

/// Without a usable GPU the CUDA trainer is refused with the reason, never a panic
/// (cudarc panics on a missing library; the trainer probes first).
#[test]
fn the_cuda_trainer_reports_why_it_is_unavailable() {
    match (cuda::detect(), CudaTrainer::new(0)) {
        (
            Detection::Unavailable { reason },
            Err(TrainError::Cuda(ExecError::CudaUnavailable(r))),
        ) => {
            assert_eq!(r, reason);
        }
        (Detection::Unavailable { reason }, other) => {
            panic!(
                "no GPU ({reason}) but CudaTrainer::new gave {:?}",
                other.map(|t| t.name())
            )
        }
        // On a GPU machine, the ignored test in tests/gpu.rs checks the trainer itself.
        (Detection::Available { .. }, r) => {
            if let Err(e) = r {
                assert!(matches!(e, TrainError::Cuda(_)), "{e}");
            }
        }
    }
}
