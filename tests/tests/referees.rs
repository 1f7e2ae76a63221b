//! Refereed re-execution of cuda-kernel results, on the embedded chain: every branch of
//! the referee path, with exact amounts and token conservation after every step.
//! Amounts: price 1,000, bond 500 (50%), challenger bond 500, a lost dispute slashes the
//! bond and as much stake again (1,000); referees take 20% of the loser's pot, split
//! equally; the rest goes by the market's split (buyer 50%, reporter 10%, treasury the
//! rest); a referee that commits and does not reveal loses 5% of its seat weight.

use gpu_market::state::JobState;
use gpu_market_client::{accounts, pda};
use gpu_market_tests::referee::*;
use gpu_market_tests::*;

const BOND: u64 = 500;
const CHALLENGER_BOND: u64 = 500;
const BOUNTY: u64 = 10;
const CHEAT_ROOT: [u8; 32] = [0xBA; 32];

async fn stakes(w: &World, ps: &[&ProviderHandle]) -> Vec<u64> {
    let mut out = Vec::new();
    for p in ps {
        out.push(w.provider(&p.key).await.stake);
    }
    out
}

async fn payment_balances(w: &World, ps: &[&ProviderHandle]) -> Vec<u64> {
    let mut out = Vec::new();
    for p in ps {
        out.push(w.balance(&p.owner.payment).await);
    }
    out
}

