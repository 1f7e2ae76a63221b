//! Segmented train-mlp jobs on the real program (the embedded chain): the segment
//! runner over [`ClientChain`], so every claim, commit and expiry is the program's
//! instruction, refused by its rules. A buyer posts a job of four segments on the
//! bundled digits; worker A is killed at a random segment and point (the seed is
//! printed; `GPU_MARKET_SEGMENT_KILL_SEED` replays it); once A's segment is past its
//! deadline worker B expires it (A's bond for that segment alone is slashed), claims,
//! and finishes from A's last committed checkpoint, verified against the root on chain.
//! The final checkpoint has the bytes of an uninterrupted run, each provider is paid
//! exactly price minus fee for each segment it delivered, and tokens are conserved.
//! A worker restarted on its own journal mid-segment commits without claiming again.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gpu_market::constants::MAX_SEGMENTS;
use gpu_market::math;
use gpu_market::state::{SegmentState, SegmentTerms, Segments};
use gpu_market_blobs::CheckpointStore;
use gpu_market_client::crank::crank_once;
use gpu_market_client::error::ClientError;
use gpu_market_client::Pubkey;
use gpu_market_compute::spec::train::MAX_TRAIN_SEGMENTS;
use gpu_market_compute::spec::{
    sha256, BlobRef, NamedBlob, SplitMix64, TrainMlp, TrainMlpSpec, TrainWorkload,
};
use gpu_market_compute::train::segment::initial_checkpoint;
use gpu_market_compute::train::{training_data, CpuTrainer, Digits, Trainer};
use gpu_market_compute::Hash32;
use gpu_market_tests::*;
use gpu_market_worker::segments::plan::reason;
use gpu_market_worker::segments::{
    Action, ClientChain, FailPoint, SegmentChain, SegmentJob, SegmentJournal, SegmentRunError,
    SegmentRunner,
};

const SEGMENTS: u8 = 4;
const STEPS: u64 = 20;
const PRICE: u64 = 1_000;
const DURATION: i64 = 600;
const BUYER_FUNDS: u64 = 1_000_000;

/// The spec's segment cap is the program's: a spec may not plan a job its `Segments`
/// account cannot hold.
#[test]
fn the_specs_segment_cap_is_the_programs() {
    assert_eq!(MAX_TRAIN_SEGMENTS as usize, MAX_SEGMENTS);
}

fn spec_for(buyer_dir: &Path) -> TrainMlpSpec {
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
            init_seed: 11,
            data_seed: 12,
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
    spec
}

/// The chain's view through one provider's worker key, counting its claims.
struct Counted {
    inner: ClientChain,
    claims: AtomicUsize,
}

impl SegmentChain for Counted {
    async fn segments(&self, job: &Pubkey) -> Result<Option<Segments>, ClientError> {
        self.inner.segments(job).await
    }

    async fn now(&self) -> Result<i64, ClientError> {
        self.inner.now().await
    }

    async fn startable(&self, job: &Pubkey, s: &Segments, now: i64) -> Result<bool, ClientError> {
        self.inner.startable(job, s, now).await
    }

    async fn claim(&self, job: &Pubkey) -> Result<(), ClientError> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        self.inner.claim(job).await
    }

    async fn commit(
        &self,
        job: &Pubkey,
        index: u8,
        root: Hash32,
        uri: &str,
    ) -> Result<(), ClientError> {
        self.inner.commit(job, index, root, uri).await
    }

    async fn expire(&self, job: &Pubkey, index: u8) -> Result<(), ClientError> {
        self.inner.expire(job, index).await
    }
}

