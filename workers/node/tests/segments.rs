//! Segmented train-mlp jobs on the worker: the planner as a table (every branch, the
//! deadline at t and t+1), and the runner against an in-memory chain that applies the
//! program's own pure transitions to the program's `Segments` (claim starts `next`, a
//! commit on time starts the next one for the same provider, a late running segment
//! can be expired and reopens the job), refusing by the program's error names,
//! with the buyer's checkpoint store in a local directory. A run killed at a random
//! segment and point and finished by another worker, or by the same worker after a
//! restart (without claiming again), ends with the checkpoint bytes of an uninterrupted
//! run; a forged checkpoint in the buyer's store is refused before any claim.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gpu_market::state::{Job, JobState, SegmentState, SegmentTerms, Segments};
use gpu_market_blobs::CheckpointStore;
use gpu_market_client::error::ClientError;
use gpu_market_client::Pubkey;
use gpu_market_compute::spec::{
    sha256, BlobRef, NamedBlob, SplitMix64, TrainMlp, TrainMlpSpec, TrainWorkload,
};
use gpu_market_compute::train::segment::initial_checkpoint;
use gpu_market_compute::train::{
    training_data, Checkpoint, CpuTrainer, Digits, Examples, TrainError, Trainer,
};
use gpu_market_compute::Hash32;
use gpu_market_worker::segments::plan::reason;
use gpu_market_worker::segments::{
    next, Action, Facts, FailPoint, SegmentChain, SegmentJob, SegmentJournal, SegmentRunError,
    SegmentRunner, Start, Stored,
};

const SEGMENTS: u8 = 6;
const STEPS: u64 = 20;
const DURATION: i64 = 600;

// ---------------------------------------------------------------- the planner table

fn key(n: u8) -> Pubkey {
    Pubkey::new_from_array([n; 32])
}

fn root(n: u8) -> Hash32 {
    sha256(&[n])
}

/// `count` segments: those before `next` committed (segment i with root(i)), segment
/// `next` in `state` for `provider` with deadline 1000, the rest pending.
fn snapshot(count: u8, next: u8, state: SegmentState, provider: Option<Pubkey>) -> Segments {
    let mut s = posted(count);
    for (i, seg) in s.segments.iter_mut().enumerate() {
        let i = i as u8;
        if i < next {
            seg.state = SegmentState::Committed;
            seg.state_root = root(i).0;
            seg.provider = key(9);
        } else if i == next {
            seg.state = state;
            seg.provider = provider.unwrap_or_default();
            seg.deadline = 1000;
        }
    }
    s.next = next;
    s.last_checkpoint_index = next.checked_sub(1);
    s
}

/// `count` pending segments of price 10, as `job_post_segmented` creates them.
fn posted(count: u8) -> Segments {
    let terms = vec![
        SegmentTerms {
            price: 10,
            duration: DURATION,
        };
        count as usize
    ];
    Segments::posted(key(7), 255, &terms)
}

fn stored(index: u32, r: Hash32) -> Stored {
    Stored {
        job: key(7).to_string(),
        index,
        root: r,
        uri: format!("file:///ckpt/job/{index}.ckpt"),
    }
}

/// (what, snapshot, journal, now, may_claim, expected)
type Row = (
    &'static str,
    Option<Segments>,
    Vec<Stored>,
    i64,
    bool,
    Action,
);

