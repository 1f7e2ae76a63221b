//! Carrying one job: a task per job ([`Worker::spawn_drive`]) gathers the
//! facts (the job's journaled steps for its posting, the chain's word on the
//! job and on the last journaled transaction, the time, whether the output is
//! still stored), asks [`lifecycle::next`] what to do, does it, journals it
//! and asks again. A job whose execution fails after the claim in a way that
//! would only repeat is journaled `failed` ([`Worker::mark_failed`]) and is
//! never run or claimed again by this worker.

use std::sync::Arc;

use gpu_market::state::Job;
use gpu_market_client::accounts;
use gpu_market_client::chain::SignatureStatus;
use gpu_market_client::Pubkey;

use crate::config::FailPoint;
use crate::error::{JobError, PrepareError, WorkerError};
use crate::fetch::Prepared;
use crate::journal::Step;
use crate::lifecycle::{self, Facts};
use crate::worker::{Result, Worker};

impl Worker {
    /// Never claims or runs this posting of `key` again: it failed after the
    /// claim (journaled, so a restart remembers).
    pub(crate) fn mark_failed(&self, key: Pubkey, why: &JobError) -> Result<()> {
        tracing::warn!(job = %key, reason = %why, "failed after the claim; never claiming it again");
        self.record(
            &key,
            Step::Failed {
                reason: why.to_string(),
            },
        )?;
        let posted_at = self.postings.lock().unwrap().get(&key).copied();
        if let Some(p) = posted_at {
            self.local.lock().unwrap().failed.insert((key, p));
        }
        self.bump(|s| s.failed_after_claim += 1);
        Ok(())
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
            self.set_posting(key, job.as_ref());
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
                    let executed = match self.execute(key, j, prepared.take()).await {
                        Ok(executed) => executed,
                        Err(WorkerError::Job { job: k, source }) => {
                            // What running it again would only repeat: never again.
                            if fails_for_good(&source) {
                                self.mark_failed(key, &source)?;
                            }
                            return Err(WorkerError::Job { job: k, source });
                        }
                        Err(e) => return Err(e),
                    };
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
}

/// Whether a job that failed this way after its claim would only fail again:
/// its execution failed, panicked or ran out of time, its output cannot be
/// committed to, or its spec or inputs are refused by a rule (after a
/// restart, when they are prepared again). A blob store that cannot serve
/// them now, an upload or a chain error is the infrastructure's and is
/// retried while the claim lasts; so is a spec that does not parse or an
/// input short of its declared length, since both were read whole and
/// checked before the claim: bytes that differ now are the store's fault.
fn fails_for_good(e: &JobError) -> bool {
    match e {
        JobError::Execution(_)
        | JobError::ExecutionTimedOut { .. }
        | JobError::Panicked(_)
        | JobError::Commit(_) => true,
        JobError::Prepare(
            PrepareError::SpecUnavailable(_)
            | PrepareError::InputUnavailable { .. }
            | PrepareError::MalformedSpec(_)
            | PrepareError::DeclaredLength { .. },
        ) => false,
        JobError::Prepare(p) => !p.is_transient(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market_blobs::BlobError;
    use gpu_market_compute::exec::ExecError;

    /// A failure after the claim is journaled `failed` (never run or claimed
    /// again) only when running it again would fail the same way.
    #[test]
    fn only_failures_that_would_repeat_are_final() {
        let unreachable = || BlobError::NotFound {
            uri: "https://b/x".into(),
        };
        #[rustfmt::skip]
        let table: Vec<(JobError, bool)> = vec![
            (JobError::Execution(ExecError::Launch("fault".into())), true),
            (JobError::ExecutionTimedOut { after: std::time::Duration::from_secs(1) }, true),
            (JobError::Prepare(PrepareError::TooLittleTime { left: 1, needed: 2 }), true),
            (JobError::Prepare(PrepareError::SpecUnavailable(unreachable())), false),
            (JobError::Prepare(PrepareError::FetchTimedOut {
                what: "the spec and inputs".into(),
                after: std::time::Duration::from_secs(1),
            }), false),
            (JobError::Upload(unreachable()), false),
            (JobError::Prepare(PrepareError::DeclaredLength {
                name: "a".into(), declared: 8, found: 4,
            }), false),
            (JobError::UnreadableJournal { what: "claim" }, false),
        ];
        for (e, want) in table {
            assert_eq!(fails_for_good(&e), want, "{e}");
        }
    }
}
