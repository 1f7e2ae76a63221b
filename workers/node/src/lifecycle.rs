//! How the worker carries one job forward, as a pure function: given what it
//! journaled about the job, what the chain says about the job and about the
//! transaction the last journal line carries, the block height and the time,
//! [`next`] names the one thing to do now. The worker's I/O (`worker.rs`) only
//! gathers those facts, does what it is told, journals the outcome, and asks
//! again, so every path through a job, after a crash at any point included, is
//! a row of the table in this module's tests.
//!
//! The chain has the final word: a journal that lags it (a claim that landed
//! before the worker could write "claimed") is brought up to date by a
//! [`Action::Record`]; a journal that is ahead of it (a signed transaction the
//! chain never saw) is re-sent with its original signature while its blockhash
//! is valid, so it lands at most once, and given up when it expired.

use gpu_market::state::{Job, JobState};
use gpu_market_client::chain::SignatureStatus;
use gpu_market_client::Pubkey;

use crate::journal::{Entry, Executed, Step};

/// What the worker knows about one job when it decides.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// This worker's provider account.
    pub me: Pubkey,
    /// Every journaled step of the job, oldest first.
    pub history: &'a [Step],
    /// The job account now; `None` once it is closed (settled, refunded, cancelled).
    pub job: Option<&'a Job>,
    /// The status of the transaction the last step carries (`Claiming`,
    /// `Submitting`); `Unknown` when it carries none.
    pub sig: &'a SignatureStatus,
    pub block_height: u64,
    /// The chain's unix time.
    pub now: i64,
    /// Whether the output of the latest `Executed` step is still in the blob
    /// store (a result whose output is gone is computed again).
    pub output_stored: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do now: the job is not ours, is settled, or the chain takes
    /// it from here.
    Idle,
    /// Send the last step's transaction again, with its original signature.
    Resend,
    /// Journal this step (the chain already shows it, or shows that nothing
    /// more will happen), then decide again.
    Record(Step),
    /// Ours, claimed and in time, without a stored result: run it.
    Execute,
    /// Ours, claimed and in time, with this stored result: sign and send its
    /// submission.
    Submit(Executed),
}

/// Outcomes journaled in `Done` steps.
pub mod outcome {
    pub const CLAIM_FAILED: &str = "the journaled claim failed on chain";
    pub const CLAIM_EXPIRED: &str = "the journaled claim expired unsent";
    pub const TAKEN: &str = "taken by someone else";
    pub const CLOSED: &str = "settled: the job account is closed";
    pub const DEADLINE_MISSED: &str = "missed the submit deadline";
    pub const REOPENED: &str = "no longer ours: our claim expired and the job is open again";
    pub const LAPSED: &str = "the job's deadline passed unclaimed";
}

/// Whether `job` is held by provider `me`: the program sets `provider` on a
/// claim and clears it when the claim expires (`Job::expire`), so a job names a
/// provider only while that provider's claim stands (claimed, submitted,
/// disputed). The program has no predicate of its own for this; the planner
/// and [`next`] both use this one.
pub fn claimed_by(job: &Job, me: &Pubkey) -> bool {
    job.provider == *me
}

fn done(outcome: &str) -> Action {
    Action::Record(Step::Done {
        outcome: outcome.into(),
    })
}

