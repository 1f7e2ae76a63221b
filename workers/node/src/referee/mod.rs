//! Serving as a referee. A provider whose owner seated it in the market's referee pool
//! (`gpumkt provider referee join`) may be drawn to re-execute a disputed cuda-kernel
//! job; its worker does the duty by itself. The market's open disputes, the live jobs
//! and the time go in; the duties come out, as a pure function tested as a table;
//! [`crate::worker::Worker`] does the I/O (draw, re-execute the job from its spec and
//! inputs, commit, reveal, settle).
//!
//! - **Draw**: a refereed dispute not drawn yet whose draw slot has passed (anyone may;
//!   a seated worker does, so no dispute waits on the challenger).
//! - **Commit**: drawn, not committed, the commit phase open. The root is the job's
//!   result root recomputed here, exactly as the worker commits its own results; the
//!   salt is derived from the worker key and the dispute (`dispute::referee_salt`), so a
//!   restarted worker can still reveal.
//! - **Reveal**: committed, not revealed, the commit phase over and the reveal phase open.
//! - **Settle**: the outcome is decided; the referees that revealed the deciding root
//!   are paid at settlement, so a referee does not wait on the parties.

use std::collections::{HashMap, HashSet};

use gpu_market::state::{on_time, Dispute, Job};
use gpu_market_client::Pubkey;

/// One referee duty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duty {
    Draw { dispute: Pubkey },
    Commit { job: Pubkey, dispute: Pubkey },
    Reveal { job: Pubkey, dispute: Pubkey },
    Settle { job: Pubkey, dispute: Pubkey },
}

/// The duties of the referee provider `me` at (`now`, `slot`).
pub fn plan(
    me: &Pubkey,
    jobs: &[(Pubkey, Job)],
    disputes: &[(Pubkey, Dispute)],
    now: i64,
    slot: u64,
) -> Vec<Duty> {
    let jobs: HashMap<&Pubkey, &Job> = jobs.iter().map(|(k, j)| (k, j)).collect();
    let mut out = Vec::new();
    for (key, d) in disputes {
        let Some(job) = jobs.get(&d.job) else {
            continue;
        };
        if !d.is_refereed(job) || job.dispute != *key {
            continue;
        }
        let dispute = *key;
        let r = &d.referee;
        if !r.drawn {
            if slot > r.draw_slot && on_time(now, d.respond_deadline) {
                out.push(Duty::Draw { dispute });
            }
            continue;
        }
        let Ok(i) = r.index_of(me) else {
            continue;
        };
        if !r.has_committed(i) {
            if r.commit_open_at(now) {
                out.push(Duty::Commit {
                    job: d.job,
                    dispute,
                });
            }
        } else if !r.has_revealed(i) {
            if r.reveal_open_at(now) {
                out.push(Duty::Reveal {
                    job: d.job,
                    dispute,
                });
            }
        } else if d.outcome_at(job, now).is_ok() {
            out.push(Duty::Settle {
                job: d.job,
                dispute,
            });
        }
    }
    out
}

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
}

impl crate::worker::Worker {
    /// Does this provider's referee duties (see the module documentation). Reads the
    /// disputes only when a cuda-kernel job is disputed.
    pub(crate) async fn referee(self: &std::sync::Arc<Self>, jobs: &[(Pubkey, Job)], now: i64) {
        use gpu_market::state::{JobState, WorkloadKind};
        use gpu_market_client::accounts;
        let any = jobs.iter().any(|(_, j)| {
            j.state == JobState::Disputed && j.workload_kind() == Some(WorkloadKind::CudaKernel)
        });
        if !any {
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
        let job_of: HashMap<Pubkey, &Job> = jobs.iter().map(|(k, j)| (*k, j)).collect();
        for duty in plan(&self.provider, jobs, &disputes, now, clock.slot) {
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
                Duty::Commit { job, dispute } => {
                    self.spawn_re_execution(job, job_of[&job].clone(), dispute);
                    Ok(())
                }
                Duty::Reveal { job, dispute } => {
                    self.reveal_as_referee(&job, job_of[&job], &dispute).await
                }
                Duty::Settle { job, dispute } => self.settle_as_referee(&job, &dispute).await,
            };
            if let Err(e) = r {
                tracing::warn!(?duty, error = %e, "referee duty failed");
            }
        }
    }

