//! The worker on the embedded chain: several workers settling several jobs
//! exactly once, a claim race, a worker killed after each lifecycle step, a
//! missed subscription event recovered by the reconcile scan, and jobs the
//! worker must refuse to claim.

use std::sync::Arc;
use std::time::Duration;

use gpu_market::state::{JobRequirements, JobState};
use gpu_market_blobs::BlobStore;
use gpu_market_client::buyer;
use gpu_market_client::chain::Chain;
use gpu_market_client::crank::crank_once;
use gpu_market_client::{accounts, Pubkey};
use gpu_market_compute::exec::CpuExecutor;
use gpu_market_compute::spec::{JobSpec, Workload};
use gpu_market_tests::*;
use gpu_market_worker::{FailPoint, Worker, WorkerConfig, WorkerError};

struct Setup {
    w: World,
    blobs: Arc<dyn BlobStore>,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let blobs = gpu_market_blobs::open(dir.path().join("blobs").to_str().unwrap()).unwrap();
    Setup {
        w: World::new().await,
        blobs,
        dir,
    }
}

impl Setup {
    async fn worker(
        &self,
        p: &ProviderHandle,
        journal: &str,
        fail_point: Option<FailPoint>,
    ) -> Arc<Worker> {
        let mut cfg = WorkerConfig::new(
            self.w.market.market,
            p.owner.pubkey(),
            self.dir.path().join(journal),
        );
        // The stores here are local directories (file:// URIs).
        cfg.uri_policy = gpu_market_worker::UriPolicy::local();
        cfg.fail_point = fail_point;
        cfg.max_concurrent = 4;
        Worker::new(
            cfg,
            self.w.sender.clone(),
            p.worker.insecure_clone(),
            Arc::new(CpuExecutor::with_threads(1)),
            self.blobs.clone(),
        )
        .await
        .unwrap()
    }

    async fn post_gemm(&self, buyer_w: &Wallet, nonce: u64, price: u64) -> Pubkey {
        let spec = buyer::gemm_spec(
            &*self.blobs,
            Workload::GemmI8 {
                m: 24,
                n: 20,
                k: 17,
            },
            nonce,
        )
        .await
        .unwrap();
        self.post_spec(buyer_w, &spec, nonce, price).await
    }

    async fn post_spec(&self, buyer_w: &Wallet, spec: &JobSpec, nonce: u64, price: u64) -> Pubkey {
        let deadline = self.w.now().await + 3_600;
        let (job, _, _) = buyer::post(
            &self.w.sender,
            &buyer_w.key,
            &self.w.market,
            &*self.blobs,
            spec,
            nonce,
            price,
            deadline,
            JobRequirements::default(),
            // The test market's own terms; no cap on the escrow.
            u64::MAX,
        )
        .await
        .unwrap();
        job
    }

    /// Past every challenge window, then settle everything due.
    async fn settle(&self, cranker: &Wallet) {
        self.w.advance(default_params().challenge_window + 1).await;
        let report = crank_once(&self.w.sender, &cranker.key, &self.w.market.market)
            .await
            .unwrap();
        assert!(
            report.failed.is_empty(),
            "crank failures: {:?}",
            report.failed
        );
    }
}

