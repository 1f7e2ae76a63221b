//! Per-segment disputes on the embedded chain: a committed segment challenged within its
//! window and settled by three referees' re-execution (overturned, upheld, no ruling),
//! the window at t-1, t and t+1, challenges of segments that cannot be challenged, the
//! rule that nothing builds on a disputed root, the hand-off provider whose work an
//! overturn undoes, and real roots from re-executing a train-mlp segment. Exact amounts,
//! and token conservation with the audit's invariants after each step.
//!
//! Amounts (the test market): segments of price 1,000 (bond 500, fee 25, bounty 10,
//! escrow 1,010 each); challenger bond 500; an overturn slashes the segment's bond and
//! as much stake again (1,000): 66 to each of three referees, then 401 to the buyer,
//! 80 to the challenger, 321 to the treasury; an upheld segment's forfeited bond pays 33
//! to each referee, 240 to the provider, 161 to the treasury.

use gpu_market::events::{SegmentChallenged, SegmentDisputeSettled};
use gpu_market::state::{DisputeOutcome, SegmentState};
use gpu_market_client::chain::Chain;
use gpu_market_client::{events, pda, segments as seg, Pubkey};
use gpu_market_tests::referee::*;
use gpu_market_tests::segments::*;
use gpu_market_tests::*;

const STAKE: u64 = 50_000;
const DUR: i64 = 100;
const PRICE: u64 = 1_000;
const BOND: u64 = 500;
const ESCROW: u64 = 1_010;
const CHALLENGER_BOND: u64 = 500;
const BOUNTY: u64 = 10;
/// The root the provider commits for segment 0.
const COMMITTED: u8 = 0x11;

/// A market with three seated referees, a provider, a buyer, and a three-segment job
/// whose segment 0 is committed (root `[COMMITTED; 32]`) and segment 1 running (the
/// commit started it for the same provider).
struct Case {
    w: World,
    seated: Vec<ProviderHandle>,
    p: ProviderHandle,
    buyer: Wallet,
    job: Pubkey,
    committed_at: i64,
}

async fn case_with(w: World) -> Case {
    let seated = w.referee_pool(3).await;
    let p = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let t0 = w.now().await;
    let job = w
        .post_segmented(&buyer, 1, &terms(3, PRICE, DUR), t0 + 3_600)
        .await;
    w.seg_claim(&p, &job).await.unwrap();
    w.advance(10).await;
    w.seg_commit(&p, &job, 0, COMMITTED).await.unwrap();
    let s = w.segments(&job).await;
    assert_eq!(
        (s.segments[0].state, s.segments[1].state),
        (SegmentState::Committed, SegmentState::Running)
    );
    let committed_at = s.segments[0].committed_at;
    w.assert_conservation().await;
    Case {
        w,
        seated,
        p,
        buyer,
        job,
        committed_at,
    }
}

async fn case() -> Case {
    case_with(World::new().await).await
}

/// Draws the dispute's referees and has every one commit and reveal `root`.
async fn referees_reveal(c: &Case, dispute: &Pubkey, root: [u8; 32]) {
    let state = c.w.draw(dispute).await.unwrap();
    assert_eq!(state.referee.count, 3);
    let referees = drawn(&c.seated, &state);
    for r in &referees {
        c.w.commit(r, dispute, &root).await.unwrap();
    }
    for r in &referees {
        c.w.reveal_root(r, dispute, &root).await.unwrap();
    }
    c.w.assert_conservation().await;
}

async fn stakes(w: &World, ps: &[ProviderHandle]) -> Vec<u64> {
    let mut out = Vec::new();
    for p in ps {
        out.push(w.provider(&p.key).await.stake);
    }
    out
}

