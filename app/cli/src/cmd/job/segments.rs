//! A segmented job's money-moving commands: the post (`job post --segments N`), `job
//! extend` and `job end`. Each asks the program's `Segments` rules on what it read from
//! the chain before anything is uploaded or sent (`check_terms`, `check_extend_at`,
//! `check_end`), shows the escrow or refund those rules compute (`escrow_for`; for an end,
//! `Segments::end` applied to a copy of the accounts, so the refund shown is the one the
//! program pays: price plus crank bounty of each unstarted segment), bounds it by
//! `--max-escrow`, and only then sends. `--dry-run` stops after showing it.

use std::io::Write;

use clap::Args;
use gpu_market::state::{Job, JobRequirements, JobState, SegmentTerms, Segments, WorkloadKind};
use gpu_market::JobPostArgs;
use gpu_market_client::buyer::BuyerError;
use gpu_market_client::ix::MarketKeys;
use gpu_market_client::segments as seg;
use gpu_market_client::{pda, token, Pubkey};
use gpu_market_compute::spec::train::TRAIN_DATA_INPUT;
use gpu_market_compute::spec::{Hash32, SpecError};
use serde::Serialize;
use solana_sdk::signature::Signer;

use super::post::{check_funds, check_max_escrow, nonce_or_clock, PostArgs};
use super::terms::{shown, terms_for, Term};
use super::{fetch_own, market_keys, state_name, train};
use crate::error::SegmentInputError;
use crate::output::emit;
use crate::{CliError, Ctx, Format, Result};