#[tokio::test]
async fn two_workers_settle_every_job_exactly_once() {
    let s = setup().await;
    let (pa, pb) = (
        s.w.register_provider(h100(), 50_000).await,
        s.w.register_provider(h100(), 50_000).await,
    );
    let (wa, wb) = (
        s.worker(&pa, "a.jsonl", None).await,
        s.worker(&pb, "b.jsonl", None).await,
    );
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let mut jobs = Vec::new();
    for n in 0..6 {
        jobs.push(s.post_gemm(&buyer_w, n, 1_000 + n * 10).await);
    }
    for _ in 0..4 {
        let (ra, rb) = tokio::join!(wa.tick(), wb.tick());
        ra.unwrap();
        rb.unwrap();
        assert!(wa.drain().await.is_empty());
        assert!(wb.drain().await.is_empty());
    }
    for j in &jobs {
        assert_eq!(s.w.job(j).await.state, JobState::Submitted);
    }
    s.settle(&buyer_w).await;
    for j in &jobs {
        assert!(!s.w.job_exists(j).await, "settled and closed");
    }
    let (a, b) = (s.w.provider(&pa.key).await, s.w.provider(&pb.key).await);
    assert_eq!(a.reputation.completed + b.reputation.completed, 6);
    assert!(
        a.reputation.completed > 0 && b.reputation.completed > 0,
        "both workers got work"
    );
    let m = s.w.market_state().await;
    assert_eq!(
        (m.totals.jobs_completed, m.totals.escrow_outstanding),
        (6, 0)
    );
    let paid: u64 = (0..6)
        .map(|n| 1_000 + n * 10)
        .map(|p: u64| p - p.div_ceil(40))
        .sum();
    assert_eq!(
        s.w.balance(&pa.owner.payment).await + s.w.balance(&pb.owner.payment).await,
        paid,
        "each job paid once"
    );
    let stats = (wa.stats(), wb.stats());
    assert_eq!(stats.0.submits_landed + stats.1.submits_landed, 6);
    s.w.assert_conservation().await;
}

#[tokio::test]
async fn racing_workers_one_claim_lands_the_other_loses_by_name() {
    let s = setup().await;
    let (pa, pb) = (
        s.w.register_provider(h100(), 50_000).await,
        s.w.register_provider(h100(), 50_000).await,
    );
    let (wa, wb) = (
        s.worker(&pa, "a.jsonl", None).await,
        s.worker(&pb, "b.jsonl", None).await,
    );
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let job = s.post_gemm(&buyer_w, 1, 1_000).await;
    let (ra, rb) = tokio::join!(wa.claim(job), wb.claim(job));
    ra.unwrap();
    rb.unwrap();
    let (sa, sb) = (wa.stats(), wb.stats());
    assert_eq!(
        sa.claims_landed + sb.claims_landed,
        1,
        "exactly one claim lands"
    );
    assert_eq!(
        sa.races_lost + sb.races_lost,
        1,
        "the other learns it lost (JobNotOpen)"
    );
    assert!(wa.drain().await.is_empty() && wb.drain().await.is_empty());
    let j = s.w.job(&job).await;
    assert_eq!(j.state, JobState::Submitted);
    assert_eq!(j.attempts, 1);
    s.w.assert_conservation().await;
}

