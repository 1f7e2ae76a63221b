//! The watcher's pass over live segmented jobs: each committed segment that is
//! challengeable now is re-executed once ([`verify_prepared`]), a wrong one is
//! challenged at once (`segments::challenge`), an unavailable or correct one never; and
//! a segment dispute of ours is settled (`segments::settle`) once the referees' rule
//! decides (`Dispute::segment_outcome_at`).
//!
//! Only segments the program would accept a challenge of are re-executed: one whose
//! window closed could not be challenged whatever it holds, and one behind another
//! dispute on its job waits until that dispute settles (it may be overturned with it),
//! then is checked if its window is still open. The watcher remembers what it checked by
//! [`seen_key`] in the same set as the GEMM jobs it verified.

use std::collections::HashSet;

use anchor_lang::prelude::Pubkey;
use gpu_market::state::{Dispute, JobState, SegmentState};
use gpu_market_compute::spec::sha256;
use solana_sdk::signature::{Keypair, Signer};

use super::*;
use crate::ix::{MarketKeys, SettleAccounts};
use crate::segments as seg;
use crate::send::Sender;
use crate::{accounts, token};

/// The watcher's memory entry for segment `index` of `job` committed with `root`: the
/// SHA-256 of a domain tag, the job, the index and the root, as a key beside the GEMM
/// jobs' addresses (no job address is a hash of this tag). The root is part of it so
/// that a root committed again for that index would be checked again.
pub fn seen_key(job: &Pubkey, index: u8, root: &[u8; 32]) -> Pubkey {
    let mut bytes = Vec::with_capacity(19 + 32 + 1 + 32);
    bytes.extend_from_slice(b"gpu-market segment ");
    bytes.extend_from_slice(job.as_ref());
    bytes.push(index);
    bytes.extend_from_slice(root);
    Pubkey::new_from_array(sha256(&bytes).0)
}

/// Re-executes, and challenges when wrong, every live segment the watcher has not
/// checked yet that is challengeable now (see the module doc). Failures are reported
/// per job and retried next pass.
pub(super) async fn watch_segments(
    sender: &Sender,
    auditor: &Keypair,
    challenger: ChallengerAccounts,
    m: &MarketKeys,
    seen: &mut HashSet<Pubkey>,
    report: &mut (dyn FnMut(WatchEvent) + Send),
) -> Result<()> {
    let chain = &*sender.chain;
    let jobs = accounts::list_jobs(chain, &m.market, Some(JobState::Segmented))
        .await
        .map_err(AuditorError::chain(m.market))?;
    for (key, job) in jobs {
        let name = key.to_string();
        let err = |e: &dyn std::fmt::Display| WatchEvent::Error {
            job: name.clone(),
            error: e.to_string(),
        };
        let segments = match seg::fetch_segments(chain, &key).await {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => {
                report(err(&e));
                continue;
            }
        };
        let now = chain
            .clock()
            .await
            .map_err(AuditorError::chain(m.market))?
            .unix_timestamp;
        let due: Vec<u8> = to_verify(&segments)
            .into_iter()
            .filter(|&i| {
                let s = &segments.segments[usize::from(i)];
                s.state == SegmentState::Committed
                    && !seen.contains(&seen_key(&key, i, &s.state_root))
                    && challenge_action(&segments, i, now) == ChallengeAction::Challenge
            })
            .collect();
        if due.is_empty() {
            continue;
        }
        let inputs = match fetch_train(&key, &job).await {
            Ok(x) => x,
            Err(e) => {
                report(err(&e));
                continue;
            }
        };
        for index in due {
            let root = segments.segments[usize::from(index)].state_root;
            let verdict = match verify_prepared(&key, &inputs, &segments, index).await {
                Ok(v) => v,
                Err(e) => {
                    report(err(&e));
                    continue;
                }
            };
            let seen_as = seen_key(&key, index, &root);
            seen.insert(seen_as);
            let wrong = matches!(verdict, SegmentVerdict::Wrong { .. });
            report(WatchEvent::SegmentVerified {
                job: name.clone(),
                index,
                verdict,
            });
            if !wrong {
                continue;
            }
            // Training took time: the window is asked again, by the program's rule.
            let now = chain
                .clock()
                .await
                .map_err(AuditorError::chain(m.market))?
                .unix_timestamp;
            if challenge_action(&segments, index, now) != ChallengeAction::Challenge {
                report(err(&format!(
                    "segment {index}'s challenge window closed at {}; not challenged",
                    segments.segments[usize::from(index)].challenge_deadline
                )));
                continue;
            }
            match seg::challenge(
                sender,
                auditor,
                m,
                &key,
                index,
                auditor,
                challenger.payment,
                challenger.stake,
            )
            .await
            {
                Ok(dispute) => {
                    report(WatchEvent::SegmentChallenged {
                        job: name.clone(),
                        index,
                        dispute: dispute.to_string(),
                    });
                    // One dispute per job: its later segments wait for this one.
                    break;
                }
                Err(e) => {
                    seen.remove(&seen_as);
                    report(err(&AuditorError::chain(key)(e)));
                }
            }
        }
    }
    Ok(())
}

/// Settles segment dispute `dispute_key` once [`Dispute::segment_outcome_at`] decides,
/// `settler` paying the fee (and earning an overturned segment's bounty).
pub async fn settle_segment_when_due(
    sender: &Sender,
    settler: &Keypair,
    m: &MarketKeys,
    dispute_key: &Pubkey,
    dispute: &Dispute,
) -> Result<Settlement> {
    let chain = &*sender.chain;
    let job = dispute.job;
    if chain
        .get_account(dispute_key)
        .await
        .map_err(AuditorError::chain(job))?
        .is_none()
    {
        return Ok(Settlement::Closed);
    }
    let Some(segments) = seg::fetch_segments(chain, &job)
        .await
        .map_err(AuditorError::chain(job))?
    else {
        return Ok(Settlement::Closed);
    };
    let now = chain
        .clock()
        .await
        .map_err(AuditorError::chain(job))?
        .unix_timestamp;
    let Ok(outcome) = dispute.segment_outcome_at(&segments, now) else {
        return Ok(Settlement::Pending);
    };
    let accounts = SettleAccounts {
        settler: settler.pubkey(),
        settler_payment_account: token::ata(&settler.pubkey(), &m.payment_mint),
    };
    seg::settle(sender, settler, m, &job, dispute_key, &accounts)
        .await
        .map_err(AuditorError::chain(job))?;
    Ok(Settlement::Settled(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The watcher's memory keeps a segment apart from its job, from the job's other
    /// segments and from another root committed at the same index.
    #[test]
    fn a_segments_key_is_its_own_per_job_index_and_root() {
        let job = Pubkey::new_unique();
        let k = seen_key(&job, 1, &[7; 32]);
        assert_eq!(k, seen_key(&job, 1, &[7; 32]));
        for other in [
            job,
            seen_key(&job, 0, &[7; 32]),
            seen_key(&job, 1, &[8; 32]),
            seen_key(&Pubkey::new_unique(), 1, &[7; 32]),
        ] {
            assert_ne!(k, other);
        }
    }
}
