//! The segment executor (`train::run_segment`): a job run segment by segment, each
//! resumed from the previous one's stored bytes and committed root, ends with the bytes
//! of one uninterrupted run and reaches the stated held-out accuracy; and every way a
//! worker could be made to resume from a checkpoint the chain did not commit to (a
//! tampered or re-hashed file, another run's checkpoint, the wrong step, segment 0 from
//! handed-in bytes) is refused by name before a step is trained. The CUDA trainer behind
//! the same call is checked on a GPU machine (ignored here).

use gpu_market_compute::spec::{
    sha256, BlobRef, NamedBlob, SpecError, TrainMlp, TrainMlpSpec, TrainWorkload,
};
use gpu_market_compute::train::checkpoint::CHECKPOINT_TRAILER_LEN;
use gpu_market_compute::train::segment::{initial_checkpoint, start_of};
use gpu_market_compute::train::{
    evaluate, run_segment, training_data, CheckpointError, CpuTrainer, DataError, Digits, Examples,
    Previous, ReferenceTrainer, SegmentError, TrainError, Trainer,
};

const SEGMENTS: u32 = 6;
const STEPS: u64 = 100;

fn digits_bytes() -> Vec<u8> {
    std::fs::read(Digits::bundled_path()).unwrap()
}

fn spec_with(edit: impl FnOnce(&mut TrainMlp)) -> TrainMlpSpec {
    let bytes = digits_bytes();
    let mut p = TrainMlp {
        input: 64,
        hidden: 32,
        classes: 10,
        batch: 32,
        learning_rate: 0.1,
        momentum: 0.9,
        init_seed: 1,
        data_seed: 2,
        steps_per_segment: STEPS,
        segments: SEGMENTS,
        checkpoint_store: "file:///tmp/ckpt".into(),
    };
    edit(&mut p);
    TrainMlpSpec {
        version: 1,
        workload: TrainWorkload::TrainMlp(p),
        inputs: vec![NamedBlob {
            name: "digits".into(),
            blob: BlobRef {
                uri: format!("file://{}", Digits::bundled_path().display()),
                sha256: sha256(&bytes),
                len: bytes.len() as u64,
            },
        }],
    }
}

fn spec() -> TrainMlpSpec {
    spec_with(|_| {})
}

fn data(spec: &TrainMlpSpec) -> Examples {
    training_data(spec, &digits_bytes()).unwrap()
}

/// Runs segments `0..n` on the CPU engine, each from the previous output's bytes.
fn chain_of(spec: &TrainMlpSpec, data: &Examples, n: u32) -> Vec<(Vec<u8>, [u8; 32])> {
    let mut out: Vec<(Vec<u8>, [u8; 32])> = Vec::new();
    for i in 0..n {
        let prev = out.last().map(|(b, r)| Previous {
            bytes: b,
            root: (*r).into(),
        });
        let o = run_segment(&CpuTrainer, spec, data, prev, i).unwrap();
        out.push((o.bytes, o.state_root.0));
    }
    out
}

#[test]
fn segments_run_back_to_back_give_the_bytes_of_one_uninterrupted_run() {
    let s = spec();
    let d = data(&s);
    let segments = chain_of(&s, &d, SEGMENTS);
    let c0 = initial_checkpoint(&s, &d).unwrap();
    let whole = CpuTrainer.train(&c0, &d, STEPS * SEGMENTS as u64).unwrap();
    let (last, root) = segments.last().unwrap();
    assert_eq!(last, &whole.to_bytes());
    assert_eq!(root, &whole.state_root().0);
    for (i, (bytes, root)) in segments.iter().enumerate() {
        // The committed root is the checkpoint's trailer, the SHA-256 of its body.
        let body = bytes.len() - CHECKPOINT_TRAILER_LEN;
        assert_eq!(&bytes[body..], root, "segment {i}");
        assert_eq!(sha256(&bytes[..body]).0, *root, "segment {i}");
        let c = gpu_market_compute::train::Checkpoint::from_bytes(bytes).unwrap();
        assert_eq!(c.step, STEPS * (i as u64 + 1));
    }
    // The reference loop behind the same call runs the last segment to the same bytes.
    let (prev, prev_root) = &segments[SEGMENTS as usize - 2];
    let again = run_segment(
        &ReferenceTrainer,
        &s,
        &d,
        Some(Previous {
            bytes: prev,
            root: (*prev_root).into(),
        }),
        SEGMENTS - 1,
    )
    .unwrap();
    assert_eq!(&again.bytes, last);

    // 600 steps: the held-out accuracy tests/train.rs states for the engine.
    let (_, held) = Digits::from_bytes(&digits_bytes()).unwrap().split();
    let eval = evaluate(&whole, &held).unwrap();
    eprintln!(
        "held-out after {SEGMENTS} segments of {STEPS} steps: {}/{} = {:.1} %",
        eval.correct,
        eval.total,
        100.0 * eval.accuracy()
    );
    assert!(eval.accuracy() >= 0.94, "{eval:?}");
}

