//! The demo scenario end to end at a small size, asserting on its report:
//! every job finalized and paid exactly once, the offline provider slashed by
//! the market's rule, token conservation, and reputation ordering.

use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpumkt::cmd::demo::{demo_params, run_scenario, DemoArgs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_settles_every_job_once_and_slashes_the_offline_provider_by_rule() {
    let chain = EmbeddedChain::start(ClockMode::RealTime).await.unwrap();
    let args = DemoArgs {
        jobs: 6,
        providers: 3,
        size: 32,
        timeout: 120,
        workdir: None,
    };
    let mut ticks = 0;
    let r = run_scenario(chain.clone(), chain.faucet(), &args, |_| ticks += 1)
        .await
        .unwrap();
    assert!(ticks > 0, "progress was reported");

    // Every job finalized and paid exactly once.
    assert_eq!((r.jobs_posted, r.jobs_finalized), (6, 6));
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
        (s.buyer_received, s.reporter_received, s.treasury_received),
        (split.buyer, split.reporter, split.treasury)
    );
    assert!(
        s.finished_by.as_ref().is_some_and(|k| *k != s.provider),
        "another provider finished the job"
    );
    let offline = r.providers.iter().find(|p| p.offline).unwrap();
    assert_eq!((offline.jobs_done, offline.slashed), (0, bond));
    assert_eq!(r.market_stats.jobs_expired, 1);

    // Reputation: everyone who delivered ranks above the provider who vanished.
    for p in r.providers.iter().filter(|p| !p.offline) {
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
    };
    let r = run_scenario(chain, &node.faucet, &args, |_| {})
        .await
        .unwrap();
    assert!(r.chain.starts_with("http://127.0.0.1:"), "{}", r.chain);
    assert_eq!(
        (r.jobs_posted, r.jobs_finalized, r.results_verified),
        (4, 4, 4)
    );
    assert_eq!(r.market_stats.jobs_expired, 1);
    assert!(r.ok(), "{:?}", r.invariants);
    node.stop().await;
}
