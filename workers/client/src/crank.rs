//! Settling what is due, for anyone: finalize submitted jobs whose challenge
//! window closed, expire claims that missed their submit deadline, and refund
//! unclaimed jobs past their deadline; for segmented jobs, pay committed segments
//! whose window closed, expire running ones past their deadline, and refund pending
//! ones past the job's deadline with none running. Each step earns the caller a bounty
//! or a reporter's share. [`due`], [`segments_due`] and [`segment_refunds_due`] decide from
//! a snapshot (pure); [`crank_once`] acts on them.

use std::collections::HashMap;

use anchor_lang::prelude::Pubkey;
use gpu_market::state::{Job, JobState, Provider, Segments};
use serde::Serialize;
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};

use crate::accounts;
use crate::error::{ClientError, Result};
use crate::ix::{self, MarketKeys};
use crate::send::Sender;
use crate::{pda, segments, token};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CrankKind {
    Finalize,
    Expire,
    ExpireUnclaimed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrankAction {
    pub kind: CrankKind,
    pub job: Pubkey,
}

/// What is due at `now`: exactly what the program's handlers would accept,
/// asked of the same predicates they check (`Job::finalizable_at`,
/// `Job::expirable_at`, `Job::unclaimed_lapsed_at`).
pub fn due(jobs: &[(Pubkey, Job)], now: i64) -> Vec<CrankAction> {
    jobs.iter()
        .filter_map(|(key, j)| {
            let kind = if j.finalizable_at(now) {
                CrankKind::Finalize
            } else if j.expirable_at(now) {
                CrankKind::Expire
            } else if j.unclaimed_lapsed_at(now) {
                CrankKind::ExpireUnclaimed
            } else {
                return None;
            };
            Some(CrankAction { kind, job: *key })
        })
        .collect()
}

/// What anyone may do to one segment of a segmented job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentDutyKind {
    /// Pay a committed segment whose challenge window closed (`segment_finalize`).
    Finalize,
    /// Slash a running segment past its deadline (`segment_expire`).
    Expire,
    /// Refund the pending segments, from `index` (the job's next) on, past the job's
    /// deadline with none running (`segment_refund`).
    Refund,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentDuty {
    pub kind: SegmentDutyKind,
    pub job: Pubkey,
    pub index: u8,
}

/// What is due at `now` among segmented jobs' segments: exactly what the program
/// would accept, asked of its own predicates (`Segments::finalizable_at`,
/// `Segments::late_at`).
pub fn segments_due(jobs: &[(Pubkey, Segments)], now: i64) -> Vec<SegmentDuty> {
    let mut out = Vec::new();
    for (job, s) in jobs {
        for index in 0..s.count {
            let kind = if s.finalizable_at(index, now) {
                SegmentDutyKind::Finalize
            } else if s.late_at(index, now) {
                SegmentDutyKind::Expire
            } else {
                continue;
            };
            out.push(SegmentDuty {
                kind,
                job: *job,
                index,
            });
        }
    }
    out
}

/// The segmented jobs whose pending segments anyone may refund at `now`, asked of the
/// program's own predicate (`Segments::refundable_at`: past the job's deadline, none
/// running).
pub fn segment_refunds_due(
    jobs: &[(Pubkey, Job)],
    segmented: &[(Pubkey, Segments)],
    now: i64,
) -> Vec<SegmentDuty> {
    let by_key: HashMap<&Pubkey, &Job> = jobs.iter().map(|(k, j)| (k, j)).collect();
    segmented
        .iter()
        .filter(|(k, s)| by_key.get(k).is_some_and(|j| s.refundable_at(j, now)))
        .map(|(k, s)| SegmentDuty {
            kind: SegmentDutyKind::Refund,
            job: *k,
            index: s.next,
        })
        .collect()
}

/// The instruction for one segment duty; like [`instructions`], it creates no account.
pub fn segment_instructions(
    m: &MarketKeys,
    duty: SegmentDuty,
    job: &Job,
    segments: &Segments,
    providers: &HashMap<Pubkey, Provider>,
    cranker: &Pubkey,
) -> Result<Vec<Instruction>> {
    let ran = || {
        segments
            .provider_of(duty.index)
            .ok_or(ClientError::AccountNotFound(pda::segments(&duty.job)))
    };
    let ix = match duty.kind {
        SegmentDutyKind::Finalize => {
            let provider_key = ran()?;
            let provider = providers
                .get(&provider_key)
                .ok_or(ClientError::AccountNotFound(provider_key))?;
            let mine = token::ata(cranker, &m.payment_mint);
            segments::finalize_ix(
                m,
                duty.job,
                job,
                duty.index,
                provider_key,
                provider,
                *cranker,
                mine,
            )
        }
        SegmentDutyKind::Expire => {
            let mine = token::ata(cranker, &m.stake_mint);
            segments::expire_ix(m, duty.job, job, duty.index, ran()?, *cranker, mine)
        }
        SegmentDutyKind::Refund => {
            let mine = token::ata(cranker, &m.payment_mint);
            segments::refund_ix(m, duty.job, job, *cranker, mine)
        }
    };
    Ok(vec![ix])
}

/// The `Segments` of the segmented jobs among `jobs` (one read for all of them).
pub async fn load_segments(
    chain: &dyn crate::chain::Chain,
    jobs: &[(Pubkey, Job)],
) -> Result<Vec<(Pubkey, Segments)>> {
    let keys: Vec<Pubkey> = jobs
        .iter()
        .filter(|(_, j)| j.state == JobState::Segmented)
        .map(|(k, _)| *k)
        .collect();
    let addresses: Vec<Pubkey> = keys.iter().map(pda::segments).collect();
    let mut out = Vec::with_capacity(keys.len());
    for ((job, address), account) in keys
        .iter()
        .zip(&addresses)
        .zip(chain.get_multiple_accounts(&addresses).await?)
    {
        // Closed between the two reads: settled, nothing due.
        if let Some(a) = account {
            out.push((*job, accounts::decode(address, &a.data, "segments")?));
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CrankReport {
    pub finalized: Vec<String>,
    pub expired: Vec<String>,
    pub refunded: Vec<String>,
    /// Segments paid and expired, as "job#index".
    pub segments_paid: Vec<String>,
    pub segments_expired: Vec<String>,
    /// Jobs whose pending segments were refunded past their deadline, as "job#next".
    pub segments_refunded: Vec<String>,
    /// Someone else settled these first; nothing was lost.
    pub skipped: Vec<String>,
    pub failed: Vec<(String, String)>,
}

impl CrankReport {
    pub fn acted(&self) -> usize {
        self.finalized.len()
            + self.expired.len()
            + self.refunded.len()
            + self.segments_paid.len()
            + self.segments_expired.len()
            + self.segments_refunded.len()
    }
}

/// The instructions for one action: the settlement alone. It never creates an
/// account: the buyer's refund and slash-share accounts are the ones the job
/// recorded at posting (the program pays them only if they can still
/// receive), and the crank's own accounts are made once, by
/// [`own_accounts_instructions`], before it cranks. So a crank never pays
/// rent that someone else can take back, and spends only transaction fees.
pub fn instructions(
    m: &MarketKeys,
    action: CrankAction,
    job: &Job,
    providers: &HashMap<Pubkey, Provider>,
    cranker: &Pubkey,
) -> Result<Vec<Instruction>> {
    let ix = match action.kind {
        CrankKind::Finalize => {
            let provider = providers
                .get(&job.provider)
                .ok_or(ClientError::AccountNotFound(job.provider))?;
            let mine = token::ata(cranker, &m.payment_mint);
            ix::job_finalize(m, action.job, job, provider, *cranker, mine)
        }
        CrankKind::Expire => {
            let mine = token::ata(cranker, &m.stake_mint);
            ix::job_expire(m, action.job, job, *cranker, mine)
        }
        CrankKind::ExpireUnclaimed => {
            let mine = token::ata(cranker, &m.payment_mint);
            ix::job_expire_unclaimed(m, action.job, job, *cranker, mine)
        }
    };
    Ok(vec![ix])
}

/// Creates the crank's own associated token accounts for both mints (its
/// rent, its accounts, closable by it). Idempotent.
pub fn own_accounts_instructions(m: &MarketKeys, cranker: &Pubkey) -> Vec<Instruction> {
    let mut ixs = vec![token::create_ata_idempotent(
        cranker,
        cranker,
        &m.payment_mint,
    )];
    if m.stake_mint != m.payment_mint {
        ixs.push(token::create_ata_idempotent(
            cranker,
            cranker,
            &m.stake_mint,
        ));
    }
    ixs
}

/// Reads the market, settles everything due, and reports what happened.
pub async fn crank_once(
    sender: &Sender,
    cranker: &Keypair,
    market: &Pubkey,
) -> Result<CrankReport> {
    let chain = &*sender.chain;
    let state = accounts::fetch_market(chain, market).await?;
    let m = MarketKeys::new(*market, &state);
    let jobs = accounts::list_jobs(chain, market, None).await?;
    let now = chain.clock().await?.unix_timestamp;
    let actions = due(&jobs, now);
    let segmented = load_segments(chain, &jobs).await?;
    let mut duties = segments_due(&segmented, now);
    duties.extend(segment_refunds_due(&jobs, &segmented, now));
    let mut report = CrankReport::default();
    if actions.is_empty() && duties.is_empty() {
        return Ok(report);
    }
    let mine = [
        token::ata(&cranker.pubkey(), &m.payment_mint),
        token::ata(&cranker.pubkey(), &m.stake_mint),
    ];
    if chain
        .get_multiple_accounts(&mine)
        .await?
        .iter()
        .any(Option::is_none)
    {
        sender
            .send(
                &own_accounts_instructions(&m, &cranker.pubkey()),
                cranker,
                &[],
            )
            .await?;
    }
    let providers: HashMap<Pubkey, Provider> = accounts::list_providers(chain, market)
        .await?
        .into_iter()
        .collect();
    let by_key: HashMap<Pubkey, &Job> = jobs.iter().map(|(k, j)| (*k, j)).collect();
    for action in actions {
        let job = by_key[&action.job];
        let key = action.job.to_string();
        let result = match instructions(&m, action, job, &providers, &cranker.pubkey()) {
            Ok(ixs) => sender.send(&ixs, cranker, &[]).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => match action.kind {
                CrankKind::Finalize => report.finalized.push(key),
                CrankKind::Expire => report.expired.push(key),
                CrankKind::ExpireUnclaimed => report.refunded.push(key),
            },
            Err(e) if lost_race(&e) => report.skipped.push(key),
            Err(e) => report.failed.push((key, e.to_string())),
        }
    }
    let segments_of: HashMap<Pubkey, &Segments> = segmented.iter().map(|(k, s)| (*k, s)).collect();
    for duty in duties {
        let job = by_key[&duty.job];
        let key = format!("{}#{}", duty.job, duty.index);
        let result = match segment_instructions(
            &m,
            duty,
            job,
            segments_of[&duty.job],
            &providers,
            &cranker.pubkey(),
        ) {
            Ok(ixs) => sender.send(&ixs, cranker, &[]).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => match duty.kind {
                SegmentDutyKind::Finalize => report.segments_paid.push(key),
                SegmentDutyKind::Expire => report.segments_expired.push(key),
                SegmentDutyKind::Refund => report.segments_refunded.push(key),
            },
            Err(e) if lost_race(&e) => report.skipped.push(key),
            Err(e) => report.failed.push((key, e.to_string())),
        }
    }
    Ok(report)
}

/// Another crank (or the buyer) settled the job between our read and our send.
fn lost_race(e: &ClientError) -> bool {
    matches!(
        e.error_name(),
        Some(
            "JobNotSubmitted"
                | "JobNotClaimed"
                | "JobNotOpen"
                | "SegmentNotCommitted"
                | "SegmentNotRunning"
                | "SegmentNotPending"
                | "AccountNotInitialized"
                | "AccountDiscriminatorMismatch"
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market::state::JobState;

    fn job(state: JobState, deadline: i64, submit_deadline: i64, challenge_deadline: i64) -> Job {
        Job {
            state,
            deadline,
            submit_deadline,
            challenge_deadline,
            ..Job::fixture()
        }
    }

    #[test]
    fn segment_duties_follow_the_programs_predicates() {
        use gpu_market::state::SegmentTerms;
        let terms = [SegmentTerms {
            price: 1_000,
            duration: 100,
        }; 3];
        let (mut job, mut s) = Segments::fixture(&terms);
        let p = Pubkey::new_unique();
        s.start(&mut job, p, 500, 1, 1_000, 0).unwrap();
        s.commit(&mut job, 0, &p, [1; 32], "c0".into(), 40).unwrap();
        s.start(&mut job, p, 500, 1, 1_000, 40).unwrap();
        let key = Pubkey::new_unique();
        let jobs = vec![(key, s)];
        // Segment 0's window closes at 70, segment 1 is due at 140.
        assert!(segments_due(&jobs, 70).is_empty());
        let duty = |kind, index| SegmentDuty {
            kind,
            job: key,
            index,
        };
        assert_eq!(
            segments_due(&jobs, 71),
            vec![duty(SegmentDutyKind::Finalize, 0)]
        );
        assert_eq!(
            segments_due(&jobs, 141),
            vec![
                duty(SegmentDutyKind::Finalize, 0),
                duty(SegmentDutyKind::Expire, 1)
            ]
        );
        // A segmented job is never a single-job duty.
        assert!(due(&[(key, job.clone())], 10_000).is_empty());
        // Past the job's deadline (1_000) a running segment still holds the refund off;
        // once it expired (pending again, none running) the rest is refundable.
        let jobs_by = vec![(key, job.clone())];
        assert!(segment_refunds_due(&jobs_by, &jobs, 1_001).is_empty());
        let mut s = jobs[0].1.clone();
        let mut j = job;
        s.expire(&mut j, 1, 1_001).unwrap();
        // Past its deadline the miss refunded the rest by itself: nothing pending left.
        assert!(segment_refunds_due(&[(key, j.clone())], &[(key, s)], 1_001).is_empty());
        let (mut j, mut s) = Segments::fixture(&terms);
        s.start(&mut j, p, 500, 1, 1_000, 0).unwrap();
        s.commit(&mut j, 0, &p, [1; 32], "c0".into(), 40).unwrap();
        let (jobs_by, segs) = (vec![(key, j)], vec![(key, s)]);
        assert!(segment_refunds_due(&jobs_by, &segs, 1_000).is_empty());
        assert_eq!(
            segment_refunds_due(&jobs_by, &segs, 1_001),
            vec![duty(SegmentDutyKind::Refund, 1)]
        );
    }

    #[test]
    fn due_follows_the_deadline_convention() {
        let k = |i: u8| Pubkey::new_from_array([i; 32]);
        let jobs = vec![
            (k(1), job(JobState::Submitted, 0, 0, 100)),
            (k(2), job(JobState::Claimed, 1_000, 100, 0)),
            (k(3), job(JobState::Open, 100, 0, 0)),
        ];
        assert!(due(&jobs, 100).is_empty());
        // A disputed result is never finalized by the crank, however late.
        let disputed = vec![(k(4), job(JobState::Disputed, 0, 0, 100))];
        assert!(due(&disputed, 1_000).is_empty());
        let at = due(&jobs, 101);
        assert_eq!(
            at,
            vec![
                CrankAction {
                    kind: CrankKind::Finalize,
                    job: k(1)
                },
                CrankAction {
                    kind: CrankKind::Expire,
                    job: k(2)
                },
                CrankAction {
                    kind: CrankKind::ExpireUnclaimed,
                    job: k(3)
                },
            ]
        );
    }
}
