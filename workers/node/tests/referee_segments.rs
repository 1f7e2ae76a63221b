//! Workers referee a segment of a segmented train-mlp job by themselves: a provider
//! commits a checkpoint for segment 1 that it trained 19 of the spec's 20 steps, a
//! challenger disputes that segment, and three seated workers, nobody driving them,
//! draw, read checkpoint 0 from the buyer's store (verified against the root on chain),
//! train segment 1 again with `run_segment`, commit, reveal and settle by
//! `segment_settle`: the lazy provider loses the segment's bond and as much stake again,
//! the buyer gets the segment's price back. The same workers uphold an honest segment
//! against a griefer (its bond lost), reveal after a restart by retraining, and commit
//! nothing when the checkpoint the segment resumed from is gone bad in the store (no
//! ruling: the segment stands).
//!
//! Amounts (the test market): segments of price 1,000 (bond 500, fee 25, bounty 10);
//! challenger bond 500; an overturn slashes 1,000: 66 to each referee's stake, 401 to
//! the buyer's stake account, 80 to the challenger, 321 to the treasury; an upheld
//! segment's forfeited challenger bond pays 33 to each referee and 240 to the provider.

use std::sync::Arc;
use std::time::Duration;

use gpu_market::state::{JobRequirements, SegmentState, SegmentTerms, Segments, WorkloadKind};
use gpu_market::JobPostArgs;
use gpu_market_blobs::{BlobStore, CheckpointStore};
use gpu_market_client::{segments as seg, Pubkey};
use gpu_market_compute::exec::CpuExecutor;
use gpu_market_compute::spec::{NamedBlob, TrainMlp, TrainMlpSpec, TrainWorkload};
use gpu_market_compute::train::segment::start_of;
use gpu_market_compute::train::{
    run_segment, training_data, CpuTrainer, Digits, Previous, Trainer,
};
use gpu_market_tests::referee::REFEREE_STAKE;
use gpu_market_tests::*;
use gpu_market_worker::{Worker, WorkerConfig};

const PRICE: u64 = 1_000;
const BOND: u64 = 500;
const STEPS: u64 = 20;
const CHALLENGER_BOND: u64 = 500;
/// What a segment pays its provider: price less the 2.5 % fee.
const PAYOUT: u64 = 975;

struct Court {
    w: World,
    dir: tempfile::TempDir,
    blobs: Arc<dyn BlobStore>,
    referees: Vec<(ProviderHandle, Arc<Worker>)>,
}

/// Seated referee `i`'s worker on its own journal and checkpoint directory (the same
/// ones again when started anew: a restart).
async fn referee_worker(
    w: &World,
    dir: &std::path::Path,
    blobs: &Arc<dyn BlobStore>,
    i: usize,
    p: &ProviderHandle,
) -> Arc<Worker> {
    let mut cfg = WorkerConfig::new(
        w.market.market,
        p.owner.pubkey(),
        dir.join(format!("referee-{i}.jsonl")),
    );
    cfg.uri_policy = gpu_market_worker::UriPolicy::local();
    cfg.checkpoint_dir = dir.join(format!("referee-{i}-checkpoints"));
    Worker::new(
        cfg,
        w.sender.clone(),
        p.worker.insecure_clone(),
        Arc::new(CpuExecutor::with_threads(1)),
        blobs.clone(),
    )
    .await
    .unwrap()
}

async fn court() -> Court {
    let dir = tempfile::tempdir().unwrap();
    let blobs = gpu_market_blobs::open(dir.path().join("blobs").to_str().unwrap()).unwrap();
    let w = World::new().await;
    let seated = w.referee_pool(3).await;
    let mut referees = Vec::new();
    for (i, p) in seated.into_iter().enumerate() {
        let worker = referee_worker(&w, dir.path(), &blobs, i, &p).await;
        // The worker key's own token accounts (the settler's bounty), for conservation.
        for mint in [w.payment_mint, w.stake_mint] {
            w.track(
                mint,
                gpu_market_client::token::ata(&p.worker.pubkey(), &mint),
            );
        }
        referees.push((p, worker));
    }
    Court {
        w,
        dir,
        blobs,
        referees,
    }
}

