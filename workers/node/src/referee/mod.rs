//! Serving as a referee. A provider whose owner seated it in the market's referee pool
//! (`gpumkt provider referee join`) may be drawn to re-execute a disputed cuda-kernel
//! job, or one disputed segment of a segmented train-mlp job; its worker does the duty
//! by itself. The market's open disputes, the live jobs, the segmented jobs' `Segments`
//! and the time go in; the duties come out, as a pure function tested as a table
//! ([`plan`]); [`crate::worker::Worker`] does the I/O (draw, re-execute the job from its
//! spec and inputs, or the segment from the previous checkpoint (`segment.rs`), commit,
//! reveal, settle).
//!
//! - **Draw**: a refereed dispute not drawn yet whose draw slot has passed (anyone may;
//!   a seated worker does, so no dispute waits on the challenger).
//! - **Commit**: drawn, not committed, the commit phase open. The root is the job's
//!   result root recomputed here, exactly as the worker commits its own results, or the
//!   disputed segment's checkpoint root trained again from the previous committed
//!   checkpoint; the salt is derived from the worker key and the dispute
//!   (`dispute::referee_salt`), so a restarted worker can still reveal.
//! - **Reveal**: committed, not revealed, the commit phase over and the reveal phase open.
//! - **Settle**: the outcome is decided (`Dispute::outcome_at`, or
//!   `Dispute::segment_outcome_at` for a segment); the referees that revealed the
//!   deciding root are paid at settlement, so a referee does not wait on the parties.
//!   A segment's dispute is settled by `segment_settle`.

mod plan;
mod segment;

use std::collections::{HashMap, HashSet};

use gpu_market::state::{Job, JobState, Segments, WorkloadKind};
use gpu_market_client::Pubkey;

pub use plan::{outcome_decided, plan, Duty, Rerun};

/// What a worker remembers of its referee duties between ticks: the roots it committed
/// to (recomputed after a restart), and the disputes whose re-execution is running.
#[derive(Default)]
pub struct RefereeBook {
    pub roots: HashMap<Pubkey, [u8; 32]>,
    pub running: HashSet<Pubkey>,
}

