//! Segmented jobs on the embedded chain: every segment paid one by one, extension,
//! ending early, hand-off after a missed segment, each deadline at t-1, t and t+1, a
//! bad-input matrix and attacks that fail. Token conservation (and the market's audit
//! invariants) are checked after every step that moves anything.

use gpu_market::events::{
    JobEnded, JobExtended, ProviderSlashed, SegmentCommitted, SegmentExpired, SegmentPaid,
    SegmentStarted,
};
use gpu_market::state::{JobState, SegmentState};
use gpu_market_client::{events, ix, pda, segments as seg, token, Pubkey};
use gpu_market_tests::segments::*;
use gpu_market_tests::*;

const STAKE: u64 = 50_000;
const DUR: i64 = 100;

fn fee(price: u64) -> u64 {
    gpu_market::math::fee_for(price, default_params().fee_bps).unwrap()
}

fn bond(price: u64) -> u64 {
    let p = default_params();
    gpu_market::math::bond_for(price, p.bond_bps, p.bond_min).unwrap()
}

#[tokio::test]
async fn every_segment_is_paid_one_by_one_through_the_sdk() {
    let w = World::new().await;
    let p = default_params();
    let provider = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let prices = [1_000u64, 2_000, 3_000];
    let terms = priced(&prices, DUR);
    let escrow = escrow_of(&terms);
    assert_eq!(escrow, 6_000 + 3 * p.crank_bounty);

    // Post through the SDK: the whole escrow leaves the buyer at once.
    let args = w.segmented_args(1, &terms, t0 + 3_600);
    let (job, _) = seg::post_segmented(
        &w.sender,
        &buyer.key,
        &w.market,
        buyer.payment,
        args,
        terms.clone(),
    )
    .await
    .unwrap();
    assert_eq!(w.balance(&buyer.payment).await, 100_000 - escrow);
    assert_eq!(w.balance(&w.market.payment_vault).await, escrow);
    let j = w.job(&job).await;
    assert_eq!(
        (j.state, j.price, j.escrow),
        (JobState::Segmented, 6_000, escrow)
    );
    let s = w.segments(&job).await;
    assert_eq!(
        (s.count, s.next, s.ended, s.last_checkpoint_index),
        (3, 0, false, None)
    );
    w.assert_conservation().await;

    // Claim: segment 0 starts, its bond locked.
    let out = seg::claim(
        &w.sender,
        &provider.worker,
        &w.market.market,
        &provider.key,
        &job,
    )
    .await
    .unwrap();
    let started = events::parse::<SegmentStarted>(&out.logs);
    assert_eq!((started[0].index, started[0].bond), (0, bond(1_000)));
    assert_eq!(started[0].deadline, t0 + DUR);
    assert_eq!(w.provider(&provider.key).await.locked, bond(1_000));
    w.assert_conservation().await;

    let mut paid_so_far = 0;
    for index in 0..3u8 {
        // Commit: the checkpoint's root and URI; the next segment starts for the
        // same provider in the same transaction.
        w.advance(10).await;
        let out = seg::commit(
            &w.sender,
            &provider.worker,
            &w.market.market,
            &provider.key,
            &job,
            index,
            [index + 1; 32],
            checkpoint_uri(&job, index),
        )
        .await
        .unwrap();
        let c = events::parse::<SegmentCommitted>(&out.logs);
        assert_eq!((c[0].index, c[0].state_root), (index, [index + 1; 32]));
        // Wall clock since the segment's start, one GPU: the first started at the
        // claim, each next one at the previous commit, a window and ten seconds earlier.
        let ran = if index == 0 {
            10
        } else {
            10 + p.challenge_window + 1
        };
        assert_eq!(c[0].gpu_ms, ran as u64 * 1_000);
        let next_started = events::parse::<SegmentStarted>(&out.logs);
        assert_eq!(next_started.len(), usize::from(index < 2));
        let s = w.segments(&job).await;
        assert_eq!(s.last_checkpoint_index, Some(index));
        assert_eq!(s.last_checkpoint_uri, checkpoint_uri(&job, index));
        assert_eq!(s.segments[index as usize].state, SegmentState::Committed);
        w.assert_conservation().await;

        // Paid after its own window: price minus fee to the provider, bounty to the
        // cranker, the rest of the escrow untouched.
        w.advance(p.challenge_window + 1).await;
        let price = prices[index as usize];
        let out = seg::finalize(
            &w.sender,
            &cranker.key,
            &w.market,
            &job,
            index,
            cranker.payment,
        )
        .await
        .unwrap();
        let paid = events::parse::<SegmentPaid>(&out.logs);
        assert_eq!(
            (paid[0].amount, paid[0].fee, paid[0].bounty, paid[0].closed),
            (price - fee(price), fee(price), p.crank_bounty, index == 2)
        );
        paid_so_far += price - fee(price);
        assert_eq!(w.balance(&provider.owner.payment).await, paid_so_far);
        assert_eq!(
            w.balance(&cranker.payment).await,
            (index as u64 + 1) * p.crank_bounty
        );
        w.assert_conservation().await;
    }

    // Every segment paid: both accounts closed, the provider's stake whole, the
    // market counting three completed segment-jobs.
    assert!(!w.job_exists(&job).await);
    assert!(!w.job_exists(&pda::segments(&job)).await);
    assert!(seg::fetch_segments(&*w.chain, &job)
        .await
        .unwrap()
        .is_none());
    let pr = w.provider(&provider.key).await;
    assert_eq!((pr.locked, pr.active_jobs, pr.stake), (0, 0, STAKE));
    assert_eq!(pr.reputation.completed, 3);
    assert_eq!(
        pr.reputation.fees_paid,
        fee(1_000) + fee(2_000) + fee(3_000)
    );
    let totals = w.market_state().await.totals;
    assert_eq!(
        (
            totals.jobs_posted,
            totals.jobs_completed,
            totals.escrow_outstanding
        ),
        (3, 3, 0)
    );
    assert_eq!(
        w.balance(&w.market.payment_vault).await,
        totals.fees_unswept
    );
    w.assert_conservation().await;
}

