//! The worker daemon: its settings, its state, and the I/O loop around its
//! pure decisions. Each tick reads one snapshot, asks the planner ([`plan`])
//! what to claim, resume and crank, and the prefetcher ([`prefetch`]) what to
//! prepare ahead; each claim runs in a task of its own, and each job is then
//! carried by a task that gathers the facts, asks [`lifecycle::next`] what to
//! do, does it, journals it, and asks again (`drive.rs`). Preparing
//! ([`crate::fetch`]), executing ([`crate::execute`]) and the worker's
//! transactions ([`crate::transactions`]) live beside this file, its settings
//! and counters in [`crate::config`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gpu_market::state::{Job, Provider, Segments, WorkloadKind};
use gpu_market_blobs::{BlobError, BlobStore, CheckpointStore};
use gpu_market_client::chain::AccountUpdate;
use gpu_market_client::error::ClientError;
use gpu_market_client::ix::{self, MarketKeys};
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, pda, Pubkey};
use gpu_market_compute::exec::Executor;
use solana_sdk::signature::{Keypair, Signer};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

pub use crate::config::{FailPoint, Stats, WorkerConfig};
pub use crate::error::{JobError, PrepareError, WorkerError};
pub use crate::execute::measure_gflops;
use crate::fetch::Prepared;
use crate::journal::{self as journal, Entry, Journal, Step};
use crate::lifecycle;
use crate::plan::{self, Action, Local, Snapshot};
use crate::prefetch::{self, Holdings};
use crate::segments::{SegmentJob, SegmentJournal};
use crate::timing::{Span, Timeline};

#[derive(Default)]
pub(crate) struct LocalState {
    /// Jobs a task is carrying (claimed and not yet submitted, or resuming).
    pub(crate) running: HashSet<Pubkey>,
    /// Jobs this worker cannot run; never claimed.
    pub(crate) rejected: HashSet<Pubkey>,
    /// Jobs a claim task is preparing and claiming (not yet carried).
    pub(crate) claiming: HashSet<Pubkey>,
    /// Postings (address, `posted_at`) that failed after this worker claimed
    /// them, from the journal: never claimed or run again.
    pub(crate) failed: HashSet<(Pubkey, i64)>,
    /// Jobs prepared (or being prepared) ahead of claiming.
    pub(crate) held: Holdings<Prepared>,
}

pub struct Worker {
    pub(crate) cfg: WorkerConfig,
    pub provider: Pubkey,
    pub(crate) market: MarketKeys,
    pub(crate) sender: Sender,
    pub(crate) key: Keypair,
    pub(crate) executor: Arc<dyn Executor>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    journal: Journal,
    history: Mutex<BTreeMap<Pubkey, Vec<Entry>>>,
    /// The posting (`posted_at`) of each job the worker journals steps for.
    pub(crate) postings: Mutex<HashMap<Pubkey, i64>>,
    pub(crate) local: Mutex<LocalState>,
    pub(crate) tasks: tokio::sync::Mutex<JoinSet<Result<(), WorkerError>>>,
    /// Claim tasks (prepare, claim, then carry the job), apart from `tasks`
    /// because they add the jobs they claim to it.
    claims: tokio::sync::Mutex<JoinSet<Result<(), WorkerError>>>,
    stats: Mutex<Stats>,
    pub(crate) accepting: AtomicBool,
    pub(crate) crashed: AtomicBool,
    /// Checkpoints of segmented jobs this worker trained and stored (`segmented.rs`).
    pub(crate) segment_journal: SegmentJournal,
    /// This worker's own copy of each checkpoint it trains.
    pub(crate) checkpoints: CheckpointStore,
    /// Segmented jobs prepared (spec and data checked), kept for their next segments.
    pub(crate) segment_jobs: Mutex<HashMap<Pubkey, SegmentJob>>,
    /// The worker key's own token accounts exist (see `ensure_crank_accounts`).
    pub(crate) crank_accounts_ready: AtomicBool,
    /// One execution on the device at a time: a queued job starts the moment
    /// the previous one's computation ends, while that one is committed,
    /// uploaded and submitted.
    pub(crate) lane: Arc<Semaphore>,
    /// Executions the worker stopped waiting for that still hold the device;
    /// nothing is claimed while there are any.
    pub(crate) wedged: Arc<AtomicUsize>,
    /// Referee duties in flight and the roots committed to (`referee.rs`).
    pub(crate) referee_book: Mutex<crate::referee::RefereeBook>,
    /// The provider's measured GEMM rate on chain, GFLOP/s (0: unknown).
    pub(crate) benchmark_gflops: AtomicU32,
    /// Pokes the daemon loop to tick now (a slot freed, a job got prepared).
    pub(crate) wake: Notify,
    /// The provider's GPU count on chain, which bounds metered time.
    pub(crate) gpu_count: AtomicU16,
    /// Workload kinds the executor runs (from the executor itself).
    kinds: Vec<u8>,
    pub(crate) timeline: Timeline,
}