#[test]
fn the_planner_table() {
    let me = key(1);
    let other = key(2);
    use SegmentState::*;
    let ended = |mut s: Segments| {
        s.ended = true;
        s
    };
    let short = |mut s: Segments| {
        s.segments.truncate(2);
        s
    };
    let uncommitted_prev = |mut s: Segments| {
        s.segments[1].state = Running;
        s
    };
    let commit2 = Action::Commit {
        index: 2,
        root: root(42),
        uri: "file:///ckpt/job/2.ckpt".into(),
    };
    let rows: Vec<Row> = vec![
        (
            "no Segments account",
            None,
            vec![],
            0,
            true,
            Action::Done(reason::NOT_SEGMENTED),
        ),
        (
            "all committed",
            Some(snapshot(3, 3, Pending, None)),
            vec![],
            0,
            true,
            Action::Done(reason::ALL_COMMITTED),
        ),
        (
            "fresh job: claim segment 0 from the spec",
            Some(snapshot(3, 0, Pending, None)),
            vec![],
            0,
            true,
            Action::Claim {
                index: 0,
                start: Start::Spec,
            },
        ),
        (
            "fresh job, not accepting",
            Some(snapshot(3, 0, Pending, None)),
            vec![],
            0,
            false,
            Action::Wait(reason::NOT_CLAIMING),
        ),
        (
            "ended before the next segment started",
            Some(ended(snapshot(4, 2, Pending, None))),
            vec![],
            0,
            true,
            Action::Done(reason::ENDED),
        ),
        (
            "hand-off: resume another provider's checkpoint from the buyer's store",
            Some(snapshot(4, 2, Pending, None)),
            vec![],
            0,
            true,
            Action::Claim {
                index: 2,
                start: Start::Store {
                    index: 1,
                    root: root(1),
                },
            },
        ),
        (
            "reopened after our own expiry: our copy of the committed checkpoint",
            Some(snapshot(4, 2, Pending, None)),
            vec![stored(1, root(1))],
            0,
            true,
            Action::Claim {
                index: 2,
                start: Start::Local {
                    index: 1,
                    root: root(1),
                },
            },
        ),
        (
            "our journaled checkpoint is not the committed one: the buyer's store",
            Some(snapshot(4, 2, Pending, None)),
            vec![stored(1, root(77))],
            0,
            true,
            Action::Claim {
                index: 2,
                start: Start::Store {
                    index: 1,
                    root: root(1),
                },
            },
        ),
        (
            "ours and running, nothing stored: train from our own copy",
            Some(snapshot(4, 2, Running, Some(me))),
            vec![stored(0, root(0)), stored(1, root(1))],
            999,
            true,
            Action::Run {
                index: 2,
                start: Start::Local {
                    index: 1,
                    root: root(1),
                },
            },
        ),
        (
            "ours and running after a hand-off to us: train from the buyer's store",
            Some(snapshot(4, 2, Running, Some(me))),
            vec![],
            999,
            true,
            Action::Run {
                index: 2,
                start: Start::Store {
                    index: 1,
                    root: root(1),
                },
            },
        ),
        (
            "segment 0 ours and running",
            Some(snapshot(4, 0, Running, Some(me))),
            vec![],
            0,
            true,
            Action::Run {
                index: 0,
                start: Start::Spec,
            },
        ),
        (
            "ours, stored, deadline t-1: commit without training again",
            Some(snapshot(4, 2, Running, Some(me))),
            vec![stored(2, root(42))],
            999,
            true,
            commit2.clone(),
        ),
        (
            "ours, stored, deadline t: still on time",
            Some(snapshot(4, 2, Running, Some(me))),
            vec![stored(2, root(42))],
            1000,
            true,
            commit2.clone(),
        ),
        (
            "ours, stored, deadline t+1: too late, expire",
            Some(snapshot(4, 2, Running, Some(me))),
            vec![stored(2, root(42))],
            1001,
            true,
            Action::Expire { index: 2 },
        ),
        (
            "ours, ended while running: finish the running segment",
            Some(ended(snapshot(4, 2, Running, Some(me)))),
            vec![stored(2, root(42))],
            1000,
            false,
            commit2,
        ),
        (
            "another's, deadline t",
            Some(snapshot(4, 2, Running, Some(other))),
            vec![],
            1000,
            true,
            Action::Wait(reason::OTHERS),
        ),
        (
            "another's, deadline t+1: expire it so the job reopens",
            Some(snapshot(4, 2, Running, Some(other))),
            vec![],
            1001,
            true,
            Action::Expire { index: 2 },
        ),
        (
            "previous segment not committed",
            Some(uncommitted_prev(snapshot(4, 2, Pending, None))),
            vec![],
            0,
            true,
            Action::Wait(reason::PREVIOUS_UNCOMMITTED),
        ),
        (
            "next segment committed",
            Some(snapshot(4, 2, Committed, Some(other))),
            vec![],
            0,
            true,
            Action::Wait(reason::SETTLING),
        ),
        (
            "next segment disputed",
            Some(snapshot(4, 2, Disputed, Some(other))),
            vec![],
            0,
            true,
            Action::Wait(reason::SETTLING),
        ),
        (
            "count past the segments held",
            Some(short(snapshot(4, 2, Pending, None))),
            vec![],
            0,
            true,
            Action::Done(reason::INCONSISTENT),
        ),
    ];
    for (what, s, journal, now, may_claim, expected) in rows {
        let got = next(&Facts {
            me,
            journal: &journal,
            segments: s.as_ref(),
            now,
            may_claim,
            startable: true,
        });
        assert_eq!(got, expected, "{what}");
    }
    // The program would not start the pending segment for us (its price is below our
    // floor, no free slot or stake, past the job deadline): no claim, whoever's
    // checkpoint it would resume; a running segment of ours is unaffected.
    for (s, expected) in [
        (
            snapshot(3, 0, Pending, None),
            Action::Wait(reason::NOT_STARTABLE),
        ),
        (
            snapshot(4, 2, Pending, None),
            Action::Wait(reason::NOT_STARTABLE),
        ),
        (
            snapshot(4, 0, Running, Some(me)),
            Action::Run {
                index: 0,
                start: Start::Spec,
            },
        ),
    ] {
        let got = next(&Facts {
            me,
            journal: &[],
            segments: Some(&s),
            now: 0,
            may_claim: true,
            startable: false,
        });
        assert_eq!(got, expected);
    }
}

