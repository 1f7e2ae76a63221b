//! The worker's decisions, as a pure function of a chain snapshot and what the
//! worker is doing locally: which open jobs to claim, which of its claimed
//! jobs need (re)running, and what is due for the crank. No I/O here, so every
//! rule is unit-tested.
//!
//! The claim rules are the program's: each job is checked with
//! `Provider::can_claim`, and the jobs planned in one tick are accounted for
//! by applying the program's own bond-locking transition (`Provider::lock_bond`)
//! to a copy of the provider, so the free stake and the chain's slot cap are
//! never restated here. Only the worker's local cap is its own.
//!
//! Segmented jobs (train-mlp, paid per segment) are planned beside them: a job whose
//! running segment is this provider's is carried again, and one whose next segment the
//! program would start for this provider now (`Segments::startable_at`, on the same
//! copy of the provider, whose bond it then locks) is taken on; what the segment runner
//! does with it is [`crate::segments::plan`]'s decision.

use std::collections::HashSet;

use gpu_market::state::{Job, Provider, Segments, WorkloadKind};
use gpu_market_client::crank::{self, CrankAction, SegmentDuty};
use gpu_market_client::Pubkey;

use crate::lifecycle::claimed_by;

/// What the chain says, read in one pass.
pub struct Snapshot {
    pub now: i64,
    pub provider_key: Pubkey,
    pub provider: Provider,
    /// The market's minimum stake (net of pending unstake) for claiming.
    pub min_stake: u64,
    /// Every live job of the market.
    pub jobs: Vec<(Pubkey, Job)>,
    /// The `Segments` of the segmented ones among them.
    pub segmented: Vec<(Pubkey, Segments)>,
}

/// What the worker itself knows.
pub struct Local {
    /// Jobs being prepared, executed or submitted right now.
    pub running: HashSet<Pubkey>,
    /// Jobs this worker refused (bad spec, unsupported workload, unreachable inputs).
    pub rejected: HashSet<Pubkey>,
    /// Postings (address, `posted_at`) this worker failed after claiming (from
    /// its journal): never claimed or run again, even once reopened.
    pub failed: HashSet<(Pubkey, i64)>,
    /// Workload kinds the executor runs.
    pub kinds: Vec<u8>,
    /// Local cap on jobs carried at once, claimed and not yet submitted (the
    /// on-chain `max_concurrent` also applies, to jobs not yet finalized).
    pub max_concurrent: usize,
    pub price_floor: u64,
    /// A job is only claimed if at least this many seconds remain to submit it.
    pub min_time_to_submit: i64,
    pub crank: bool,
    pub accepting: bool,
    /// No preparation overlapped with execution: claim (and so prepare) the
    /// next job only once nothing runs, one at a time.
    pub sequential: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Claim(Pubkey),
    /// A job this provider has claimed that nothing here is running (after a
    /// restart, or a journal that was lost).
    Resume(Pubkey),
    Crank(CrankAction),
    /// Carry a segmented job: its running segment is ours, or its next one may start
    /// for us (the segment runner claims it).
    Segments(Pubkey),
    /// Pay or expire one segment of a segmented job.
    CrankSegment(SegmentDuty),
}

/// Why an open job is not for us, or `None` when it is.
pub fn ineligible(job: &Job, s: &Snapshot, l: &Local) -> Option<&'static str> {
    let p = &s.provider;
    if !l.kinds.contains(&job.workload) {
        return Some("workload not supported by this executor");
    }
    if !p.gpu.meets(&job.requirements) {
        return Some("hardware requirements not met");
    }
    if job.price < l.price_floor.max(p.price_floor) {
        return Some("price below floor");
    }
    // The submit deadline the program would give a claim now; one that
    // overflows would make the claim fail.
    let Ok(submit_by) = job.submit_deadline_for_claim_at(s.now) else {
        return Some("no valid submit deadline");
    };
    if submit_by.saturating_sub(s.now) < l.min_time_to_submit {
        return Some("too little time left");
    }
    None
}

