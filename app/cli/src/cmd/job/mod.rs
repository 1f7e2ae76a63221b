//! `gpumkt job`: post a job (generated GEMM inputs, a spec file, or a train-mlp job paid
//! in segments), follow it, download and check its result, cancel it while unclaimed,
//! extend or end a segmented job, list jobs.
//!
//! Files: [`post`] (the single-job post, and what every post shares: the nonce, the
//! balance check), [`train`] (the train-mlp spec a segmented post publishes, from a file
//! or from flags over the bundled digits), [`segments`] (the segmented post, `extend`
//! and `end`: each checked by the program's `Segments` rules before anything is sent),
//! [`terms`] (the segments' prices and durations from the flags),
//! [`watch`] (following a single job), [`follow`] (a segmented job's status and watch),
//! [`changes`] (what changed between two looks at a segmented job).

pub mod changes;
pub mod follow;
pub mod post;
pub mod segments;
pub mod terms;
pub mod train;
pub mod watch;

use std::io::Write;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use gpu_market::state::{Job, JobState};
use gpu_market_client::buyer;
use gpu_market_client::segments::fetch_segments;
use gpu_market_client::views::{segments_json, SegmentTally};
use gpu_market_client::{accounts, ix, token, Pubkey};
use serde_json::json;
use solana_sdk::signature::Signer;

use super::{job_json, json_kv, market_keys, send, state_name, workload_name};
use crate::output::{emit, short, table};
use crate::{CliError, Ctx, Result};

pub use post::{PostArgs, WorkloadArg};
pub use segments::{EndArgs, ExtendArgs};

