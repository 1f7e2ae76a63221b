//! Per-segment disputes in a world of their own: [`provoke_segment_dispute_errors`]
//! raises every named error that segment disputes and the refund of pending segments
//! add, each by the move that breaks its rule (the named-errors suite counts them).

use gpu_market::state::MarketParams;
use gpu_market_client::ix::{self, SettleAccounts};
use gpu_market_client::segments as seg;

use crate::referee::{drawn, TRUE_ROOT};
use crate::segments::terms;
use crate::{assert_err, default_params, World};

/// Raises `SegmentDisputeOpen`, `SegmentProvidersMissing`, `DisputeIsOverASegment` and
/// `SegmentRunning`; returns their names. Leaves its world conserved.
pub async fn provoke_segment_dispute_errors() -> Vec<&'static str> {
    let mut hit = Vec::new();
    let mut expect = |r: gpu_market_client::error::Result<_>, name: &'static str| {
        assert_err(r.map(|_: gpu_market_client::chain::TxOutcome| ()), name);
        hit.push(name);
    };
    // A long challenge window, so that a hand-off fits inside it.
    let params = MarketParams {
        challenge_window: 300,
        unstake_cooldown: 400,
        ..default_params()
    };
    let w = World::with_params(params, false).await;
    let seated = w.referee_pool(3).await;
    let p = w.register_provider(crate::h100(), 50_000).await;
    let q = w.register_provider(crate::h100(), 50_000).await;
    let buyer = w.wallet(100_000, 0).await;
    let challenger = w.wallet(10_000, 0).await;
    let settler = w.wallet(0, 0).await;
    let t0 = w.now().await;

    // Past the job's deadline with its segment running: no refund yet.
    let short = w
        .post_segmented(&buyer, 1, &terms(2, 1_000, 100), t0 + 10)
        .await;
    w.seg_claim(&p, &short).await.unwrap();
    w.set_time(t0 + 11).await;
    expect(w.seg_refund(&short, &settler).await, "SegmentRunning");
    w.seg_commit(&p, &short, 0, 0x11).await.unwrap();
    w.seg_refund(&short, &settler).await.unwrap();

    // Segment 0 committed by p, segment 1 missed by p and resumed by q, then segment 0
    // challenged: nothing starts meanwhile.
    let job = w
        .post_segmented(&buyer, 2, &terms(3, 1_000, 100), t0 + 3_600)
        .await;
    w.seg_claim(&p, &job).await.unwrap();
    w.seg_commit(&p, &job, 0, 0x11).await.unwrap();
    let due = w.segments(&job).await.segments[1].deadline;
    w.set_time(due + 1).await;
    w.seg_expire(&job, 1, &settler).await.unwrap();
    w.seg_claim(&q, &job).await.unwrap();
    let dispute = w.seg_challenge(&job, 0, &challenger).await.unwrap();
    let accounts = SettleAccounts {
        settler: settler.pubkey(),
        settler_payment_account: settler.payment,
    };
    // The single-job settlement refuses a segment's dispute (q, running segment 1, is
    // the job's provider, so its constraints pass and the rule decides).
    let d = w.dispute_state(&dispute).await;
    let wrong_path = ix::dispute_settle(
        &w.market,
        job,
        &w.job(&job).await,
        &w.provider(&q.key).await,
        dispute,
        &d,
        &accounts,
    );
    expect(
        w.send(&[wrong_path], &[&settler.key]).await,
        "DisputeIsOverASegment",
    );
    w.seg_commit(&q, &job, 1, 0x22).await.unwrap();
    expect(w.seg_claim(&p, &job).await, "SegmentDisputeOpen");
    let state = w.draw(&dispute).await.unwrap();
    let j = w.job(&job).await;

    // The referees overturn segment 0; without q's account the overturn is refused.
    for r in drawn(&seated, &state) {
        w.commit(r, &dispute, &TRUE_ROOT).await.unwrap();
    }
    for r in drawn(&seated, &state) {
        w.reveal_root(r, &dispute, &TRUE_ROOT).await.unwrap();
    }
    let s = w.segments(&job).await;
    let d = w.dispute_state(&dispute).await;
    let mut bare = seg::settle_ix(
        &w.market,
        job,
        &j,
        &s,
        &w.provider(&p.key).await,
        dispute,
        &d,
        &accounts,
    );
    bare.accounts.pop();
    expect(
        w.send(&[bare], &[&settler.key]).await,
        "SegmentProvidersMissing",
    );
    w.seg_settle(&job, &dispute, &settler).await.unwrap();
    w.assert_conservation().await;
    hit
}
