//! The worker under attack (issue 10): jobs built to get an honest worker's
//! bond slashed, or to make it read, hold or wait for what it should not. Each
//! test states the attack and asserts that no bond is risked (the job stays
//! open, nothing is locked) or that it is lost at most once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gpu_market::state::JobState;
use gpu_market_blobs::{BlobError, BlobRef, BlobStore, Hash32};
use gpu_market_client::buyer;
use gpu_market_client::chain::embedded::EmbeddedChain;
use gpu_market_client::Pubkey;
use gpu_market_compute::exec::{CpuExecutor, DeviceInfo, ExecError, ExecOutput, Executor, Inputs};
use gpu_market_compute::spec::{JobSpec, NamedBlob, Workload, SPEC_VERSION};
use gpu_market_tests::*;
use gpu_market_worker::{
    JobError, PrepareError, SpecStore, UriPolicy, Worker, WorkerConfig, WorkerError,
};

/// A blob store that passes through to a local directory, counts what is
/// fetched, stalls forever on some URIs and moves the chain's clock while it
/// fetches others (a slow download, seen from the chain).
struct Store {
    inner: Arc<dyn BlobStore>,
    gets: Mutex<HashMap<String, usize>>,
    stall: Mutex<HashSet<String>>,
    slow: Mutex<HashMap<String, i64>>,
    chain: Arc<EmbeddedChain>,
}

