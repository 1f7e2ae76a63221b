//! The history database across restarts, counted at the wire: a dashboard reads the
//! node through a proxy that counts JSON-RPC methods. The first start fetches each
//! program transaction once; a restart on the same database fetches none; events
//! emitted while it was down are caught up with one `getTransaction` each; and while
//! it runs, `logsSubscribe` brings new transactions in without a restart.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

async fn events_of(url: &str) -> Vec<Value> {
    ok(&format!("{url}/api/events?limit=1000")).await["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// Program transactions the node has seen (what a complete history must hold).
async fn program_signatures(m: &Market) -> usize {
    let rpc = solana_client::nonblocking::rpc_client::RpcClient::new(m.net.rpc_url.clone());
    rpc.get_signatures_for_address(&gpu_market::ID)
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_history_survives_a_restart_without_refetching_and_catches_up() {
    let mut m = market().await;
    let proxy = CountingProxy::start(&m.net.rpc_url).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");

    // First start: everything fetched once.
    let d = m.dashboard(&proxy.url, Some(db.clone())).await;
    let landed = program_signatures(&m).await;
    let first = events_of(&d.url).await;
    let fetched = proxy.count("getTransaction");
    assert!(landed >= 10, "{landed} program transactions");
    assert_eq!(
        fetched as usize, landed,
        "one getTransaction per program transaction"
    );
    let names: Vec<&str> = first.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names.iter().filter(|n| **n == "JobPosted").count(), 4);
    let h = ok(&format!("{}/api/history", d.url)).await;
    assert_eq!(h["transactions_stored"].as_u64().unwrap() as usize, landed);
    d.stop().await;

    // While it is down: one more job posted and claimed.
    let job = m.post().await;
    let claim = gpu_market_client::ix::job_claim(
        m.world.market.market,
        m.provider.key,
        job,
        solana_sdk::signature::Signer::pubkey(&m.provider.worker),
    );
    m.world.send(&[claim], &[&m.provider.worker]).await.unwrap();

    // Restart on the same database: only the two new transactions are fetched, the
    // stored events are the same rows (same ids), and the new ones follow them.
    let before = proxy.count("getTransaction");
    let d = m.dashboard(&proxy.url, Some(db.clone())).await;
    let after = events_of(&d.url).await;
    assert_eq!(proxy.count("getTransaction") - before, 2);
    assert_eq!(&after[..first.len()], &first[..]);
    let new: Vec<&str> = after[first.len()..]
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(new, ["JobPosted", "JobClaimed"]);
    assert!(after[first.len()]["id"].as_i64() > first.last().unwrap()["id"].as_i64());
    let j = ok(&format!("{}/api/jobs/{job}", d.url)).await;
    let timeline: Vec<&str> = j["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(timeline, ["JobPosted", "JobClaimed"]);

    // Live: a transaction sent while it runs arrives through logsSubscribe, long before
    // the poll interval would matter (the poll here is 300 ms, the wait bounded at 20 s).
    let h = ok(&format!("{}/api/history", d.url)).await;
    assert_eq!(h["following"], true, "{h}");
    let n = after.len();
    let live_job = m.post().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = events_of(&d.url).await;
        if now.len() > n {
            assert_eq!(now[n]["name"], "JobPosted");
            assert_eq!(now[n]["data"]["job"], live_job.to_string());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the live transaction never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each transaction was fetched exactly once over the whole life of the database.
    assert_eq!(
        proxy.count("getTransaction") as usize,
        program_signatures(&m).await
    );
    d.stop().await;

    // A third start with nothing new fetches nothing.
    let before = proxy.count("getTransaction");
    let d = m.dashboard(&proxy.url, Some(db)).await;
    assert_eq!(events_of(&d.url).await.len(), n + 1);
    assert_eq!(proxy.count("getTransaction"), before);
    d.stop().await;
}
