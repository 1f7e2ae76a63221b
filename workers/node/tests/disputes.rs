//! The worker defends its own results: a griefer challenges an honest worker's GEMM
//! result, and the worker answers by itself (reveals its committed row before the response
//! deadline, settles the dispute it won, closes its buffer), so the griefer loses its bond
//! and the honest provider loses nothing, whether the griefer stages its side or not.

use std::sync::Arc;

use gpu_market::state::{JobRequirements, JobState, ProofTree};
use gpu_market_blobs::BlobStore;
use gpu_market_client::chain::Chain;
use gpu_market_client::{accounts, buyer, dispute as d, pda, Pubkey};
use gpu_market_compute::commit;
use gpu_market_compute::exec::CpuExecutor;
use gpu_market_compute::spec::{Hash32, JobSpec, Workload};
use gpu_market_tests::*;
use gpu_market_worker::{Worker, WorkerConfig};

const STAKE: u64 = 50_000;
const PRICE: u64 = 1_000;
const CHALLENGER_BOND: u64 = 500;

struct Honest {
    w: World,
    blobs: Arc<dyn BlobStore>,
    _dir: tempfile::TempDir,
    p: ProviderHandle,
    worker: Arc<Worker>,
    job: Pubkey,
}

/// A market with one provider, its worker (CPU, local blob store) and the store.
async fn market_with_a_worker() -> (
    World,
    tempfile::TempDir,
    Arc<dyn BlobStore>,
    ProviderHandle,
    Arc<Worker>,
) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = gpu_market_blobs::open(dir.path().join("blobs").to_str().unwrap()).unwrap();
    let w = World::new().await;
    let p = w.register_provider(h100(), STAKE).await;
    let mut cfg = WorkerConfig::new(
        w.market.market,
        p.owner.pubkey(),
        dir.path().join("j.jsonl"),
    );
    cfg.uri_policy = gpu_market_worker::UriPolicy::local();
    let worker = Worker::new(
        cfg,
        w.sender.clone(),
        p.worker.insecure_clone(),
        Arc::new(CpuExecutor::with_threads(1)),
        blobs.clone(),
    )
    .await
    .unwrap();
    (w, dir, blobs, p, worker)
}

/// An honest worker that has executed and submitted one gemm-i8 job.
async fn honest_submitted() -> Honest {
    let (w, dir, blobs, p, worker) = market_with_a_worker().await;
    let buyer_w = w.wallet(1_000_000, 0).await;
    let workload = Workload::GemmI8 { m: 8, n: 6, k: 33 };
    let spec = buyer::gemm_spec(&*blobs, workload, 7).await.unwrap();
    let deadline = w.now().await + 3_600;
    let (job, _, _) = buyer::post(
        &w.sender,
        &buyer_w.key,
        &w.market,
        &*blobs,
        &spec,
        1,
        PRICE,
        deadline,
        JobRequirements::default(),
        // The test market's own terms; no cap on the escrow.
        u64::MAX,
    )
    .await
    .unwrap();
    for _ in 0..3 {
        worker.tick().await.unwrap();
        assert!(worker.drain().await.is_empty());
    }
    assert_eq!(
        w.job(&job).await.state,
        JobState::Submitted,
        "{:?}",
        worker.stats()
    );
    Honest {
        w,
        blobs,
        _dir: dir,
        p,
        worker,
        job,
    }
}

impl Honest {
    /// What a challenger stages for C[row][col], from the job's published blobs.
    async fn proof(&self, row: u32, col: u32) -> commit::ElementProof {
        let job = self.w.job(&self.job).await;
        let spec = self
            .blobs
            .get(&job.spec_uri, &Hash32(job.spec_hash))
            .await
            .unwrap();
        let spec = JobSpec::from_bytes(&spec).unwrap();
        let input = |name| {
            let r = spec.input(name).unwrap().clone();
            let blobs = self.blobs.clone();
            async move { blobs.get(&r.uri, &r.sha256).await.unwrap() }
        };
        let (a, b) = (input("a").await, input("b").await);
        let sha = gpu_market_blobs::uri_sha256(&job.result_uri).unwrap();
        let c = self.blobs.get(&job.result_uri, &sha).await.unwrap();
        commit::proof_for_element(&spec.workload, &a, &b, &c, row, col).unwrap()
    }