#[tokio::test]
async fn extending_adds_segments_that_run_from_the_last_checkpoint() {
    let w = World::new().await;
    let p = default_params();
    let provider = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let job = w
        .post_segmented(&buyer, 1, &terms(1, 1_000, DUR), t0 + 3_600)
        .await;
    w.seg_claim(&provider, &job).await.unwrap();

    // While segment 0 runs, the buyer adds two; the escrow follows exactly.
    let more = priced(&[500, 700], DUR);
    let before = w.balance(&buyer.payment).await;
    let out = w.seg_extend(&buyer, &job, more.clone()).await.unwrap();
    let ext = events::parse::<JobExtended>(&out.logs);
    assert_eq!(
        (
            ext[0].added,
            ext[0].count,
            ext[0].price_added,
            ext[0].escrow_added
        ),
        (2, 3, 1_200, 1_200 + 2 * p.crank_bounty)
    );
    assert_eq!(before - w.balance(&buyer.payment).await, escrow_of(&more));
    let j = w.job(&job).await;
    assert_eq!(
        (j.price, j.escrow),
        (2_200, escrow_of(&terms(1, 1_000, DUR)) + escrow_of(&more))
    );
    w.assert_conservation().await;

    // The added segments start, run and are paid like the first.
    for index in 0..3u8 {
        w.advance(5).await;
        w.seg_commit(&provider, &job, index, index + 1)
            .await
            .unwrap();
        w.assert_conservation().await;
    }
    w.advance(p.challenge_window + 1).await;
    for index in 0..3u8 {
        w.seg_finalize(&job, index, &cranker).await.unwrap();
        w.assert_conservation().await;
    }
    assert!(!w.job_exists(&job).await);
    let earned = [1_000, 500, 700].iter().map(|&x| x - fee(x)).sum::<u64>();
    assert_eq!(w.balance(&provider.owner.payment).await, earned);
}

