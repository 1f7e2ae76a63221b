//! The auditor's check of a segmented train-mlp job: each committed segment is trained
//! again as a seated referee would train it, and its root compared with the one the
//! provider committed. The spec and its training data come from the URIs the job names
//! (hash-checked); segment `i` resumes from checkpoint `i - 1`, read from the buyer's
//! store the spec names (`<store>/<job>/<i-1>.ckpt`) and accepted only with the root the
//! chain committed for it (`CheckpointStore::get`); segment 0 starts from the spec's
//! step-0 state. Then `gpu_market_compute::train::run_segment` trains it on the CPU
//! engine, which gives the same bytes as any trainer.
//!
//! A previous checkpoint that is absent, torn, or not a valid start of segment `i` makes
//! the verdict [`SegmentVerdict::Unavailable`]: not proof of anything, and never
//! challenged. The referees would commit nothing either, the dispute would end with no
//! ruling, and a challenger would have bet its bond on a segment nobody can re-execute.
//!
//! The decisions are pure functions of what was read ([`decide`], [`unverifiable`],
//! [`to_verify`], [`challenge_action`]); [`verify_segment`] and [`verify_segments`] do
//! the reading and the training.

use anchor_lang::prelude::Pubkey;
use gpu_market::errors::MarketError;
use gpu_market::state::{Job, SegmentState, Segments, WorkloadKind};
use gpu_market_blobs::CheckpointStore;
use gpu_market_compute::spec::train::TRAIN_DATA_INPUT;
use gpu_market_compute::spec::{Hash32, TrainMlpSpec};
use gpu_market_compute::train::SegmentError;
use gpu_market_compute::train::{run_segment, training_data, CpuTrainer, Examples, Previous};
use serde::Serialize;

use super::{fetch, AuditorError, Result};
use crate::buyer::BuyerError;
use crate::send::Sender;
use crate::{accounts, segments as seg};

/// The outcome of re-executing one committed segment.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum SegmentVerdict {
    /// Trained again from the committed previous checkpoint, it ends at the committed root.
    Correct,
    /// It ends elsewhere: the referees, training it the same way, will overturn it.
    Wrong {
        /// The root the spec's run gives.
        expected_root: Hash32,
        /// The root the provider committed.
        committed_root: Hash32,
    },
    /// It cannot be trained again (the previous checkpoint is missing, torn or not a
    /// start of this segment): not proof of anything.
    Unavailable { why: String },
}

impl SegmentVerdict {
    pub fn name(&self) -> &'static str {
        match self {
            SegmentVerdict::Correct => "correct",
            SegmentVerdict::Wrong { .. } => "wrong",
            SegmentVerdict::Unavailable { .. } => "unavailable",
        }
    }
}

/// One segment's verdict, for the callers that check several.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SegmentCheck {
    pub index: u8,
    #[serde(flatten)]
    pub verdict: SegmentVerdict,
}

/// The verdict on a segment committed with `committed` whose re-execution ended at
/// `re_executed`.
pub fn decide(committed: Hash32, re_executed: Hash32) -> SegmentVerdict {
    if committed == re_executed {
        SegmentVerdict::Correct
    } else {
        SegmentVerdict::Wrong {
            expected_root: re_executed,
            committed_root: committed,
        }
    }
}

/// The trainer refused because of the checkpoint it was to resume from (what makes a
/// segment [`SegmentVerdict::Unavailable`]), not because of the spec or the engine.
pub fn unverifiable(e: &SegmentError) -> bool {
    matches!(
        e,
        SegmentError::MissingPrevious { .. }
            | SegmentError::PreviousRootMismatch { .. }
            | SegmentError::PreviousMalformed { .. }
            | SegmentError::WrongStep { .. }
            | SegmentError::ForeignCheckpoint { .. }
    )
}

/// The segments an auditor checks: committed and not yet paid (under dispute included:
/// its verdict says which side to expect), in order.
pub fn to_verify(segments: &Segments) -> Vec<u8> {
    (0..segments.segments.len())
        .filter(|&i| {
            matches!(
                segments.segments[i].state,
                SegmentState::Committed | SegmentState::Disputed
            )
        })
        .filter_map(|i| u8::try_from(i).ok())
        .collect()
}

/// What the watcher does about a segment it found wrong, by the program's
/// challenge rule (`Segments::check_challenge_at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeAction {
    /// Challengeable now.
    Challenge,
    /// Another dispute is open on the job; challengeable once it is settled, if the
    /// window is still open then.
    Wait,
    /// Never challengeable (window closed, already disputed, paid or gone).
    Never,
}

