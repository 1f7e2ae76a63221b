//! Lifecycle benchmark on the embedded chain (real-time clock): a buyer posts
//! a batch of gemm-i8 jobs, N workers claim, run and submit them, a crank
//! finalizes them after a 1 s challenge window. Prints, for each N, jobs
//! settled per second and its ratio to the 1-worker run measured in the same
//! process, transactions per job, and the median slots from post to claim and
//! from submit to finalize.
//!
//! `cargo bench -p gpu-market-worker --bench lifecycle` (env: JOBS, WORKERS="1 2 4").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpu_market::state::{JobRequirements, JobState, MarketParams};
use gpu_market_client::buyer;
use gpu_market_client::chain::counting::CountingChain;
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::{Chain, SharedChain};
use gpu_market_client::crank::crank_once;
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, Pubkey};
use gpu_market_compute::exec::CpuExecutor;
use gpu_market_compute::spec::Workload;
use gpu_market_tests::{default_params, h100, World};
use gpu_market_worker::{Worker, WorkerConfig};

struct Run {
    workers: usize,
    jobs: usize,
    seconds: f64,
    tx_per_job: f64,
    post_to_claim: u64,
    submit_to_finalize: u64,
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

async fn run(workers: usize, jobs: usize) -> Run {
    let chain = EmbeddedChain::start(ClockMode::RealTime).await.unwrap();
    let params = MarketParams {
        claim_timeout: 60,
        challenge_window: 1,
        dispute_timeout: 1,
        unstake_cooldown: 10,
        ..default_params()
    };
    let w = World::on_chain(chain.clone(), params, true).await;
    let dir = tempfile::tempdir().unwrap();
    let blobs = gpu_market_blobs::open(dir.path().join("blobs").to_str().unwrap()).unwrap();
    let counting = Arc::new(CountingChain::new(chain.clone()));
    let shared: SharedChain = counting.clone();
    let sender = Sender::new(shared.clone());

    let mut daemons = Vec::new();
    let (stop, rx) = tokio::sync::watch::channel(false);
    for i in 0..workers {
        let p = w.register_provider(h100(), 1_000_000).await;
        let mut cfg = WorkerConfig::new(
            w.market.market,
            p.owner.pubkey(),
            dir.path().join(format!("w{i}.jsonl")),
        );
        // The stores here are local directories (file:// URIs).
        cfg.uri_policy = gpu_market_worker::UriPolicy::local();
        cfg.reconcile_every = Duration::from_millis(200);
        cfg.heartbeat_every = Duration::from_secs(3_600);
        cfg.max_concurrent = 4;
        let worker = Worker::new(
            cfg,
            sender.clone(),
            p.worker.insecure_clone(),
            Arc::new(CpuExecutor::with_threads(1)),
            blobs.clone(),
        )
        .await
        .unwrap();
        daemons.push(tokio::spawn(worker.run(rx.clone())));
    }
    let buyer_w = w.wallet(u64::MAX / 4, 0).await;
    let cranker = w.wallet(0, 0).await;
    // Specs and inputs are uploaded before the clock starts: the benchmark measures the market.
    let mut specs = Vec::new();
    for n in 0..jobs {
        specs.push(
            buyer::gemm_spec(
                &*blobs,
                Workload::GemmI8 {
                    m: 64,
                    n: 64,
                    k: 64,
                },
                n as u64,
            )
            .await
            .unwrap(),
        );
    }

    let tx_before = counting.landed();
    let started = Instant::now();
    let mut posted: HashMap<Pubkey, u64> = HashMap::new();
    let deadline = chain.clock().await.unwrap().unix_timestamp + 600;
    for (n, spec) in specs.iter().enumerate() {
        let (job, _, _) = buyer::post(
            &sender,
            &buyer_w.key,
            &w.market,
            &*blobs,
            spec,
            n as u64,
            1_000,
            deadline,
            JobRequirements::default(),
            // The test market's own terms; no cap on the escrow.
            u64::MAX,
        )
        .await
        .unwrap();
        posted.insert(job, chain.clock().await.unwrap().slot);
    }
    let mut claimed: HashMap<Pubkey, u64> = HashMap::new();
    let mut submitted: HashMap<Pubkey, u64> = HashMap::new();
    let mut finalized: HashMap<Pubkey, u64> = HashMap::new();
    while finalized.len() < jobs {
        let slot = chain.clock().await.unwrap().slot;
        let live: HashMap<Pubkey, JobState> = accounts::list_jobs(&*chain, &w.market.market, None)
            .await
            .unwrap()
            .into_iter()
            .map(|(k, j)| (k, j.state))
            .collect();
        for key in posted.keys() {
            match live.get(key) {
                Some(JobState::Claimed) => {
                    claimed.entry(*key).or_insert(slot);
                }
                Some(JobState::Submitted) => {
                    claimed.entry(*key).or_insert(slot);
                    submitted.entry(*key).or_insert(slot);
                }
                None => {
                    finalized.entry(*key).or_insert(slot);
                }
                _ => {}
            }
        }
        crank_once(&sender, &cranker.key, &w.market.market)
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "benchmark stalled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let tx = counting.landed() - tx_before;
    let _ = stop.send(true);
    for d in daemons {
        let _ = d.await;
    }
    let post_to_claim = median(
        posted
            .iter()
            .filter_map(|(k, p)| claimed.get(k).map(|c| c.saturating_sub(*p)))
            .collect(),
    );
    let submit_to_finalize = median(
        submitted
            .iter()
            .filter_map(|(k, s)| finalized.get(k).map(|f| f.saturating_sub(*s)))
            .collect(),
    );
    Run {
        workers,
        jobs,
        seconds,
        tx_per_job: tx as f64 / jobs as f64,
        post_to_claim,
        submit_to_finalize,
    }
}

fn main() {
    let jobs: usize = std::env::var("JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let counts: Vec<usize> = std::env::var("WORKERS")
        .ok()
        .map(|s| {
            s.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1, 2, 4]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("lifecycle on the embedded chain: {jobs} gemm-i8 64^3 jobs, 1 s challenge window, slots of 400 ms");
    println!(
        "{:>7}  {:>10}  {:>13}  {:>8}  {:>16}  {:>20}",
        "workers", "jobs/s", "vs 1 worker", "tx/job", "post->claim slots", "submit->final slots"
    );
    let mut baseline = None;
    for n in counts {
        let r = rt.block_on(run(n, jobs));
        let rate = r.jobs as f64 / r.seconds;
        let base = *baseline.get_or_insert(rate);
        println!(
            "{:>7}  {:>10.2}  {:>12.2}x  {:>8.2}  {:>16}  {:>20}",
            r.workers,
            rate,
            rate / base,
            r.tx_per_job,
            r.post_to_claim,
            r.submit_to_finalize
        );
    }
}
