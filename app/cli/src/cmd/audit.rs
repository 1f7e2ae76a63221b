//! `gpumkt audit`: the market's figures recomputed from chain state alone
//! (utilization, GPU-hours sold, revenue per provider, slashes, completion and
//! expiry rates), and its invariants (vault balances against what the accounts
//! say is owed). `invariants` exits non-zero when one fails. `verify`, `challenge`
//! and `watch` are the auditor's side of disputes (`super::auditor`).

use std::io::Write;

use clap::Subcommand;
use gpu_market_client::audit;
use serde_json::json;

use super::{job_json, state_name};
use crate::output::{emit, short, table};
use crate::{CliError, Ctx, Result};

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Market-wide figures and per-provider figures.
    Stats,
    /// Per-provider figures.
    Providers,
    /// Live jobs and their states.
    Jobs,
    /// Check vault balances and counters; exit 1 if any check fails.
    Invariants,
    /// Check a submitted GEMM result: the output against its on-chain root, Freivalds'
    /// test against the inputs, and a rejected row recomputed by the chain's own ruling.
    /// Exit 0 correct; 1 wrong (the element C[row][col] is printed); 3 output
    /// unavailable (not proof of a wrong result); 4 nothing to challenge (rejected by
    /// Freivalds but no element the chain would rule wrong, or not a GEMM job). On a
    /// segmented train-mlp job: every committed, unpaid segment (or `--segment i`)
    /// re-executed from the committed previous checkpoint in the buyer's store, one line
    /// each; exit 1 when any is wrong, else 3 when any cannot be re-executed.
    Verify(super::auditor::VerifyArgs),
    /// Dispute one output element C[row][col] of a submitted GEMM job: posts the
    /// challenger bond, stages the row of A and the column of B and absorbs their dot
    /// product. If the element is right, the challenger loses its bond; check first with
    /// `audit verify`. `audit watch` settles the dispute when due.
    Challenge(super::auditor::ChallengeArgs),
    /// Watch the market: verify every submitted result once, challenge and prove the
    /// wrong ones, re-execute every challengeable committed segment once and challenge
    /// a wrong one (never an unavailable one), settle this auditor's disputes once due. One line per job and event
    /// (`--output json`: one JSON object per line).
    Watch(super::auditor::WatchArgs),
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

pub fn print_stats(out: &mut dyn Write, s: &audit::MarketStats) -> std::io::Result<()> {
    crate::output::kv(
        out,
        &[
            ("market", s.market.clone()),
            ("jobs posted", s.jobs_posted.to_string()),
            ("jobs completed", s.jobs_completed.to_string()),
            ("jobs expired (slashed)", s.jobs_expired.to_string()),
            ("jobs refunded", s.jobs_refunded.to_string()),
            ("jobs cancelled", s.jobs_cancelled.to_string()),
            ("jobs live", s.jobs_live.to_string()),
            ("GPU-hours sold", format!("{:.6}", s.gpu_hours_sold)),
            ("volume paid to providers", s.volume_paid.to_string()),
            ("fees collected", s.fees_collected.to_string()),
            ("stake slashed", s.slashed.to_string()),
            ("results disputed", s.jobs_disputed.to_string()),
            ("disputes lost by providers", s.jobs_slashed.to_string()),
            ("disputes open", s.disputes_open.to_string()),
            ("completion rate", pct(s.completion_rate)),
            ("expiry rate", pct(s.expiry_rate)),
            ("utilization (all providers)", pct(s.utilization)),
        ],
    )?;
    writeln!(out)?;
    print_providers(out, &s.providers)?;
    for j in &s.segmented_jobs {
        writeln!(out)?;
        print_segmented_job(out, j)?;
    }
    Ok(())
}