/// The one thing to do next for a job (see the module doc).
pub fn next(f: &Facts) -> Action {
    let last = f.history.last();
    // Failed after the claim: running it again would fail again, and claiming it
    // again would risk a second bond on it. The chain settles the claim.
    if matches!(last, Some(Step::Failed { .. })) {
        return Action::Idle;
    }
    let ours = |j: &Job| claimed_by(j, &f.me);
    let claimed_by_me = f
        .job
        .is_some_and(|j| ours(j) && j.state == JobState::Claimed);
    let submitted_by_me = f
        .job
        .is_some_and(|j| ours(j) && matches!(j.state, JobState::Submitted | JobState::Disputed));
    let in_time = f.job.is_some_and(|j| j.submittable_at(f.now));

    match last {
        Some(Step::Claiming {
            last_valid_block_height,
            ..
        }) => {
            return match f.sig {
                // Landed but not journaled (killed right after sending).
                SignatureStatus::Landed { error: None, .. } => Action::Record(Step::Claimed),
                SignatureStatus::Landed { error: Some(_), .. } => done(outcome::CLAIM_FAILED),
                // A chain that forgot the signature still shows what it did.
                SignatureStatus::Unknown if claimed_by_me || submitted_by_me => {
                    Action::Record(Step::Claimed)
                }
                SignatureStatus::Unknown if f.block_height > *last_valid_block_height => {
                    done(outcome::CLAIM_EXPIRED)
                }
                // Signed, unknown, blockhash still valid: it may yet land, once.
                SignatureStatus::Unknown if f.job.is_some_and(|j| j.claimable_at(f.now)) => {
                    Action::Resend
                }
                SignatureStatus::Unknown => match f.job {
                    None => done(outcome::CLOSED),
                    Some(j) if j.state == JobState::Open => done(outcome::LAPSED),
                    Some(_) => done(outcome::TAKEN),
                },
            };
        }
        Some(Step::Submitting {
            last_valid_block_height,
            ..
        }) => match f.sig {
            SignatureStatus::Landed { error: None, .. } => return Action::Record(Step::Submitted),
            SignatureStatus::Unknown if submitted_by_me => return Action::Record(Step::Submitted),
            SignatureStatus::Unknown
                if f.block_height <= *last_valid_block_height && claimed_by_me && in_time =>
            {
                return Action::Resend
            }
            // Failed on chain, or expired unsent: what remains is the chain
            // rule below, which submits the result again while it is in time.
            _ => {}
        },
        _ => {}
    }

    // Something is in flight for this job (as opposed to nothing journaled, or done).
    let active = !matches!(last, None | Some(Step::Done { .. }));
    let Some(job) = f.job else {
        return if active {
            done(outcome::CLOSED)
        } else {
            Action::Idle
        };
    };
    if !ours(job) {
        return match (active, job.state) {
            (false, _) => Action::Idle,
            // An expired claim is reopened with its provider cleared.
            (true, JobState::Open) => done(outcome::REOPENED),
            (true, _) => done(outcome::TAKEN),
        };
    }
    match job.state {
        JobState::Claimed if in_time => match latest_result(f.history) {
            Some(result) if f.output_stored => Action::Submit(result.clone()),
            _ => Action::Execute,
        },
        JobState::Claimed if active => done(outcome::DEADLINE_MISSED),
        JobState::Submitted | JobState::Disputed
            if active && !matches!(last, Some(Step::Submitted)) =>
        {
            Action::Record(Step::Submitted)
        }
        _ => Action::Idle,
    }
}

/// The latest result computed for the job. A result computed under an earlier
/// claim of the same job is as good: the spec and inputs are the same.
pub fn latest_result(history: &[Step]) -> Option<&Executed> {
    history.iter().rev().find_map(|s| match s {
        Step::Executed(e) => Some(e),
        _ => None,
    })
}