#[tokio::test]
async fn a_worker_killed_after_each_step_resumes_without_doing_anything_twice() {
    for point in [
        FailPoint::AfterClaimSigned,
        FailPoint::AfterClaimSent,
        FailPoint::AfterExecuted,
        FailPoint::AfterSubmitSigned,
        FailPoint::AfterSubmitSent,
    ] {
        let s = setup().await;
        let p = s.w.register_provider(h100(), 50_000).await;
        let buyer_w = s.w.wallet(1_000_000, 0).await;
        let job = s.post_gemm(&buyer_w, 1, 2_000).await;
        let before = s.w.balance(&buyer_w.payment).await;

        let doomed = s.worker(&p, "w.jsonl", Some(point)).await;
        let tick = doomed.tick().await;
        let mut errors = doomed.drain().await;
        if let Err(e) = tick {
            errors.push(e);
        }
        assert!(
            errors
                .iter()
                .any(|e| matches!(e, WorkerError::Crashed(at) if *at == point)),
            "{point:?}: the worker stopped at the fail point ({errors:?})"
        );
        drop(doomed);

        let revived = s.worker(&p, "w.jsonl", None).await;
        revived.resume().await.unwrap();
        revived.tick().await.unwrap();
        assert!(revived.drain().await.is_empty(), "{point:?}");
        let st = revived.stats();
        let j = s.w.job(&job).await;
        assert_eq!(
            (j.state, j.attempts),
            (JobState::Submitted, 1),
            "{point:?}: one claim, one submission"
        );
        match point {
            FailPoint::AfterClaimSigned => assert_eq!(
                (st.resent_same_signature, st.claims_sent),
                (1, 0),
                "{point:?}"
            ),
            FailPoint::AfterClaimSent => assert_eq!(
                (st.claims_sent, st.executed, st.submits_landed),
                (0, 1, 1),
                "{point:?}"
            ),
            FailPoint::AfterExecuted => assert_eq!(
                (st.executed, st.submits_landed),
                (0, 1),
                "{point:?}: the uploaded result is reused"
            ),
            FailPoint::AfterSubmitSigned => assert_eq!(
                (st.executed, st.resent_same_signature, st.submits_landed),
                (0, 1, 1),
                "{point:?}"
            ),
            FailPoint::AfterSubmitSent => assert_eq!(
                (st.executed, st.submits_sent, st.submits_landed),
                (0, 0, 1),
                "{point:?}: no second submission"
            ),
        }
        s.settle(&buyer_w).await;
        let pr = s.w.provider(&p.key).await;
        assert_eq!(pr.reputation.completed, 1, "{point:?}");
        assert_eq!(
            s.w.balance(&p.owner.payment).await,
            2_000 - 50,
            "{point:?}: paid once"
        );
        // Nothing more left the buyer after posting; as the crank it earned the bounty.
        assert_eq!(
            s.w.balance(&buyer_w.payment).await,
            before + default_params().crank_bounty,
            "{point:?}"
        );
        s.w.assert_conservation().await;
    }
}

#[tokio::test]
async fn a_missed_subscription_event_is_recovered_by_the_reconcile_scan() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let mut cfg = WorkerConfig::new(
        s.w.market.market,
        p.owner.pubkey(),
        s.dir.path().join("w.jsonl"),
    );
    // The stores here are local directories (file:// URIs).
    cfg.uri_policy = gpu_market_worker::UriPolicy::local();
    cfg.reconcile_every = Duration::from_millis(300);
    let worker = Worker::new(
        cfg,
        s.w.sender.clone(),
        p.worker.insecure_clone(),
        Arc::new(CpuExecutor::with_threads(1)),
        s.blobs.clone(),
    )
    .await
    .unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.clone().run(rx));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The websocket "drops": nothing about this job reaches the worker as an event.
    s.w.chain.set_notifications(false);
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let job = s.post_gemm(&buyer_w, 1, 1_000).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if accounts::fetch_job(&*s.w.chain, &job).await.unwrap().state == JobState::Submitted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reconcile scan never found the job"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    let stats = running.await.unwrap().unwrap();
    assert_eq!(stats.submits_landed, 1);
}