/// A two-segment job on the bundled digits whose provider (not a referee) committed
/// segment 0 honestly and segment 1 with the checkpoint `segment_1` trains from
/// checkpoint 0; both checkpoints are in the buyer's store under the URIs committed.
struct Trained {
    job: Pubkey,
    provider: ProviderHandle,
    buyer: Wallet,
    store: CheckpointStore,
    spec: TrainMlpSpec,
    /// Segment 1's root as an honest run of the spec gives it.
    honest_root: [u8; 32],
}

/// How the provider trains segment 1 from checkpoint 0.
#[derive(Clone, Copy)]
enum Work {
    Honest,
    /// 19 of the spec's 20 steps.
    OneStepShort,
}

impl Court {
    async fn trained(&self, work: Work) -> Trained {
        let w = &self.w;
        let digits = std::fs::read(Digits::bundled_path()).unwrap();
        let data_ref = self.blobs.put(&digits).await.unwrap();
        let store_dir = self.dir.path().join("buyer-checkpoints");
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
                segments: 2,
                checkpoint_store: format!("file://{}", store_dir.display()),
            }),
            inputs: vec![NamedBlob {
                name: "digits".into(),
                blob: data_ref,
            }],
        };
        spec.validate().unwrap();
        let spec_ref = self.blobs.put(&spec.to_bytes().unwrap()).await.unwrap();
        let terms = vec![
            SegmentTerms {
                price: PRICE,
                duration: 600,
            };
            2
        ];
        let buyer = w.wallet(100_000, 0).await;
        let args = JobPostArgs {
            nonce: 1,
            workload: WorkloadKind::TrainMlp.code(),
            spec_hash: spec_ref.sha256.0,
            spec_uri: spec_ref.uri,
            requirements: JobRequirements::default(),
            price: Segments::total_price(&terms).unwrap(),
            deadline: w.now().await + 3_600,
            gemm: None,
            max_escrow: Segments::escrow_for(&terms, w.params.crank_bounty).unwrap(),
        };
        let (job, _) = w.try_post_segmented(&buyer, args, terms).await.unwrap();

        let data = training_data(&spec, &digits).unwrap();
        let store = CheckpointStore::open(&spec.params().checkpoint_store).unwrap();
        let provider = w.register_provider(h100(), REFEREE_STAKE).await;
        w.seg_claim(&provider, &job).await.unwrap();
        let first = run_segment(&CpuTrainer, &spec, &data, None, 0).unwrap();
        self.commit(&provider, &store, &job, 0, &first.bytes).await;
        let previous = Previous {
            bytes: &first.bytes,
            root: first.state_root,
        };
        let honest = run_segment(&CpuTrainer, &spec, &data, Some(previous), 1).unwrap();
        let second = match work {
            Work::Honest => honest.bytes.clone(),
            Work::OneStepShort => {
                let start = start_of(&spec, &data, Some(previous), 1).unwrap();
                CpuTrainer
                    .train(&start, &data, STEPS - 1)
                    .unwrap()
                    .to_bytes()
            }
        };
        // The commit of segment 0 started segment 1 for the same provider.
        self.commit(&provider, &store, &job, 1, &second).await;
        let s = w.segments(&job).await;
        assert_eq!(s.next, 2, "both segments committed");
        Trained {
            job,
            provider,
            buyer,
            store,
            spec,
            honest_root: honest.state_root.0,
        }
    }

    /// Stores `bytes` as checkpoint `index` in the buyer's store and commits its root and
    /// URI, as a provider's worker does.
    async fn commit(
        &self,
        p: &ProviderHandle,
        store: &CheckpointStore,
        job: &Pubkey,
        index: u8,
        bytes: &[u8],
    ) {
        let stored = store
            .put(&job.to_string(), u32::from(index), bytes)
            .await
            .unwrap();
        let ix = seg::commit_ix(
            self.w.market.market,
            p.key,
            *job,
            p.worker.pubkey(),
            index,
            stored.root.0,
            stored.uri,
        );
        self.w.send(&[ix], &[&p.worker]).await.unwrap();
    }

    /// Ticks every referee worker once a second of chain time, at most `rounds` rounds,
    /// until `done` says so. Returns the rounds it took.
    async fn tick_until<F, Fut>(&self, rounds: usize, done: F) -> usize
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for round in 1..=rounds {
            self.w.advance(1).await;
            for (_, worker) in &self.referees {
                worker.tick().await.unwrap();
            }
            // Let spawned re-executions (a segment's training) finish.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if done().await {
                return round;
            }
        }
        panic!("not done in {rounds} rounds");
    }

    async fn settled(&self, dispute: &Pubkey) -> bool {
        use gpu_market_client::chain::Chain;
        self.w.chain.get_account(dispute).await.unwrap().is_none()
    }

    async fn referee_stakes(&self) -> Vec<u64> {
        let mut v = Vec::new();
        for (p, _) in &self.referees {
            v.push(self.w.provider(&p.key).await.stake);
        }
        v
    }
}

