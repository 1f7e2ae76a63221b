//! The worker's transactions: claims and submissions. Each is signed and
//! journaled before it is sent, so a worker killed at any point re-sends the
//! same signature (which lands at most once) instead of signing anew; losing a
//! claim race is recognised by name (`JobNotOpen`).

use std::time::Instant;

use gpu_market::state::Job;
use gpu_market::JobSubmitArgs;
use gpu_market_client::error::ClientError;
use gpu_market_client::ix;
use gpu_market_client::send::SignedTx;
use gpu_market_client::{accounts, Pubkey};
use solana_sdk::signature::Signer;
use std::sync::Arc;

use crate::error::JobError;
use crate::fetch::Purpose;
use crate::journal::{Executed, Step};
use crate::lifecycle::{self, Facts};
use crate::timing::Phase;
use crate::worker::{FailPoint, Result, Worker, WorkerError};

fn lost_race(e: &ClientError) -> bool {
    e.error_name() == Some("JobNotOpen")
}

impl Worker {
    /// Claims `job` once it is prepared: what was prepared ahead is used, a
    /// job still being prepared ahead waits for the tick after, and anything
    /// else is prepared now. A job that cannot be run is rejected, unclaimed.
    pub(crate) async fn try_claim(self: &Arc<Self>, key: Pubkey, job: &Job) -> Result<()> {
        // A scan served by a node that lags can show a job this worker has
        // already submitted as open still: a claim could only fail, for a fee.
        self.set_posting(key, Some(job));
        if self.history_of(&key).contains(&Step::Submitted) {
            return Ok(());
        }
        // Its result will have to be uploaded: nothing is claimed while the
        // store takes no upload (what is prepared ahead stays held).
        if !self.uploads_work().await {
            return Ok(());
        }
        let held = {
            let mut l = self.local.lock().unwrap();
            if l.held.is_preparing(&key) {
                return Ok(());
            }
            l.held.take(&key)
        };
        let prepared = match held {
            Some(p) => p,
            None => match self.prepare(&key, job, Purpose::Claim).await {
                Ok(p) => p,
                Err(e) => {
                    self.refuse(key, &e);
                    return Ok(());
                }
            },
        };
        // Right before the bond is risked: the inputs took their time to fetch
        // (and a job prepared ahead waited for a slot), so the time a claim now
        // leaves is read again.
        if let Err(e) = self.check_time_left(job, &prepared.spec).await {
            self.refuse(key, &e);
            return Ok(());
        }
        self.set_posting(key, Some(job));
        let start = Instant::now();
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
                self.timeline.record(key, Phase::Claim, start);
                tracing::info!(job = %key, price = job.price, "claimed");
                // The claim set claimed_at and the submit deadline: read them once.
                let claimed = accounts::fetch_job_opt(&*self.sender.chain, &key).await?;
                self.spawn_drive(key, claimed, Some(prepared)).await;
            }
            Err(e) if lost_race(&e) => {
                tracing::info!(job = %key, "lost the race for this job to another provider (JobNotOpen)");
                self.bump(|s| s.races_lost += 1);
                self.record(
                    &key,
                    Step::Done {
                        outcome: "lost the claim race".into(),
                    },
                )?;
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
            }
        }
        Ok(())
    }

    /// Re-sends a journaled claim with its original signature and journals
    /// whether it landed.
    pub(crate) async fn resend_claim(&self, key: Pubkey, signed: &SignedTx) -> Result<()> {
        match self.sender.send_signed(signed).await {
            Ok(_) => {
                self.bump(|s| s.resent_same_signature += 1);
                self.record(&key, Step::Claimed)
            }
            Err(e) => {
                if lost_race(&e) {
                    self.bump(|s| s.races_lost += 1);
                }
                self.record(
                    &key,
                    Step::Done {
                        outcome: format!("claim failed: {e}"),
                    },
                )
            }
        }
    }

    /// Signs, journals and sends the submission of `result`, metering no more
    /// than the program accepts for this claim at `now`.
    pub(crate) async fn submit(
        &self,
        key: Pubkey,
        job: &Job,
        result: &Executed,
        now: i64,
    ) -> Result<()> {
        // The program's own bound: the GPU count frozen in the job at the claim.
        let bound = job.max_metered_ms_at(now);
        let args = JobSubmitArgs {
            result_root: result.root.0,
            result_uri: result.output_uri.clone(),
            gpu_ms: result.gpu_ms.min(bound),
        };
        let ix = ix::job_submit(self.provider, key, self.key.pubkey(), args);
        let signed = self.sender.sign(&[ix], &self.key, &[]).await?;
        self.record(&key, Step::signed(&signed, false))?;
        self.fail(FailPoint::AfterSubmitSigned)?;
        self.send_submission(key, &signed, false).await
    }

    /// Sends a signed submission (`resent`: the journaled one, again). When it
    /// fails, the chain's word on the job decides whether it landed after all
    /// (our own earlier submission may be what makes this one fail).
    pub(crate) async fn send_submission(
        &self,
        key: Pubkey,
        signed: &SignedTx,
        resent: bool,
    ) -> Result<()> {
        let start = Instant::now();
        self.bump(|s| s.submits_sent += 1);
        match self.sender.send_signed(signed).await {
            Ok(_) => {
                self.fail(FailPoint::AfterSubmitSent)?;
                self.record(&key, Step::Submitted)?;
                self.timeline.record(key, Phase::Submit, start);
                self.bump(|s| {
                    s.submits_landed += 1;
                    if resent {
                        s.resent_same_signature += 1;
                    }
                });
                tracing::info!(job = %key, "result submitted");
                Ok(())
            }
            Err(e) => {
                let chain = &*self.sender.chain;
                let job = accounts::fetch_job_opt(chain, &key).await?;
                let sig = chain.signature_status(&signed.tx.signatures[0]).await?;
                let history = [Step::signed(signed, false)];
                let landed = lifecycle::next(&Facts {
                    me: self.provider,
                    history: &history,
                    job: job.as_ref(),
                    sig: &sig,
                    // Seen as expired: only the chain's word counts now.
                    block_height: u64::MAX,
                    now: chain.clock().await?.unix_timestamp,
                    output_stored: false,
                }) == lifecycle::Action::Record(Step::Submitted);
                if landed {
                    self.bump(|s| s.submits_landed += 1);
                    return self.record(&key, Step::Submitted);
                }
                // No answer (a timeout, a 429 or 5xx, after the sender's
                // retries) while the chain's word may lag: it may have landed
                // or still land. The journal keeps it as sent, so the next pass
                // over the job settles it from the chain (re-sending the same
                // signature while it can land) rather than taking it for failed.
                if e.is_transient() && !matches!(e, ClientError::BlockhashExpired) {
                    return Err(WorkerError::job(key, JobError::Submission(e)));
                }
                self.record(
                    &key,
                    Step::Done {
                        outcome: format!("submission failed: {e}"),
                    },
                )?;
                Err(WorkerError::job(key, JobError::Submission(e)))
            }
        }
    }
}
