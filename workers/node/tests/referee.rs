//! Workers serve as referees by themselves: a provider submits a made-up root for a
//! cuda-kernel job (which the chain cannot recompute), a challenger disputes it, and
//! three seated workers draw, re-execute the job from its spec, commit, reveal and
//! settle with no one driving them, so the cheater is slashed and the referees paid;
//! the same workers uphold an honest result against a griefer.
//!
//! The executor here runs cuda-kernel workloads by filling each output with a pattern
//! (there is no GPU): what matters is that every honest executor gives the same bytes.

use std::sync::Arc;
use std::time::Duration;

use gpu_market::state::{JobRequirements, JobState};
use gpu_market_blobs::BlobStore;
use gpu_market_client::{buyer, dispute as d, ix, Pubkey};
use gpu_market_compute::commit::result_root;
use gpu_market_compute::exec::{CpuExecutor, DeviceInfo, ExecError, ExecOutput, Executor, Inputs};
use gpu_market_compute::spec::{KernelArg, Workload};
use gpu_market_tests::referee::{KERNEL_PRICE, REFEREE_STAKE, SEAT_WEIGHT};
use gpu_market_tests::*;
use gpu_market_worker::{Worker, WorkerConfig};

/// Runs a kernel by writing `0x2A` over every output: deterministic, like a real kernel.
struct PatternKernels(CpuExecutor);

impl Executor for PatternKernels {
    fn device(&self) -> &DeviceInfo {
        self.0.device()
    }
    fn supports(&self, w: &Workload) -> bool {
        matches!(w, Workload::CudaKernel { .. })
    }
    fn execute(&self, w: &Workload, _: &Inputs) -> Result<ExecOutput, ExecError> {
        let Workload::CudaKernel { args, .. } = w else {
            unreachable!("only kernels are supported")
        };
        let len: u64 = args
            .iter()
            .map(|a| match a {
                KernelArg::Output { len, .. } => *len,
                _ => 0,
            })
            .sum();
        Ok(ExecOutput {
            bytes: vec![0x2A; len as usize],
            device_time: Duration::from_millis(1),
        })
    }
}

fn kernel() -> Workload {
    Workload::smallest_of(gpu_market_compute::spec::WorkloadKind::CudaKernel).unwrap()
}

struct Court {
    w: World,
    _dir: tempfile::TempDir,
    blobs: Arc<dyn BlobStore>,
    referees: Vec<(ProviderHandle, Arc<Worker>)>,
}

async fn court() -> Court {
    let dir = tempfile::tempdir().unwrap();
    let blobs = gpu_market_blobs::open(dir.path().join("blobs").to_str().unwrap()).unwrap();
    let w = World::new().await;
    let seated = w.referee_pool(3).await;
    let mut referees = Vec::new();
    for (i, p) in seated.into_iter().enumerate() {
        let mut cfg = WorkerConfig::new(
            w.market.market,
            p.owner.pubkey(),
            dir.path().join(format!("referee-{i}.jsonl")),
        );
        cfg.uri_policy = gpu_market_worker::UriPolicy::local();
        let worker = Worker::new(
            cfg,
            w.sender.clone(),
            p.worker.insecure_clone(),
            Arc::new(PatternKernels(CpuExecutor::with_threads(1))),
            blobs.clone(),
        )
        .await
        .unwrap();
        // The worker key's own token accounts (bounties), for the conservation check.
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
        _dir: dir,
        blobs,
        referees,
    }
}

impl Court {
    /// A kernel job posted with its spec in the store, claimed by a provider that is not a
    /// referee, and submitted with `root`.
    async fn submitted(&self, root: [u8; 32], nonce: u64) -> (Pubkey, ProviderHandle, Wallet) {
        let w = &self.w;
        let provider = w.register_provider(h100(), REFEREE_STAKE).await;
        let buyer_w = w.wallet(100_000, 0).await;
        let spec = buyer::spec_with_inputs(&*self.blobs, kernel(), vec![])
            .await
            .unwrap();
        let (job, _, _) = buyer::post(
            &w.sender,
            &buyer_w.key,
            &w.market,
            &*self.blobs,
            &spec,
            nonce,
            KERNEL_PRICE,
            w.now().await + 3_600,
            JobRequirements::default(),
            u64::MAX,
        )
        .await
        .unwrap();
        w.claim(&provider, &job).await.unwrap();
        let submit = ix::job_submit(
            provider.key,
            job,
            provider.worker.pubkey(),
            gpu_market::JobSubmitArgs {
                result_root: root,
                result_uri: "blob://kernel-output".into(),
                gpu_ms: 0,
            },
        );
        w.send(&[submit], &[&provider.worker]).await.unwrap();
        (job, provider, buyer_w)
    }

