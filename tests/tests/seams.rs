//! The seams between the program and its off-chain callers. Each rule that
//! both sides decide lives in one pure function on the program's state
//! (`Job::finalizable_at`, `Job::expirable_at`, `Job::unclaimed_lapsed_at`,
//! `Job::submittable_at`, `Job::submit_deadline_for_claim_at`,
//! `Provider::can_claim`, `math::escrow_for`); the handlers check it and the
//! crank, the worker's planner and the CLI ask it. Here, on the embedded
//! chain, the off-chain side is asked first (the crank's `due` list, or the
//! predicate on freshly fetched accounts), then the instruction is sent, at
//! t-1, t and t+1 around each deadline: they must agree every time, and a
//! refusal must carry the name the predicate gave.

use gpu_market::math;
use gpu_market::state::JobRequirements;
use gpu_market::JobPostArgs;
use gpu_market_client::crank::{self, CrankKind};
use gpu_market_client::error::Result;
use gpu_market_client::{accounts, ix, Pubkey};
use gpu_market_tests::*;

/// The name of a program error returned by a predicate.
fn name(e: &anchor_lang::error::Error) -> String {
    match e {
        anchor_lang::error::Error::AnchorError(a) => a.error_name.clone(),
        e => panic!("not a named error: {e:?}"),
    }
}

/// What the crank would do for `job` now, from a scan of the chain.
async fn due_for(w: &World, job: &Pubkey) -> Option<CrankKind> {
    let jobs = accounts::list_jobs(&*w.chain, &w.market.market, None)
        .await
        .unwrap();
    let now = w.now().await;
    crank::due(&jobs, now)
        .into_iter()
        .find(|a| a.job == *job)
        .map(|a| a.kind)
}

/// Asserts that the predicate's verdict and the instruction's outcome agree:
/// both yes, or both no with the refusal named `refusal`.
#[track_caller]
fn agree<T: std::fmt::Debug>(at: i64, predicted: bool, sent: Result<T>, refusal: &str) {
    match (predicted, sent) {
        (true, Ok(_)) => {}
        (false, Err(e)) if e.error_name() == Some(refusal) => {}
        (p, r) => panic!("at t{at:+}: predicate says {p}, the program answered {r:?}"),
    }
}

#[tokio::test]
async fn finalize_seam() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 50_000).await;
    let buyer = w.wallet(100_000, 0).await;
    let job = w.post_job(&buyer, 1, 1_000, w.now().await + 3_600).await;
    let escrow = math::escrow_for(1_000, w.params.crank_bounty).unwrap();
    assert_eq!(w.job(&job).await.escrow, escrow);
    w.claim(&p, &job).await.unwrap();
    w.submit(&p, &job, 1).await.unwrap();
    let c = w.job(&job).await.challenge_deadline;
    for dt in [-1, 0, 1] {
        w.set_time(c + dt).await;
        let predicted = w.job(&job).await.finalizable_at(c + dt);
        assert_eq!(
            due_for(&w, &job).await == Some(CrankKind::Finalize),
            predicted,
            "crank and predicate at t{dt:+}"
        );
        assert_eq!(predicted, dt > 0, "finalizable only after the window");
        agree(
            dt,
            predicted,
            w.finalize(&job, &buyer).await,
            "ChallengeWindowOpen",
        );
    }
    assert!(!w.job_exists(&job).await);
    w.assert_conservation().await;
}

#[tokio::test]
async fn expire_seam() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 50_000).await;
    let buyer = w.wallet(100_000, 0).await;
    let job = w.post_job(&buyer, 1, 1_000, w.now().await + 3_600).await;
    w.claim(&p, &job).await.unwrap();
    let s = w.job(&job).await.submit_deadline;
    for dt in [-1, 0, 1] {
        w.set_time(s + dt).await;
        let predicted = w.job(&job).await.expirable_at(s + dt);
        assert_eq!(
            due_for(&w, &job).await == Some(CrankKind::Expire),
            predicted,
            "crank and predicate at t{dt:+}"
        );
        assert_eq!(
            predicted,
            dt > 0,
            "expirable only after the submit deadline"
        );
        agree(
            dt,
            predicted,
            w.expire(&job, &buyer).await,
            "SubmitDeadlineNotPassed",
        );
    }
    // Reopened (the job deadline is far): claimable again, by the predicate and the program.
    let now = w.now().await;
    let reopened = w.job(&job).await;
    assert!(reopened.claimable_at(now));
    w.assert_conservation().await;
}