#[tokio::test]
async fn ending_early_refunds_exactly_the_unstarted_remainder() {
    let w = World::new().await;
    let p = default_params();
    let provider = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let prices = [1_000u64, 1_100, 1_200, 1_300];
    let terms = priced(&prices, DUR);
    let job = w.post_segmented(&buyer, 1, &terms, t0 + 3_600).await;
    w.seg_claim(&provider, &job).await.unwrap();
    w.advance(5).await;
    w.seg_commit(&provider, &job, 0, 1).await.unwrap();
    // Segment 1 is running now; 2 and 3 never started.
    let before = w.balance(&buyer.payment).await;
    let out = w.seg_end(&buyer, &job).await.unwrap();
    let ended = events::parse::<JobEnded>(&out.logs);
    let remainder = 1_200 + 1_300 + 2 * p.crank_bounty;
    assert_eq!(
        (
            ended[0].segments_refunded,
            ended[0].refunded,
            ended[0].closed
        ),
        (2, remainder, false)
    );
    assert_eq!(w.balance(&buyer.payment).await - before, remainder);
    let s = w.segments(&job).await;
    assert_eq!((s.count, s.ended), (2, true));
    w.assert_conservation().await;

    // The running segment still commits and is paid; nothing starts after it.
    w.advance(5).await;
    let out = w.seg_commit(&provider, &job, 1, 2).await.unwrap();
    assert!(events::parse::<SegmentStarted>(&out.logs).is_empty());
    w.advance(p.challenge_window + 1).await;
    w.seg_finalize(&job, 0, &cranker).await.unwrap();
    w.seg_finalize(&job, 1, &cranker).await.unwrap();
    assert!(!w.job_exists(&job).await);
    assert_eq!(
        w.balance(&provider.owner.payment).await,
        1_000 - fee(1_000) + 1_100 - fee(1_100)
    );
    // The buyer paid for two segments and their settlement, nothing more.
    assert_eq!(
        100_000 - w.balance(&buyer.payment).await,
        1_000 + 1_100 + 2 * p.crank_bounty
    );
    w.assert_conservation().await;

    // Ended before anything started: all of it back, the accounts closed at once.
    let job = w.post_segmented(&buyer, 2, &terms, t0 + 3_600).await;
    let before = w.balance(&buyer.payment).await;
    let out = w.seg_end(&buyer, &job).await.unwrap();
    let ended = events::parse::<JobEnded>(&out.logs);
    assert_eq!((ended[0].segments_refunded, ended[0].closed), (4, true));
    assert_eq!(w.balance(&buyer.payment).await - before, escrow_of(&terms));
    assert!(!w.job_exists(&job).await && !w.job_exists(&pda::segments(&job)).await);
    w.assert_conservation().await;
}

