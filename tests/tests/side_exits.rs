//! Every way out of the happy path: cancel, expiry with reopen or refund,
//! unclaimed expiry, unstake cooldown, a paused market, and parameter changes
//! that must not touch work in flight. Conservation is checked after each step.

use gpu_market::events::{JobExpired, ProviderSlashed};
use gpu_market::state::{JobState, MarketParams};
use gpu_market::ProviderUpdateArgs;
use gpu_market_client::chain::Chain;
use gpu_market_client::{events, ix, token};
use gpu_market_tests::*;

#[tokio::test]
async fn cancel_refunds_in_full_and_closes() {
    let w = World::new().await;
    let buyer = w.wallet(50_000, 0).await;
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 5_000, t + 600).await;
    let lamports = w.chain.get_balance(&buyer.pubkey()).await.unwrap();
    w.cancel(&job, &buyer).await.unwrap();
    assert_eq!(w.balance(&buyer.payment).await, 50_000);
    assert!(!w.job_exists(&job).await);
    assert!(
        w.chain.get_balance(&buyer.pubkey()).await.unwrap() > lamports,
        "rent returned"
    );
    assert_eq!(w.market_state().await.totals.jobs_cancelled, 1);
    w.assert_conservation().await;

    // A claimed job cannot be cancelled: the provider has locked a bond on it.
    let p = w.register_provider(h100(), 5_000).await;
    let job = w.post_job(&buyer, 2, 5_000, t + 600).await;
    w.claim(&p, &job).await.unwrap();
    assert_err(w.cancel(&job, &buyer).await, "JobNotOpen");
    w.assert_conservation().await;
}

#[tokio::test]
async fn missed_submit_deadline_slashes_by_rule_and_reopens_for_another_provider() {
    let w = World::new().await;
    let params = default_params();
    let slow = w.register_provider(h100(), 5_000).await;
    let fast = w.register_provider(h100(), 5_000).await;
    let buyer = w.wallet(50_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 1_000, t + 3_600).await;
    w.claim(&slow, &job).await.unwrap();
    let bond = w.job(&job).await.bond;
    assert_eq!(bond, 500);

    w.advance(params.claim_timeout + 1).await;
    let out = w.expire(&job, &cranker).await.unwrap();
    let slash = &events::parse::<ProviderSlashed>(&out.logs)[0];
    // 50% to the buyer, 10% to the reporter, the rest to the treasury.
    assert_eq!(
        (
            slash.amount,
            slash.to_buyer,
            slash.to_reporter,
            slash.to_treasury
        ),
        (500, 250, 50, 200)
    );
    assert!(events::parse::<JobExpired>(&out.logs)[0].reopened);
    assert_eq!(w.balance(&buyer.stake).await, 250);
    assert_eq!(w.balance(&cranker.stake).await, 50);
    assert_eq!(w.market_state().await.totals.slash_unswept, 200);
    w.sweep(w.treasury.payment, w.treasury.stake).await.unwrap();
    assert_eq!(w.balance(&w.treasury.stake).await, 200);
    let s = w.provider(&slow.key).await;
    assert_eq!(
        (
            s.stake,
            s.locked,
            s.active_jobs,
            s.reputation.expired,
            s.reputation.slashed
        ),
        (4_500, 0, 0, 1, 500)
    );
    let j = w.job(&job).await;
    assert_eq!((j.state, j.bond, j.attempts), (JobState::Open, 0, 1));
    assert_eq!(j.escrow, 1_010, "escrow stays for the next provider");
    w.assert_conservation().await;

    // Another provider finishes it; the first one cannot act on it any more.
    w.claim(&fast, &job).await.unwrap();
    assert_err(w.submit(&slow, &job, 0).await, "WrongProvider");
    w.submit(&fast, &job, 10).await.unwrap();
    w.advance(params.challenge_window + 1).await;
    w.finalize(&job, &cranker).await.unwrap();
    assert_eq!(w.balance(&fast.owner.payment).await, 1_000 - 25);
    let (f, s) = (w.provider(&fast.key).await, w.provider(&slow.key).await);
    assert!(f.reputation.score > s.reputation.score);
    assert_eq!(w.market_state().await.totals.jobs_expired, 1);
    w.assert_conservation().await;
}

#[tokio::test]
async fn expiry_after_the_job_deadline_refunds_the_buyer() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 5_000).await;
    let buyer = w.wallet(50_000, 0).await;
    let t = w.now().await;
    // Deadline sooner than the claim timeout: the submit deadline is the job deadline.
    let job = w.post_job(&buyer, 1, 1_000, t + 20).await;
    w.claim(&p, &job).await.unwrap();
    w.set_time(t + 21).await;
    let out = w.expire(&job, &buyer).await.unwrap();
    assert!(!events::parse::<JobExpired>(&out.logs)[0].reopened);
    assert!(!w.job_exists(&job).await);
    // Escrow back in full and the buyer's share of the slash; the buyer
    // reported its own job, so the reporter share went to the treasury.
    assert_eq!(w.balance(&buyer.payment).await, 50_000);
    assert_eq!(w.balance(&buyer.stake).await, 250);
    assert_eq!(w.market_state().await.totals.slash_unswept, 200 + 50);
    assert_eq!(w.market_state().await.totals.jobs_refunded, 1);
    w.assert_conservation().await;
}