/// The attack: a provider saves compute by training segment 1 one step short and
/// commits that checkpoint's root, counting on nobody retraining a segment. The seated
/// workers re-execute segment 1 alone from checkpoint 0 and reveal the honest root: the
/// segment is overturned, its bond and as much stake again (1,000) slashed, each
/// referee's stake gains 66, the buyer gets segment 1's price back and 401 of stake.
#[tokio::test]
async fn seated_workers_retrain_a_short_trained_segment_and_its_provider_is_slashed() {
    let c = court().await;
    let t = c.trained(Work::OneStepShort).await;
    let w = &c.w;
    let committed = w.segments(&t.job).await.segments[1].state_root;
    assert_ne!(committed, t.honest_root, "the lazy checkpoint is another");
    let buyer_before = w.balance(&t.buyer.payment).await;
    let stakes_before = c.referee_stakes().await;
    let challenger = w.wallet(10_000, 0).await;
    let dispute = w.seg_challenge(&t.job, 1, &challenger).await.unwrap();
    assert_eq!(w.dispute_state(&dispute).await.segment, Some(1));

    c.tick_until(15, || c.settled(&dispute)).await;
    w.assert_conservation().await;
    // The referees committed the honest root, trained from checkpoint 0 alone.
    for (_, worker) in &c.referees {
        let s = worker.stats();
        assert_eq!((s.referee_commits, s.referee_reveals), (1, 1));
    }
    let p = w.provider(&t.provider.key).await;
    assert_eq!(p.stake, REFEREE_STAKE - 2 * BOND, "bond + as much stake");
    assert_eq!(p.reputation.disputes_lost, 1);
    assert_eq!(
        c.referee_stakes().await,
        stakes_before.iter().map(|s| s + 66).collect::<Vec<_>>()
    );
    // The buyer: segment 1's price back (its bounty paid the settling worker).
    assert_eq!(w.balance(&t.buyer.payment).await, buyer_before + PRICE);
    assert_eq!(w.balance(&t.buyer.stake).await, 401);
    assert_eq!(w.balance(&challenger.payment).await, 10_000);
    assert_eq!(w.balance(&challenger.stake).await, 80);
    // The job ends at checkpoint 0: segment 1 left it, segment 0 stays payable.
    let s = w.segments(&t.job).await;
    assert_eq!((s.count, s.ended), (1, true));
    assert_eq!(s.segments[0].state, SegmentState::Committed);
}

/// Every referee worker commits to the retrained root and is then restarted (its
/// memory of the root lost). The new workers retrain segment 1 from checkpoint 0 to
/// reveal, the same root opens their commitments, and the lazy segment is overturned.
#[tokio::test]
async fn restarted_referee_workers_retrain_the_segment_to_reveal() {
    let mut c = court().await;
    let t = c.trained(Work::OneStepShort).await;
    let challenger = c.w.wallet(10_000, 0).await;
    let dispute = c.w.seg_challenge(&t.job, 1, &challenger).await.unwrap();
    c.tick_until(15, || async {
        c.w.dispute_state(&dispute).await.referee.committed == 0b111
    })
    .await;
    let mut restarted = Vec::new();
    for (i, (p, _)) in c.referees.iter().enumerate() {
        restarted.push(referee_worker(&c.w, c.dir.path(), &c.blobs, i, p).await);
    }
    for ((_, worker), fresh) in c.referees.iter_mut().zip(restarted) {
        *worker = fresh;
    }
    c.tick_until(15, || c.settled(&dispute)).await;
    c.w.assert_conservation().await;
    for (_, worker) in &c.referees {
        let s = worker.stats();
        assert_eq!((s.referee_commits, s.referee_reveals), (0, 1));
    }
    let p = c.w.provider(&t.provider.key).await;
    assert_eq!(p.stake, REFEREE_STAKE - 2 * BOND);
    assert_eq!(c.w.balance(&challenger.payment).await, 10_000);
}

