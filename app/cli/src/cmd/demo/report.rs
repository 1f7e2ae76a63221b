//! The demo's outcome: progress lines while it runs, and at the end the
//! auditor's view from chain state (per provider jobs, GPU-seconds, earnings,
//! utilization, reputation, slashes; the offline provider's slash against the
//! rule; totals; invariants; token conservation), as JSON or as text.

use std::io::Write;

use gpu_market_client::audit::{InvariantReport, MarketStats};
use gpu_market_client::conservation::MintConservation;
use gpu_market_worker::Stats;
use serde::Serialize;

use crate::output::{kv, short, table};

#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    pub elapsed_s: f64,
    pub posted: u64,
    pub open: u64,
    pub claimed: u64,
    pub submitted: u64,
    pub finalized: u64,
    pub expired: u64,
    pub verified: u64,
}

impl Progress {
    /// Every posted job paid and none left live.
    pub fn settled(&self, jobs: u64) -> bool {
        self.finalized >= jobs && self.open + self.claimed + self.submitted == 0
    }

    /// One progress line (without the time).
    pub fn line(&self) -> String {
        format!(
            "posted {:>3}  open {:>3}  claimed {:>3}  submitted {:>3}  finalized {:>3}  expired {}  results checked {}",
            self.posted, self.open, self.claimed, self.submitted, self.finalized, self.expired, self.verified
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ProviderReport {
    pub name: String,
    pub provider: String,
    pub offline: bool,
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
    pub treasury_received: u64,
    pub finished_by: Option<String>,
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
    pub offline: Option<SlashReport>,
    pub providers: Vec<ProviderReport>,
    pub market_stats: MarketStats,
    pub invariants: InvariantReport,
    pub conservation: Vec<MintConservation>,
}

impl DemoReport {
    /// Every job paid once, every result checked, books balanced.
    pub fn ok(&self) -> bool {
        self.jobs_finalized == self.jobs_posted
            && self.results_rejected == 0
            && self.invariants.ok
            && self.conservation.iter().all(|c| c.ok)
    }
}

/// A provider's line, from the auditor's figures and its worker's counters.
pub(super) fn provider_report(
    name: &str,
    key: &gpu_market_client::Pubkey,
    offline: bool,
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
                (
                    "to the treasury",
                    format!("{} (rule: {})", s.treasury_received, s.expected_to_treasury),
                ),
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
                format!("{}{}", p.name, if p.offline { " (offline)" } else { "" }),
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
    writeln!(o)?;
    writeln!(
        o,
        "{}",
        if r.ok() {
            "demo OK: every job paid exactly once, every result checked, books balanced"
        } else {
            "demo FAILED a check"
        }
    )
}