#[derive(Args, Debug)]
pub struct ExtendArgs {
    pub job: Pubkey,
    /// Segments to add (the job holds at most the program's MAX_SEGMENTS, 32, in all).
    #[arg(long)]
    pub segments: u8,
    /// Price of each added segment: one value, or one per added segment [default: the
    /// job's last segment's].
    #[arg(long, value_delimiter = ',')]
    pub segment_price: Vec<u64>,
    /// Seconds each added segment's provider has to commit: one value, or one per added
    /// segment [default: the job's last segment's].
    #[arg(long, value_delimiter = ',')]
    pub segment_duration: Vec<i64>,
    /// Refuse to extend if the added escrow would exceed this (payment-mint units).
    #[arg(long)]
    pub max_escrow: Option<u64>,
    /// Show the escrow the extension takes; send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct EndArgs {
    pub job: Pubkey,
    /// Show the refund ending would pay; send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Serialize)]
struct PostedSegmented {
    job: String,
    workload: &'static str,
    segments: u8,
    terms: Vec<Term>,
    /// The segments' total, the job's price.
    price: u64,
    crank_bounty: u64,
    /// What the post deposits: each price plus the crank bounty.
    escrow: u64,
    deadline: i64,
    checkpoint_store: String,
    /// The spec's data input (its URI once uploaded).
    data: Hash32,
    data_len: u64,
    spec_uri: Option<String>,
    spec_hash: Option<Hash32>,
    signature: Option<String>,
    dry_run: bool,
}

/// `job post --segments N` (see the module doc).
pub async fn post(ctx: &Ctx, a: PostArgs, out: &mut dyn Write) -> Result<()> {
    let n = a.segmented.segments.unwrap_or(0);
    // The program's rules on the segments first (their count among them), then the spec's.
    let (m, market) = market_keys(ctx).await?;
    let terms = terms_for(
        n,
        &a.segmented.segment_price,
        &a.segmented.segment_duration,
        None,
        0,
        market.params.min_submit_window,
    )?;
    let prepared = train::prepare(&a, n)?;
    if a.deadline_in <= 0 {
        return Err(CliError::Usage(
            "--deadline-in must be positive (seconds from now)".into(),
        ));
    }
    let bounty = market.params.crank_bounty;
    let price = Segments::total_price(&terms).map_err(SegmentInputError::refused)?;
    let escrow = Segments::escrow_for(&terms, bounty).map_err(SegmentInputError::refused)?;
    check_max_escrow("posting", escrow, a.max_escrow)?;
    let buyer = ctx.keypair()?;
    let me = buyer.pubkey();
    let pay = token::ata(&me, &m.payment_mint);
    check_funds(ctx, "posting", pay, escrow).await?;
    let nonce = nonce_or_clock(a.nonce);
    let job = pda::job(&m.market, &me, nonce);
    let deadline = ctx.chain.clock().await?.unix_timestamp + a.deadline_in;
    let data = prepared.spec.data().cloned().ok_or_else(|| {
        SegmentInputError::Spec(SpecError::MissingInput {
            name: TRAIN_DATA_INPUT.into(),
        })
    })?;
    let mut view = PostedSegmented {
        job: job.to_string(),
        workload: WorkloadKind::TrainMlp.name(),
        segments: n,
        terms: shown(&terms),
        price,
        crank_bounty: bounty,
        escrow,
        deadline,
        checkpoint_store: prepared.spec.params().checkpoint_store.clone(),
        data: data.sha256,
        data_len: data.len,
        spec_uri: None,
        spec_hash: None,
        signature: None,
        dry_run: a.dry_run,
    };
    if ctx.format == Format::Text {
        writeln!(
            out,
            "escrow {escrow}: {n} segments, price {price} + crank bounty {bounty} each"
        )
        .map_err(CliError::Output)?;
    }
    if a.dry_run {
        return emit(out, ctx.format, &view, |o| {
            writeln!(o, "dry run: job {job} not posted")
        });
    }
    let blobs = ctx.blobs()?;
    let spec = match prepared.data.clone() {
        Some(bytes) => {
            let stored = blobs
                .put(&bytes)
                .await
                .map_err(|source| BuyerError::StoreInput {
                    name: TRAIN_DATA_INPUT.into(),
                    source: Box::new(source),
                })?;
            prepared.with_data_at(stored)
        }
        None => prepared.spec,
    };
    let bytes = spec
        .to_bytes()
        .map_err(|e| CliError::Segments(SegmentInputError::Spec(e)))?;
    let stored = blobs
        .put(&bytes)
        .await
        .map_err(|source| BuyerError::StoreSpec {
            job,
            source: Box::new(source),
        })?;
    let args = JobPostArgs {
        nonce,
        workload: WorkloadKind::TrainMlp.code(),
        spec_hash: stored.sha256.0,
        spec_uri: stored.uri.clone(),
        requirements: JobRequirements {
            min_vram_mb: a.min_vram_mb,
            min_compute_capability: a.min_compute_capability,
            min_gpu_count: a.min_gpus,
        },
        price,
        deadline,
        gemm: None,
        // The escrow shown, from the terms read now: a bounty raised before the post
        // lands makes it fail instead of taking more.
        max_escrow: escrow,
    };
    let tx = send_post(ctx, &m, pay, args, terms, job).await?;
    view.spec_uri = Some(stored.uri);
    view.spec_hash = Some(stored.sha256);
    view.signature = Some(tx);
    emit(out, ctx.format, &view, |o| {
        writeln!(
            o,
            "job {job} posted: train-mlp in {n} segments, price {price}, deadline {deadline}"
        )?;
        writeln!(o, "follow it with: gpumkt job watch {job}")
    })
}

/// The post, with the buyer's stake-mint account (where its share of a slash goes)
/// created first if missing.
async fn send_post(
    ctx: &Ctx,
    m: &MarketKeys,
    pay: Pubkey,
    args: JobPostArgs,
    terms: Vec<SegmentTerms>,
    job: Pubkey,
) -> Result<String> {
    let buyer = ctx.keypair()?;
    let me = buyer.pubkey();
    let own_stake = token::create_ata_idempotent(&me, &me, &m.stake_mint);
    let (ix, _) = seg::post_segmented_ix(m, me, pay, args, terms);
    let out = ctx
        .sender
        .send(&[own_stake, ix], buyer, &[])
        .await
        .map_err(|source| BuyerError::Post { job, source })?;
    Ok(out.signature.to_string())
}

/// The job and its live `Segments`, the job being the caller's own segmented job.
async fn own_segmented(ctx: &Ctx, job: &Pubkey) -> Result<(Job, Segments)> {
    let j = fetch_own(ctx, job).await?;
    if j.state != JobState::Segmented {
        return Err(CliError::NotSegmented {
            job: *job,
            state: state_name(j.state),
        });
    }
    let s = seg::fetch_segments(&*ctx.chain, job)
        .await?
        .ok_or(CliError::JobNotFound { job: *job })?;
    Ok((j, s))
}

#[derive(Serialize)]
struct Extended {
    job: String,
    added: u8,
    terms: Vec<Term>,
    price: u64,
    escrow: u64,
    /// Segments the job has after the extension.
    count: usize,
    signature: Option<String>,
    dry_run: bool,
}

/// `job extend` (see the module doc). The bounty is the job's, frozen at its post.
pub async fn extend(ctx: &Ctx, a: ExtendArgs, out: &mut dyn Write) -> Result<()> {
    let (j, s) = own_segmented(ctx, &a.job).await?;
    let now = ctx.chain.clock().await?.unix_timestamp;
    let last = s.segments.last().map(|seg| seg.terms());
    let terms = terms_for(
        a.segments,
        &a.segment_price,
        &a.segment_duration,
        last,
        s.segments.len(),
        j.terms.min_submit_window,
    )?;
    s.check_extend_at(&j, &terms, now)
        .map_err(SegmentInputError::refused)?;
    let price = Segments::total_price(&terms).map_err(SegmentInputError::refused)?;
    let escrow =
        Segments::escrow_for(&terms, j.terms.crank_bounty).map_err(SegmentInputError::refused)?;
    check_max_escrow("extending", escrow, a.max_escrow)?;
    let (m, _) = market_keys(ctx).await?;
    let buyer = ctx.keypair()?;
    let pay = token::ata(&buyer.pubkey(), &m.payment_mint);
    check_funds(ctx, "extending", pay, escrow).await?;
    let mut view = Extended {
        job: a.job.to_string(),
        added: a.segments,
        terms: shown(&terms),
        price,
        escrow,
        count: s.segments.len() + terms.len(),
        signature: None,
        dry_run: a.dry_run,
    };
    if ctx.format == Format::Text {
        writeln!(
            out,
            "escrow {escrow}: {} segments, price {price} + crank bounty {} each",
            a.segments, j.terms.crank_bounty
        )
        .map_err(CliError::Output)?;
    }
    if !a.dry_run {
        let tx = seg::extend(&ctx.sender, buyer, &m, &a.job, pay, terms).await?;
        view.signature = Some(tx.signature.to_string());
    }
    emit(out, ctx.format, &view, |o| {
        if view.dry_run {
            writeln!(o, "dry run: job {} not extended", a.job)
        } else {
            writeln!(
                o,
                "job {} extended to {} segments, {escrow} escrowed",
                a.job, view.count
            )
        }
    })
}

#[derive(Serialize)]
struct Ended {
    job: String,
    /// Segments refunded: every one not started.
    segments_refunded: u8,
    /// Their prices.
    price: u64,
    /// What the buyer gets back: price plus crank bounty of each.
    refunded: u64,
    /// The segment still running, which may commit and be paid.
    running: Option<u8>,
    signature: Option<String>,
    dry_run: bool,
}

/// `job end` (see the module doc).
pub async fn end(ctx: &Ctx, a: EndArgs, out: &mut dyn Write) -> Result<()> {
    let (j, s) = own_segmented(ctx, &a.job).await?;
    // The program's own transition on copies: what it refunds is what is shown.
    let (mut j2, mut s2) = (j.clone(), s.clone());
    let refund = s2.end(&mut j2).map_err(SegmentInputError::refused)?;
    let running = s.running().map(|(i, _)| i);
    let mut view = Ended {
        job: a.job.to_string(),
        segments_refunded: refund.segments,
        price: refund.price,
        refunded: refund.escrow,
        running,
        signature: None,
        dry_run: a.dry_run,
    };
    if ctx.format == Format::Text {
        writeln!(
            out,
            "refund {}: {} unstarted segments, price {} + crank bounty {} each",
            refund.escrow, refund.segments, refund.price, j.terms.crank_bounty
        )
        .map_err(CliError::Output)?;
    }
    if !a.dry_run {
        let (m, _) = market_keys(ctx).await?;
        let tx = seg::end(&ctx.sender, ctx.keypair()?, &m, &a.job).await?;
        view.signature = Some(tx.signature.to_string());
    }
    emit(out, ctx.format, &view, |o| {
        if view.dry_run {
            return writeln!(o, "dry run: job {} not ended", a.job);
        }
        writeln!(o, "job {} ended, {} refunded", a.job, view.refunded)?;
        if let Some(i) = running {
            writeln!(o, "segment {i} is still running: it may commit and be paid")?;
        }
        Ok(())
    })
}
