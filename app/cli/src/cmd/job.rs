//! `gpumkt job`: post a job (generated GEMM inputs or a spec file), follow it,
//! download and check its result, cancel it while unclaimed, list jobs.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use gpu_market::state::{JobRequirements, JobState};
use gpu_market_client::buyer;
use gpu_market_client::{accounts, ix, token, Pubkey};
use gpu_market_compute::spec::{JobSpec, Workload};
use serde_json::json;
use solana_sdk::signature::Signer;

use super::{job_json, json_kv, market_keys, send, state_name, workload_name};
use crate::output::{emit, short, table};
use crate::{CliError, Ctx, Format, Result};

#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// Post a job with its escrow.
    Post(PostArgs),
    /// Show a job's on-chain state.
    Status { job: Pubkey },
    /// Follow a job until it settles, checking its result when submitted.
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
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum WorkloadArg {
    GemmI8,
    GemmF32,
}

#[derive(Args, Debug)]
pub struct PostArgs {
    /// Generate a GEMM job with deterministic random inputs.
    #[arg(
        long,
        value_enum,
        conflicts_with = "spec",
        required_unless_present = "spec"
    )]
    pub workload: Option<WorkloadArg>,
    #[arg(long, default_value_t = 256)]
    pub m: u32,
    #[arg(long, default_value_t = 256)]
    pub n: u32,
    #[arg(long, default_value_t = 256)]
    pub k: u32,
    /// Seed of the generated inputs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// gemm-f32: relative tolerance results are checked with.
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f32,
    /// A job spec JSON file (its inputs must already be in a blob store).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Price, payment-mint base units.
    #[arg(long)]
    pub price: u64,
    /// Seconds from now until the job's deadline.
    #[arg(long, default_value_t = 3_600)]
    pub deadline_in: i64,
    /// Job nonce (default: from the clock).
    #[arg(long)]
    pub nonce: Option<u64>,
    #[arg(long, default_value_t = 0)]
    pub min_vram_mb: u32,
    #[arg(long, default_value_t = 0)]
    pub min_compute_capability: u16,
    #[arg(long, default_value_t = 0)]
    pub min_gpus: u16,
}