/// Jobs whose last journaled step is not `Done`: what a restarted worker settles.
pub fn unfinished<'a>(
    journal: impl IntoIterator<Item = (&'a Pubkey, &'a Vec<Entry>)>,
) -> Vec<Pubkey> {
    journal
        .into_iter()
        .filter(|(_, entries)| entries.last().is_some_and(|e| !e.step.is_done()))
        .map(|(k, _)| *k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market_compute::Hash32;
    use solana_sdk::transaction::TransactionError;

    const ME: Pubkey = Pubkey::new_from_array([9; 32]);
    const OTHER: Pubkey = Pubkey::new_from_array([7; 32]);
    const NOW: i64 = 1_000;
    /// The journaled transactions' last valid block height.
    const LVBH: u64 = 500;

    fn claiming() -> Step {
        Step::Claiming {
            tx: String::new(),
            last_valid_block_height: LVBH,
        }
    }
    fn submitting() -> Step {
        Step::Submitting {
            tx: String::new(),
            last_valid_block_height: LVBH,
        }
    }
    fn result() -> Executed {
        Executed {
            root: Hash32([3; 32]),
            output_uri: "file:///blobs/03".into(),
            gpu_ms: 40,
        }
    }
    fn done_step(why: &str) -> Step {
        Step::Done {
            outcome: why.into(),
        }
    }

    /// The chain's side of a row.
    #[derive(Clone, Copy, Debug)]
    enum Chain {
        Closed,
        Open,
        /// Open, its deadline passed (only the crank's refund is left).
        OpenLapsed,
        MineInTime,
        MineLate,
        SubmittedByMe,
        ClaimedByOther,
        SubmittedByOther,
    }
    const CHAINS: [Chain; 8] = [
        Chain::Closed,
        Chain::Open,
        Chain::OpenLapsed,
        Chain::MineInTime,
        Chain::MineLate,
        Chain::SubmittedByMe,
        Chain::ClaimedByOther,
        Chain::SubmittedByOther,
    ];

    fn job(c: Chain) -> Option<Job> {
        let base = Job {
            deadline: NOW + 100,
            submit_deadline: NOW + 50,
            claimed_at: NOW - 10,
            ..Job::fixture()
        };
        let with = |state, provider| {
            Some(Job {
                state,
                provider,
                ..base.clone()
            })
        };
        match c {
            Chain::Closed => None,
            Chain::Open => with(JobState::Open, Pubkey::default()),
            Chain::OpenLapsed => Some(Job {
                deadline: NOW - 1,
                ..with(JobState::Open, Pubkey::default()).unwrap()
            }),
            Chain::MineInTime => with(JobState::Claimed, ME),
            Chain::MineLate => Some(Job {
                submit_deadline: NOW - 1,
                ..with(JobState::Claimed, ME).unwrap()
            }),
            Chain::SubmittedByMe => with(JobState::Submitted, ME),
            Chain::ClaimedByOther => with(JobState::Claimed, OTHER),
            Chain::SubmittedByOther => with(JobState::Submitted, OTHER),
        }
    }

    /// The status of the last step's transaction.
    #[derive(Clone, Copy, Debug)]
    enum Sig {
        Landed,
        Failed,
        /// Unknown, its blockhash still valid.
        Pending,
        /// Unknown, its blockhash expired.
        Expired,
    }
    const SIGS: [Sig; 4] = [Sig::Landed, Sig::Failed, Sig::Pending, Sig::Expired];

    fn decide(history: &[Step], c: Chain, s: Sig, output_stored: bool) -> Action {
        let job = job(c);
        let sig = match s {
            Sig::Landed => SignatureStatus::Landed {
                slot: 1,
                error: None,
            },
            Sig::Failed => SignatureStatus::Landed {
                slot: 1,
                error: Some(TransactionError::AccountNotFound),
            },
            Sig::Pending | Sig::Expired => SignatureStatus::Unknown,
        };
        let block_height = match s {
            Sig::Expired => LVBH + 1,
            // At the last valid height a transaction can still land.
            _ => LVBH,
        };
        next(&Facts {
            me: ME,
            history,
            job: job.as_ref(),
            sig: &sig,
            block_height,
            now: NOW,
            output_stored,
        })
    }

    use Action::*;

    fn rec(step: Step) -> Action {
        Record(step)
    }
    fn rec_done(why: &str) -> Action {
        rec(done_step(why))
    }

    /// Journal ending in `Claiming`: every signature status x every chain state.
    #[test]
    fn a_journaled_claim_is_settled_by_its_signature_then_the_chain() {
        use Chain::*;
        use Sig::*;
        let h = [claiming()];
        #[rustfmt::skip]
        let table: [(Sig, Chain, Action); 32] = [
            // Landed but not journaled: whatever happened since, record the claim first.
            (Landed, Closed, rec(Step::Claimed)),
            (Landed, Open, rec(Step::Claimed)),
            (Landed, OpenLapsed, rec(Step::Claimed)),
            (Landed, MineInTime, rec(Step::Claimed)),
            (Landed, MineLate, rec(Step::Claimed)),
            (Landed, SubmittedByMe, rec(Step::Claimed)),
            (Landed, ClaimedByOther, rec(Step::Claimed)),
            (Landed, SubmittedByOther, rec(Step::Claimed)),
            // Failed on chain: it never will land.
            (Failed, Closed, rec_done(outcome::CLAIM_FAILED)),
            (Failed, Open, rec_done(outcome::CLAIM_FAILED)),
            (Failed, OpenLapsed, rec_done(outcome::CLAIM_FAILED)),
            (Failed, MineInTime, rec_done(outcome::CLAIM_FAILED)),
            (Failed, MineLate, rec_done(outcome::CLAIM_FAILED)),
            (Failed, SubmittedByMe, rec_done(outcome::CLAIM_FAILED)),
            (Failed, ClaimedByOther, rec_done(outcome::CLAIM_FAILED)),
            (Failed, SubmittedByOther, rec_done(outcome::CLAIM_FAILED)),
            // Signed but unknown, blockhash not yet expired.
            (Pending, Closed, rec_done(outcome::CLOSED)),
            (Pending, Open, Resend),
            (Pending, OpenLapsed, rec_done(outcome::LAPSED)),
            (Pending, MineInTime, rec(Step::Claimed)),
            (Pending, MineLate, rec(Step::Claimed)),
            (Pending, SubmittedByMe, rec(Step::Claimed)),
            // The job was taken by someone else: our claim can only fail.
            (Pending, ClaimedByOther, rec_done(outcome::TAKEN)),
            (Pending, SubmittedByOther, rec_done(outcome::TAKEN)),
            // Unknown and expired: it never will land, unless the chain shows ours.
            (Expired, Closed, rec_done(outcome::CLAIM_EXPIRED)),
            (Expired, Open, rec_done(outcome::CLAIM_EXPIRED)),
            (Expired, OpenLapsed, rec_done(outcome::CLAIM_EXPIRED)),
            (Expired, MineInTime, rec(Step::Claimed)),
            (Expired, MineLate, rec(Step::Claimed)),
            (Expired, SubmittedByMe, rec(Step::Claimed)),
            (Expired, ClaimedByOther, rec_done(outcome::CLAIM_EXPIRED)),
            (Expired, SubmittedByOther, rec_done(outcome::CLAIM_EXPIRED)),
        ];
        check(&h, &table, true);
    }

    /// Journal ending in `Submitting`: every signature status x every chain state.
    #[test]
    fn a_journaled_submission_is_settled_by_its_signature_then_the_chain() {
        use Chain::*;
        use Sig::*;
        let h = [
            claiming(),
            Step::Claimed,
            Step::Executed(result()),
            submitting(),
        ];
        #[rustfmt::skip]
        let table: [(Sig, Chain, Action); 32] = [
            // Landed but not journaled.
            (Landed, Closed, rec(Step::Submitted)),
            (Landed, Open, rec(Step::Submitted)),
            (Landed, OpenLapsed, rec(Step::Submitted)),
            (Landed, MineInTime, rec(Step::Submitted)),
            (Landed, MineLate, rec(Step::Submitted)),
            (Landed, SubmittedByMe, rec(Step::Submitted)),
            (Landed, ClaimedByOther, rec(Step::Submitted)),
            (Landed, SubmittedByOther, rec(Step::Submitted)),
            // Failed on chain: the chain decides; in time, the result is submitted again.
            (Failed, Closed, rec_done(outcome::CLOSED)),
            (Failed, Open, rec_done(outcome::REOPENED)),
            (Failed, OpenLapsed, rec_done(outcome::REOPENED)),
            (Failed, MineInTime, Submit(result())),
            (Failed, MineLate, rec_done(outcome::DEADLINE_MISSED)),
            (Failed, SubmittedByMe, rec(Step::Submitted)),
            (Failed, ClaimedByOther, rec_done(outcome::TAKEN)),
            (Failed, SubmittedByOther, rec_done(outcome::TAKEN)),
            // Signed but unknown, blockhash not yet expired: re-send while it can count.
            (Pending, Closed, rec_done(outcome::CLOSED)),
            (Pending, Open, rec_done(outcome::REOPENED)),
            (Pending, OpenLapsed, rec_done(outcome::REOPENED)),
            (Pending, MineInTime, Resend),
            (Pending, MineLate, rec_done(outcome::DEADLINE_MISSED)),
            (Pending, SubmittedByMe, rec(Step::Submitted)),
            (Pending, ClaimedByOther, rec_done(outcome::TAKEN)),
            (Pending, SubmittedByOther, rec_done(outcome::TAKEN)),
            // Expired unsent: sign a fresh submission of the same result.
            (Expired, Closed, rec_done(outcome::CLOSED)),
            (Expired, Open, rec_done(outcome::REOPENED)),
            (Expired, OpenLapsed, rec_done(outcome::REOPENED)),
            (Expired, MineInTime, Submit(result())),
            (Expired, MineLate, rec_done(outcome::DEADLINE_MISSED)),
            (Expired, SubmittedByMe, rec(Step::Submitted)),
            (Expired, ClaimedByOther, rec_done(outcome::TAKEN)),
            (Expired, SubmittedByOther, rec_done(outcome::TAKEN)),
        ];
        check(&h, &table, true);
    }

    /// Journals ending in a step without a transaction: every chain state (the
    /// signature status is ignored, so each row holds for all four).
    #[test]
    fn steps_without_a_transaction_follow_the_chain() {
        use Chain::*;
        let claimed = [claiming(), Step::Claimed];
        let executed = [claiming(), Step::Claimed, Step::Executed(result())];
        let submitted = [
            claiming(),
            Step::Claimed,
            Step::Executed(result()),
            submitting(),
            Step::Submitted,
        ];
        let lost = [claiming(), done_step("lost the claim race")];
        let failed = [
            claiming(),
            Step::Claimed,
            Step::Executed(result()),
            submitting(),
            done_step("submission failed"),
        ];
        let none: [Step; 0] = [];
        let gave_up = [
            claiming(),
            Step::Claimed,
            Step::Failed {
                reason: "execution timed out".into(),
            },
        ];
        type Row = (Chain, Action);
        let rows: [(&str, &[Step], [Row; 8]); 7] = [
            // Failed after the claim: never run or claimed again, whatever the
            // chain says (still ours in time, reopened, or claimed anew).
            (
                "failed after the claim",
                &gave_up,
                [
                    (Closed, Idle),
                    (Open, Idle),
                    (OpenLapsed, Idle),
                    (MineInTime, Idle),
                    (MineLate, Idle),
                    (SubmittedByMe, Idle),
                    (ClaimedByOther, Idle),
                    (SubmittedByOther, Idle),
                ],
            ),
            (
                "claimed",
                &claimed,
                [
                    (Closed, rec_done(outcome::CLOSED)),
                    (Open, rec_done(outcome::REOPENED)),
                    (OpenLapsed, rec_done(outcome::REOPENED)),
                    (MineInTime, Execute),
                    (MineLate, rec_done(outcome::DEADLINE_MISSED)),
                    (SubmittedByMe, rec(Step::Submitted)),
                    (ClaimedByOther, rec_done(outcome::TAKEN)),
                    (SubmittedByOther, rec_done(outcome::TAKEN)),
                ],
            ),
            (
                "executed",
                &executed,
                [
                    (Closed, rec_done(outcome::CLOSED)),
                    (Open, rec_done(outcome::REOPENED)),
                    (OpenLapsed, rec_done(outcome::REOPENED)),
                    (MineInTime, Submit(result())),
                    (MineLate, rec_done(outcome::DEADLINE_MISSED)),
                    (SubmittedByMe, rec(Step::Submitted)),
                    (ClaimedByOther, rec_done(outcome::TAKEN)),
                    (SubmittedByOther, rec_done(outcome::TAKEN)),
                ],
            ),
            (
                "submitted",
                &submitted,
                [
                    (Closed, rec_done(outcome::CLOSED)),
                    (Open, rec_done(outcome::REOPENED)),
                    (OpenLapsed, rec_done(outcome::REOPENED)),
                    (MineInTime, Submit(result())),
                    (MineLate, rec_done(outcome::DEADLINE_MISSED)),
                    (SubmittedByMe, Idle),
                    (ClaimedByOther, rec_done(outcome::TAKEN)),
                    (SubmittedByOther, rec_done(outcome::TAKEN)),
                ],
            ),
            // Done, or nothing journaled: only a claim of ours in time needs work
            // (a lost journal, or a claim that landed after it was given up).
            (
                "done (race lost)",
                &lost,
                [
                    (Closed, Idle),
                    (Open, Idle),
                    (OpenLapsed, Idle),
                    (MineInTime, Execute),
                    (MineLate, Idle),
                    (SubmittedByMe, Idle),
                    (ClaimedByOther, Idle),
                    (SubmittedByOther, Idle),
                ],
            ),
            (
                "done (submission failed)",
                &failed,
                [
                    (Closed, Idle),
                    (Open, Idle),
                    (OpenLapsed, Idle),
                    (MineInTime, Submit(result())),
                    (MineLate, Idle),
                    (SubmittedByMe, Idle),
                    (ClaimedByOther, Idle),
                    (SubmittedByOther, Idle),
                ],
            ),
            (
                "nothing journaled",
                &none,
                [
                    (Closed, Idle),
                    (Open, Idle),
                    (OpenLapsed, Idle),
                    (MineInTime, Execute),
                    (MineLate, Idle),
                    (SubmittedByMe, Idle),
                    (ClaimedByOther, Idle),
                    (SubmittedByOther, Idle),
                ],
            ),
        ];
        for (name, history, table) in rows {
            for chain in CHAINS {
                let n = table
                    .iter()
                    .filter(|(c, _)| std::mem::discriminant(c) == std::mem::discriminant(&chain))
                    .count();
                assert_eq!(n, 1, "{name}: {chain:?} appears once");
            }
            for (chain, want) in table {
                for sig in SIGS {
                    assert_eq!(
                        decide(history, chain, sig, true),
                        want,
                        "{name} x {chain:?} x {sig:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_result_whose_output_is_gone_is_computed_again() {
        let executed = [claiming(), Step::Claimed, Step::Executed(result())];
        assert_eq!(
            decide(&executed, Chain::MineInTime, Sig::Landed, false),
            Execute
        );
        // Once submitted, the stored output no longer matters to the worker.
        let submitted = [Step::Executed(result()), submitting()];
        assert_eq!(
            decide(&submitted, Chain::MineInTime, Sig::Landed, false),
            rec(Step::Submitted)
        );
    }

    fn check(history: &[Step], table: &[(Sig, Chain, Action)], output_stored: bool) {
        for sig in SIGS {
            for chain in CHAINS {
                let rows: Vec<_> = table
                    .iter()
                    .filter(|(s, c, _)| {
                        std::mem::discriminant(s) == std::mem::discriminant(&sig)
                            && std::mem::discriminant(c) == std::mem::discriminant(&chain)
                    })
                    .collect();
                assert_eq!(rows.len(), 1, "{sig:?} x {chain:?} appears once");
                assert_eq!(
                    decide(history, chain, sig, output_stored),
                    rows[0].2,
                    "{sig:?} x {chain:?}"
                );
            }
        }
    }

    #[test]
    fn unfinished_jobs_are_those_not_done() {
        let (a, b, c) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let e = |steps: Vec<Step>| -> Vec<Entry> {
            steps
                .into_iter()
                .map(|step| Entry {
                    posted_at: Some(1),
                    step,
                })
                .collect()
        };
        let journal = std::collections::BTreeMap::from([
            (a, e(vec![claiming(), Step::Claimed])),
            (b, e(vec![claiming(), done_step("lost")])),
            (c, e(vec![])),
        ]);
        assert_eq!(unfinished(&journal), vec![a]);
    }
}
