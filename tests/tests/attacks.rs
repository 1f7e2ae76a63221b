//! The market attacked, one test per attack (issue 10), each written from the
//! attacker's side: the doc comment states the attack, the test plays it and
//! asserts that it fails or loses the attacker money. Each failed on the code
//! before the fix. Token conservation and the audit's invariants are checked
//! after each.

use gpu_market::events::ProviderSlashed;
use gpu_market::math;
use gpu_market::state::MarketParams;
use gpu_market::JobPostArgs;
use gpu_market_client::chain::Chain;
use gpu_market_client::{crank, events, ix, token};
use gpu_market_tests::*;

fn windowed() -> MarketParams {
    MarketParams {
        min_submit_window: 30,
        ..default_params()
    }
}

/// Item 2. The buyer posts a job whose deadline leaves a worker almost no
/// time (or waits for a worker to claim late), lets the claim fail, and
/// expires it itself, collecting its buyer share of the bond and also the
/// reporter share. Now a post that no claim could take with the market's
/// `min_submit_window` is refused, a claim that would leave less is refused,
/// and a buyer expiring its own job earns no reporter share (it goes to the
/// treasury): the buyer gets only the compensation share, and only from a
/// worker that had the full window and missed it.
#[tokio::test]
async fn buyer_profits_from_its_own_jobs_expiry() {
    let w = World::with_params(windowed(), false).await;
    let p = w.register_provider(h100(), 5_000).await;
    let buyer = w.wallet(50_000, 0).await;
    let t = w.now().await;
    let post = |nonce, deadline| {
        ix::job_post(
            &w.market,
            buyer.pubkey(),
            buyer.payment,
            w.post_args(nonce, 1_000, deadline),
        )
        .0
    };
    // A deadline too tight for any claim: refused at posting.
    assert_err(
        w.send(&[post(1, t + 28)], &[&buyer.key]).await,
        "DeadlineTooSoon",
    );
    // A job a late claim cannot finish: the claim is refused.
    let job = w.post_job(&buyer, 2, 1_000, t + 40).await;
    w.set_time(t + 15).await;
    assert!(
        !w.job(&job).await.claimable_at(t + 15),
        "the planner's predicate agrees"
    );
    assert_err(w.claim(&p, &job).await, "SubmitWindowTooShort");
    // A timely claim that then fails: the buyer expires it itself.
    let job = w.post_job(&buyer, 3, 1_000, t + 3_600).await;
    w.claim(&p, &job).await.unwrap();
    let bond = w.job(&job).await.bond;
    w.advance(w.params.claim_timeout + 1).await;
    let out = w.expire(&job, &buyer).await.unwrap();
    let slash = &events::parse::<ProviderSlashed>(&out.logs)[0];
    let split =
        math::slash_split(bond, w.params.slash_buyer_bps, w.params.slash_reporter_bps).unwrap();
    assert_eq!(slash.to_reporter, 0, "no reporter share for the buyer");
    assert_eq!(slash.to_buyer, split.buyer);
    assert_eq!(slash.to_treasury, split.treasury + split.reporter);
    assert_eq!(w.balance(&buyer.stake).await, split.buyer);
    assert_eq!(
        w.market_state().await.totals.slash_unswept,
        split.treasury + split.reporter
    );
    w.assert_conservation().await;
}

/// Item 3. The authority sees a buyer's post in flight and raises the crank
/// bounty just before it lands, so the post deposits far more than the buyer
/// agreed to. Now the post carries `max_escrow` and fails with a named error,
/// the buyer keeps its tokens, and the bounty itself is bounded.
#[tokio::test]
async fn authority_front_runs_a_post() {
    let w = World::new().await;
    let buyer = w.wallet(50_000, 0).await;
    let t = w.now().await;
    // The buyer reads the terms and computes what it agrees to deposit.
    let agreed = math::escrow_for(1_000, w.market_state().await.params.crank_bounty).unwrap();
    let raised = MarketParams {
        crank_bounty: 40_000,
        ..default_params()
    };
    w.send(
        &[ix::market_update(
            w.authority.pubkey(),
            w.market.market,
            raised,
        )],
        &[],
    )
    .await
    .unwrap();
    let (post, job) = ix::job_post(
        &w.market,
        buyer.pubkey(),
        buyer.payment,
        JobPostArgs {
            max_escrow: agreed,
            ..w.post_args(1, 1_000, t + 600)
        },
    );
    assert_err(w.send(&[post], &[&buyer.key]).await, "EscrowAboveMaximum");
    assert_eq!(w.balance(&buyer.payment).await, 50_000);
    assert!(!w.job_exists(&job).await);
    // And no update can ask for an unbounded bounty.
    let unbounded = MarketParams {
        crank_bounty: gpu_market::constants::MAX_CRANK_BOUNTY + 1,
        ..default_params()
    };
    assert_err(
        w.send(
            &[ix::market_update(
                w.authority.pubkey(),
                w.market.market,
                unbounded,
            )],
            &[],
        )
        .await,
        "CrankBountyTooHigh",
    );
    w.assert_conservation().await;
}