#[tokio::test]
async fn unclaimed_job_past_deadline_pays_the_crank_and_refunds_the_price() {
    let w = World::new().await;
    let buyer = w.wallet(50_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 1_000, t + 10).await;
    assert_err(
        w.expire_unclaimed(&job, &cranker).await,
        "DeadlineNotPassed",
    );
    w.set_time(t + 11).await;
    w.expire_unclaimed(&job, &cranker).await.unwrap();
    assert_eq!(w.balance(&cranker.payment).await, 10);
    assert_eq!(w.balance(&buyer.payment).await, 50_000 - 10);
    assert!(!w.job_exists(&job).await);
    w.assert_conservation().await;
}

#[tokio::test]
async fn unstake_waits_out_the_cooldown_not_other_bonds() {
    let w = World::new().await;
    let params = default_params();
    let p = w.register_provider(h100(), 5_000).await;
    let owner = &p.owner;
    let buyer = w.wallet(50_000, 0).await;
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 1_000, t + 3_600).await;
    w.claim(&p, &job).await.unwrap(); // locks 500

    // Only free stake can be requested.
    let req = |amount| ix::provider_unstake(w.market.market, owner.pubkey(), amount);
    assert_err(
        w.send(&[req(4_501)], &[&owner.key]).await,
        "InsufficientFreeStake",
    );
    w.send(&[req(4_001)], &[&owner.key]).await.unwrap();
    let release = w.provider(&p.key).await.unstake_release_at;
    assert_eq!(release, t + params.unstake_cooldown);
    // Pending stake no longer counts: 5_000 - 4_001 pending = 999 < min stake 1_000.
    let job2 = w.post_job(&buyer, 2, 1_000, t + 3_600).await;
    assert_err(w.claim(&p, &job2).await, "StakeBelowMinimum");

    let withdraw = ix::provider_withdraw(&w.market, owner.pubkey(), owner.stake);
    assert_err(
        w.send(std::slice::from_ref(&withdraw), &[&owner.key]).await,
        "UnstakeCooldownActive",
    );
    w.submit(&p, &job, 1).await.unwrap();
    w.set_time(release - 1).await;
    assert_err(
        w.send(std::slice::from_ref(&withdraw), &[&owner.key]).await,
        "UnstakeCooldownActive",
    );
    w.set_time(release).await;
    // Cooldown over: the pending amount leaves although the submitted job's
    // bond is still locked; that bond stays in the stake, still slashable.
    w.send(std::slice::from_ref(&withdraw), &[&owner.key])
        .await
        .unwrap();
    let pr = w.provider(&p.key).await;
    assert_eq!((pr.stake, pr.locked, pr.pending_unstake), (999, 500, 0));
    w.finalize(&job, &buyer).await.unwrap();
    assert_eq!(w.balance(&owner.stake).await, 4_001);
    assert_eq!(w.provider(&p.key).await.stake, 999);
    w.advance(1).await;
    assert_err(
        w.send(&[withdraw], &[&owner.key]).await,
        "NothingToWithdraw",
    );
    w.assert_conservation().await;
}

#[tokio::test]
async fn a_paused_market_stops_new_business_but_never_traps_funds() {
    let w = World::new().await;
    let params = default_params();
    let p = w.register_provider(h100(), 5_000).await;
    let buyer = w.wallet(50_000, 0).await;
    let t = w.now().await;
    let claimed = w.post_job(&buyer, 1, 1_000, t + 3_600).await;
    let open = w.post_job(&buyer, 2, 1_000, t + 3_600).await;
    w.claim(&p, &claimed).await.unwrap();

    let pause = |paused| ix::market_set_paused(w.authority.pubkey(), w.market.market, paused);
    w.send(&[pause(true)], &[]).await.unwrap();
    assert!(w.market_state().await.paused);

    // New business is refused...
    let (post, _) = ix::job_post(
        &w.market,
        buyer.pubkey(),
        buyer.payment,
        w.post_args(3, 1_000, t + 3_600),
    );
    assert_err(
        w.send(std::slice::from_ref(&post), &[&buyer.key]).await,
        "MarketPaused",
    );
    assert_err(w.claim(&p, &open).await, "MarketPaused");
    let owner = w.wallet(0, 5_000).await;
    let reg = ix::provider_register(
        &w.market,
        owner.pubkey(),
        owner.stake,
        owner.payment,
        w.register_args(owner.pubkey(), h100(), 5_000),
    );
    assert_err(
        w.send(std::slice::from_ref(&reg), &[&owner.key]).await,
        "MarketPaused",
    );

    // ...while every path that returns or earns money still works.
    w.cancel(&open, &buyer).await.unwrap();
    w.submit(&p, &claimed, 5).await.unwrap();
    w.advance(params.challenge_window + 1).await;
    w.finalize(&claimed, &buyer).await.unwrap();
    w.send(
        &[ix::provider_stake(
            &w.market,
            p.owner.pubkey(),
            p.owner.stake,
            0,
        )],
        &[&p.owner.key],
    )
    .await
    .map(|_| ())
    .unwrap_or_else(|e| assert_eq!(e.error_name(), Some("AmountZero")));
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
    w.advance(params.unstake_cooldown).await;
    w.send(
        &[ix::provider_withdraw(
            &w.market,
            p.owner.pubkey(),
            p.owner.stake,
        )],
        &[&p.owner.key],
    )
    .await
    .unwrap();
    w.assert_conservation().await;

    w.send(&[pause(false)], &[]).await.unwrap();
    w.send(&[post], &[&buyer.key]).await.unwrap();
    w.send(&[reg], &[&owner.key]).await.unwrap();
    w.assert_conservation().await;
}