impl Store {
    fn gets_of(&self, uri: &str) -> usize {
        self.gets.lock().unwrap().get(uri).copied().unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl BlobStore for Store {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        self.inner.put(bytes).await
    }
    async fn get(&self, uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
        *self.gets.lock().unwrap().entry(uri.into()).or_default() += 1;
        if self.stall.lock().unwrap().contains(uri) {
            std::future::pending::<()>().await;
        }
        let slow = self.slow.lock().unwrap().get(uri).copied();
        if let Some(seconds) = slow {
            self.chain.advance(seconds).await.unwrap();
        }
        self.inner.get(uri, sha256).await
    }
    async fn exists(&self, sha256: &Hash32) -> Result<bool, BlobError> {
        self.inner.exists(sha256).await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The execution fails (a kernel that faults).
    Fails,
    /// The execution never returns until released (a kernel that loops).
    Hangs,
    /// The executor's own check refuses the job (a kernel that does not compile).
    DoesNotCompile,
}

/// The CPU executor, with one fault injected into every job.
struct Faulty {
    cpu: CpuExecutor,
    fault: Fault,
    started: AtomicUsize,
    finished: AtomicUsize,
    release: AtomicBool,
}

impl Faulty {
    fn new(fault: Fault) -> Arc<Self> {
        Arc::new(Faulty {
            cpu: CpuExecutor::with_threads(1),
            fault,
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            release: AtomicBool::new(false),
        })
    }
}

impl Executor for Faulty {
    fn device(&self) -> &DeviceInfo {
        self.cpu.device()
    }
    fn supports(&self, w: &Workload) -> bool {
        self.cpu.supports(w)
    }
    fn check(&self, w: &Workload, inputs: &Inputs) -> Result<(), ExecError> {
        if self.fault == Fault::DoesNotCompile {
            return Err(ExecError::Compile {
                log: "job.cu(3): error: expected a \";\" (injected)".into(),
            });
        }
        self.cpu.check(w, inputs)
    }
    fn execute(&self, _: &Workload, _: &Inputs) -> Result<ExecOutput, ExecError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        if self.fault == Fault::Hangs {
            let until = std::time::Instant::now() + Duration::from_secs(60);
            while !self.release.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        Err(ExecError::Driver {
            during: "kernel execution",
            message: "CUDA_ERROR_ILLEGAL_ADDRESS (injected)".into(),
        })
    }
}

struct Setup {
    w: World,
    store: Arc<Store>,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let inner = gpu_market_blobs::open(dir.path().join("blobs").to_str().unwrap()).unwrap();
    let w = World::new().await;
    let store = Arc::new(Store {
        inner,
        gets: Mutex::default(),
        stall: Mutex::default(),
        slow: Mutex::default(),
        chain: w.chain.clone(),
    });
    Setup { w, store, dir }
}

impl Setup {
    fn config(&self, p: &ProviderHandle, journal: &str) -> WorkerConfig {
        let mut cfg = WorkerConfig::new(
            self.w.market.market,
            p.owner.pubkey(),
            self.dir.path().join(journal),
        );
        cfg.max_concurrent = 4;
        // The stores here are local directories (file:// URIs).
        cfg.uri_policy = UriPolicy::local();
        cfg
    }

    async fn worker(
        &self,
        cfg: WorkerConfig,
        p: &ProviderHandle,
        executor: Arc<dyn Executor>,
    ) -> Arc<Worker> {
        Worker::new(
            cfg,
            self.w.sender.clone(),
            p.worker.insecure_clone(),
            executor,
            self.store.clone(),
        )
        .await
        .unwrap()
    }

    async fn gemm_spec(&self, m: u32, nonce: u64) -> JobSpec {
        buyer::gemm_spec(&*self.store, Workload::GemmI8 { m, n: 20, k: 17 }, nonce)
            .await
            .unwrap()
    }

    /// Posts a job whose spec is exactly `bytes` (with the GEMM commitment of its inputs
    /// when it is a GEMM spec whose inputs exist, so that the worker's commitment check
    /// passes and each test meets the defence it is about).
    async fn post_bytes(
        &self,
        buyer_w: &Wallet,
        bytes: &[u8],
        nonce: u64,
        price: u64,
        deadline: i64,
    ) -> Pubkey {
        let stored = self.store.put(bytes).await.unwrap();
        let mut args = self.w.post_args(nonce, price, deadline);
        args.spec_hash = stored.sha256.0;
        args.spec_uri = stored.uri;
        if let Some(gemm) = commitment_of(bytes).await {
            args.gemm = Some(gemm);
        }
        let (ix, job) = gpu_market_client::ix::job_post(
            &self.w.market,
            buyer_w.pubkey(),
            buyer_w.payment,
            args,
        );
        self.w.send(&[ix], &[&buyer_w.key]).await.unwrap();
        job
    }

    async fn post(&self, buyer_w: &Wallet, spec: &JobSpec, nonce: u64, price: u64) -> Pubkey {
        let deadline = self.w.now().await + 3_600;
        self.post_bytes(buyer_w, &spec.to_bytes().unwrap(), nonce, price, deadline)
            .await
    }

    /// One tick and everything it started, within a bound (a worker that
    /// waits on a stalled store or a hung execution fails the test).
    async fn tick(&self, worker: &Arc<Worker>) -> Vec<WorkerError> {
        tokio::time::timeout(Duration::from_secs(30), async {
            worker.tick().await.unwrap();
            worker.drain().await
        })
        .await
        .expect("the tick and its tasks finish")
    }

    async fn expire(&self, job: &Pubkey, cranker: &Wallet) {
        self.w.advance(self.w.params.claim_timeout + 1).await;
        self.w.expire(job, cranker).await.unwrap();
        assert_eq!(self.w.job(job).await.state, JobState::Open, "reopened");
    }
}

/// Issue 10, item 1. The attack: a buyer posts a job that cannot run after the
/// claim (its kernel faults, or never returns). The old worker claimed it,
/// failed, ran it again on every tick until its claim expired, was slashed, saw
/// it reopen and claimed it again, to be slashed again, until the deadline.
/// Now the failure is journaled: the worker neither runs nor claims that job
/// again (a restarted worker neither), so the stake is slashed once.
#[tokio::test]
async fn a_job_that_fails_or_hangs_after_the_claim_is_slashed_at_most_once() {
    for fault in [Fault::Fails, Fault::Hangs] {
        let s = setup().await;
        let p = s.w.register_provider(h100(), 50_000).await;
        let executor = Faulty::new(fault);
        let mut cfg = s.config(&p, "w.jsonl");
        cfg.execution_timeout = Some(Duration::from_millis(300));
        let worker = s.worker(cfg.clone(), &p, executor.clone()).await;
        let buyer_w = s.w.wallet(1_000_000, 0).await;
        let spec = s.gemm_spec(24, 1).await;
        let job = s.post(&buyer_w, &spec, 1, 1_000).await;

        let errors = s.tick(&worker).await;
        let named = errors.iter().any(|e| match (e, fault) {
            (WorkerError::Job { source, .. }, Fault::Fails) => {
                matches!(**source, JobError::Execution(ExecError::Driver { .. }))
            }
            (WorkerError::Job { source, .. }, _) => {
                matches!(**source, JobError::ExecutionTimedOut { .. })
            }
            _ => false,
        });
        assert!(named, "{fault:?}: {errors:?}");
        let j = s.w.job(&job).await;
        assert_eq!((j.state, j.attempts), (JobState::Claimed, 1), "{fault:?}");
        let bond = j.bond;
        if fault == Fault::Hangs {
            executor.release.store(true, Ordering::SeqCst);
            while executor.finished.load(Ordering::SeqCst) < 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }

        // Still ours and in time: not run again.
        s.tick(&worker).await;
        assert_eq!(
            executor.started.load(Ordering::SeqCst),
            1,
            "{fault:?}: run once"
        );

        // The claim expires and the job reopens: not claimed again, by this
        // worker or by a restarted one reading the same journal.
        s.expire(&job, &buyer_w).await;
        s.tick(&worker).await;
        drop(worker);
        let restarted = s.worker(cfg, &p, executor.clone()).await;
        restarted.resume().await.unwrap();
        s.tick(&restarted).await;
        let j = s.w.job(&job).await;
        assert_eq!(
            (j.state, j.attempts),
            (JobState::Open, 1),
            "{fault:?}: one claim"
        );
        assert_eq!(executor.started.load(Ordering::SeqCst), 1, "{fault:?}");
        let pr = s.w.provider(&p.key).await;
        assert_eq!(
            (pr.stake, pr.locked, pr.reputation.expired),
            (50_000 - bond, 0, 1),
            "{fault:?}: slashed once"
        );
        assert_eq!(restarted.stats().claims_sent, 0, "{fault:?}");
        s.w.assert_conservation().await;
    }
}

/// Issue 10, item 1 (a). The attack: a cuda-kernel job whose source does not
/// compile. The executor's check (NVRTC on a GPU) runs before the claim, so
/// the job is refused with no bond at risk.
#[tokio::test]
async fn a_job_the_executor_cannot_compile_is_refused_before_the_claim() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let executor = Faulty::new(Fault::DoesNotCompile);
    let worker = s
        .worker(s.config(&p, "w.jsonl"), &p, executor.clone())
        .await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let spec = s.gemm_spec(24, 1).await;
    let job = s.post(&buyer_w, &spec, 1, 1_000).await;
    s.tick(&worker).await;
    assert_eq!(s.w.job(&job).await.state, JobState::Open);
    assert_eq!(s.w.provider(&p.key).await.locked, 0);
    assert_eq!(worker.stats().rejected, 1);
    assert_eq!(executor.started.load(Ordering::SeqCst), 0);
}

/// Issue 10, item 2. The attack: a buyer posts with a deadline that leaves
/// just enough time at first sight, behind inputs that are slow to download;
/// the old worker claimed, could not finish, and the buyer expired the claim
/// and took the bond's buyer and reporter shares. Now the time a claim leaves
/// is read again after the inputs are fetched, and the job is not claimed.
/// Likewise a job too large for the provider's measured rate is refused from
/// its spec, before its inputs are even fetched.
#[tokio::test]
async fn a_job_the_worker_cannot_finish_in_time_is_not_claimed() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let worker = s
        .worker(
            s.config(&p, "w.jsonl"),
            &p,
            Arc::new(CpuExecutor::with_threads(1)),
        )
        .await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;

