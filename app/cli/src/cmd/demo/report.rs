//! The demo's outcome: progress lines while it runs, and at the end the
//! auditor's view from chain state (per provider jobs, GPU-seconds, earnings,
//! utilization, reputation, slashes; the offline provider's slash against the
//! rule; the cheating provider's dispute, its slash, the buyer's refund and the
//! challenger's reward against the rule; totals; invariants; token
//! conservation), as JSON or as text.

use std::io::Write;

use gpu_market_client::audit::{InvariantReport, MarketStats};
use gpu_market_client::conservation::MintConservation;
use gpu_market_worker::Stats;
use serde::Serialize;

use super::training_report::{print_training, TrainingReport};
use crate::output::{kv, short, table};

#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    pub elapsed_s: f64,
    pub posted: u64,
    pub open: u64,
    pub claimed: u64,
    pub submitted: u64,
    pub disputed: u64,
    pub finalized: u64,
    /// Jobs ended by a lost dispute.
    pub slashed: u64,
    pub expired: u64,
    pub verified: u64,
}

impl Progress {
    /// Every one of `jobs` posted jobs paid or slashed, and none left live.
    pub fn settled(&self, jobs: u64) -> bool {
        self.posted >= jobs
            && self.finalized + self.slashed >= jobs
            && self.open + self.claimed + self.submitted + self.disputed == 0
    }