/// The open jobs this worker could claim, best first: best paid, and among
/// equals the one closest to its deadline. Claims take them from the front;
/// preparation ahead of claiming ([`crate::prefetch`]) takes the next ones.
pub fn candidates<'a>(s: &'a Snapshot, l: &Local) -> Vec<&'a (Pubkey, Job)> {
    let mut open: Vec<&(Pubkey, Job)> = s
        .jobs
        .iter()
        .filter(|(k, j)| {
            j.claimable_at(s.now)
                && !l.rejected.contains(k)
                && !l.running.contains(k)
                && !l.failed.contains(&(*k, j.posted_at))
        })
        .filter(|(_, j)| ineligible(j, s, l).is_none())
        .collect();
    open.sort_by(|a, b| {
        b.1.price
            .cmp(&a.1.price)
            .then(a.1.deadline.cmp(&b.1.deadline))
    });
    open
}

/// Whether this worker takes segmented job `key` (its `Segments` `segs`) on now, on
/// `provider` as the program would see it after the claims planned so far: the program
/// would start its next segment for it, at no less than the local price floor. Returns
/// the bond the start locks.
fn segment_start(
    job: &Job,
    segs: &Segments,
    provider: &Provider,
    s: &Snapshot,
    l: &Local,
) -> Option<u64> {
    let (index, bond) = segs
        .check_start_for(job, provider, s.min_stake, s.now)
        .ok()?;
    let price = segs.segments.get(index as usize)?.price;
    (price >= l.price_floor).then_some(bond)
}

