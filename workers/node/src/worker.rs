//! The worker's side effects around the pure planner: reading the chain,
//! preparing and claiming jobs, executing them, uploading results, submitting,
//! heartbeats, cranking, resuming from the journal, and shutting down cleanly.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gpu_market::state::{Job, JobState, Provider};
use gpu_market::JobSubmitArgs;
use gpu_market_blobs::BlobStore;
use gpu_market_client::chain::SignatureStatus;
use gpu_market_client::crank;
use gpu_market_client::error::ClientError;
use gpu_market_client::ix::{self, MarketKeys};
use gpu_market_client::send::{Sender, SignedTx};
use gpu_market_client::{accounts, pda, Pubkey};
use gpu_market_compute::commit::result_root;
use gpu_market_compute::exec::{check_inputs, Executor, Inputs};
use gpu_market_compute::spec::JobSpec;
use serde::Serialize;
use solana_sdk::signature::{Keypair, Signer};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::journal::{Journal, JournalError, Step};
use crate::plan::{self, Action, Local, Snapshot};

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub market: Pubkey,
    /// The provider's owner (cold key); the provider account is derived from it.
    pub owner: Pubkey,
    pub max_concurrent: usize,
    /// Local floor on top of the on-chain one.
    pub price_floor: u64,
    /// Seconds that must remain to submit for a job to be worth claiming.
    pub min_time_to_submit: i64,
    /// Full reconcile scan period (events only make it sooner).
    pub reconcile_every: Duration,
    pub heartbeat_every: Duration,
    /// Also settle what is due (finalize, expire), earning bounties.
    pub crank: bool,
    pub journal: PathBuf,
    /// How long shutdown waits for jobs in flight.
    pub shutdown_grace: Duration,
    /// Tests: stop dead right after this step, as if killed.
    pub fail_point: Option<FailPoint>,
}

impl WorkerConfig {
    pub fn new(market: Pubkey, owner: Pubkey, journal: PathBuf) -> Self {
        Self {
            market,
            owner,
            max_concurrent: 2,
            price_floor: 0,
            min_time_to_submit: 5,
            reconcile_every: Duration::from_secs(5),
            heartbeat_every: Duration::from_secs(60),
            crank: false,
            journal,
            shutdown_grace: Duration::from_secs(60),
            fail_point: None,
        }
    }
}

/// Points at which tests simulate the worker being killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    /// Claim signed and journaled, not sent.
    AfterClaimSigned,
    /// Claim landed, not yet journaled as landed.
    AfterClaimSent,
    /// Result computed and uploaded, journaled, not submitted.
    AfterExecuted,
    /// Submission signed and journaled, not sent.
    AfterSubmitSigned,
    /// Submission landed, not yet journaled as landed.
    AfterSubmitSent,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("provider {provider} is not registered in market {market}: run `gpumkt provider register` first")]
    NotRegistered { provider: Pubkey, market: Pubkey },
    #[error("this worker key {key} is not provider {provider}'s worker key {expected}: run `gpumkt provider update --worker {key}` or use the right --keypair")]
    WrongWorkerKey {
        key: Pubkey,
        provider: Pubkey,
        expected: Pubkey,
    },
    #[error("job {job}: {reason}")]
    Job { job: Pubkey, reason: String },
    #[error("simulated crash at {0:?}")]
    Crashed(FailPoint),
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub claims_sent: u64,
    pub claims_landed: u64,
    pub races_lost: u64,
    pub rejected: u64,
    pub executed: u64,
    pub submits_sent: u64,
    pub submits_landed: u64,
    /// Journaled transactions re-sent with their original signature after a restart.
    pub resent_same_signature: u64,
    pub cranked: u64,
    pub heartbeats: u64,
    pub failures: u64,
}

#[derive(Default)]
struct LocalState {
    running: HashSet<Pubkey>,
    rejected: HashSet<Pubkey>,
    /// Spec and inputs fetched and checked before claiming.
    prepared: HashMap<Pubkey, (JobSpec, Inputs)>,
}

