//! The actors, each a task over one shared [`Env`]: the buyer posting a
//! stream of jobs and checking every submitted result, a crank settling what
//! is due, the providers' workers (one of which vanishes after its first
//! claim, and one of which cheats), and an auditor running the watch loop of
//! `gpumkt audit watch` ([`auditor::watch_pass`]), which challenges a wrong
//! result, proves it on chain and settles the dispute.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpu_market::state::{JobRequirements, JobState};
use gpu_market_blobs::BlobStore;
use gpu_market_client::auditor::{self, ChallengerAccounts, WatchEvent, WatchPolicy};
use gpu_market_client::buyer;
use gpu_market_client::conservation::TokenAccounts;
use gpu_market_client::crank::crank_once;
use gpu_market_client::ix::MarketKeys;
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, Pubkey};
use gpu_market_compute::spec::{JobSpec, KernelArg, Workload};
use solana_sdk::signature::{Keypair, Signer};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::DemoError;
use super::report::Progress;
use super::PRICE;

/// Seconds from posting to a job's deadline: long enough for an expired
/// claim to be reopened and finished by another provider.
const JOB_LIFETIME_S: i64 = 120;
/// How often the crank and the buyer's checker look again.
const CRANK_EVERY: Duration = Duration::from_millis(500);
const CHECK_EVERY: Duration = Duration::from_millis(150);
/// How often the auditor's watch loop makes a pass.
const AUDIT_EVERY: Duration = Duration::from_millis(250);
/// Pause between the buyer's posts, so that work arrives as a stream.
const POST_EVERY: Duration = Duration::from_millis(150);

/// Shared by the actors.
pub struct Env {
    pub sender: Sender,
    pub market: MarketKeys,
    pub blobs: Arc<dyn BlobStore>,
    pub started: Instant,
    pub posted: AtomicU64,
    pub verified: AtomicU64,
    pub rejected: AtomicU64,
    /// Every token account in the demo: conservation is checked over these.
    pub tokens: TokenAccounts,
}

/// The workloads the buyer posts: both GEMMs always; CUDA C when a GPU is there.
pub(super) fn workloads(size: u32, gpu: bool) -> Vec<Workload> {
    let mut w = vec![
        Workload::GemmI8 {
            m: size,
            n: size,
            k: size,
        },
        Workload::GemmF32 {
            m: size,
            n: size,
            k: size,
            rel_tolerance: 1e-3,
        },
    ];
    if gpu {
        w.push(vector_add_workload(size * size));
    }
    w
}

/// The CUDA C workload the demo posts when a GPU is present.
fn vector_add_workload(n: u32) -> Workload {
    let source = r#"extern "C" __global__ void add(const float* a, const float* b, float* c, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}"#;
    Workload::CudaKernel {
        source: source.into(),
        entry: "add".into(),
        grid: [n.div_ceil(256), 1, 1],
        block: [256, 1, 1],
        shared_mem_bytes: 0,
        args: vec![
            KernelArg::Input { name: "a".into() },
            KernelArg::Input { name: "b".into() },
            KernelArg::Output {
                name: "c".into(),
                len: n as u64 * 4,
            },
            KernelArg::U32(n),
        ],
    }
}

/// The buyer posts job `nonce` of `workload` at `price`.
pub(super) async fn post_job(
    env: &Env,
    buyer_key: &Keypair,
    workload: &Workload,
    nonce: u64,
    price: u64,
) -> Result<Pubkey, DemoError> {
    let failed = |source| DemoError::Post { nonce, source };
    let spec: JobSpec = match workload {
        Workload::CudaKernel { args, .. } => {
            let n = args
                .iter()
                .find_map(|a| match a {
                    KernelArg::U32(n) => Some(*n),
                    _ => None,
                })
                .unwrap_or(1);
            let inputs = [("a", nonce), ("b", nonce ^ 7)]
                .into_iter()
                .map(|(name, seed)| {
                    (
                        name,
                        gpu_market_compute::spec::random_f32_matrix(seed, 1, n),
                    )
                })
                .collect();
            buyer::spec_with_inputs(&*env.blobs, workload.clone(), inputs)
                .await
                .map_err(failed)?
        }
        w => buyer::gemm_spec(&*env.blobs, w.clone(), nonce)
            .await
            .map_err(failed)?,
    };
    let requirements = match workload {
        Workload::CudaKernel { .. } => JobRequirements {
            min_vram_mb: 0,
            min_compute_capability: 1,
            min_gpu_count: 1,
        },
        _ => JobRequirements::default(),
    };
    let now = env
        .sender
        .chain
        .clock()
        .await
        .map_err(DemoError::chain("reading the clock"))?
        .unix_timestamp;
    let (job, _, _) = buyer::post(
        &env.sender,
        buyer_key,
        &env.market,
        &*env.blobs,
        &spec,
        nonce,
        price,
        now + JOB_LIFETIME_S,
        requirements,
        // The terms this demo created its market with (an overflow would be
        // refused by the program itself).
        gpu_market::math::escrow_for(price, super::demo_params().crank_bounty).unwrap_or(u64::MAX),
    )
    .await
    .map_err(failed)?;
    env.posted.fetch_add(1, Ordering::SeqCst);
    Ok(job)
}

