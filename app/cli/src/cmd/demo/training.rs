//! The demo's training act (issue 11): a buyer posts a train-mlp job of
//! [`SEGMENTS`] paid segments on the bundled digits, its checkpoints to a store of
//! the buyer's (a local directory here). The first provider's worker trains segments
//! back to back and is killed before segment [`KILLED_AT`]; once that segment is past
//! its deadline the second provider's worker (a crank too) expires it (that segment's
//! bond alone slashed by the market's rule), takes the job over from the last committed
//! checkpoint, verified against the root on chain, finishes it and pays every segment.
//! The act then reads what each provider was paid, the buyer's total, the slash, the
//! final model's held-out accuracy, and compares the final checkpoint root with an
//! uninterrupted run of the same spec on the CPU.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpu_market::state::{JobRequirements, SegmentState, SegmentTerms, Segments, WorkloadKind};
use gpu_market::JobPostArgs;
use gpu_market_blobs::CheckpointStore;
use gpu_market_client::{accounts, bootstrap, segments as seg, token, Pubkey};
use gpu_market_compute::spec::{NamedBlob, TrainMlp, TrainMlpSpec, TrainWorkload};
use gpu_market_compute::train::segment::initial_checkpoint;
use gpu_market_compute::train::{evaluate, Checkpoint, CpuTrainer, Digits, Trainer};
use gpu_market_compute::Hash32;
use gpu_market_worker::segments::{FailPoint, SegmentRunError};
use gpu_market_worker::{JobError, Worker, WorkerError};
use solana_sdk::signature::{Keypair, Signer};

use super::actors::Env;
use super::error::DemoError;
use super::setup::Seat;
use super::training_report::{TrainingReport, TrainingSegment};

/// Segments of the training job.
pub const SEGMENTS: u8 = 4;
/// The first provider dies before training this segment (after committing the ones
/// before it).
pub const KILLED_AT: u8 = 2;
/// SGD steps per segment: a few hundredths of a second each on one core.
pub const STEPS_PER_SEGMENT: u64 = 150;
/// Each segment's price, payment-mint base units.
pub const SEGMENT_PRICE: u64 = 200_000;
/// Seconds a segment's provider has to commit it: the hand-off waits this long.
const SEGMENT_DURATION: i64 = 5;
/// The act gives up after this long.
const ACT_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_EVERY: Duration = Duration::from_millis(300);

/// The spec the buyer posts: the bundled digits, `Config::digits()`'s model.
fn spec(data: gpu_market_blobs::BlobRef, store: &Path) -> TrainMlpSpec {
    TrainMlpSpec {
        version: 1,
        workload: TrainWorkload::TrainMlp(TrainMlp {
            input: 64,
            hidden: 32,
            classes: 10,
            batch: 32,
            learning_rate: 0.1,
            momentum: 0.9,
            init_seed: 2026,
            data_seed: 11,
            steps_per_segment: STEPS_PER_SEGMENT,
            segments: u32::from(SEGMENTS),
            checkpoint_store: format!("file://{}", store.display()),
        }),
        inputs: vec![NamedBlob {
            name: "digits".into(),
            blob: data,
        }],
    }
}