#[tokio::test]
async fn a_missed_segment_is_slashed_alone_and_another_provider_finishes() {
    let w = World::new().await;
    let p = default_params();
    let first = w.register_provider(h100(), STAKE).await;
    let second = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let prices = [1_000u64, 2_000, 3_000];
    let job = w
        .post_segmented(&buyer, 1, &priced(&prices, DUR), t0 + 3_600)
        .await;

    // The first provider delivers segment 0 and starts 1, then vanishes.
    w.seg_claim(&first, &job).await.unwrap();
    w.advance(10).await;
    w.seg_commit(&first, &job, 0, 1).await.unwrap();
    let s = w.segments(&job).await;
    let due = s.segments[1].deadline;
    assert_eq!(
        w.provider(&first.key).await.locked,
        bond(1_000) + bond(2_000)
    );
    w.assert_conservation().await;

    // Past segment 1's deadline a cranker expires it: that segment's bond alone is
    // slashed by the market's split; segment 0 keeps its bond and stays payable.
    w.set_time(due + 1).await;
    let out = w.seg_expire(&job, 1, &cranker).await.unwrap();
    let slashed = events::parse::<ProviderSlashed>(&out.logs);
    let b1 = bond(2_000);
    let to_buyer = b1 * p.slash_buyer_bps as u64 / 10_000;
    let to_reporter = b1 * p.slash_reporter_bps as u64 / 10_000;
    assert_eq!(
        (
            slashed[0].amount,
            slashed[0].to_buyer,
            slashed[0].to_reporter
        ),
        (b1, to_buyer, to_reporter)
    );
    let expired = events::parse::<SegmentExpired>(&out.logs);
    assert_eq!((expired[0].index, expired[0].reopened), (1, true));
    assert_eq!(w.balance(&cranker.stake).await, to_reporter);
    assert_eq!(w.balance(&buyer.stake).await, to_buyer);
    let pr = w.provider(&first.key).await;
    assert_eq!((pr.stake, pr.locked), (STAKE - b1, bond(1_000)));
    assert_eq!(pr.reputation.expired, 1);
    let s = w.segments(&job).await;
    assert_eq!(s.segments[1].state, SegmentState::Pending);
    assert_eq!(s.segments[0].state, SegmentState::Committed);
    assert_eq!((s.next, s.last_checkpoint_index), (1, Some(0)));
    w.assert_conservation().await;

    // Segment 0 is still paid to the first provider.
    w.seg_finalize(&job, 0, &cranker).await.unwrap();
    assert_eq!(w.balance(&first.owner.payment).await, 1_000 - fee(1_000));
    w.assert_conservation().await;

    // The second provider resumes from the committed checkpoint (its root and URI
    // are on chain to verify the bytes against) and finishes the job.
    let s = w.segments(&job).await;
    assert_eq!(s.segments[0].state_root, [1; 32]);
    assert_eq!(s.last_checkpoint_uri, checkpoint_uri(&job, 0));
    let out = w.seg_claim(&second, &job).await.unwrap();
    assert_eq!(events::parse::<SegmentStarted>(&out.logs)[0].index, 1);
    for index in 1..3u8 {
        w.advance(10).await;
        w.seg_commit(&second, &job, index, index + 1).await.unwrap();
        w.assert_conservation().await;
    }
    // The first provider cannot commit what it no longer runs.
    assert_err(w.seg_commit(&first, &job, 2, 9).await, "SegmentNotRunning");
    w.advance(p.challenge_window + 1).await;
    for index in 1..3u8 {
        w.seg_finalize(&job, index, &cranker).await.unwrap();
        w.assert_conservation().await;
    }
    assert!(!w.job_exists(&job).await);
    assert_eq!(w.balance(&first.owner.payment).await, 1_000 - fee(1_000));
    assert_eq!(
        w.balance(&second.owner.payment).await,
        2_000 - fee(2_000) + 3_000 - fee(3_000)
    );
    let second_state = w.provider(&second.key).await;
    assert_eq!((second_state.stake, second_state.locked), (STAKE, 0));
    // The buyer paid each segment once, to whoever delivered it, and got a share of
    // the slash on top.
    assert_eq!(
        100_000 - w.balance(&buyer.payment).await,
        6_000 + 3 * p.crank_bounty
    );
    w.assert_conservation().await;
}