#[tokio::test]
async fn jobs_the_worker_cannot_run_are_never_claimed() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let worker = s.worker(&p, "w.jsonl", None).await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;

    // A spec posted as gemm-f32 that says gemm-i8.
    let spec = buyer::gemm_spec(&*s.blobs, Workload::GemmI8 { m: 4, n: 4, k: 4 }, 1)
        .await
        .unwrap();
    let bytes = spec.to_bytes().unwrap();
    let stored = s.blobs.put(&bytes).await.unwrap();
    let mismatched = {
        let mut args = s.w.post_args(1, 1_000, s.w.now().await + 3_600);
        args.workload = 1;
        args.spec_hash = stored.sha256.0;
        args.spec_uri = stored.uri.clone();
        let (ix, job) =
            gpu_market_client::ix::job_post(&s.w.market, buyer_w.pubkey(), buyer_w.payment, args);
        s.w.send(&[ix], &[&buyer_w.key]).await.unwrap();
        job
    };
    // A spec whose bytes do not hash to what the job says.
    let tampered = {
        let mut args = s.w.post_args(2, 1_000, s.w.now().await + 3_600);
        args.spec_hash = [7; 32];
        args.spec_uri = stored.uri.clone();
        let (ix, job) =
            gpu_market_client::ix::job_post(&s.w.market, buyer_w.pubkey(), buyer_w.payment, args);
        s.w.send(&[ix], &[&buyer_w.key]).await.unwrap();
        job
    };
    // A spec that is not JSON at all.
    let garbage = {
        let stored = s.blobs.put(b"not a spec").await.unwrap();
        let mut args = s.w.post_args(3, 1_000, s.w.now().await + 3_600);
        args.spec_hash = stored.sha256.0;
        args.spec_uri = stored.uri;
        let (ix, job) =
            gpu_market_client::ix::job_post(&s.w.market, buyer_w.pubkey(), buyer_w.payment, args);
        s.w.send(&[ix], &[&buyer_w.key]).await.unwrap();
        job
    };
    worker.tick().await.unwrap();
    assert!(worker.drain().await.is_empty());
    for job in [mismatched, tampered, garbage] {
        assert_eq!(
            s.w.job(&job).await.state,
            JobState::Open,
            "never claimed, no bond at risk"
        );
    }
    assert_eq!(worker.stats().rejected, 3);
    assert_eq!(s.w.provider(&p.key).await.locked, 0);
    // Rejected jobs are not fetched again on every tick.
    worker.tick().await.unwrap();
    assert_eq!(worker.stats().rejected, 3);
}

#[tokio::test]
async fn a_worker_with_the_wrong_key_or_no_registration_refuses_to_start() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let mut cfg = WorkerConfig::new(
        s.w.market.market,
        p.owner.pubkey(),
        s.dir.path().join("x.jsonl"),
    );
    // The stores here are local directories (file:// URIs).
    cfg.uri_policy = gpu_market_worker::UriPolicy::local();
    let wrong = Worker::new(
        cfg.clone(),
        s.w.sender.clone(),
        Keypair::new(),
        Arc::new(CpuExecutor::new()),
        s.blobs.clone(),
    )
    .await;
    assert!(matches!(wrong, Err(WorkerError::WrongWorkerKey { .. })));
    let mut cfg = cfg;
    cfg.owner = Pubkey::new_unique();
    let missing = Worker::new(
        cfg,
        s.w.sender.clone(),
        Keypair::new(),
        Arc::new(CpuExecutor::new()),
        s.blobs.clone(),
    )
    .await;
    let msg = missing.err().unwrap().to_string();
    assert!(msg.contains("not registered"), "{msg}");
    let _ = s.w.chain.clock().await;
}