/// Runs the act with `a` (killed) and `b` (finishes) as the two providers.
pub(super) async fn act(
    env: &Env,
    authority: &Keypair,
    a: &Seat,
    b: &Seat,
    workdir: &Path,
) -> Result<TrainingReport, DemoError> {
    let chain = &*env.sender.chain;
    let m = &env.market;
    let market = accounts::fetch_market(chain, &m.market)
        .await
        .map_err(DemoError::chain("reading the market"))?;
    let params = market.params;

    // The buyer, funded with exactly the job's escrow.
    let terms = vec![
        SegmentTerms {
            price: SEGMENT_PRICE,
            duration: SEGMENT_DURATION,
        };
        SEGMENTS as usize
    ];
    let escrow =
        Segments::escrow_for(&terms, params.crank_bounty).map_err(|source| DemoError::Rule {
            what: "the training job's escrow",
            source,
        })?;
    let buyer = Keypair::new();
    let mut ixs = vec![solana_system_interface::instruction::transfer(
        &authority.pubkey(),
        &buyer.pubkey(),
        100_000_000,
    )];
    ixs.extend(bootstrap::fund_instructions(
        &authority.pubkey(),
        m,
        &buyer.pubkey(),
        escrow,
        0,
    ));
    env.sender
        .send(&ixs, authority, &[])
        .await
        .map_err(DemoError::chain("funding the training buyer"))?;
    bootstrap::track_wallet(&env.tokens, m, &buyer.pubkey());
    let (buyer_pay, buyer_stake) = bootstrap::wallet_accounts(m, &buyer.pubkey());

    // The data and the spec, in the market's blob store; checkpoints to the buyer's.
    let digits = std::fs::read(Digits::bundled_path()).map_err(DemoError::TrainingData)?;
    let data = env
        .blobs
        .put(&digits)
        .await
        .map_err(DemoError::blob("storing the digits"))?;
    let store = workdir.join("checkpoints");
    let spec = spec(data, &store);
    let spec_bytes = spec.to_bytes().map_err(DemoError::TrainSpec)?;
    let spec_ref = env
        .blobs
        .put(&spec_bytes)
        .await
        .map_err(DemoError::blob("storing the training spec"))?;
    let now = chain
        .clock()
        .await
        .map_err(DemoError::chain("reading the clock"))?
        .unix_timestamp;
    let args = JobPostArgs {
        nonce: 1,
        workload: WorkloadKind::TrainMlp.code(),
        spec_hash: spec_ref.sha256.0,
        spec_uri: spec_ref.uri.clone(),
        requirements: JobRequirements::default(),
        price: SEGMENT_PRICE * u64::from(SEGMENTS),
        deadline: now + 120,
        gemm: None,
        max_escrow: escrow,
    };
    let (job, _) = seg::post_segmented(&env.sender, &buyer, m, buyer_pay, args, terms)
        .await
        .map_err(DemoError::chain("posting the training job"))?;

    let payout_of = |s: &Seat| bootstrap::wallet_accounts(m, &s.owner).0;
    let balance = |account: Pubkey| async move {
        token::balance(chain, &account)
            .await
            .map_err(DemoError::chain("reading a balance"))
    };
    let (a_before, b_before) = (balance(payout_of(a)).await?, balance(payout_of(b)).await?);
    let a_stake_before = provider_stake(env, &a.key).await?;

    // A trains segments back to back and dies before segment KILLED_AT. Its two
    // slots hold the segments it committed until they are paid (its own crank pays
    // them after their window), so it may wait for a slot between segments.
    let wa = a
        .trainer(env, workdir, Some((KILLED_AT, FailPoint::BeforeTrain)))
        .await?;
    let started = Instant::now();
    loop {
        let _ = wa.tick().await;
        // It is meant to die: that error is the point; any other is retried.
        if wa.drain().await.iter().any(killed) {
            break;
        }
        if started.elapsed() > ACT_TIMEOUT {
            return Err(DemoError::TrainingNotDone { job });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    drop(wa);
    let s = fetch_segments(env, &job).await?;
    if s.next != KILLED_AT || s.segments[KILLED_AT as usize].provider != a.key {
        return Err(DemoError::TrainerNotKilled { job });
    }
    let missed_bond = s.segments[KILLED_AT as usize].bond;

    // B (a crank too) expires A's segment once late, takes over and finishes.
    let wb = b.trainer(env, workdir, None).await?;
    let committed = loop {
        let s = fetch_segments(env, &job).await?;
        if s.next == SEGMENTS {
            break s;
        }
        tick(&wb).await;
        if started.elapsed() > ACT_TIMEOUT {
            return Err(DemoError::TrainingNotDone { job });
        }
        tokio::time::sleep(POLL_EVERY).await;
    };
    let last = SEGMENTS - 1;
    let final_root = Hash32(committed.segments[last as usize].state_root);
    let final_bytes = CheckpointStore::open(&spec.params().checkpoint_store)
        .map_err(DemoError::Checkpoints)?
        .get(&job.to_string(), u32::from(last), &final_root)
        .await
        .map_err(DemoError::Checkpoints)?;
    // Every segment paid: the job's accounts close.
    while accounts::fetch_job_opt(chain, &job)
        .await
        .map_err(DemoError::chain("reading the training job"))?
        .is_some()
    {
        if started.elapsed() > ACT_TIMEOUT {
            return Err(DemoError::TrainingNotDone { job });
        }
        tick(&wb).await;
        tokio::time::sleep(POLL_EVERY).await;
    }
    // Both workers' keys made their own token accounts for crank bounties and the
    // reporter's share: count them.
    for seat in [a, b] {
        for mint in [m.payment_mint, m.stake_mint] {
            env.tokens
                .track(mint, token::ata(&seat.worker.pubkey(), &mint));
        }
    }
    // The books after the act: the audit's invariants and token conservation.
    let snap = gpu_market_client::audit::Snapshot::load(chain, &m.market)
        .await
        .map_err(DemoError::chain("auditing after the training act"))?;
    let invariants_ok = gpu_market_client::audit::invariants(&snap).ok;
    let conservation_ok = env
        .tokens
        .check(chain)
        .await
        .map_err(DemoError::chain("checking token conservation"))?
        .iter()
        .all(|c| c.ok);

    // The uninterrupted reference, and the model's held-out accuracy.
    let (train, held_out) = Digits::from_bytes(&digits)
        .map_err(|e| DemoError::Train(e.into()))?
        .split();
    let c0 = initial_checkpoint(&spec, &train).map_err(DemoError::Train)?;
    let reference = CpuTrainer
        .train(&c0, &train, STEPS_PER_SEGMENT * u64::from(SEGMENTS))
        .map_err(DemoError::Train)?;
    let trained = Checkpoint::from_bytes(&final_bytes).map_err(|e| DemoError::Train(e.into()))?;
    let eval = evaluate(&trained, &held_out).map_err(DemoError::Train)?;

    let fee = gpu_market::math::fee_for(SEGMENT_PRICE, params.fee_bps).map_err(|source| {
        DemoError::Rule {
            what: "a segment's fee",
            source,
        }
    })?;
    let split = gpu_market::math::slash_split(
        missed_bond,
        params.slash_buyer_bps,
        params.slash_reporter_bps,
    )
    .map_err(|source| DemoError::SlashSplit {
        bond: missed_bond,
        source,
    })?;
    let segments = committed
        .segments
        .iter()
        .enumerate()
        .map(|(i, x)| TrainingSegment {
            index: i as u8,
            provider: x.provider.to_string(),
            state_root: Hash32(x.state_root).to_string(),
            // Committed or already paid when every segment was committed; the job's
            // accounts closed after, so every one of them was paid.
            paid: if matches!(x.state, SegmentState::Committed | SegmentState::Paid) {
                SEGMENT_PRICE - fee
            } else {
                0
            },
        })
        .collect();
    let paid_to = |p: Pubkey| {
        u64::from(
            committed
                .segments
                .iter()
                .filter(|x| x.provider == p)
                .count() as u8,
        )
    };
    Ok(TrainingReport {
        job: job.to_string(),
        segments,
        price_per_segment: SEGMENT_PRICE,
        fee_per_segment: fee,
        killed_provider: a.key.to_string(),
        killed_at: KILLED_AT,
        resumed_by: b.key.to_string(),
        killed_paid: balance(payout_of(a)).await? - a_before,
        killed_expected: paid_to(a.key) * (SEGMENT_PRICE - fee),
        resumer_paid: balance(payout_of(b)).await? - b_before,
        resumer_expected: paid_to(b.key) * (SEGMENT_PRICE - fee),
        buyer_paid: escrow - balance(buyer_pay).await?,
        buyer_expected: escrow,
        slashed: a_stake_before - provider_stake(env, &a.key).await?,
        missed_bond,
        slash_to_buyer: balance(buyer_stake).await?,
        slash_expected_to_buyer: split.buyer,
        slash_to_reporter: balance(token::ata(&b.worker.pubkey(), &m.stake_mint)).await?,
        slash_expected_to_reporter: split.reporter,
        steps: STEPS_PER_SEGMENT * u64::from(SEGMENTS),
        accuracy: eval.accuracy(),
        held_out: eval.total as u64,
        final_root: final_root.to_string(),
        reference_root: reference.state_root().to_string(),
        invariants_ok,
        conservation_ok,
    })
}

/// Whether a worker task ended at its test kill point.
fn killed(e: &WorkerError) -> bool {
    matches!(e, WorkerError::Job { source, .. }
        if matches!(**source, JobError::Segments(SegmentRunError::Killed { .. })))
}

/// One pass of B's daemon, its tasks awaited; errors are logged, the loop retries.
async fn tick(w: &Arc<Worker>) {
    if let Err(e) = w.tick().await {
        tracing::debug!(error = %e, "training tick failed; retrying");
    }
    for e in w.drain().await {
        tracing::debug!(error = %e, "training task failed; retrying");
    }
}

async fn fetch_segments(env: &Env, job: &Pubkey) -> Result<Segments, DemoError> {
    seg::fetch_segments(&*env.sender.chain, job)
        .await
        .map_err(DemoError::chain("reading the training job's segments"))?
        .ok_or(DemoError::TrainingNotDone { job: *job })
}

async fn provider_stake(env: &Env, key: &Pubkey) -> Result<u64, DemoError> {
    Ok(accounts::fetch_provider(&*env.sender.chain, key)
        .await
        .map_err(DemoError::chain("reading a provider"))?
        .stake)
}