#[tokio::test]
async fn a_miss_past_the_job_deadline_refunds_the_rest() {
    let w = World::new().await;
    let provider = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let t0 = w.now().await;
    let terms = priced(&[1_000, 2_000], DUR);
    let job = w.post_segmented(&buyer, 1, &terms, t0 + 50).await;
    w.seg_claim(&provider, &job).await.unwrap();
    let before = w.balance(&buyer.payment).await;
    w.set_time(t0 + DUR + 1).await;
    // The buyer reports its own job: no reporter share for it, the treasury's instead.
    let out = w.seg_expire(&job, 0, &buyer).await.unwrap();
    let slashed = events::parse::<ProviderSlashed>(&out.logs);
    assert_eq!(slashed[0].to_reporter, 0);
    let expired = events::parse::<SegmentExpired>(&out.logs);
    assert_eq!(
        (
            expired[0].reopened,
            expired[0].segments_refunded,
            expired[0].closed
        ),
        (false, 2, true)
    );
    assert_eq!(w.balance(&buyer.payment).await - before, escrow_of(&terms));
    assert!(!w.job_exists(&job).await);
    w.assert_conservation().await;
}

#[tokio::test]
async fn segment_deadline_at_t_minus_1_t_and_t_plus_1() {
    let w = World::new().await;
    let provider = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let one = terms(1, 1_000, DUR);
    let jobs = [
        w.post_segmented(&buyer, 1, &one, t0 + 3_600).await,
        w.post_segmented(&buyer, 2, &one, t0 + 3_600).await,
        w.post_segmented(&buyer, 3, &one, t0 + 3_600).await,
    ];
    for j in &jobs {
        w.seg_claim(&provider, j).await.unwrap();
    }
    let d = t0 + DUR;
    assert_eq!(w.segments(&jobs[0]).await.segments[0].deadline, d);
    w.set_time(d - 1).await;
    assert_err(
        w.seg_expire(&jobs[2], 0, &cranker).await,
        "SegmentDeadlineNotPassed",
    );
    w.seg_commit(&provider, &jobs[0], 0, 1).await.unwrap();
    w.set_time(d).await;
    assert_err(
        w.seg_expire(&jobs[2], 0, &cranker).await,
        "SegmentDeadlineNotPassed",
    );
    w.seg_commit(&provider, &jobs[1], 0, 1).await.unwrap();
    w.set_time(d + 1).await;
    assert_err(
        w.seg_commit(&provider, &jobs[2], 0, 1).await,
        "SegmentDeadlinePassed",
    );
    w.seg_expire(&jobs[2], 0, &cranker).await.unwrap();
    w.assert_conservation().await;
}

#[tokio::test]
async fn segment_challenge_window_at_t_minus_1_t_and_t_plus_1() {
    let w = World::new().await;
    let window = default_params().challenge_window;
    let provider = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let job = w
        .post_segmented(&buyer, 1, &terms(2, 1_000, DUR), t0 + 3_600)
        .await;
    w.seg_claim(&provider, &job).await.unwrap();
    w.advance(5).await;
    w.seg_commit(&provider, &job, 0, 1).await.unwrap();
    let c = t0 + 5 + window;
    assert_eq!(w.segments(&job).await.segments[0].challenge_deadline, c);
    for t in [c - 1, c] {
        w.set_time(t).await;
        assert!(!w.segments(&job).await.finalizable_at(0, t));
        assert_err(
            w.seg_finalize(&job, 0, &cranker).await,
            "ChallengeWindowOpen",
        );
    }
    w.set_time(c + 1).await;
    assert!(w.segments(&job).await.finalizable_at(0, c + 1));
    w.seg_finalize(&job, 0, &cranker).await.unwrap();
    w.assert_conservation().await;
}