/// The buyer's stream: jobs 1.. (job 0 went to the offline provider),
/// cycling through the workloads.
pub(super) async fn post_stream(
    env: &Env,
    buyer_key: &Keypair,
    workloads: &[Workload],
    jobs: u32,
) -> Result<(), DemoError> {
    for n in 1..u64::from(jobs) {
        let w = &workloads[n as usize % workloads.len()];
        post_job(env, buyer_key, w, n, PRICE).await?;
        tokio::time::sleep(POST_EVERY).await;
    }
    Ok(())
}

/// Cranks until stopped; hands the cranker's key back (its balances are in the report).
pub(super) fn spawn_crank(
    env: Arc<Env>,
    cranker: Keypair,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<Keypair> {
    tokio::spawn(async move {
        loop {
            // A failed round is retried on the next; what is due stays due.
            let _ = crank_once(&env.sender, &cranker, &env.market.market).await;
            tokio::select! {
                _ = tokio::time::sleep(CRANK_EVERY) => {}
                _ = stop.changed() => return cranker,
            }
        }
    })
}

/// The auditor: [`auditor::watch_pass`] (what `gpumkt audit watch` runs) until
/// stopped, its bond paid from and its reporter share paid to `auditor`'s own
/// token accounts. Hands back everything it saw and did, for the report.
pub(super) fn spawn_auditor(
    env: Arc<Env>,
    auditor_key: Keypair,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<Vec<WatchEvent>> {
    tokio::spawn(async move {
        let accounts = ChallengerAccounts::associated(&auditor_key.pubkey(), &env.market);
        let mut seen = HashSet::new();
        let mut events = Vec::new();
        loop {
            let mut record = |e: WatchEvent| events.push(e);
            // A failed pass (listing the market's accounts) is tried again on the next.
            let _ = auditor::watch_pass(
                &env.sender,
                &auditor_key,
                accounts,
                &env.market,
                WatchPolicy::default(),
                &mut seen,
                &mut record,
            )
            .await;
            tokio::select! {
                _ = tokio::time::sleep(AUDIT_EVERY) => {}
                _ = stop.changed() => return events,
            }
        }
    })
}

/// Waits until job `key` has a result submitted (or is past that), up to `deadline`.
pub(super) async fn wait_submitted(
    env: &Env,
    key: &Pubkey,
    deadline: Instant,
) -> Result<gpu_market::state::Job, DemoError> {
    loop {
        let job = accounts::fetch_job(&*env.sender.chain, key)
            .await
            .map_err(DemoError::chain("reading the cheated job"))?;
        if !matches!(job.state, JobState::Open | JobState::Claimed) {
            return Ok(job);
        }
        if Instant::now() > deadline {
            return Err(DemoError::CheatNotSubmitted { job: *key });
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// The buyer's checker: every submitted result of `buyer`'s jobs is downloaded
/// and verified once; a check that could not run (a blob not readable yet) is
/// retried.
pub(super) fn spawn_checker(
    env: Arc<Env>,
    buyer_key: Pubkey,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut checked = HashSet::new();
        loop {
            if let Ok(jobs) = accounts::list_jobs(
                &*env.sender.chain,
                &env.market.market,
                Some(JobState::Submitted),
            )
            .await
            {
                for (key, _) in jobs.into_iter().filter(|(_, j)| j.buyer == buyer_key) {
                    if checked.insert(key) {
                        match buyer::verify_result(&env.sender, &key).await {
                            Ok(v) if v.ok() => env.verified.fetch_add(1, Ordering::SeqCst),
                            Ok(_) => env.rejected.fetch_add(1, Ordering::SeqCst),
                            Err(_) => {
                                checked.remove(&key);
                                0
                            }
                        };
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    })
}

/// Where the market stands: live jobs by state, and the totals.
pub(super) async fn snapshot_progress(env: &Env) -> Result<Progress, DemoError> {
    let chain = &*env.sender.chain;
    let m = accounts::fetch_market(chain, &env.market.market)
        .await
        .map_err(DemoError::chain("reading the market"))?;
    let jobs = accounts::list_jobs(chain, &env.market.market, None)
        .await
        .map_err(DemoError::chain("listing jobs"))?;
    let count = |s: JobState| jobs.iter().filter(|(_, j)| j.state == s).count() as u64;
    Ok(Progress {
        elapsed_s: env.started.elapsed().as_secs_f64(),
        posted: env.posted.load(Ordering::SeqCst),
        open: count(JobState::Open),
        claimed: count(JobState::Claimed),
        submitted: count(JobState::Submitted),
        disputed: count(JobState::Disputed),
        finalized: m.totals.jobs_completed,
        slashed: m.totals.jobs_slashed,
        expired: m.totals.jobs_expired,
        verified: env.verified.load(Ordering::SeqCst),
    })
}