#[tokio::test]
async fn unclaimed_refund_seam() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let d = w.now().await + 100;
    let job = w.post_job(&buyer, 1, 1_000, d).await;
    for dt in [-1, 0, 1] {
        w.set_time(d + dt).await;
        let predicted = w.job(&job).await.unclaimed_lapsed_at(d + dt);
        assert_eq!(
            due_for(&w, &job).await == Some(CrankKind::ExpireUnclaimed),
            predicted,
            "crank and predicate at t{dt:+}"
        );
        assert_eq!(predicted, dt > 0, "refundable only after the deadline");
        agree(
            dt,
            predicted,
            w.expire_unclaimed(&job, &cranker).await,
            "DeadlineNotPassed",
        );
    }
    w.assert_conservation().await;
}

#[tokio::test]
async fn submit_seam() {
    // The worker resumes a claimed job while `submittable_at` holds; the
    // program accepts a submission exactly then.
    let w = World::new().await;
    let p = w.register_provider(h100(), 50_000).await;
    let buyer = w.wallet(100_000, 0).await;
    let deadline = w.now().await + 3_600;
    let mut jobs = Vec::new();
    for nonce in 0..3 {
        let job = w.post_job(&buyer, nonce, 1_000, deadline).await;
        w.claim(&p, &job).await.unwrap();
        jobs.push(job);
    }
    let s = w.job(&jobs[0]).await.submit_deadline;
    for (job, dt) in jobs.iter().zip([-1, 0, 1]) {
        w.set_time(s + dt).await;
        let predicted = w.job(job).await.submittable_at(s + dt);
        assert_eq!(predicted, dt <= 0);
        agree(
            dt,
            predicted,
            w.submit(&p, job, 1).await,
            "SubmitDeadlinePassed",
        );
    }
    w.assert_conservation().await;
}

#[tokio::test]
async fn claim_deadline_seam() {
    // `Provider::can_claim` (the planner's question) against `job_claim`, at
    // the job deadline, with the bond and submit deadline it predicts.
    let w = World::new().await;
    let p = w.register_provider(h100(), 50_000).await;
    let buyer = w.wallet(100_000, 0).await;
    let d = w.now().await + 100;
    let mut jobs = Vec::new();
    for nonce in 0..3 {
        jobs.push(w.post_job(&buyer, nonce, 1_000, d).await);
    }
    for (job, dt) in jobs.iter().zip([-1, 0, 1]) {
        w.set_time(d + dt).await;
        let predicted = predict_claim(&w, &p, job).await;
        assert_eq!(predicted.is_ok(), dt <= 0);
        claim_agrees(&w, &p, job, predicted).await;
    }
    w.assert_conservation().await;
}

#[tokio::test]
async fn submit_deadline_seam() {
    // A claim gets min(now + claim_timeout, deadline): the planner's
    // `submit_deadline_for_claim_at` and the program agree on each side of the
    // second where the job deadline takes over.
    let w = World::new().await;
    let timeout = w.params.claim_timeout;
    let p = w.register_provider(h100(), 50_000).await;
    let buyer = w.wallet(100_000, 0).await;
    let d = w.now().await + 3 * timeout;
    let mut jobs = Vec::new();
    for nonce in 0..3 {
        jobs.push(w.post_job(&buyer, nonce, 1_000, d).await);
    }
    let switch = d - timeout;
    for (job, dt) in jobs.iter().zip([-1, 0, 1]) {
        let now = switch + dt;
        w.set_time(now).await;
        let predicted = w.job(job).await.submit_deadline_for_claim_at(now).unwrap();
        assert_eq!(predicted, (now + timeout).min(d));
        w.claim(&p, job).await.unwrap();
        assert_eq!(w.job(job).await.submit_deadline, predicted, "at t{dt:+}");
    }
    w.assert_conservation().await;
}

