//! The daemon's side of segmented train-mlp jobs: what the planner's
//! [`Action::Segments`](crate::plan::Action::Segments) and
//! [`Action::CrankSegment`](crate::plan::Action::CrankSegment) do. A job is prepared
//! once (its spec read as every spec is, through the worker's URI policy and against
//! the posted hash, then parsed as a `TrainMlpSpec`; its digits input fetched and
//! checked against the spec), then carried by one task that runs the segment runner
//! ([`crate::segments::SegmentRunner`]) over the program ([`ClientChain`]) until it
//! waits or is done: claim, train segments back to back, store each checkpoint in the
//! worker's own directory and in the buyer's store the spec names, journal, commit. A
//! restart finds its running segment on chain and carries it again from its journal,
//! without claiming; a job another provider left is taken over from its last committed
//! checkpoint, checked against the root on chain.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use gpu_market::state::{Job, WorkloadKind};
use gpu_market_blobs::{CheckpointStore, Len};
use gpu_market_client::crank::{self, SegmentDuty};
use gpu_market_client::Pubkey;
use gpu_market_compute::spec::train::TRAIN_DATA_INPUT;
use gpu_market_compute::spec::TrainMlpSpec;
use gpu_market_compute::train::{training_data, CpuTrainer};
use solana_sdk::signature::Signer;

use crate::error::{JobError, PrepareError, WorkerError};
use crate::segments::{ClientChain, SegmentJob, SegmentRunError, SegmentRunner};
use crate::worker::{Result, Worker};

/// Most runner steps one carrying task takes (a claim, a run and a commit per segment,
/// and an expiry): more than any job of `MAX_SEGMENTS` segments needs.
const MAX_TICKS: usize = 4 * gpu_market::constants::MAX_SEGMENTS + 4;

impl Worker {
    /// Reads `job`'s train-mlp spec and training data, both checked.
    pub(crate) async fn prepare_train(
        &self,
        key: &Pubkey,
        job: &Job,
    ) -> Result<SegmentJob, PrepareError> {
        let bytes = self.read_spec_bytes(job).await?;
        let spec = TrainMlpSpec::from_bytes(&bytes)?;
        if job.workload != WorkloadKind::TrainMlp.code() {
            return Err(PrepareError::KindMismatch {
                spec: WorkloadKind::TrainMlp.name(),
                posted: job.workload,
            });
        }
        let data = spec
            .data()
            .ok_or(PrepareError::MalformedSpec(
                gpu_market_compute::spec::SpecError::MissingInput {
                    name: TRAIN_DATA_INPUT.into(),
                },
            ))?
            .clone();
        let route = self
            .cfg
            .uri_policy
            .admit(&data.uri, &*self.cfg.resolver.0)
            .await
            .map_err(|source| PrepareError::UriRefused {
                what: format!("input {TRAIN_DATA_INPUT:?}"),
                source,
            })?;
        let mut digits = Vec::new();
        self.blobs
            .get_to(
                &data.uri,
                &data.sha256,
                Len::Exactly(data.len),
                &route,
                &mut digits,
            )
            .await
            .map_err(|source| PrepareError::InputUnavailable {
                name: TRAIN_DATA_INPUT.into(),
                source,
            })?;
        let examples = training_data(&spec, &digits)?;
        tracing::debug!(job = %key, "train-mlp job prepared");
        Ok(SegmentJob {
            job: *key,
            spec: Arc::new(spec),
            data: Arc::new(examples),
        })
    }

    /// Carries segmented job `key` in a task of its own (at most one per job).
    pub(crate) async fn spawn_segments(self: &Arc<Self>, key: Pubkey, job: Job) {
        if !self.local.lock().unwrap().running.insert(key) {
            return;
        }
        let me = self.clone();
        self.tasks.lock().await.spawn(async move {
            let r = me.carry_segments(key, &job).await;
            me.local.lock().unwrap().running.remove(&key);
            me.wake.notify_one();
            if let Err(e) = &r {
                tracing::warn!(job = %key, error = %e, "segmented job stopped");
            }
            r
        });
    }

    async fn carry_segments(&self, key: Pubkey, job: &Job) -> Result<()> {
        let cached = self.segment_jobs.lock().unwrap().get(&key).cloned();
        let sj = match cached {
            Some(sj) => sj,
            None => match self.prepare_train(&key, job).await {
                Ok(sj) => {
                    self.segment_jobs.lock().unwrap().insert(key, sj.clone());
                    sj
                }
                Err(e) => {
                    self.refuse(key, &e);
                    return Ok(());
                }
            },
        };
        let buyer = CheckpointStore::open(&sj.spec.params().checkpoint_store)
            .map_err(|e| WorkerError::job(key, e))?;
        let chain = ClientChain {
            sender: self.sender.clone(),
            key: self.key.insecure_clone(),
            market: self.market,
            provider: self.provider,
        };
        let mut runner = SegmentRunner::new(
            &chain,
            self.provider,
            Arc::new(CpuTrainer),
            &buyer,
            &self.checkpoints,
            &self.segment_journal,
        );
        runner.may_claim = self.accepting.load(Ordering::SeqCst);
        runner.fail = self.cfg.segment_fail_point;
        match runner.run_until_idle(&sj, MAX_TICKS).await {
            Ok(last) => {
                tracing::debug!(job = %key, last = ?last, "segmented job idle");
                self.bump(|s| s.segment_runs += 1);
                Ok(())
            }
            Err(e) => {
                if matches!(e, SegmentRunError::Killed { .. }) {
                    // A test's kill: the worker does nothing more, as if its process died.
                    self.crashed.store(true, Ordering::SeqCst);
                }
                Err(WorkerError::job(key, JobError::Segments(e)))
            }
        }
    }

    /// Pays or expires one segment, the worker key earning the bounty or the reporter's
    /// share in its own accounts. A duty someone else did first is skipped.
    pub(crate) async fn crank_segment(
        &self,
        duty: SegmentDuty,
        job: &Job,
        providers: &mut Option<std::collections::HashMap<Pubkey, gpu_market::state::Provider>>,
        segments: &gpu_market::state::Segments,
    ) -> Result<()> {
        self.load_providers(providers).await?;
        self.ensure_crank_accounts().await?;
        let ixs = crank::segment_instructions(
            &self.market,
            duty,
            job,
            segments,
            providers.as_ref().expect("read above"),
            &self.key.pubkey(),
        )?;
        match self.sender.send(&ixs, &self.key, &[]).await {
            Ok(_) => self.bump(|s| s.cranked += 1),
            Err(e) => {
                tracing::debug!(job = %duty.job, index = duty.index, error = %e, "segment crank skipped")
            }
        }
        Ok(())
    }
}
