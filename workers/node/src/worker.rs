//! The worker daemon: its settings, its state, and the I/O loop around its
//! pure decisions. Each tick reads one snapshot, asks the planner ([`plan`])
//! what to claim, resume and crank, and the prefetcher ([`prefetch`]) what to
//! prepare ahead; each job is then carried by [`Worker::drive`], which gathers
//! the facts, asks [`lifecycle::next`] what to do, does it, journals it, and
//! asks again. Preparing ([`crate::fetch`]), executing ([`crate::execute`]) and
//! the worker's transactions ([`crate::transactions`]) live beside this file,
//! its settings and counters in [`crate::config`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gpu_market::state::{Job, Provider};
use gpu_market_blobs::BlobStore;
use gpu_market_client::chain::SignatureStatus;
use gpu_market_client::crank;
use gpu_market_client::error::ClientError;
use gpu_market_client::ix::{self, MarketKeys};
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, pda, Pubkey};
use gpu_market_compute::exec::Executor;
use solana_sdk::signature::{Keypair, Signer};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

pub use crate::config::{FailPoint, Stats, WorkerConfig};
pub use crate::error::{JobError, PrepareError, WorkerError};
pub use crate::execute::measure_gflops;
use crate::fetch::Prepared;
use crate::journal::{Journal, Step};
use crate::lifecycle::{self, Facts};
use crate::plan::{self, Action, Local, Snapshot};
use crate::prefetch::{self, Holdings};
use crate::timing::{Span, Timeline};

#[derive(Default)]
pub(crate) struct LocalState {
    /// Jobs a task is carrying (claimed and not yet submitted, or resuming).
    pub(crate) running: HashSet<Pubkey>,
    /// Jobs this worker cannot run; never claimed.
    pub(crate) rejected: HashSet<Pubkey>,
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
    history: Mutex<BTreeMap<Pubkey, Vec<Step>>>,
    pub(crate) local: Mutex<LocalState>,
    tasks: tokio::sync::Mutex<JoinSet<Result<(), WorkerError>>>,
    stats: Mutex<Stats>,
    accepting: AtomicBool,
    crashed: AtomicBool,
    /// One execution on the device at a time: a queued job starts the moment
    /// the previous one's computation ends, while that one is committed,
    /// uploaded and submitted.
    pub(crate) lane: Semaphore,
    /// Pokes the daemon loop to tick now (a slot freed, a job got prepared).
    wake: Notify,
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
        let (journal, history) = Journal::open(&cfg.journal)?;
        let kinds = crate::supported_kinds(&*executor);
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
            local: Mutex::new(LocalState::default()),
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
            stats: Mutex::new(Stats::default()),
            accepting: AtomicBool::new(true),
            crashed: AtomicBool::new(false),
            lane: Semaphore::new(1),
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

    pub(crate) fn record(&self, job: &Pubkey, step: Step) -> Result<()> {
        self.journal.record(job, &step)?;
        self.history
            .lock()
            .unwrap()
            .entry(*job)
            .or_default()
            .push(step);
        Ok(())
    }

