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
use gpu_market_compute::spec::Hash32;
use serde::Serialize;
use solana_sdk::signature::Signer;

use super::post::{check_funds, check_max_escrow, nonce_or_clock, PostArgs};
use super::{fetch_own, market_keys, state_name, train};
use crate::error::SegmentInputError;
use crate::output::emit;
use crate::{CliError, Ctx, Format, Result};

/// Seconds a segment's provider has to commit when `--segment-duration` is not given.
pub const DEFAULT_SEGMENT_DURATION: i64 = 3_600;

/// The segments of a post (`job post --segments`).
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Segmented jobs (train-mlp)")]
pub struct SegmentedArgs {
    /// Post a train-mlp job paid in N segments (1 to the program's MAX_SEGMENTS, 32):
    /// each is paid to the provider that ran it after its own challenge window, and
    /// another provider resumes from the last checkpoint if one misses its deadline.
    #[arg(long)]
    pub segments: Option<u8>,
    /// Price of each segment, payment-mint base units: one value for every segment, or
    /// a comma-separated list with one per segment. The escrow is each price plus the
    /// market's crank bounty.
    #[arg(long, value_delimiter = ',', requires = "segments")]
    pub segment_price: Vec<u64>,
    /// Seconds a segment's provider has from the segment's start to commit its
    /// checkpoint: one value, or one per segment [default: 3600].
    #[arg(long, value_delimiter = ',', requires = "segments")]
    pub segment_duration: Vec<i64>,
}

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

/// One value for all `n` segments, or one per segment.
fn per_segment<T: Copy>(flag: &'static str, values: &[T], n: u8) -> Result<Vec<T>> {
    match values.len() {
        1 => Ok(vec![values[0]; n as usize]),
        len if len == n as usize => Ok(values.to_vec()),
        given => Err(SegmentInputError::TermsListLength {
            flag,
            given,
            segments: n,
        }
        .into()),
    }
}

/// `n` segments' terms from the flags (`default` where a flag is absent), checked by the
/// program's `Segments::check_terms` for a job that has `have` segments already.
fn terms_for(
    n: u8,
    prices: &[u64],
    durations: &[i64],
    default: Option<SegmentTerms>,
    have: usize,
    min_submit_window: i64,
) -> Result<Vec<SegmentTerms>> {
    let prices = match (prices, default) {
        ([], Some(d)) => vec![d.price; n as usize],
        ([], None) => return Err(SegmentInputError::SegmentPriceRequired.into()),
        (p, _) => per_segment("--segment-price", p, n)?,
    };
    let durations = match durations {
        [] => vec![default.map_or(DEFAULT_SEGMENT_DURATION, |d| d.duration); n as usize],
        d => per_segment("--segment-duration", d, n)?,
    };
    let terms: Vec<SegmentTerms> = prices
        .into_iter()
        .zip(durations)
        .map(|(price, duration)| SegmentTerms { price, duration })
        .collect();
    Segments::check_terms(&terms, have, min_submit_window).map_err(SegmentInputError::refused)?;
    Ok(terms)
}

#[derive(Serialize)]
struct Term {
    price: u64,
    duration: i64,
}

fn shown(terms: &[SegmentTerms]) -> Vec<Term> {
    terms
        .iter()
        .map(|t| Term {
            price: t.price,
            duration: t.duration,
        })
        .collect()
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
    let data = prepared
        .spec
        .data()
        .cloned()
        .expect("a checked train-mlp spec names its data");
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
                    name: "digits".into(),
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
