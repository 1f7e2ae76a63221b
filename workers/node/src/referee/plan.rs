//! The referee's decision: the market's open disputes, the live jobs, the `Segments` of
//! the segmented ones among them and the time go in; the duties of one seated provider
//! come out. Nothing here reads the chain or a store: the daemon around it
//! ([`super`]) does the I/O, so every case is a row of the table below.
//!
//! A dispute is over a job's result (a cuda-kernel job's `result_root`) or over one
//! segment's checkpoint (`Dispute::segment`: that segment's `state_root`). What the
//! referee re-executes, and whose root its verdict is compared with, follow from that
//! ([`Rerun`], and [`outcome_decided`], which asks the program's own rule for each).

use std::collections::HashMap;

use gpu_market::state::{on_time, Dispute, Job, Segments};
use gpu_market_client::Pubkey;

/// What a drawn referee re-executes to find the root it commits to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rerun {
    /// The whole job, from its spec and inputs (a cuda-kernel job).
    Job,
    /// Segment `index` of a segmented job, from the checkpoint segment `index - 1`
    /// committed with root `previous` (none for segment 0: the spec's step-0 state).
    Segment {
        index: u8,
        previous: Option<[u8; 32]>,
    },
}

/// One referee duty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duty {
    Draw {
        dispute: Pubkey,
    },
    Commit {
        job: Pubkey,
        dispute: Pubkey,
        rerun: Rerun,
    },
    Reveal {
        job: Pubkey,
        dispute: Pubkey,
        rerun: Rerun,
    },
    /// Settle the dispute: by `segment_settle` when `segment` names the disputed
    /// segment (`dispute_settle` refuses those), else by `dispute_settle`.
    Settle {
        job: Pubkey,
        dispute: Pubkey,
        segment: Option<u8>,
    },
}

/// What segment dispute `d` asks a referee to re-execute, from `segments` (its job's);
/// `None` when the account does not name the disputed segment and what it resumed from.
fn segment_rerun(d: &Dispute, segments: &Segments) -> Option<Rerun> {
    let index = d.segment?;
    // The disputed segment must exist, and so must the one it resumed from.
    segments.segment(index).ok()?;
    let previous = match index.checked_sub(1) {
        None => None,
        Some(prev) => Some(segments.segment(prev).ok()?.state_root),
    };
    Some(Rerun::Segment { index, previous })
}

/// Whether dispute `d` over `job` is decided at `now`, by the program's own rule: the
/// disputed segment's root (`Dispute::segment_outcome_at`) or the job's result root
/// (`Dispute::outcome_at`).
pub fn outcome_decided(d: &Dispute, job: &Job, segments: Option<&Segments>, now: i64) -> bool {
    match (d.segment, segments) {
        (Some(_), Some(s)) => d.segment_outcome_at(s, now).is_ok(),
        (Some(_), None) => false,
        (None, _) => d.outcome_at(job, now).is_ok(),
    }
}