/// The attack: a griefer challenges an honest segment 1 to cost its provider. The
/// workers re-execute it, find the committed root, and uphold it: the griefer's bond is
/// lost (240 of it to the provider), the provider's stake is untouched, the segment
/// stands.
#[tokio::test]
async fn seated_workers_uphold_an_honest_segment_against_a_griefer() {
    let c = court().await;
    let t = c.trained(Work::Honest).await;
    let w = &c.w;
    assert_eq!(
        w.segments(&t.job).await.segments[1].state_root,
        t.honest_root
    );
    let payout_before = w.balance(&t.provider.owner.payment).await;
    let griefer = w.wallet(10_000, 0).await;
    let dispute = w.seg_challenge(&t.job, 1, &griefer).await.unwrap();

    c.tick_until(15, || c.settled(&dispute)).await;
    w.assert_conservation().await;
    assert_eq!(w.balance(&griefer.payment).await, 10_000 - CHALLENGER_BOND);
    let p = w.provider(&t.provider.key).await;
    assert_eq!(p.stake, REFEREE_STAKE);
    assert_eq!(p.reputation.disputes_lost, 0);
    // Upheld: committed again (or already paid by a worker's crank once its window
    // closed, at price less fee).
    let paid = match seg::fetch_segments(&*w.chain, &t.job).await.unwrap() {
        None => 2,
        Some(s) => {
            assert!(matches!(
                s.segments[1].state,
                SegmentState::Committed | SegmentState::Paid
            ));
            s.segments
                .iter()
                .filter(|x| x.state == SegmentState::Paid)
                .count() as u64
        }
    };
    assert_eq!(
        w.balance(&t.provider.owner.payment).await,
        payout_before + 240 + paid * PAYOUT
    );
}

/// The previous checkpoint is gone bad in the buyer's store (overwritten with bytes that
/// do not hash to their trailer). No referee can train segment 1, so none commits a
/// guess; past the referees' deadlines the dispute has no ruling: the challenger's bond
/// comes back and the lazy segment stands (the cost of a store nobody can read).
#[tokio::test]
async fn no_referee_commits_when_the_previous_checkpoint_fails_its_root() {
    let c = court().await;
    let t = c.trained(Work::OneStepShort).await;
    let w = &c.w;
    let path = c
        .dir
        .path()
        .join("buyer-checkpoints")
        .join(t.job.to_string())
        .join("0.ckpt");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();
    let root0 = gpu_market_compute::Hash32(w.segments(&t.job).await.segments[0].state_root);
    assert!(matches!(
        t.store.get(&t.job.to_string(), 0, &root0).await,
        Err(gpu_market_blobs::CheckpointStoreError::Torn { .. })
    ));
    assert_eq!(t.spec.params().segments, 2);
    let challenger = w.wallet(10_000, 0).await;
    let dispute = w.seg_challenge(&t.job, 1, &challenger).await.unwrap();

    // Tick until the reveal deadline has passed.
    c.tick_until(120, || async {
        let d = w.dispute_state(&dispute).await;
        d.referee.drawn && w.now().await > d.referee.reveal_deadline
    })
    .await;
    let d = w.dispute_state(&dispute).await;
    assert_eq!(d.referee.committed, 0, "nobody committed");
    for (_, worker) in &c.referees {
        assert_eq!(worker.stats().referee_commits, 0);
    }
    let settler = w.wallet(0, 0).await;
    w.seg_settle(&t.job, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    assert_eq!(w.balance(&challenger.payment).await, 10_000);
    let p = w.provider(&t.provider.key).await;
    assert_eq!(p.stake, REFEREE_STAKE);
    let s = w.segments(&t.job).await;
    assert!(matches!(
        s.segments[1].state,
        SegmentState::Committed | SegmentState::Paid
    ));
}