/// Item 3. The authority raises the minimum stake (or the cooldown, or the
/// score scale) under providers with work in flight, locking them out of
/// claims at once. Now such a change is queued: it applies only after
/// `update_delay` (longer than any claim can keep a bond in play plus the
/// cooldown), by anyone, and the old rules hold until then.
#[tokio::test]
async fn authority_raises_min_stake_under_running_providers() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 1_500).await;
    let buyer = w.wallet(50_000, 0).await;
    let base = default_params();
    let raised = MarketParams {
        min_stake: 2_000,
        ..base
    };
    w.send(
        &[ix::market_update(
            w.authority.pubkey(),
            w.market.market,
            raised,
        )],
        &[],
    )
    .await
    .unwrap();
    let m = w.market_state().await;
    assert_eq!(m.params, base, "nothing changed yet");
    let pending = m.pending_update.expect("queued");
    assert_eq!(
        pending.effective_at,
        w.now().await + base.update_delay().unwrap()
    );
    // The provider keeps claiming under the rules it joined by.
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 100, t + 600).await;
    w.claim(&p, &job).await.unwrap();
    w.set_time(pending.effective_at - 1).await;
    assert_err(
        w.send(&[ix::market_apply_update(w.market.market)], &[])
            .await,
        "UpdateNotDue",
    );
    w.set_time(pending.effective_at).await;
    // Anyone applies it once due.
    w.send(&[ix::market_apply_update(w.market.market)], &[])
        .await
        .unwrap();
    assert_eq!(w.market_state().await.params, raised);
    w.assert_conservation().await;
}

/// Item 3. The authority raises the unstake cooldown to trap providers who
/// asked to leave. `unstake_release_at` is fixed when the unstake is
/// requested (`now + cooldown` then), so a raised cooldown, once applied,
/// does not move a pending unstake: it is withdrawn at its original time.
#[tokio::test]
async fn authority_raises_the_cooldown_under_a_pending_unstake() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 5_000).await;
    let owner = &p.owner;
    let base = default_params();
    w.send(
        &[ix::provider_unstake(w.market.market, owner.pubkey(), 3_000)],
        &[&owner.key],
    )
    .await
    .unwrap();
    let release = w.provider(&p.key).await.unstake_release_at;
    let longer = MarketParams {
        unstake_cooldown: base.unstake_cooldown * 100,
        ..base
    };
    w.send(
        &[ix::market_update(
            w.authority.pubkey(),
            w.market.market,
            longer,
        )],
        &[],
    )
    .await
    .unwrap();
    // Applied as early as possible; the release time stays.
    w.set_time(w.market_state().await.pending_update.unwrap().effective_at)
        .await;
    w.send(&[ix::market_apply_update(w.market.market)], &[])
        .await
        .unwrap();
    assert_eq!(
        w.market_state().await.params.unstake_cooldown,
        longer.unstake_cooldown
    );
    assert_eq!(w.provider(&p.key).await.unstake_release_at, release);
    assert!(w.now().await >= release);
    w.send(
        &[ix::provider_withdraw(
            &w.market,
            owner.pubkey(),
            owner.stake,
        )],
        &[&owner.key],
    )
    .await
    .unwrap();
    assert_eq!(w.balance(&owner.stake).await, 3_000);
    w.assert_conservation().await;
}

