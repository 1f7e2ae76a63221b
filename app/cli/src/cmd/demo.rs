//! `gpumkt demo`: a whole market on one machine, in one command. An authority
//! creates mints and a market; providers register and run real workers (GPU
//! if present, CPU otherwise); a buyer posts a stream of jobs of each workload
//! it can run and checks every result; one provider goes offline right after
//! claiming a job, which then expires, its bond slashed by the market's rule,
//! and another provider finishes it; a crank settles everything; an auditor
//! recomputes the figures and checks the invariants from chain state.
//!
//! The scenario is a set of actors sharing one [`Env`]; new ones (a cheating
//! provider and a challenger, once disputes exist) are another task spawned
//! next to the others.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use gpu_market::state::{JobRequirements, JobState, MarketParams};
use gpu_market::ProviderRegisterArgs;
use gpu_market_blobs::BlobStore;
use gpu_market_client::audit::{self, InvariantReport, MarketStats};
use gpu_market_client::chain::SharedChain;
use gpu_market_client::crank::crank_once;
use gpu_market_client::ix::{self, MarketKeys};
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, pda, token, Pubkey};
use gpu_market_compute::exec::{CpuExecutor, DeviceKind, Executor};
use gpu_market_compute::spec::{JobSpec, KernelArg, Workload, SPEC_VERSION};
use gpu_market_worker::{buyer, FailPoint, Stats, Worker, WorkerConfig};
use serde::Serialize;
use solana_sdk::signature::{Keypair, Signer};

use crate::output::{emit, kv, table};
use crate::{CliError, Ctx, Format, Result};

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Jobs the buyer posts.
    #[arg(long, default_value_t = 12)]
    pub jobs: u32,
    /// Providers, each running a worker (one of them goes offline).
    #[arg(long, default_value_t = 3)]
    pub providers: u32,
    /// GEMM dimension (m = n = k).
    #[arg(long, default_value_t = 96)]
    pub size: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 170)]
    pub timeout: u64,
    /// Keep the demo's blob store and journals here (default: a temporary directory).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            jobs: 12,
            providers: 3,
            size: 96,
            timeout: 170,
            workdir: None,
        }
    }
}

/// Market rules sized for a demo that runs in seconds: a claim must be
/// submitted within 6 s, results can be challenged for 2 s.
pub fn demo_params() -> MarketParams {
    MarketParams {
        fee_bps: 250,
        min_stake: 1_000_000,
        bond_bps: 5_000,
        bond_min: 100_000,
        claim_timeout: 6,
        challenge_window: 2,
        dispute_timeout: 1,
        unstake_cooldown: 10,
        challenger_bond: 100_000,
        slash_buyer_bps: 5_000,
        slash_reporter_bps: 1_000,
        crank_bounty: 1_000,
        score_fee_scale: 100_000,
    }
}

const PRICE: u64 = 1_000_000;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    pub elapsed_s: f64,
    pub posted: u64,
    pub open: u64,
    pub claimed: u64,
    pub submitted: u64,
    pub finalized: u64,
    pub expired: u64,
    pub verified: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProviderReport {
    pub name: String,
    pub provider: String,
    pub offline: bool,
    pub jobs_done: u64,
    pub gpu_seconds: f64,
    pub earnings: u64,
    pub utilization: f64,
    pub reputation_score: u32,
    pub slashed: u64,
    pub worker: Stats,
}

