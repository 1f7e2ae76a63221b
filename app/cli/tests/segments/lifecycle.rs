//! A segmented job's life through the CLI: posted, delivered, paid, extended, ended
//! and watched to its close; and a missed segment handed off to another provider.

use gpu_market_client::chain::Chain;

use gpu_market_client::segments as seg;
use gpu_market_client::{accounts, token, MarketError, Pubkey};
use gpu_market_compute::spec::{Hash32, TrainMlpSpec};
use gpu_market_compute::train::data::BUNDLED_DIGITS_SHA256;
use gpumkt::error::SegmentInputError;
use gpumkt::CliError;

use crate::{events, post_args, s, settle, World, BOUNTY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segmented_job_is_posted_delivered_extended_ended_and_watched() {
    let w = World::new().await;
    let (provider, pkey) = w.provider().await;
    let store = w.store();
    let me = w.buyer.pubkey();
    let fee = |price: u64| gpu_market::math::fee_for(price, 250).unwrap();

    // A dry run shows the escrow, price plus bounty per segment, and sends nothing.
    let mut args = post_args(&store, "1", "3", "1000");
    args.push("--dry-run");
    let dry = w.buyer.run(&args).await;
    let shown = w.text(&w.buyer, &args).await;
    assert!(
        shown.starts_with("escrow 3015: 3 segments, price 3000 + crank bounty 5 each\n"),
        "{shown}"
    );
    assert!(shown.contains("dry run: job"), "{shown}");
    assert_eq!(
        (dry["escrow"].as_u64(), dry["dry_run"].as_bool()),
        (Some(3 * 1_005), Some(true))
    );
    let job: Pubkey = s(&dry, "job").parse().unwrap();
    assert!(w.chain.get_account(&job).await.unwrap().is_none());
    assert_eq!(w.balance(&me).await, 100_000);

    let posted = w.buyer.run(&post_args(&store, "1", "3", "1000")).await;
    assert_eq!(s(&posted, "job"), job.to_string());
    assert_eq!(
        (
            posted["segments"].as_u64(),
            posted["price"].as_u64(),
            posted["escrow"].as_u64()
        ),
        (Some(3), Some(3_000), Some(3_015))
    );
    assert_eq!(w.balance(&me).await, 100_000 - 3_015);

    // The published spec is a train-mlp spec over the bundled digits, in the buyer's store.
    let spec_uri = s(&posted, "spec_uri");
    let spec_hash: Hash32 = serde_json::from_value(posted["spec_hash"].clone()).unwrap();
    let bytes = gpu_market_blobs::fetch(&spec_uri, &spec_hash)
        .await
        .unwrap();
    let spec = TrainMlpSpec::from_bytes(&bytes).unwrap();
    assert_eq!(spec.params().segments, 3);
    assert_eq!(spec.params().checkpoint_store, store);
    let data = spec.data().unwrap();
    assert_eq!(data.sha256.to_string(), BUNDLED_DIGITS_SHA256);
    let fetched = gpu_market_blobs::fetch(&data.uri, &data.sha256)
        .await
        .unwrap();
    spec.check_data(&fetched).unwrap();

    let status = w.buyer.run(&["job", "status", &job.to_string()]).await;
    assert_eq!(
        (
            status["state"].as_str(),
            status["workload"].as_str(),
            status["escrow"].as_u64()
        ),
        (Some("segmented"), Some("train-mlp"), Some(3_015))
    );
    let segs = &status["segments"];
    assert_eq!(
        (
            segs["count"].as_u64(),
            segs["done"].as_u64(),
            segs["pending"].as_u64()
        ),
        (Some(3), Some(0), Some(3))
    );
    assert!(segs["current_provider"].is_null());

    let uri0 = format!("{store}/{job}/0.ckpt");
    let watch = w.watch(job, w.buyer.key());
    let steps = async {
        settle().await;

        // The provider claims segment 0 and commits its checkpoint; with two slots its
        // commit starts segment 1 for it.
        let sender = &w.buyer.ctx.sender;
        let worker = provider.key();
        seg::claim(sender, worker, &w.market, &pkey, &job)
            .await
            .unwrap();
        settle().await;
        seg::commit(
            sender,
            worker,
            &w.market,
            &pkey,
            &job,
            0,
            [7; 32],
            uri0.clone(),
        )
        .await
        .unwrap();
        settle().await;
        let status = w.buyer.run(&["job", "status", &job.to_string()]).await;
        let segs = &status["segments"];
        assert_eq!(
            (
                segs["done"].as_u64(),
                segs["paid"].as_u64(),
                segs["running"].as_u64()
            ),
            (Some(1), Some(0), Some(1))
        );
        assert_eq!(s(segs, "current_provider"), pkey.to_string());
        let s0 = &segs["segments"][0];
        assert_eq!(
            (
                s0["state"].as_str(),
                s0["state_root"].as_str(),
                s0["checkpoint_uri"].as_str()
            ),
            (
                Some("committed"),
                Some(hex::encode([7; 32]).as_str()),
                Some(uri0.as_str())
            )
        );
        assert_eq!(s(s0, "provider"), pkey.to_string());
        assert_eq!(segs["segments"][1]["state"], "running");
        let shown = w.text(&w.buyer, &["job", "status", &job.to_string()]).await;
        for needle in [
            "1/3 done, 0 paid, 1 running, 1 pending",
            &format!("#0 at {uri0}"),
            "committed  1000",
            "0707070707070707",
        ] {
            assert!(shown.contains(needle), "{needle:?} not in:\n{shown}");
        }
        let listed = w.buyer.run(&["job", "list", "--state", "segmented"]).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert_eq!(listed[0]["segments"]["done"], 1);

        // Paid after its window: price minus fee to the provider, the bounty to the cranker.
        w.past_window(&job, 0).await;
        let p_before = w.balance(&provider.pubkey()).await;
        let crank_account = token::ata(&provider.pubkey(), &w.mint);
        seg::finalize(sender, worker, &w.keys, &job, 0, crank_account)
            .await
            .unwrap();
        settle().await;
        assert_eq!(
            w.balance(&provider.pubkey()).await,
            p_before + 1_000 - fee(1_000) + BOUNTY
        );
        let status = w.buyer.run(&["job", "status", &job.to_string()]).await;
        assert_eq!(
            status["segments"]["segments"][0]["paid"],
            1_000 - fee(1_000)
        );

        // Extend by two segments at 1500: exactly (1500 + bounty) each leaves the buyer.
        let before = w.balance(&me).await;
        let ext = w
            .buyer
            .run(&[
                "job",
                "extend",
                &job.to_string(),
                "--segments",
                "2",
                "--segment-price",
                "1500",
            ])
            .await;
        assert_eq!(
            (ext["escrow"].as_u64(), ext["count"].as_u64()),
            (Some(3_010), Some(5))
        );
        assert_eq!(w.balance(&me).await, before - 3_010);
        settle().await;

        // End while segment 1 runs: segments 2, 3 and 4 never started and come back,
        // exactly price plus bounty each; a dry run shows the same refund first.
        let before = w.balance(&me).await;
        let dry = w
            .buyer
            .run(&["job", "end", &job.to_string(), "--dry-run"])
            .await;
        assert_eq!(dry["refunded"], 1_005 + 2 * 1_505);
        assert_eq!(w.balance(&me).await, before);
        let ended = w.buyer.run(&["job", "end", &job.to_string()]).await;
        assert_eq!(
            (
                ended["segments_refunded"].as_u64(),
                ended["refunded"].as_u64(),
                ended["running"].as_u64()
            ),
            (Some(3), Some(4_015), Some(1))
        );
        assert_eq!(w.balance(&me).await, before + 4_015);
        settle().await;
        // Ended once: a second end or an extension is the program's JobAlreadyEnded, unsent.
        let before = w.balance(&me).await;
        for args in [
            vec!["job", "end", &*job.to_string()]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
            ["job", "extend", &job.to_string(), "--segments", "1"]
                .into_iter()
                .map(String::from)
                .collect(),
        ] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let e = w.buyer.try_run(&args).await.unwrap_err();
            assert!(
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::Refused {
                        rule: MarketError::JobAlreadyEnded
                    })
                ),
                "{args:?}: {e:?}"
            );
            assert_eq!(e.exit_code(), 2);
        }
        assert_eq!(w.balance(&me).await, before);

        // The running segment still commits and is paid; its payment closes the job.
        let uri1 = format!("{store}/{job}/1.ckpt");
        seg::commit(sender, worker, &w.market, &pkey, &job, 1, [8; 32], uri1)
            .await
            .unwrap();
        settle().await;
        w.past_window(&job, 1).await;
        seg::finalize(sender, worker, &w.keys, &job, 1, crank_account)
            .await
            .unwrap();
    };
    let (watched, ()) = tokio::join!(watch, steps);
    assert!(w.chain.get_account(&job).await.unwrap().is_none());
    // The buyer paid exactly the two delivered segments, price plus bounty each.
    assert_eq!(w.balance(&me).await, 100_000 - 2 * 1_005);

    let seen = events(&watched);
    assert_eq!(
        seen,
        [
            "started#0",
            "committed#0",
            "started#1",
            "paid#0",
            "extended",
            "refunded",
            "ended",
            "committed#1",
            "paid#1",
            "closed"
        ],
        "{watched}"
    );
    let changes = watched["changes"].as_array().unwrap();
    let committed = changes.iter().find(|c| c["event"] == "committed").unwrap();
    assert_eq!(
        (
            committed["state_root"].as_str(),
            committed["checkpoint_uri"].as_str()
        ),
        (Some(hex::encode([7; 32]).as_str()), Some(uri0.as_str()))
    );
    let paid: Vec<u64> = changes
        .iter()
        .filter(|c| c["event"] == "paid")
        .map(|c| c["amount"].as_u64().unwrap())
        .collect();
    assert_eq!(paid, [1_000 - fee(1_000); 2]);
}