// ---------------------------------------------------------------- an in-memory chain

#[derive(Default)]
struct Counts {
    claims: Vec<Pubkey>,
    /// (provider, index)
    commits: Vec<(Pubkey, u8)>,
    expiries: Vec<u8>,
}

/// The chain's state of one job: its `Job` (the books the transitions keep), its
/// `Segments`, the time, and what each provider did.
struct Books {
    job: Job,
    s: Segments,
    now: i64,
    c: Counts,
}

struct FakeChain {
    state: Mutex<Books>,
}

/// A program failure as the client reports it: by the error's name.
fn refused(e: anchor_lang::error::Error) -> ClientError {
    let name = match &e {
        anchor_lang::error::Error::AnchorError(a) => a.error_name.clone(),
        other => other.to_string(),
    };
    ClientError::Program {
        code: 0,
        message: name.clone(),
        name,
        instruction: 0,
        logs: vec![],
    }
}

impl FakeChain {
    fn new(count: u8) -> Arc<Self> {
        let job = Job {
            state: JobState::Segmented,
            workload: 4,
            deadline: 1_000_000,
            ..Job::fixture()
        };
        Arc::new(FakeChain {
            state: Mutex::new(Books {
                job,
                s: posted(count),
                now: 1_000,
                c: Counts::default(),
            }),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut Segments, &mut i64, &mut Counts) -> R) -> R {
        let mut g = self.state.lock().unwrap();
        let b = &mut *g;
        f(&mut b.s, &mut b.now, &mut b.c)
    }

    /// Past the running segment's deadline.
    fn pass_deadline(&self) {
        self.with(|s, now, _| *now = s.segments[s.next as usize].deadline + 1);
    }

    /// The program's start of the next segment for `who` (its bond by the job's terms).
    fn start(b: &mut Books, who: Pubkey) -> anchor_lang::Result<()> {
        let bond = b.s.bond_for(&b.job, b.s.next)?;
        b.s.start(&mut b.job, who, bond, 1, 1_000, b.now)?;
        Ok(())
    }
}

/// One provider's view of the chain: its calls sign as `me`.
struct As {
    chain: Arc<FakeChain>,
    me: Pubkey,
}

impl SegmentChain for As {
    async fn segments(&self, _job: &Pubkey) -> Result<Option<Segments>, ClientError> {
        Ok(Some(self.chain.with(|s, _, _| s.clone())))
    }