    // Tight: the window a claim gets is the deadline's 60 s; the first input
    // takes 57 s of chain time to fetch.
    let spec = s.gemm_spec(24, 1).await;
    s.store
        .slow
        .lock()
        .unwrap()
        .insert(spec.inputs[0].blob.uri.clone(), 57);
    let deadline = s.w.now().await + 60;
    let tight = s
        .post_bytes(&buyer_w, &spec.to_bytes().unwrap(), 1, 1_000, deadline)
        .await;
    s.tick(&worker).await;
    assert_eq!(
        s.store.gets_of(&spec.inputs[0].blob.uri),
        1,
        "the input was fetched"
    );
    let j = s.w.job(&tight).await;
    assert_eq!((j.state, j.attempts), (JobState::Open, 0), "not claimed");
    assert_eq!(s.w.provider(&p.key).await.locked, 0, "no bond risked");

    // Too big: a provider measured at 1 GFLOP/s and a 4096^3 gemm-i8
    // (1.4e11 operations, 137 s at that rate, 550 s with the safety factor).
    let mut slow_gpu = h100();
    slow_gpu.benchmark_gflops = 1;
    let slow = s.w.register_provider(slow_gpu, 50_000).await;
    let slow_worker = s
        .worker(
            s.config(&slow, "slow.jsonl"),
            &slow,
            Arc::new(CpuExecutor::with_threads(1)),
        )
        .await;
    let n = 4096u32;
    let input = |name: &str| NamedBlob {
        name: name.into(),
        blob: BlobRef {
            uri: format!("file:///nonexistent/{name}"),
            sha256: Hash32([9; 32]),
            len: n as u64 * n as u64,
        },
    };
    let big = JobSpec {
        version: SPEC_VERSION,
        workload: Workload::GemmI8 { m: n, n, k: n },
        inputs: vec![input("a"), input("b")],
    };
    let big_job = s.post(&buyer_w, &big, 2, 1_000).await;
    s.tick(&slow_worker).await;
    assert_eq!(s.w.job(&big_job).await.state, JobState::Open);
    assert_eq!(
        s.store.gets_of("file:///nonexistent/a"),
        0,
        "refused from its spec"
    );
    assert_eq!(slow_worker.stats().rejected, 1);
    assert_eq!(s.w.provider(&slow.key).await.locked, 0);
}

