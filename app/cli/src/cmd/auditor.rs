//! `gpumkt audit verify | challenge | watch`: the auditor's side of disputes (the logic
//! is `gpu_market_client::auditor`'s). Exit codes of `verify`: 0 correct, 1 wrong (the
//! element is printed; other failures also exit 1, and print no verdict), 3 output
//! unavailable, 4 nothing to challenge (rejected by Freivalds' test but no element the
//! chain would rule wrong, or not a GEMM job). On a segmented job `verify` re-executes
//! every committed, unpaid segment (or `--segment i`), one line each: 1 when any is
//! wrong, else 3 when any could not be re-executed (its previous checkpoint unavailable).

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use clap::Args;
use gpu_market_client::auditor::{
    self, ChallengerAccounts, SegmentCheck, SegmentVerdict, Verdict, WatchEvent, WatchPolicy,
};
use gpu_market_client::Pubkey;
use serde_json::json;
use solana_sdk::signature::Signer;

use super::{ensure_ata, market_keys, send};
use crate::{CliError, Ctx, Format, Result};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The submitted job, or a segmented job (its committed, unpaid segments).
    pub job: Pubkey,
    /// Only this segment of a segmented job (any committed one, paid included).
    #[arg(long)]
    pub segment: Option<u8>,
}

#[derive(Args, Debug)]
pub struct ChallengeArgs {
    /// The submitted job.
    pub job: Pubkey,
    /// Row of the output element C[row][col] to dispute.
    #[arg(long)]
    pub row: u32,
    /// Column of the output element.
    #[arg(long)]
    pub col: u32,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// One pass over the market, then exit.
    #[arg(long)]
    pub once: bool,
    /// Longest wait between passes; a pass also starts as soon as the program's accounts
    /// change (a submission lands), when the node serves account subscriptions.
    #[arg(long, default_value_t = 5)]
    pub interval: u64,
    /// Also challenge (C[0][0] of) a job whose output cannot be fetched. RISKY: an
    /// unavailable output is not proof of a wrong one. The challenge forces the provider
    /// to reveal that row (its worker does so from its own store), and if the row is
    /// right this challenger loses its bond.
    #[arg(long)]
    pub challenge_unavailable: bool,
}

/// The error `verify` ends with for a verdict other than correct.
fn verdict_error(job: Pubkey, v: &Verdict) -> Option<CliError> {
    match v {
        Verdict::Correct => None,
        Verdict::Wrong { row, col, .. } => Some(CliError::ResultWrong {
            job,
            row: *row,
            col: *col,
        }),
        Verdict::OutputUnavailable { reason } => Some(CliError::OutputUnavailable {
            job,
            reason: reason.clone(),
        }),
        Verdict::Unprovable { row } => Some(CliError::Unprovable { job, row: *row }),
    }
}

fn print_verdict(out: &mut dyn Write, job: &Pubkey, v: &Verdict) -> std::io::Result<()> {
    match v {
        Verdict::Correct => writeln!(out, "{job}: correct (committed output, Freivalds' test passed)"),
        Verdict::Wrong {
            row,
            col,
            claimed,
            exact,
        } => writeln!(
            out,
            "{job}: WRONG at C[{row}][{col}]: claimed {claimed}{}; challenge it with `gpumkt audit challenge {job} --row {row} --col {col}`",
            exact.as_ref().map(|e| format!(", exact {e}")).unwrap_or_default()
        ),
        Verdict::OutputUnavailable { reason } => writeln!(
            out,
            "{job}: output unavailable ({reason}); not proof of a wrong result"
        ),
        Verdict::Unprovable { row } => writeln!(
            out,
            "{job}: row {row} fails Freivalds' test but no element of it is beyond the ruling's bound; not challengeable"
        ),
    }
}

