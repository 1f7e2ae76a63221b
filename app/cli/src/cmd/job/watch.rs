//! `gpumkt job watch` on a single job: poll it until its account closes, one line per
//! state it passes through, and check its result once submitted.

use std::io::Write;
use std::time::Duration;

use gpu_market::state::JobState;
use gpu_market_client::{accounts, buyer, Pubkey};
use serde_json::json;

use super::state_name;
use crate::{CliError, Ctx, Format, Result};

/// How long a watch follows a job and how often it looks.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeout_s: u64,
    pub interval_ms: u64,
}

pub async fn watch(ctx: &Ctx, job: Pubkey, limits: Limits, out: &mut dyn Write) -> Result<()> {
    let Limits {
        timeout_s: timeout,
        interval_ms,
    } = limits;
    let started = std::time::Instant::now();
    let mut last: Option<JobState> = None;
    let mut transitions = Vec::new();
    let mut verified = None;
    let text = ctx.format == Format::Text;
    loop {
        match accounts::fetch_job_opt(&*ctx.chain, &job).await? {
            None if last.is_some() => {
                transitions.push(
                    json!({"state": "settled", "elapsed_ms": started.elapsed().as_millis() as u64}),
                );
                if text {
                    writeln!(
                        out,
                        "[{:>6.1}s] settled (account closed)",
                        started.elapsed().as_secs_f64()
                    )
                    .ok();
                }
                break;
            }
            None => return Err(CliError::JobNotFound { job }),
            Some(j) => {
                if last != Some(j.state) {
                    last = Some(j.state);
                    transitions.push(json!({"state": state_name(j.state), "provider": (j.provider != Pubkey::default()).then(|| j.provider.to_string()), "elapsed_ms": started.elapsed().as_millis() as u64}));
                    if text {
                        writeln!(
                            out,
                            "[{:>6.1}s] {}{}",
                            started.elapsed().as_secs_f64(),
                            state_name(j.state),
                            if j.provider != Pubkey::default() {
                                format!(" by {}", j.provider)
                            } else {
                                String::new()
                            }
                        )
                        .ok();
                    }
                    if j.state == JobState::Submitted && verified.is_none() {
                        match buyer::verify_result(&ctx.sender, &job).await {
                            Ok(v) => {
                                if text {
                                    writeln!(
                                        out,
                                        "          result checked: root {}, product {}",
                                        if v.root_matches {
                                            "matches"
                                        } else {
                                            "DOES NOT MATCH"
                                        },
                                        match v.freivalds_ok {
                                            Some(true) => "correct",
                                            Some(false) => "WRONG",
                                            None => "n/a",
                                        }
                                    )
                                    .ok();
                                }
                                verified = Some(
                                    json!({"root_matches": v.root_matches, "freivalds_ok": v.freivalds_ok}),
                                );
                            }
                            Err(e) => {
                                if text {
                                    writeln!(out, "          could not check the result: {e}").ok();
                                }
                                verified = Some(json!({"error": e.to_string()}));
                            }
                        }
                    }
                }
            }
        }
        if started.elapsed() > Duration::from_secs(timeout) {
            return Err(CliError::WatchTimeout {
                job,
                timeout_s: timeout,
                last_state: last.map(state_name),
            });
        }
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
    }
    if ctx.format == Format::Json {
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({"job": job.to_string(), "transitions": transitions, "result": verified}),
        )
        .map_err(|e| CliError::Output(e.into()))?;
        writeln!(out).ok();
    }
    Ok(())
}