    async fn challenge(&self, griefer: &Wallet, row: u32, col: u32) -> Pubkey {
        d::challenge(
            &self.w.sender,
            &self.w.authority,
            &self.w.market,
            &self.job,
            &griefer.key,
            griefer.payment,
            griefer.stake,
            row,
            col,
        )
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn a_griefer_challenging_an_honest_worker_loses_its_bond_and_the_worker_nothing() {
    let h = honest_submitted().await;
    let w = &h.w;
    let griefer = w.wallet(10_000, 0).await;
    let payout = w.balance(&h.p.owner.payment).await;
    let dispute = h.challenge(&griefer, 5, 4).await;

    // The worker answers on its next tick.
    h.worker.tick().await.unwrap();
    let state = accounts::fetch_dispute(&*w.chain, &dispute).await.unwrap();
    assert!(state.is_proven(ProofTree::C), "the worker revealed its row");
    assert_eq!(h.worker.stats().disputes_answered, 1);

    // The griefer stages its side and the ruling upholds the honest element; the worker
    // settles at once.
    let proof = h.proof(5, 4).await;
    for (tree, leaf, path) in [
        (ProofTree::A, &proof.a_row, &proof.a_proof),
        (ProofTree::B, &proof.b_col, &proof.b_proof),
    ] {
        d::stage_leaf(&w.sender, &griefer.key, &h.job, &dispute, tree, leaf, path)
            .await
            .unwrap();
    }
    d::absorb_all(&w.sender, &griefer.key, &h.job, &dispute, 33, 1)
        .await
        .unwrap();
    h.worker.tick().await.unwrap();
    assert_eq!(h.worker.stats().disputes_settled, 1);
    assert!(!w.job_exists(&dispute).await);
    assert_eq!(w.job(&h.job).await.state, JobState::Submitted);
    assert_eq!(w.balance(&griefer.payment).await, 10_000 - CHALLENGER_BOND);
    assert_eq!(
        w.balance(&h.p.owner.payment).await,
        payout + CHALLENGER_BOND * 6 / 10
    );
    let provider = w.provider(&h.p.key).await;
    assert_eq!(provider.stake, STAKE, "the honest provider lost nothing");
    assert_eq!(provider.reputation.disputes_lost, 0);

    // Its buffer's rent comes back on the next tick.
    let buffer = pda::proof_buffer(&dispute, ProofTree::C);
    assert!(w.chain.get_account(&buffer).await.unwrap().is_some());
    h.worker.tick().await.unwrap();
    assert!(w.chain.get_account(&buffer).await.unwrap().is_none());
    w.assert_conservation().await;
}

#[tokio::test]
async fn a_griefer_that_never_stages_is_settled_by_the_worker_after_the_deadline() {
    let h = honest_submitted().await;
    let w = &h.w;
    let griefer = w.wallet(10_000, 0).await;
    let dispute = h.challenge(&griefer, 0, 0).await;
    h.worker.tick().await.unwrap();
    let deadline = accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap()
        .respond_deadline;
    w.set_time(deadline).await;
    h.worker.tick().await.unwrap();
    assert!(
        w.job_exists(&dispute).await,
        "not decidable at the deadline second"
    );
    w.set_time(deadline + 1).await;
    h.worker.tick().await.unwrap();
    assert!(!w.job_exists(&dispute).await, "settled by the worker");
    assert_eq!(w.balance(&griefer.payment).await, 10_000 - CHALLENGER_BOND);
    assert_eq!(w.provider(&h.p.key).await.stake, STAKE);
    w.assert_conservation().await;
}

/// A buyer posts a GEMM job whose on-chain commitment is the roots of other matrices than
/// its spec's, hoping to challenge the honest result with those and have the ruling find
/// it wrong: the worker checks the commitment against the inputs it fetched and never
/// claims the job, so no bond is ever at risk.
#[tokio::test]
async fn a_job_whose_commitment_is_not_its_spec_is_never_claimed() {
    let (w, _dir, blobs, p, worker) = market_with_a_worker().await;
    let buyer_w = w.wallet(1_000_000, 0).await;
    let workload = Workload::GemmI8 { m: 4, n: 4, k: 8 };
    let spec = buyer::gemm_spec(&*blobs, workload.clone(), 1)
        .await
        .unwrap();
    let decoy = buyer::gemm_spec(&*blobs, workload, 2).await.unwrap();
    let job_key = pda::job(&w.market.market, &buyer_w.pubkey(), 1);
    let mut commitment = buyer::gemm_commitment(&*blobs, job_key, &decoy)
        .await
        .unwrap()
        .unwrap();
    let stored = blobs.put(&spec.to_bytes().unwrap()).await.unwrap();
    for forged in [true, false] {
        if !forged {
            // Only the shape differs.
            commitment = buyer::gemm_commitment(&*blobs, job_key, &spec)
                .await
                .unwrap()
                .unwrap();
            commitment.k = 9;
        }
        let nonce = if forged { 1 } else { 2 };
        let args = gpu_market::JobPostArgs {
            workload: spec.workload.kind_code(),
            spec_hash: stored.sha256.0,
            spec_uri: stored.uri.clone(),
            gemm: Some(commitment),
            ..w.post_args(nonce, PRICE, w.now().await + 3_600)
        };
        let (post, job) =
            gpu_market_client::ix::job_post(&w.market, buyer_w.pubkey(), buyer_w.payment, args);
        w.send(&[post], &[&buyer_w.key]).await.unwrap();
        worker.tick().await.unwrap();
        assert!(worker.drain().await.is_empty());
        worker.tick().await.unwrap();
        assert_eq!(w.job(&job).await.state, JobState::Open, "never claimed");
    }
    assert_eq!(worker.stats().claims_sent, 0);
    assert_eq!(w.provider(&p.key).await.locked, 0);
    // The control: the same spec posted with its own commitment is claimed and run.
    let (honest, _, _) = buyer::post(
        &w.sender,
        &buyer_w.key,
        &w.market,
        &*blobs,
        &spec,
        3,
        PRICE,
        w.now().await + 3_600,
        JobRequirements::default(),
        // The test market's own terms; no cap on the escrow.
        u64::MAX,
    )
    .await
    .unwrap();
    for _ in 0..3 {
        worker.tick().await.unwrap();
        assert!(worker.drain().await.is_empty());
    }
    assert_eq!(w.job(&honest).await.state, JobState::Submitted);
}