/// The error `verify` ends with for a segmented job's checks: the first wrong segment,
/// else the first unavailable one.
fn segments_error(job: Pubkey, checks: &[SegmentCheck]) -> Option<CliError> {
    let wrong = checks.iter().find_map(|c| match &c.verdict {
        SegmentVerdict::Wrong {
            expected_root,
            committed_root,
        } => Some(CliError::Auditor(auditor::AuditorError::SegmentWrong {
            job,
            index: c.index,
            expected_root: Box::new(*expected_root),
            committed_root: Box::new(*committed_root),
        })),
        _ => None,
    });
    wrong.or_else(|| {
        checks.iter().find_map(|c| match &c.verdict {
            SegmentVerdict::Unavailable { why } => Some(CliError::OutputUnavailable {
                job,
                reason: format!("segment {} cannot be re-executed: {why}", c.index),
            }),
            _ => None,
        })
    })
}

fn print_segment(out: &mut dyn Write, job: &Pubkey, c: &SegmentCheck) -> std::io::Result<()> {
    let i = c.index;
    match &c.verdict {
        SegmentVerdict::Correct => writeln!(
            out,
            "{job} segment {i}: correct (re-executed from the committed previous checkpoint)"
        ),
        SegmentVerdict::Wrong {
            expected_root,
            committed_root,
        } => writeln!(
            out,
            "{job} segment {i}: WRONG: committed root {committed_root}, re-executed {expected_root}; `gpumkt audit watch` challenges it within its window"
        ),
        SegmentVerdict::Unavailable { why } => writeln!(
            out,
            "{job} segment {i}: unavailable ({why}); not proof of a wrong segment"
        ),
    }
}