    fn history_of(&self, job: &Pubkey) -> Vec<Step> {
        self.history
            .lock()
            .unwrap()
            .get(job)
            .cloned()
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
        Ok(Snapshot {
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
            running: l.running.clone(),
            rejected: l.rejected.clone(),
            kinds: self.kinds.clone(),
            max_concurrent: self.cfg.max_concurrent,
            price_floor: self.cfg.price_floor,
            min_time_to_submit: self.cfg.min_time_to_submit,
            crank: self.cfg.crank,
            accepting: self.accepting.load(Ordering::SeqCst),
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
        let local = self.local_view();
        let actions = plan::plan(&snapshot, &local);
        let jobs: HashMap<Pubkey, &Job> = snapshot.jobs.iter().map(|(k, j)| (*k, j)).collect();

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
                Action::Claim(key) => self.try_claim(key, jobs[&key]).await?,
                Action::Resume(key) => {
                    // Read again: the snapshot is from before this tick's plan, and a
                    // task carrying this job may have submitted it and stopped since;
                    // a stale `Claimed` would have the result submitted twice.
                    let job = accounts::fetch_job_opt(&*self.sender.chain, &key).await?;
                    self.spawn_drive(key, job, None).await
                }
                Action::Crank(c) => {
                    if providers.is_none() {
                        providers = Some(
                            accounts::list_providers(&*self.sender.chain, &self.cfg.market)
                                .await?
                                .into_iter()
                                .collect(),
                        );
                    }
                    let ixs = crank::instructions(
                        &self.market,
                        c,
                        jobs[&c.job],
                        providers.as_ref().unwrap(),
                        &self.key.pubkey(),
                    )?;
                    match self.sender.send(&ixs, &self.key, &[]).await {
                        Ok(_) => self.bump(|s| s.cranked += 1),
                        Err(e) => tracing::debug!(job = %c.job, error = %e, "crank skipped"),
                    }
                }
            }
        }
        self.defend(&snapshot.jobs, snapshot.now).await;
        Ok(actions)
    }

    /// Claims one job now if it is open (used by tests and operators; the
    /// daemon claims through [`Worker::tick`]).
    pub async fn claim(self: &Arc<Self>, key: Pubkey) -> Result<()> {
        self.check_alive()?;
        let job = accounts::fetch_job(&*self.sender.chain, &key).await?;
        self.try_claim(key, &job).await
    }