/// Issue 10, item 6. The attack needs no attacker: a blob store whose result
/// URIs are longer than the program's 200-byte cap makes every submission fail
/// after the claim, so every job is slashed. The worker refuses to start.
#[tokio::test]
async fn a_worker_whose_result_uris_exceed_the_cap_does_not_start() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let spec = s.gemm_spec(24, 1).await;
    let job = s.post(&buyer_w, &spec, 1, 1_000).await;
    let long = s.dir.path().join("b".repeat(100)).join("c".repeat(100));
    let long_store = gpu_market_blobs::open(long.to_str().unwrap()).unwrap();
    let started = Worker::new(
        s.config(&p, "w.jsonl"),
        s.w.sender.clone(),
        p.worker.insecure_clone(),
        Arc::new(CpuExecutor::with_threads(1)),
        long_store,
    )
    .await;
    let Err(e) = started else {
        panic!(
            "a worker with {}-byte result URIs started",
            long.as_os_str().len()
        );
    };
    assert!(
        matches!(e, WorkerError::ResultUriTooLong { len, max: 200, .. } if len > 200),
        "{e}"
    );
    assert!(
        e.to_string().contains("over the program's 200-byte cap"),
        "{e}"
    );
    assert_eq!(s.w.job(&job).await.state, JobState::Open, "nothing claimed");
    assert_eq!(s.w.provider(&p.key).await.locked, 0);
}

/// Issue 10, item 10: a spec padded to megabytes (valid JSON: whitespace), and
/// a spec declaring more input than the worker's memory budget. The old worker
/// downloaded both and claimed them. Now the first is refused by its size (read
/// bounded when a spec store with a limit is configured) and the second from its
/// declared sizes before any input is fetched.
#[tokio::test]
async fn an_oversized_spec_or_inputs_over_the_memory_budget_are_refused_unfetched() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let spec = s.gemm_spec(24, 1).await;
    let mut padded = spec.to_bytes().unwrap();
    padded.extend(std::iter::repeat_n(b' ', 3 << 20));
    assert!(JobSpec::from_bytes(&padded).is_ok(), "still a valid spec");
    let deadline = s.w.now().await + 3_600;
    let fat = s.post_bytes(&buyer_w, &padded, 1, 1_000, deadline).await;
    let bounded = gpu_market_blobs::open_with(
        s.dir.path().join("blobs").to_str().unwrap(),
        &gpu_market_blobs::BlobOptions {
            max_blob_size: 2 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    for spec_store in [None, Some(SpecStore(bounded))] {
        let mut cfg = s.config(&p, "w.jsonl");
        cfg.spec_store = spec_store;
        let worker = s
            .worker(cfg, &p, Arc::new(CpuExecutor::with_threads(1)))
            .await;
        s.tick(&worker).await;
        assert_eq!(s.w.job(&fat).await.state, JobState::Open);
        assert_eq!(worker.stats().rejected, 1);
    }

    // 24x17 + 17x20 bytes of inputs and a 24x20x4-byte output: 2,668 bytes.
    let spec = s.gemm_spec(24, 2).await;
    let heavy = s.post(&buyer_w, &spec, 2, 900).await;
    let mut cfg = s.config(&p, "m.jsonl");
    cfg.memory_budget_bytes = 2_000;
    let worker = s
        .worker(cfg, &p, Arc::new(CpuExecutor::with_threads(1)))
        .await;
    s.tick(&worker).await;
    assert_eq!(s.w.job(&heavy).await.state, JobState::Open);
    for input in &spec.inputs {
        assert_eq!(
            s.store.gets_of(&input.blob.uri),
            0,
            "{} never fetched",
            input.name
        );
    }
    assert_eq!(s.w.provider(&p.key).await.locked, 0);
}

/// Issue 10, item 10: a blob store that never answers for one job. The old
/// worker prepared claims inline in its tick, so one stalled download held up
/// every other claim and the crank. Now each claim prepares in its own task
/// within the fetch timeout: the other job is claimed and completed and a due
/// job is cranked while the stalled one waits, and the stalled one is only
/// given up for now.
#[tokio::test]
async fn a_stalled_blob_store_holds_up_only_its_own_job() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let other = s.w.register_provider(h100(), 50_000).await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    // Due for the crank: claimed and submitted by another provider, its
    // challenge window over.
    let due =
        s.w.post_job(&buyer_w, 9, 500, s.w.now().await + 3_600)
            .await;
    s.w.claim(&other, &due).await.unwrap();
    s.w.submit(&other, &due, 0).await.unwrap();
    s.w.advance(s.w.params.challenge_window + 1).await;

    let stalled_spec = s.gemm_spec(24, 1).await;
    let stalled_uri = s
        .store
        .put(&stalled_spec.to_bytes().unwrap())
        .await
        .unwrap()
        .uri;
    s.store.stall.lock().unwrap().insert(stalled_uri.clone());
    let stalled = s.post(&buyer_w, &stalled_spec, 1, 2_000).await;
    let fine = s.post(&buyer_w, &s.gemm_spec(16, 2).await, 2, 1_000).await;

    let mut cfg = s.config(&p, "w.jsonl");
    cfg.fetch_timeout = Duration::from_secs(2);
    cfg.crank = true;
    let worker = s
        .worker(cfg, &p, Arc::new(CpuExecutor::with_threads(1)))
        .await;
    let started = tokio::time::Instant::now();
    worker.tick().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the tick does not wait for downloads"
    );
    assert!(
        !s.w.job_exists(&due).await,
        "cranked while the download stalls"
    );
    let errors = s.tick(&worker).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(s.w.job(&fine).await.state, JobState::Submitted);
    assert_eq!(s.w.job(&stalled).await.state, JobState::Open, "not claimed");
    assert!(s.store.gets_of(&stalled_uri) >= 1);
    let st = worker.stats();
    assert!(st.fetch_timeouts >= 1, "{st:?}");
    assert_eq!(st.rejected, 0, "a stall is not a verdict on the job");
    // Once the store answers, the job is claimed after all.
    s.store.stall.lock().unwrap().clear();
    s.tick(&worker).await;
    assert_eq!(s.w.job(&stalled).await.state, JobState::Submitted);
}

