//! Disputes on the embedded chain, every branch, written from the side of whoever would
//! profit if the rule failed: a provider that submits a wrong GEMM element, reveals a row
//! its root does not hold, or stays silent; a challenger that disputes an honest result or
//! never stages its proofs. Each asserts the exact amounts the rule moves and token
//! conservation (with the audit's invariants) after every step.

use gpu_market::state::{JobState, ProofTree};
use gpu_market_client::chain::Chain;
use gpu_market_client::dispute as d;
use gpu_market_client::ix;
use gpu_market_tests::dispute::{Case, Gemm, PRICE, PROVIDER_STAKE};
use gpu_market_tests::*;

const BOND: u64 = 500; // max(bond_min 100, 50% of the price)
const CHALLENGER_BOND: u64 = 500;
const BOUNTY: u64 = 10;

struct Balances {
    buyer_payment: u64,
    buyer_stake: u64,
    challenger_payment: u64,
    challenger_stake: u64,
    payout: u64,
    /// Treasury shares accrue in the vaults until swept.
    fees_unswept: u64,
    slash_unswept: u64,
    settler_payment: u64,
}

async fn balances(w: &World, case: &Case, challenger: &Wallet, settler: &Wallet) -> Balances {
    Balances {
        buyer_payment: w.balance(&case.buyer.payment).await,
        buyer_stake: w.balance(&case.buyer.stake).await,
        challenger_payment: w.balance(&challenger.payment).await,
        challenger_stake: w.balance(&challenger.stake).await,
        payout: w.balance(&case.provider.owner.payment).await,
        fees_unswept: w.market_state().await.totals.fees_unswept,
        slash_unswept: w.market_state().await.totals.slash_unswept,
        settler_payment: w.balance(&settler.payment).await,
    }
}

/// A whole dispute of C[row][col], every side played: a fresh challenger stages the row of
/// A and the column of B and absorbs, the provider reveals its committed row, a third
/// party settles; balances before and after, token conservation checked at the end.
struct Played {
    challenger: Wallet,
    settler: Wallet,
    before: Balances,
    after: Balances,
}