#[tokio::test]
async fn segments_start_until_the_job_deadline_and_not_after() {
    let w = World::new().await;
    let a = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let t0 = w.now().await;
    let d = t0 + 200;
    let jobs = [
        w.post_segmented(&buyer, 1, &terms(2, 1_000, DUR), d).await,
        w.post_segmented(&buyer, 2, &terms(2, 1_000, DUR), d).await,
    ];
    w.set_time(d - 1).await;
    w.seg_claim(&a, &jobs[0]).await.unwrap();
    w.set_time(d).await;
    w.seg_claim(&a, &jobs[1]).await.unwrap();
    w.set_time(d + 1).await;
    // A commit after the job deadline is on time for its segment, but starts nothing.
    let out = w.seg_commit(&a, &jobs[0], 0, 1).await.unwrap();
    assert!(events::parse::<SegmentStarted>(&out.logs).is_empty());
    assert_err(w.seg_claim(&a, &jobs[0]).await, "JobDeadlinePassed");
    assert_err(
        w.seg_extend(&buyer, &jobs[0], terms(1, 1_000, DUR)).await,
        "JobDeadlinePassed",
    );
    // The buyer gets the unstarted segment back by ending the job.
    let before = w.balance(&buyer.payment).await;
    w.seg_end(&buyer, &jobs[0]).await.unwrap();
    assert_eq!(
        w.balance(&buyer.payment).await - before,
        escrow_of(&terms(1, 1_000, DUR))
    );
    w.assert_conservation().await;
}

/// The bad-input matrix of the new instructions: wrong signer, wrong account, wrong
/// index, after the end, over the maximum, zero price or duration. Every refusal is a
/// named error, and nothing moves.
#[tokio::test]
async fn bad_inputs_are_refused_by_name() {
    let w = World::new().await;
    let p = w.register_provider(h100(), STAKE).await;
    let other = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let mallory = w.wallet(100_000, 10_000).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let job = w
        .post_segmented(&buyer, 1, &terms(3, 1_000, DUR), t0 + 3_600)
        .await;
    let other_job = w
        .post_segmented(&buyer, 2, &terms(1, 1_000, DUR), t0 + 3_600)
        .await;
    w.seg_claim(&p, &job).await.unwrap();
    let vault_before = w.balance(&w.market.payment_vault).await;

    // Zero price, zero or negative duration, too many, none, at the post and at extension.
    for (t, name) in [
        (terms(1, 0, DUR), "PriceZero"),
        (terms(1, 1_000, 0), "SegmentDurationInvalid"),
        (terms(1, 1_000, -5), "SegmentDurationInvalid"),
        (terms(33, 1, DUR), "TooManySegments"),
        (vec![], "SegmentsEmpty"),
    ] {
        let args = w.segmented_args(10, &t, t0 + 3_600);
        assert_err(w.try_post_segmented(&buyer, args, t.clone()).await, name);
        assert_err(w.seg_extend(&buyer, &job, t).await, name);
    }
    assert_err(
        w.seg_extend(&buyer, &job, terms(30, 1, DUR)).await,
        "TooManySegments",
    );
    // A GEMM commitment on a training job.
    let mut args = w.segmented_args(11, &terms(1, 1, DUR), t0 + 3_600);
    args.gemm = Some(placeholder_gemm());
    assert_err(
        w.try_post_segmented(&buyer, args, terms(1, 1, DUR)).await,
        "GemmCommitmentUnexpected",
    );

    // Wrong signer: another provider's worker commits for this one; a stranger
    // extends or ends the buyer's job.
    let forged = seg::commit_ix(
        w.market.market,
        p.key,
        job,
        other.worker.pubkey(),
        0,
        [1; 32],
        "x".into(),
    );
    assert_err(w.send(&[forged], &[&other.worker]).await, "WrongWorker");
    assert_err(w.seg_commit(&other, &job, 0, 1).await, "WrongProvider");
    let ext = seg::extend_ix(
        &w.market,
        job,
        mallory.pubkey(),
        mallory.payment,
        terms(1, 1, DUR),
    );
    assert_err(w.send(&[ext], &[&mallory.key]).await, "WrongBuyer");
    let mut end = seg::end_ix(&w.market, job, &w.job(&job).await);
    end = swap(end, buyer.pubkey(), mallory.pubkey());
    assert_err(w.send(&[end], &[&mallory.key]).await, "WrongBuyer");

    // Wrong account: another job's segments, a refund to someone else's account.
    let wrong_segments = swap(
        seg::claim_ix(w.market.market, other.key, job, other.worker.pubkey()),
        pda::segments(&job),
        pda::segments(&other_job),
    );
    assert_err(
        w.send(&[wrong_segments], &[&other.worker]).await,
        "ConstraintSeeds",
    );
    let end = swap(
        seg::end_ix(&w.market, job, &w.job(&job).await),
        buyer.payment,
        mallory.payment,
    );
    assert_err(w.send(&[end], &[&buyer.key]).await, "WrongTokenOwner");

    // Wrong index.
    assert_err(w.seg_commit(&p, &job, 1, 1).await, "SegmentNotRunning");
    assert_err(
        w.seg_commit(&p, &job, 200, 1).await,
        "SegmentIndexOutOfRange",
    );
    assert_err(
        w.seg_finalize(&job, 0, &cranker).await,
        "SegmentNotCommitted",
    );
    assert_err(w.seg_expire(&job, 1, &cranker).await, "SegmentNotRunning");

    // Single-job instructions do not act on a segmented job.
    assert_err(w.submit(&p, &job, 1).await, "JobNotClaimed");
    assert_err(w.cancel(&other_job, &buyer).await, "JobNotOpen");
    assert_err(w.expire_unclaimed(&other_job, &cranker).await, "JobNotOpen");
    assert_err(
        w.send(
            &[ix::job_claim(
                w.market.market,
                other.key,
                other_job,
                other.worker.pubkey(),
            )],
            &[&other.worker],
        )
        .await,
        "SegmentsAccountMissing",
    );

    // After the end.
    w.seg_end(&buyer, &job).await.unwrap();
    assert_err(w.seg_end(&buyer, &job).await, "JobAlreadyEnded");
    assert_err(
        w.seg_extend(&buyer, &job, terms(1, 1, DUR)).await,
        "JobAlreadyEnded",
    );
    w.advance(5).await;
    w.seg_commit(&p, &job, 0, 1).await.unwrap();
    assert_err(w.seg_claim(&other, &job).await, "JobAlreadyEnded");
    assert_eq!(
        vault_before - w.balance(&w.market.payment_vault).await,
        escrow_of(&terms(2, 1_000, DUR))
    );
    w.assert_conservation().await;
}