    async fn now(&self) -> Result<i64, ClientError> {
        Ok(self.chain.with(|_, now, _| *now))
    }

    async fn startable(
        &self,
        _job: &Pubkey,
        segments: &Segments,
        now: i64,
    ) -> Result<bool, ClientError> {
        let g = self.chain.state.lock().unwrap();
        Ok(segments.check_start_at(&g.job, now).is_ok())
    }

    async fn claim(&self, _job: &Pubkey) -> Result<(), ClientError> {
        let mut g = self.chain.state.lock().unwrap();
        FakeChain::start(&mut g, self.me).map_err(refused)?;
        g.c.claims.push(self.me);
        Ok(())
    }

    async fn commit(
        &self,
        _job: &Pubkey,
        index: u8,
        state_root: Hash32,
        uri: &str,
    ) -> Result<(), ClientError> {
        let mut g = self.chain.state.lock().unwrap();
        let b = &mut *g;
        b.s.commit(&mut b.job, index, &self.me, state_root.0, uri.into(), b.now)
            .map_err(refused)?;
        b.c.commits.push((self.me, index));
        // As `segment_commit` does when the claim rule lets it: the next segment starts
        // for the same provider.
        if b.s.check_start_at(&b.job, b.now).is_ok() {
            FakeChain::start(b, self.me).map_err(refused)?;
        }
        Ok(())
    }

    async fn expire(&self, _job: &Pubkey, index: u8) -> Result<(), ClientError> {
        let mut g = self.chain.state.lock().unwrap();
        let b = &mut *g;
        b.s.expire(&mut b.job, index, b.now).map_err(refused)?;
        b.c.expiries.push(index);
        Ok(())
    }
}

// ---------------------------------------------------------------- workers

/// The CPU engine, counting its training calls (a restart that commits what it
/// journaled trains nothing again).
struct Counting(AtomicUsize);

impl Trainer for Counting {
    fn name(&self) -> &'static str {
        "cpu (counted)"
    }

    fn train(
        &self,
        from: &Checkpoint,
        data: &Examples,
        steps: u64,
    ) -> Result<Checkpoint, TrainError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        CpuTrainer.train(from, data, steps)
    }
}

fn job_for(buyer_dir: &Path) -> SegmentJob {
    let bytes = std::fs::read(Digits::bundled_path()).unwrap();
    let spec = TrainMlpSpec {
        version: 1,
        workload: TrainWorkload::TrainMlp(TrainMlp {
            input: 64,
            hidden: 32,
            classes: 10,
            batch: 32,
            learning_rate: 0.1,
            momentum: 0.9,
            init_seed: 5,
            data_seed: 6,
            steps_per_segment: STEPS,
            segments: u32::from(SEGMENTS),
            checkpoint_store: format!("file://{}", buyer_dir.display()),
        }),
        inputs: vec![NamedBlob {
            name: "digits".into(),
            blob: BlobRef {
                uri: format!("file://{}", Digits::bundled_path().display()),
                sha256: sha256(&bytes),
                len: bytes.len() as u64,
            },
        }],
    };
    spec.validate().unwrap();
    let data = training_data(&spec, &bytes).unwrap();
    SegmentJob {
        job: key(7),
        spec: Arc::new(spec),
        data: Arc::new(data),
    }
}

/// A worker's own state that survives its restarts: journal and local checkpoints.
struct Disk {
    dir: tempfile::TempDir,
    trainer: Arc<Counting>,
}

impl Disk {
    fn new() -> Self {
        Disk {
            dir: tempfile::tempdir().unwrap(),
            trainer: Arc::new(Counting(AtomicUsize::new(0))),
        }
    }

