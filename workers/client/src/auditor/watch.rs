//! One pass of the watching daemon (`gpumkt audit watch`): every submission verified once,
//! wrong ones challenged and proven, every challengeable committed segment of a live
//! segmented job re-executed once and a wrong one challenged (`segment_watch.rs`), open
//! disputes of ours settled when due.

use std::collections::HashSet;

use anchor_lang::prelude::Pubkey;
use gpu_market::state::{Dispute, DisputeOutcome, JobState, ProofTree};
use serde::Serialize;
use solana_sdk::signature::{Keypair, Signer};

use crate::accounts;
use crate::ix::MarketKeys;
use crate::send::Sender;

use super::*;

/// What [`watch_pass`] does about results it cannot fetch.
#[derive(Clone, Copy, Debug, Default)]
pub struct WatchPolicy {
    /// Challenge C[0][0] of a job whose output is unavailable. Risky: the provider's
    /// worker reveals the row from its own store, and if it is right the challenger
    /// loses its bond.
    pub challenge_unavailable: bool,
}

/// One thing [`watch_pass`] did or saw, for progress lines.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    Verified {
        job: String,
        #[serde(flatten)]
        verdict: Verdict,
    },
    Challenged(Challenged),
    /// A committed segment re-executed (`auditor::verify_prepared`).
    SegmentVerified {
        job: String,
        index: u8,
        #[serde(flatten)]
        verdict: SegmentVerdict,
    },
    /// A wrong segment challenged: the referees re-execute it and `segment_settle`
    /// decides.
    SegmentChallenged {
        job: String,
        index: u8,
        dispute: String,
    },
    /// A dispute of ours resumed (proof transactions sent).
    Proven {
        job: String,
        dispute: String,
        proof_transactions: usize,
    },
    Settled {
        job: String,
        dispute: String,
        outcome: String,
    },
    Pending {
        job: String,
        dispute: String,
        respond_deadline: i64,
    },
    /// Checking or acting on a job failed; it is tried again on the next pass.
    Error {
        job: String,
        error: String,
    },
}

fn outcome_name(o: DisputeOutcome) -> &'static str {
    match o {
        DisputeOutcome::ProviderWrong => "provider_wrong",
        DisputeOutcome::ProviderSilent => "provider_silent",
        DisputeOutcome::ChallengerWrong => "challenger_wrong",
        DisputeOutcome::ChallengerIncomplete => "challenger_incomplete",
        DisputeOutcome::NoRuling => "no_ruling",
    }
}