#[tokio::test]
async fn claim_rules_seam() {
    // Each rule of `Provider::can_claim` at its edge: the last value that
    // passes and the first that fails, asked off-chain and then sent.
    let w = World::new().await;
    let price = 1_000;
    let bond = math::bond_for(price, w.params.bond_bps, w.params.bond_min).unwrap();
    let buyer = w.wallet(1_000_000, 0).await;
    let deadline = w.now().await + 3_600;
    let mut nonce = 0;
    let mut post = |requirements| {
        nonce += 1;
        let (ix, job) = ix::job_post(
            &w.market,
            buyer.pubkey(),
            buyer.payment,
            JobPostArgs {
                requirements,
                ..w.post_args(nonce, price, deadline)
            },
        );
        (ix, job)
    };
    let mut open = Vec::new();
    for _ in 0..8 {
        // 4 + 2 + 2 claims below
        let (ix, job) = post(JobRequirements::default());
        w.send(&[ix], &[&buyer.key]).await.unwrap();
        open.push(job);
    }
    let mut next = open.into_iter();

    // Free stake: a stake of exactly three bonds (and at least the minimum)
    // locks three; the fourth bond does not fit.
    let min = w.params.min_stake;
    let p = w.register_provider(h100(), min.max(3 * bond)).await;
    for _ in 0..3 {
        let job = next.next().unwrap();
        let predicted = predict_claim(&w, &p, &job).await;
        assert_eq!(predicted.as_ref().ok(), Some(&bond));
        claim_agrees(&w, &p, &job, predicted).await;
    }
    let job = next.next().unwrap();
    let predicted = predict_claim(&w, &p, &job).await;
    assert_eq!(
        predicted.as_ref().map_err(name).unwrap_err(),
        "InsufficientFreeStake"
    );
    claim_agrees(&w, &p, &job, predicted).await;

    // Concurrency: a limit of one, then a second claim.
    let q = w.register_provider(h100(), 50_000).await;
    update(&w, &q, |a| a.max_concurrent = Some(1)).await;
    for expect in [None, Some("ConcurrencyLimitReached")] {
        let job = next.next().unwrap();
        let predicted = predict_claim(&w, &q, &job).await;
        assert_eq!(predicted.as_ref().err().map(name).as_deref(), expect);
        claim_agrees(&w, &q, &job, predicted).await;
    }

    // Minimum stake: exactly the minimum claims; one unit unstaked does not.
    let r = w.register_provider(h100(), min + bond).await;
    let job = next.next().unwrap();
    w.send(
        &[ix::provider_unstake(
            w.market.market,
            r.owner.pubkey(),
            bond,
        )],
        &[&r.owner.key],
    )
    .await
    .unwrap();
    // Now active stake == min exactly, and free stake == min >= bond.
    let predicted = predict_claim(&w, &r, &job).await;
    assert!(predicted.is_ok());
    claim_agrees(&w, &r, &job, predicted).await;
    let r2 = w.register_provider(h100(), min + bond).await;
    w.send(
        &[ix::provider_unstake(
            w.market.market,
            r2.owner.pubkey(),
            bond + 1,
        )],
        &[&r2.owner.key],
    )
    .await
    .unwrap();
    let job = next.next().unwrap();
    let predicted = predict_claim(&w, &r2, &job).await;
    assert_eq!(
        predicted.as_ref().map_err(name).unwrap_err(),
        "StakeBelowMinimum"
    );
    claim_agrees(&w, &r2, &job, predicted).await;

    // Hardware: exactly the provider's VRAM, then one MiB more.
    let gpu = h100();
    let s = w.register_provider(gpu, 50_000).await;
    for (extra, expect) in [(0, None), (1, Some("RequirementsNotMet"))] {
        let (ix, job) = post(JobRequirements {
            min_vram_mb: gpu.vram_mb + extra,
            min_compute_capability: gpu.compute_capability,
            min_gpu_count: gpu.count,
        });
        w.send(&[ix], &[&buyer.key]).await.unwrap();
        let predicted = predict_claim(&w, &s, &job).await;
        assert_eq!(predicted.as_ref().err().map(name).as_deref(), expect);
        claim_agrees(&w, &s, &job, predicted).await;
    }

    // Price floor: exactly the price, then one unit above it.
    let f = w.register_provider(h100(), 50_000).await;
    for (floor, expect) in [(price, None), (price + 1, Some("PriceBelowFloor"))] {
        update(&w, &f, |a| a.price_floor = Some(floor)).await;
        let (ix, job) = post(JobRequirements::default());
        w.send(&[ix], &[&buyer.key]).await.unwrap();
        let predicted = predict_claim(&w, &f, &job).await;
        assert_eq!(predicted.as_ref().err().map(name).as_deref(), expect);
        claim_agrees(&w, &f, &job, predicted).await;
    }

    assert!(next.next().is_none(), "every open job was used");
    w.assert_conservation().await;
}