/// The attack: a provider commits a made-up checkpoint root for segment 0 and keeps
/// training on from it. A challenger disputes it; while the dispute is open nothing
/// builds on it (the next segment cannot start, the later committed one is not paid);
/// the referees re-execute segment 0 and reveal the true root. The provider loses that
/// segment's bond and as much stake again, is paid for no segment built on the wrong
/// checkpoint, and the buyer gets every unpaid segment's money back.
#[tokio::test]
async fn a_wrong_checkpoint_is_overturned_the_provider_slashed_and_the_buyer_refunded() {
    let c = case().await;
    let w = &c.w;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let q = w.register_provider(h100(), STAKE).await;
    let buyer_before = w.balance(&c.buyer.payment).await;
    let payout_before = w.balance(&c.p.owner.payment).await;
    let slash_unswept = w.market_state().await.totals.slash_unswept;
    let referee_stakes = stakes(w, &c.seated).await;

    let dispute = w.seg_challenge(&c.job, 0, &challenger).await.unwrap();
    w.assert_conservation().await;
    assert_eq!(
        w.balance(&challenger.payment).await,
        10_000 - CHALLENGER_BOND
    );
    let s = w.segments(&c.job).await;
    assert_eq!(s.segments[0].state, SegmentState::Disputed);
    assert_eq!(w.job(&c.job).await.dispute, dispute);
    // Segment 0's bond, segment 1's, and as much as segment 0's again.
    assert_eq!(w.provider(&c.p.key).await.locked, 3 * BOND);
    let d = w.dispute_state(&dispute).await;
    assert_eq!(
        (d.segment, d.stake_locked, d.bond),
        (Some(0), BOND, CHALLENGER_BOND)
    );

    // A second challenge, of it or of another segment, is refused.
    assert_err(
        w.seg_challenge(&c.job, 0, &challenger).await,
        "DisputeAlreadyOpen",
    );
    // Segment 1 may still commit (its provider must not miss its deadline for a
    // dispute it did not cause), but nothing starts after it, by commit or by claim,
    // and it is not paid while segment 0 is disputed.
    w.seg_commit(&c.p, &c.job, 1, 0x22).await.unwrap();
    let s = w.segments(&c.job).await;
    assert_eq!(
        (s.segments[1].state, s.segments[2].state),
        (SegmentState::Committed, SegmentState::Pending)
    );
    assert_err(w.seg_claim(&q, &c.job).await, "SegmentDisputeOpen");
    assert_err(w.seg_claim(&c.p, &c.job).await, "SegmentDisputeOpen");
    assert_err(
        w.seg_challenge(&c.job, 1, &challenger).await,
        "DisputeAlreadyOpen",
    );
    w.advance(31).await;
    assert_err(
        w.seg_finalize(&c.job, 1, &settler).await,
        "SegmentDisputeOpen",
    );
    assert_err(
        w.seg_finalize(&c.job, 0, &settler).await,
        "SegmentNotCommitted",
    );
    w.assert_conservation().await;

    referees_reveal(&c, &dispute, TRUE_ROOT).await;
    let out = w.seg_settle(&c.job, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    let ev = &events::parse::<SegmentDisputeSettled>(&out.logs)[0];
    assert_eq!(ev.outcome, DisputeOutcome::ProviderWrong as u8);
    assert_eq!(
        (
            ev.slashed,
            ev.to_referees,
            ev.to_buyer,
            ev.to_challenger,
            ev.to_treasury
        ),
        (2 * BOND, 198, 401, 80, 321)
    );
    assert_eq!(
        (ev.segments_refunded, ev.segments_undone, ev.bounty),
        (2, 1, BOUNTY)
    );
    assert_eq!(ev.refunded, PRICE + 2 * ESCROW);
    assert!(ev.closed, "no segment was left to pay");

    // The buyer: segment 0's price and segments 1 and 2's escrow back, 401 of stake.
    assert_eq!(
        w.balance(&c.buyer.payment).await,
        buyer_before + PRICE + 2 * ESCROW
    );
    assert_eq!(w.balance(&c.buyer.stake).await, 401);
    // The challenger: its bond back and the reporter's share; the settler the bounty.
    assert_eq!(w.balance(&challenger.payment).await, 10_000);
    assert_eq!(w.balance(&challenger.stake).await, 80);
    assert_eq!(w.balance(&settler.payment).await, BOUNTY);
    // The referees: 66 each credited to their stake.
    assert_eq!(
        stakes(w, &c.seated).await,
        referee_stakes.iter().map(|s| s + 66).collect::<Vec<_>>()
    );
    // The cheater: slashed 1,000, nothing locked, paid for nothing.
    let p = w.provider(&c.p.key).await;
    assert_eq!((p.stake, p.locked, p.active_jobs), (STAKE - 2 * BOND, 0, 0));
    assert_eq!((p.reputation.disputes_lost, p.reputation.completed), (1, 0));
    assert_eq!(w.balance(&c.p.owner.payment).await, payout_before);
    let totals = w.market_state().await.totals;
    assert_eq!(totals.slash_unswept, slash_unswept + 321);
    assert_eq!(
        (
            totals.escrow_outstanding,
            totals.challenger_bonds_outstanding
        ),
        (0, 0)
    );
    assert!(
        !w.job_exists(&c.job).await,
        "the job and its segments closed"
    );
    assert!(w
        .chain
        .get_account(&pda::segments(&c.job))
        .await
        .unwrap()
        .is_none());
}

/// The attack: a griefer challenges an honest segment hoping to delay or cost the
/// provider. The referees uphold the committed root; the griefer's bond pays the
/// referees and the provider; the provider's stake is untouched and the segment is
/// paid once its window closed; the job goes on.
#[tokio::test]
async fn a_griefer_challenging_an_honest_segment_loses_its_bond_and_the_job_goes_on() {
    let c = case().await;
    let w = &c.w;
    let griefer = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let payout_before = w.balance(&c.p.owner.payment).await;
    let fees_unswept = w.market_state().await.totals.fees_unswept;

    let dispute = w.seg_challenge(&c.job, 0, &griefer).await.unwrap();
    referees_reveal(&c, &dispute, [COMMITTED; 32]).await;
    let out = w.seg_settle(&c.job, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    let ev = &events::parse::<SegmentDisputeSettled>(&out.logs)[0];
    assert_eq!(ev.outcome, DisputeOutcome::ChallengerWrong as u8);
    assert_eq!(
        (
            ev.bond_to_referees,
            ev.bond_to_provider,
            ev.bond_to_treasury,
            ev.slashed
        ),
        (99, 240, 161, 0)
    );
    assert_eq!(w.balance(&griefer.payment).await, 10_000 - CHALLENGER_BOND);
    assert_eq!(w.balance(&c.p.owner.payment).await, payout_before + 240);
    assert_eq!(
        w.market_state().await.totals.fees_unswept,
        fees_unswept + 161
    );
    let p = w.provider(&c.p.key).await;
    assert_eq!(
        (p.stake, p.locked),
        (STAKE, 2 * BOND),
        "only the two segments' bonds"
    );
    assert_eq!(p.reputation.disputes_lost, 0);
    let s = w.segments(&c.job).await;
    assert_eq!(s.segments[0].state, SegmentState::Committed);
    assert_eq!(w.job(&c.job).await.dispute, Pubkey::default());

    // Paid as if never challenged once its window closed; segment 1 commits and
    // starts segment 2.
    w.set_time(c.committed_at + w.params.challenge_window + 1)
        .await;
    w.seg_finalize(&c.job, 0, &settler).await.unwrap();
    assert_eq!(
        w.balance(&c.p.owner.payment).await,
        payout_before + 240 + PRICE - 25
    );
    w.seg_commit(&c.p, &c.job, 1, 0x22).await.unwrap();
    assert_eq!(
        w.segments(&c.job).await.segments[2].state,
        SegmentState::Running
    );
    w.assert_conservation().await;
}

/// No referee commits: past the reveal deadline there is no ruling. Nobody is slashed,
/// the challenger's bond comes back exactly, the extra stake is unlocked, the segment
/// stands and is paid. Undrawn past the response deadline is no ruling too.
#[tokio::test]
async fn no_ruling_returns_the_bond_and_the_segment_stands() {
    let c = case().await;
    let w = &c.w;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;

    let dispute = w.seg_challenge(&c.job, 0, &challenger).await.unwrap();
    assert_err(
        w.seg_settle(&c.job, &dispute, &settler).await,
        "DisputeNotReady",
    );
    w.advance(w.params.dispute_timeout + 1).await;
    let out = w.seg_settle(&c.job, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    let ev = &events::parse::<SegmentDisputeSettled>(&out.logs)[0];
    assert_eq!(ev.outcome, DisputeOutcome::NoRuling as u8);
    assert_eq!(w.balance(&challenger.payment).await, 10_000);
    let p = w.provider(&c.p.key).await;
    assert_eq!((p.stake, p.locked), (STAKE, 2 * BOND));
    w.seg_finalize(&c.job, 0, &settler).await.unwrap();
    w.assert_conservation().await;

    // Drawn, and nobody reveals: no ruling at the reveal deadline's second + 1.
    let dispute = w.seg_challenge(&c.job, 1, &challenger).await;
    assert_err(dispute, "SegmentNotCommitted");
    w.seg_commit(&c.p, &c.job, 1, 0x22).await.unwrap();
    let dispute = w.seg_challenge(&c.job, 1, &challenger).await.unwrap();
    let state = w.draw(&dispute).await.unwrap();
    w.set_time(state.referee.reveal_deadline).await;
    assert_err(
        w.seg_settle(&c.job, &dispute, &settler).await,
        "DisputeNotReady",
    );
    w.advance(1).await;
    w.seg_settle(&c.job, &dispute, &settler).await.unwrap();
    assert_eq!(w.balance(&challenger.payment).await, 10_000);
    assert_eq!(
        w.segments(&c.job).await.segments[1].state,
        SegmentState::Committed
    );
    w.assert_conservation().await;
}

/// The window by the job convention: a challenge at `challenge_deadline - 1` and at
/// `challenge_deadline` lands, one second after it is refused; a paid, a running and a
/// pending segment, and an index with no segment, cannot be challenged.
#[tokio::test]
async fn the_challenge_window_holds_at_t_minus_1_t_and_t_plus_1() {
    let w = World::new().await;
    let p = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let challenger = w.wallet(10_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let mut jobs = Vec::new();
    for nonce in 0..3 {
        let job = w
            .post_segmented(&buyer, 10 + nonce, &terms(1, PRICE, DUR), t0 + 3_600)
            .await;
        w.seg_claim(&p, &job).await.unwrap();
        w.seg_commit(&p, &job, 0, COMMITTED).await.unwrap();
        jobs.push(job);
    }
    let mut cases = Vec::new();
    for (i, (delta, ok)) in [(-1, true), (0, true), (1, false)].into_iter().enumerate() {
        let deadline = w.segments(&jobs[i]).await.segments[0].challenge_deadline;
        cases.push((jobs[i], deadline + delta, ok));
    }
    for (job, at, ok) in cases {
        w.set_time(at).await;
        let r = w.seg_challenge(&job, 0, &challenger).await;
        if ok {
            let d = r.unwrap();
            assert_eq!(w.dispute_state(&d).await.segment, Some(0));
            assert_eq!(
                w.segments(&job).await.segments[0].state,
                SegmentState::Disputed
            );
        } else {
            assert_err(r, "ChallengeWindowClosed");
        }
        w.assert_conservation().await;
    }
    // Paid: the unchallenged job's segment, once its window closed.
    w.seg_finalize(&jobs[2], 0, &cranker).await.unwrap();
    assert!(!w.job_exists(&jobs[2]).await);
    // Running and pending.
    let job = w
        .post_segmented(&buyer, 20, &terms(2, PRICE, DUR), w.now().await + 3_600)
        .await;
    w.seg_claim(&p, &job).await.unwrap();
    assert_err(
        w.seg_challenge(&job, 0, &challenger).await,
        "SegmentNotCommitted",
    );
    assert_err(
        w.seg_challenge(&job, 1, &challenger).await,
        "SegmentNotCommitted",
    );
    assert_err(
        w.seg_challenge(&job, 5, &challenger).await,
        "SegmentIndexOutOfRange",
    );
    // A paid segment: commit, let the window close, pay, then challenge.
    w.seg_commit(&p, &job, 0, COMMITTED).await.unwrap();
    w.advance(w.params.challenge_window + 1).await;
    w.seg_finalize(&job, 0, &cranker).await.unwrap();
    assert_err(
        w.seg_challenge(&job, 0, &challenger).await,
        "SegmentNotCommitted",
    );
    assert_eq!(
        w.balance(&challenger.payment).await,
        10_000 - 2 * CHALLENGER_BOND
    );
    w.assert_conservation().await;
}

/// A hand-off before the overturn: segment 1 was missed by the cheater and resumed by
/// an honest provider Q from the wrong checkpoint. The overturn releases Q's bond
/// unslashed (it could not know), pays it nothing for work on a wrong root, and the
/// settlement needs Q's account (`SegmentProvidersMissing` without it).
#[tokio::test]
async fn an_overturn_releases_the_bond_of_a_provider_that_resumed_from_the_wrong_checkpoint() {
    let params = gpu_market::state::MarketParams {
        challenge_window: 300,
        unstake_cooldown: 400,
        ..default_params()
    };
    let c = case_with(World::with_params(params, false).await).await;
    let w = &c.w;
    let q = w.register_provider(h100(), STAKE).await;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let cranker = w.wallet(0, 0).await;
    // The cheater misses segment 1; Q resumes it.
    let due = w.segments(&c.job).await.segments[1].deadline;
    w.set_time(due + 1).await;
    w.seg_expire(&c.job, 1, &cranker).await.unwrap();
    w.seg_claim(&q, &c.job).await.unwrap();
    assert_eq!(w.provider(&q.key).await.locked, BOND);
    assert!(w.now().await <= c.committed_at + 300);
    let dispute = w.seg_challenge(&c.job, 0, &challenger).await.unwrap();
    referees_reveal(&c, &dispute, TRUE_ROOT).await;

    // Without Q's account the overturn cannot release Q's bond: refused.
    let j = w.job(&c.job).await;
    let s = w.segments(&c.job).await;
    let d = w.dispute_state(&dispute).await;
    assert_eq!(seg::later_providers(&s, &d), vec![q.key]);
    let provider = w.provider(&c.p.key).await;
    let accounts = gpu_market_client::ix::SettleAccounts {
        settler: settler.pubkey(),
        settler_payment_account: settler.payment,
    };
    let mut bare = seg::settle_ix(&w.market, c.job, &j, &s, &provider, dispute, &d, &accounts);
    bare.accounts.pop();
    assert_err(
        w.send(&[bare], &[&settler.key]).await,
        "SegmentProvidersMissing",
    );
    // Q's account twice: refused too (one account, one write).
    let mut twice = seg::settle_ix(&w.market, c.job, &j, &s, &provider, dispute, &d, &accounts);
    let last = twice.accounts.last().unwrap().clone();
    twice.accounts.push(last);
    assert_err(
        w.send(&[twice], &[&settler.key]).await,
        "SegmentProvidersMissing",
    );

    w.seg_settle(&c.job, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    let qs = w.provider(&q.key).await;
    assert_eq!((qs.stake, qs.locked, qs.active_jobs), (STAKE, 0, 0));
    assert_eq!(
        (qs.reputation.completed, qs.reputation.disputes_lost),
        (0, 0)
    );
    // The cheater: the missed segment's bond and the overturned one's, plus the stake.
    let p = w.provider(&c.p.key).await;
    assert_eq!((p.stake, p.locked), (STAKE - BOND - 2 * BOND, 0));
    assert!(!w.job_exists(&c.job).await);
}

/// Events carry what happened: the challenge names the segment, its root and the
/// amounts locked.
#[tokio::test]
async fn the_challenge_event_names_the_segment_and_its_root() {
    let c = case().await;
    let w = &c.w;
    let challenger = w.wallet(10_000, 0).await;
    let s = w.segments(&c.job).await;
    let id = w.market_state().await.totals.jobs_disputed;
    let ix = seg::challenge_ix(
        &w.market,
        c.job,
        0,
        c.p.key,
        id,
        challenger.pubkey(),
        challenger.payment,
        challenger.stake,
    );
    let out = w.send(&[ix], &[&challenger.key]).await.unwrap();
    let ev = &events::parse::<SegmentChallenged>(&out.logs)[0];
    assert_eq!(
        (ev.index, ev.provider, ev.challenger),
        (0, c.p.key, challenger.pubkey())
    );
    assert_eq!(ev.state_root, s.segments[0].state_root);
    assert_eq!((ev.bond, ev.stake_locked), (CHALLENGER_BOND, BOND));
    assert_eq!(ev.respond_deadline, ev.timestamp + w.params.dispute_timeout);
    w.assert_conservation().await;
}

/// A train-mlp spec over the bundled digits, 20 steps per segment: cheap enough to
/// re-execute a segment in a test, as a referee's worker would.
fn train_spec() -> gpu_market_compute::spec::TrainMlpSpec {
    use gpu_market_compute::spec::{sha256, BlobRef, NamedBlob, TrainMlp, TrainMlpSpec};
    use gpu_market_compute::train::Digits;
    let bytes = std::fs::read(Digits::bundled_path()).unwrap();
    TrainMlpSpec {
        version: 1,
        workload: gpu_market_compute::spec::TrainWorkload::TrainMlp(TrainMlp {
            input: 64,
            hidden: 32,
            classes: 10,
            batch: 32,
            learning_rate: 0.1,
            momentum: 0.9,
            init_seed: 1,
            data_seed: 2,
            steps_per_segment: 20,
            segments: 3,
            checkpoint_store: "file:///tmp/ckpt".into(),
        }),
        inputs: vec![NamedBlob {
            name: "digits".into(),
            blob: BlobRef {
                uri: format!("file://{}", Digits::bundled_path().display()),
                sha256: sha256(&bytes),
                len: bytes.len() as u64,
            },
        }],
    }
}

/// Real roots: the referees re-execute segment 0 from the spec's step-0 state with
/// `train::run_segment` and reveal the checkpoint root they get. A lazy provider that
/// trained 19 of the 20 steps (and committed that checkpoint's root) is overturned; an
/// honest provider's root is the referees' own, and the segment stands.
#[tokio::test]
async fn referees_re_executing_the_segment_overturn_a_short_trained_checkpoint_and_uphold_an_honest_one(
) {
    use gpu_market_compute::train::{run_segment, training_data, CpuTrainer, Digits, Trainer};
    let spec = train_spec();
    let data = training_data(&spec, &std::fs::read(Digits::bundled_path()).unwrap()).unwrap();
    let honest = run_segment(&CpuTrainer, &spec, &data, None, 0).unwrap();
    let start = gpu_market_compute::train::segment::initial_checkpoint(&spec, &data).unwrap();
    let lazy = CpuTrainer.train(&start, &data, 19).unwrap().state_root();
    assert_ne!(lazy, honest.state_root);

    for (committed, overturned) in [(lazy.0, true), (honest.state_root.0, false)] {
        let c = case().await;
        let w = &c.w;
        // Segment 0 of a fresh job, committed with `committed`.
        let job = w
            .post_segmented(&c.buyer, 77, &terms(1, PRICE, DUR), w.now().await + 3_600)
            .await;
        w.seg_claim(&c.p, &job).await.unwrap();
        let commit = seg::commit_ix(
            w.market.market,
            c.p.key,
            job,
            c.p.worker.pubkey(),
            0,
            committed,
            checkpoint_uri(&job, 0),
        );
        w.send(&[commit], &[&c.p.worker]).await.unwrap();
        let challenger = w.wallet(10_000, 0).await;
        let settler = w.wallet(0, 0).await;
        let dispute = w.seg_challenge(&job, 0, &challenger).await.unwrap();
        referees_reveal(&c, &dispute, honest.state_root.0).await;
        let out = w.seg_settle(&job, &dispute, &settler).await.unwrap();
        w.assert_conservation().await;
        let ev = &events::parse::<SegmentDisputeSettled>(&out.logs)[0];
        if overturned {
            assert_eq!(ev.outcome, DisputeOutcome::ProviderWrong as u8);
            assert_eq!(ev.slashed, 2 * BOND);
            assert!(!w.job_exists(&job).await);
        } else {
            assert_eq!(ev.outcome, DisputeOutcome::ChallengerWrong as u8);
            assert_eq!(
                w.balance(&challenger.payment).await,
                10_000 - CHALLENGER_BOND
            );
            assert_eq!(
                w.segments(&job).await.segments[0].state,
                SegmentState::Committed
            );
        }
    }
}