/// Issue 10, item 10: chain-supplied URIs. The attack: a job whose spec is a
/// `file://` URI (the provider's key file, say) or a loopback address. A
/// worker with the default (strict) policy fetches neither and claims nothing.
#[tokio::test]
async fn a_strict_worker_does_not_fetch_local_files_or_loopback_addresses() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let spec = s.gemm_spec(24, 1).await;
    let local = s.post(&buyer_w, &spec, 1, 1_000).await;
    let spec_uri = s.w.job(&local).await.spec_uri;
    assert!(spec_uri.starts_with("file://"));
    let loopback = {
        let mut args = s.w.post_args(2, 1_000, s.w.now().await + 3_600);
        args.spec_uri = "https://127.0.0.1:8899/ab".into();
        let (ix, job) =
            gpu_market_client::ix::job_post(&s.w.market, buyer_w.pubkey(), buyer_w.payment, args);
        s.w.send(&[ix], &[&buyer_w.key]).await.unwrap();
        job
    };
    let mut cfg = s.config(&p, "w.jsonl");
    cfg.uri_policy = WorkerConfig::new(Pubkey::default(), Pubkey::default(), "x".into()).uri_policy;
    assert_eq!(cfg.uri_policy, UriPolicy::strict(), "strict by default");
    let worker = s
        .worker(cfg, &p, Arc::new(CpuExecutor::with_threads(1)))
        .await;
    s.tick(&worker).await;
    for job in [local, loopback] {
        assert_eq!(s.w.job(&job).await.state, JobState::Open);
    }
    assert_eq!(s.store.gets_of(&spec_uri), 0, "never read");
    assert_eq!(
        s.store.gets_of("https://127.0.0.1:8899/ab"),
        0,
        "never reached"
    );
    assert_eq!(worker.stats().rejected, 2);
}

/// Issue 10, item 10: the journal is keyed by posting. The attack: a job is
/// completed and closed, and its buyer posts a different job with the same
/// nonce, so at the same address. The old worker found the first job's
/// result in its journal under that address and submitted it for the new job
/// without computing anything. Now the new posting starts a history of its own.
#[tokio::test]
async fn a_reposted_job_at_a_reused_address_is_computed_afresh() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let worker = s
        .worker(
            s.config(&p, "w.jsonl"),
            &p,
            Arc::new(CpuExecutor::with_threads(1)),
        )
        .await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let first = s.post(&buyer_w, &s.gemm_spec(24, 1).await, 1, 1_000).await;
    s.tick(&worker).await;
    let old_root = s.w.job(&first).await.result_root;
    s.w.advance(s.w.params.challenge_window + 1).await;
    s.w.finalize(&first, &buyer_w).await.unwrap();
    assert!(!s.w.job_exists(&first).await);

    s.w.advance(5).await;
    let again = s.post(&buyer_w, &s.gemm_spec(16, 1).await, 1, 1_000).await;
    assert_eq!(again, first, "the same address");
    s.tick(&worker).await;
    let j = s.w.job(&again).await;
    assert_eq!(j.state, JobState::Submitted);
    assert_ne!(j.result_root, old_root, "not the old job's result");
    assert_eq!(worker.stats().executed, 2, "computed afresh");
}

/// The named errors a refused preparation carries, as an operator reads them.
#[test]
fn refusals_name_their_cause() {
    let e = PrepareError::TooLittleTime { left: 3, needed: 6 };
    assert_eq!(
        e.to_string(),
        "a claim now leaves 3 s to submit, the job needs 6 s"
    );
    assert!(!e.is_transient());
    let e = PrepareError::FetchTimedOut {
        what: "the spec and inputs".into(),
        after: Duration::from_secs(2),
    };
    assert!(e.is_transient());
}

/// The on-chain commitment of a GEMM spec's inputs, read around the test's counting store.
async fn commitment_of(bytes: &[u8]) -> Option<gpu_market::state::GemmCommitment> {
    let spec = JobSpec::from_bytes(bytes).ok()?;
    let (m, n, k) = spec.workload.gemm_dims()?;
    let (a, b) = (spec.input("a")?, spec.input("b")?);
    let a = gpu_market_blobs::fetch(&a.uri, &a.sha256).await.ok()?;
    let b = gpu_market_blobs::fetch(&b.uri, &b.sha256).await.ok()?;
    let roots = gpu_market_compute::commit::gemm_input_roots(&spec.workload, &a, &b).ok()?;
    Some(gpu_market::state::GemmCommitment {
        m,
        n,
        k,
        a_root: roots.a_root.0,
        b_root: roots.b_root.0,
    })
}

