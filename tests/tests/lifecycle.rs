//! The full job lifecycle on the embedded chain, with exact token movements
//! and conservation checked after every step.

use gpu_market::events::{JobClaimed, JobFinalized, JobPosted, JobSubmitted};
use gpu_market::state::JobState;
use gpu_market_client::chain::Chain;
use gpu_market_client::events;
use gpu_market_tests::*;

#[tokio::test]
async fn post_claim_submit_finalize_pays_everyone_exactly_once() {
    let w = World::new().await;
    let p = default_params();
    w.assert_conservation().await;

    let provider = w.register_provider(h100(), 5_000).await;
    w.assert_conservation().await;
    let buyer = w.wallet(100_000, 0).await;
    let cranker = w.wallet(0, 0).await;

    // Post: price + crank bounty leave the buyer for the vault.
    let price = 10_000;
    let t0 = w.now().await;
    let (ix, job) = gpu_market_client::ix::job_post(
        &w.market,
        buyer.pubkey(),
        buyer.payment,
        w.post_args(1, price, t0 + 600),
    );
    let out = w.send(&[ix], &[&buyer.key]).await.unwrap();
    let posted = events::parse::<JobPosted>(&out.logs);
    assert_eq!(posted.len(), 1);
    assert_eq!(
        (posted[0].job, posted[0].escrow),
        (job, price + p.crank_bounty)
    );
    assert_eq!(
        w.balance(&buyer.payment).await,
        100_000 - price - p.crank_bounty
    );
    assert_eq!(
        w.balance(&w.market.payment_vault).await,
        price + p.crank_bounty
    );
    let j = w.job(&job).await;
    assert_eq!(
        (j.state, j.terms.fee_bps, j.escrow),
        (JobState::Open, p.fee_bps, price + p.crank_bounty)
    );
    w.assert_conservation().await;

    // Claim: bond = max(bond_min, 50% of price) locked from stake.
    w.advance(5).await;
    let out = w.claim(&provider, &job).await.unwrap();
    let claimed = events::parse::<JobClaimed>(&out.logs);
    assert_eq!(claimed[0].bond, 5_000);
    let pr = w.provider(&provider.key).await;
    assert_eq!((pr.locked, pr.active_jobs, pr.free_stake()), (5_000, 1, 0));
    let j = w.job(&job).await;
    assert_eq!(
        (j.state, j.provider, j.submit_deadline),
        (JobState::Claimed, provider.key, t0 + 5 + p.claim_timeout)
    );
    w.assert_conservation().await;

    // Submit: root, URI and metered GPU time within wall clock.
    w.advance(10).await;
    let out = w.submit(&provider, &job, 9_500).await.unwrap();
    let submitted = events::parse::<JobSubmitted>(&out.logs);
    assert_eq!(submitted[0].gpu_ms, 9_500);
    let j = w.job(&job).await;
    assert_eq!(j.state, JobState::Submitted);
    assert_eq!(j.challenge_deadline, t0 + 15 + p.challenge_window);
    w.assert_conservation().await;

    // Finalize after the window: provider paid minus fee, fee to treasury,
    // bounty to the cranker, bond released, job closed with rent to the buyer.
    w.advance(p.challenge_window + 1).await;
    let buyer_lamports = w.chain.get_balance(&buyer.pubkey()).await.unwrap();
    let out = w.finalize(&job, &cranker).await.unwrap();
    let fin = events::parse::<JobFinalized>(&out.logs);
    let fee = 250; // 2.5% of 10_000
    assert_eq!(
        (fin[0].payout, fin[0].fee, fin[0].bounty),
        (price - fee, fee, p.crank_bounty)
    );
    assert_eq!(w.balance(&provider.owner.payment).await, price - fee);
    // The fee accrues in the vault; the authority's sweep pays it out exactly.
    assert_eq!(w.balance(&w.treasury.payment).await, 0);
    assert_eq!(w.market_state().await.totals.fees_unswept, fee);
    w.sweep(w.treasury.payment, w.treasury.stake).await.unwrap();
    assert_eq!(w.balance(&w.treasury.payment).await, fee);
    assert_eq!(w.market_state().await.totals.fees_unswept, 0);
    assert_eq!(w.balance(&cranker.payment).await, p.crank_bounty);
    assert_eq!(w.balance(&w.market.payment_vault).await, 0);
    assert!(
        !w.job_exists(&job).await,
        "settled jobs close their accounts"
    );
    assert!(
        w.chain.get_balance(&buyer.pubkey()).await.unwrap() > buyer_lamports,
        "rent back to the buyer"
    );

    let pr = w.provider(&provider.key).await;
    assert_eq!((pr.locked, pr.active_jobs, pr.stake), (0, 0, 5_000));
    assert_eq!(
        (
            pr.reputation.completed,
            pr.reputation.gpu_ms,
            pr.reputation.earnings,
            pr.reputation.fees_paid
        ),
        (1, 9_500, price - fee, fee)
    );
    assert_eq!(
        pr.reputation.score,
        gpu_market::math::reputation_score(fee, 0, 0, p.score_fee_scale)
    );
    let m = w.market_state().await;
    assert_eq!(
        (
            m.totals.jobs_posted,
            m.totals.jobs_completed,
            m.totals.gpu_ms_sold
        ),
        (1, 1, 9_500)
    );
    assert_eq!(
        (
            m.totals.volume_paid,
            m.totals.fees_collected,
            m.totals.bounties_paid
        ),
        (price - fee, fee, p.crank_bounty)
    );
    w.assert_conservation().await;

    // Paid exactly once: the job is gone, a second finalize finds nothing.
    let again = w.finalize_closed(&job, &provider, &cranker).await;
    assert!(again.is_err());
    assert_eq!(w.balance(&provider.owner.payment).await, price - fee);
    w.assert_conservation().await;
}