#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// Post a job with its escrow (with --segments: a train-mlp job paid by segment).
    Post(PostArgs),
    /// Show a job's on-chain state (a segmented job's segments too).
    Status { job: Pubkey },
    /// Follow a job until it settles, checking its result when submitted; a segmented
    /// job until it closes, one line per segment started, committed, paid or expired.
    Watch {
        job: Pubkey,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3_600)]
        timeout: u64,
        /// Poll period, milliseconds.
        #[arg(long, default_value_t = 1_000)]
        interval_ms: u64,
    },
    /// Download a submitted result and check it against its on-chain commitment.
    Result {
        job: Pubkey,
        /// Write the output bytes here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Cancel your unclaimed job (full refund).
    Cancel { job: Pubkey },
    /// Add segments (and their escrow) to your segmented job.
    Extend(ExtendArgs),
    /// End your segmented job after its running segment: every segment not started is
    /// refunded (its price plus its crank bounty).
    End(EndArgs),
    /// List the market's live jobs.
    List {
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// Only jobs you posted.
        #[arg(long)]
        mine: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StateArg {
    Open,
    Claimed,
    Submitted,
    /// Segmented jobs (in that state for their whole life).
    Segmented,
}

pub async fn run(ctx: &Ctx, cmd: JobCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        JobCmd::Post(a) => post::post(ctx, a, out).await,
        JobCmd::Status { job } => {
            let j = fetch(ctx, &job).await?;
            if j.state == JobState::Segmented {
                return follow::status(ctx, &job, &j, out).await;
            }
            let v = job_json(&job, &j);
            emit(out, ctx.format, &v, |o| json_kv(o, &v))
        }
        JobCmd::Watch {
            job,
            timeout,
            interval_ms,
        } => {
            let j = fetch(ctx, &job).await?;
            let limits = watch::Limits {
                timeout_s: timeout,
                interval_ms,
            };
            if j.state == JobState::Segmented {
                follow::watch(ctx, job, limits, out).await
            } else {
                watch::watch(ctx, job, limits, out).await
            }
        }
        JobCmd::Result { job, out: path } => result(ctx, job, path, out).await,
        JobCmd::Cancel { job } => cancel(ctx, job, out).await,
        JobCmd::Extend(a) => segments::extend(ctx, a, out).await,
        JobCmd::End(a) => segments::end(ctx, a, out).await,
        JobCmd::List { state, mine } => list(ctx, state, mine, out).await,
    }
}

async fn fetch(ctx: &Ctx, job: &Pubkey) -> Result<Job> {
    accounts::fetch_job_opt(&*ctx.chain, job)
        .await?
        .ok_or(CliError::JobNotFound { job: *job })
}

/// The job, if the context's keypair posted it: only its buyer may change it.
async fn fetch_own(ctx: &Ctx, job: &Pubkey) -> Result<Job> {
    let j = fetch(ctx, job).await?;
    let me = ctx.keypair()?.pubkey();
    if j.buyer != me {
        return Err(CliError::NotYourJob {
            job: *job,
            buyer: j.buyer,
            me,
        });
    }
    Ok(j)
}

async fn result(ctx: &Ctx, job: Pubkey, path: Option<PathBuf>, out: &mut dyn Write) -> Result<()> {
    let v = buyer::verify_result(&ctx.sender, &job).await?;
    if let Some(p) = &path {
        std::fs::write(p, &v.output).map_err(|source| CliError::WriteFile {
            path: p.clone(),
            source,
        })?;
    }
    emit(out, ctx.format, &v, |o| {
        writeln!(
            o,
            "result {} ({} bytes) from {}",
            v.result_root, v.bytes, v.result_uri
        )?;
        writeln!(o, "matches on-chain root: {}", v.root_matches)?;
        match v.freivalds_ok {
            Some(true) => writeln!(o, "Freivalds check against the inputs: passed"),
            Some(false) => writeln!(
                o,
                "Freivalds check against the inputs: FAILED (row {:?})",
                v.bad_row
            ),
            None => writeln!(o, "no product check for this workload"),
        }
    })?;
    if v.ok() {
        Ok(())
    } else {
        Err(CliError::ResultRejected {
            job,
            challenge_deadline: fetch(ctx, &job).await?.challenge_deadline,
        })
    }
}

async fn cancel(ctx: &Ctx, job: Pubkey, out: &mut dyn Write) -> Result<()> {
    let (m, _) = market_keys(ctx).await?;
    let j = fetch_own(ctx, &job).await?;
    let me = ctx.keypair()?.pubkey();
    if j.state != JobState::Open {
        return Err(CliError::Usage(format!(
            "job {job} is {}: only open jobs can be cancelled{}",
            state_name(j.state),
            if j.state == JobState::Segmented {
                " (end a segmented job with `gpumkt job end`)"
            } else {
                ""
            }
        )));
    }
    let tx = send(
        ctx,
        &[ix::job_cancel(
            &m,
            job,
            me,
            token::ata(&me, &m.payment_mint),
        )],
        &[],
    )
    .await?;
    emit(
        out,
        ctx.format,
        &json!({"cancelled": job.to_string(), "refunded": j.escrow, "signature": tx.signature.to_string()}),
        |o| writeln!(o, "job {job} cancelled, {} refunded", j.escrow),
    )
}

async fn list(ctx: &Ctx, state: Option<StateArg>, mine: bool, out: &mut dyn Write) -> Result<()> {
    let market = ctx.market()?;
    let filter = state.map(|s| match s {
        StateArg::Open => JobState::Open,
        StateArg::Claimed => JobState::Claimed,
        StateArg::Submitted => JobState::Submitted,
        StateArg::Segmented => JobState::Segmented,
    });
    let mut jobs = accounts::list_jobs(&*ctx.chain, &market, filter).await?;
    if mine {
        let me = ctx.keypair()?.pubkey();
        jobs.retain(|(_, j)| j.buyer == me);
    }
    // A segmented job's progress is in its Segments account: one read per such job.
    let mut rows = Vec::with_capacity(jobs.len());
    let mut v = Vec::with_capacity(jobs.len());
    for (k, j) in &jobs {
        let segs = match j.state {
            JobState::Segmented => fetch_segments(&*ctx.chain, k).await?,
            _ => None,
        };
        let mut jv = job_json(k, j);
        let progress = match &segs {
            Some(s) => {
                let t = SegmentTally::of(s);
                jv["segments"] = segments_json(s, j);
                format!("{}/{} done", t.done, t.count)
            }
            None => "-".into(),
        };
        v.push(jv);
        rows.push(vec![
            k.to_string(),
            state_name(j.state).into(),
            workload_name(j.workload).into(),
            j.price.to_string(),
            short(&j.provider),
            j.deadline.to_string(),
            progress,
        ]);
    }
    emit(out, ctx.format, &v, |o| {
        table(
            o,
            &[
                "JOB", "STATE", "WORKLOAD", "PRICE", "PROVIDER", "DEADLINE", "SEGMENTS",
            ],
            &rows,
        )
    })
}