#[tokio::test]
async fn parameter_updates_never_change_the_deal_of_posted_jobs() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 50_000).await;
    let buyer = w.wallet(50_000, 0).await;
    let t = w.now().await;
    let old_job = w.post_job(&buyer, 1, 10_000, t + 3_600).await;

    // Only terms frozen at posting change (nothing read live is raised), so
    // the update applies at once.
    let new = MarketParams {
        fee_bps: 1_000,
        crank_bounty: 99,
        bond_bps: 10_000,
        challenge_window: 50,
        dispute_timeout: 50,
        ..default_params()
    };
    let update = ix::market_update(w.authority.pubkey(), w.market.market, new);
    let stranger = w.wallet(0, 0).await;
    let forged = ix::market_update(stranger.pubkey(), w.market.market, new);
    assert_err(w.send(&[forged], &[&stranger.key]).await, "Unauthorized");
    w.send(&[update], &[]).await.unwrap();
    assert_eq!(w.market_state().await.params, new);

    // The old job keeps 2.5% fee, 50% bond, 30 s window and a 10 bounty.
    w.claim(&p, &old_job).await.unwrap();
    assert_eq!(w.job(&old_job).await.bond, 5_000);
    w.submit(&p, &old_job, 1).await.unwrap();
    w.advance(31).await;
    w.finalize(&old_job, &buyer).await.unwrap();
    assert_eq!(w.balance(&p.owner.payment).await, 10_000 - 250);

    // A new job gets the new terms (the buyer agrees to the new escrow).
    let (post, new_job) = ix::job_post(
        &w.market,
        buyer.pubkey(),
        buyer.payment,
        gpu_market::JobPostArgs {
            max_escrow: 10_099,
            ..w.post_args(2, 10_000, t + 3_600)
        },
    );
    w.send(&[post], &[&buyer.key]).await.unwrap();
    let j = w.job(&new_job).await;
    assert_eq!((j.terms.fee_bps, j.escrow), (1_000, 10_099));
    w.assert_conservation().await;
}

#[tokio::test]
async fn heartbeat_and_provider_update() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 5_000).await;
    w.advance(5).await;
    let better = gpu("NVIDIA H200", 143_771, 8, 90);
    w.send(
        &[ix::provider_heartbeat(
            p.key,
            p.worker.pubkey(),
            Some(better),
        )],
        &[&p.worker],
    )
    .await
    .unwrap();
    let pr = w.provider(&p.key).await;
    assert_eq!((pr.gpu, pr.last_heartbeat), (better, w.now().await));

    // The owner rotates the worker key and payout account; the old worker is locked out.
    let new_worker = solana_sdk::signature::Keypair::new();
    let payout = w.wallet(0, 0).await;
    let args = ProviderUpdateArgs {
        worker: Some(solana_sdk::signer::Signer::pubkey(&new_worker)),
        price_floor: Some(777),
        max_concurrent: Some(2),
        gpu: None,
    };
    w.send(
        &[ix::provider_update(
            w.market.market,
            p.owner.pubkey(),
            Some(payout.payment),
            args,
        )],
        &[&p.owner.key],
    )
    .await
    .unwrap();
    let pr = w.provider(&p.key).await;
    assert_eq!(
        (
            pr.worker,
            pr.payout_account,
            pr.price_floor,
            pr.max_concurrent
        ),
        (
            solana_sdk::signer::Signer::pubkey(&new_worker),
            payout.payment,
            777,
            2
        )
    );
    assert_err(
        w.send(
            &[ix::provider_heartbeat(p.key, p.worker.pubkey(), None)],
            &[&p.worker],
        )
        .await,
        "WrongWorker",
    );
    // A payout account must be of the payment mint and not a market vault.
    let bad = ix::provider_update(
        w.market.market,
        p.owner.pubkey(),
        Some(w.market.payment_vault),
        ProviderUpdateArgs::default(),
    );
    assert_err(w.send(&[bad], &[&p.owner.key]).await, "WrongPayoutAccount");
    let bad = ix::provider_update(
        w.market.market,
        p.owner.pubkey(),
        Some(token::ata(&p.owner.pubkey(), &w.stake_mint)),
        ProviderUpdateArgs::default(),
    );
    assert_err(w.send(&[bad], &[&p.owner.key]).await, "WrongMint");
    w.assert_conservation().await;
}