    fn journal(&self) -> SegmentJournal {
        SegmentJournal::open(self.dir.path().join("segments.jsonl")).unwrap()
    }

    fn local(&self) -> CheckpointStore {
        CheckpointStore::open(self.dir.path().join("ckpt").to_str().unwrap()).unwrap()
    }

    fn trained(&self) -> usize {
        self.trainer.0.load(Ordering::SeqCst)
    }
}

/// Starts (or restarts) a worker as `me` on `disk` and runs it until it waits, is done,
/// or dies at `fail`.
async fn work(
    chain: &Arc<FakeChain>,
    me: Pubkey,
    disk: &Disk,
    job: &SegmentJob,
    fail: Option<(u8, FailPoint)>,
) -> Result<Action, SegmentRunError> {
    let handle = As {
        chain: chain.clone(),
        me,
    };
    let buyer = CheckpointStore::open(&job.spec.params().checkpoint_store).unwrap();
    let (local, journal) = (disk.local(), disk.journal());
    let mut runner =
        SegmentRunner::new(&handle, me, disk.trainer.clone(), &buyer, &local, &journal);
    runner.fail = fail;
    runner.run_until_idle(job, 100).await
}

fn uninterrupted(job: &SegmentJob) -> Vec<u8> {
    let c0 = initial_checkpoint(&job.spec, &job.data).unwrap();
    CpuTrainer
        .train(&c0, &job.data, STEPS * SEGMENTS as u64)
        .unwrap()
        .to_bytes()
}

/// The last checkpoint, read from the buyer's store against the last committed root.
async fn final_checkpoint(chain: &FakeChain, job: &SegmentJob) -> Vec<u8> {
    let (next, root) = chain.with(|s, _, _| (s.next, s.segments[SEGMENTS as usize - 1].state_root));
    assert_eq!(next, SEGMENTS, "every segment committed");
    let buyer = CheckpointStore::open(&job.spec.params().checkpoint_store).unwrap();
    buyer
        .get(&job.job.to_string(), u32::from(SEGMENTS) - 1, &Hash32(root))
        .await
        .unwrap()
}

fn kill_seed() -> u64 {
    let seed = std::env::var("GPU_MARKET_SEGMENT_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill seed {seed} (GPU_MARKET_SEGMENT_KILL_SEED replays it)");
    seed
}

const POINTS: [FailPoint; 5] = [
    FailPoint::BeforeTrain,
    FailPoint::AfterTrain,
    FailPoint::AfterStore,
    FailPoint::AfterJournal,
    FailPoint::AfterCommit,
];

// ---------------------------------------------------------------- runs

#[tokio::test]
async fn an_uninterrupted_run_claims_once_and_commits_every_segment() {
    let buyer_dir = tempfile::tempdir().unwrap();
    let job = job_for(buyer_dir.path());
    let chain = FakeChain::new(SEGMENTS);
    let disk = Disk::new();
    let a = key(1);
    let end = work(&chain, a, &disk, &job, None).await.unwrap();
    assert_eq!(end, Action::Done(reason::ALL_COMMITTED));
    assert_eq!(final_checkpoint(&chain, &job).await, uninterrupted(&job));
    chain.with(|s, _, c| {
        assert_eq!(
            c.claims,
            vec![a],
            "one claim: each commit starts the next segment"
        );
        assert_eq!(c.commits, (0..SEGMENTS).map(|i| (a, i)).collect::<Vec<_>>());
        assert_eq!(s.last_checkpoint_index, Some(SEGMENTS - 1));
        assert!(s
            .last_checkpoint_uri
            .ends_with(&format!("{}/5.ckpt", key(7))));
    });
    assert_eq!(disk.trained(), SEGMENTS as usize);
}

