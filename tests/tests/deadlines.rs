//! Every deadline at t-1, t and t+1. Convention: at a deadline second the
//! action is still on time; one second later it is late, and the late-side
//! action (expiry, finalization, refund) becomes possible.

use gpu_market_client::ix;
use gpu_market_tests::*;

#[tokio::test]
async fn claim_deadline() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 50_000).await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let d = w.now().await + 100;
    let jobs: Vec<_> = post_many(&w, &buyer, 3, d).await;
    w.set_time(d - 1).await;
    assert_err(
        w.expire_unclaimed(&jobs[2], &cranker).await,
        "DeadlineNotPassed",
    );
    w.claim(&p, &jobs[0]).await.unwrap();
    w.set_time(d).await;
    assert_err(
        w.expire_unclaimed(&jobs[2], &cranker).await,
        "DeadlineNotPassed",
    );
    w.claim(&p, &jobs[1]).await.unwrap();
    w.set_time(d + 1).await;
    assert_err(w.claim(&p, &jobs[2]).await, "JobDeadlinePassed");
    w.expire_unclaimed(&jobs[2], &cranker).await.unwrap();
    w.assert_conservation().await;
}

#[tokio::test]
async fn submit_and_expiry_deadline() {
    let w = World::new().await;
    let timeout = default_params().claim_timeout;
    let p = w.register_provider(h100(), 50_000).await;
    let buyer = w.wallet(100_000, 0).await;
    let t = w.now().await;
    let jobs = post_many(&w, &buyer, 3, t + 3_600).await;
    for j in &jobs {
        w.claim(&p, j).await.unwrap();
    }
    let s = t + timeout;
    assert_eq!(w.job(&jobs[0]).await.submit_deadline, s);
    w.set_time(s - 1).await;
    assert_err(w.expire(&jobs[2], &buyer).await, "SubmitDeadlineNotPassed");
    w.submit(&p, &jobs[0], 1).await.unwrap();
    w.set_time(s).await;
    assert_err(w.expire(&jobs[2], &buyer).await, "SubmitDeadlineNotPassed");
    w.submit(&p, &jobs[1], 1).await.unwrap();
    w.set_time(s + 1).await;
    assert_err(w.submit(&p, &jobs[2], 1).await, "SubmitDeadlinePassed");
    w.expire(&jobs[2], &buyer).await.unwrap();
    w.assert_conservation().await;
}

#[tokio::test]
async fn challenge_window() {
    let w = World::new().await;
    let window = default_params().challenge_window;
    let p = w.register_provider(h100(), 50_000).await;
    let buyer = w.wallet(100_000, 0).await;
    let t = w.now().await;
    let jobs = post_many(&w, &buyer, 2, t + 3_600).await;
    for j in &jobs {
        w.claim(&p, j).await.unwrap();
    }
    w.submit(&p, &jobs[0], 1).await.unwrap();
    w.advance(1).await;
    w.submit(&p, &jobs[1], 1).await.unwrap();
    // Job 0's window closes at c; job 1's one second later.
    let c = t + window;
    assert_eq!(w.job(&jobs[0]).await.challenge_deadline, c);
    w.set_time(c - 1).await;
    assert_err(w.finalize(&jobs[0], &buyer).await, "ChallengeWindowOpen");
    w.set_time(c).await;
    assert_err(w.finalize(&jobs[0], &buyer).await, "ChallengeWindowOpen");
    w.set_time(c + 1).await;
    w.finalize(&jobs[0], &buyer).await.unwrap();
    // For job 1, c + 1 is its own deadline second: still open.
    assert_err(w.finalize(&jobs[1], &buyer).await, "ChallengeWindowOpen");
    w.set_time(c + 2).await;
    w.finalize(&jobs[1], &buyer).await.unwrap();
    w.assert_conservation().await;
}

#[tokio::test]
async fn unstake_release_time() {
    let w = World::new().await;
    let cooldown = default_params().unstake_cooldown;
    let p = w.register_provider(h100(), 5_000).await;
    let t = w.now().await;
    w.send(
        &[ix::provider_unstake(
            w.market.market,
            p.owner.pubkey(),
            1_000,
        )],
        &[&p.owner.key],
    )
    .await
    .unwrap();
    let withdraw = ix::provider_withdraw(&w.market, p.owner.pubkey(), p.owner.stake);
    w.set_time(t + cooldown - 1).await;
    assert_err(
        w.send(std::slice::from_ref(&withdraw), &[&p.owner.key])
            .await,
        "UnstakeCooldownActive",
    );
    // The release time is the first second the stake is free to go.
    w.set_time(t + cooldown).await;
    w.send(std::slice::from_ref(&withdraw), &[&p.owner.key])
        .await
        .unwrap();
    w.set_time(t + cooldown + 1).await;
    assert_err(
        w.send(&[withdraw], &[&p.owner.key]).await,
        "NothingToWithdraw",
    );
    w.assert_conservation().await;
}

#[tokio::test]
async fn post_deadline_bounds() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let t = w.now().await;
    let post = |nonce, deadline| {
        ix::job_post(
            &w.market,
            buyer.pubkey(),
            buyer.payment,
            w.post_args(nonce, 100, deadline),
        )
        .0
    };
    assert_err(
        w.send(&[post(1, t - 1)], &[&buyer.key]).await,
        "DeadlineInPast",
    );
    assert_err(w.send(&[post(2, t)], &[&buyer.key]).await, "DeadlineInPast");
    w.send(&[post(3, t + 1)], &[&buyer.key]).await.unwrap();
    let max = gpu_market::constants::MAX_JOB_DURATION;
    w.send(&[post(4, t + max)], &[&buyer.key]).await.unwrap();
    assert_err(
        w.send(&[post(5, t + max + 1)], &[&buyer.key]).await,
        "DeadlineTooFar",
    );
    w.assert_conservation().await;
}

/// Posts `n` jobs of price 1_000 with the same deadline.
async fn post_many(
    w: &World,
    buyer: &Wallet,
    n: u64,
    deadline: i64,
) -> Vec<gpu_market_client::Pubkey> {
    let mut jobs = Vec::new();
    for nonce in 0..n {
        jobs.push(w.post_job(buyer, nonce, 1_000, deadline).await);
    }
    jobs
}