    /// Re-executes the disputed job off the tick, then commits to its root.
    fn spawn_re_execution(self: &std::sync::Arc<Self>, job_key: Pubkey, job: Job, dispute: Pubkey) {
        if !self.referee_book.lock().unwrap().running.insert(dispute) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let r = async {
                let root = me.re_execute(&job_key, &job).await?;
                tracing::info!(job = %job_key, %dispute, root = %hex::encode(root), "referee: committing to the re-executed root");
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
                tracing::warn!(job = %job_key, %dispute, error = %e, "referee re-execution failed");
            }
            me.referee_book.lock().unwrap().running.remove(&dispute);
        });
    }

    /// The job's result root as this worker computes it: spec and inputs fetched and
    /// checked, the workload run on this worker's executor, the output committed to.
    async fn re_execute(&self, job_key: &Pubkey, job: &Job) -> Result<[u8; 32], RefereeError> {
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
            None => self.re_execute(job_key, job).await?,
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
    ) -> Result<(), RefereeError> {
        // The settler's bounty (a provider that lost pays one) goes to the worker key's
        // payment account, which must exist.
        self.ensure_crank_accounts()
            .await
            .map_err(|e| RefereeError::Accounts(Box::new(e)))?;
        self.settle_as_worker(job_key, dispute).await?;
        self.referee_book.lock().unwrap().roots.remove(dispute);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market::state::{JobState, RefereeRound, WorkloadKind, ACC_LEN};

    struct Case {
        me: Pubkey,
        job_key: Pubkey,
        dispute_key: Pubkey,
        job: Job,
        dispute: Dispute,
    }

    fn case() -> Case {
        let (me, job_key, dispute_key) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let mut job = Job::fixture();
        job.state = JobState::Disputed;
        job.workload = WorkloadKind::CudaKernel as u8;
        job.dispute = dispute_key;
        job.result_root = [1; 32];
        let mut referees = [Pubkey::default(); 3];
        referees[0] = Pubkey::new_unique();
        referees[1] = me;
        referees[2] = Pubkey::new_unique();
        let dispute = Dispute {
            market: Pubkey::new_unique(),
            job: job_key,
            id: 0,
            challenger: Pubkey::new_unique(),
            challenger_payment_account: Pubkey::new_unique(),
            challenger_stake_account: Pubkey::new_unique(),
            provider: job.provider,
            row: 0,
            col: 0,
            bond: 500,
            stake_locked: 500,
            opened_at: 100,
            respond_deadline: 130,
            proven: 0,
            claimed: [0; 4],
            acc: [0; ACC_LEN],
            bump: 255,
            referee: RefereeRound {
                draw_slot: 50,
                drawn: true,
                count: 3,
                referees,
                commit_deadline: 140,
                reveal_deadline: 170,
                ..RefereeRound::default()
            },
        };
        Case {
            me,
            job_key,
            dispute_key,
            job,
            dispute,
        }
    }

    impl Case {
        fn plan(&self, now: i64, slot: u64) -> Vec<Duty> {
            plan(
                &self.me,
                &[(self.job_key, self.job.clone())],
                &[(self.dispute_key, self.dispute.clone())],
                now,
                slot,
            )
        }
    }

    #[test]
    fn an_undrawn_dispute_is_drawn_once_its_slot_passed() {
        let mut c = case();
        c.dispute.referee.drawn = false;
        let draw = Duty::Draw {
            dispute: c.dispute_key,
        };
        assert_eq!(
            c.plan(110, 50),
            vec![],
            "the draw slot's hash does not exist yet"
        );
        assert_eq!(c.plan(110, 51), vec![draw]);
        assert_eq!(
            c.plan(131, 51),
            vec![],
            "past the response deadline: no ruling"
        );
    }

    #[test]
    fn a_drawn_referee_commits_in_the_commit_phase_only() {
        let c = case();
        let commit = Duty::Commit {
            job: c.job_key,
            dispute: c.dispute_key,
        };
        assert_eq!(
            c.plan(140, 60),
            vec![commit],
            "on time at the deadline second"
        );
        assert_eq!(c.plan(141, 60), vec![]);
        // A provider that was not drawn has nothing to do.
        let mut other = case();
        other.me = Pubkey::new_unique();
        assert_eq!(other.plan(120, 60), vec![]);
        // A GEMM dispute is the chain's to rule, not a referee's.
        let mut gemm = case();
        gemm.job.workload = WorkloadKind::GemmI8 as u8;
        assert_eq!(gemm.plan(120, 60), vec![]);
    }

    #[test]
    fn a_committed_referee_reveals_once_the_commit_phase_is_over() {
        let mut c = case();
        c.dispute.referee.committed = 0b010;
        let reveal = Duty::Reveal {
            job: c.job_key,
            dispute: c.dispute_key,
        };
        assert_eq!(c.plan(130, 60), vec![], "others may still commit");
        assert_eq!(c.plan(141, 60), vec![reveal]);
        c.dispute.referee.committed = 0b111;
        assert_eq!(c.plan(130, 60), vec![reveal], "everyone committed");
        assert_eq!(c.plan(171, 60), vec![], "too late");
    }

    #[test]
    fn a_referee_that_revealed_settles_once_the_outcome_is_decided() {
        let mut c = case();
        c.dispute.referee.committed = 0b111;
        c.dispute.referee.revealed = 0b010;
        c.dispute.referee.roots[1] = [1; 32];
        assert_eq!(c.plan(150, 60), vec![], "others may still reveal");
        assert_eq!(
            c.plan(171, 60),
            vec![Duty::Settle {
                job: c.job_key,
                dispute: c.dispute_key
            }]
        );
    }
}
