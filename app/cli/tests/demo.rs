//! The demo scenario end to end at a small size, asserting on its report:
//! every job finalized and paid exactly once, the offline provider slashed by
//! the market's rule, the cheating provider's wrong result challenged by the
//! auditor, proven on chain and slashed by the rule's exact amounts (bond plus
//! locked stake, the buyer's share and refund, the challenger's reward), token
//! conservation, and reputation ordering; and the training act: a segmented train-mlp
//! job whose provider is killed mid-run and which another provider finishes from the
//! last checkpoint, each paid exactly for its segments, the buyer exactly the escrow,
//! the missed segment's bond slashed by the split, the final checkpoint root equal to
//! an uninterrupted run's and the model above the stated held-out accuracy.

use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpumkt::cmd::demo::{demo_params, run_scenario, DemoArgs, TrainingReport, MIN_ACCURACY};

/// The training act's figures, each against the rule (4 segments of 200_000, the
/// provider killed in segment 2).
fn assert_training(t: &TrainingReport) {
    let params = demo_params();
    let price = 200_000u64;
    let fee = gpu_market::math::fee_for(price, params.fee_bps).unwrap();
    let payout = price - fee;
    assert_eq!((t.price_per_segment, t.fee_per_segment), (price, fee));
    assert_eq!(t.segments.len(), 4);
    assert_eq!(t.killed_at, 2);
    for s in &t.segments {
        let ran = if s.index < 2 {
            &t.killed_provider
        } else {
            &t.resumed_by
        };
        assert_eq!(&s.provider, ran, "segment {}", s.index);
        assert_eq!(s.paid, payout, "segment {}", s.index);
    }
    assert_ne!(t.killed_provider, t.resumed_by);
    assert_eq!((t.killed_paid, t.killed_expected), (2 * payout, 2 * payout));
    assert_eq!(
        (t.resumer_paid, t.resumer_expected),
        (2 * payout, 2 * payout)
    );
    let escrow = 4 * (price + params.crank_bounty);
    assert_eq!((t.buyer_paid, t.buyer_expected), (escrow, escrow));
    let bond = gpu_market::math::bond_for(price, params.bond_bps, params.bond_min).unwrap();
    let split =
        gpu_market::math::slash_split(bond, params.slash_buyer_bps, params.slash_reporter_bps)
            .unwrap();
    assert_eq!((t.missed_bond, t.slashed), (bond, bond));
    assert_eq!(
        (t.slash_to_buyer, t.slash_to_reporter),
        (split.buyer, split.reporter)
    );
    assert_eq!(t.final_root, t.reference_root, "bit for bit");
    assert_eq!((t.steps, t.held_out), (600, 359));
    assert!(t.accuracy >= MIN_ACCURACY, "accuracy {}", t.accuracy);
    assert!(t.invariants_ok && t.conservation_ok);
    assert!(t.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_settles_every_job_once_and_slashes_the_offline_provider_and_the_cheater_by_rule() {
    let chain = EmbeddedChain::start(ClockMode::RealTime).await.unwrap();
    let args = DemoArgs {
        jobs: 6,
        providers: 3,
        size: 32,
        timeout: 120,
        workdir: None,
        ..Default::default()
    };
    let mut ticks = 0;
    let r = run_scenario(chain.clone(), chain.faucet(), &args, |_| ticks += 1)
        .await
        .unwrap();
    assert!(ticks > 0, "progress was reported");

    // Every job finalized and paid exactly once, but the cheated one (the sixth
    // provider's, posted by the second buyer), which is slashed instead.
    assert_eq!((r.jobs_posted, r.jobs_finalized, r.jobs_slashed), (7, 6, 1));
    assert_eq!(r.providers.iter().map(|p| p.jobs_done).sum::<u64>(), 6);
    assert_eq!(r.market_stats.jobs_live, 0);
    let params = demo_params();
    let price = 1_000_000u64;
    let payout = price - gpu_market::math::fee_for(price, params.fee_bps).unwrap();
    for p in &r.providers {
        assert_eq!(
            p.earnings,
            p.jobs_done * payout,
            "{}: paid once per job",
            p.name
        );
    }
    assert_eq!(r.market_stats.volume_paid, 6 * payout);
    assert_eq!(
        (r.results_verified, r.results_rejected),
        (6, 0),
        "the buyer checked every result"
    );

    // The offline provider's bond, slashed by the rule.
    let s = r.offline.as_ref().unwrap();
    let bond = gpu_market::math::bond_for(price, params.bond_bps, params.bond_min).unwrap();
    let split =
        gpu_market::math::slash_split(bond, params.slash_buyer_bps, params.slash_reporter_bps)
            .unwrap();
    assert_eq!(s.bond, bond);
    assert_eq!(
        (
            s.buyer_received,
            s.reporter_received,
            s.expected_to_treasury
        ),
        (split.buyer, split.reporter, split.treasury)
    );
    assert!(
        s.finished_by.as_ref().is_some_and(|k| *k != s.provider),
        "another provider finished the job"
    );
    let offline = r.providers.iter().find(|p| p.offline).unwrap();
    let offline_treasury = split.treasury;
    assert_eq!((offline.jobs_done, offline.slashed), (0, bond));
    assert_eq!(r.market_stats.jobs_expired, 1);

    // The cheat: the cheated buyer's own check rejected it; the auditor found it
    // wrong (C[0][0], the element the cheat mode corrupts), challenged it, and the
    // provider's own (wrong) reveal lost the ruling.
    assert_eq!(r.disputes.len(), 1);
    let d = &r.disputes[0];
    assert!(d.buyer_check_rejected);
    assert_eq!((d.row, d.col), (Some(0), Some(0)));
    assert_eq!(d.outcome.as_deref(), Some("provider_wrong"));
    assert_eq!(r.auditor_wrong, 1, "only the cheat is wrong");
    assert!(
        r.auditor_checked >= 2,
        "the auditor checked honest results too"
    );
    // Slashed by the rule: the job's bond plus as much again of free stake.
    let cheat_price = 2 * price;
    let cheat_bond =
        gpu_market::math::bond_for(cheat_price, params.bond_bps, params.bond_min).unwrap();
    let cheater = r.providers.iter().find(|p| p.cheater).unwrap();
    let slashed = 2 * cheat_bond;
    assert_eq!(
        (d.bond, d.stake_locked, d.slashed),
        (cheat_bond, cheat_bond, slashed)
    );
    assert_eq!(
        (cheater.jobs_done, cheater.slashed, cheater.earnings),
        (0, slashed, 0)
    );
    assert_eq!(
        cheater.worker.disputes_answered, 1,
        "the cheater revealed its row"
    );
    let cheat_split =
        gpu_market::math::slash_split(slashed, params.slash_buyer_bps, params.slash_reporter_bps)
            .unwrap();
    assert!(cheat_split.buyer > 0 && cheat_split.reporter > 0 && cheat_split.treasury > 0);
    assert_eq!(
        (
            d.buyer_received,
            d.challenger_received,
            d.expected_to_treasury
        ),
        (
            cheat_split.buyer,
            cheat_split.reporter,
            cheat_split.treasury
        )
    );
    // The buyer's escrow back less the crank bounty, i.e. the price; the challenger's
    // bond back, and the settler's bounty (the auditor settled it).
    assert_eq!(d.buyer_refunded, cheat_price);
    assert!(d.challenger_bond_returned);
    assert_eq!(d.challenger_bounty, params.crank_bounty);
    assert!(d.ok());
    // The treasury swept both slashes' shares, exactly.
    assert_eq!(
        r.treasury_slash_received,
        offline_treasury + cheat_split.treasury
    );

    // Reputation: everyone who delivered ranks above the provider who vanished.
    for p in r.providers.iter().filter(|p| !p.offline && !p.cheater) {
        assert!(
            p.reputation_score > offline.reputation_score,
            "{} outranks the offline provider",
            p.name
        );
    }

    // Books balanced.
    assert!(r.invariants.ok, "{:?}", r.invariants);
    assert!(
        r.conservation.iter().all(|c| c.ok) && r.conservation.len() == 2,
        "{:?}",
        r.conservation
    );
    assert_training(r.training.as_ref().unwrap());
    assert!(r.ok());
    assert!(r.duration_s < 120.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_scenario_runs_over_json_rpc_against_a_local_node() {
    use gpu_market_client::chain::rpc::RpcChain;
    use gpu_market_localnet::{Localnet, LocalnetConfig};
    let node = Localnet::start(LocalnetConfig {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        clock: ClockMode::RealTime,
    })
    .await
    .unwrap();
    let chain = std::sync::Arc::new(RpcChain::with_ws(&node.rpc_url, &node.ws_url));
    let args = DemoArgs {
        jobs: 4,
        providers: 2,
        size: 16,
        timeout: 120,
        workdir: None,
        ..Default::default()
    };
    let r = run_scenario(chain, &node.faucet, &args, |_| {})
        .await
        .unwrap();
    assert!(r.chain.starts_with("http://127.0.0.1:"), "{}", r.chain);
    assert_eq!(
        (
            r.jobs_posted,
            r.jobs_finalized,
            r.jobs_slashed,
            r.results_verified
        ),
        (5, 4, 1, 4)
    );
    assert_eq!(r.market_stats.jobs_expired, 1);
    assert_training(r.training.as_ref().unwrap());
    assert!(r.ok(), "{:?}", r.invariants);
    node.stop().await;
}