/// The attack: a provider submits a made-up root for a kernel job the chain cannot
/// recompute, hoping nobody can prove it wrong. Three referees re-execute it, all reveal
/// the true root, and the cheater loses its bond and as much stake again: the referees
/// are paid first (66 each of 20% of 1,000), the buyer gets its price back and 401, the
/// challenger its bond back and 80, the treasury 321.
#[tokio::test]
async fn a_made_up_kernel_result_is_overturned_by_the_referees_and_the_cheater_pays_them() {
    let w = World::new().await;
    let seated = w.referee_pool(3).await;
    let case = w.submitted_kernel(CHEAT_ROOT, 1).await;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    w.assert_conservation().await;
    let buyer_payment = w.balance(&case.buyer.payment).await;
    let buyer_stake = w.balance(&case.buyer.stake).await;
    let challenger_payment = w.balance(&challenger.payment).await;
    let slash_unswept = w.market_state().await.totals.slash_unswept;

    let dispute = w.challenge_kernel(&case, &challenger).await.unwrap();
    w.assert_conservation().await;
    assert_eq!(w.job(&case.job).await.state, JobState::Disputed);
    assert_eq!(w.provider(&case.provider.key).await.locked, 2 * BOND);

    let state = w.draw(&dispute).await.unwrap();
    assert_eq!(state.referee.count, 3, "every eligible seat drawn");
    let referees = drawn(&seated, &state);
    let before = stakes(&w, &referees).await;
    for r in &referees {
        w.commit(r, &dispute, &TRUE_ROOT).await.unwrap();
    }
    for r in &referees {
        w.reveal_root(r, &dispute, &TRUE_ROOT).await.unwrap();
        w.assert_conservation().await;
    }
    w.settle_kernel(&case, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;

    let slashed = 2 * BOND;
    assert_eq!(
        stakes(&w, &referees).await,
        before.iter().map(|s| s + 66).collect::<Vec<_>>(),
        "each referee's stake credited 66"
    );
    assert_eq!(
        w.balance(&case.buyer.payment).await,
        buyer_payment + KERNEL_PRICE
    );
    assert_eq!(w.balance(&case.buyer.stake).await, buyer_stake + 401);
    assert_eq!(w.balance(&challenger.payment).await, challenger_payment);
    assert_eq!(w.balance(&challenger.stake).await, 80);
    assert_eq!(w.balance(&settler.payment).await, BOUNTY);
    let totals = w.market_state().await.totals;
    assert_eq!(totals.slash_unswept, slash_unswept + 321);
    assert_eq!(totals.slashed, slashed);
    let cheater = w.provider(&case.provider.key).await;
    assert_eq!(cheater.stake, REFEREE_STAKE - slashed);
    assert_eq!(cheater.reputation.disputes_lost, 1);
    assert!(!w.job_exists(&case.job).await, "the slashed job is closed");
    // Duties over: every referee may leave and gets its seat weight back as free stake.
    for r in &referees {
        let leave = gpu_market_client::ix::referee_leave(w.market.market, r.owner.pubkey());
        w.send(&[leave], &[&r.owner.key]).await.unwrap();
        let p = w.provider(&r.key).await;
        assert_eq!((p.referee_stake, p.locked), (0, 0));
    }
    w.assert_conservation().await;
}

/// The attack: a griefer challenges an honest kernel result. The referees uphold it; the
/// griefer's 500 bond pays the referees 33 each (20% of it, to their payout accounts)
/// and the provider 240 (buyer and reporter shares of the rest), the treasury 161, and
/// the job is paid after its window as if never challenged.
#[tokio::test]
async fn a_griefer_challenging_an_honest_kernel_result_pays_the_referees_and_the_provider() {
    let w = World::new().await;
    let seated = w.referee_pool(3).await;
    let case = w.submitted_kernel(TRUE_ROOT, 2).await;
    let griefer = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let payout = w.balance(&case.provider.owner.payment).await;
    let fees_unswept = w.market_state().await.totals.fees_unswept;

    let dispute = w.challenge_kernel(&case, &griefer).await.unwrap();
    let state = w.draw(&dispute).await.unwrap();
    let referees = drawn(&seated, &state);
    let paid_before = payment_balances(&w, &referees).await;
    for r in &referees {
        w.commit(r, &dispute, &TRUE_ROOT).await.unwrap();
    }
    for r in &referees {
        w.reveal_root(r, &dispute, &TRUE_ROOT).await.unwrap();
    }
    w.settle_kernel(&case, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;

    assert_eq!(
        w.balance(&griefer.payment).await,
        10_000 - CHALLENGER_BOND,
        "the bond is lost"
    );
    assert_eq!(
        payment_balances(&w, &referees).await,
        paid_before.iter().map(|b| b + 33).collect::<Vec<_>>()
    );
    assert_eq!(w.balance(&case.provider.owner.payment).await, payout + 240);
    assert_eq!(
        w.market_state().await.totals.fees_unswept,
        fees_unswept + 161
    );
    let job = w.job(&case.job).await;
    assert_eq!(job.state, JobState::Submitted);
    let p = w.provider(&case.provider.key).await;
    assert_eq!(p.locked, BOND, "the extra stake unlocked, the bond stays");

    // Paid as if never challenged, once the window is over.
    w.set_time(job.challenge_deadline + 1).await;
    w.finalize(&case.job, &settler).await.unwrap();
    w.assert_conservation().await;
    let fee = gpu_market::math::fee_for(KERNEL_PRICE, w.params.fee_bps).unwrap();
    assert_eq!(
        w.balance(&case.provider.owner.payment).await,
        payout + 240 + KERNEL_PRICE - fee
    );
}

/// No referee answers: drawn, none commits, and the reveal deadline passes. Nobody is
/// stuck and nobody is slashed: no ruling, the challenger's bond comes back, the result
/// stands and is paid. Settling before the deadline is refused.
#[tokio::test]
async fn absent_referees_leave_no_ruling_and_nobody_stuck() {
    let w = World::new().await;
    let _seated = w.referee_pool(3).await;
    let case = w.submitted_kernel(CHEAT_ROOT, 3).await;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let stake = w.provider(&case.provider.key).await.stake;

    let dispute = w.challenge_kernel(&case, &challenger).await.unwrap();
    let state = w.draw(&dispute).await.unwrap();
    assert_err(
        w.settle_kernel(&case, &dispute, &settler).await,
        "DisputeNotReady",
    );
    w.set_time(state.referee.reveal_deadline).await;
    assert_err(
        w.settle_kernel(&case, &dispute, &settler).await,
        "DisputeNotReady",
    );
    w.set_time(state.referee.reveal_deadline + 1).await;
    w.settle_kernel(&case, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    assert_eq!(w.balance(&challenger.payment).await, 10_000, "bond back");
    let p = w.provider(&case.provider.key).await;
    assert_eq!((p.stake, p.locked), (stake, BOND));
    assert_eq!(w.job(&case.job).await.state, JobState::Submitted);
    let totals = w.market_state().await.totals;
    assert_eq!(
        (totals.slashed, totals.challenger_bonds_outstanding),
        (0, 0)
    );
}

/// The attack: a referee commits (so it cannot be replaced) and then withholds its
/// reveal, to stall or sway the round. It loses 5% of its 5,000 seat weight (250) to the
/// treasury; the two referees that revealed decide and share the referee reward (100
/// each of 20% of 1,000).
#[tokio::test]
async fn a_referee_that_commits_and_never_reveals_loses_part_of_its_seat() {
    let w = World::new().await;
    let seated = w.referee_pool(3).await;
    let case = w.submitted_kernel(CHEAT_ROOT, 4).await;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;

    let dispute = w.challenge_kernel(&case, &challenger).await.unwrap();
    let state = w.draw(&dispute).await.unwrap();
    let referees = drawn(&seated, &state);
    let before = stakes(&w, &referees).await;
    for r in &referees {
        w.commit(r, &dispute, &TRUE_ROOT).await.unwrap();
    }
    for r in &referees[..2] {
        w.reveal_root(r, &dispute, &TRUE_ROOT).await.unwrap();
    }
    assert_err(
        w.settle_kernel(&case, &dispute, &settler).await,
        "DisputeNotReady",
    );
    w.set_time(state.referee.reveal_deadline + 1).await;
    let slash_unswept = w.market_state().await.totals.slash_unswept;
    w.settle_kernel(&case, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    let after = stakes(&w, &referees).await;
    assert_eq!(after[0], before[0] + 100);
    assert_eq!(after[1], before[1] + 100);
    assert_eq!(after[2], before[2] - 250, "the silent referee's penalty");
    let silent = w.provider(&referees[2].key).await;
    assert_eq!(silent.referee_stake, SEAT_WEIGHT - 250);
    let pool = accounts::fetch_referee_pool(&*w.chain, &pda::referee_pool(&w.market.market))
        .await
        .unwrap();
    let seat = pool
        .seats()
        .iter()
        .find(|s| s.provider == referees[2].key)
        .unwrap();
    assert_eq!((seat.weight, seat.duties), (SEAT_WEIGHT - 250, 0));
    // Slash 1,000: 200 to referees, 800 by the split (treasury 320), plus the penalty.
    assert_eq!(
        w.market_state().await.totals.slash_unswept,
        slash_unswept + 320 + 250
    );
    assert_eq!(w.balance(&case.buyer.stake).await, 400);
}

/// The attack: the disputed provider (or the challenger) seats itself in the pool to
/// judge its own case. The draw leaves out every seat of the provider's owner and of the
/// challenger; with nobody else seated there is no ruling at once, the bond returns and
/// the result stands.
#[tokio::test]
async fn parties_to_a_dispute_are_never_drawn_and_a_pool_without_others_gives_no_ruling() {
    let w = World::new().await;
    let _empty = w.referee_pool(0).await;
    let case = w.submitted_kernel(CHEAT_ROOT, 5).await;
    w.seat(&case.provider, SEAT_WEIGHT).await.unwrap();
    // The challenger runs a provider too, and seats it.
    let challenger = w.wallet(10_000, REFEREE_STAKE).await;
    let register = gpu_market_client::ix::provider_register(
        &w.market,
        challenger.pubkey(),
        challenger.stake,
        challenger.payment,
        w.register_args(Keypair::new().pubkey(), h100(), REFEREE_STAKE),
    );
    w.send(&[register], &[&challenger.key]).await.unwrap();
    let join =
        gpu_market_client::ix::referee_join(w.market.market, challenger.pubkey(), SEAT_WEIGHT);
    w.send(&[join], &[&challenger.key]).await.unwrap();
    let payment = w.balance(&challenger.payment).await;
    let settler = w.wallet(0, 0).await;

    let dispute = w.challenge_kernel(&case, &challenger).await.unwrap();
    let state = w.draw(&dispute).await.unwrap();
    assert!(state.referee.drawn);
    assert_eq!(state.referee.count, 0, "neither party's seat is drawn");
    w.settle_kernel(&case, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    assert_eq!(w.balance(&challenger.payment).await, payment);
    assert_eq!(w.job(&case.job).await.state, JobState::Submitted);
    let pool = accounts::fetch_referee_pool(&*w.chain, &pda::referee_pool(&w.market.market))
        .await
        .unwrap();
    assert!(pool.seats().iter().all(|s| s.duties == 0));
}

/// The attack: a referee pool seat that is weight without stake. A seat locks its
/// weight out of free stake, so it can neither be withdrawn nor used as a bond while
/// seated, and a provider cannot seat more than it has free.
#[tokio::test]
async fn a_seat_locks_its_weight_out_of_free_stake() {
    let w = World::new().await;
    let seated = w.referee_pool(1).await;
    let p = w.provider(&seated[0].key).await;
    assert_eq!(p.free_stake(), REFEREE_STAKE - SEAT_WEIGHT);
    let unstake = gpu_market_client::ix::provider_unstake(
        w.market.market,
        seated[0].owner.pubkey(),
        REFEREE_STAKE - SEAT_WEIGHT + 1,
    );
    assert_err(
        w.send(&[unstake], &[&seated[0].owner.key]).await,
        "InsufficientFreeStake",
    );
    let greedy = w.register_provider(h100(), REFEREE_STAKE).await;
    assert_err(
        w.seat(&greedy, REFEREE_STAKE + 1).await,
        "InsufficientFreeStake",
    );
    w.assert_conservation().await;
}