/// Attack: a provider resuming a job is handed a checkpoint whose bytes were edited
/// (a weight flipped, or the weights replaced and the trailer re-hashed so the file is
/// self-consistent). Only the root the chain committed counts: both are refused before
/// any parsing or training.
#[test]
fn a_tampered_or_rehashed_previous_checkpoint_is_refused_against_the_committed_root() {
    let s = spec();
    let d = data(&s);
    let segs = chain_of(&s, &d, 2);
    let (bytes, root) = &segs[1];
    let root = (*root).into();

    let mut flipped = bytes.clone();
    flipped[200] ^= 1;
    let mut forged = bytes.clone();
    forged[200] ^= 1;
    let body = forged.len() - CHECKPOINT_TRAILER_LEN;
    let rehash = sha256(&forged[..body]);
    forged[body..].copy_from_slice(&rehash.0);
    gpu_market_compute::train::Checkpoint::from_bytes(&forged).expect("self-consistent forgery");

    for (what, b) in [("flipped bit", &flipped), ("re-hashed forgery", &forged)] {
        match run_segment(&CpuTrainer, &s, &d, Some(Previous { bytes: b, root }), 2) {
            Err(SegmentError::PreviousRootMismatch {
                index: 2,
                expected,
                found,
            }) => {
                assert_eq!(expected, root, "{what}");
                assert_ne!(found, root, "{what}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    // The right bytes with another root (a commit the provider did not make).
    assert!(matches!(
        run_segment(
            &CpuTrainer,
            &s,
            &d,
            Some(Previous {
                bytes,
                root: sha256(b"another root")
            }),
            2
        ),
        Err(SegmentError::PreviousRootMismatch { .. })
    ));
    // And the honest resume works from the same bytes.
    run_segment(&CpuTrainer, &s, &d, Some(Previous { bytes, root }), 2).unwrap();
}

/// Attack: a provider commits the root of a checkpoint that is intact but is not this
/// run's checkpoint at this segment's start: an earlier one (to be paid twice for the
/// same steps), one of another run (other settings or data order), or one trained on
/// other data. The next provider refuses to resume from it, by name.
#[test]
fn a_committed_checkpoint_of_another_run_or_step_is_refused() {
    let s = spec();
    let d = data(&s);
    let segs = chain_of(&s, &d, 2);
    let resume = |spec: &TrainMlpSpec, data: &Examples, bytes: &[u8], index: u32| {
        let root = sha256(&bytes[..bytes.len() - CHECKPOINT_TRAILER_LEN]);
        start_of(spec, data, Some(Previous { bytes, root }), index)
    };

    // Checkpoint 0 offered as the start of segment 2 (which starts at step 200).
    assert!(matches!(
        resume(&s, &d, &segs[0].0, 2),
        Err(SegmentError::WrongStep {
            index: 2,
            expected: 200,
            found: 100
        })
    ));
    // Another run's checkpoint 1, at the right step.
    for (other, field) in [
        (spec_with(|p| p.data_seed = 3), "data-order seed"),
        (spec_with(|p| p.learning_rate = 0.05), "configuration"),
        (spec_with(|p| p.hidden = 31), "configuration"),
    ] {
        let other_segs = chain_of(&other, &d, 2);
        match resume(&s, &d, &other_segs[1].0, 2) {
            Err(SegmentError::ForeignCheckpoint { index: 2, field: f }) => {
                assert!(f.contains(field), "{f}")
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    // A checkpoint trained on other data (one label changed).
    let mut digits = Digits::from_bytes(&digits_bytes()).unwrap();
    digits.labels[0] = (digits.labels[0] + 1) % 10;
    let (poisoned, _) = digits.split();
    let poisoned_segs = chain_of(&s, &poisoned, 2);
    assert!(matches!(
        resume(&s, &d, &poisoned_segs[1].0, 2),
        Err(SegmentError::ForeignCheckpoint {
            field: "training data",
            ..
        })
    ));
    // Committed junk: the root of 10 bytes (what a trailer-less file claims).
    let junk = [7u8; 10];
    assert!(matches!(
        start_of(
            &s,
            &d,
            Some(Previous {
                bytes: &junk,
                root: sha256(b"")
            }),
            1
        ),
        Err(SegmentError::PreviousMalformed {
            index: 1,
            source: CheckpointError::TooShort { .. }
        })
    ));
}

#[test]
fn segment_zero_starts_only_from_the_spec_and_later_ones_need_a_previous() {
    let s = spec();
    let d = data(&s);
    let segs = chain_of(&s, &d, 1);
    let prev = Previous {
        bytes: &segs[0].0,
        root: segs[0].1.into(),
    };
    assert!(matches!(
        run_segment(&CpuTrainer, &s, &d, Some(prev), 0),
        Err(SegmentError::UnexpectedPrevious)
    ));
    assert!(matches!(
        run_segment(&CpuTrainer, &s, &d, None, 3),
        Err(SegmentError::MissingPrevious { index: 3 })
    ));
    // An unvalidated spec whose segment start overflows u64.
    let huge = spec_with(|p| p.steps_per_segment = u64::MAX);
    assert!(matches!(
        run_segment(&CpuTrainer, &huge, &d, Some(prev), 2),
        Err(SegmentError::StepOverflow { index: 2 })
    ));
    // A batch larger than the training examples passes the spec (which cannot know
    // the data) and is refused on the data.
    let wide = spec_with(|p| p.batch = 2000);
    wide.validate().unwrap();
    assert!(matches!(
        run_segment(&CpuTrainer, &wide, &d, None, 0),
        Err(SegmentError::Train(TrainError::Config(_)))
    ));
}

#[test]
fn training_data_must_be_the_specs_blob_and_a_digits_file() {
    let s = spec();
    let good = digits_bytes();
    let d = training_data(&s, &good).unwrap();
    assert_eq!(d.len(), 1438);
    let mut other = good.clone();
    other[100] ^= 1;
    assert!(matches!(
        training_data(&s, &other),
        Err(SegmentError::Spec(SpecError::TrainDataMismatch { .. }))
    ));
    // Bytes that are the spec's blob but no digits file (a buyer's mistake).
    let junk = vec![0u8; 64];
    let mut junk_spec = spec();
    junk_spec.inputs[0].blob.sha256 = sha256(&junk);
    junk_spec.inputs[0].blob.len = 64;
    assert!(matches!(
        training_data(&junk_spec, &junk),
        Err(SegmentError::Train(TrainError::Data(DataError::BadMagic)))
    ));
}

/// The CUDA trainer behind the same call: segments run on the GPU, alternating with
/// the CPU engine, give the CPU's bytes. Run on a GPU machine with
/// `cargo test -p gpu-market-compute --test train_segments -- --ignored`.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn cuda_segments_give_the_cpu_engines_bytes() {
    let gpu = gpu_market_compute::train::CudaTrainer::new(0)
        .unwrap_or_else(|e| panic!("CUDA trainer failed: {e}"));
    let s = spec();
    let d = data(&s);
    let cpu = chain_of(&s, &d, 4);
    let mut prev: Option<(Vec<u8>, [u8; 32])> = None;
    for i in 0..4u32 {
        let trainer: &dyn Trainer = if i % 2 == 0 { &gpu } else { &CpuTrainer };
        let p = prev.as_ref().map(|(b, r)| Previous {
            bytes: b,
            root: (*r).into(),
        });
        let o = run_segment(trainer, &s, &d, p, i).unwrap();
        assert_eq!(
            o.bytes,
            cpu[i as usize].0,
            "segment {i} on {}",
            trainer.name()
        );
        prev = Some((o.bytes, o.state_root.0));
    }
}
