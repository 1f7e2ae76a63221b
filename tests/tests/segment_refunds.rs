//! Segmented jobs' money that no provider holds up: the anyone-callable refund of
//! pending segments past the job's deadline (t-1, t, t+1; a running segment holds it off;
//! the caller's bounty; the crank sending it), and the segments address pre-funded
//! before its post. Token conservation with the audit's invariants after each step.

use gpu_market::events::SegmentsRefunded;
use gpu_market_client::chain::Chain;
use gpu_market_client::{crank, events, pda, token};
use gpu_market_tests::segments::*;
use gpu_market_tests::*;

const STAKE: u64 = 50_000;
const DUR: i64 = 100;
const PRICE: u64 = 1_000;
/// Price plus crank bounty.
const ESCROW: u64 = 1_010;
const BOUNTY: u64 = 10;
const COMMITTED: u8 = 0x11;

/// Past the job's deadline with no segment running, anyone refunds the pending
/// segments: refused at the deadline second and while one runs, accepted one second
/// after once none runs; the caller earns one bounty, the buyer gets the rest, and the
/// crank sends it by itself for another job.
#[tokio::test]
async fn pending_segments_are_refunded_by_anyone_past_the_deadline_and_by_the_crank() {
    let w = World::new().await;
    let p = w.register_provider(h100(), STAKE).await;
    let buyer = w.wallet(100_000, 0).await;
    let caller = w.wallet(0, 0).await;
    let t0 = w.now().await;
    let deadline = t0 + 50;
    let job = w
        .post_segmented(&buyer, 30, &terms(3, PRICE, DUR), deadline)
        .await;
    let crank_job = w
        .post_segmented(&buyer, 31, &terms(2, PRICE, DUR), deadline)
        .await;
    w.seg_claim(&p, &job).await.unwrap();
    let after_post = w.balance(&buyer.payment).await;

    w.set_time(deadline - 1).await;
    assert_err(w.seg_refund(&job, &caller).await, "DeadlineNotPassed");
    w.set_time(deadline).await;
    assert_err(w.seg_refund(&job, &caller).await, "DeadlineNotPassed");
    w.set_time(deadline + 1).await;
    assert_err(w.seg_refund(&job, &caller).await, "SegmentRunning");
    // On time for the segment, past the job's deadline: it commits and starts nothing.
    w.seg_commit(&p, &job, 0, COMMITTED).await.unwrap();
    let out = w.seg_refund(&job, &caller).await.unwrap();
    w.assert_conservation().await;
    let ev = &events::parse::<SegmentsRefunded>(&out.logs)[0];
    assert_eq!(
        (ev.segments_refunded, ev.refunded, ev.bounty, ev.closed),
        (2, 2 * ESCROW - BOUNTY, BOUNTY, false)
    );
    assert_eq!(w.balance(&caller.payment).await, BOUNTY);
    assert_eq!(
        w.balance(&buyer.payment).await,
        after_post + 2 * ESCROW - BOUNTY
    );
    let s = w.segments(&job).await;
    assert!(s.ended && s.count == 1);
    assert_err(w.seg_refund(&job, &caller).await, "SegmentNotPending");
    // The crank refunds the other job (nothing ever started) and earns the bounty.
    let cranker = w.wallet(0, 0).await;
    let report = crank::crank_once(&w.sender, &cranker.key, &w.market.market)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.segments_refunded, vec![format!("{crank_job}#0")]);
    let mine = token::ata(&cranker.pubkey(), &w.payment_mint);
    w.track(w.payment_mint, mine);
    w.track(w.stake_mint, token::ata(&cranker.pubkey(), &w.stake_mint));
    assert_eq!(w.balance(&mine).await, BOUNTY);
    assert!(!w.job_exists(&crank_job).await, "nothing left: closed");
    assert_eq!(
        w.balance(&buyer.payment).await,
        after_post + 2 * (2 * ESCROW - BOUNTY)
    );
    w.assert_conservation().await;
}

/// The attack: a griefer sends lamports to a job's predictable segments address before
/// the buyer posts, hoping the post fails. The post lands anyway.
#[tokio::test]
async fn lamports_sent_to_the_segments_address_before_the_post_cannot_block_it() {
    let w = World::new().await;
    let buyer = w.wallet(100_000, 0).await;
    let griefer = w.wallet(0, 0).await;
    let job = pda::job(&w.market.market, &buyer.pubkey(), 40);
    let target = pda::segments(&job);
    let transfer =
        solana_system_interface::instruction::transfer(&griefer.pubkey(), &target, 1_000_000);
    w.send(&[transfer], &[&griefer.key]).await.unwrap();
    assert_eq!(
        w.chain
            .get_account(&target)
            .await
            .unwrap()
            .unwrap()
            .lamports,
        1_000_000
    );
    let posted = w
        .post_segmented(&buyer, 40, &terms(2, PRICE, DUR), w.now().await + 3_600)
        .await;
    assert_eq!(posted, job);
    let s = w.segments(&job).await;
    assert_eq!((s.count, s.job), (2, job));
    w.assert_conservation().await;
}