pub(crate) type Result<T, E = WorkerError> = std::result::Result<T, E>;

impl Worker {
    /// Checks the provider is registered with this worker key and opens the journal.
    pub async fn new(
        cfg: WorkerConfig,
        sender: Sender,
        key: Keypair,
        executor: Arc<dyn Executor>,
        blobs: Arc<dyn BlobStore>,
    ) -> Result<Arc<Self>> {
        let chain = &*sender.chain;
        let market_state = accounts::fetch_market(chain, &cfg.market).await?;
        let provider = pda::provider(&cfg.market, &cfg.owner);
        let p = match accounts::fetch_provider(chain, &provider).await {
            Ok(p) => p,
            Err(ClientError::AccountNotFound(_)) => {
                return Err(WorkerError::NotRegistered {
                    provider,
                    market: cfg.market,
                })
            }
            Err(e) => return Err(e.into()),
        };
        if p.worker != key.pubkey() {
            return Err(WorkerError::WrongWorkerKey {
                key: key.pubkey(),
                provider,
                expected: p.worker,
            });
        }
        crate::store_check::check_result_uris(&*blobs).await?;
        let (journal, history) = Journal::open(&cfg.journal)?;
        let failed = history
            .iter()
            .flat_map(|(k, entries)| {
                journal::failed_postings(entries)
                    .into_iter()
                    .map(|p| (*k, p))
            })
            .collect();
        let mut kinds = crate::supported_kinds(&*executor);
        // Segmented training runs on the worker's own trainer, whatever the executor.
        kinds.push(WorkloadKind::TrainMlp.code());
        let segment_journal = SegmentJournal::open(cfg.journal.with_extension("segments"))?;
        let checkpoints = CheckpointStore::open(&cfg.checkpoint_dir.display().to_string())
            .map_err(WorkerError::Checkpoints)?;
        if cfg.cheat_wrong_results {
            tracing::warn!(
                provider = %provider,
                "TEST ONLY: cheat_wrong_results is on: this worker submits WRONG GEMM results on purpose, and loses every dispute over them (bond and stake slashed)"
            );
        }
        Ok(Arc::new(Worker {
            market: MarketKeys::new(cfg.market, &market_state),
            cfg,
            provider,
            sender,
            key,
            executor,
            blobs,
            journal,
            history: Mutex::new(history),
            postings: Mutex::new(HashMap::new()),
            local: Mutex::new(LocalState {
                failed,
                ..LocalState::default()
            }),
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
            claims: tokio::sync::Mutex::new(JoinSet::new()),
            stats: Mutex::new(Stats::default()),
            accepting: AtomicBool::new(true),
            crashed: AtomicBool::new(false),
            segment_journal,
            checkpoints,
            segment_jobs: Mutex::new(HashMap::new()),
            crank_accounts_ready: AtomicBool::new(false),
            lane: Arc::new(Semaphore::new(1)),
            wedged: Arc::new(AtomicUsize::new(0)),
            referee_book: Mutex::new(Default::default()),
            benchmark_gflops: AtomicU32::new(p.gpu.benchmark_gflops),
            wake: Notify::new(),
            gpu_count: AtomicU16::new(p.gpu.count),
            kinds,
            timeline: Timeline::default(),
        }))
    }

    pub fn stats(&self) -> Stats {
        self.stats.lock().unwrap().clone()
    }

    /// Phases of recent jobs (preparing, claiming, executing, ...), oldest first.
    pub fn timeline(&self) -> Vec<Span> {
        self.timeline.spans()
    }