/// A DNS server for the tests: each name answers from a list, the first
/// answer first, then the next (the last one repeats), so it can rebind; a
/// name not listed does not resolve. Counts the lookups per name.
struct Dns {
    answers: HashMap<&'static str, Vec<Vec<std::net::IpAddr>>>,
    lookups: Mutex<HashMap<String, usize>>,
}

impl Dns {
    fn new(answers: &[(&'static str, &[&[&str]])]) -> Arc<Self> {
        let answers = answers
            .iter()
            .map(|(host, seq)| {
                let seq = seq
                    .iter()
                    .map(|ips| ips.iter().map(|ip| ip.parse().unwrap()).collect())
                    .collect();
                (*host, seq)
            })
            .collect();
        Arc::new(Dns {
            answers,
            lookups: Mutex::default(),
        })
    }

    fn lookups_of(&self, host: &str) -> usize {
        self.lookups.lock().unwrap().get(host).copied().unwrap_or(0)
    }
}

impl gpu_market_worker::policy::Resolve for Dns {
    fn lookup<'a>(&'a self, host: &'a str) -> gpu_market_worker::policy::Lookup<'a> {
        let n = {
            let mut lookups = self.lookups.lock().unwrap();
            let n = lookups.entry(host.to_string()).or_default();
            *n += 1;
            *n
        };
        let answer = self
            .answers
            .get(host)
            .map(|seq| seq[(n - 1).min(seq.len() - 1)].clone());
        Box::pin(async move {
            answer.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "NXDOMAIN"))
        })
    }
}

/// A policy that fetches `file://` (the test's local store) and http(s), from
/// public addresses only: what the DNS attacks below are up against.
fn public_only() -> UriPolicy {
    UriPolicy {
        schemes: vec!["https".into(), "http".into(), "file".into()],
        hosts: None,
        allow_private: false,
    }
}

/// A TCP port on 127.0.0.1 that counts the connections made to it and closes
/// them: the private service an attacker wants the worker to reach.
async fn private_service() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let reached = Arc::new(AtomicUsize::new(0));
    let count = reached.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, reached)
}

/// Issue 10, item 10: host names are resolved. The attack: URIs whose host is
/// a public-looking name that resolves to a private address, one for a spec
/// (`internal.example`, 10.0.0.5) and one for an input (`localtest.me`,
/// 127.0.0.1), behind a worker that refuses private addresses. The old policy
/// checked only literal hosts and passed both. Now each name is looked up
/// and refused before anything is fetched; neither job is claimed.
#[tokio::test]
async fn names_that_resolve_to_private_addresses_are_refused_unfetched() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let dns = Dns::new(&[
        ("internal.example", &[&["10.0.0.5"]]),
        ("localtest.me", &[&["127.0.0.1"]]),
    ]);

    let spec_uri = "https://internal.example/spec".to_string();
    let by_spec = {
        let mut args = s.w.post_args(1, 1_000, s.w.now().await + 3_600);
        args.spec_uri = spec_uri.clone();
        let (ix, job) =
            gpu_market_client::ix::job_post(&s.w.market, buyer_w.pubkey(), buyer_w.payment, args);
        s.w.send(&[ix], &[&buyer_w.key]).await.unwrap();
        job
    };
    let mut spec = s.gemm_spec(24, 2).await;
    let input_uri = format!(
        "http://localtest.me:9000/{}",
        spec.inputs[0].blob.sha256.to_hex()
    );
    spec.inputs[0].blob.uri = input_uri.clone();
    let by_input = s.post(&buyer_w, &spec, 2, 1_000).await;

    let mut cfg = s.config(&p, "w.jsonl");
    cfg.uri_policy = public_only();
    cfg.resolver = gpu_market_worker::policy::Resolver(dns.clone());
    let worker = s
        .worker(cfg, &p, Arc::new(CpuExecutor::with_threads(1)))
        .await;
    s.tick(&worker).await;
    for job in [by_spec, by_input] {
        let j = s.w.job(&job).await;
        assert_eq!((j.state, j.attempts), (JobState::Open, 0), "not claimed");
    }
    assert_eq!(s.store.gets_of(&spec_uri), 0, "the spec never fetched");
    assert_eq!(s.store.gets_of(&input_uri), 0, "the input never fetched");
    assert!(dns.lookups_of("internal.example") >= 1);
    assert!(dns.lookups_of("localtest.me") >= 1);
    assert_eq!(worker.stats().rejected, 2);
    assert_eq!(s.w.provider(&p.key).await.locked, 0, "no bond risked");
}