#[derive(Clone, Debug, Serialize)]
pub struct SlashReport {
    pub provider: String,
    pub job: String,
    pub bond: u64,
    pub expected_to_buyer: u64,
    pub expected_to_reporter: u64,
    pub expected_to_treasury: u64,
    pub buyer_received: u64,
    pub reporter_received: u64,
    pub treasury_received: u64,
    pub finished_by: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Conservation {
    pub mint: String,
    pub supply: u64,
    pub sum_of_accounts: u64,
    pub ok: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    pub chain: String,
    pub market: String,
    pub executor: String,
    pub executor_note: Option<String>,
    pub workloads: Vec<String>,
    pub duration_s: f64,
    pub jobs_posted: u64,
    pub jobs_finalized: u64,
    pub results_verified: u64,
    pub results_rejected: u64,
    /// Transactions that landed, setup included.
    pub transactions: u64,
    pub offline: Option<SlashReport>,
    pub providers: Vec<ProviderReport>,
    pub market_stats: MarketStats,
    pub invariants: InvariantReport,
    pub conservation: Vec<Conservation>,
}

impl DemoReport {
    /// Every job paid once, every result checked, books balanced.
    pub fn ok(&self) -> bool {
        self.jobs_finalized == self.jobs_posted
            && self.results_rejected == 0
            && self.invariants.ok
            && self.conservation.iter().all(|c| c.ok)
    }
}

/// Shared by the actors.
pub struct Env {
    pub sender: Sender,
    pub market: MarketKeys,
    pub blobs: Arc<dyn BlobStore>,
    pub started: Instant,
    pub posted: AtomicU64,
    pub verified: AtomicU64,
    pub rejected: AtomicU64,
    pub token_accounts: Mutex<BTreeMap<Pubkey, HashSet<Pubkey>>>,
}

impl Env {
    fn track(&self, mint: &Pubkey, account: Pubkey) {
        self.token_accounts
            .lock()
            .unwrap()
            .entry(*mint)
            .or_default()
            .insert(account);
    }
}

fn failed(what: &str) -> impl Fn(gpu_market_client::error::ClientError) -> CliError + '_ {
    move |e| CliError::Failed(format!("demo: {what}: {e}"))
}

async fn fund(sender: &Sender, funder: &Keypair, to: &[Pubkey], lamports: u64) -> Result<()> {
    let ixs: Vec<_> = to
        .iter()
        .map(|k| solana_system_interface::instruction::transfer(&funder.pubkey(), k, lamports))
        .collect();
    for chunk in ixs.chunks(8) {
        sender
            .send(chunk, funder, &[])
            .await
            .map_err(failed("funding the actors"))?;
    }
    Ok(())
}

