//! Settling what is due, for anyone: finalize submitted jobs whose challenge
//! window closed, expire claims that missed their submit deadline, and refund
//! unclaimed jobs past their deadline. Each step earns the caller a bounty.
//! [`due`] decides from a snapshot (pure); [`crank_once`] acts on it.

use std::collections::HashMap;

use anchor_lang::prelude::Pubkey;
use gpu_market::state::{Job, Provider};
use serde::Serialize;
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};

use crate::accounts;
use crate::error::{ClientError, Result};
use crate::ix::{self, MarketKeys};
use crate::send::Sender;
use crate::token;

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

#[derive(Clone, Debug, Default, Serialize)]
pub struct CrankReport {
    pub finalized: Vec<String>,
    pub expired: Vec<String>,
    pub refunded: Vec<String>,
    /// Someone else settled these first; nothing was lost.
    pub skipped: Vec<String>,
    pub failed: Vec<(String, String)>,
}

impl CrankReport {
    pub fn acted(&self) -> usize {
        self.finalized.len() + self.expired.len() + self.refunded.len()
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
    let mut report = CrankReport::default();
    if actions.is_empty() {
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