async fn play(w: &World, case: &Case, row: u32, col: u32) -> Played {
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let before = balances(w, case, &challenger, &settler).await;
    let dispute = w.challenge(case, &challenger, row, col).await.unwrap();
    let proof = case.gemm.proof(row, col);
    w.stage_inputs(case, &dispute, &challenger, &proof).await;
    w.reveal(case, &dispute, &proof).await.unwrap();
    w.settle(case, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    let after = balances(w, case, &challenger, &settler).await;
    Played {
        challenger,
        settler,
        before,
        after,
    }
}

/// A cheating provider's wrong i8 element: challenged, its row revealed (the committed,
/// wrong one), the inputs staged, the dot product recomputed on chain. The provider loses
/// its bond and as much stake again; the buyer gets the price back and half the slash, the
/// challenger its bond and the reporter share, the treasury the rest; every buffer's rent
/// goes back to whoever paid it.
#[tokio::test]
async fn a_wrong_i8_element_is_proven_on_chain_and_the_cheater_pays_for_it() {
    let w = World::new().await;
    let mut gemm = Gemm::i8(3, 4, 37, 1);
    let honest = i32::from_le_bytes(gemm.output(1, 2));
    gemm.set_output(1, 2, (honest + 1).to_le_bytes());
    let case = w.submitted_gemm(gemm, 1).await;
    w.assert_conservation().await;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let before = balances(&w, &case, &challenger, &settler).await;

    let dispute = w.challenge(&case, &challenger, 1, 2).await.unwrap();
    w.assert_conservation().await;
    let job = w.job(&case.job).await;
    assert_eq!(job.state, JobState::Disputed);
    let provider = w.provider(&case.provider.key).await;
    assert_eq!(
        provider.locked,
        2 * BOND,
        "the bond and as much stake again"
    );
    assert_eq!(
        w.balance(&challenger.payment).await,
        before.challenger_payment - CHALLENGER_BOND
    );

    let proof = case.gemm.proof(1, 2);
    w.stage_inputs(&case, &dispute, &challenger, &proof).await;
    w.assert_conservation().await;
    w.reveal(&case, &dispute, &proof).await.unwrap();
    w.assert_conservation().await;
    let worker_lamports = w
        .chain
        .get_balance(&case.provider.worker.pubkey())
        .await
        .unwrap();
    let challenger_lamports = w.chain.get_balance(&challenger.pubkey()).await.unwrap();

    w.settle(&case, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    let after = balances(&w, &case, &challenger, &settler).await;
    let slashed = 2 * BOND;
    assert_eq!(
        after.buyer_payment,
        before.buyer_payment + PRICE,
        "price refunded"
    );
    assert_eq!(
        after.buyer_stake,
        before.buyer_stake + slashed / 2,
        "buyer share 50%"
    );
    assert_eq!(
        after.challenger_payment, before.challenger_payment,
        "bond returned"
    );
    assert_eq!(
        after.challenger_stake,
        before.challenger_stake + slashed / 10,
        "reporter share 10%"
    );
    assert_eq!(
        after.slash_unswept,
        before.slash_unswept + slashed * 4 / 10,
        "treasury the rest"
    );
    assert_eq!(
        after.settler_payment,
        before.settler_payment + BOUNTY,
        "the settler's bounty"
    );
    assert_eq!(after.payout, before.payout, "the cheater is paid nothing");
    assert!(!w.job_exists(&case.job).await, "the slashed job is closed");
    assert!(!w.job_exists(&dispute).await, "the dispute is closed");
    let provider = w.provider(&case.provider.key).await;
    assert_eq!(provider.stake, PROVIDER_STAKE - slashed);
    assert_eq!((provider.locked, provider.active_jobs), (0, 0));
    assert_eq!(provider.reputation.disputes_lost, 1);
    assert_eq!(provider.reputation.slashed, slashed);
    let totals = w.market_state().await.totals;
    assert_eq!((totals.jobs_disputed, totals.jobs_slashed), (1, 1));
    assert_eq!(totals.challenger_bonds_outstanding, 0);
    assert_eq!(totals.slashed, slashed);
    assert!(
        w.chain.get_balance(&challenger.pubkey()).await.unwrap() > challenger_lamports,
        "the dispute account's rent went back to the challenger"
    );

    // Buffers: rent back to their payers, and only once the dispute is gone.
    d::close_buffers(
        &w.sender,
        &challenger.key,
        &dispute,
        &[ProofTree::A, ProofTree::B],
    )
    .await
    .unwrap();
    d::close_buffers(&w.sender, &case.provider.worker, &dispute, &[ProofTree::C])
        .await
        .unwrap();
    assert!(
        w.chain
            .get_balance(&case.provider.worker.pubkey())
            .await
            .unwrap()
            > worker_lamports,
        "the row of C's rent went back to the provider's worker"
    );
    w.assert_conservation().await;
}

/// A griefing challenger disputes an honest i8 result: the ruling upholds it, the
/// challenger's bond goes to the provider (60%) and the treasury (40%), the extra stake is
/// unlocked, and the job is paid as usual once its challenge window closes.
#[tokio::test]
async fn challenging_an_honest_i8_result_costs_the_challenger_its_bond() {
    let w = World::new().await;
    let case = w.submitted_gemm(Gemm::i8(4, 3, 50, 2), 1).await;
    let Played {
        challenger,
        settler,
        before,
        after,
    } = play(&w, &case, 3, 0).await;
    assert_eq!(
        after.challenger_payment,
        before.challenger_payment - CHALLENGER_BOND
    );
    assert_eq!(after.payout, before.payout + CHALLENGER_BOND * 6 / 10);
    assert_eq!(
        after.fees_unswept,
        before.fees_unswept + CHALLENGER_BOND * 4 / 10
    );
    assert_eq!(
        after.buyer_payment, before.buyer_payment,
        "the buyer is not refunded"
    );
    let job = w.job(&case.job).await;
    assert_eq!(job.state, JobState::Submitted, "the result stands");
    let provider = w.provider(&case.provider.key).await;
    assert_eq!((provider.stake, provider.locked), (PROVIDER_STAKE, BOND));
    assert_eq!(provider.reputation.disputes_lost, 0);
    let totals = w.market_state().await.totals;
    assert_eq!(totals.challenger_bonds_forfeited, CHALLENGER_BOND);

    // Paid as any other job once the window closes.
    w.set_time(job.challenge_deadline + 1).await;
    w.finalize(&case.job, &settler).await.unwrap();
    w.assert_conservation().await;
    let paid = balances(&w, &case, &challenger, &settler).await;
    let fee = (PRICE * 250).div_ceil(10_000);
    assert_eq!(paid.payout, after.payout + PRICE - fee);
    assert_eq!(w.provider(&case.provider.key).await.locked, 0);
}

/// A wrong f32 element, far outside the error bound any IEEE f32 summation order stays
/// within, is proven on chain.
#[tokio::test]
async fn a_wrong_f32_element_beyond_the_bound_is_proven() {
    let w = World::new().await;
    let mut gemm = Gemm::f32(2, 3, 40, 3);
    let honest = f32::from_le_bytes(gemm.output(0, 1));
    gemm.set_output(0, 1, (honest + 0.01).to_le_bytes());
    let case = w.submitted_gemm(gemm, 1).await;
    let Played { before, after, .. } = play(&w, &case, 0, 1).await;
    assert_eq!(after.buyer_payment, before.buyer_payment + PRICE);
    assert_eq!(
        after.challenger_stake,
        before.challenger_stake + 2 * BOND / 10
    );
    assert!(!w.job_exists(&case.job).await);
    assert_eq!(
        w.provider(&case.provider.key)
            .await
            .reputation
            .disputes_lost,
        1
    );
}

/// An honest f32 result is not the exact product: summed in another order (here, back to
/// front, and one element nudged by one ulp) it still lies within the bound, and the
/// chain upholds it; the challenger, who went by exact arithmetic, loses.
#[tokio::test]
async fn an_honest_f32_result_in_another_summation_order_is_upheld() {
    let w = World::new().await;
    let mut gemm = Gemm::f32(2, 2, 64, 4);
    let (_, n, k) = gemm.dims();
    let (a, b): (Vec<f32>, Vec<f32>) = (
        gpu_market_compute::gemm::f32s_from_le_bytes(&gemm.a),
        gpu_market_compute::gemm::f32s_from_le_bytes(&gemm.b),
    );
    let (n, k) = (n as usize, k as usize);
    let backwards = (0..k).rev().fold(0f32, |s, t| s + a[k + t] * b[t * n + 1]);
    let nudged = f32::from_bits(backwards.to_bits() + 1);
    gemm.set_output(1, 1, nudged.to_le_bytes());
    let case = w.submitted_gemm(gemm, 1).await;
    let Played { before, after, .. } = play(&w, &case, 1, 1).await;
    assert_eq!(
        after.challenger_payment,
        before.challenger_payment - CHALLENGER_BOND
    );
    assert_eq!(w.job(&case.job).await.state, JobState::Submitted);
    assert_eq!(w.provider(&case.provider.key).await.stake, PROVIDER_STAKE);
}

/// A challenger cannot pass off other bytes as a row of A: a path that does not lead to
/// the job's root is refused and the leaf stays unverified, so no ruling can use it; the
/// true path then verifies.
#[tokio::test]
async fn a_bad_merkle_path_is_rejected() {
    let w = World::new().await;
    let case = w.submitted_gemm(Gemm::i8(5, 2, 20, 5), 1).await;
    let challenger = w.wallet(10_000, 0).await;
    let dispute = w.challenge(&case, &challenger, 2, 1).await.unwrap();
    let proof = case.gemm.proof(2, 1);
    let mut bad = proof.a_proof.clone();
    bad[0][0] ^= 1;
    assert_err(
        w.stage(
            &case,
            &dispute,
            &challenger.key,
            ProofTree::A,
            &proof.a_row,
            &bad,
        )
        .await,
        "ProofPathInvalid",
    );
    let verify = ix::proof_verify(case.job, dispute, ProofTree::A, proof.a_proof.clone());
    w.send(&[verify], &[]).await.unwrap();
    let disputed = gpu_market_client::accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap();
    assert!(disputed.is_proven(ProofTree::A));
    w.assert_conservation().await;
}

/// A cheating provider tries to answer with the honest row instead of the one its root
/// commits to: the path does not hold, so it cannot reveal, and it loses by default once
/// the response window closes.
#[tokio::test]
async fn a_provider_cannot_reveal_a_row_its_root_does_not_hold() {
    let w = World::new().await;
    let mut gemm = Gemm::i8(3, 3, 16, 6);
    let honest_gemm = gemm.clone();
    let v = i32::from_le_bytes(gemm.output(2, 2));
    gemm.set_output(2, 2, (v - 7).to_le_bytes());
    let case = w.submitted_gemm(gemm, 1).await;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let dispute = w.challenge(&case, &challenger, 2, 2).await.unwrap();
    let committed = case.gemm.proof(2, 2);
    w.stage_inputs(&case, &dispute, &challenger, &committed)
        .await;
    let honest_row = honest_gemm.proof(2, 2).c_row;
    assert_err(
        w.stage(
            &case,
            &dispute,
            &case.provider.worker,
            ProofTree::C,
            &honest_row,
            &committed.c_proof,
        )
        .await,
        "ProofPathInvalid",
    );
    let disputed = gpu_market_client::accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap();
    w.set_time(disputed.respond_deadline + 1).await;
    let before = w.balance(&case.buyer.payment).await;
    w.settle(&case, &dispute, &settler).await.unwrap();
    assert_eq!(w.balance(&case.buyer.payment).await, before + PRICE);
    assert_eq!(
        w.provider(&case.provider.key)
            .await
            .reputation
            .disputes_lost,
        1
    );
    w.assert_conservation().await;
}

/// A provider that never answers a challenge loses by default, by the response deadline's
/// convention: still on time at the deadline second, in default one second later.
#[tokio::test]
async fn a_silent_provider_loses_by_default_after_the_response_window() {
    let w = World::new().await;
    let case = w.submitted_gemm(Gemm::i8(2, 2, 8, 7), 1).await;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let dispute = w.challenge(&case, &challenger, 0, 0).await.unwrap();
    w.stage_inputs(&case, &dispute, &challenger, &case.gemm.proof(0, 0))
        .await;
    let deadline = gpu_market_client::accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap()
        .respond_deadline;
    for t in [deadline - 1, deadline] {
        w.set_time(t).await;
        assert_err(w.settle(&case, &dispute, &settler).await, "DisputeNotReady");
    }
    w.set_time(deadline + 1).await;
    let before = w.balance(&challenger.stake).await;
    w.settle(&case, &dispute, &settler).await.unwrap();
    assert_eq!(w.balance(&challenger.stake).await, before + 2 * BOND / 10);
    assert!(!w.job_exists(&case.job).await);
    w.assert_conservation().await;
}

/// A challenger that opens a dispute and never stages its side (to hold an honest
/// provider's payment up) loses its bond once the provider has revealed and the window
/// closes.
#[tokio::test]
async fn a_challenger_that_never_stages_loses_its_bond() {
    let w = World::new().await;
    let case = w.submitted_gemm(Gemm::i8(2, 2, 8, 8), 1).await;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let dispute = w.challenge(&case, &challenger, 1, 0).await.unwrap();
    w.reveal(&case, &dispute, &case.gemm.proof(1, 0))
        .await
        .unwrap();
    let deadline = gpu_market_client::accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap()
        .respond_deadline;
    w.set_time(deadline + 1).await;
    let payout = w.balance(&case.provider.owner.payment).await;
    w.settle(&case, &dispute, &settler).await.unwrap();
    assert_eq!(
        w.balance(&case.provider.owner.payment).await,
        payout + CHALLENGER_BOND * 6 / 10
    );
    assert_eq!(w.job(&case.job).await.state, JobState::Submitted);
    w.assert_conservation().await;
}

/// One dispute at a time: a second challenge while one is open is refused, finalizing
/// waits for the settlement, and after the window nobody can challenge.
#[tokio::test]
async fn a_second_challenge_while_one_is_open_is_refused() {
    let w = World::new().await;
    let case = w.submitted_gemm(Gemm::i8(2, 2, 8, 9), 1).await;
    let first = w.wallet(10_000, 0).await;
    let second = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let dispute = w.challenge(&case, &first, 0, 1).await.unwrap();
    assert_err(
        w.challenge(&case, &second, 1, 1).await,
        "DisputeAlreadyOpen",
    );
    assert_err(w.finalize(&case.job, &settler).await, "JobNotSubmitted");
    // The first challenger never staged; past the window the provider, which revealed,
    // wins, and nobody may challenge again.
    w.reveal(&case, &dispute, &case.gemm.proof(0, 1))
        .await
        .unwrap();
    let deadline = gpu_market_client::accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap()
        .respond_deadline;
    w.set_time(deadline + 1).await;
    w.settle(&case, &dispute, &settler).await.unwrap();
    assert_err(
        w.challenge(&case, &second, 1, 1).await,
        "ChallengeWindowClosed",
    );
    w.finalize(&case.job, &settler).await.unwrap();
    w.assert_conservation().await;
}

/// The attack: before anyone challenges a cheater's result, a griefer (or the cheater)
/// sends lamports to the market's next dispute address and to that dispute's three proof
/// buffer addresses, all predictable, so that creating them fails and the cheat is paid
/// (a runtime without `CreateAccountAllowPrefund` refused Anchor's `init` there). The
/// challenge, the staging and the ruling go through all the same, and the cheater is
/// slashed by the rule's exact amounts; the griefer's lamports end with the challenger
/// and the buffers' payers.
#[tokio::test]
async fn lamports_sent_to_the_next_dispute_and_its_buffers_do_not_block_them() {
    use solana_system_interface::instruction as system;
    let w = World::new().await;
    let mut gemm = Gemm::i8(3, 4, 37, 9);
    let honest = i32::from_le_bytes(gemm.output(1, 2));
    gemm.set_output(1, 2, (honest + 1).to_le_bytes());
    let case = w.submitted_gemm(gemm, 1).await;
    let next = gpu_market_client::pda::dispute(
        &w.market.market,
        w.market_state().await.totals.jobs_disputed,
    );
    let griefer = w.wallet(0, 0).await;
    let mut targets = vec![next];
    for tree in [ProofTree::A, ProofTree::B, ProofTree::C] {
        targets.push(gpu_market_client::pda::proof_buffer(&next, tree));
    }
    for (i, to) in targets.iter().enumerate() {
        // The least a fresh address can hold (rent exemption of an empty account), and
        // more than the new account's rent, both.
        let lamports = if i % 2 == 0 { 890_880 } else { 50_000_000 };
        let tx = system::transfer(&griefer.pubkey(), to, lamports);
        w.send(&[tx], &[&griefer.key]).await.unwrap();
    }

    let p = play(&w, &case, 1, 2).await;
    let slashed = 2 * BOND;
    assert_eq!(p.after.buyer_payment, p.before.buyer_payment + PRICE);
    assert_eq!(p.after.buyer_stake, p.before.buyer_stake + slashed / 2);
    assert_eq!(
        p.after.challenger_stake,
        p.before.challenger_stake + slashed / 10
    );
    assert_eq!(p.after.challenger_payment, p.before.challenger_payment);
    assert_eq!(p.after.settler_payment, p.before.settler_payment + BOUNTY);
    assert!(
        !w.job_exists(&case.job).await,
        "the cheater's job is slashed and closed"
    );
    assert_eq!(
        w.provider(&case.provider.key).await.stake,
        PROVIDER_STAKE - slashed
    );
    let _ = p.challenger;
    let _ = p.settler;
}