#[tokio::test]
async fn a_journal_written_in_the_old_format_resumes() {
    use gpu_market_worker::journal::{Journal, Step};
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let job = s.post_gemm(&buyer_w, 1, 2_000).await;
    let other = s.post_gemm(&buyer_w, 2, 1_000).await;

    // A worker claims, computes and uploads, then dies before submitting.
    let doomed = s
        .worker(&p, "scratch.jsonl", Some(FailPoint::AfterExecuted))
        .await;
    doomed.claim(job).await.unwrap();
    let _ = doomed.drain().await;
    drop(doomed);
    let (_, replay) = Journal::open(&s.dir.path().join("scratch.jsonl")).unwrap();
    let (tx, lvbh) = match &replay[&job][0].step {
        Step::Claiming {
            tx,
            last_valid_block_height,
        } => (tx.clone(), *last_valid_block_height),
        other => panic!("first step {other:?}"),
    };
    let Step::Executed(executed) = &replay[&job][2].step else {
        panic!("third step {:?}", replay[&job][2]);
    };

    // The same facts, as the worker wrote them before results were typed.
    let root_hex = hex::encode(executed.root.0);
    let old = format!(
        concat!(
            "{{\"job\":\"{job}\",\"step\":\"claiming\",\"tx\":\"{tx}\",\"last_valid_block_height\":{lvbh}}}\n",
            "{{\"job\":\"{job}\",\"step\":\"claimed\"}}\n",
            "{{\"job\":\"{other}\",\"step\":\"done\",\"outcome\":\"lost the claim race\"}}\n",
            "{{\"job\":\"{job}\",\"step\":\"executed\",\"root\":\"{root}\",\"output_uri\":\"{uri}\",\"gpu_ms\":{ms}}}\n",
        ),
        job = job,
        other = other,
        tx = tx,
        lvbh = lvbh,
        root = root_hex,
        uri = executed.output_uri,
        ms = executed.gpu_ms,
    );
    std::fs::write(s.dir.path().join("old.jsonl"), old).unwrap();

    let revived = s.worker(&p, "old.jsonl", None).await;
    revived.resume().await.unwrap();
    assert!(revived.drain().await.is_empty());
    let st = revived.stats();
    assert_eq!(
        (st.executed, st.claims_sent, st.submits_landed),
        (0, 0, 1),
        "the journaled result is submitted, nothing is claimed or computed again"
    );
    let j = s.w.job(&job).await;
    assert_eq!(j.state, JobState::Submitted);
    assert_eq!(hex::encode(j.result_root), root_hex);
    assert_eq!(j.result_uri, executed.output_uri);
    assert_eq!(
        s.w.job(&other).await.state,
        JobState::Open,
        "a job the old journal gave up on is left alone by resume"
    );
}

#[tokio::test]
async fn queued_jobs_are_prepared_ahead_and_claimed_only_once_prepared() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let mut cfg = WorkerConfig::new(
        s.w.market.market,
        p.owner.pubkey(),
        s.dir.path().join("w.jsonl"),
    );
    // The stores here are local directories (file:// URIs).
    cfg.uri_policy = gpu_market_worker::UriPolicy::local();
    cfg.max_concurrent = 1;
    let worker = Worker::new(
        cfg,
        s.w.sender.clone(),
        p.worker.insecure_clone(),
        Arc::new(CpuExecutor::with_threads(1)),
        s.blobs.clone(),
    )
    .await
    .unwrap();
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let best = s.post_gemm(&buyer_w, 1, 3_000).await;
    let next = s.post_gemm(&buyer_w, 2, 2_000).await;
    let last = s.post_gemm(&buyer_w, 3, 1_000).await;
    // One slot: the best job is claimed, the next one prepared, not claimed.
    worker.tick().await.unwrap();
    assert!(worker.drain().await.is_empty());
    let st = worker.stats();
    assert_eq!((st.claims_landed, st.prefetched), (1, 1), "{st:?}");
    assert_eq!(s.w.job(&best).await.state, JobState::Submitted);
    assert_eq!(s.w.job(&next).await.state, JobState::Open);
    assert_eq!(
        s.w.provider(&p.key).await.active_jobs,
        1,
        "a bond only on the claimed job, none on the prepared one"
    );
    // The prepared job is claimed from memory: nothing is fetched for it again.
    let prepares_before = worker
        .timeline()
        .iter()
        .filter(|sp| sp.job == next && sp.phase == gpu_market_worker::timing::Phase::Prepare)
        .count();
    worker.tick().await.unwrap();
    assert!(worker.drain().await.is_empty());
    let prepares_after = worker
        .timeline()
        .iter()
        .filter(|sp| sp.job == next && sp.phase == gpu_market_worker::timing::Phase::Prepare)
        .count();
    assert_eq!((prepares_before, prepares_after), (1, 1));
    assert_eq!(s.w.job(&next).await.state, JobState::Submitted);
    worker.tick().await.unwrap();
    assert!(worker.drain().await.is_empty());
    assert_eq!(s.w.job(&last).await.state, JobState::Submitted);
    assert_eq!(worker.stats().submits_landed, 3);
}