/// The attack: a provider claims and never delivers. Its segment expires (its bond
/// slashed), the watch reports the miss and the hand-off, and another provider resumes
/// from the last committed checkpoint; the buyer pays nothing for the missed segment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_segment_is_handed_off_and_the_watch_says_so() {
    let w = World::new().await;
    let (a, akey) = w.provider().await;
    let (b, bkey) = w.provider().await;
    let store = w.store();
    let me = w.buyer.pubkey();
    let posted = w.buyer.run(&post_args(&store, "7", "2", "1000")).await;
    let job: Pubkey = s(&posted, "job").parse().unwrap();
    let sender = &w.buyer.ctx.sender;
    // What A's miss costs it, by the job's frozen terms: segment 1's bond, split by the
    // market's rule between the buyer, the reporter (B, who expires it) and the treasury.
    let terms = accounts::fetch_job(&*w.chain, &job).await.unwrap().terms;
    let bond = gpu_market::math::bond_for(1_000, terms.bond_bps, terms.bond_min).unwrap();
    let split =
        gpu_market::math::slash_split(bond, terms.slash_buyer_bps, terms.slash_reporter_bps)
            .unwrap();
    let payout = gpu_market::math::payout_for(1_000, terms.fee_bps).unwrap();
    let (a_before, b_before) = (w.balance(&a.pubkey()).await, w.balance(&b.pubkey()).await);
    let a_stake = accounts::fetch_provider(&*w.chain, &akey)
        .await
        .unwrap()
        .stake;
    let watch_text = w.watch_text(job, w.buyer.key());
    let watch = w.watch(job, w.buyer.key());
    let steps = async {
        settle().await;
        seg::claim(sender, a.key(), &w.market, &akey, &job)
            .await
            .unwrap();
        seg::commit(
            sender,
            a.key(),
            &w.market,
            &akey,
            &job,
            0,
            [1; 32],
            format!("{store}/{job}/0.ckpt"),
        )
        .await
        .unwrap();
        settle().await;
        // Its commit started segment 1 for A (two slots); A goes silent; past segment 1's deadline anyone expires it.
        let late = w.segments(&job).await.segments[1].deadline + 1 - w.now().await;
        w.chain.advance(late).await.unwrap();
        let stake_account = token::ata(&b.pubkey(), &w.mint);
        seg::expire(sender, b.key(), &w.keys, &job, 1, stake_account)
            .await
            .unwrap();
        settle().await;
        let status = w.buyer.run(&["job", "status", &job.to_string()]).await;
        assert_eq!(status["segments"]["segments"][1]["state"], "pending");
        assert_eq!(status["segments"]["last_checkpoint_index"], 0);
        seg::claim(sender, b.key(), &w.market, &bkey, &job)
            .await
            .unwrap();
        settle().await;
        seg::commit(
            sender,
            b.key(),
            &w.market,
            &bkey,
            &job,
            1,
            [2; 32],
            format!("{store}/{job}/1.ckpt"),
        )
        .await
        .unwrap();
        settle().await;
        w.past_window(&job, 1).await;
        let crank = token::ata(&b.pubkey(), &w.mint);
        seg::finalize(sender, b.key(), &w.keys, &job, 0, crank)
            .await
            .unwrap();
        seg::finalize(sender, b.key(), &w.keys, &job, 1, crank)
            .await
            .unwrap();
    };
    let (watched, shown, ()) = tokio::join!(watch, watch_text, steps);
    for needle in [
        format!("segment 1 expired: {akey} missed its deadline"),
        format!("hand-off: segment 1 resumed by {bkey} from {akey}'s checkpoint 0"),
        format!("segment 0 paid: {} to {akey}", payout),
        "closed: every segment settled".to_string(),
    ] {
        assert!(shown.contains(&needle), "{needle:?} not in:\n{shown}");
    }
    let seen = events(&watched);
    assert_eq!(
        seen,
        [
            "started#0",
            "committed#0",
            "started#1",
            "expired#1",
            "started#1",
            "committed#1",
            "paid#0",
            "paid#1",
            "closed"
        ],
        "{watched}"
    );
    let changes = watched["changes"].as_array().unwrap();
    let expired = changes.iter().find(|c| c["event"] == "expired").unwrap();
    assert_eq!(s(expired, "provider"), akey.to_string());
    let handoff = changes
        .iter()
        .filter(|c| c["event"] == "started")
        .nth(2)
        .unwrap();
    assert_eq!(
        (s(handoff, "provider"), s(handoff, "handoff_from")),
        (bkey.to_string(), akey.to_string())
    );
    // Each provider is paid for the segment it delivered; A loses segment 1's bond from
    // its stake; the buyer paid for two segments and got its share of the slash; B
    // earned the reporter's share and both bounties.
    assert_eq!(w.balance(&a.pubkey()).await, a_before + payout);
    assert_eq!(
        accounts::fetch_provider(&*w.chain, &akey)
            .await
            .unwrap()
            .stake,
        a_stake - bond
    );
    assert_eq!(
        w.balance(&b.pubkey()).await,
        b_before + split.reporter + payout + 2 * BOUNTY
    );
    assert_eq!(w.balance(&me).await, 100_000 - 2 * 1_005 + split.buyer);
    assert!(split.buyer > 0 && split.reporter > 0);
}
