//! Executor utilization under a saturating queue, on the embedded chain
//! (real-time clock) with the CPU executor. A buyer posts a queue of equal
//! gemm-i8 jobs sized to take about a second each; one worker runs them all,
//! reading every spec and input through a blob store that waits `FETCH_MS`
//! before each read (a remote store's latency). The same queue runs twice in
//! one process: with preparation overlapped (the default) and with it
//! disabled (`prefetch_bytes = 0`: each job prepared, claimed, run and
//! submitted before the next is prepared). For each it prints the executor's
//! busy fraction from the first claim to the last submission, and the
//! market's overhead per job (fetch, claim, commit, upload, submit) as a
//! fraction of the mean execution time.
//!
//! `cargo bench -p gpu-market-worker --bench utilization`
//! (env: JOBS=10, FETCH_MS=100, EXEC_MS=1000 (target execution time), THREADS=1).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gpu_market::state::{JobRequirements, MarketParams};
use gpu_market::ProviderUpdateArgs;
use gpu_market_blobs::{BlobError, BlobRef, BlobStore, Hash32};
use gpu_market_client::buyer;
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::Chain;
use gpu_market_client::ix;
use gpu_market_compute::exec::{CpuExecutor, Executor, Inputs};
use gpu_market_compute::spec::{random_i8_matrix, Workload};
use gpu_market_tests::{default_params, h100, World};
use gpu_market_worker::timing::{covered, Phase, Span};
use gpu_market_worker::{Worker, WorkerConfig};

/// A blob store whose reads take `delay` longer: what a remote store costs.
struct SlowReads {
    inner: Arc<dyn BlobStore>,
    delay: Duration,
}