    /// Ticks every referee worker until the dispute is settled (closed), at most `ticks`
    /// rounds, moving the clock one second a round. Returns the rounds it took.
    async fn tick_until_settled(&self, dispute: &Pubkey, ticks: usize) -> usize {
        use gpu_market_client::chain::Chain;
        for round in 1..=ticks {
            self.w.advance(1).await;
            for (_, worker) in &self.referees {
                worker.tick().await.unwrap();
            }
            // Let spawned re-executions finish.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.w.chain.get_account(dispute).await.unwrap().is_none() {
                return round;
            }
        }
        panic!("the dispute was not settled in {ticks} rounds");
    }
}

async fn true_root() -> [u8; 32] {
    let out = PatternKernels(CpuExecutor::with_threads(1))
        .execute(&kernel(), &Inputs::default())
        .unwrap();
    result_root(&kernel(), &out.bytes).unwrap().0
}

/// The attack: a provider claims a cuda-kernel job and submits a made-up root without
/// running it, counting on nobody being able to prove it wrong. The seated workers draw,
/// re-execute, commit, reveal and settle on their own within 10 rounds: the cheater
/// loses its bond and as much stake again (1,000), each referee's stake gains 66.
#[tokio::test]
async fn seated_workers_referee_a_made_up_kernel_result_and_the_cheater_is_slashed() {
    let c = court().await;
    let (job, cheater, _buyer) = c.submitted([0xBA; 32], 1).await;
    let challenger = c.w.wallet(10_000, 0).await;
    let dispute = d::challenge(
        &c.w.sender,
        &c.w.authority,
        &c.w.market,
        &job,
        &challenger.key,
        challenger.payment,
        challenger.stake,
        0,
        0,
    )
    .await
    .unwrap();
    let before: Vec<u64> = {
        let mut v = Vec::new();
        for (p, _) in &c.referees {
            v.push(c.w.provider(&p.key).await.stake);
        }
        v
    };
    let rounds = c.tick_until_settled(&dispute, 10).await;
    c.w.assert_conservation().await;
    assert!(!c.w.job_exists(&job).await, "the slashed job is closed");
    let p = c.w.provider(&cheater.key).await;
    assert_eq!(p.stake, REFEREE_STAKE - 1_000);
    assert_eq!(p.reputation.disputes_lost, 1);
    for ((r, worker), stake) in c.referees.iter().zip(before) {
        let now = c.w.provider(&r.key).await;
        assert_eq!(now.stake, stake + 66, "each referee paid its share");
        assert_eq!(now.referee_stake, SEAT_WEIGHT);
        let s = worker.stats();
        assert_eq!((s.referee_commits, s.referee_reveals), (1, 1));
    }
    assert!(rounds <= 10);
}

/// The attack: a griefer disputes an honest kernel result. The workers re-execute, find
/// the provider's root, and uphold it: the griefer's bond is lost, the job returns to
/// `Submitted`, and the provider is paid after its window.
#[tokio::test]
async fn seated_workers_uphold_an_honest_kernel_result_against_a_griefer() {
    let c = court().await;
    let (job, _provider, _buyer) = c.submitted(true_root().await, 2).await;
    let griefer = c.w.wallet(10_000, 0).await;
    let dispute = d::challenge(
        &c.w.sender,
        &c.w.authority,
        &c.w.market,
        &job,
        &griefer.key,
        griefer.payment,
        griefer.stake,
        0,
        0,
    )
    .await
    .unwrap();
    c.tick_until_settled(&dispute, 10).await;
    c.w.assert_conservation().await;
    assert_eq!(c.w.balance(&griefer.payment).await, 10_000 - 500);
    assert_eq!(c.w.job(&job).await.state, JobState::Submitted);
}