/// Attacks, each stated from the attacker's side; each loses.
#[tokio::test]
async fn attacks_on_segmented_jobs_fail() {
    let w = World::new().await;
    let p = default_params();
    let honest = w.register_provider(h100(), STAKE).await;
    let thief = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let job = w
        .post_segmented(&buyer, 1, &terms(2, 1_000, DUR), t0 + 3_600)
        .await;
    w.seg_claim(&honest, &job).await.unwrap();

    // A racing provider cannot take the running segment.
    assert_err(w.seg_claim(&thief, &job).await, "SegmentNotPending");
    // A provider cannot be paid before the buyer's challenge window closes.
    w.advance(5).await;
    w.seg_commit(&honest, &job, 0, 1).await.unwrap();
    assert_err(
        w.seg_finalize(&job, 0, &cranker).await,
        "ChallengeWindowOpen",
    );
    // A committed segment's bond cannot be slashed as if it were late.
    w.advance(DUR * 2).await;
    assert_err(w.seg_expire(&job, 0, &cranker).await, "SegmentNotRunning");
    // Another provider cannot collect the honest provider's pay: its own provider and
    // payout accounts in the honest one's place.
    let j = w.job(&job).await;
    let thief_state = w.provider(&thief.key).await;
    let steal = seg::finalize_ix(
        &w.market,
        job,
        &j,
        0,
        thief.key,
        &thief_state,
        cranker.pubkey(),
        cranker.payment,
    );
    assert_err(w.send(&[steal], &[&cranker.key]).await, "WrongProvider");
    let honest_state = w.provider(&honest.key).await;
    let redirect = swap(
        seg::finalize_ix(
            &w.market,
            job,
            &j,
            0,
            honest.key,
            &honest_state,
            cranker.pubkey(),
            cranker.payment,
        ),
        honest_state.payout_account,
        cranker.payment,
    );
    assert_err(
        w.send(&[redirect], &[&cranker.key]).await,
        "WrongPayoutAccount",
    );
    // A buyer ending the job after work was committed still pays for that work.
    w.seg_end(&buyer, &job).await.ok();
    w.seg_finalize(&job, 0, &cranker).await.unwrap();
    assert_eq!(w.balance(&honest.owner.payment).await, 1_000 - fee(1_000));
    // A paid segment cannot be paid twice.
    assert_err(
        w.seg_finalize(&job, 0, &cranker).await,
        "SegmentNotCommitted",
    );
    // The late running segment: the reporter share goes to whoever reports it, and the
    // honest provider loses that segment's bond only.
    let running = w.segments(&job).await;
    assert_eq!(running.segments[1].state, SegmentState::Running);
    let out = w.seg_expire(&job, 1, &cranker).await.unwrap();
    let slashed = events::parse::<ProviderSlashed>(&out.logs);
    assert_eq!(slashed[0].amount, bond(1_000));
    assert_eq!(w.provider(&honest.key).await.stake, STAKE - bond(1_000));
    assert!(!w.job_exists(&job).await);
    assert_eq!(
        100_000 - w.balance(&buyer.payment).await,
        1_000 + p.crank_bounty
    );
    w.assert_conservation().await;
}