pub fn plan(s: &Snapshot, l: &Local) -> Vec<Action> {
    let mut actions = Vec::new();
    let me = s.provider_key;
    let train = l.kinds.contains(&WorkloadKind::TrainMlp.code());
    let job_of = |key: &Pubkey| s.jobs.iter().find(|(k, _)| k == key).map(|(_, j)| j);

    // Segmented jobs whose running segment is ours: carried again (after a restart,
    // or once the previous commit started the next segment for us).
    for (key, segs) in &s.segmented {
        if train
            && !l.running.contains(key)
            && !l.rejected.contains(key)
            && segs.running().is_some_and(|(_, seg)| seg.provider == me)
        {
            actions.push(Action::Segments(*key));
        }
    }

    for (key, job) in &s.jobs {
        if claimed_by(job, &me)
            && !l.running.contains(key)
            && !l.failed.contains(&(*key, job.posted_at))
            && job.submittable_at(s.now)
        {
            actions.push(Action::Resume(*key));
        }
    }

    if l.accepting {
        // The local cap on jobs this worker carries now; the chain's cap on
        // active jobs (whose bonds stay locked until finalized) and the stake
        // rules are the program's, applied to `provider` below.
        let mut slots = l.max_concurrent.saturating_sub(l.running.len());
        if l.sequential {
            // One job at a time: the next is prepared and claimed only once
            // nothing runs.
            slots = if l.running.is_empty() {
                slots.min(1)
            } else {
                0
            };
        }
        // The provider as the program would see it after the claims planned so far.
        let mut provider = s.provider.clone();
        for (key, job) in candidates(s, l) {
            if slots == 0 {
                break;
            }
            // Every rule the claim handler checks, then the state change it makes.
            let Ok(bond) = provider.can_claim(job, s.min_stake, s.now) else {
                continue;
            };
            if provider.lock_bond(bond, s.min_stake).is_err() {
                continue;
            }
            slots -= 1;
            actions.push(Action::Claim(*key));
        }
        // Segmented jobs whose next segment may start for us, best paid first.
        let mut open: Vec<(&Pubkey, &Job, &Segments)> = s
            .segmented
            .iter()
            .filter(|(k, _)| train && !l.running.contains(k) && !l.rejected.contains(k))
            .filter_map(|(k, segs)| job_of(k).map(|j| (k, j, segs)))
            .collect();
        open.sort_by_key(|(_, j, _)| std::cmp::Reverse(j.price));
        for (key, job, segs) in open {
            if slots == 0 {
                break;
            }
            let Some(bond) = segment_start(job, segs, &provider, s, l) else {
                continue;
            };
            if provider.lock_bond(bond, s.min_stake).is_err() {
                continue;
            }
            slots -= 1;
            actions.push(Action::Segments(*key));
        }
    }

    if l.crank {
        actions.extend(crank::due(&s.jobs, s.now).into_iter().map(Action::Crank));
        actions.extend(
            crank::segments_due(&s.segmented, s.now)
                .into_iter()
                .map(Action::CrankSegment),
        );
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market::state::{GpuDescriptor, JobState, JobTerms, Reputation};

    fn provider(stake: u64, active: u16) -> Provider {
        Provider {
            market: Pubkey::default(),
            owner: Pubkey::default(),
            worker: Pubkey::default(),
            payout_account: Pubkey::default(),
            stake,
            locked: 0,
            pending_unstake: 0,
            unstake_release_at: 0,
            gpu: GpuDescriptor {
                model: [0; 32],
                vram_mb: 16_000,
                count: 1,
                compute_capability: 0,
                benchmark_gflops: 0,
            },
            price_floor: 0,
            max_concurrent: 4,
            active_jobs: active,
            registered_at: 0,
            last_heartbeat: 0,
            last_heartbeat_slot: 0,
            reputation: Reputation::default(),
            bump: 0,
            referee_stake: 0,
        }
    }

    fn job(state: JobState, price: u64, deadline: i64, provider: Pubkey, workload: u8) -> Job {
        let base = Job::fixture();
        Job {
            state,
            price,
            escrow: price,
            deadline,
            submit_deadline: deadline,
            provider,
            workload,
            // Bond = 100% of the price, so the stake arithmetic in the tests is plain.
            terms: JobTerms {
                bond_bps: 10_000,
                bond_min: 0,
                ..base.terms
            },
            ..base
        }
    }

    fn local() -> Local {
        Local {
            running: HashSet::new(),
            rejected: HashSet::new(),
            failed: HashSet::new(),
            kinds: vec![0, 1],
            max_concurrent: 2,
            price_floor: 0,
            min_time_to_submit: 5,
            crank: false,
            accepting: true,
            sequential: false,
        }
    }

    fn k(i: u8) -> Pubkey {
        Pubkey::new_from_array([i; 32])
    }

    #[test]
    fn claims_best_paid_within_slots_and_stake() {
        let me = k(99);
        let s = Snapshot {
            now: 0,
            provider_key: me,
            provider: provider(250, 0),
            min_stake: 0,
            segmented: vec![],
            jobs: vec![
                (k(1), job(JobState::Open, 100, 100, Pubkey::default(), 0)),
                (k(2), job(JobState::Open, 200, 100, Pubkey::default(), 0)),
                (k(3), job(JobState::Open, 150, 100, Pubkey::default(), 0)),
            ],
        };
        // Bond = 100% of price and stake 250: after the 200 job only 50 is free.
        assert_eq!(plan(&s, &local()), vec![Action::Claim(k(2))]);
        let mut s = s;
        s.provider.stake = 1_000;
        assert_eq!(
            plan(&s, &local()),
            vec![Action::Claim(k(2)), Action::Claim(k(3))]
        );
        s.min_stake = 2_000;
        assert!(
            plan(&s, &local()).is_empty(),
            "below the minimum stake nothing is claimed"
        );
    }

    #[test]
    fn skips_what_it_cannot_run_and_resumes_its_own() {
        let me = k(99);
        let mut gpu_job = job(JobState::Open, 500, 100, Pubkey::default(), 3);
        gpu_job.requirements.min_compute_capability = 80;
        let s = Snapshot {
            now: 98,
            provider_key: me,
            provider: provider(10_000, 1),
            min_stake: 0,
            segmented: vec![],
            jobs: vec![
                (k(1), gpu_job),
                (k(2), job(JobState::Open, 100, 100, Pubkey::default(), 0)), // 2 s left < 5
                (k(3), job(JobState::Claimed, 100, 1_000, me, 0)),
                (k(4), job(JobState::Claimed, 100, 1_000, k(7), 0)),
                (k(5), job(JobState::Open, 100, 1_000, Pubkey::default(), 0)),
            ],
        };
        let mut l = local();
        l.rejected.insert(k(5));
        assert_eq!(plan(&s, &l), vec![Action::Resume(k(3))]);
        l.running.insert(k(3));
        assert!(plan(&s, &l).is_empty());
        l.accepting = false;
        l.rejected.clear();
        assert!(plan(&s, &l).is_empty(), "a draining worker claims nothing");
    }

    #[test]
    fn without_overlap_one_job_is_claimed_only_once_nothing_runs() {
        let me = k(99);
        let s = Snapshot {
            now: 0,
            provider_key: me,
            provider: provider(10_000, 0),
            min_stake: 0,
            segmented: vec![],
            jobs: vec![
                (k(1), job(JobState::Open, 100, 100, Pubkey::default(), 0)),
                (k(2), job(JobState::Open, 300, 100, Pubkey::default(), 0)),
                (k(3), job(JobState::Open, 200, 100, Pubkey::default(), 0)),
            ],
        };
        let mut l = local();
        let keys = |v: Vec<&(Pubkey, Job)>| v.into_iter().map(|(k, _)| *k).collect::<Vec<_>>();
        assert_eq!(
            keys(candidates(&s, &l)),
            vec![k(2), k(3), k(1)],
            "best paid first"
        );
        assert_eq!(plan(&s, &l), vec![Action::Claim(k(2)), Action::Claim(k(3))]);
        l.sequential = true;
        assert_eq!(plan(&s, &l), vec![Action::Claim(k(2))], "one at a time");
        l.running.insert(k(2));
        assert!(plan(&s, &l).is_empty(), "nothing while a job runs");
        assert_eq!(
            keys(candidates(&s, &l)),
            vec![k(3), k(1)],
            "running ones are not candidates"
        );
    }

    #[test]
    fn slots_are_bounded_by_the_local_and_the_chains_caps() {
        let me = k(99);
        let open = |i| (k(i), job(JobState::Open, 100, 100, Pubkey::default(), 0));
        let mut s = Snapshot {
            now: 0,
            provider_key: me,
            provider: provider(10_000, 3),
            min_stake: 0,
            segmented: vec![],
            jobs: vec![open(1), open(2), open(3)],
        };
        let mut l = local();
        // Chain: 4 allowed, 3 active (submitted, not yet finalized) -> 1 slot.
        assert_eq!(plan(&s, &l).len(), 1);
        s.provider.active_jobs = 0;
        assert_eq!(plan(&s, &l).len(), 2, "the local cap of 2");
        l.running.insert(k(50));
        assert_eq!(plan(&s, &l).len(), 1, "one carried locally");
        l.running.insert(k(51));
        assert!(plan(&s, &l).is_empty());
    }

    /// The attack: a job that cannot run after the claim (a kernel that faults,
    /// an execution that never returns) is claimed, fails, is slashed, reopens,
    /// and is claimed again by the same worker. A posting the worker failed is
    /// neither resumed nor claimed again; a new posting at the same address is.
    #[test]
    fn a_job_that_failed_after_the_claim_is_never_claimed_or_run_again() {
        let me = k(99);
        let posted = |state, provider, posted_at| Job {
            posted_at,
            ..job(state, 100, 1_000, provider, 0)
        };
        let s = |jobs| Snapshot {
            now: 0,
            provider_key: me,
            provider: provider(10_000, 0),
            min_stake: 0,
            jobs,
            segmented: vec![],
        };
        let mut l = local();
        l.failed.insert((k(1), 10));
        #[rustfmt::skip]
        let table: Vec<(&str, Job, Vec<Action>)> = vec![
            ("reopened after our claim expired", posted(JobState::Open, Pubkey::default(), 10), vec![]),
            ("still claimed by us, in time", posted(JobState::Claimed, me, 10), vec![]),
            ("re-posted at the same address", posted(JobState::Open, Pubkey::default(), 11),
                vec![Action::Claim(k(1))]),
            ("our claim of the re-posted job", posted(JobState::Claimed, me, 11),
                vec![Action::Resume(k(1))]),
        ];
        for (name, j, want) in table {
            assert_eq!(plan(&s(vec![(k(1), j)]), &l), want, "{name}");
        }
        l.failed.clear();
        assert_eq!(
            plan(
                &s(vec![(k(1), posted(JobState::Open, Pubkey::default(), 10))]),
                &l
            ),
            vec![Action::Claim(k(1))],
            "without the journaled failure the job is claimed (the old behaviour)"
        );
    }

    #[test]
    fn cranks_what_is_due_when_asked() {
        let me = k(99);
        let mut submitted = job(JobState::Submitted, 100, 1_000, k(7), 0);
        submitted.challenge_deadline = 50;
        let s = Snapshot {
            now: 51,
            provider_key: me,
            provider: provider(0, 0),
            min_stake: 0,
            segmented: vec![],
            jobs: vec![(k(1), submitted)],
        };
        let mut l = local();
        assert!(plan(&s, &l).is_empty());
        l.crank = true;
        assert_eq!(plan(&s, &l).len(), 1);
    }

    /// Segmented jobs, as a table: taken when the program would start the next
    /// segment for us (and not below the local floor, not without stake), carried again
    /// when the running segment is ours, left when it is another's, and cranked when a
    /// segment is late.
    #[test]
    fn segmented_jobs_are_taken_by_the_programs_start_rule() {
        use gpu_market::state::{SegmentState, SegmentTerms};
        let me = k(99);
        let job = Job {
            state: JobState::Segmented,
            workload: WorkloadKind::TrainMlp.code(),
            price: 300,
            ..job(JobState::Segmented, 300, 1_000, Pubkey::default(), 4)
        };
        let terms = [SegmentTerms {
            price: 100,
            duration: 60,
        }; 3];
        let fresh = Segments::posted(k(1), 255, &terms);
        let running = |who: Pubkey, deadline: i64| {
            let mut s = fresh.clone();
            s.segments[0].state = SegmentState::Running;
            s.segments[0].provider = who;
            s.segments[0].deadline = deadline;
            s
        };
        let snap = |segs: Segments, stake: u64| Snapshot {
            now: 10,
            provider_key: me,
            provider: provider(stake, 0),
            min_stake: 0,
            jobs: vec![(k(1), job.clone())],
            segmented: vec![(k(1), segs)],
        };
        let mut l = local();
        l.kinds.push(WorkloadKind::TrainMlp.code());
        let take = vec![Action::Segments(k(1))];
        // (what, segments, stake, local floor, crank, expected)
        type Row = (&'static str, Segments, u64, u64, bool, Vec<Action>);
        let rows: Vec<Row> = vec![
            (
                "fresh job, stake for the bond",
                fresh.clone(),
                1_000,
                0,
                false,
                take.clone(),
            ),
            (
                "no free stake for the bond",
                fresh.clone(),
                50,
                0,
                false,
                vec![],
            ),
            (
                "segment price below the local floor",
                fresh.clone(),
                1_000,
                101,
                false,
                vec![],
            ),
            (
                "our running segment: carried",
                running(me, 100),
                1_000,
                0,
                false,
                take.clone(),
            ),
            (
                "another's running segment",
                running(k(5), 100),
                1_000,
                0,
                false,
                vec![],
            ),
            (
                "another's late segment: the crank expires it",
                running(k(5), 9),
                1_000,
                0,
                true,
                vec![Action::CrankSegment(SegmentDuty {
                    kind: crank::SegmentDutyKind::Expire,
                    job: k(1),
                    index: 0,
                })],
            ),
        ];
        for (what, segs, stake, floor, crank_on, expected) in rows {
            l.price_floor = floor;
            l.crank = crank_on;
            assert_eq!(plan(&snap(segs, stake), &l), expected, "{what}");
        }
        // Without train-mlp among the kinds, nothing segmented is taken.
        let mut l = local();
        l.crank = false;
        assert!(plan(&snap(fresh, 1_000), &l).is_empty());
    }
}