/// Why a referee duty failed (logged; the next tick tries again while it can).
#[derive(Debug, thiserror::Error)]
pub enum RefereeError {
    #[error("fetching the disputed job's spec or inputs: {0}")]
    Prepare(#[from] crate::error::PrepareError),
    #[error("re-executing the disputed job: {0}")]
    Execute(#[from] gpu_market_compute::exec::ExecError),
    #[error("committing to the re-executed output: {0}")]
    Commit(#[from] gpu_market_compute::commit::CommitError),
    #[error("the re-execution task: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Client(#[from] gpu_market_client::error::ClientError),
    #[error("creating the worker key's token accounts: {0}")]
    Accounts(#[source] Box<crate::worker::WorkerError>),
    /// The buyer's checkpoint store the spec names cannot be opened.
    #[error("opening the job's checkpoint store {location}: {source}")]
    CheckpointStore {
        location: String,
        #[source]
        source: gpu_market_blobs::CheckpointStoreError,
    },
    /// Checkpoint `index` (the one the disputed segment resumed from) is in neither this
    /// worker's own copies nor the buyer's store, or not with the root the chain
    /// committed: the referee commits nothing (why: `segment.rs`).
    #[error("checkpoint {index}, which the disputed segment resumed from, is unusable: {source}")]
    PreviousCheckpoint {
        index: u8,
        #[source]
        source: gpu_market_blobs::CheckpointStoreError,
    },
    #[error("re-training disputed segment {index}: {source}")]
    Segment {
        index: u8,
        #[source]
        source: gpu_market_compute::train::SegmentError,
    },
}

/// Whether `job` may have a dispute for a referee: a cuda-kernel job in dispute, or a
/// segmented job naming an open dispute (over one of its segments).
fn may_need_referees(job: &Job) -> bool {
    match job.state {
        JobState::Disputed => job.workload_kind() == Some(WorkloadKind::CudaKernel),
        JobState::Segmented => job.dispute != Pubkey::default(),
        _ => false,
    }
}

impl crate::worker::Worker {
    /// Does this provider's referee duties (see the module documentation). Reads the
    /// disputes only when a job may need referees, and the `Segments` of the segmented
    /// jobs among those.
    pub(crate) async fn referee(self: &std::sync::Arc<Self>, jobs: &[(Pubkey, Job)], now: i64) {
        use gpu_market_client::accounts;
        let disputed: Vec<&(Pubkey, Job)> =
            jobs.iter().filter(|(_, j)| may_need_referees(j)).collect();
        if disputed.is_empty() {
            return;
        }
        let chain = &*self.sender.chain;
        let (disputes, clock) = match (
            accounts::list_disputes(chain, &self.cfg.market).await,
            chain.clock().await,
        ) {
            (Ok(d), Ok(c)) => (d, c),
            (Err(e), _) => return tracing::warn!(error = %e, "listing disputes failed"),
            (_, Err(e)) => return tracing::warn!(error = %e, "reading the clock failed"),
        };
        let mut segments: Vec<(Pubkey, Segments)> = Vec::new();
        for (key, j) in &disputed {
            if j.state != JobState::Segmented {
                continue;
            }
            match gpu_market_client::segments::fetch_segments(chain, key).await {
                Ok(Some(s)) => segments.push((*key, s)),
                // Settled since the job was read: nothing left to referee.
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(job = %key, error = %e, "reading the job's segments failed")
                }
            }
        }
        let job_of: HashMap<Pubkey, &Job> = jobs.iter().map(|(k, j)| (*k, j)).collect();
        for duty in plan(&self.provider, jobs, &disputes, &segments, now, clock.slot) {
            let r = match duty {
                Duty::Draw { dispute } => gpu_market_client::dispute::draw(
                    &self.sender,
                    &self.key,
                    &self.cfg.market,
                    &dispute,
                )
                .await
                .map(|_| ())
                .map_err(RefereeError::from),
                Duty::Commit {
                    job,
                    dispute,
                    rerun,
                } => {
                    self.spawn_re_execution(job, job_of[&job].clone(), dispute, rerun);
                    Ok(())
                }
                Duty::Reveal {
                    job,
                    dispute,
                    rerun,
                } => {
                    self.reveal_as_referee(&job, job_of[&job], &dispute, rerun)
                        .await
                }
                Duty::Settle {
                    job,
                    dispute,
                    segment,
                } => self.settle_as_referee(&job, &dispute, segment).await,
            };
            if let Err(e) = r {
                tracing::warn!(?duty, error = %e, "referee duty failed");
            }
        }
    }

    /// Re-executes what the dispute is over off the tick, then commits to its root.
    fn spawn_re_execution(
        self: &std::sync::Arc<Self>,
        job_key: Pubkey,
        job: Job,
        dispute: Pubkey,
        rerun: Rerun,
    ) {
        if !self.referee_book.lock().unwrap().running.insert(dispute) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let r = async {
                let root = me.re_execute(&job_key, &job, rerun).await?;
                tracing::info!(job = %job_key, %dispute, ?rerun, root = %hex::encode(root), "referee: committing to the re-executed root");
                gpu_market_client::dispute::referee_commit(
                    &me.sender,
                    &me.key,
                    &me.provider,
                    &dispute,
                    &root,
                )
                .await?;
                me.referee_book.lock().unwrap().roots.insert(dispute, root);
                me.bump(|s| s.referee_commits += 1);
                Ok::<_, RefereeError>(())
            }
            .await;
            if let Err(e) = r {
                // `cause` names the rule that failed (e.g. `PreviousCheckpoint { source:
                // Torn .. }`), so an operator sees why by name, not only as prose.
                tracing::warn!(job = %job_key, %dispute, ?rerun, error = %e, cause = ?e, "referee re-execution failed; nothing committed");
            }
            me.referee_book.lock().unwrap().running.remove(&dispute);
        });
    }

    /// The root this worker finds for what the dispute is over: the job's result root, or
    /// the disputed segment's checkpoint root.
    async fn re_execute(
        &self,
        job_key: &Pubkey,
        job: &Job,
        rerun: Rerun,
    ) -> Result<[u8; 32], RefereeError> {
        match rerun {
            Rerun::Job => self.re_execute_job(job_key, job).await,
            Rerun::Segment { index, previous } => {
                self.re_execute_segment(job_key, job, index, previous).await
            }
        }
    }

    /// The job's result root as this worker computes it: spec and inputs fetched and
    /// checked, the workload run on this worker's executor, the output committed to.
    async fn re_execute_job(&self, job_key: &Pubkey, job: &Job) -> Result<[u8; 32], RefereeError> {
        let prepared = self
            .prepare(job_key, job, crate::fetch::Purpose::Claimed)
            .await?;
        let executor = self.executor.clone();
        let lane = self.lane.clone();
        let device = lane
            .acquire_owned()
            .await
            .expect("the lane is never closed");
        let (workload, inputs) = (prepared.spec.workload.clone(), prepared.inputs);
        let root = tokio::task::spawn_blocking(move || {
            let out = executor.execute(&workload, &inputs);
            drop(device);
            let out = out?;
            Ok::<_, RefereeError>(gpu_market_compute::commit::result_root(
                &workload, &out.bytes,
            )?)
        })
        .await??;
        Ok(root.0)
    }

    async fn reveal_as_referee(
        &self,
        job_key: &Pubkey,
        job: &Job,
        dispute: &Pubkey,
        rerun: Rerun,
    ) -> Result<(), RefereeError> {
        let known = self
            .referee_book
            .lock()
            .unwrap()
            .roots
            .get(dispute)
            .copied();
        let root = match known {
            Some(r) => r,
            // After a restart: the same execution gives the same root.
            None => self.re_execute(job_key, job, rerun).await?,
        };
        gpu_market_client::dispute::referee_reveal(
            &self.sender,
            &self.key,
            &self.provider,
            dispute,
            &root,
        )
        .await?;
        self.bump(|s| s.referee_reveals += 1);
        Ok(())
    }

    async fn settle_as_referee(
        &self,
        job_key: &Pubkey,
        dispute: &Pubkey,
        segment: Option<u8>,
    ) -> Result<(), RefereeError> {
        // The settler's bounty (a provider that lost pays one) goes to the worker key's
        // payment account, which must exist.
        self.ensure_crank_accounts()
            .await
            .map_err(|e| RefereeError::Accounts(Box::new(e)))?;
        match segment {
            // `dispute_settle` refuses a segment's dispute (DisputeIsOverASegment).
            Some(_) => self.settle_segment_as_worker(job_key, dispute).await?,
            None => self.settle_as_worker(job_key, dispute).await?,
        }
        self.referee_book.lock().unwrap().roots.remove(dispute);
        Ok(())
    }
}