/// Worker A is killed at a random segment, at each point of its work in turn; it never
/// comes back. Once its segment's deadline passes, worker B (its own journal, disk and
/// key) expires it, verifies A's last committed checkpoint in the buyer's store
/// against the root on chain, claims, and finishes the job. The last checkpoint has the
/// bytes of a run that was never interrupted.
#[tokio::test]
async fn a_run_killed_at_a_random_segment_and_resumed_by_another_worker_matches_an_uninterrupted_one(
) {
    let mut rng = SplitMix64::new(kill_seed());
    let (a, b) = (key(1), key(2));
    for at in POINTS {
        let k = (rng.next_u64() % SEGMENTS as u64) as u8;
        // A killed after its last commit has nothing left to hand off.
        let k = if at == FailPoint::AfterCommit {
            k.min(SEGMENTS - 2)
        } else {
            k
        };
        let buyer_dir = tempfile::tempdir().unwrap();
        let job = job_for(buyer_dir.path());
        let chain = FakeChain::new(SEGMENTS);
        let (disk_a, disk_b) = (Disk::new(), Disk::new());
        match work(&chain, a, &disk_a, &job, Some((k, at))).await {
            Err(SegmentRunError::Killed { index, at: p }) => assert_eq!((index, p), (k, at)),
            other => panic!("A at {at:?} of segment {k}: {other:?}"),
        }
        // Before the deadline B only waits: the running segment is A's.
        assert_eq!(
            work(&chain, b, &disk_b, &job, None).await.unwrap(),
            Action::Wait(reason::OTHERS),
            "{at:?} {k}"
        );
        chain.pass_deadline();
        let end = work(&chain, b, &disk_b, &job, None).await.unwrap();
        assert_eq!(end, Action::Done(reason::ALL_COMMITTED), "{at:?} {k}");
        assert_eq!(
            final_checkpoint(&chain, &job).await,
            uninterrupted(&job),
            "A killed at {at:?} of segment {k}"
        );
        let handed = if at == FailPoint::AfterCommit {
            k + 1
        } else {
            k
        };
        chain.with(|_, _, c| {
            let expected: Vec<(Pubkey, u8)> = (0..SEGMENTS)
                .map(|i| (if i < handed { a } else { b }, i))
                .collect();
            assert_eq!(c.commits, expected, "{at:?} {k}");
            assert_eq!(c.claims, vec![a, b], "{at:?} {k}");
            assert_eq!(c.expiries, vec![handed], "{at:?} {k}");
        });
        assert_eq!(disk_b.trained(), (SEGMENTS - handed) as usize);
    }
}

/// Worker A is killed at a random segment at each point, and restarted on its own disk
/// before the deadline: it claims nothing again (the chain still has the segment as
/// A's), commits a checkpoint it journaled without training it again, resumes from its
/// own local copy of the last committed checkpoint (here after the buyer's copy was
/// damaged), and ends with the uninterrupted run's bytes.
#[tokio::test]
async fn a_worker_restarted_after_a_crash_resumes_from_its_own_checkpoint_without_claiming_again() {
    let mut rng = SplitMix64::new(kill_seed());
    let a = key(1);
    for at in POINTS {
        let k = (rng.next_u64() % (SEGMENTS as u64 - 1)) as u8;
        let buyer_dir = tempfile::tempdir().unwrap();
        let job = job_for(buyer_dir.path());
        let chain = FakeChain::new(SEGMENTS);
        let disk = Disk::new();
        assert!(matches!(
            work(&chain, a, &disk, &job, Some((k, at))).await,
            Err(SegmentRunError::Killed { .. })
        ));
        let trained_before = disk.trained();
        // The last committed checkpoint's copy in the buyer's store is damaged: A's own
        // local copy is what it resumes from.
        let last = chain.with(|s, _, _| s.last_checkpoint_index);
        if let Some(i) = last {
            let path = buyer_dir
                .path()
                .join(key(7).to_string())
                .join(format!("{i}.ckpt"));
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[90] ^= 1;
            std::fs::write(&path, bytes).unwrap();
        }
        let end = work(&chain, a, &disk, &job, None).await.unwrap();
        assert_eq!(end, Action::Done(reason::ALL_COMMITTED), "{at:?} {k}");
        assert_eq!(
            final_checkpoint(&chain, &job).await,
            uninterrupted(&job),
            "A killed at {at:?} of segment {k}, restarted"
        );
        chain.with(|_, _, c| {
            assert_eq!(c.claims, vec![a], "{at:?} {k}: no second claim");
            assert!(c.expiries.is_empty());
        });
        // Steps trained before the kill and not stored are trained again; a journaled
        // checkpoint is not.
        let redone = match at {
            FailPoint::AfterTrain | FailPoint::AfterStore => 1,
            _ => 0,
        };
        let done_before = match at {
            FailPoint::BeforeTrain => k,
            FailPoint::AfterCommit => k + 1,
            _ => k + 1,
        } as usize;
        assert_eq!(trained_before, done_before, "{at:?} {k}");
        assert_eq!(disk.trained(), SEGMENTS as usize + redone, "{at:?} {k}");
    }
}

