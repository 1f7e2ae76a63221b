//! `gpumkt job post`: its flags, the single-job post (generated GEMM inputs or a spec
//! file), and what every post and extension shares: the nonce, the `--max-escrow`
//! bound and the balance check. With `--segments` the post is a segmented train-mlp
//! job's ([`super::segments::post`]).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use gpu_market::state::JobRequirements;
use gpu_market_client::{buyer, token, Pubkey};
use gpu_market_compute::spec::{JobSpec, Workload, TRAIN_MLP_KIND};
use serde_json::json;
use solana_sdk::signature::Signer;

use super::market_keys;
use super::terms::SegmentedArgs;
use super::train::{read_kind, TrainArgs};
use crate::error::SegmentInputError;
use crate::output::emit;
use crate::{CliError, Ctx, Result};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum WorkloadArg {
    GemmI8,
    GemmF32,
    /// Segmented SGD training of a small MLP (needs --segments; the default with it).
    TrainMlp,
}

impl WorkloadArg {
    pub fn kind_name(self) -> &'static str {
        match self {
            WorkloadArg::GemmI8 => "gemm-i8",
            WorkloadArg::GemmF32 => "gemm-f32",
            WorkloadArg::TrainMlp => TRAIN_MLP_KIND,
        }
    }
}

#[derive(Args, Debug)]
pub struct PostArgs {
    /// Generate a GEMM job with deterministic random inputs, or (train-mlp, the default
    /// with --segments) build a training spec from the flags below.
    #[arg(
        long,
        value_enum,
        conflicts_with = "spec",
        required_unless_present_any = ["spec", "segments"]
    )]
    pub workload: Option<WorkloadArg>,
    /// GEMM: rows of A and C.
    #[arg(long, default_value_t = 256)]
    pub m: u32,
    /// GEMM: columns of B and C.
    #[arg(long, default_value_t = 256)]
    pub n: u32,
    /// GEMM: columns of A, rows of B.
    #[arg(long, default_value_t = 256)]
    pub k: u32,
    /// Seed of the generated inputs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// gemm-f32: relative tolerance results are checked with.
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f32,
    /// A job spec JSON file (its inputs must already be in a blob store); with
    /// --segments a train-mlp spec, whose `segments` must equal --segments.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Price, payment-mint base units (a segmented job's is the sum of --segment-price).
    #[arg(
        long,
        required_unless_present = "segments",
        conflicts_with = "segments"
    )]
    pub price: Option<u64>,
    /// Seconds from now until the job's deadline (a segmented job's: the last second a
    /// segment may start).
    #[arg(long, default_value_t = 3_600)]
    pub deadline_in: i64,
    /// Job nonce (default: from the clock).
    #[arg(long)]
    pub nonce: Option<u64>,
    /// Least GPU memory a provider must have, MiB.
    #[arg(long, default_value_t = 0)]
    pub min_vram_mb: u32,
    /// Least compute capability (major*10 + minor).
    #[arg(long, default_value_t = 0)]
    pub min_compute_capability: u16,
    /// Least GPU count.
    #[arg(long, default_value_t = 0)]
    pub min_gpus: u16,
    /// Refuse to post if the escrow (price plus crank bounty, per segment for a segmented
    /// job) would exceed this, payment-mint units. The post never takes more than the
    /// escrow it shows either way.
    #[arg(long)]
    pub max_escrow: Option<u64>,
    /// Show the escrow the post would take; upload and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub segmented: SegmentedArgs,
    #[command(flatten)]
    pub train: TrainArgs,
}

/// The job nonce: the one given, else microseconds since the epoch.
pub fn nonce_or_clock(nonce: Option<u64>) -> u64 {
    nonce.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
    })
}

/// `--max-escrow`: the escrow the program's rule takes must not be above it.
pub fn check_max_escrow(what: &'static str, escrow: u64, max: Option<u64>) -> Result<()> {
    match max {
        Some(max) if escrow > max => Err(CliError::EscrowAboveMax { what, escrow, max }),
        _ => Ok(()),
    }
}

/// The payment account `pay` holds at least `need`.
pub async fn check_funds(ctx: &Ctx, what: &'static str, pay: Pubkey, need: u64) -> Result<()> {
    let have = token::balance(&*ctx.chain, &pay).await?;
    if have < need {
        return Err(CliError::InsufficientBalance {
            what,
            account: pay,
            need,
            have,
        });
    }
    Ok(())
}

/// `job post`: a segmented post with `--segments`, else a single job.
pub async fn post(ctx: &Ctx, a: PostArgs, out: &mut dyn Write) -> Result<()> {
    if a.segmented.segments.is_some() {
        return super::segments::post(ctx, a, out).await;
    }
    if a.workload == Some(WorkloadArg::TrainMlp) {
        return Err(SegmentInputError::SegmentsRequired.into());
    }
    let price = a.price.unwrap_or(0);
    if price == 0 {
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
    let escrow = gpu_market::math::escrow_for(price, market.params.crank_bounty).map_err(|_| {
        CliError::Usage(format!(
            "--price {price} plus the crank bounty {} does not fit in a token amount",
            market.params.crank_bounty
        ))
    })?;
    check_max_escrow("posting", escrow, a.max_escrow)?;
    let pay = token::ata(&me, &m.payment_mint);
    check_funds(ctx, "posting", pay, escrow).await?;
    let spec = match (&a.spec, a.workload) {
        (Some(path), _) => {
            let (bytes, kind) = read_kind(path)?;
            if kind == TRAIN_MLP_KIND {
                return Err(SegmentInputError::SegmentsRequired.into());
            }
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
                WorkloadArg::TrainMlp => return Err(SegmentInputError::SegmentsRequired.into()),
            };
            workload
                .validate()
                .map_err(|e| CliError::Usage(format!("invalid workload: {e}")))?;
            if a.dry_run {
                return emit(
                    out,
                    ctx.format,
                    &json!({"dry_run": true, "workload": w.kind_name(), "price": price, "escrow": escrow}),
                    |o| {
                        writeln!(
                            o,
                            "dry run: {} job, escrow {escrow}, not posted",
                            w.kind_name()
                        )
                    },
                );
            }
            let blobs = ctx.blobs()?;
            buyer::gemm_spec(&*blobs, workload, a.seed).await?
        }
        (None, None) => return Err(CliError::Usage("pass --workload or --spec".into())),
    };
    if a.dry_run {
        return emit(
            out,
            ctx.format,
            &json!({"dry_run": true, "workload": spec.workload.kind_name(), "price": price, "escrow": escrow}),
            |o| {
                writeln!(
                    o,
                    "dry run: {} job, escrow {escrow}, not posted",
                    spec.workload.kind_name()
                )
            },
        );
    }
    let blobs = ctx.blobs()?;
    let now = ctx.chain.clock().await?.unix_timestamp;
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
        nonce_or_clock(a.nonce),
        price,
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