    /// Prepares `job` ahead of claiming it, in the background.
    async fn spawn_prefetch(self: &Arc<Self>, key: Pubkey, job: Job) {
        let me = self.clone();
        self.tasks.lock().await.spawn(async move {
            let budget = me.cfg.prefetch_bytes;
            match me.prepare_within(&key, &job, Some(budget)).await {
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
                    me.reject(key, &e);
                }
            }
            Ok(())
        });
    }

    /// Never claims `key`: its spec or inputs show this worker cannot run it.
    pub(crate) fn reject(&self, key: Pubkey, why: &PrepareError) {
        tracing::warn!(job = %key, reason = %why, "not claiming");
        self.local.lock().unwrap().rejected.insert(key);
        self.bump(|s| s.rejected += 1);
    }

    /// Carries `key` forward in a task of its own (at most one per job).
    pub(crate) async fn spawn_drive(
        self: &Arc<Self>,
        key: Pubkey,
        job: Option<Job>,
        prepared: Option<Prepared>,
    ) {
        if !self.local.lock().unwrap().running.insert(key) {
            return;
        }
        let me = self.clone();
        self.tasks.lock().await.spawn(async move {
            let r = me.clone().drive(key, job, prepared).await;
            me.local.lock().unwrap().running.remove(&key);
            me.wake.notify_one();
            if let Err(e) = &r {
                if !matches!(e, WorkerError::Crashed(_)) {
                    tracing::warn!(job = %key, error = %e, "job failed");
                    me.bump(|s| s.failures += 1);
                }
            }
            r
        });
    }

    /// Carries one job until it needs nothing more from this worker now: each
    /// round gathers the facts, lets [`lifecycle::next`] decide, and does it.
    /// `job` is the chain's latest word on the job, carried through execution
    /// and submission and read again only after this worker's own claim lands.
    async fn drive(
        self: Arc<Self>,
        key: Pubkey,
        mut job: Option<Job>,
        mut prepared: Option<Prepared>,
    ) -> Result<()> {
        let chain = self.sender.chain.clone();
        // Set once this task stored an output, so it is not looked up again.
        let mut fresh_output = false;
        loop {
            self.check_alive()?;
            let history = self.history_of(&key);
            let signed = match history.last() {
                Some(step @ (Step::Claiming { .. } | Step::Submitting { .. })) => {
                    Some(step.signed_tx().ok_or_else(|| {
                        WorkerError::job(
                            key,
                            JobError::UnreadableJournal {
                                what: if matches!(step, Step::Claiming { .. }) {
                                    "claim"
                                } else {
                                    "submission"
                                },
                            },
                        )
                    })?)
                }
                _ => None,
            };
            let (sig, block_height) = match &signed {
                Some(tx) => (
                    chain.signature_status(&tx.tx.signatures[0]).await?,
                    chain.block_height().await?,
                ),
                None => (SignatureStatus::Unknown, 0),
            };
            let now = chain.clock().await?.unix_timestamp;
            let output_stored = fresh_output
                || match lifecycle::latest_result(&history) {
                    Some(r) => match gpu_market_blobs::uri_sha256(&r.output_uri) {
                        Some(sha) => self.blobs.exists(&sha).await.unwrap_or(false),
                        None => false,
                    },
                    None => false,
                };
            let action = lifecycle::next(&Facts {
                me: self.provider,
                history: &history,
                job: job.as_ref(),
                sig: &sig,
                block_height,
                now,
                output_stored,
            });
            tracing::debug!(job = %key, ?action, "next");
            match action {
                lifecycle::Action::Idle => return Ok(()),
                lifecycle::Action::Record(step) => {
                    let after = step.clone();
                    self.record(&key, step)?;
                    match after {
                        // The claim may have landed after `job` was read: read it
                        // again, once, rather than take a stale Open for a loss.
                        Step::Claimed => {
                            self.bump(|s| s.claims_landed += 1);
                            job = accounts::fetch_job_opt(&*chain, &key).await?;
                        }
                        // The chain takes it from here.
                        Step::Submitted => {
                            self.bump(|s| s.submits_landed += 1);
                            return Ok(());
                        }
                        _ => {}
                    }
                }
                lifecycle::Action::Resend => {
                    // `next` resends only what the last step carries.
                    let Some(signed) = signed else { return Ok(()) };
                    if matches!(history.last(), Some(Step::Claiming { .. })) {
                        self.resend_claim(key, &signed).await?;
                        // The claim changed the job (claimed_at, submit deadline).
                        job = accounts::fetch_job_opt(&*chain, &key).await?;
                    } else {
                        return self.send_submission(key, &signed, true).await;
                    }
                }
                lifecycle::Action::Execute => {
                    let Some(j) = job.as_ref() else { return Ok(()) };
                    let executed = self.execute(key, j, prepared.take()).await?;
                    self.record(&key, Step::Executed(executed))?;
                    fresh_output = true;
                    self.fail(FailPoint::AfterExecuted)?;
                }
                lifecycle::Action::Submit(result) => {
                    let Some(j) = job.as_ref() else { return Ok(()) };
                    return self.submit(key, j, &result, now).await;
                }
            }
        }
    }

    /// Logs what finished tasks returned, without waiting.
    async fn reap(&self) {
        let mut tasks = self.tasks.lock().await;
        while let Some(done) = tasks.try_join_next() {
            if let Ok(Err(e)) = done {
                tracing::debug!(error = %e, "task ended with an error");
            }
        }
    }

    /// Waits for every spawned task; returns the errors they ended with.
    pub async fn drain(&self) -> Vec<WorkerError> {
        let mut errors = Vec::new();
        let mut tasks = self.tasks.lock().await;
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Err(e)) => errors.push(e),
                Err(join) => errors.push(WorkerError::TaskPanicked(join)),
                Ok(Ok(())) => {}
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
        let mut events = match self.sender.chain.subscribe_program(&gpu_market::ID).await {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::warn!(error = %e, "no subscription; relying on the reconcile scan");
                None
            }
        };
        let mut reconcile = tokio::time::interval(self.cfg.reconcile_every);
        let mut heartbeat = tokio::time::interval(self.cfg.heartbeat_every);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = reconcile.tick() => {}
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