struct Setup {
    w: World,
    buyer: Wallet,
    job: SegmentJob,
    _buyer_dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let w = World::new().await;
    let buyer = w.wallet(BUYER_FUNDS, 0).await;
    let buyer_dir = tempfile::tempdir().unwrap();
    let spec = spec_for(buyer_dir.path());
    let terms = vec![
        SegmentTerms {
            price: PRICE,
            duration: DURATION,
        };
        SEGMENTS as usize
    ];
    let deadline = w.now().await + 3_600;
    let mut args = w.segmented_args(1, &terms, deadline);
    args.spec_hash = sha256(&serde_json::to_vec(&spec).unwrap()).0;
    let (key, _) = w.try_post_segmented(&buyer, args, terms).await.unwrap();
    let bytes = std::fs::read(Digits::bundled_path()).unwrap();
    let data = training_data(&spec, &bytes).unwrap();
    let job = SegmentJob {
        job: key,
        spec: Arc::new(spec),
        data: Arc::new(data),
    };
    Setup {
        w,
        buyer,
        job,
        _buyer_dir: buyer_dir,
    }
}

/// A worker's disk: its journal and its own checkpoint copies, kept across restarts.
struct Disk(tempfile::TempDir);

impl Disk {
    fn new() -> Self {
        Disk(tempfile::tempdir().unwrap())
    }
}

impl Setup {
    fn chain_for(&self, p: &ProviderHandle) -> Counted {
        Counted {
            inner: ClientChain {
                sender: self.w.sender.clone(),
                key: p.worker.insecure_clone(),
                market: self.w.market,
                provider: p.key,
            },
            claims: AtomicUsize::new(0),
        }
    }

    /// Starts (or restarts) `p`'s worker on `disk` and runs it until it waits, is
    /// done, or dies at `fail`; returns how it ended and how many claims it sent.
    async fn work(
        &self,
        p: &ProviderHandle,
        disk: &Disk,
        fail: Option<(u8, FailPoint)>,
    ) -> (Result<Action, SegmentRunError>, usize) {
        let chain = self.chain_for(p);
        let buyer = CheckpointStore::open(&self.job.spec.params().checkpoint_store).unwrap();
        let local = CheckpointStore::open(disk.0.path().join("ckpt").to_str().unwrap()).unwrap();
        let journal = SegmentJournal::open(disk.0.path().join("segments.jsonl")).unwrap();
        let mut runner = SegmentRunner::new(
            &chain,
            p.key,
            Arc::new(CpuTrainer),
            &buyer,
            &local,
            &journal,
        );
        runner.fail = fail;
        let end = runner.run_until_idle(&self.job, 100).await;
        (end, chain.claims.load(Ordering::SeqCst))
    }

    /// The last checkpoint in the buyer's store, read against the root on chain
    /// (before the segments are paid and the account closes).
    async fn final_checkpoint(&self) -> Vec<u8> {
        let s = self.w.segments(&self.job.job).await;
        assert_eq!(s.next, SEGMENTS, "every segment committed");
        let last = SEGMENTS - 1;
        let root = Hash32(s.segments[last as usize].state_root);
        CheckpointStore::open(&self.job.spec.params().checkpoint_store)
            .unwrap()
            .get(&self.job.job.to_string(), u32::from(last), &root)
            .await
            .unwrap()
    }

    /// Past every challenge window, then pay everything due.
    async fn settle(&self) {
        self.w.advance(default_params().challenge_window + 1).await;
        let cranker = self.w.wallet(0, 0).await;
        let report = crank_once(&self.w.sender, &cranker.key, &self.w.market.market)
            .await
            .unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert_eq!(report.segments_paid.len(), SEGMENTS as usize);
        assert!(
            !self.w.job_exists(&self.job.job).await,
            "settled and closed"
        );
    }
}