/// Issue 10, item 10: DNS rebinding. The attack: a DNS server that answers
/// the worker's check of `rebind.test` with a public address (203.0.113.7,
/// unroutable documentation space) and every later lookup with 127.0.0.1,
/// where a private service listens on the URI's port. A worker that checked
/// the name and then let the download resolve it again would connect to the
/// private service. Now the download connects only to the address that was
/// checked: each preparation looks the name up once and hands the fetch that
/// answer to connect to (a pinned fetch connects nowhere else: the blob
/// crate's `a_pinned_read_connects_only_to_its_pinned_address`); a later
/// preparation sees, and refuses, the private answer. The private service is
/// never reached, and the job (whose spec never arrived) is not claimed.
#[tokio::test]
async fn a_rebinding_name_cannot_steer_the_fetch_to_a_private_address() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let (port, reached) = private_service().await;
    let dns = Dns::new(&[("rebind.test", &[&["203.0.113.7"], &["127.0.0.1"]])]);
    let spec = s.gemm_spec(24, 1).await.to_bytes().unwrap();
    let spec_hash = gpu_market_blobs::sha256(&spec);
    let uri = format!("http://rebind.test:{port}/{}", spec_hash.to_hex());
    let job = {
        let mut args = s.w.post_args(1, 1_000, s.w.now().await + 3_600);
        args.spec_uri = uri.clone();
        args.spec_hash = spec_hash.0;
        let (ix, job) =
            gpu_market_client::ix::job_post(&s.w.market, buyer_w.pubkey(), buyer_w.payment, args);
        s.w.send(&[ix], &[&buyer_w.key]).await.unwrap();
        job
    };

    // The worker's own blob store, which streams and pins (the counting
    // wrapper of the other tests reads whole and cannot pin).
    let quick = gpu_market_blobs::BlobOptions {
        max_retries: 0,
        connect_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let blobs = Arc::new(RecordsPins {
        inner: gpu_market_blobs::open_with(s.dir.path().join("own").to_str().unwrap(), &quick)
            .unwrap(),
        seen: Mutex::default(),
    });
    let mut cfg = s.config(&p, "w.jsonl");
    cfg.uri_policy = public_only();
    cfg.resolver = gpu_market_worker::policy::Resolver(dns.clone());
    let worker = Worker::new(
        cfg,
        s.w.sender.clone(),
        p.worker.insecure_clone(),
        Arc::new(CpuExecutor::with_threads(1)),
        blobs.clone(),
    )
    .await
    .unwrap();
    s.tick(&worker).await;
    s.tick(&worker).await;
    // Each preparation checks the name once and fetches what it checked: the
    // first, to the public answer (unreachable); a later one (the job is tried
    // again, its store having been unreachable) gets the private answer, and
    // is refused without fetching.
    let seen = blobs.seen.lock().unwrap().clone();
    let pinned = gpu_market_blobs::Connect::Pinned(vec!["203.0.113.7".parse().unwrap()]);
    assert!(!seen.is_empty(), "the spec fetch was attempted");
    assert!(
        seen.iter().all(|(u, c)| *u == uri && *c == pinned),
        "every fetch was told to connect only to the checked answer: {seen:?}"
    );
    assert!(
        seen.len() <= dns.lookups_of("rebind.test"),
        "no fetch without a check of its own"
    );
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the private service was never reached"
    );
    let j = s.w.job(&job).await;
    assert_eq!((j.state, j.attempts), (JobState::Open, 0), "not claimed");
    assert_eq!(s.w.provider(&p.key).await.locked, 0);

    // The control: a fetch that does connect where the second answer says
    // reaches the service, so the zero above is the pin's doing.
    let _ = gpu_market_blobs::fetch_to(
        &uri,
        &spec_hash,
        gpu_market_blobs::Len::AtMost(1 << 20),
        &gpu_market_blobs::Connect::Pinned(vec!["127.0.0.1".parse().unwrap()]),
        &quick,
        &mut Vec::new(),
    )
    .await;
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}

/// The worker's blob store, recording where each streamed read was told it
/// may connect.
struct RecordsPins {
    inner: Arc<dyn BlobStore>,
    seen: Mutex<Vec<(String, gpu_market_blobs::Connect)>>,
}

#[async_trait::async_trait]
impl BlobStore for RecordsPins {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        self.inner.put(bytes).await
    }
    async fn get(&self, uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
        self.inner.get(uri, sha256).await
    }
    async fn get_to(
        &self,
        uri: &str,
        sha256: &Hash32,
        len: gpu_market_blobs::Len,
        connect: &gpu_market_blobs::Connect,
        sink: &mut gpu_market_blobs::Sink<'_>,
    ) -> Result<u64, BlobError> {
        self.seen
            .lock()
            .unwrap()
            .push((uri.to_string(), connect.clone()));
        self.inner.get_to(uri, sha256, len, connect, sink).await
    }
    async fn exists(&self, sha256: &Hash32) -> Result<bool, BlobError> {
        self.inner.exists(sha256).await
    }
}