    /// One progress line (without the time).
    pub fn line(&self) -> String {
        format!(
            "posted {:>3}  open {:>3}  claimed {:>3}  submitted {:>3}  disputed {}  finalized {:>3}  slashed {}  expired {}  results checked {}",
            self.posted, self.open, self.claimed, self.submitted, self.disputed, self.finalized, self.slashed, self.expired, self.verified
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ProviderReport {
    pub name: String,
    pub provider: String,
    pub offline: bool,
    /// The worker ran in its test-only wrong-results mode.
    pub cheater: bool,
    pub jobs_done: u64,
    pub gpu_seconds: f64,
    pub earnings: u64,
    pub utilization: f64,
    pub reputation_score: u32,
    pub slashed: u64,
    pub worker: Stats,
}

#[derive(Clone, Debug, Serialize)]
pub struct SlashReport {
    pub provider: String,
    pub job: String,
    pub bond: u64,
    pub expected_to_buyer: u64,
    pub expected_to_reporter: u64,
    pub expected_to_treasury: u64,
    pub buyer_received: u64,
    pub reporter_received: u64,
    pub finished_by: Option<String>,
}

/// A dispute of the cheating provider's result, from the auditor's events and the
/// balances of the accounts the rule pays: each measured figure beside the rule's.
#[derive(Clone, Debug, Serialize)]
pub struct DisputeReport {
    pub provider: String,
    pub job: String,
    pub dispute: Option<String>,
    /// The element challenged, C[row][col].
    pub row: Option<u32>,
    pub col: Option<u32>,
    /// The cheated job's buyer found the result wrong with its own check.
    pub buyer_check_rejected: bool,
    /// `provider_wrong`, `provider_silent`, ... as settled; `None`: never settled.
    pub outcome: Option<String>,
    /// The job's bond and the stake locked beside it at the challenge
    /// (`min(bond, free stake)`, read from the provider before the challenge).
    pub bond: u64,
    pub stake_locked: u64,
    /// The provider's stake before the challenge less after the settlement.
    pub slashed: u64,
    pub expected_slashed: u64,
    pub expected_to_buyer: u64,
    pub expected_to_challenger: u64,
    pub expected_to_treasury: u64,
    /// Stake-mint shares received (the buyer's and the challenger's accounts get
    /// nothing else).
    pub buyer_received: u64,
    pub challenger_received: u64,
    /// The payment the buyer got back (its escrow less the crank bounty, by rule).
    pub buyer_refunded: u64,
    pub expected_refund: u64,
    /// The challenger's bond came back.
    pub challenger_bond_returned: bool,
    /// The settler's crank bounty, when the challenger settled the dispute itself.
    pub challenger_bounty: u64,
}

impl DisputeReport {
    /// The cheat was rejected, proven wrong, and everyone paid exactly by the rule.
    pub fn ok(&self) -> bool {
        self.buyer_check_rejected
            && self.outcome.as_deref() == Some("provider_wrong")
            && self.slashed == self.expected_slashed
            && self.buyer_received == self.expected_to_buyer
            && self.challenger_received == self.expected_to_challenger
            && self.buyer_refunded == self.expected_refund
            && self.challenger_bond_returned
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    pub chain: String,
    pub market: String,
    pub executor: String,
    pub executor_note: Option<String>,
    pub workloads: Vec<String>,
    pub duration_s: f64,
    pub jobs_posted: u64,
    pub jobs_finalized: u64,
    pub results_verified: u64,
    pub results_rejected: u64,
    /// Transactions that landed, setup included.
    pub transactions: u64,
    pub jobs_slashed: u64,
    pub offline: Option<SlashReport>,
    pub disputes: Vec<DisputeReport>,
    /// Submitted results the auditor checked, and how many it found wrong.
    pub auditor_checked: u64,
    pub auditor_wrong: u64,
    /// The treasury's slash shares (the offline provider's and the disputes'), as swept
    /// and as the rule has them.
    pub treasury_slash_received: u64,
    pub treasury_slash_expected: u64,
    pub providers: Vec<ProviderReport>,
    pub market_stats: MarketStats,
    pub invariants: InvariantReport,
    pub conservation: Vec<MintConservation>,
    /// The training act (a segmented job handed off mid-run), after the rest.
    pub training: Option<TrainingReport>,
}

impl DemoReport {
    /// Every job paid once or its cheat slashed by rule, every result checked,
    /// books balanced.
    pub fn ok(&self) -> bool {
        self.jobs_finalized + self.jobs_slashed == self.jobs_posted
            && self.results_rejected == 0
            && !self.disputes.is_empty()
            && self.disputes.iter().all(DisputeReport::ok)
            && self.treasury_slash_received == self.treasury_slash_expected
            && self.invariants.ok
            && self.conservation.iter().all(|c| c.ok)
            && self.training.as_ref().is_none_or(TrainingReport::ok)
    }
}

/// A provider's line, from the auditor's figures and its worker's counters.
pub(super) fn provider_report(
    name: &str,
    key: &gpu_market_client::Pubkey,
    offline: bool,
    cheater: bool,
    stats: &MarketStats,
    worker: Stats,
) -> ProviderReport {
    let s = stats
        .providers
        .iter()
        .find(|p| p.provider == key.to_string());
    ProviderReport {
        name: name.to_string(),
        provider: key.to_string(),
        offline,
        cheater,
        jobs_done: s.map(|s| s.completed).unwrap_or(0),
        gpu_seconds: s.map(|s| s.gpu_hours * 3_600.0).unwrap_or(0.0),
        earnings: s.map(|s| s.revenue).unwrap_or(0),
        utilization: s.map(|s| s.utilization).unwrap_or(0.0),
        reputation_score: s.map(|s| s.reputation_score).unwrap_or(0),
        slashed: s.map(|s| s.slashed).unwrap_or(0),
        worker,
    }
}

pub fn print_report(o: &mut dyn Write, r: &DemoReport) -> std::io::Result<()> {
    writeln!(o)?;
    writeln!(
        o,
        "== market {} ({:.1} s, executor: {})",
        r.market, r.duration_s, r.executor
    )?;
    if let Some(note) = &r.executor_note {
        writeln!(o, "   no GPU used: {note}")?;
    }
    writeln!(o, "   workloads: {}", r.workloads.join(", "))?;
    if !r.workloads.iter().any(|w| w == "cuda-kernel") {
        writeln!(o, "   cuda-kernel jobs skipped: they need a GPU provider")?;
    }
    if let Some(s) = &r.offline {
        writeln!(o)?;
        writeln!(
            o,
            "== offline provider {} claimed job {} and vanished",
            short(&s.provider),
            short(&s.job)
        )?;
        kv(
            o,
            &[
                ("bond slashed", s.bond.to_string()),
                (
                    "to the buyer",
                    format!("{} (rule: {})", s.buyer_received, s.expected_to_buyer),
                ),
                (
                    "to the reporter (crank)",
                    format!("{} (rule: {})", s.reporter_received, s.expected_to_reporter),
                ),
                ("to the treasury (rule)", s.expected_to_treasury.to_string()),
            ],
        )?;
    }
    for d in &r.disputes {
        let opt = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
        writeln!(o)?;
        writeln!(
            o,
            "== dispute: cheating provider {} submitted a wrong result for job {}",
            short(&d.provider),
            short(&d.job)
        )?;
        kv(
            o,
            &[
                (
                    "buyer's own check",
                    if d.buyer_check_rejected {
                        "rejected"
                    } else {
                        "accepted"
                    }
                    .into(),
                ),
                (
                    "challenged element",
                    format!("C[{}][{}] by the auditor", opt(d.row), opt(d.col)),
                ),
                (
                    "outcome",
                    d.outcome.clone().unwrap_or_else(|| "not settled".into()),
                ),
                (
                    "slashed (bond + locked stake)",
                    format!(
                        "{} (rule: {} + {} = {})",
                        d.slashed, d.bond, d.stake_locked, d.expected_slashed
                    ),
                ),
                (
                    "to the buyer",
                    format!("{} (rule: {})", d.buyer_received, d.expected_to_buyer),
                ),
                (
                    "to the challenger",
                    format!(
                        "{} (rule: {})",
                        d.challenger_received, d.expected_to_challenger
                    ),
                ),
                ("to the treasury (rule)", d.expected_to_treasury.to_string()),
                (
                    "buyer refunded",
                    format!("{} (rule: {})", d.buyer_refunded, d.expected_refund),
                ),
                (
                    "challenger's bond",
                    if d.challenger_bond_returned {
                        "returned"
                    } else {
                        "NOT returned"
                    }
                    .into(),
                ),
                (
                    "settler's bounty to the challenger",
                    d.challenger_bounty.to_string(),
                ),
                ("check", if d.ok() { "ok" } else { "FAIL" }.into()),
            ],
        )?;
    }
    writeln!(o)?;
    writeln!(o, "== providers")?;
    let rows: Vec<Vec<String>> = r
        .providers
        .iter()
        .map(|p| {
            vec![
                format!(
                    "{}{}",
                    p.name,
                    if p.offline {
                        " (offline)"
                    } else if p.cheater {
                        " (cheater)"
                    } else {
                        ""
                    }
                ),
                p.jobs_done.to_string(),
                format!("{:.3}", p.gpu_seconds),
                p.earnings.to_string(),
                format!("{:.3}%", p.utilization * 100.0),
                p.reputation_score.to_string(),
                p.slashed.to_string(),
            ]
        })
        .collect();
    table(
        o,
        &[
            "PROVIDER", "JOBS", "GPU-S", "EARNED", "UTIL", "SCORE", "SLASHED",
        ],
        &rows,
    )?;
    writeln!(o)?;
    writeln!(o, "== market totals")?;
    let t = &r.market_stats;
    kv(
        o,
        &[
            (
                "jobs posted / finalized",
                format!("{} / {}", r.jobs_posted, r.jobs_finalized),
            ),
            ("claims expired (slashed)", t.jobs_expired.to_string()),
            ("disputes lost (slashed)", r.jobs_slashed.to_string()),
            (
                "results checked by the auditor",
                format!("{} ({} wrong)", r.auditor_checked, r.auditor_wrong),
            ),
            (
                "slash shares to the treasury",
                format!(
                    "{} (rule: {})",
                    r.treasury_slash_received, r.treasury_slash_expected
                ),
            ),
            (
                "results checked by the buyer",
                format!("{} ok, {} rejected", r.results_verified, r.results_rejected),
            ),
            ("GPU-hours sold", format!("{:.6}", t.gpu_hours_sold)),
            ("paid to providers", t.volume_paid.to_string()),
            ("fees to treasury", t.fees_collected.to_string()),
            ("stake slashed", t.slashed.to_string()),
        ],
    )?;
    writeln!(o)?;
    writeln!(o, "== auditor")?;
    crate::cmd::audit::print_invariants(o, &r.invariants)?;
    for c in &r.conservation {
        writeln!(
            o,
            "{}  token conservation for mint {}: supply {} = sum of accounts {}",
            if c.ok { "ok  " } else { "FAIL" },
            short(&c.mint),
            c.supply,
            c.sum_of_accounts
        )?;
    }
    if let Some(t) = &r.training {
        print_training(o, t)?;
    }
    writeln!(o)?;
    writeln!(
        o,
        "{}",
        if r.ok() {
            "demo OK: every job paid exactly once or its cheat slashed by rule, every result checked, books balanced"
        } else {
            "demo FAILED a check"
        }
    )
}
