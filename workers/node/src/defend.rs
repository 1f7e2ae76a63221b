//! Answering challenges to this provider's results. A provider that does not verify its
//! row of C before a dispute's response deadline loses by default, so the worker answers
//! every challenge to its own jobs by itself: the snapshot (live jobs, the market's open
//! disputes, the proof buffers this worker paid for) and the time go in, and the defense
//! steps come out, as a pure function tested as a table; [`crate::worker::Worker`] does
//! the I/O (fetch the spec and the stored output, build the row's Merkle path, stage it).
//!
//! - **Reveal**: a dispute of one of our jobs whose row of C is not verified, while
//!   staging is open. The row is the committed one (read back from the output we stored and
//!   checked against our own result root), so an honest result is always upheld.
//! - **Settle**: a dispute the provider wins by rule now (`Dispute::outcome_at`: the
//!   ruling upheld the element, or the challenger did not finish by the deadline), so an
//!   honest provider's payment never waits on someone else's crank. A dispute the provider
//!   loses is left to others: the challenger has every reason to settle it.
//! - **Close**: a proof buffer this worker paid for whose dispute is no longer open (its
//!   rent comes back).

use std::collections::HashMap;

use gpu_market::state::{Dispute, Job, JobState, ProofBuffer, ProofTree};
use gpu_market_client::Pubkey;
use solana_sdk::signature::Signer;

/// One defense step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defense {
    Reveal { job: Pubkey, dispute: Pubkey },
    Settle { job: Pubkey, dispute: Pubkey },
    Close { dispute: Pubkey, tree: ProofTree },
}

/// What to do about the disputes of provider `me` at `now`.
pub fn plan(
    me: &Pubkey,
    jobs: &[(Pubkey, Job)],
    disputes: &[(Pubkey, Dispute)],
    buffers: &[(Pubkey, ProofBuffer)],
    now: i64,
) -> Vec<Defense> {
    let jobs: HashMap<&Pubkey, &Job> = jobs.iter().map(|(k, j)| (k, j)).collect();
    let mut out = Vec::new();
    for (key, d) in disputes {
        if d.provider != *me {
            continue;
        }
        let Some(job) = jobs.get(&d.job) else {
            continue;
        };
        if job.state != JobState::Disputed || job.dispute != *key {
            continue;
        }
        // A refereed dispute has no row to reveal: referees re-execute the job.
        if !d.is_refereed(job) && !d.is_proven(ProofTree::C) && d.check_staging_at(now).is_ok() {
            out.push(Defense::Reveal {
                job: d.job,
                dispute: *key,
            });
        } else if d
            .outcome_at(job, now)
            .is_ok_and(|outcome| !outcome.provider_loses())
        {
            out.push(Defense::Settle {
                job: d.job,
                dispute: *key,
            });
        }
    }
    let open: std::collections::HashSet<&Pubkey> = disputes.iter().map(|(k, _)| k).collect();
    for (_, b) in buffers {
        if !open.contains(&b.dispute) {
            out.push(Defense::Close {
                dispute: b.dispute,
                tree: b.tree,
            });
        }
    }
    out
}