    pub(crate) fn bump(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().unwrap());
    }

    /// Journals `step` for the posting of `job` the worker is carrying.
    pub(crate) fn record(&self, job: &Pubkey, step: Step) -> Result<()> {
        let posted_at = self.postings.lock().unwrap().get(job).copied();
        self.journal.record(job, posted_at, &step)?;
        self.history
            .lock()
            .unwrap()
            .entry(*job)
            .or_default()
            .push(Entry { posted_at, step });
        Ok(())
    }

    /// The posting of `key` the next steps are journaled for: the job's, as the
    /// chain last showed it (kept when the account is gone).
    pub(crate) fn set_posting(&self, key: Pubkey, job: Option<&Job>) {
        if let Some(j) = job {
            self.postings.lock().unwrap().insert(key, j.posted_at);
        }
    }

    /// The journaled steps of the posting of `job` the worker carries.
    pub(crate) fn history_of(&self, job: &Pubkey) -> Vec<Step> {
        let posted_at = self.postings.lock().unwrap().get(job).copied();
        self.history
            .lock()
            .unwrap()
            .get(job)
            .map(|entries| journal::generation(entries, posted_at))
            .unwrap_or_default()
    }

    pub(crate) fn fail(&self, at: FailPoint) -> Result<()> {
        if self.cfg.fail_point == Some(at) {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(WorkerError::Crashed(at));
        }
        Ok(())
    }

    pub(crate) fn check_alive(&self) -> Result<()> {
        if self.crashed.load(Ordering::SeqCst) {
            return Err(WorkerError::Crashed(
                self.cfg.fail_point.unwrap_or(FailPoint::AfterClaimSigned),
            ));
        }
        Ok(())
    }

    /// Registers the detected hardware (with a measured GEMM rate) and says
    /// which executor runs jobs.
    pub async fn announce(&self, benchmark_gflops: u32) -> Result<()> {
        let gpu = crate::descriptor(self.executor.device(), benchmark_gflops);
        let ix = ix::provider_heartbeat(self.provider, self.key.pubkey(), Some(gpu));
        self.sender.send(&[ix], &self.key, &[]).await?;
        self.bump(|s| s.heartbeats += 1);
        Ok(())
    }

    pub async fn heartbeat(&self) -> Result<()> {
        let ix = ix::provider_heartbeat(self.provider, self.key.pubkey(), None);
        self.sender.send(&[ix], &self.key, &[]).await?;
        self.bump(|s| s.heartbeats += 1);
        Ok(())
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let chain = &*self.sender.chain;
        let provider: Provider = accounts::fetch_provider(chain, &self.provider).await?;
        let market = accounts::fetch_market(chain, &self.cfg.market).await?;
        let jobs = accounts::list_jobs(chain, &self.cfg.market, None).await?;
        let now = chain.clock().await?.unix_timestamp;
        let segmented = gpu_market_client::crank::load_segments(chain, &jobs).await?;
        Ok(Snapshot {
            segmented,
            now,
            provider_key: self.provider,
            provider,
            min_stake: market.params.min_stake,
            jobs,
        })
    }

    fn local_view(&self) -> Local {
        let l = self.local.lock().unwrap();
        Local {
            // A job being claimed counts as carried (its slot is taken).
            running: l.running.union(&l.claiming).copied().collect(),
            rejected: l.rejected.clone(),
            failed: l.failed.clone(),
            kinds: self.kinds.clone(),
            max_concurrent: self.cfg.max_concurrent,
            price_floor: self.cfg.price_floor,
            min_time_to_submit: self.cfg.min_time_to_submit,
            crank: self.cfg.crank,
            // A device still held by an execution the worker gave up on takes no
            // new claims.
            accepting: self.accepting.load(Ordering::SeqCst)
                && self.wedged.load(Ordering::SeqCst) == 0,
            sequential: self.cfg.prefetch_bytes == 0,
        }
    }

    pub(crate) fn prefetch_limits(&self) -> prefetch::Limits {
        prefetch::Limits {
            budget_bytes: self.cfg.prefetch_bytes,
            ahead: self.cfg.max_concurrent.max(1),
            parallel: self.cfg.prefetch_parallel.max(1),
        }
    }

    /// One reconcile pass: read the chain, plan, act. Executions are spawned;
    /// [`Worker::drain`] waits for them.
    pub async fn tick(self: &Arc<Self>) -> Result<Vec<Action>> {
        self.check_alive()?;
        self.reap().await;
        let snapshot = self.snapshot().await?;
        self.gpu_count
            .store(snapshot.provider.gpu.count, Ordering::SeqCst);
        self.benchmark_gflops
            .store(snapshot.provider.gpu.benchmark_gflops, Ordering::SeqCst);
        let local = self.local_view();
        let actions = plan::plan(&snapshot, &local);
        let jobs: HashMap<Pubkey, &Job> = snapshot.jobs.iter().map(|(k, j)| (*k, j)).collect();
        let segmented: HashMap<Pubkey, &Segments> =
            snapshot.segmented.iter().map(|(k, s)| (*k, s)).collect();

        // Prepare ahead the candidates after those claimed now (which are
        // prepared as they are claimed), and forget jobs gone elsewhere.
        let claiming: HashSet<Pubkey> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Claim(k) => Some(*k),
                _ => None,
            })
            .collect();
        let candidates: Vec<Pubkey> = plan::candidates(&snapshot, &local)
            .iter()
            .map(|(k, _)| *k)
            .collect();
        let chosen = {
            let mut l = self.local.lock().unwrap();
            let open: HashSet<&Pubkey> = candidates.iter().collect();
            l.held.retain(|k| open.contains(k));
            let ahead: Vec<Pubkey> = candidates
                .iter()
                .filter(|k| !claiming.contains(k))
                .copied()
                .collect();
            let chosen = l.held.choose(&ahead, &self.prefetch_limits());
            for k in &chosen {
                l.held.start(*k);
            }
            chosen
        };
        for key in chosen {
            self.spawn_prefetch(key, jobs[&key].clone()).await;
        }

        let mut providers: Option<HashMap<Pubkey, Provider>> = None;
        for action in &actions {
            match *action {
                // In a task of its own: a stalled download holds up only this job.
                Action::Claim(key) => self.spawn_claim(key, jobs[&key].clone()).await,
                Action::Resume(key) => {
                    // Read again: the snapshot is from before this tick's plan, and a
                    // task carrying this job may have submitted it and stopped since;
                    // a stale `Claimed` would have the result submitted twice.
                    let job = accounts::fetch_job_opt(&*self.sender.chain, &key).await?;
                    self.spawn_drive(key, job, None).await
                }
                Action::Crank(c) => self.crank(c, jobs[&c.job], &mut providers).await?,
                Action::Segments(key) => self.spawn_segments(key, jobs[&key].clone()).await,
                Action::CrankSegment(d) => {
                    let segs = segmented[&d.job];
                    self.crank_segment(d, jobs[&d.job], &mut providers, segs)
                        .await?
                }
            }
        }
        self.defend(&snapshot.jobs, snapshot.now).await;
        self.referee(&snapshot.jobs, snapshot.now).await;
        Ok(actions)
    }

    /// Claims one job now if it is open (used by tests and operators; the
    /// daemon claims through [`Worker::tick`]).
    pub async fn claim(self: &Arc<Self>, key: Pubkey) -> Result<()> {
        self.check_alive()?;
        let job = accounts::fetch_job(&*self.sender.chain, &key).await?;
        self.try_claim(key, &job).await
    }

    /// Prepares and claims `key` in the background (at most one claim task per job).
    async fn spawn_claim(self: &Arc<Self>, key: Pubkey, job: Job) {
        if !self.local.lock().unwrap().claiming.insert(key) {
            return;
        }
        let me = self.clone();
        self.claims.lock().await.spawn(async move {
            let r = me.try_claim(key, &job).await;
            me.local.lock().unwrap().claiming.remove(&key);
            me.wake.notify_one();
            r
        });
    }

    /// Prepares `job` ahead of claiming it, in the background.
    async fn spawn_prefetch(self: &Arc<Self>, key: Pubkey, job: Job) {
        let me = self.clone();
        self.tasks.lock().await.spawn(async move {
            let budget = me.cfg.prefetch_bytes;
            match me
                .prepare_within(&key, &job, Some(budget), crate::fetch::Purpose::Claim)
                .await
            {
                Ok(Some(prepared)) => {
                    let bytes = prepared.bytes();
                    me.local.lock().unwrap().held.finish(key, bytes, prepared);
                    me.bump(|s| s.prefetched += 1);
                    me.wake.notify_one();
                }
                // Too large for the memory free now; chosen again once it frees.
                Ok(None) => {}
                Err(e) => {
                    me.local.lock().unwrap().held.abandon(&key);
                    me.refuse(key, &e);
                }
            }
            Ok(())
        });
    }

    /// Does not claim `key`: never, when its spec or inputs show this worker
    /// cannot run it; not now, when the failure may pass (a fetch timed out).
    pub(crate) fn refuse(&self, key: Pubkey, why: &PrepareError) {
        if why.is_transient() || store_unreachable(why) {
            tracing::warn!(job = %key, reason = %why, "not claiming now; will try again");
            self.bump(|s| s.fetch_timeouts += 1);
            return;
        }
        tracing::warn!(job = %key, reason = %why, "not claiming");
        self.local.lock().unwrap().rejected.insert(key);
        self.bump(|s| s.rejected += 1);
    }

    /// Logs what finished tasks returned, without waiting.
    async fn reap(&self) {
        for set in [&self.claims, &self.tasks] {
            let mut tasks = set.lock().await;
            while let Some(done) = tasks.try_join_next() {
                if let Ok(Err(e)) = done {
                    tracing::debug!(error = %e, "task ended with an error");
                }
            }
        }
    }

    /// Waits for every spawned task; returns the errors they ended with.
    /// Claim tasks first: the jobs they claim are carried by tasks they add.
    pub async fn drain(&self) -> Vec<WorkerError> {
        let mut errors = Vec::new();
        for set in [&self.claims, &self.tasks] {
            let mut tasks = set.lock().await;
            while let Some(done) = tasks.join_next().await {
                match done {
                    Ok(Err(e)) => errors.push(e),
                    Err(join) => errors.push(WorkerError::TaskPanicked(join)),
                    Ok(Ok(())) => {}
                }
            }
        }
        errors
    }

    /// Settles what the journal says was in flight when the worker stopped:
    /// each unfinished job is driven again from the chain's word on it, so
    /// journaled transactions are re-sent with their original signature while
    /// their blockhash is valid, and nothing is ever done twice.
    pub async fn resume(self: &Arc<Self>) -> Result<()> {
        let pending = lifecycle::unfinished(self.history.lock().unwrap().iter());
        for key in pending {
            let job = accounts::fetch_job_opt(&*self.sender.chain, &key).await?;
            self.spawn_drive(key, job, None).await;
        }
        Ok(())
    }

    /// The daemon loop: subscription events, a periodic reconcile and the
    /// worker's own progress drive ticks; heartbeats on their own timer; on
    /// shutdown, stop claiming and give jobs in flight `shutdown_grace` to
    /// finish (the journal keeps the rest).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> Result<Stats> {
        self.resume().await?;
        let mut events = self.subscribe().await;
        let mut reconcile = tokio::time::interval(self.cfg.reconcile_every);
        let mut heartbeat = tokio::time::interval(self.cfg.heartbeat_every);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = reconcile.tick() => {
                    // A subscription refused or dropped is asked for again at
                    // each reconcile, so events (and their latency) come back
                    // with the websocket.
                    if events.is_none() {
                        events = self.subscribe().await;
                    }
                }
                _ = self.wake.notified() => {}
                _ = heartbeat.tick() => {
                    if let Err(e) = self.heartbeat().await {
                        tracing::warn!(error = %e, "heartbeat failed");
                    }
                    continue;
                }
                ev = async { match events.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                    if ev.is_none() {
                        tracing::warn!("subscription closed; relying on the reconcile scan");
                        events = None;
                        continue;
                    }
                    // Coalesce a burst of events into one tick.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if let Some(rx) = events.as_mut() {
                        while rx.try_recv().is_ok() {}
                    }
                }
            }
            if let Err(e) = self.tick().await {
                if matches!(e, WorkerError::Crashed(_)) {
                    return Err(e);
                }
                tracing::warn!(error = %e, "tick failed; will retry");
            }
        }
        tracing::info!("shutting down: no new claims; waiting for jobs in flight");
        self.accepting.store(false, Ordering::SeqCst);
        if tokio::time::timeout(self.cfg.shutdown_grace, self.drain())
            .await
            .is_err()
        {
            tracing::warn!("jobs still in flight at shutdown; the journal resumes them on restart");
        }
        Ok(self.stats())
    }
}

impl Worker {
    /// The chain's stream of the program's account changes, or `None` (and
    /// the reconcile scan alone) while it cannot be had.
    async fn subscribe(&self) -> Option<UnboundedReceiver<AccountUpdate>> {
        match self.sender.chain.subscribe_program(&gpu_market::ID).await {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::warn!(error = %e, "no subscription; relying on the reconcile scan");
                None
            }
        }
    }
}

/// Whether a preparation failed only because the blob store could not be
/// reached (a 429 or 5xx after the backend's own retries, a dropped
/// connection): that says nothing about the job, which is tried again later
/// rather than refused for good.
fn store_unreachable(why: &PrepareError) -> bool {
    matches!(
        why,
        PrepareError::SpecUnavailable(BlobError::Unreachable { .. })
            | PrepareError::InputUnavailable {
                source: BlobError::Unreachable { .. },
                ..
            }
    )
}