/// Runs the scenario on `chain`, paying for everything from `funder`.
/// `progress` is called about twice a second.
pub async fn run_scenario(
    chain: SharedChain,
    funder: &Keypair,
    a: &DemoArgs,
    mut progress: impl FnMut(&Progress),
) -> Result<DemoReport> {
    if a.providers < 2 {
        return Err(CliError::Usage(
            "--providers must be at least 2 (one of them goes offline)".into(),
        ));
    }
    if a.jobs < 2 {
        return Err(CliError::Usage("--jobs must be at least 2".into()));
    }
    let started = Instant::now();
    let counting = Arc::new(gpu_market_client::chain::counting::CountingChain::new(
        chain.clone(),
    ));
    let chain: SharedChain = counting.clone();
    let sender = Sender::new(chain.clone());
    let tmp;
    let workdir = match &a.workdir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()
                .map_err(|e| CliError::Failed(format!("demo: temporary directory: {e}")))?;
            tmp.path().to_path_buf()
        }
    };
    let blobs = gpu_market_blobs::open(workdir.join("blobs").to_str().unwrap_or("blobs"))
        .map_err(|e| CliError::Failed(format!("demo: blob store: {e}")))?;

    // The cast.
    let authority = Keypair::new();
    let buyer_key = Keypair::new();
    let cranker = Keypair::new();
    let owners: Vec<Keypair> = (0..a.providers).map(|_| Keypair::new()).collect();
    let workers: Vec<Keypair> = (0..a.providers).map(|_| Keypair::new()).collect();
    let mut everyone = vec![authority.pubkey(), buyer_key.pubkey(), cranker.pubkey()];
    everyone.extend(owners.iter().map(|k| k.pubkey()));
    everyone.extend(workers.iter().map(|k| k.pubkey()));
    fund(&sender, funder, &everyone, 2_000_000_000).await?;

    // Mints and the market.
    let rent = chain
        .minimum_balance_for_rent_exemption(token::MINT_LEN)
        .await
        .map_err(failed("rent"))?;
    let (pay_mint, stake_mint) = (Keypair::new(), Keypair::new());
    for mint in [&pay_mint, &stake_mint] {
        let ixs = token::create_mint(
            &authority.pubkey(),
            &mint.pubkey(),
            &authority.pubkey(),
            6,
            rent,
        );
        sender
            .send(&ixs, &authority, &[mint])
            .await
            .map_err(failed("creating mints"))?;
    }
    let (pay_mint, stake_mint) = (pay_mint.pubkey(), stake_mint.pubkey());
    let treasury_pay = token::ata(&authority.pubkey(), &pay_mint);
    let treasury_stake = token::ata(&authority.pubkey(), &stake_mint);
    let params = demo_params();
    let ixs = vec![
        token::create_ata_idempotent(&authority.pubkey(), &authority.pubkey(), &pay_mint),
        token::create_ata_idempotent(&authority.pubkey(), &authority.pubkey(), &stake_mint),
        ix::market_create(
            authority.pubkey(),
            0,
            pay_mint,
            stake_mint,
            treasury_pay,
            treasury_stake,
            params,
        ),
    ];
    sender
        .send(&ixs, &authority, &[])
        .await
        .map_err(failed("creating the market"))?;
    let market_key = pda::market(&authority.pubkey(), 0);
    let m = accounts::fetch_market(&*chain, &market_key)
        .await
        .map_err(failed("reading the market"))?;
    let market = MarketKeys::new(market_key, &m);
    let env = Arc::new(Env {
        sender: sender.clone(),
        market,
        blobs: blobs.clone(),
        started,
        posted: AtomicU64::new(0),
        verified: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        token_accounts: Mutex::new(BTreeMap::new()),
    });
    for acc in [treasury_pay, market.payment_vault] {
        env.track(&pay_mint, acc);
    }
    for acc in [treasury_stake, market.stake_vault] {
        env.track(&stake_mint, acc);
    }

    // Money: the buyer pays in the payment mint, owners stake the stake mint.
    let mut ixs = Vec::new();
    let budget = PRICE
        .saturating_add(params.crank_bounty)
        .saturating_mul(a.jobs as u64 + 1);
    for (owner, mint, amount) in std::iter::once((buyer_key.pubkey(), pay_mint, budget))
        .chain(owners.iter().map(|o| (o.pubkey(), stake_mint, 10_000_000)))
    {
        let ata = token::ata(&owner, &mint);
        ixs.push(token::create_ata_idempotent(
            &authority.pubkey(),
            &owner,
            &mint,
        ));
        ixs.push(token::mint_to(&mint, &ata, &authority.pubkey(), amount));
        env.track(&mint, ata);
    }
    for who in std::iter::once(cranker.pubkey())
        .chain(std::iter::once(buyer_key.pubkey()))
        .chain(owners.iter().map(|o| o.pubkey()))
    {
        for mint in [pay_mint, stake_mint] {
            ixs.push(token::create_ata_idempotent(
                &authority.pubkey(),
                &who,
                &mint,
            ));
            env.track(&mint, token::ata(&who, &mint));
        }
    }
    for chunk in ixs.chunks(6) {
        sender
            .send(chunk, &authority, &[])
            .await
            .map_err(failed("minting"))?;
    }

    // Executors: the GPU if there is one, else the CPU split between workers.
    let best = gpu_market_compute::exec::best_executor();
    let gpu = best.executor.device().kind == DeviceKind::Cuda;
    let shared_gpu: Option<Arc<dyn Executor>> = if gpu {
        Some(Arc::from(best.executor))
    } else {
        None
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .div_ceil(a.providers as usize)
        .max(1);
    let executor_for = || -> Arc<dyn Executor> {
        shared_gpu
            .clone()
            .unwrap_or_else(|| Arc::new(CpuExecutor::with_threads(threads)))
    };
    let executor_name = executor_for().device().name.clone();

    // Providers register; the last one will go offline.
    let mut providers = Vec::new();
    for (i, (owner, worker)) in owners.iter().zip(&workers).enumerate() {
        let exec = executor_for();
        let gflops = gpu_market_worker::worker::measure_gflops(&*exec);
        let gpu_desc = gpu_market_worker::descriptor(exec.device(), gflops);
        let args = ProviderRegisterArgs {
            worker: worker.pubkey(),
            gpu: gpu_desc,
            price_floor: 0,
            max_concurrent: 2,
            stake: 5_000_000,
        };
        let ix = ix::provider_register(
            &market,
            owner.pubkey(),
            token::ata(&owner.pubkey(), &stake_mint),
            token::ata(&owner.pubkey(), &pay_mint),
            args,
        );
        sender
            .send(&[ix], owner, &[])
            .await
            .map_err(failed("registering providers"))?;
        providers.push((
            format!("provider-{}", i + 1),
            pda::provider(&market_key, &owner.pubkey()),
            exec,
        ));
    }
    let offline_index = providers.len() - 1;

    let new_worker = |i: usize, fail: Option<FailPoint>| {
        let mut cfg = WorkerConfig::new(
            market_key,
            owners[i].pubkey(),
            workdir.join(format!("worker-{}.journal", i + 1)),
        );
        cfg.reconcile_every = Duration::from_millis(500);
        cfg.heartbeat_every = Duration::from_secs(5);
        cfg.max_concurrent = if fail.is_some() { 1 } else { 2 };
        cfg.min_time_to_submit = 2;
        cfg.fail_point = fail;
        Worker::new(
            cfg,
            sender.clone(),
            workers[i].insecure_clone(),
            providers[i].2.clone(),
            blobs.clone(),
        )
    };

    // Workloads the buyer posts: both GEMMs always; CUDA C when a GPU is there.
    let mut workloads = vec![
        Workload::GemmI8 {
            m: a.size,
            n: a.size,
            k: a.size,
        },
        Workload::GemmF32 {
            m: a.size,
            n: a.size,
            k: a.size,
            rel_tolerance: 1e-3,
        },
    ];
    if gpu {
        workloads.push(vector_add_workload(a.size * a.size));
    }
    let workload_names: Vec<String> = workloads
        .iter()
        .map(|w| w.kind_name().to_string())
        .collect();

    // Act 1: the soon-offline provider claims the first job, then dies.
    let first = post_job(&env, &buyer_key, &workloads[0], 0).await?;
    let offline_worker = new_worker(offline_index, Some(FailPoint::AfterClaimSent))
        .await
        .map_err(|e| CliError::Failed(format!("demo: {e}")))?;
    let _ = offline_worker.tick().await;
    let _ = offline_worker.drain().await;
    let first_job = accounts::fetch_job(&*chain, &first)
        .await
        .map_err(failed("reading the first job"))?;
    if first_job.provider != providers[offline_index].1 {
        return Err(CliError::Failed(
            "demo: the offline provider did not get the first job".into(),
        ));
    }
    let offline_bond = first_job.bond;
    let offline_stats = offline_worker.stats();
    drop(offline_worker);

    // Act 2: the other providers' daemons, a crank, and the buyer's checker run.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut daemons = Vec::new();
    for i in 0..offline_index {
        let w = new_worker(i, None)
            .await
            .map_err(|e| CliError::Failed(format!("demo: {e}")))?;
        daemons.push((i, w.clone(), tokio::spawn(w.run(stop_rx.clone()))));
    }
    let crank_env = env.clone();
    let mut crank_stop = stop_rx.clone();
    let crank_task = tokio::spawn(async move {
        loop {
            let _ = crank_once(&crank_env.sender, &cranker, &crank_env.market.market).await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = crank_stop.changed() => return cranker,
            }
        }
    });
    let check_env = env.clone();
    let mut check_stop = stop_rx.clone();
    let checker = tokio::spawn(async move {
        let mut checked = HashSet::new();
        loop {
            if let Ok(jobs) = accounts::list_jobs(
                &*check_env.sender.chain,
                &check_env.market.market,
                Some(JobState::Submitted),
            )
            .await
            {
                for (key, _) in jobs {
                    if checked.insert(key) {
                        match buyer::verify_result(&check_env.sender, &key).await {
                            Ok(v) if v.ok() => check_env.verified.fetch_add(1, Ordering::SeqCst),
                            Ok(_) => check_env.rejected.fetch_add(1, Ordering::SeqCst),
                            Err(_) => {
                                checked.remove(&key);
                                0
                            }
                        };
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(150)) => {}
                _ = check_stop.changed() => return,
            }
        }
    });

    // The buyer's stream of jobs.
    for n in 1..a.jobs {
        post_job(
            &env,
            &buyer_key,
            &workloads[n as usize % workloads.len()],
            n as u64,
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    // Until every job is finalized. Meanwhile, note who picks up the abandoned job.
    let deadline = started + Duration::from_secs(a.timeout);
    let mut finished_by = None;
    loop {
        if finished_by.is_none() {
            if let Ok(Some(j)) = accounts::fetch_job_opt(&*chain, &first).await {
                if j.provider != Pubkey::default() && j.provider != providers[offline_index].1 {
                    finished_by = Some(j.provider);
                }
            }
        }
        let p = snapshot_progress(&env).await?;
        progress(&p);
        if p.finalized >= a.jobs as u64 && p.open + p.claimed + p.submitted == 0 {
            break;
        }
        if Instant::now() > deadline {
            let _ = stop_tx.send(true);
            return Err(CliError::Failed(format!(
                "demo: not settled after {} s: {p:?}",
                a.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = stop_tx.send(true);
    let cranker = crank_task
        .await
        .map_err(|e| CliError::Failed(format!("demo: crank task: {e}")))?;
    let _ = checker.await;
    let mut worker_stats = BTreeMap::new();
    for (i, w, handle) in daemons {
        let _ = handle.await;
        worker_stats.insert(i, w.stats());
    }
    worker_stats.insert(offline_index, offline_stats);

    // The auditor's view.
    let snap = audit::Snapshot::load(&*chain, &market_key)
        .await
        .map_err(failed("auditing"))?;
    let stats = audit::stats(&snap);
    let invariants = audit::invariants(&snap);
    let split = gpu_market::math::slash_split(
        offline_bond,
        params.slash_buyer_bps,
        params.slash_reporter_bps,
    )
    .map_err(|e| CliError::Failed(format!("demo: {e}")))?;
    let balance = |owner: Pubkey, mint: Pubkey| {
        let chain = chain.clone();
        async move {
            token::balance(&*chain, &token::ata(&owner, &mint))
                .await
                .unwrap_or(0)
        }
    };
    let offline = SlashReport {
        provider: providers[offline_index].1.to_string(),
        job: first.to_string(),
        bond: offline_bond,
        expected_to_buyer: split.buyer,
        expected_to_reporter: split.reporter,
        expected_to_treasury: split.treasury,
        buyer_received: balance(buyer_key.pubkey(), stake_mint).await,
        reporter_received: balance(cranker.pubkey(), stake_mint).await,
        treasury_received: balance(authority.pubkey(), stake_mint).await,
        finished_by: finished_by.map(|k| k.to_string()),
    };
    let mut conservation = Vec::new();
    let tracked = env.token_accounts.lock().unwrap().clone();
    for (mint, accs) in tracked {
        let supply = match chain
            .get_account(&mint)
            .await
            .map_err(failed("reading mints"))?
        {
            Some(a) => token::decode_mint_supply(&mint, &a.data).unwrap_or(0),
            None => 0,
        };
        let mut sum = 0u64;
        for acc in accs {
            sum = sum.saturating_add(token::balance(&*chain, &acc).await.unwrap_or(0));
        }
        conservation.push(Conservation {
            mint: mint.to_string(),
            supply,
            sum_of_accounts: sum,
            ok: supply == sum,
        });
    }
    let provider_reports = providers
        .iter()
        .enumerate()
        .map(|(i, (name, key, _))| {
            let s = stats
                .providers
                .iter()
                .find(|p| p.provider == key.to_string());
            ProviderReport {
                name: name.clone(),
                provider: key.to_string(),
                offline: i == offline_index,
                jobs_done: s.map(|s| s.completed).unwrap_or(0),
                gpu_seconds: s.map(|s| s.gpu_hours * 3_600.0).unwrap_or(0.0),
                earnings: s.map(|s| s.revenue).unwrap_or(0),
                utilization: s.map(|s| s.utilization).unwrap_or(0.0),
                reputation_score: s.map(|s| s.reputation_score).unwrap_or(0),
                slashed: s.map(|s| s.slashed).unwrap_or(0),
                worker: worker_stats.get(&i).cloned().unwrap_or_default(),
            }
        })
        .collect();
    Ok(DemoReport {
        chain: chain.describe(),
        market: market_key.to_string(),
        executor: executor_name,
        executor_note: best.fallback_reason,
        workloads: workload_names,
        duration_s: started.elapsed().as_secs_f64(),
        jobs_posted: env.posted.load(Ordering::SeqCst),
        jobs_finalized: stats.jobs_completed,
        results_verified: env.verified.load(Ordering::SeqCst),
        results_rejected: env.rejected.load(Ordering::SeqCst),
        transactions: counting.landed(),
        offline: Some(offline),
        providers: provider_reports,
        market_stats: stats,
        invariants,
        conservation,
    })
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

async fn post_job(
    env: &Env,
    buyer_key: &Keypair,
    workload: &Workload,
    nonce: u64,
) -> Result<Pubkey> {
    let spec = match workload {
        Workload::CudaKernel { args, .. } => {
            let n = args
                .iter()
                .find_map(|a| {
                    if let KernelArg::U32(n) = a {
                        Some(*n)
                    } else {
                        None
                    }
                })
                .unwrap_or(1);
            let mut inputs = Vec::new();
            for (name, seed) in [("a", nonce), ("b", nonce ^ 7)] {
                let bytes = gpu_market_compute::spec::random_f32_matrix(seed, 1, n);
                let r = env
                    .blobs
                    .put(&bytes)
                    .await
                    .map_err(|e| CliError::Failed(format!("demo: {e}")))?;
                inputs.push(gpu_market_compute::spec::BlobRef {
                    name: name.into(),
                    uri: r.uri,
                    sha256: gpu_market_compute::spec::Hash32(r.sha256),
                    len: r.len,
                });
            }
            JobSpec {
                version: SPEC_VERSION,
                workload: workload.clone(),
                inputs,
            }
        }
        w => buyer::gemm_spec(&*env.blobs, w.clone(), nonce)
            .await
            .map_err(|e| CliError::Failed(format!("demo: {e}")))?,
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
        .map_err(failed("reading the clock"))?
        .unix_timestamp;
    let (job, _, _) = buyer::post(
        &env.sender,
        buyer_key,
        &env.market,
        &*env.blobs,
        &spec,
        nonce,
        PRICE,
        now + 120,
        requirements,
    )
    .await
    .map_err(|e| CliError::Failed(format!("demo: posting job {nonce}: {e}")))?;
    env.posted.fetch_add(1, Ordering::SeqCst);
    Ok(job)
}

async fn snapshot_progress(env: &Env) -> Result<Progress> {
    let chain = &*env.sender.chain;
    let m = accounts::fetch_market(chain, &env.market.market)
        .await
        .map_err(failed("reading the market"))?;
    let jobs = accounts::list_jobs(chain, &env.market.market, None)
        .await
        .map_err(failed("listing jobs"))?;
    let count = |s: JobState| jobs.iter().filter(|(_, j)| j.state == s).count() as u64;
    Ok(Progress {
        elapsed_s: env.started.elapsed().as_secs_f64(),
        posted: env.posted.load(Ordering::SeqCst),
        open: count(JobState::Open),
        claimed: count(JobState::Claimed),
        submitted: count(JobState::Submitted),
        finalized: m.totals.jobs_completed,
        expired: m.totals.jobs_expired,
        verified: env.verified.load(Ordering::SeqCst),
    })
}

pub async fn run(ctx: &Ctx, a: DemoArgs, out: &mut dyn Write) -> Result<()> {
    let funder = match &ctx.embedded {
        Some(chain) => chain.faucet().insecure_clone(),
        None => ctx.keypair()?.insecure_clone(),
    };
    let text = ctx.format == Format::Text;
    if text {
        writeln!(
            out,
            "gpu-market demo on {}: {} providers, {} jobs",
            ctx.chain.describe(),
            a.providers,
            a.jobs
        )
        .ok();
    }
    let mut last = String::new();
    let report = run_scenario(ctx.chain.clone(), &funder, &a, |p| {
        if !text {
            return;
        }
        let line = format!(
            "posted {:>3}  open {:>3}  claimed {:>3}  submitted {:>3}  finalized {:>3}  expired {}  results checked {}",
            p.posted, p.open, p.claimed, p.submitted, p.finalized, p.expired, p.verified
        );
        if line != last {
            let _ = writeln!(out, "[{:>5.1}s] {line}", p.elapsed_s);
            last = line;
        }
    })
    .await?;
    emit(out, ctx.format, &report, |o| print_report(o, &report))?;
    if report.ok() {
        Ok(())
    } else {
        Err(CliError::Failed(
            "demo finished with a failed check (see the report)".into(),
        ))
    }
}

pub fn print_report(o: &mut dyn Write, r: &DemoReport) -> std::io::Result<()> {
    writeln!(o)?;
    writeln!(
        o,
        "== market {} ({:.1} s, executor: {})",
        r.market, r.duration_s, r.executor
    )?;
    if let Some(note) = &r.executor_note {
        writeln!(o, "   no GPU used: {note}")?;
    }
    writeln!(o, "   workloads: {}", r.workloads.join(", "))?;
    if !r.workloads.iter().any(|w| w == "cuda-kernel") {
        writeln!(o, "   cuda-kernel jobs skipped: they need a GPU provider")?;
    }
    if let Some(s) = &r.offline {
        writeln!(o)?;
        writeln!(
            o,
            "== offline provider {} claimed job {} and vanished",
            crate::output::short(&s.provider),
            crate::output::short(&s.job)
        )?;
        kv(
            o,
            &[
                ("bond slashed", s.bond.to_string()),
                (
                    "to the buyer",
                    format!("{} (rule: {})", s.buyer_received, s.expected_to_buyer),
                ),
                (
                    "to the reporter (crank)",
                    format!("{} (rule: {})", s.reporter_received, s.expected_to_reporter),
                ),
                (
                    "to the treasury",
                    format!("{} (rule: {})", s.treasury_received, s.expected_to_treasury),
                ),
            ],
        )?;
    }
    writeln!(o)?;
    writeln!(o, "== providers")?;
    let rows: Vec<Vec<String>> = r
        .providers
        .iter()
        .map(|p| {
            vec![
                format!("{}{}", p.name, if p.offline { " (offline)" } else { "" }),
                p.jobs_done.to_string(),
                format!("{:.3}", p.gpu_seconds),
                p.earnings.to_string(),
                format!("{:.3}%", p.utilization * 100.0),
                p.reputation_score.to_string(),
                p.slashed.to_string(),
            ]
        })
        .collect();
    table(
        o,
        &[
            "PROVIDER", "JOBS", "GPU-S", "EARNED", "UTIL", "SCORE", "SLASHED",
        ],
        &rows,
    )?;
    writeln!(o)?;
    writeln!(o, "== market totals")?;
    let t = &r.market_stats;
    kv(
        o,
        &[
            (
                "jobs posted / finalized",
                format!("{} / {}", r.jobs_posted, r.jobs_finalized),
            ),
            ("claims expired (slashed)", t.jobs_expired.to_string()),
            (
                "results checked by the buyer",
                format!("{} ok, {} rejected", r.results_verified, r.results_rejected),
            ),
            ("GPU-hours sold", format!("{:.6}", t.gpu_hours_sold)),
            ("paid to providers", t.volume_paid.to_string()),
            ("fees to treasury", t.fees_collected.to_string()),
            ("stake slashed", t.slashed.to_string()),
        ],
    )?;
    writeln!(o)?;
    writeln!(o, "== auditor")?;
    crate::cmd::audit::print_invariants(o, &r.invariants)?;
    for c in &r.conservation {
        writeln!(
            o,
            "{}  token conservation for mint {}: supply {} = sum of accounts {}",
            if c.ok { "ok  " } else { "FAIL" },
            crate::output::short(&c.mint),
            c.supply,
            c.sum_of_accounts
        )?;
    }
    writeln!(o)?;
    writeln!(
        o,
        "{}",
        if r.ok() {
            "demo OK: every job paid exactly once, every result checked, books balanced"
        } else {
            "demo FAILED a check"
        }
    )
}