/// A live segmented job's segments: who ran each, its metered GPU-seconds and what it
/// earned its provider.
pub fn print_segmented_job(
    out: &mut dyn Write,
    j: &audit::segment_stats::SegmentedJobStats,
) -> std::io::Result<()> {
    writeln!(
        out,
        "segmented job {}: {} of {} segments paid, {:.3} GPU-s, revenue {}, fees {}{}",
        j.job,
        j.segments_paid,
        j.segments.len(),
        j.gpu_seconds,
        j.revenue,
        j.fees,
        if j.ended { ", ended" } else { "" }
    )?;
    let rows: Vec<Vec<String>> = j
        .segments
        .iter()
        .map(|s| {
            vec![
                s.index.to_string(),
                s.state.to_string(),
                s.provider
                    .as_deref()
                    .map(|p| short(&p))
                    .unwrap_or_else(|| "-".into()),
                format!("{:.3}", s.gpu_seconds),
                s.price.to_string(),
                s.revenue.to_string(),
                s.fee.to_string(),
                s.state_root
                    .as_deref()
                    .map(|r| r[..16].to_string())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        out,
        &[
            "SEGMENT", "STATE", "PROVIDER", "GPU-S", "PRICE", "REVENUE", "FEE", "ROOT",
        ],
        &rows,
    )
}

pub fn print_providers(out: &mut dyn Write, p: &[audit::ProviderStats]) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = p
        .iter()
        .map(|p| {
            vec![
                short(&p.provider),
                p.gpu_model.clone(),
                p.completed.to_string(),
                p.expired.to_string(),
                format!("{:.6}", p.gpu_hours),
                p.revenue.to_string(),
                p.slashed.to_string(),
                pct(p.utilization),
                p.reputation_score.to_string(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "PROVIDER", "GPU", "DONE", "EXPIRED", "GPU-H", "REVENUE", "SLASHED", "UTIL", "SCORE",
        ],
        &rows,
    )
}

pub fn print_invariants(out: &mut dyn Write, r: &audit::InvariantReport) -> std::io::Result<()> {
    for c in &r.checks {
        writeln!(
            out,
            "{}  {}  (expected {}, found {})",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.expected,
            c.actual
        )?;
    }
    writeln!(
        out,
        "surplus (donated beyond what is owed): payment vault {}, stake vault {}",
        r.surplus.payment_vault, r.surplus.stake_vault
    )?;
    writeln!(
        out,
        "{}",
        if r.ok {
            "all invariants hold"
        } else {
            "INVARIANTS VIOLATED"
        }
    )
}

pub async fn run(ctx: &Ctx, cmd: AuditCmd, out: &mut dyn Write) -> Result<()> {
    let cmd = match cmd {
        AuditCmd::Verify(a) => return super::auditor::verify(ctx, a, out).await,
        AuditCmd::Challenge(a) => return super::auditor::challenge(ctx, a, out).await,
        AuditCmd::Watch(a) => return super::auditor::watch(ctx, a, out).await,
        other => other,
    };
    let market = ctx.market()?;
    let snap = audit::Snapshot::load(&*ctx.chain, &market).await?;
    match cmd {
        AuditCmd::Stats => {
            let s = audit::stats(&snap);
            emit(out, ctx.format, &s, |o| print_stats(o, &s))
        }
        AuditCmd::Providers => {
            let s = audit::stats(&snap);
            emit(out, ctx.format, &s.providers, |o| {
                print_providers(o, &s.providers)
            })
        }
        AuditCmd::Jobs => {
            let v: Vec<_> = snap.jobs.iter().map(|(k, j)| job_json(k, j)).collect();
            emit(
                out,
                ctx.format,
                &json!({"market": market.to_string(), "jobs": v}),
                |o| {
                    let rows: Vec<Vec<String>> = snap
                        .jobs
                        .iter()
                        .map(|(k, j)| {
                            vec![
                                k.to_string(),
                                state_name(j.state).into(),
                                j.price.to_string(),
                                short(&j.provider),
                            ]
                        })
                        .collect();
                    table(o, &["JOB", "STATE", "PRICE", "PROVIDER"], &rows)
                },
            )
        }
        AuditCmd::Invariants => {
            let r = audit::invariants(&snap);
            emit(out, ctx.format, &r, |o| print_invariants(o, &r))?;
            if r.ok {
                Ok(())
            } else {
                Err(CliError::InvariantsViolated { market })
            }
        }
        AuditCmd::Verify(_) | AuditCmd::Challenge(_) | AuditCmd::Watch(_) => {
            unreachable!("dispatched above")
        }
    }
}

#[cfg(test)]
mod tests {
    use audit::segment_stats::{SegmentStats, SegmentedJobStats};

    use super::*;

    fn segment(index: u8, state: &'static str, provider: Option<&str>) -> SegmentStats {
        let paid = state == "paid";
        SegmentStats {
            index,
            state,
            provider: provider.map(str::to_string),
            price: 1_000,
            gpu_ms: if provider.is_some() { 2_500 } else { 0 },
            gpu_seconds: if provider.is_some() { 2.5 } else { 0.0 },
            revenue: if paid { 975 } else { 0 },
            fee: if paid { 25 } else { 0 },
            paid,
            state_root: provider.map(|_| "ab".repeat(32)),
            started_at: 0,
            deadline: 0,
            committed_at: 0,
        }
    }

    /// The table an auditor reads: one row per segment with who ran it, its
    /// GPU-seconds and what it paid, under a line with the job's sums.
    #[test]
    fn a_segmented_job_prints_one_row_per_segment_under_its_sums() {
        let provider = "Prov1111111111111111111111111111111111111111";
        let j = SegmentedJobStats {
            job: "Job11111111111111111111111111111111111111111".into(),
            ended: false,
            last_checkpoint_index: Some(1),
            last_checkpoint_uri: "blob://c1".into(),
            gpu_ms: 5_000,
            gpu_seconds: 5.0,
            revenue: 975,
            fees: 25,
            segments_paid: 1,
            segments: vec![
                segment(0, "paid", Some(provider)),
                segment(1, "committed", Some(provider)),
                segment(2, "pending", None),
            ],
        };
        let mut out = Vec::new();
        print_segmented_job(&mut out, &j).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "segmented job Job11111111111111111111111111111111111111111: 1 of 3 segments paid, 5.000 GPU-s, revenue 975, fees 25"
        );
        let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            cells(lines[1]),
            ["SEGMENT", "STATE", "PROVIDER", "GPU-S", "PRICE", "REVENUE", "FEE", "ROOT"]
        );
        let row0 = cells(
            lines
                .iter()
                .find(|l| l.trim_start().starts_with("0 "))
                .unwrap(),
        );
        assert_eq!(
            row0,
            [
                "0",
                "paid",
                short(&provider).as_str(),
                "2.500",
                "1000",
                "975",
                "25",
                "abababababababab"
            ]
        );
        let row2 = cells(
            lines
                .iter()
                .find(|l| l.trim_start().starts_with("2 "))
                .unwrap(),
        );
        assert_eq!(row2, ["2", "pending", "-", "0.000", "1000", "0", "0", "-"]);
    }
}