pub async fn run(ctx: &Ctx, cmd: JobCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        JobCmd::Post(a) => post(ctx, a, out).await,
        JobCmd::Status { job } => {
            let j = fetch(ctx, &job).await?;
            let v = job_json(&job, &j);
            emit(out, ctx.format, &v, |o| json_kv(o, &v))
        }
        JobCmd::Watch {
            job,
            timeout,
            interval_ms,
        } => watch(ctx, job, timeout, interval_ms, out).await,
        JobCmd::Result { job, out: path } => {
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
        JobCmd::Cancel { job } => {
            let (m, _) = market_keys(ctx).await?;
            let j = fetch(ctx, &job).await?;
            let me = ctx.keypair()?.pubkey();
            if j.buyer != me {
                return Err(CliError::Usage(format!(
                    "job {job} was posted by {}, not you ({me})",
                    j.buyer
                )));
            }
            if j.state != JobState::Open {
                return Err(CliError::Usage(format!(
                    "job {job} is {}: only open jobs can be cancelled",
                    state_name(j.state)
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
        JobCmd::List { state, mine } => {
            let market = ctx.market()?;
            let filter = state.map(|s| match s {
                StateArg::Open => JobState::Open,
                StateArg::Claimed => JobState::Claimed,
                StateArg::Submitted => JobState::Submitted,
            });
            let mut jobs = accounts::list_jobs(&*ctx.chain, &market, filter).await?;
            if mine {
                let me = ctx.keypair()?.pubkey();
                jobs.retain(|(_, j)| j.buyer == me);
            }
            let v: Vec<_> = jobs.iter().map(|(k, j)| job_json(k, j)).collect();
            emit(out, ctx.format, &v, |o| {
                let rows: Vec<Vec<String>> = jobs
                    .iter()
                    .map(|(k, j)| {
                        vec![
                            k.to_string(),
                            state_name(j.state).into(),
                            workload_name(j.workload).into(),
                            j.price.to_string(),
                            short(&j.provider),
                            j.deadline.to_string(),
                        ]
                    })
                    .collect();
                table(
                    o,
                    &["JOB", "STATE", "WORKLOAD", "PRICE", "PROVIDER", "DEADLINE"],
                    &rows,
                )
            })
        }
    }
}

async fn fetch(ctx: &Ctx, job: &Pubkey) -> Result<gpu_market::state::Job> {
    accounts::fetch_job_opt(&*ctx.chain, job)
        .await?
        .ok_or(CliError::JobNotFound { job: *job })
}

async fn post(ctx: &Ctx, a: PostArgs, out: &mut dyn Write) -> Result<()> {
    if a.price == 0 {
        return Err(CliError::Usage("--price must be positive".into()));
    }
    if a.deadline_in <= 0 {
        return Err(CliError::Usage(
            "--deadline-in must be positive (seconds from now)".into(),
        ));
    }
    let (m, market) = market_keys(ctx).await?;
    let buyer_key = ctx.keypair()?;
    let me = buyer_key.pubkey();
    // What job_post will take: the program's own escrow rule.
    let escrow =
        gpu_market::math::escrow_for(a.price, market.params.crank_bounty).map_err(|_| {
            CliError::Usage(format!(
                "--price {} plus the crank bounty {} does not fit in a token amount",
                a.price, market.params.crank_bounty
            ))
        })?;
    let pay = token::ata(&me, &m.payment_mint);
    let balance = token::balance(&*ctx.chain, &pay).await?;
    if balance < escrow {
        return Err(CliError::Usage(format!(
            "insufficient balance: posting escrows {escrow} (price {} + crank bounty {}) but your payment account {pay} holds {balance}",
            a.price, market.params.crank_bounty
        )));
    }
    let blobs = ctx.blobs()?;
    let spec = match (&a.spec, a.workload) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|source| CliError::ReadSpec {
                path: path.clone(),
                source,
            })?;
            JobSpec::from_bytes(&bytes).map_err(|source| CliError::BadSpec {
                path: path.clone(),
                source,
            })?
        }
        (None, Some(w)) => {
            let workload = match w {
                WorkloadArg::GemmI8 => Workload::GemmI8 {
                    m: a.m,
                    n: a.n,
                    k: a.k,
                },
                WorkloadArg::GemmF32 => Workload::GemmF32 {
                    m: a.m,
                    n: a.n,
                    k: a.k,
                    rel_tolerance: a.tolerance,
                },
            };
            workload
                .validate()
                .map_err(|e| CliError::Usage(format!("invalid workload: {e}")))?;
            buyer::gemm_spec(&*blobs, workload, a.seed).await?
        }
        (None, None) => return Err(CliError::Usage("pass --workload or --spec".into())),
    };
    let now = ctx.chain.clock().await?.unix_timestamp;
    let nonce = a.nonce.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
    });
    let req = JobRequirements {
        min_vram_mb: a.min_vram_mb,
        min_compute_capability: a.min_compute_capability,
        min_gpu_count: a.min_gpus,
    };
    let (_, posted, _) = buyer::post(
        &ctx.sender,
        buyer_key,
        &m,
        &*blobs,
        &spec,
        nonce,
        a.price,
        now + a.deadline_in,
        req,
        // The escrow computed above from the terms read now: a bounty raised
        // before the post lands makes it fail instead of taking more.
        escrow,
    )
    .await?;
    emit(out, ctx.format, &posted, |o| {
        writeln!(
            o,
            "job {} posted: {} at price {}, deadline {}",
            posted.job,
            spec.workload.kind_name(),
            posted.price,
            posted.deadline
        )?;
        writeln!(o, "follow it with: gpumkt job watch {}", posted.job)
    })
}

async fn watch(
    ctx: &Ctx,
    job: Pubkey,
    timeout: u64,
    interval_ms: u64,
    out: &mut dyn Write,
) -> Result<()> {
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
