//! A segmented job seen from its buyer's side: `job status` (the job, its tally of
//! segments done, paid and pending, and each segment's state, provider, checkpoint root
//! and payment) and `job watch`, which polls the `Segments` account until the job closes
//! and prints one line per change ([`super::changes`] decides what changed).

use std::io::Write;
use std::time::{Duration, Instant};

use gpu_market::state::Job;
use gpu_market_client::segments::fetch_segments;
use gpu_market_client::views::{segment_state_name, segments_json, SegmentTally};
use gpu_market_client::{accounts, Pubkey};
use serde_json::json;

use super::changes::changes;
use super::watch::Limits;
use super::{job_json, workload_name};
use crate::output::{emit, kv, short, table};
use crate::{CliError, Ctx, Format, Result};

/// `job status` of a segmented job.
pub async fn status(ctx: &Ctx, key: &Pubkey, job: &Job, out: &mut dyn Write) -> Result<()> {
    let segs = fetch_segments(&*ctx.chain, key)
        .await?
        .ok_or(CliError::JobNotFound { job: *key })?;
    let mut v = job_json(key, job);
    v["segments"] = segments_json(&segs, job);
    emit(out, ctx.format, &v, |o| {
        let t = SegmentTally::of(&segs);
        kv(
            o,
            &[
                ("job", key.to_string()),
                ("state", "segmented".into()),
                ("workload", workload_name(job.workload).into()),
                ("buyer", job.buyer.to_string()),
                ("price", job.price.to_string()),
                ("escrow", job.escrow.to_string()),
                ("deadline", job.deadline.to_string()),
                ("spec_uri", job.spec_uri.clone()),
                (
                    "segments",
                    format!(
                        "{}/{} done, {} paid, {} running, {} pending{}",
                        t.done,
                        t.count,
                        t.paid,
                        t.running,
                        t.pending,
                        if segs.ended { ", ended" } else { "" }
                    ),
                ),
                (
                    "current_provider",
                    segs.running()
                        .map_or("-".into(), |(_, s)| s.provider.to_string()),
                ),
                (
                    "last_checkpoint",
                    match segs.last_checkpoint_index {
                        Some(i) => format!("#{i} at {}", segs.last_checkpoint_uri),
                        None => "-".into(),
                    },
                ),
            ],
        )?;
        let rows: Vec<Vec<String>> = v["segments"]["segments"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|s| {
                let cell = |k: &str| match &s[k] {
                    serde_json::Value::Null => "-".to_string(),
                    serde_json::Value::String(x) => x.clone(),
                    x => x.to_string(),
                };
                vec![
                    cell("index"),
                    cell("state"),
                    cell("price"),
                    s["provider"]
                        .as_str()
                        .map_or("-".into(), |p| short(&p.to_string())),
                    cell("deadline"),
                    s["state_root"]
                        .as_str()
                        .map_or("-".into(), |r| r.chars().take(16).collect()),
                    cell("paid"),
                ]
            })
            .collect();
        writeln!(o)?;
        table(
            o,
            &[
                "SEGMENT", "STATE", "PRICE", "PROVIDER", "DEADLINE", "ROOT", "PAID",
            ],
            &rows,
        )
    })
}

/// `job watch` of a segmented job: until its accounts close, or `limits.timeout_s`.
pub async fn watch(ctx: &Ctx, job: Pubkey, limits: Limits, out: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
    let text = ctx.format == Format::Text;
    let j = accounts::fetch_job_opt(&*ctx.chain, &job)
        .await?
        .ok_or(CliError::JobNotFound { job })?;
    let fee_bps = j.terms.fee_bps;
    let mut last = fetch_segments(&*ctx.chain, &job)
        .await?
        .ok_or(CliError::JobNotFound { job })?;
    let initial = segments_json(&last, &j);
    if text {
        let t = SegmentTally::of(&last);
        writeln!(
            out,
            "job {job}: {}/{} segments done, {} paid, {} pending; states {}",
            t.done,
            t.count,
            t.paid,
            t.pending,
            last.segments
                .iter()
                .map(|s| segment_state_name(s.state))
                .collect::<Vec<_>>()
                .join(",")
        )
        .map_err(CliError::Output)?;
    }
    let mut seen = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(limits.interval_ms)).await;
        // The job and its segments close together; the segments alone tell both.
        let now = fetch_segments(&*ctx.chain, &job).await?;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let found = changes(&last, now.as_ref(), fee_bps);
        for c in &found {
            if text {
                writeln!(out, "[{:>6.1}s] {}", elapsed_ms as f64 / 1_000.0, c.line())
                    .map_err(CliError::Output)?;
            }
            let mut v = serde_json::to_value(c).map_err(|e| CliError::Output(e.into()))?;
            v["elapsed_ms"] = json!(elapsed_ms);
            seen.push(v);
        }
        match now {
            None => break,
            Some(s) => last = s,
        }
        if started.elapsed() > Duration::from_secs(limits.timeout_s) {
            return Err(CliError::WatchTimeout {
                job,
                timeout_s: limits.timeout_s,
                last_state: Some("segmented"),
            });
        }
    }
    if !text {
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({"job": job.to_string(), "initial": initial, "changes": seen, "closed": true}),
        )
        .map_err(|e| CliError::Output(e.into()))?;
        writeln!(out).map_err(CliError::Output)?;
    }
    Ok(())
}