pub struct Worker {
    cfg: WorkerConfig,
    pub provider: Pubkey,
    market: MarketKeys,
    sender: Sender,
    key: Keypair,
    executor: Arc<dyn Executor>,
    blobs: Arc<dyn BlobStore>,
    journal: Journal,
    history: Mutex<BTreeMap<Pubkey, Vec<Step>>>,
    local: Mutex<LocalState>,
    tasks: tokio::sync::Mutex<JoinSet<Result<(), WorkerError>>>,
    stats: Mutex<Stats>,
    accepting: AtomicBool,
    crashed: AtomicBool,
}

type Result<T, E = WorkerError> = std::result::Result<T, E>;

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
        }))
    }

    pub fn stats(&self) -> Stats {
        self.stats.lock().unwrap().clone()
    }

    fn bump(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().unwrap());
    }

    fn record(&self, job: &Pubkey, step: Step) -> Result<()> {
        self.journal.record(job, &step)?;
        self.history
            .lock()
            .unwrap()
            .entry(*job)
            .or_default()
            .push(step);
        Ok(())
    }

    fn fail(&self, at: FailPoint) -> Result<()> {
        if self.cfg.fail_point == Some(at) {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(WorkerError::Crashed(at));
        }
        Ok(())
    }

    fn check_alive(&self) -> Result<()> {
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
            kinds: crate::supported_kinds(self.executor.device()),
            max_concurrent: self.cfg.max_concurrent,
            price_floor: self.cfg.price_floor,
            min_time_to_submit: self.cfg.min_time_to_submit,
            crank: self.cfg.crank,
            accepting: self.accepting.load(Ordering::SeqCst),
        }
    }

    /// One reconcile pass: read the chain, plan, act. Executions are spawned;
    /// [`Worker::drain`] waits for them.
    pub async fn tick(self: &Arc<Self>) -> Result<Vec<Action>> {
        self.check_alive()?;
        self.reap().await;
        let snapshot = self.snapshot().await?;
        let actions = plan::plan(&snapshot, &self.local_view());
        let jobs: HashMap<Pubkey, &Job> = snapshot.jobs.iter().map(|(k, j)| (*k, j)).collect();
        let mut providers: Option<HashMap<Pubkey, Provider>> = None;
        for action in &actions {
            match *action {
                Action::Claim(key) => self.try_claim(key, jobs[&key]).await?,
                Action::Resume(key) => self.spawn_execution(key).await,
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
        Ok(actions)
    }

    /// Fetches and checks the spec and inputs: a job is only claimed (and a bond
    /// only risked) once the worker knows it can run it.
    async fn prepare(&self, key: &Pubkey, job: &Job) -> Result<(JobSpec, Inputs), String> {
        let spec_bytes = gpu_market_blobs::fetch(&job.spec_uri, &job.spec_hash)
            .await
            .map_err(|e| format!("spec unavailable: {e}"))?;
        let spec = JobSpec::from_bytes(&spec_bytes).map_err(|e| format!("malformed spec: {e}"))?;
        if spec.workload.kind_code() != job.workload {
            return Err(format!(
                "spec says {} but the job was posted as workload {}",
                spec.workload.kind_name(),
                job.workload
            ));
        }
        if !self.executor.supports(&spec.workload) {
            return Err(format!(
                "{} is not supported by this executor",
                spec.workload.kind_name()
            ));
        }
        let mut inputs = Inputs::new();
        for input in &spec.inputs {
            let bytes = gpu_market_blobs::fetch(&input.uri, &input.sha256.0)
                .await
                .map_err(|e| format!("input {:?} unavailable: {e}", input.name))?;
            inputs.insert(input.name.clone(), bytes);
        }
        check_inputs(&spec.workload, &inputs)
            .map_err(|e| format!("inputs do not fit the workload: {e}"))?;
        tracing::debug!(job = %key, workload = spec.workload.kind_name(), "job prepared");
        Ok((spec, inputs))
    }

    /// Claims one job now if it is open (used by tests and operators; the
    /// daemon claims through [`Worker::tick`]).
    pub async fn claim(self: &Arc<Self>, key: Pubkey) -> Result<()> {
        self.check_alive()?;
        let job = accounts::fetch_job(&*self.sender.chain, &key).await?;
        self.try_claim(key, &job).await
    }

    async fn try_claim(self: &Arc<Self>, key: Pubkey, job: &Job) -> Result<()> {
        match self.prepare(&key, job).await {
            Ok(prepared) => {
                self.local.lock().unwrap().prepared.insert(key, prepared);
            }
            Err(reason) => {
                tracing::warn!(job = %key, %reason, "not claiming");
                self.local.lock().unwrap().rejected.insert(key);
                self.bump(|s| s.rejected += 1);
                return Ok(());
            }
        }
        let ix = ix::job_claim(self.cfg.market, self.provider, key, self.key.pubkey());
        let signed = self.sender.sign(&[ix], &self.key, &[]).await?;
        self.record(&key, Step::signed(&signed, true))?;
        self.fail(FailPoint::AfterClaimSigned)?;
        self.bump(|s| s.claims_sent += 1);
        match self.sender.send_signed(&signed).await {
            Ok(_) => {
                self.fail(FailPoint::AfterClaimSent)?;
                self.record(&key, Step::Claimed)?;
                self.bump(|s| s.claims_landed += 1);
                tracing::info!(job = %key, price = job.price, "claimed");
                self.spawn_execution(key).await;
            }
            Err(e) if e.error_name() == Some("JobNotOpen") => {
                tracing::info!(job = %key, "lost the race for this job to another provider (JobNotOpen)");
                self.bump(|s| s.races_lost += 1);
                self.record(
                    &key,
                    Step::Done {
                        outcome: "lost the claim race".into(),
                    },
                )?;
                self.local.lock().unwrap().prepared.remove(&key);
            }
            Err(e) => {
                tracing::warn!(job = %key, error = %e, "claim failed");
                self.bump(|s| s.failures += 1);
                self.record(
                    &key,
                    Step::Done {
                        outcome: format!("claim failed: {e}"),
                    },
                )?;
                self.local.lock().unwrap().prepared.remove(&key);
            }
        }
        Ok(())
    }

    async fn spawn_execution(self: &Arc<Self>, key: Pubkey) {
        if !self.local.lock().unwrap().running.insert(key) {
            return;
        }
        let me = self.clone();
        self.tasks.lock().await.spawn(async move {
            let r = me.clone().execute_and_submit(key).await;
            me.local.lock().unwrap().running.remove(&key);
            if let Err(e) = &r {
                if !matches!(e, WorkerError::Crashed(_)) {
                    tracing::warn!(job = %key, error = %e, "job failed");
                    me.bump(|s| s.failures += 1);
                }
            }
            r
        });
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

    /// Waits for every spawned execution; returns the errors they ended with.
    pub async fn drain(&self) -> Vec<WorkerError> {
        let mut errors = Vec::new();
        let mut tasks = self.tasks.lock().await;
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Err(e)) => errors.push(e),
                Err(join) => errors.push(WorkerError::Job {
                    job: Pubkey::default(),
                    reason: format!("task panicked: {join}"),
                }),
                Ok(Ok(())) => {}
            }
        }
        errors
    }

    fn executed_step(&self, key: &Pubkey) -> Option<(String, String, u64)> {
        self.history
            .lock()
            .unwrap()
            .get(key)?
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::Executed {
                    root,
                    output_uri,
                    gpu_ms,
                } => Some((root.clone(), output_uri.clone(), *gpu_ms)),
                _ => None,
            })
    }

    async fn execute_and_submit(self: Arc<Self>, key: Pubkey) -> Result<()> {
        self.check_alive()?;
        let chain = &*self.sender.chain;
        let Some(job) = accounts::fetch_job_opt(chain, &key).await? else {
            return self.record(
                &key,
                Step::Done {
                    outcome: "job settled".into(),
                },
            );
        };
        if job.provider != self.provider || job.state != JobState::Claimed {
            if job.provider == self.provider && job.state == JobState::Submitted {
                return self.record(&key, Step::Submitted);
            }
            return self.record(
                &key,
                Step::Done {
                    outcome: format!("no longer ours ({:?})", job.state),
                },
            );
        }

        // Reuse a result computed before a restart if its output is still stored.
        let mut done = None;
        if let Some((root, uri, gpu_ms)) = self.executed_step(&key) {
            if let Some(sha) = uri_sha256(&uri) {
                if self.blobs.exists(&sha).await.unwrap_or(false) {
                    done = Some((root, uri, gpu_ms));
                }
            }
        }
        let (root_hex, output_uri, gpu_ms) = match done {
            Some(d) => d,
            None => {
                let prepared = self.local.lock().unwrap().prepared.remove(&key);
                let (spec, inputs) = match prepared {
                    Some(p) => p,
                    None => self
                        .prepare(&key, &job)
                        .await
                        .map_err(|reason| WorkerError::Job { job: key, reason })?,
                };
                let executor = self.executor.clone();
                let workload = spec.workload.clone();
                let out = tokio::task::spawn_blocking(move || executor.execute(&workload, &inputs))
                    .await
                    .map_err(|e| WorkerError::Job {
                        job: key,
                        reason: format!("executor panicked: {e}"),
                    })?
                    .map_err(|e| WorkerError::Job {
                        job: key,
                        reason: format!("execution failed: {e}"),
                    })?;
                let root =
                    result_root(&spec.workload, &out.bytes).map_err(|e| WorkerError::Job {
                        job: key,
                        reason: format!("commitment failed: {e}"),
                    })?;
                let stored = self
                    .blobs
                    .put(&out.bytes)
                    .await
                    .map_err(|e| WorkerError::Job {
                        job: key,
                        reason: format!("could not upload the output: {e}"),
                    })?;
                let devices = self.executor.device().count.max(1) as u64;
                let gpu_ms = (out.device_time.as_millis() as u64)
                    .max(1)
                    .saturating_mul(devices);
                self.bump(|s| s.executed += 1);
                let step = Step::Executed {
                    root: root.to_hex(),
                    output_uri: stored.uri.clone(),
                    gpu_ms,
                };
                self.record(&key, step)?;
                self.fail(FailPoint::AfterExecuted)?;
                (root.to_hex(), stored.uri, gpu_ms)
            }
        };
        self.submit(key, &job, &root_hex, output_uri, gpu_ms).await
    }

    async fn submit(
        &self,
        key: Pubkey,
        job: &Job,
        root_hex: &str,
        output_uri: String,
        gpu_ms: u64,
    ) -> Result<()> {
        let chain = &*self.sender.chain;
        let now = chain.clock().await?.unix_timestamp;
        let provider = accounts::fetch_provider(chain, &self.provider).await?;
        // Never meter more than the program accepts for this claim.
        let bound = gpu_market::math::max_metered_ms(job.claimed_at, now, provider.gpu.count);
        let mut root = [0u8; 32];
        hex::decode_to_slice(root_hex, &mut root).map_err(|e| WorkerError::Job {
            job: key,
            reason: format!("bad journaled root: {e}"),
        })?;
        let args = JobSubmitArgs {
            result_root: root,
            result_uri: output_uri,
            gpu_ms: gpu_ms.min(bound),
        };
        let ix = ix::job_submit(self.provider, key, self.key.pubkey(), args);
        let signed = self.sender.sign(&[ix], &self.key, &[]).await?;
        self.record(&key, Step::signed(&signed, false))?;
        self.fail(FailPoint::AfterSubmitSigned)?;
        self.send_submission(key, &signed).await
    }

    async fn send_submission(&self, key: Pubkey, signed: &SignedTx) -> Result<()> {
        self.bump(|s| s.submits_sent += 1);
        match self.sender.send_signed(signed).await {
            Ok(_) => {
                self.fail(FailPoint::AfterSubmitSent)?;
                self.record(&key, Step::Submitted)?;
                self.bump(|s| s.submits_landed += 1);
                tracing::info!(job = %key, "result submitted");
                Ok(())
            }
            Err(e) => {
                // Our own earlier submission may be what makes this one fail.
                if let Some(job) = accounts::fetch_job_opt(&*self.sender.chain, &key).await? {
                    if job.provider == self.provider && job.state == JobState::Submitted {
                        return self.record(&key, Step::Submitted);
                    }
                }
                self.record(
                    &key,
                    Step::Done {
                        outcome: format!("submission failed: {e}"),
                    },
                )?;
                Err(WorkerError::Job {
                    job: key,
                    reason: format!("submission failed: {e}"),
                })
            }
        }
    }

    /// Settles what the journal says was in flight when the worker stopped.
    /// Journaled transactions are re-sent with their original signature while
    /// their blockhash is valid, so nothing is ever done twice.
    pub async fn resume(self: &Arc<Self>) -> Result<()> {
        let pending: Vec<(Pubkey, Step)> = self
            .history
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(k, steps)| {
                steps
                    .last()
                    .filter(|s| !s.is_done())
                    .map(|s| (*k, s.clone()))
            })
            .collect();
        for (key, step) in pending {
            match &step {
                Step::Claiming { .. } => {
                    let signed = step.signed_tx().ok_or_else(|| WorkerError::Job {
                        job: key,
                        reason: "unreadable journaled claim".into(),
                    })?;
                    match self.settle_journaled(&signed).await? {
                        Some(true) => {
                            self.record(&key, Step::Claimed)?;
                            self.bump(|s| s.claims_landed += 1);
                        }
                        Some(false) => self.record(
                            &key,
                            Step::Done {
                                outcome: "journaled claim did not land".into(),
                            },
                        )?,
                        None => match self.sender.send_signed(&signed).await {
                            Ok(_) => {
                                self.bump(|s| s.resent_same_signature += 1);
                                self.record(&key, Step::Claimed)?;
                            }
                            Err(e) => self.record(
                                &key,
                                Step::Done {
                                    outcome: format!("claim failed: {e}"),
                                },
                            )?,
                        },
                    }
                }
                Step::Submitting { .. } => {
                    let signed = step.signed_tx().ok_or_else(|| WorkerError::Job {
                        job: key,
                        reason: "unreadable journaled submission".into(),
                    })?;
                    match self.settle_journaled(&signed).await? {
                        Some(true) => {
                            self.record(&key, Step::Submitted)?;
                            self.bump(|s| s.submits_landed += 1);
                        }
                        // Expired unsent: the next tick re-submits from the Executed step.
                        Some(false) => {}
                        None => {
                            self.bump(|s| s.resent_same_signature += 1);
                            let _ = self.send_submission(key, &signed).await;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `Some(true)`: it landed; `Some(false)`: it can never land (failed or
    /// expired); `None`: it may still land, so re-send the same bytes.
    async fn settle_journaled(&self, signed: &SignedTx) -> Result<Option<bool>> {
        let chain = &*self.sender.chain;
        match chain.signature_status(&signed.tx.signatures[0]).await? {
            SignatureStatus::Landed { error: None, .. } => Ok(Some(true)),
            SignatureStatus::Landed { error: Some(_), .. } => Ok(Some(false)),
            SignatureStatus::Unknown => {
                if chain.block_height().await? > signed.last_valid_block_height {
                    Ok(Some(false))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// The daemon loop: subscription events and a periodic reconcile drive
    /// ticks; heartbeats on their own timer; on shutdown, stop claiming and
    /// give jobs in flight `shutdown_grace` to finish (the journal keeps the rest).
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

/// Content-addressed output URIs end in the blob's hex SHA-256.
pub fn uri_sha256(uri: &str) -> Option<[u8; 32]> {
    let tail = uri.rsplit('/').next()?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(tail, &mut out).ok()?;
    Some(out)
}

/// A quick GEMM throughput measurement for the on-chain descriptor, GFLOP/s
/// (f32, 256^3; a few milliseconds on a CPU, microseconds on a GPU).
pub fn measure_gflops(executor: &dyn Executor) -> u32 {
    use gpu_market_compute::spec::{random_f32_matrix, Workload};
    let n = 256u32;
    let w = Workload::GemmF32 {
        m: n,
        n,
        k: n,
        rel_tolerance: 1e-3,
    };
    let mut inputs = Inputs::new();
    inputs.insert("a".into(), random_f32_matrix(1, n, n));
    inputs.insert("b".into(), random_f32_matrix(2, n, n));
    let _ = executor.execute(&w, &inputs); // warm-up
    match executor.execute(&w, &inputs) {
        Ok(out) if !out.device_time.is_zero() => {
            (w.flops() as f64 / out.device_time.as_secs_f64() / 1e9) as u32
        }
        _ => 0,
    }
}