async fn verify_segments(
    ctx: &Ctx,
    job: Pubkey,
    only: Option<u8>,
    out: &mut dyn Write,
) -> Result<()> {
    let checks = auditor::verify_segments(&ctx.sender, &job, only).await?;
    let value = json!({"job": job.to_string(), "segments": checks});
    crate::output::emit(out, ctx.format, &value, |o| {
        if checks.is_empty() {
            writeln!(o, "{job}: no committed, unpaid segment to verify")?;
        }
        checks.iter().try_for_each(|c| print_segment(o, &job, c))
    })?;
    match segments_error(job, &checks) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub async fn verify(ctx: &Ctx, a: VerifyArgs, out: &mut dyn Write) -> Result<()> {
    let segmented = gpu_market_client::segments::fetch_segments(&*ctx.chain, &a.job)
        .await?
        .is_some();
    if segmented || a.segment.is_some() {
        return verify_segments(ctx, a.job, a.segment, out).await;
    }
    let v = auditor::verify_job(&ctx.sender, &a.job).await?;
    let mut value = serde_json::to_value(&v).expect("serializable");
    value["job"] = json!(a.job.to_string());
    crate::output::emit(out, ctx.format, &value, |o| print_verdict(o, &a.job, &v))?;
    match verdict_error(a.job, &v) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The context's keypair as challenger, its token accounts created if missing.
async fn challenger(ctx: &Ctx) -> Result<(gpu_market_client::ix::MarketKeys, ChallengerAccounts)> {
    let (m, _) = market_keys(ctx).await?;
    let me = ctx.keypair()?.pubkey();
    let mut ixs = Vec::new();
    let payment = ensure_ata(ctx, &me, &m.payment_mint, &mut ixs).await?;
    let stake = ensure_ata(ctx, &me, &m.stake_mint, &mut ixs).await?;
    if !ixs.is_empty() {
        send(ctx, &ixs, &[]).await?;
    }
    Ok((m, ChallengerAccounts { payment, stake }))
}

pub async fn challenge(ctx: &Ctx, a: ChallengeArgs, out: &mut dyn Write) -> Result<()> {
    let (m, accounts) = challenger(ctx).await?;
    let c = auditor::challenge_and_prove(
        &ctx.sender,
        ctx.keypair()?,
        accounts,
        &m,
        &a.job,
        a.row,
        a.col,
    )
    .await?;
    crate::output::emit(out, ctx.format, &c, |o| {
        writeln!(
            o,
            "challenged C[{}][{}] of {}: dispute {} ({} proof transactions); `gpumkt audit watch` settles it when due",
            c.row, c.col, c.job, c.dispute, c.proof_transactions
        )
    })
}

fn print_event(out: &mut dyn Write, format: Format, e: &WatchEvent) -> std::io::Result<()> {
    if format == Format::Json {
        let line = serde_json::to_string(e).map_err(std::io::Error::other)?;
        return writeln!(out, "{line}");
    }
    match e {
        WatchEvent::Verified { job, verdict } => match verdict {
            Verdict::Correct => writeln!(out, "{job}: correct"),
            Verdict::Wrong { row, col, .. } => writeln!(out, "{job}: WRONG at C[{row}][{col}]"),
            Verdict::OutputUnavailable { reason } => {
                writeln!(out, "{job}: output unavailable ({reason})")
            }
            Verdict::Unprovable { row } => {
                writeln!(out, "{job}: row {row} fails Freivalds but is not provable")
            }
        },
        WatchEvent::SegmentVerified {
            job,
            index,
            verdict,
        } => match verdict {
            SegmentVerdict::Correct => writeln!(out, "{job} segment {index}: correct"),
            SegmentVerdict::Wrong { committed_root, expected_root } => writeln!(
                out,
                "{job} segment {index}: WRONG (committed {committed_root}, re-executed {expected_root})"
            ),
            SegmentVerdict::Unavailable { why } => {
                writeln!(out, "{job} segment {index}: unavailable ({why})")
            }
        },
        WatchEvent::SegmentChallenged {
            job,
            index,
            dispute,
        } => writeln!(
            out,
            "{job}: challenged segment {index}, dispute {dispute} (referees re-execute it)"
        ),
        WatchEvent::Challenged(c) => writeln!(
            out,
            "{}: challenged C[{}][{}], dispute {} ({} proof transactions)",
            c.job, c.row, c.col, c.dispute, c.proof_transactions
        ),
        WatchEvent::Proven {
            job,
            dispute,
            proof_transactions,
        } => writeln!(
            out,
            "{job}: dispute {dispute} proof resumed ({proof_transactions} transactions)"
        ),
        WatchEvent::Settled {
            job,
            dispute,
            outcome,
        } => writeln!(out, "{job}: dispute {dispute} settled: {outcome}"),
        WatchEvent::Pending {
            job,
            dispute,
            respond_deadline,
        } => writeln!(
            out,
            "{job}: dispute {dispute} pending (response deadline {respond_deadline})"
        ),
        WatchEvent::Error { job, error } => writeln!(out, "{job}: error: {error}"),
    }
}

pub async fn watch(ctx: &Ctx, a: WatchArgs, out: &mut dyn Write) -> Result<()> {
    let (m, accounts) = challenger(ctx).await?;
    let policy = WatchPolicy {
        challenge_unavailable: a.challenge_unavailable,
    };
    let mut seen = HashSet::new();
    // Woken by the program's account updates as they land (a submission is one), with
    // the interval as the fallback: a subscription can lag, drop or be unavailable, and
    // each pass reconciles with a full listing anyway.
    let mut updates = match a.once {
        true => None,
        false => match ctx.chain.subscribe_program(&gpu_market::ID).await {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::warn!(error = %e, "no account subscription; polling every {}s", a.interval);
                None
            }
        },
    };
    loop {
        let mut events = Vec::new();
        let pass = auditor::watch_pass(
            &ctx.sender,
            ctx.keypair()?,
            accounts,
            &m,
            policy,
            &mut seen,
            &mut |e| events.push(e),
        )
        .await;
        match pass {
            Ok(()) => {}
            Err(e) if a.once => return Err(e.into()),
            // The daemon outlives a pass that could not list the market (an RPC outage).
            Err(e) => events.push(WatchEvent::Error {
                job: m.market.to_string(),
                error: e.to_string(),
            }),
        }
        for e in &events {
            print_event(out, ctx.format, e).map_err(CliError::Output)?;
        }
        out.flush().map_err(CliError::Output)?;
        if a.once {
            return Ok(());
        }
        let interval = tokio::time::sleep(Duration::from_secs(a.interval.max(1)));
        match updates.as_mut() {
            Some(rx) => tokio::select! {
                _ = interval => {}
                update = rx.recv() => match update {
                    // Take whatever else landed meanwhile: one pass covers it all.
                    Some(_) => while rx.try_recv().is_ok() {},
                    None => {
                        tracing::warn!("account subscription ended; polling every {}s", a.interval);
                        updates = None;
                    }
                },
            },
            None => interval.await,
        }
    }
}