#[async_trait::async_trait]
impl BlobStore for SlowReads {
    fn describe(&self) -> String {
        format!("{} (+{:?} per read)", self.inner.describe(), self.delay)
    }
    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        self.inner.put(bytes).await
    }
    async fn get(&self, uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
        tokio::time::sleep(self.delay).await;
        self.inner.get(uri, sha256).await
    }
    async fn exists(&self, sha256: &Hash32) -> Result<bool, BlobError> {
        self.inner.exists(sha256).await
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The square gemm-i8 size whose execution takes about `target` here.
fn calibrate(executor: &dyn Executor, target: Duration) -> (u32, Duration) {
    let time = |n: u32| {
        let w = Workload::GemmI8 { m: n, n, k: n };
        let mut inputs = Inputs::new();
        inputs.insert("a".into(), random_i8_matrix(1, n, n));
        inputs.insert("b".into(), random_i8_matrix(2, n, n));
        executor.execute(&w, &inputs).unwrap().device_time
    };
    let probe = 512u32;
    let _ = time(probe);
    let t = time(probe).as_secs_f64();
    let scale = (target.as_secs_f64() / t).cbrt();
    let n = (((probe as f64 * scale) / 64.0).round() as u32).max(1) * 64;
    (n, time(n))
}

struct Report {
    busy: f64,
    seconds: f64,
    exec_mean: f64,
    /// Mean seconds per job of each phase.
    phases: Vec<(Phase, f64)>,
}

fn mean_of(spans: &[Span], phase: Phase, jobs: usize) -> f64 {
    spans
        .iter()
        .filter(|s| s.phase == phase)
        .map(Span::seconds)
        .sum::<f64>()
        / jobs as f64
}

async fn run(prefetch: bool, jobs: usize, n: u32, fetch_delay: Duration, threads: usize) -> Report {
    let chain = EmbeddedChain::start(ClockMode::RealTime).await.unwrap();
    let params = MarketParams {
        claim_timeout: 600,
        challenge_window: 60,
        dispute_timeout: 1,
        unstake_cooldown: 120,
        ..default_params()
    };
    let w = World::on_chain(chain.clone(), params, true).await;
    let dir = tempfile::tempdir().unwrap();
    let store = gpu_market_blobs::open(dir.path().join("blobs").to_str().unwrap()).unwrap();
    let slow: Arc<dyn BlobStore> = Arc::new(SlowReads {
        inner: store.clone(),
        delay: fetch_delay,
    });
    let p = w.register_provider(h100(), 1_000_000_000).await;
    // Room on chain for the whole queue (bonds stay locked until finalized).
    let update = ix::provider_update(
        w.market.market,
        p.owner.pubkey(),
        None,
        ProviderUpdateArgs {
            worker: None,
            price_floor: None,
            max_concurrent: Some(u16::MAX),
            gpu: None,
        },
    );
    w.send(&[update], &[&p.owner.key]).await.unwrap();

    // The queue is posted before the worker starts: it is saturated throughout.
    let buyer_w = w.wallet(u64::MAX / 4, 0).await;
    let deadline = chain.clock().await.unwrap().unix_timestamp + 3_600;
    for nonce in 0..jobs as u64 {
        let spec = buyer::gemm_spec(&*store, Workload::GemmI8 { m: n, n, k: n }, nonce)
            .await
            .unwrap();
        buyer::post(
            &w.sender,
            &buyer_w.key,
            &w.market,
            &*store,
            &spec,
            nonce,
            1_000,
            deadline,
            JobRequirements::default(),
            // The test market's own terms; no cap on the escrow.
            u64::MAX,
        )
        .await
        .unwrap();
    }

    let mut cfg = WorkerConfig::new(
        w.market.market,
        p.owner.pubkey(),
        dir.path().join("w.jsonl"),
    );
    // The stores here are local directories (file:// URIs).
    cfg.uri_policy = gpu_market_worker::UriPolicy::local();
    cfg.reconcile_every = Duration::from_millis(500);
    cfg.heartbeat_every = Duration::from_secs(3_600);
    cfg.max_concurrent = 2;
    cfg.min_time_to_submit = 1;
    if !prefetch {
        cfg.prefetch_bytes = 0;
    }
    let worker = Worker::new(
        cfg,
        w.sender.clone(),
        p.worker.insecure_clone(),
        Arc::new(CpuExecutor::with_threads(threads)),
        slow,
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let daemon = tokio::spawn(worker.clone().run(rx));
    while worker.stats().submits_landed < jobs as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "benchmark stalled: {:?}",
            worker.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    let stats = daemon.await.unwrap().unwrap();
    assert_eq!(stats.executed, jobs as u64, "every job executed once");

    let spans = worker.timeline();
    let first_claim = spans
        .iter()
        .filter(|s| s.phase == Phase::Claim)
        .map(|s| s.start)
        .min()
        .unwrap();
    let last_submit = spans
        .iter()
        .filter(|s| s.phase == Phase::Submit)
        .map(|s| s.end)
        .max()
        .unwrap();
    let busy = covered(
        spans
            .iter()
            .filter(|s| s.phase == Phase::Execute)
            .map(|s| (s.start, s.end)),
        first_claim,
        last_submit,
    );
    let exec_mean = mean_of(&spans, Phase::Execute, jobs);
    let phases = [
        Phase::Prepare,
        Phase::Claim,
        Phase::Commit,
        Phase::Upload,
        Phase::Submit,
    ]
    .into_iter()
    .map(|ph| (ph, mean_of(&spans, ph, jobs)))
    .collect();
    Report {
        busy,
        seconds: last_submit.duration_since(first_claim).as_secs_f64(),
        exec_mean,
        phases,
    }
}

fn main() {
    let jobs: usize = env("JOBS", 10);
    let fetch_ms: u64 = env("FETCH_MS", 100);
    let exec_ms: u64 = env("EXEC_MS", 1_000);
    let threads: usize = env("THREADS", 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (n, t) = calibrate(
        &CpuExecutor::with_threads(threads),
        Duration::from_millis(exec_ms),
    );
    println!(
        "worker utilization: {jobs} gemm-i8 {n}^3 jobs ({:.2} s each on {threads} CPU thread(s)), \
         every blob read delayed {fetch_ms} ms (3 reads per job), max_concurrent 2",
        t.as_secs_f64()
    );
    println!(
        "{:<22} {:>6} {:>8} {:>8}   overhead per job / execution: {:>7} {:>7} {:>7} {:>7} {:>7}",
        "preparation", "busy", "span s", "exec s", "fetch", "claim", "commit", "upload", "submit"
    );
    for (name, prefetch) in [("overlapped (prefetch)", true), ("not overlapped", false)] {
        let r = rt.block_on(run(
            prefetch,
            jobs,
            n,
            Duration::from_millis(fetch_ms),
            threads,
        ));
        let frac: Vec<String> = r
            .phases
            .iter()
            .map(|(_, s)| format!("{:>6.1}%", 100.0 * s / r.exec_mean))
            .collect();
        println!(
            "{:<22} {:>5.1}% {:>8.2} {:>8.3}   {:>29} {}",
            name,
            100.0 * r.busy,
            r.seconds,
            r.exec_mean,
            "",
            frac.join(" ")
        );
    }
}