#[tokio::test]
async fn many_jobs_two_providers_conserve_tokens_with_one_mint() {
    // Payment and stake in the same mint: the vaults must still balance separately.
    let w = World::with_params(default_params(), true).await;
    let a = w.register_provider(h100(), 20_000).await;
    let b = w
        .register_provider(gpu("NVIDIA L4", 23_034, 1, 89), 20_000)
        .await;
    let buyer = w.wallet(1_000_000, 0).await;
    let t = w.now().await;
    let mut jobs = Vec::new();
    for n in 0..6u64 {
        jobs.push(w.post_job(&buyer, n, 1_000 + n * 100, t + 3_600).await);
    }
    w.assert_conservation().await;
    for (i, job) in jobs.iter().enumerate() {
        let p = if i % 2 == 0 { &a } else { &b };
        w.claim(p, job).await.unwrap();
        w.submit(p, job, 100).await.unwrap();
        w.assert_conservation().await;
    }
    w.advance(default_params().challenge_window + 1).await;
    for job in &jobs {
        w.finalize(job, &buyer).await.unwrap();
        w.assert_conservation().await;
    }
    let m = w.market_state().await;
    assert_eq!(
        (m.totals.jobs_completed, m.totals.escrow_outstanding),
        (6, 0)
    );
    assert_eq!(w.provider(&a.key).await.reputation.completed, 3);
    assert_eq!(w.provider(&b.key).await.reputation.completed, 3);
}

#[tokio::test]
async fn the_same_instructions_sent_twice_execute_twice_but_the_same_bytes_land_once() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 5_000).await;
    let top_up = gpu_market_client::token::mint_to(
        &w.stake_mint,
        &p.owner.stake,
        &w.authority.pubkey(),
        100,
    );
    w.send(&[top_up], &[]).await.unwrap();
    let stake =
        || gpu_market_client::ix::provider_stake(&w.market, p.owner.pubkey(), p.owner.stake, 10);
    // A second attempt with identical instructions is a new transaction.
    w.send(&[stake()], &[&p.owner.key]).await.unwrap();
    w.send(&[stake()], &[&p.owner.key]).await.unwrap();
    assert_eq!(w.provider(&p.key).await.stake, 5_020);
    // Re-sending signed bytes (what a recovering worker does) lands at most once.
    let signed = w
        .sender
        .sign(&[stake()], &w.authority, &[&p.owner.key])
        .await
        .unwrap();
    let first = w.sender.send_signed(&signed).await.unwrap();
    let again = w.sender.send_signed(&signed).await.unwrap();
    assert_eq!(first.signature, again.signature);
    assert_eq!(w.provider(&p.key).await.stake, 5_030);
    w.assert_conservation().await;
}