pub fn challenge_action(segments: &Segments, index: u8, now: i64) -> ChallengeAction {
    match segments.check_challenge_at(index, now) {
        Ok(()) => ChallengeAction::Challenge,
        Err(e) if e == MarketError::DisputeAlreadyOpen.into() => {
            // Disputed by someone else already: nothing for us to open.
            if segments.disputed() == Some(index) {
                ChallengeAction::Never
            } else {
                ChallengeAction::Wait
            }
        }
        Err(_) => ChallengeAction::Never,
    }
}

/// A train-mlp job's spec and training examples, read from the URIs the job names.
pub struct TrainInputs {
    pub spec: TrainMlpSpec,
    pub data: Examples,
}

/// The job's spec (checked against its hash) and its training data (checked against the
/// spec), for re-executing any of its segments.
pub async fn fetch_train(job_key: &Pubkey, job: &Job) -> Result<TrainInputs> {
    let key = *job_key;
    if job.workload_kind() != Some(WorkloadKind::TrainMlp) {
        return Err(AuditorError::NotSegmented { job: key });
    }
    let bytes = fetch(key, "spec", &job.spec_uri, Hash32(job.spec_hash)).await?;
    let spec = TrainMlpSpec::from_bytes(&bytes)
        .map_err(|source| BuyerError::JobSpec { job: key, source })?;
    let r = spec.data().ok_or(BuyerError::MissingInput {
        job: key,
        name: TRAIN_DATA_INPUT,
    })?;
    let digits = fetch(key, &format!("input {TRAIN_DATA_INPUT}"), &r.uri, r.sha256).await?;
    let data = training_data(&spec, &digits).map_err(|source| AuditorError::TrainData {
        job: key,
        source: Box::new(source),
    })?;
    Ok(TrainInputs { spec, data })
}

/// The job and its segments, both live.
async fn fetch_segmented(sender: &Sender, job_key: &Pubkey) -> Result<(Job, Segments)> {
    let chain = &*sender.chain;
    let key = *job_key;
    let job = accounts::fetch_job_opt(chain, &key)
        .await
        .map_err(|source| BuyerError::Read { job: key, source })?
        .ok_or(BuyerError::Settled(key))?;
    let segments = seg::fetch_segments(chain, &key)
        .await
        .map_err(AuditorError::chain(key))?
        .ok_or(AuditorError::NotSegmented { job: key })?;
    Ok((job, segments))
}

/// Re-executes segment `index` of job `job_key` (see the module doc).
pub async fn verify_segment(
    sender: &Sender,
    job_key: &Pubkey,
    index: u8,
) -> Result<SegmentVerdict> {
    let checks = verify_segments(sender, job_key, Some(index)).await?;
    Ok(checks
        .into_iter()
        .next()
        .expect("one segment asked")
        .verdict)
}

/// Re-executes segment `only`, or every segment [`to_verify`] names, reading the spec
/// and data once.
pub async fn verify_segments(
    sender: &Sender,
    job_key: &Pubkey,
    only: Option<u8>,
) -> Result<Vec<SegmentCheck>> {
    let (job, segments) = fetch_segmented(sender, job_key).await?;
    let indices = match only {
        Some(i) => {
            let s = segments
                .segments
                .get(usize::from(i))
                .ok_or(AuditorError::NoSuchSegment {
                    job: *job_key,
                    index: i,
                    count: segments.count,
                })?;
            if matches!(s.state, SegmentState::Pending | SegmentState::Running) {
                return Err(AuditorError::SegmentNotCommitted {
                    job: *job_key,
                    index: i,
                });
            }
            vec![i]
        }
        None => to_verify(&segments),
    };
    if indices.is_empty() {
        return Ok(Vec::new());
    }
    let inputs = fetch_train(job_key, &job).await?;
    let mut out = Vec::with_capacity(indices.len());
    for index in indices {
        let verdict = verify_prepared(job_key, &inputs, &segments, index).await?;
        out.push(SegmentCheck { index, verdict });
    }
    Ok(out)
}