fn uninterrupted(job: &SegmentJob) -> Vec<u8> {
    let c0 = initial_checkpoint(&job.spec, &job.data).unwrap();
    CpuTrainer
        .train(&c0, &job.data, STEPS * u64::from(SEGMENTS))
        .unwrap()
        .to_bytes()
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

/// Attack on the buyer's money and on the hand-off: provider A takes the job and
/// vanishes mid-run. It must lose that segment's bond and nothing it earned before;
/// B must be able to finish from A's last committed checkpoint, and the buyer must pay
/// exactly one price per segment, to whoever delivered it.
#[tokio::test]
async fn a_provider_killed_at_a_random_segment_is_slashed_once_and_another_finishes_bit_for_bit() {
    let mut rng = SplitMix64::new(kill_seed());
    let at = POINTS[(rng.next_u64() % POINTS.len() as u64) as usize];
    // A killed after its last commit has nothing left to hand off.
    let last = if at == FailPoint::AfterCommit {
        SEGMENTS - 2
    } else {
        SEGMENTS - 1
    };
    let k = (rng.next_u64() % (u64::from(last) + 1)) as u8;
    eprintln!("A is killed at {at:?} of segment {k}");
    let s = setup().await;
    let (pa, pb) = (
        s.w.register_provider(h100(), 50_000).await,
        s.w.register_provider(h100(), 50_000).await,
    );
    let (disk_a, disk_b) = (Disk::new(), Disk::new());

    match s.work(&pa, &disk_a, Some((k, at))).await {
        (Err(SegmentRunError::Killed { index, at: p }), 1) => assert_eq!((index, p), (k, at)),
        other => panic!("A at {at:?} of segment {k}: {other:?}"),
    }
    // The segment A ran when it died (the one after k, when it died right after k's
    // commit started the next for it).
    let missed = if at == FailPoint::AfterCommit {
        k + 1
    } else {
        k
    };
    let seg = s.w.segments(&s.job.job).await;
    assert_eq!(seg.next, missed);
    assert_eq!(seg.segments[missed as usize].state, SegmentState::Running);
    assert_eq!(seg.segments[missed as usize].provider, pa.key);
    let bond = seg.segments[missed as usize].bond;

    // While A's segment is on time B only waits: it is A's.
    let (end, claims) = s.work(&pb, &disk_b, None).await;
    assert_eq!(end.unwrap(), Action::Wait(reason::OTHERS));
    assert_eq!(claims, 0);

    s.w.advance(DURATION + 1).await;
    let (end, claims) = s.work(&pb, &disk_b, None).await;
    assert_eq!(end.unwrap(), Action::Done(reason::ALL_COMMITTED));
    assert_eq!(
        claims, 1,
        "B claims once: its commits start its next segments"
    );
    let seg = s.w.segments(&s.job.job).await;
    for (i, x) in seg.segments.iter().enumerate() {
        let ran = if (i as u8) < missed { pa.key } else { pb.key };
        assert_eq!(x.provider, ran, "segment {i}");
        assert_eq!(x.state, SegmentState::Committed, "segment {i}");
    }
    assert_eq!(s.final_checkpoint().await, uninterrupted(&s.job));

    // A's missed segment: its bond alone slashed, by the market's split.
    let a = s.w.provider(&pa.key).await;
    assert_eq!(a.stake, 50_000 - bond);
    assert_eq!(bond, math::bond_for(PRICE, 5_000, 100).unwrap());

    s.settle().await;
    let payout = PRICE - math::fee_for(PRICE, default_params().fee_bps).unwrap();
    assert_eq!(
        s.w.balance(&pa.owner.payment).await,
        u64::from(missed) * payout
    );
    assert_eq!(
        s.w.balance(&pb.owner.payment).await,
        u64::from(SEGMENTS - missed) * payout
    );
    let escrow = Segments::escrow_for(
        &vec![
            SegmentTerms {
                price: PRICE,
                duration: DURATION
            };
            SEGMENTS as usize
        ],
        default_params().crank_bounty,
    )
    .unwrap();
    assert_eq!(
        s.w.balance(&s.buyer.payment).await,
        BUYER_FUNDS - escrow,
        "the buyer paid each segment once, and a bounty for its settlement"
    );
    // The slash of A's missed bond, by the market's split: the buyer's share to its
    // recorded stake account, the reporter's to B's worker key, which expired it.
    let p = default_params();
    let split = math::slash_split(bond, p.slash_buyer_bps, p.slash_reporter_bps).unwrap();
    assert_eq!(s.w.balance(&s.buyer.stake).await, split.buyer);
    let b_stake = gpu_market_client::token::ata(&pb.worker.pubkey(), &s.w.market.stake_mint);
    assert_eq!(s.w.balance(&b_stake).await, split.reporter);
    // B's worker key made its own token accounts for that share: count them.
    for mint in [s.w.market.payment_mint, s.w.market.stake_mint] {
        s.w.track(
            mint,
            gpu_market_client::token::ata(&pb.worker.pubkey(), &mint),
        );
    }
    let (a, b) = (s.w.provider(&pa.key).await, s.w.provider(&pb.key).await);
    assert_eq!((a.locked, b.locked), (0, 0), "every bond released");
    assert_eq!(b.stake, 50_000);
    s.w.assert_conservation().await;
}

/// A worker killed mid-segment at each point in turn and restarted on its own journal
/// before the deadline: it sends no second claim (the chain still has the segment as
/// its own), commits a journaled checkpoint without training it again, and ends with
/// the uninterrupted run's bytes.
#[tokio::test]
async fn a_worker_restarted_mid_segment_commits_from_its_journal_without_claiming_again() {
    let mut rng = SplitMix64::new(kill_seed());
    for at in [
        FailPoint::BeforeTrain,
        FailPoint::AfterStore,
        FailPoint::AfterJournal,
    ] {
        let k = (rng.next_u64() % u64::from(SEGMENTS)) as u8;
        let s = setup().await;
        let pa = s.w.register_provider(h100(), 50_000).await;
        let disk = Disk::new();
        let (end, claims) = s.work(&pa, &disk, Some((k, at))).await;
        assert!(
            matches!(end, Err(SegmentRunError::Killed { .. })),
            "{end:?}"
        );
        assert_eq!(claims, 1);
        let (end, claims) = s.work(&pa, &disk, None).await;
        assert_eq!(
            end.unwrap(),
            Action::Done(reason::ALL_COMMITTED),
            "{at:?} {k}"
        );
        assert_eq!(claims, 0, "{at:?} of segment {k}: no second claim");
        let seg = s.w.segments(&s.job.job).await;
        assert!(seg.segments.iter().all(|x| x.provider == pa.key));
        assert_eq!(s.w.job(&s.job.job).await.attempts, u16::from(SEGMENTS));
        assert_eq!(s.final_checkpoint().await, uninterrupted(&s.job));
        s.settle().await;
        s.w.assert_conservation().await;
    }
}

/// The daemon (`Worker::tick`) takes segmented jobs: the buyer's spec is read from the
/// blob store through the worker's policy and checked against the posted hash; worker
/// A claims and trains segments back to back and is killed at a random segment; B, a
/// crank too, waits while A's segment is on time, expires it once late, takes the job
/// over from A's last committed checkpoint and finishes it; its crank pays every
/// segment. The final checkpoint is the uninterrupted run's.
#[tokio::test]
async fn the_daemon_takes_segmented_jobs_and_hands_them_off() {
    use gpu_market_worker::{UriPolicy, Worker, WorkerConfig};

    let mut rng = SplitMix64::new(kill_seed());
    let k = 1 + (rng.next_u64() % u64::from(SEGMENTS - 1)) as u8;
    eprintln!("A is killed before training segment {k}");
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let blobs = gpu_market_blobs::open(dir.path().join("blobs").to_str().unwrap()).unwrap();
    let buyer = w.wallet(BUYER_FUNDS, 0).await;
    let buyer_dir = tempfile::tempdir().unwrap();
    let spec = spec_for(buyer_dir.path());
    let spec_bytes = spec.to_bytes().unwrap();
    let spec_ref = blobs.put(&spec_bytes).await.unwrap();
    let terms = vec![
        SegmentTerms {
            price: PRICE,
            duration: DURATION,
        };
        SEGMENTS as usize
    ];
    let mut args = w.segmented_args(1, &terms, w.now().await + 3_600);
    args.spec_hash = spec_ref.sha256.0;
    args.spec_uri = spec_ref.uri.clone();
    let (job, _) = w.try_post_segmented(&buyer, args, terms).await.unwrap();

    let worker = |p: &ProviderHandle, name: &str, fail: Option<(u8, FailPoint)>, crank: bool| {
        let mut cfg = WorkerConfig::new(w.market.market, p.owner.pubkey(), dir.path().join(name));
        cfg.uri_policy = UriPolicy::local();
        cfg.max_concurrent = 4;
        cfg.crank = crank;
        cfg.segment_fail_point = fail;
        Worker::new(
            cfg,
            w.sender.clone(),
            p.worker.insecure_clone(),
            Arc::new(gpu_market_compute::exec::CpuExecutor::with_threads(1)),
            blobs.clone(),
        )
    };
    let (pa, pb) = (
        w.register_provider(h100(), 50_000).await,
        w.register_provider(h100(), 50_000).await,
    );
    let a = worker(&pa, "a.jsonl", Some((k, FailPoint::BeforeTrain)), false)
        .await
        .unwrap();
    let b = worker(&pb, "b.jsonl", None, true).await.unwrap();
    a.tick().await.unwrap();
    assert_eq!(a.drain().await.len(), 1, "A died");
    let seg = w.segments(&job).await;
    assert_eq!((seg.next, seg.segments[k as usize].provider), (k, pa.key));
    drop(a);

    // On time, A's segment is A's: B takes nothing.
    b.tick().await.unwrap();
    assert!(b.drain().await.is_empty());
    assert_eq!(w.segments(&job).await.segments[k as usize].provider, pa.key);

    w.advance(DURATION + 1).await;
    for _ in 0..3 {
        b.tick().await.unwrap();
        let errors = b.drain().await;
        assert!(errors.is_empty(), "{errors:?}");
    }
    let seg = w.segments(&job).await;
    assert_eq!(seg.next, SEGMENTS, "B finished the job");
    for (i, x) in seg.segments.iter().enumerate() {
        let ran = if (i as u8) < k { pa.key } else { pb.key };
        assert_eq!(x.provider, ran, "segment {i}");
    }
    let root = Hash32(seg.segments[SEGMENTS as usize - 1].state_root);
    let last = CheckpointStore::open(&spec.params().checkpoint_store)
        .unwrap()
        .get(&job.to_string(), u32::from(SEGMENTS) - 1, &root)
        .await
        .unwrap();
    let bytes = std::fs::read(Digits::bundled_path()).unwrap();
    let reference = SegmentJob {
        job,
        spec: Arc::new(spec.clone()),
        data: Arc::new(training_data(&spec, &bytes).unwrap()),
    };
    assert_eq!(last, uninterrupted(&reference));

    w.advance(default_params().challenge_window + 1).await;
    b.tick().await.unwrap();
    assert!(b.drain().await.is_empty());
    assert!(!w.job_exists(&job).await, "B's crank paid every segment");
    let payout = PRICE - math::fee_for(PRICE, default_params().fee_bps).unwrap();
    assert_eq!(w.balance(&pa.owner.payment).await, u64::from(k) * payout);
    assert_eq!(
        w.balance(&pb.owner.payment).await,
        u64::from(SEGMENTS - k) * payout
    );
    for mint in [w.market.payment_mint, w.market.stake_mint] {
        w.track(
            mint,
            gpu_market_client::token::ata(&pb.worker.pubkey(), &mint),
        );
    }
    w.assert_conservation().await;
}