/// Attack: after provider A vanished, someone with write access to the buyer's store
/// (A itself, hoping the next provider resumes a run that is no longer the buyer's)
/// replaces the last committed checkpoint with a re-hashed forgery. Worker B reads it,
/// checks it against the root on chain, and refuses: no claim, no bond at risk.
#[tokio::test]
async fn a_forged_checkpoint_in_the_buyers_store_is_refused_before_any_claim() {
    let buyer_dir = tempfile::tempdir().unwrap();
    let job = job_for(buyer_dir.path());
    let chain = FakeChain::new(SEGMENTS);
    let (a, b) = (key(1), key(2));
    let (disk_a, disk_b) = (Disk::new(), Disk::new());
    assert!(matches!(
        work(&chain, a, &disk_a, &job, Some((3, FailPoint::BeforeTrain))).await,
        Err(SegmentRunError::Killed { .. })
    ));
    chain.pass_deadline();
    let path = buyer_dir.path().join(key(7).to_string()).join("2.ckpt");
    let mut forged = std::fs::read(&path).unwrap();
    forged[200] ^= 0x10;
    let body = forged.len() - 32;
    let rehash = sha256(&forged[..body]);
    forged[body..].copy_from_slice(&rehash.0);
    std::fs::write(&path, &forged).unwrap();
    match work(&chain, b, &disk_b, &job, None).await {
        Err(SegmentRunError::Store(gpu_market_blobs::CheckpointStoreError::RootMismatch {
            expected,
            ..
        })) => {
            assert_eq!(expected.0, chain.with(|s, _, _| s.segments[2].state_root));
        }
        other => panic!("{other:?}"),
    }
    chain.with(|s, _, c| {
        assert_eq!(c.claims, vec![a], "B claimed nothing");
        assert_eq!(
            s.segments[3].state,
            SegmentState::Pending,
            "expired, not re-claimed"
        );
    });
    assert_eq!(disk_b.trained(), 0);
}

/// The buyer ends the job while segment 2 runs: the worker finishes and commits that
/// segment, starts nothing more, and is done.
#[tokio::test]
async fn a_job_ended_by_the_buyer_stops_after_the_running_segment() {
    let buyer_dir = tempfile::tempdir().unwrap();
    let job = job_for(buyer_dir.path());
    let chain = FakeChain::new(SEGMENTS);
    let disk = Disk::new();
    let a = key(1);
    assert!(matches!(
        work(&chain, a, &disk, &job, Some((2, FailPoint::BeforeTrain))).await,
        Err(SegmentRunError::Killed { index: 2, .. })
    ));
    chain.with(|s, _, _| s.ended = true);
    let end = work(&chain, a, &disk, &job, None).await.unwrap();
    assert_eq!(end, Action::Done(reason::ENDED));
    chain.with(|s, _, c| {
        assert_eq!(s.next, 3);
        assert_eq!(c.commits.len(), 3);
        assert_eq!(s.segments[3].state, SegmentState::Pending);
    });
}