/// The duties of the referee provider `me` at (`now`, `slot`). `segments` holds the
/// `Segments` of the segmented jobs among `jobs`; a segment dispute whose job's account
/// is missing there is left for a tick that has it.
pub fn plan(
    me: &Pubkey,
    jobs: &[(Pubkey, Job)],
    disputes: &[(Pubkey, Dispute)],
    segments: &[(Pubkey, Segments)],
    now: i64,
    slot: u64,
) -> Vec<Duty> {
    let jobs: HashMap<&Pubkey, &Job> = jobs.iter().map(|(k, j)| (k, j)).collect();
    let segments: HashMap<&Pubkey, &Segments> = segments.iter().map(|(k, s)| (k, s)).collect();
    let mut out = Vec::new();
    for (key, d) in disputes {
        let Some(job) = jobs.get(&d.job) else {
            continue;
        };
        if !d.is_refereed(job) || job.dispute != *key {
            continue;
        }
        let segs = segments.get(&d.job).copied();
        let rerun = match d.segment {
            None => Rerun::Job,
            Some(_) => match segs.and_then(|s| segment_rerun(d, s)) {
                Some(r) => r,
                None => continue,
            },
        };
        let dispute = *key;
        let r = &d.referee;
        if !r.drawn {
            if slot > r.draw_slot && on_time(now, d.respond_deadline) {
                out.push(Duty::Draw { dispute });
            }
            continue;
        }
        let Ok(i) = r.index_of(me) else {
            continue;
        };
        let job_key = d.job;
        if !r.has_committed(i) {
            if r.commit_open_at(now) {
                out.push(Duty::Commit {
                    job: job_key,
                    dispute,
                    rerun,
                });
            }
        } else if !r.has_revealed(i) {
            if r.reveal_open_at(now) {
                out.push(Duty::Reveal {
                    job: job_key,
                    dispute,
                    rerun,
                });
            }
        } else if outcome_decided(d, job, segs, now) {
            out.push(Duty::Settle {
                job: job_key,
                dispute,
                segment: d.segment,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market::state::{JobState, RefereeRound, SegmentState, WorkloadKind, ACC_LEN};

    struct Case {
        me: Pubkey,
        job_key: Pubkey,
        dispute_key: Pubkey,
        job: Job,
        dispute: Dispute,
        segments: Vec<(Pubkey, Segments)>,
    }

    fn case() -> Case {
        let (me, job_key, dispute_key) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let mut job = Job::fixture();
        job.state = JobState::Disputed;
        job.workload = WorkloadKind::CudaKernel as u8;
        job.dispute = dispute_key;
        job.result_root = [1; 32];
        let mut referees = [Pubkey::default(); 3];
        referees[0] = Pubkey::new_unique();
        referees[1] = me;
        referees[2] = Pubkey::new_unique();
        let dispute = Dispute {
            market: Pubkey::new_unique(),
            job: job_key,
            id: 0,
            challenger: Pubkey::new_unique(),
            challenger_payment_account: Pubkey::new_unique(),
            challenger_stake_account: Pubkey::new_unique(),
            provider: job.provider,
            row: 0,
            col: 0,
            bond: 500,
            stake_locked: 500,
            opened_at: 100,
            respond_deadline: 130,
            proven: 0,
            claimed: [0; 4],
            acc: [0; ACC_LEN],
            bump: 255,
            referee: RefereeRound {
                draw_slot: 50,
                drawn: true,
                count: 3,
                referees,
                commit_deadline: 140,
                reveal_deadline: 170,
                ..RefereeRound::default()
            },
            segment: None,
        };
        Case {
            me,
            job_key,
            dispute_key,
            job,
            dispute,
            segments: Vec::new(),
        }
    }

    /// The same court over segment `index` of a train-mlp job of three segments: the
    /// ones before it paid or committed (segment k's root `[0x10 + k; 32]`), it disputed.
    fn segment_case(index: u8) -> Case {
        let mut c = case();
        let terms = vec![
            gpu_market::state::SegmentTerms {
                price: 1_000,
                duration: 100,
            };
            3
        ];
        let (mut job, mut segs) = Segments::fixture(&terms);
        for (k, s) in segs
            .segments
            .iter_mut()
            .enumerate()
            .take(index as usize + 1)
        {
            s.state = if k == index as usize {
                SegmentState::Disputed
            } else {
                SegmentState::Committed
            };
            s.state_root = [0x10 + k as u8; 32];
        }
        segs.next = index + 1;
        job.dispute = c.dispute_key;
        // The job's own result root says nothing about a segment.
        job.result_root = [0xEE; 32];
        c.job = job;
        c.dispute.segment = Some(index);
        c.dispute.job = c.job_key;
        c.segments = vec![(c.job_key, segs)];
        c
    }

    impl Case {
        fn plan(&self, now: i64, slot: u64) -> Vec<Duty> {
            plan(
                &self.me,
                &[(self.job_key, self.job.clone())],
                &[(self.dispute_key, self.dispute.clone())],
                &self.segments,
                now,
                slot,
            )
        }

        fn commit(&self, rerun: Rerun) -> Duty {
            Duty::Commit {
                job: self.job_key,
                dispute: self.dispute_key,
                rerun,
            }
        }

        fn revealed_by_all(&mut self, root: [u8; 32]) {
            let r = &mut self.dispute.referee;
            r.committed = 0b111;
            r.revealed = 0b111;
            r.roots = [root; 3];
        }
    }

    #[test]
    fn an_undrawn_dispute_is_drawn_once_its_slot_passed() {
        let mut c = case();
        c.dispute.referee.drawn = false;
        let draw = Duty::Draw {
            dispute: c.dispute_key,
        };
        assert_eq!(
            c.plan(110, 50),
            vec![],
            "the draw slot's hash does not exist yet"
        );
        assert_eq!(c.plan(110, 51), vec![draw]);
        assert_eq!(
            c.plan(131, 51),
            vec![],
            "past the response deadline: no ruling"
        );
    }

    #[test]
    fn a_drawn_referee_commits_in_the_commit_phase_only() {
        let c = case();
        assert_eq!(
            c.plan(140, 60),
            vec![c.commit(Rerun::Job)],
            "on time at the deadline second"
        );
        assert_eq!(c.plan(141, 60), vec![]);
        // A provider that was not drawn has nothing to do.
        let mut other = case();
        other.me = Pubkey::new_unique();
        assert_eq!(other.plan(120, 60), vec![]);
        // A GEMM dispute is the chain's to rule, not a referee's.
        let mut gemm = case();
        gemm.job.workload = WorkloadKind::GemmI8 as u8;
        assert_eq!(gemm.plan(120, 60), vec![]);
    }

    #[test]
    fn a_committed_referee_reveals_once_the_commit_phase_is_over() {
        let mut c = case();
        c.dispute.referee.committed = 0b010;
        let reveal = Duty::Reveal {
            job: c.job_key,
            dispute: c.dispute_key,
            rerun: Rerun::Job,
        };
        assert_eq!(c.plan(130, 60), vec![], "others may still commit");
        assert_eq!(c.plan(141, 60), vec![reveal]);
        c.dispute.referee.committed = 0b111;
        assert_eq!(c.plan(130, 60), vec![reveal], "everyone committed");
        assert_eq!(c.plan(171, 60), vec![], "too late");
    }

    #[test]
    fn a_referee_that_revealed_settles_once_the_outcome_is_decided() {
        let mut c = case();
        c.dispute.referee.committed = 0b111;
        c.dispute.referee.revealed = 0b010;
        c.dispute.referee.roots[1] = [1; 32];
        assert_eq!(c.plan(150, 60), vec![], "others may still reveal");
        assert_eq!(
            c.plan(171, 60),
            vec![Duty::Settle {
                job: c.job_key,
                dispute: c.dispute_key,
                segment: None,
            }]
        );
    }

    /// Segment disputes: the referee re-executes only the disputed segment, from the
    /// root the chain committed for the one before it (the spec's state for segment 0).
    #[test]
    fn a_segment_dispute_re_executes_that_segment_from_the_previous_committed_root() {
        let first = segment_case(0);
        assert_eq!(
            first.plan(120, 60),
            vec![first.commit(Rerun::Segment {
                index: 0,
                previous: None
            })]
        );
        let second = segment_case(2);
        assert_eq!(
            second.plan(120, 60),
            vec![second.commit(Rerun::Segment {
                index: 2,
                previous: Some([0x11; 32])
            })],
            "segment 1's root, not the job's result root nor segment 2's own"
        );
        // The phases are the kernel dispute's: too late to commit at 141.
        assert_eq!(second.plan(141, 60), vec![]);
        let mut revealing = segment_case(1);
        revealing.dispute.referee.committed = 0b111;
        assert_eq!(
            revealing.plan(130, 60),
            vec![Duty::Reveal {
                job: revealing.job_key,
                dispute: revealing.dispute_key,
                rerun: Rerun::Segment {
                    index: 1,
                    previous: Some([0x10; 32])
                },
            }]
        );
    }

    /// Without the job's `Segments` (not loaded, or naming no such segment) the referee
    /// cannot know what to re-execute: nothing is done rather than a guess committed.
    #[test]
    fn a_segment_dispute_without_its_segments_is_left_alone() {
        let mut missing = segment_case(1);
        missing.segments.clear();
        assert_eq!(missing.plan(120, 60), vec![]);
        let mut out_of_range = segment_case(1);
        out_of_range.dispute.segment = Some(3);
        assert_eq!(out_of_range.plan(120, 60), vec![]);
        // Even the draw waits: the dispute is looked at whole once its account is read.
        missing.dispute.referee.drawn = false;
        assert_eq!(missing.plan(110, 51), vec![]);
    }

    /// A segment dispute is decided on the disputed segment's root, and settled by
    /// `segment_settle`: the job's result root (what `outcome_at` reads) plays no part.
    #[test]
    fn a_segment_dispute_settles_on_the_segments_root() {
        let mut c = segment_case(1);
        c.revealed_by_all([0x11; 32]);
        let settle = Duty::Settle {
            job: c.job_key,
            dispute: c.dispute_key,
            segment: Some(1),
        };
        assert_eq!(c.plan(150, 60), vec![settle], "every referee revealed");
        let (job, segs) = (&c.job, &c.segments[0].1);
        assert_eq!(
            c.dispute.segment_outcome_at(segs, 150).unwrap(),
            gpu_market::state::DisputeOutcome::ChallengerWrong,
            "the referees found segment 1's own root: upheld"
        );
        assert!(outcome_decided(&c.dispute, job, Some(segs), 150));
        assert!(
            !outcome_decided(&c.dispute, job, None, 150),
            "without the segments nothing is decided"
        );
        let mut early = segment_case(1);
        early.dispute.referee.committed = 0b111;
        early.dispute.referee.revealed = 0b010;
        assert_eq!(early.plan(150, 60), vec![], "others may still reveal");
        assert_eq!(early.plan(171, 60).len(), 1, "the reveal phase is over");
    }
}