/// Item 4. The treasury's fee and slash accounts are closed (by their owner,
/// or made unusable), and from then on every finalize and expiry that paid
/// them fails: bonds stay locked and stake cannot be withdrawn. Now fees and
/// the treasury share of slashes accrue in the vaults; settlement touches no
/// treasury account, and the authority sweeps the exact amounts to accounts
/// it names.
#[tokio::test]
async fn closed_treasury_accounts_brick_settlement() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 20_000).await;
    let buyer = w.wallet(50_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let treasury = &w.treasury;
    for account in [treasury.payment, treasury.stake] {
        w.send(
            &[token::close_account(
                &account,
                &treasury.pubkey(),
                &treasury.pubkey(),
            )],
            &[&treasury.key],
        )
        .await
        .unwrap();
        assert!(w.chain.get_account(&account).await.unwrap().is_none());
    }
    let t = w.now().await;
    let done = w.post_job(&buyer, 1, 10_000, t + 3_600).await;
    let missed = w.post_job(&buyer, 2, 1_000, t + 3_600).await;
    w.claim(&p, &done).await.unwrap();
    w.claim(&p, &missed).await.unwrap();
    w.submit(&p, &done, 1).await.unwrap();
    w.advance(w.params.claim_timeout + 1).await;
    w.finalize(&done, &cranker).await.unwrap();
    w.expire(&missed, &cranker).await.unwrap();
    let fee = math::fee_for(10_000, w.params.fee_bps).unwrap();
    let split =
        math::slash_split(500, w.params.slash_buyer_bps, w.params.slash_reporter_bps).unwrap();
    let totals = w.market_state().await.totals;
    assert_eq!(
        (totals.fees_unswept, totals.slash_unswept),
        (fee, split.treasury)
    );
    w.assert_conservation().await;
    // The authority sweeps to fresh accounts of its choosing: exactly what accrued.
    let fresh = w.wallet(0, 0).await;
    w.sweep(fresh.payment, fresh.stake).await.unwrap();
    assert_eq!(w.balance(&fresh.payment).await, fee);
    assert_eq!(w.balance(&fresh.stake).await, split.treasury);
    let totals = w.market_state().await.totals;
    assert_eq!((totals.fees_unswept, totals.slash_unswept), (0, 0));
    // Nothing left to sweep: a second sweep moves nothing.
    w.sweep(fresh.payment, fresh.stake).await.unwrap();
    assert_eq!(w.balance(&fresh.payment).await, fee);
    w.assert_conservation().await;
}

/// Item 7. The crank's transactions created the buyer's associated token
/// accounts for refunds and slash shares; the buyer closed them and kept the
/// rent, so every crank paid more in rent than its bounty. Now the buyer's
/// destinations are recorded at posting (they exist then, the buyer's own),
/// the crank builds no account-creating instruction, and a buyer that closes
/// its accounts forfeits those amounts to the treasury instead of blocking
/// settlement. The crank ends with at least its bounty minus transaction fees.
#[tokio::test]
async fn cranks_pay_rent_the_buyer_takes_back() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 5_000).await;
    let escrow = math::escrow_for(1_000, w.params.crank_bounty).unwrap();
    let buyer = w.wallet(2 * escrow, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t = w.now().await;
    let missed = w.post_job(&buyer, 1, 1_000, t + 100).await;
    let unclaimed = w.post_job(&buyer, 2, 1_000, t + 100).await;
    w.claim(&p, &missed).await.unwrap();
    // The buyer empties nothing (both accounts are at zero) and closes both.
    assert_eq!(w.balance(&buyer.payment).await, 0);
    for account in [buyer.payment, buyer.stake] {
        w.send(
            &[token::close_account(
                &account,
                &buyer.pubkey(),
                &buyer.pubkey(),
            )],
            &[&buyer.key],
        )
        .await
        .unwrap();
    }
    w.set_time(t + 101).await;
    // The crank's transactions create nothing.
    let m = w.market;
    let jobs = [
        (missed, w.job(&missed).await),
        (unclaimed, w.job(&unclaimed).await),
    ];
    let providers = [(p.key, w.provider(&p.key).await)].into_iter().collect();
    let now = w.now().await;
    for action in crank::due(&jobs, now) {
        let job = &jobs.iter().find(|(k, _)| *k == action.job).unwrap().1;
        let ixs = crank::instructions(&m, action, job, &providers, &cranker.pubkey()).unwrap();
        assert_eq!(ixs.len(), 1);
        assert_eq!(
            ixs[0].program_id,
            gpu_market::ID,
            "no account-creating instruction"
        );
    }
    let lamports = w.chain.get_balance(&cranker.pubkey()).await.unwrap();
    let tokens = w.balance(&cranker.payment).await + w.balance(&cranker.stake).await;
    let report = crank::crank_once(&w.sender, &cranker.key, &w.market.market)
        .await
        .unwrap();
    assert_eq!(
        (
            report.expired.len(),
            report.refunded.len(),
            report.failed.len()
        ),
        (1, 1, 0),
        "{report:?}"
    );
    let fees = 2 * 5_000; // one signature per settlement
    let reporter = math::bps_floor(500, w.params.slash_reporter_bps as u64).unwrap();
    assert!(w.chain.get_balance(&cranker.pubkey()).await.unwrap() >= lamports - fees);
    let tokens_after = w.balance(&cranker.payment).await + w.balance(&cranker.stake).await;
    assert_eq!(tokens_after, tokens + w.params.crank_bounty + reporter);
    // The buyer's accounts stay closed; what they would have received accrued.
    assert!(w.chain.get_account(&buyer.payment).await.unwrap().is_none());
    assert!(w.chain.get_account(&buyer.stake).await.unwrap().is_none());
    let totals = w.market_state().await.totals;
    // The expired claim was past the job deadline (refunded: its escrow) and
    // the unclaimed job's price: both stayed in the vault for the treasury.
    assert_eq!(totals.refunds_forfeited, escrow + 1_000);
    w.assert_conservation().await;
}

