//! @solana/web3.js against the localnet: `clients/ts/localnet.mjs` connects,
//! subscribes to slots and logs, airdrops, sends a transfer and reads it
//! back, with web3.js checking every response against its own schema. It
//! needs `node` (20 or later) and `npm ci --prefix clients/ts`; without
//! them the test fails and says so, it does not pass by skipping.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// The whole script, with room for a slow machine.
const SCRIPT_WAIT: Duration = Duration::from_secs(120);

fn clients_ts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/ts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web3js_connects_transfers_reads_back_and_subscribes() {
    let dir = clients_ts();
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        node_ok,
        "`node` is not on PATH: install Node.js 20 or later, then run `npm ci --prefix clients/ts`"
    );
    assert!(
        dir.join("node_modules/@solana/web3.js").is_dir(),
        "{} has no node_modules: run `npm ci --prefix clients/ts` from the repository root",
        dir.display()
    );

    let net = start().await;
    let (rpc, ws) = (net.rpc_url.clone(), net.ws_url.clone());
    let script = dir.clone();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("localnet.mjs")
            .arg(&rpc)
            .arg(&ws)
            .current_dir(script)
            .output()
    });
    let out = tokio::time::timeout(SCRIPT_WAIT, run)
        .await
        .expect("the web3.js script finishes")
        .unwrap()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "web3.js script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for step in [
        "ok connect",
        "ok onSlotChange",
        "ok airdrop",
        "ok transfer",
        "ok getTransaction",
        "ok getParsedTransaction",
        "ok getSignaturesForAddress",
        "ok getRecentPrioritizationFees",
        "ok onLogs (mentions and all)",
    ] {
        assert!(stdout.contains(step), "missing `{step}`:\n{stdout}");
    }
    net.stop().await;
}