#[tokio::test]
async fn the_crank_pays_and_expires_segments_by_the_programs_rules() {
    let w = World::new().await;
    let p = default_params();
    let provider = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let job = w
        .post_segmented(&buyer, 1, &terms(2, 1_000, DUR), t0 + 3_600)
        .await;
    w.seg_claim(&provider, &job).await.unwrap();
    w.advance(5).await;
    w.seg_commit(&provider, &job, 0, 1).await.unwrap();
    let crank = || gpu_market_client::crank::crank_once(&w.sender, &cranker.key, &w.market.market);
    assert_eq!(crank().await.unwrap().acted(), 0);
    w.advance(p.challenge_window + 1).await;
    let report = crank().await.unwrap();
    assert_eq!(report.segments_paid, vec![format!("{job}#0")]);
    w.track(
        w.payment_mint,
        token::ata(&cranker.pubkey(), &w.payment_mint),
    );
    w.track(w.stake_mint, token::ata(&cranker.pubkey(), &w.stake_mint));
    w.assert_conservation().await;
    w.advance(DUR).await;
    let report = crank().await.unwrap();
    assert_eq!(report.segments_expired, vec![format!("{job}#1")]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    w.assert_conservation().await;
}

#[tokio::test]
async fn every_segment_error_is_named() {
    let w = World::new().await;
    let names: std::collections::BTreeSet<&str> =
        provoke_segment_errors(&w).await.into_iter().collect();
    // Every error the segmented instructions added, in code order.
    let added = &gpu_market::errors::MarketError::ALL[95..110];
    let expected: std::collections::BTreeSet<String> = added.iter().map(|e| e.name()).collect();
    assert_eq!(added.len(), 15);
    assert_eq!(
        names
            .iter()
            .map(|n| n.to_string())
            .collect::<std::collections::BTreeSet<_>>(),
        expected
    );
    w.assert_conservation().await;
}

/// The two accounts a hand-off needs are where the SDK says.
#[test]
fn the_segments_address_is_the_programs() {
    let job = Pubkey::new_unique();
    let (expected, _) = Pubkey::find_program_address(
        &[gpu_market::constants::SEGMENTS_SEED, job.as_ref()],
        &gpu_market::ID,
    );
    assert_eq!(pda::segments(&job), expected);
}