/// Item 8. A provider washes out an expiry of a valuable job with a few dust
/// jobs: reliability counted jobs, so three completions of fee 1 outweighed
/// one expiry of a job of fee 250. Now reliability weighs value: fees paid
/// against three times the fees its expiries forfeited.
#[tokio::test]
async fn dust_jobs_wash_out_an_expiry() {
    let params = MarketParams {
        score_fee_scale: 1,
        ..default_params()
    };
    let w = World::with_params(params, false).await;
    let p = w.register_provider(h100(), 100_000).await;
    let buyer = w.wallet(1_000_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t = w.now().await;
    let big = w.post_job(&buyer, 1, 10_000, t + 3_600).await;
    w.claim(&p, &big).await.unwrap();
    w.advance(params.claim_timeout + 1).await;
    w.expire(&big, &cranker).await.unwrap();
    let dust: Vec<_> = {
        let mut v = Vec::new();
        for n in 0..3 {
            v.push(w.post_job(&buyer, 10 + n, 40, w.now().await + 3_600).await);
        }
        v
    };
    for j in &dust {
        w.claim(&p, j).await.unwrap();
        w.submit(&p, j, 1).await.unwrap();
    }
    w.advance(params.challenge_window + 1).await;
    for j in &dust {
        w.finalize(j, &cranker).await.unwrap();
    }
    let r = w.provider(&p.key).await.reputation;
    assert_eq!(
        (r.completed, r.expired, r.fees_paid, r.forfeited_fees),
        (3, 1, 3, 250)
    );
    assert_eq!(r.score, math::reputation_score(3, 250, 0, 1));
    // Counted by jobs it would have been 3 / (3 + 3) = 50% reliability.
    assert!(r.score < 50, "score {} stays near zero", r.score);
    w.assert_conservation().await;
}

/// Item 8. The hot key raises the provider's GPU count just before submitting
/// to meter more GPU time than the claim's hardware could have served. Now
/// metering is bounded by the GPU count frozen in the job at the claim.
#[tokio::test]
async fn gpu_count_raised_after_the_claim_inflates_metering() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 5_000).await;
    let buyer = w.wallet(50_000, 0).await;
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 1_000, t + 600).await;
    w.claim(&p, &job).await.unwrap();
    assert_eq!(w.job(&job).await.claim_gpu_count, 1);
    w.send(
        &[ix::provider_heartbeat(
            p.key,
            p.worker.pubkey(),
            Some(gpu("NVIDIA H100", 81_559, 8, 90)),
        )],
        &[&p.worker],
    )
    .await
    .unwrap();
    w.advance(9).await;
    // 10 s x 8 GPUs would be 80_000 ms; the claim had one GPU: 10_000 at most.
    assert_err(w.submit(&p, &job, 10_001).await, "MeteringExceedsWallClock");
    assert_eq!(w.job(&job).await.max_metered_ms_at(w.now().await), 10_000);
    w.submit(&p, &job, 10_000).await.unwrap();
    w.assert_conservation().await;
}

/// Item 8. The authority raises the market's fee scale after a claim, so the
/// job's settlement rescored the provider with a scale it never agreed to.
/// Now the scale is frozen in the job at the claim and the settlement uses it.
#[tokio::test]
async fn fee_scale_raised_after_the_claim_changes_the_score() {
    let w = World::new().await;
    let p = w.register_provider(h100(), 5_000).await;
    let buyer = w.wallet(50_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let base = default_params();
    let t = w.now().await;
    let job = w.post_job(&buyer, 1, 10_000, t + 600).await;
    w.claim(&p, &job).await.unwrap();
    w.submit(&p, &job, 1).await.unwrap();
    let raised = MarketParams {
        score_fee_scale: base.score_fee_scale * 1_000,
        ..base
    };
    w.send(
        &[ix::market_update(
            w.authority.pubkey(),
            w.market.market,
            raised,
        )],
        &[],
    )
    .await
    .unwrap();
    w.set_time(w.market_state().await.pending_update.unwrap().effective_at)
        .await;
    w.send(&[ix::market_apply_update(w.market.market)], &[])
        .await
        .unwrap();
    assert_eq!(
        w.market_state().await.params.score_fee_scale,
        raised.score_fee_scale
    );
    w.finalize(&job, &cranker).await.unwrap();
    let fee = math::fee_for(10_000, base.fee_bps).unwrap();
    let score = w.provider(&p.key).await.reputation.score;
    assert_eq!(
        score,
        math::reputation_score(fee, 0, 0, base.score_fee_scale)
    );
    assert_ne!(
        score,
        math::reputation_score(fee, 0, 0, raised.score_fee_scale)
    );
    // Claims are counted, and the audit checks the count.
    assert_eq!(w.market_state().await.totals.jobs_claimed, 1);
    w.assert_conservation().await;
}