/// One pass of the watcher: first its own open disputes (proof resumed while staging is
/// open, settled once due; a segment's settled once the referees' rule decides), then
/// every `Submitted` job not in `seen` (verified once; a wrong one challenged and proven;
/// an unavailable one only under [`WatchPolicy::challenge_unavailable`]), then the
/// committed segments of live segmented jobs (`segment_watch.rs`: re-executed once, a
/// wrong one challenged within its window, an unavailable one never). Failures are reported per job and retried
/// next pass; only failing to list the market's accounts fails the pass.
pub async fn watch_pass(
    sender: &Sender,
    auditor: &Keypair,
    challenger: ChallengerAccounts,
    m: &MarketKeys,
    policy: WatchPolicy,
    seen: &mut HashSet<Pubkey>,
    report: &mut (dyn FnMut(WatchEvent) + Send),
) -> Result<()> {
    let chain = &*sender.chain;
    let market = m.market;
    let list_err = AuditorError::chain(market);
    let me = auditor.pubkey();
    let disputes = accounts::list_disputes(chain, &market)
        .await
        .map_err(list_err)?;
    for (key, dispute) in disputes.iter().filter(|(_, x)| x.challenger == me) {
        if dispute.segment.is_some() {
            // Nothing to prove: the referees re-execute the segment.
            settle_report(sender, auditor, m, key, dispute, report).await;
            continue;
        }
        let (job, dk) = (dispute.job.to_string(), key.to_string());
        let now = chain
            .clock()
            .await
            .map_err(AuditorError::chain(market))?
            .unix_timestamp;
        if gpu_market::state::on_time(now, dispute.respond_deadline)
            && !challenger_half_done(chain, dispute).await
        {
            match prove(sender, auditor, &dispute.job, key).await {
                Ok(0) => {}
                Ok(sent) => report(WatchEvent::Proven {
                    job: job.clone(),
                    dispute: dk.clone(),
                    proof_transactions: sent,
                }),
                Err(e) => report(WatchEvent::Error {
                    job: job.clone(),
                    error: e.to_string(),
                }),
            }
        }
        settle_report(sender, auditor, m, key, dispute, report).await;
    }
    let jobs = accounts::list_jobs(chain, &market, Some(JobState::Submitted))
        .await
        .map_err(AuditorError::chain(market))?;
    for (key, job) in jobs {
        if seen.contains(&key) {
            continue;
        }
        let name = key.to_string();
        let verdict = match verify_job(sender, &key).await {
            Ok(v) => v,
            Err(e @ AuditorError::NotGemm { .. }) => {
                // Nothing to rule on, now or later: reported once.
                seen.insert(key);
                report(WatchEvent::Error {
                    job: name,
                    error: e.to_string(),
                });
                continue;
            }
            Err(e) => {
                report(WatchEvent::Error {
                    job: name,
                    error: e.to_string(),
                });
                continue;
            }
        };
        seen.insert(key);
        let target = match &verdict {
            Verdict::Wrong { row, col, .. } => Some((*row, *col)),
            Verdict::OutputUnavailable { .. } if policy.challenge_unavailable => Some((0, 0)),
            _ => None,
        };
        report(WatchEvent::Verified {
            job: name.clone(),
            verdict,
        });
        let Some((row, col)) = target else { continue };
        let now = chain
            .clock()
            .await
            .map_err(AuditorError::chain(market))?
            .unix_timestamp;
        if !gpu_market::state::on_time(now, job.challenge_deadline) {
            report(WatchEvent::Error {
                job: name,
                error: format!(
                    "the challenge window closed at {}; not challenged",
                    job.challenge_deadline
                ),
            });
            continue;
        }
        match challenge_and_prove(sender, auditor, challenger, m, &key, row, col).await {
            Ok(c) => {
                let dispute: Pubkey = c.dispute.parse().expect("a key we printed");
                report(WatchEvent::Challenged(c));
                if let Ok(state) = accounts::fetch_dispute(chain, &dispute).await {
                    settle_report(sender, auditor, m, &dispute, &state, report).await;
                }
            }
            Err(e) => {
                // Tried again next pass (the dispute, if opened, is resumed as ours).
                seen.remove(&key);
                report(WatchEvent::Error {
                    job: name,
                    error: e.to_string(),
                });
            }
        }
    }
    super::segment_watch::watch_segments(sender, auditor, challenger, m, seen, report).await
}

/// The row of A and the column of B are verified and their whole dot product absorbed
/// (so a pass need not fetch the inputs again). `false` when unknown.
async fn challenger_half_done(chain: &dyn crate::chain::Chain, dispute: &Dispute) -> bool {
    if !(dispute.is_proven(ProofTree::A) && dispute.is_proven(ProofTree::B)) {
        return false;
    }
    match accounts::fetch_job(chain, &dispute.job).await {
        Ok(job) => job
            .workload_kind()
            .is_some_and(|w| dispute.absorbed(w) == job.gemm.k),
        Err(_) => false,
    }
}

async fn settle_report(
    sender: &Sender,
    auditor: &Keypair,
    m: &MarketKeys,
    key: &Pubkey,
    dispute: &Dispute,
    report: &mut (dyn FnMut(WatchEvent) + Send),
) {
    let (job, dk) = (dispute.job.to_string(), key.to_string());
    let settled = match dispute.segment {
        Some(_) => settle_segment_when_due(sender, auditor, m, key, dispute).await,
        None => settle_when_due(sender, auditor, m, key).await,
    };
    match settled {
        Ok(Settlement::Settled(o)) => report(WatchEvent::Settled {
            job,
            dispute: dk,
            outcome: outcome_name(o).into(),
        }),
        Ok(Settlement::Pending) => report(WatchEvent::Pending {
            job,
            dispute: dk,
            respond_deadline: dispute.respond_deadline,
        }),
        Ok(Settlement::Closed) => {}
        Err(e) => report(WatchEvent::Error {
            job,
            error: e.to_string(),
        }),
    }
}