/// Segment `index` trained again from its committed previous checkpoint, and the verdict.
pub async fn verify_prepared(
    job_key: &Pubkey,
    inputs: &TrainInputs,
    segments: &Segments,
    index: u8,
) -> Result<SegmentVerdict> {
    let key = *job_key;
    let committed = Hash32(
        segments
            .segment(index)
            .map_err(|_| AuditorError::NoSuchSegment {
                job: key,
                index,
                count: segments.count,
            })?
            .state_root,
    );
    let previous = match index.checked_sub(1) {
        None => None,
        Some(prev) => {
            let root = Hash32(segments.segments[usize::from(prev)].state_root);
            let location = &inputs.spec.params().checkpoint_store;
            let read = match CheckpointStore::open(location) {
                Ok(store) => store.get(&key.to_string(), u32::from(prev), &root).await,
                Err(e) => Err(e),
            };
            match read {
                Ok(bytes) => Some((root, bytes)),
                Err(e) => {
                    return Ok(SegmentVerdict::Unavailable {
                        why: format!("checkpoint {prev} in {location}: {e}"),
                    })
                }
            }
        }
    };
    let (spec, data) = (inputs.spec.clone(), inputs.data.clone());
    // Training is CPU-bound for the whole segment: off the async threads.
    let trained = tokio::task::spawn_blocking(move || {
        let previous = previous
            .as_ref()
            .map(|(root, bytes)| Previous { bytes, root: *root });
        run_segment(&CpuTrainer, &spec, &data, previous, u32::from(index))
    })
    .await
    .map_err(|e| AuditorError::TrainingPanicked {
        job: key,
        index,
        why: e.to_string(),
    })?;
    match trained {
        Ok(out) => Ok(decide(committed, out.state_root)),
        Err(e) if unverifiable(&e) => Ok(SegmentVerdict::Unavailable { why: e.to_string() }),
        Err(source) => Err(AuditorError::Training {
            job: key,
            index,
            source: Box::new(source),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market::state::{Job, SegmentTerms};

    fn committed(n: usize) -> (Job, Segments) {
        let mut job = Job::fixture();
        let terms = vec![
            SegmentTerms {
                price: 1_000,
                duration: 600,
            };
            n
        ];
        let mut s = Segments::posted(Pubkey::new_unique(), 255, &terms);
        job.terms.challenge_window = 300;
        job.deadline = 10_000;
        let p = Pubkey::new_unique();
        for i in 0..n as u8 {
            s.start(&mut job, p, 10, 1, 1, 100).unwrap();
            s.commit(
                &mut job,
                i,
                &p,
                [i + 1; 32],
                format!("file:///s/j/{i}.ckpt"),
                100,
            )
            .unwrap();
        }
        (job, s)
    }

    #[test]
    fn a_root_other_than_the_re_executed_one_is_wrong_and_names_both() {
        let (a, b) = (Hash32([1; 32]), Hash32([2; 32]));
        assert_eq!(decide(a, a), SegmentVerdict::Correct);
        assert_eq!(
            decide(a, b),
            SegmentVerdict::Wrong {
                expected_root: b,
                committed_root: a
            }
        );
    }

    /// A provider that hands the auditor a checkpoint it cannot resume from gets no
    /// verdict against its next segment, and no challenge: only the previous checkpoint's
    /// faults are "unavailable"; an engine or spec failure is an error.
    #[test]
    fn only_the_previous_checkpoints_faults_make_a_segment_unavailable() {
        let root = Hash32([3; 32]);
        for e in [
            SegmentError::MissingPrevious { index: 1 },
            SegmentError::PreviousRootMismatch {
                index: 1,
                expected: root,
                found: Hash32([4; 32]),
            },
            SegmentError::WrongStep {
                index: 1,
                expected: 10,
                found: 9,
            },
            SegmentError::ForeignCheckpoint {
                index: 1,
                field: "data-order seed",
            },
        ] {
            assert!(unverifiable(&e), "{e}");
        }
        assert!(!unverifiable(&SegmentError::UnexpectedPrevious));
        assert!(!unverifiable(&SegmentError::StepOverflow { index: 9 }));
    }

    #[test]
    fn committed_and_disputed_segments_are_checked_pending_and_paid_ones_not() {
        let (mut job, mut s) = committed(3);
        s.challenge(&mut job, 1, Pubkey::new_unique(), 200).unwrap();
        s.segments[0].state = SegmentState::Paid;
        assert_eq!(to_verify(&s), vec![1, 2]);
        let (_, fresh) = committed(0);
        assert!(to_verify(&fresh).is_empty());
    }

    /// The watcher's challenge follows the program's rule: within the window and with
    /// no dispute open; behind another segment's dispute it waits; the disputed segment
    /// itself and a closed window are never challenged.
    #[test]
    fn a_wrong_segment_is_challenged_by_the_programs_rule() {
        let (mut job, mut s) = committed(3);
        assert_eq!(challenge_action(&s, 2, 400), ChallengeAction::Challenge);
        assert_eq!(challenge_action(&s, 2, 401), ChallengeAction::Never);
        s.challenge(&mut job, 0, Pubkey::new_unique(), 200).unwrap();
        assert_eq!(challenge_action(&s, 2, 300), ChallengeAction::Wait);
        assert_eq!(challenge_action(&s, 0, 300), ChallengeAction::Never);
        assert_eq!(challenge_action(&s, 7, 300), ChallengeAction::Never);
    }
}