/// Why a defense step failed (logged; the next tick tries again while it can).
#[derive(Debug, thiserror::Error)]
pub enum DefenseError {
    #[error("reading the job's spec or stored output: {0}")]
    Blob(#[from] gpu_market_blobs::BlobError),
    #[error("the job's spec: {0}")]
    Spec(#[from] gpu_market_compute::spec::SpecError),
    #[error("committing to the stored output: {0}")]
    Commit(#[from] gpu_market_compute::commit::CommitError),
    #[error("the path of the disputed row: {0}")]
    Merkle(#[from] gpu_market_compute::merkle::MerkleError),
    #[error("the result URI {0} does not name its SHA-256")]
    ResultUri(String),
    #[error("the stored output does not hold row {row} of a {n}-column result")]
    RowOutOfRange { row: u32, n: u32 },
    #[error(transparent)]
    Client(#[from] gpu_market_client::error::ClientError),
    #[error("reading the job's spec: {0}")]
    Prepare(#[from] crate::error::PrepareError),
}

impl crate::worker::Worker {
    /// Answers the challenges to this provider's results (see the module documentation);
    /// reads the disputes and this worker's buffers only when there may be something to do.
    pub(crate) async fn defend(&self, jobs: &[(Pubkey, Job)], now: i64) {
        use gpu_market_client::accounts;
        let chain = &*self.sender.chain;
        let ours = jobs
            .iter()
            .any(|(_, j)| j.provider == self.provider && j.state == JobState::Disputed);
        let buffers = match accounts::list_proof_buffers(chain, &self.key.pubkey()).await {
            Ok(b) => b,
            Err(e) => return tracing::warn!(error = %e, "listing proof buffers failed"),
        };
        if !ours && buffers.is_empty() {
            return;
        }
        let disputes = match accounts::list_disputes(chain, &self.cfg.market).await {
            Ok(d) => d,
            Err(e) => return tracing::warn!(error = %e, "listing disputes failed"),
        };
        let by_key: HashMap<Pubkey, &Dispute> = disputes.iter().map(|(k, d)| (*k, d)).collect();
        let job_of: HashMap<Pubkey, &Job> = jobs.iter().map(|(k, j)| (*k, j)).collect();
        for step in plan(&self.provider, jobs, &disputes, &buffers, now) {
            let r = match step {
                Defense::Reveal { job, dispute } => self
                    .reveal(&job, job_of[&job], &dispute, by_key[&dispute])
                    .await
                    .map(|_| self.bump(|s| s.disputes_answered += 1)),
                Defense::Settle { job, dispute } => self
                    .settle_won(&job, &dispute)
                    .await
                    .map(|_| self.bump(|s| s.disputes_settled += 1)),
                Defense::Close { dispute, tree } => self.close_buffer(&dispute, tree).await,
            };
            if let Err(e) = r {
                tracing::warn!(?step, error = %e, "defense step failed");
            }
        }
    }

    /// Stages and verifies the disputed row of our own committed output.
    async fn reveal(
        &self,
        job_key: &Pubkey,
        job: &Job,
        dispute_key: &Pubkey,
        d: &Dispute,
    ) -> Result<(), DefenseError> {
        // The spec URI is the buyer's: read through the worker's URI policy, as at prepare.
        let spec = self.read_spec(job).await?;
        let sha = gpu_market_blobs::uri_sha256(&job.result_uri)
            .ok_or_else(|| DefenseError::ResultUri(job.result_uri.clone()))?;
        let output = self.blobs.get(&job.result_uri, &sha).await?;
        let tree = gpu_market_compute::commit::result_tree(&spec.workload, &output)?;
        let width = job.gemm.n as usize * 4;
        let at = d.row as usize * width;
        let row = output
            .get(at..at + width)
            .ok_or(DefenseError::RowOutOfRange {
                row: d.row,
                n: job.gemm.n,
            })?;
        let path = tree.proof(d.row as usize)?;
        tracing::info!(job = %job_key, dispute = %dispute_key, row = d.row, col = d.col, "answering a challenge: revealing the committed row");
        gpu_market_client::dispute::stage_leaf(
            &self.sender,
            &self.key,
            job_key,
            dispute_key,
            ProofTree::C,
            row,
            &path,
        )
        .await?;
        Ok(())
    }

    /// Settles a dispute this provider has won, so its payment does not wait on others.
    async fn settle_won(&self, job_key: &Pubkey, dispute_key: &Pubkey) -> Result<(), DefenseError> {
        Ok(self.settle_as_worker(job_key, dispute_key).await?)
    }

    /// Settles a dispute with the worker key as settler (a crank bounty, when the provider
    /// lost, goes to the worker key's payment account). Shared with the referee duties.
    pub(crate) async fn settle_as_worker(
        &self,
        job_key: &Pubkey,
        dispute_key: &Pubkey,
    ) -> Result<(), gpu_market_client::error::ClientError> {
        use gpu_market_client::{ix::SettleAccounts, token};
        let m = &self.market;
        let accounts = SettleAccounts {
            settler: self.key.pubkey(),
            settler_payment_account: token::ata(&self.key.pubkey(), &m.payment_mint),
        };
        gpu_market_client::dispute::settle(
            &self.sender,
            &self.key,
            m,
            job_key,
            dispute_key,
            &accounts,
        )
        .await
    }

    async fn close_buffer(&self, dispute: &Pubkey, tree: ProofTree) -> Result<(), DefenseError> {
        let ix = gpu_market_client::ix::proof_close(self.key.pubkey(), *dispute, tree);
        self.sender.send(&[ix], &self.key, &[]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market::state::ACC_LEN;

    fn dispute(job: Pubkey, provider: Pubkey) -> Dispute {
        Dispute {
            market: Pubkey::new_unique(),
            job,
            id: 0,
            challenger: Pubkey::new_unique(),
            challenger_payment_account: Pubkey::new_unique(),
            challenger_stake_account: Pubkey::new_unique(),
            provider,
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
            referee: Default::default(),
            segment: None,
        }
    }

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
        job.provider = me;
        job.dispute = dispute_key;
        job.gemm.k = 4;
        Case {
            me,
            job_key,
            dispute_key,
            job,
            dispute: dispute(job_key, me),
        }
    }

    impl Case {
        fn plan(&self, now: i64) -> Vec<Defense> {
            plan(
                &self.me,
                &[(self.job_key, self.job.clone())],
                &[(self.dispute_key, self.dispute.clone())],
                &[],
                now,
            )
        }
    }

    #[test]
    fn an_unanswered_challenge_is_revealed_while_staging_is_open_and_not_after() {
        let c = case();
        let reveal = Defense::Reveal {
            job: c.job_key,
            dispute: c.dispute_key,
        };
        assert_eq!(c.plan(100), vec![reveal]);
        assert_eq!(c.plan(130), vec![reveal], "on time at the deadline second");
        assert_eq!(c.plan(131), vec![], "too late: the provider has lost");
    }

    #[test]
    fn a_revealed_dispute_the_challenger_left_incomplete_is_settled_after_the_deadline() {
        let mut c = case();
        c.dispute.proven = ProofTree::C.bit();
        assert_eq!(c.plan(130), vec![], "not decidable before the deadline");
        assert_eq!(
            c.plan(131),
            vec![Defense::Settle {
                job: c.job_key,
                dispute: c.dispute_key
            }]
        );
    }

    #[test]
    fn a_complete_dispute_is_settled_at_once_when_the_element_is_upheld_and_left_when_not() {
        let mut c = case();
        c.dispute.proven = 7;
        // k = 4 elements absorbed, partial sum 9.
        let mut acc = gpu_market_ruling::I8Accumulator::new();
        acc.absorb(&[1, 2, 0, 0], &[1, 4, 0, 0]).unwrap();
        c.dispute.acc[..12].copy_from_slice(&acc.to_bytes());
        c.dispute.claimed = 9i32.to_le_bytes();
        assert_eq!(
            c.plan(101),
            vec![Defense::Settle {
                job: c.job_key,
                dispute: c.dispute_key
            }]
        );
        c.dispute.claimed = 8i32.to_le_bytes();
        assert_eq!(
            c.plan(101),
            vec![],
            "a lost dispute is the challenger's to settle"
        );
    }

    #[test]
    fn disputes_of_other_providers_or_stale_jobs_are_not_ours() {
        let mut c = case();
        c.dispute.provider = Pubkey::new_unique();
        assert_eq!(c.plan(100), vec![]);
        let mut c = case();
        c.job.dispute = Pubkey::new_unique();
        assert_eq!(c.plan(100), vec![], "the job is under another dispute");
        let mut c = case();
        c.job.state = JobState::Submitted;
        assert_eq!(c.plan(100), vec![]);
    }

    #[test]
    fn buffers_of_settled_disputes_are_closed_and_open_ones_kept() {
        let c = case();
        let settled = Pubkey::new_unique();
        let buffer = |dispute| ProofBuffer {
            dispute,
            payer: c.me,
            tree: ProofTree::C,
            len: 16,
            bump: 255,
        };
        let steps = plan(
            &c.me,
            &[(c.job_key, c.job.clone())],
            &[(c.dispute_key, c.dispute.clone())],
            &[
                (Pubkey::new_unique(), buffer(settled)),
                (Pubkey::new_unique(), buffer(c.dispute_key)),
            ],
            131,
        );
        assert_eq!(
            steps,
            vec![Defense::Close {
                dispute: settled,
                tree: ProofTree::C
            }]
        );
    }
}