/// An HTTP server on 127.0.0.1 that answers every request with a body of 64
/// KiB chunks: chunked and never ending (`announce: None`), or announcing
/// (and sending) `announce` bytes. Counts the bytes it got out and the
/// connections that ended (sent in full, or the reader hung up).
async fn hostile_store(
    announce: Option<u64>,
) -> (u16, Arc<std::sync::atomic::AtomicU64>, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let (sent2, ended2) = (sent.clone(), ended.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (sent, ended) = (sent2.clone(), ended2.clone());
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let block = vec![7u8; 64 << 10];
                let (head, chunk) = match announce {
                    None => {
                        let mut chunk = format!("{:x}\r\n", block.len()).into_bytes();
                        chunk.extend(&block);
                        chunk.extend(b"\r\n");
                        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                        (head.to_string(), chunk)
                    }
                    Some(len) => (
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n"),
                        block,
                    ),
                };
                if socket.write_all(head.as_bytes()).await.is_ok() {
                    let total = announce.unwrap_or(u64::MAX);
                    while sent.load(Ordering::SeqCst) < total
                        && socket.write_all(&chunk).await.is_ok()
                    {
                        sent.fetch_add(64 << 10, Ordering::SeqCst);
                    }
                }
                ended.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (port, sent, ended)
}

/// Issue 10, item 10: inputs are streamed to disk. The attacks: jobs whose
/// input "a" is declared as 408 bytes (24 x 17), on a store that announces
/// and sends 256 MiB, and on one that sends a chunked body that never ends.
/// The old worker read an input into memory up to its blob limit (gigabytes)
/// before comparing it with the declared length, so it took in all 256 MiB.
/// Now inputs are streamed to a file: the announced length is refused before
/// the body is read, the endless body is cut at the first chunk past 408
/// bytes, the worker hangs up on both after a few megabytes (socket buffers),
/// neither job is claimed, and the preparation's directory is gone. An honest
/// job prepared by the same worker runs, and leaves no directory behind
/// either; what a killed worker left in its work directory is swept, and
/// nothing else there is touched.
#[tokio::test]
async fn an_over_long_or_endless_input_is_cut_at_its_declared_length_and_not_claimed() {
    let s = setup().await;
    let p = s.w.register_provider(h100(), 50_000).await;
    let buyer_w = s.w.wallet(1_000_000, 0).await;
    let stores = [
        hostile_store(Some(256 << 20)).await,
        hostile_store(None).await,
    ];
    let mut hostile = Vec::new();
    for (i, (port, ..)) in stores.iter().enumerate() {
        let nonce = 1 + i as u64;
        let mut spec = s.gemm_spec(24, nonce).await;
        assert_eq!(spec.inputs[0].blob.len, 24 * 17);
        spec.inputs[0].blob.uri = format!("http://127.0.0.1:{port}/a");
        let bytes = spec.to_bytes().unwrap();
        let stored = s.store.put(&bytes).await.unwrap();
        let mut args = s.w.post_args(nonce, 2_000, s.w.now().await + 3_600);
        args.spec_hash = stored.sha256.0;
        args.spec_uri = stored.uri;
        let (ix, job) =
            gpu_market_client::ix::job_post(&s.w.market, buyer_w.pubkey(), buyer_w.payment, args);
        s.w.send(&[ix], &[&buyer_w.key]).await.unwrap();
        hostile.push(job);
    }
    let honest = s.post(&buyer_w, &s.gemm_spec(16, 3).await, 3, 1_000).await;

    let cfg = s.config(&p, "w.jsonl");
    let work = cfg.work_dir.clone();
    let leftover = work.join(format!("{}-1-0", Pubkey::new_unique()));
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(
        leftover.join("input-0"),
        b"a killed worker's partial download",
    )
    .unwrap();
    std::fs::write(work.join("keep.txt"), b"not the worker's").unwrap();
    // The worker's own blob store, which streams (the counting wrapper of the
    // other tests reads whole).
    let blobs = gpu_market_blobs::open(s.dir.path().join("own").to_str().unwrap()).unwrap();
    let worker = Worker::new(
        cfg,
        s.w.sender.clone(),
        p.worker.insecure_clone(),
        Arc::new(CpuExecutor::with_threads(1)),
        blobs,
    )
    .await
    .unwrap();
    s.tick(&worker).await;

    for job in &hostile {
        let j = s.w.job(job).await;
        assert_eq!((j.state, j.attempts), (JobState::Open, 0), "not claimed");
    }
    assert_eq!(s.w.job(&honest).await.state, JobState::Submitted);
    assert_eq!(worker.stats().rejected, 2);
    for (i, (_, sent, ended)) in stores.iter().enumerate() {
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        while ended.load(Ordering::SeqCst) == 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(ended.load(Ordering::SeqCst), 1, "store {i}: hung up on");
        let got_out = sent.load(Ordering::SeqCst);
        assert!(
            got_out < 64 << 20,
            "store {i}: {got_out} bytes of its body read"
        );
    }
    let left: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["keep.txt".to_string()], "only what is not ours");
}