#[tokio::test]
async fn escrow_seam() {
    // The CLI's `escrow_for` against what `job_post` takes, around the largest
    // price whose escrow fits a token amount: one unit below it, at it (each
    // posted and cancelled, which refunds the escrow), and one unit past it.
    let w = World::new().await;
    let bounty = w.params.crank_bounty;
    let buyer = w.wallet(u64::MAX, 0).await;
    let t = w.now().await;
    let post = |nonce, price| {
        ix::job_post(
            &w.market,
            buyer.pubkey(),
            buyer.payment,
            w.post_args(nonce, price, t + 100),
        )
    };
    let largest = u64::MAX - bounty;
    for (nonce, price) in [(1, largest - 1), (2, largest)] {
        let predicted = math::escrow_for(price, bounty).unwrap();
        let (ix, job) = post(nonce, price);
        w.send(&[ix], &[&buyer.key]).await.unwrap();
        assert_eq!(w.job(&job).await.escrow, predicted);
        assert_eq!(w.balance(&w.market.payment_vault).await, predicted);
        assert_eq!(w.balance(&buyer.payment).await, u64::MAX - predicted);
        w.cancel(&job, &buyer).await.unwrap();
    }
    assert_eq!(math::escrow_for(largest, bounty).unwrap(), u64::MAX);
    let e = math::escrow_for(largest + 1, bounty).unwrap_err();
    assert_eq!(name(&e), "MathOverflow");
    assert_err(
        w.send(&[post(3, largest + 1).0], &[&buyer.key]).await,
        "MathOverflow",
    );
    w.assert_conservation().await;
}

/// `Provider::can_claim` on freshly fetched accounts, as the planner asks it.
async fn predict_claim(w: &World, p: &ProviderHandle, job: &Pubkey) -> anchor_lang::Result<u64> {
    let provider = w.provider(&p.key).await;
    let market = w.market_state().await;
    let now = w.now().await;
    provider.can_claim(&w.job(job).await, market.params.min_stake, now)
}

/// Sends the claim and asserts that the program agrees with `predicted`:
/// the same bond and the predicted submit deadline, or the same named refusal.
async fn claim_agrees(
    w: &World,
    p: &ProviderHandle,
    job: &Pubkey,
    predicted: anchor_lang::Result<u64>,
) {
    let before = w.job(job).await;
    let now = w.now().await;
    let sent = w.claim(p, job).await;
    match (predicted, sent) {
        (Ok(bond), Ok(_)) => {
            let after = w.job(job).await;
            assert_eq!(after.bond, bond);
            assert_eq!(
                after.submit_deadline,
                before.submit_deadline_for_claim_at(now).unwrap()
            );
        }
        (Err(e), Err(s)) => assert_eq!(Some(name(&e).as_str()), s.error_name()),
        (p, s) => panic!("can_claim says {p:?}, job_claim answered {s:?}"),
    }
}

async fn update(
    w: &World,
    p: &ProviderHandle,
    f: impl FnOnce(&mut gpu_market::ProviderUpdateArgs),
) {
    let mut args = gpu_market::ProviderUpdateArgs::default();
    f(&mut args);
    w.send(
        &[ix::provider_update(
            w.market.market,
            p.owner.pubkey(),
            None,
            args,
        )],
        &[&p.owner.key],
    )
    .await
    .unwrap();
}
