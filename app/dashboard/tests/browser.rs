//! The web app in headless Chromium, end to end: a market on a manual-clock localnet
//! (the suites' market of `common`: jobs finalized, submitted, cheated and open, and a
//! live segmented job with one segment paid), the
//! dashboard serving `app/web/dist` over it, and `app/web/e2e/e2e.mjs` (Node,
//! playwright-core driving Debian's /usr/bin/chromium) opening every page and
//! comparing each figure with `audit stats` as `gpumkt audit stats --output json`
//! writes it (the same `audit::stats` over the same snapshot, the same serializer),
//! taken while the clock stands still. The script then posts a job through the page
//! with a funded keypair registered as a Wallet Standard wallet, and a second job through
//! a wallet of the same key offering only `solana:signAndSendTransaction`; this test plays the
//! provider (claim, the true product, submit, the challenge window, finalize) and the
//! script watches the job settle, downloads and checks the result. Screenshots of every
//! page land in `target/e2e-screenshots` (or `$OUT`).
//!
//! Needs `node` 20+, `npm ci --prefix app/web && npm run build --prefix app/web`, and
//! Chromium at /usr/bin/chromium (`apt-get install chromium`); without them the test
//! fails and says which is missing, it does not pass by skipping.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use gpu_market::state::JobState;
use gpu_market_client::{audit, Pubkey};
use gpu_market_dashboard::{default_web_dir, Dashboard, DashboardConfig};
use tokio::io::AsyncReadExt;

/// The whole script: about twenty pages and one job's life, on a slow shared machine.
const SCRIPT_WAIT: Duration = Duration::from_secs(420);
const CHROMIUM: &str = "/usr/bin/chromium";

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web")
}

fn screenshots() -> PathBuf {
    match std::env::var_os("OUT") {
        Some(out) => PathBuf::from(out).join("e2e-screenshots"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-screenshots"),
    }
}

/// What the script needs, each missing piece named with the command that provides it.
fn prerequisites(web: &Path) {
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        node_ok,
        "`node` is not on PATH: install Node.js 20 or later"
    );
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "{} has no node_modules: run `npm ci --prefix app/web`",
        web.display()
    );
    assert!(
        default_web_dir().join("index.html").is_file(),
        "the web app is not built: run `npm run build --prefix app/web`"
    );
    assert!(
        Path::new(CHROMIUM).is_file(),
        "no Chromium at {CHROMIUM}: run `apt-get install chromium`"
    );
}

/// The jobs of this market that are open and were not posted by the fixture: the page's.
async fn posted_by_page(m: &Market) -> Vec<Pubkey> {
    let snap = audit::Snapshot::load(&*m.rpc, &m.world.market.market)
        .await
        .expect("snapshot");
    snap.jobs
        .iter()
        .filter(|(k, j)| j.state == JobState::Open && *k != m.open)
        .map(|(k, _)| *k)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_shows_audit_figures_and_a_wallet_posts_a_job_that_settles() {
    let web = web_dir();
    prerequisites(&web);
    let mut m = market().await;
    // History spread over chain time, so that the charts have a shape: six more jobs,
    // a few minutes apart, each served, past its challenge window and finalized.
    for i in 0..6u64 {
        m.world.advance(150).await;
        let job = m.post().await;
        // Claimed and submitted in one second: the metering allows at most 2 GPUs x 1 s.
        m.claim_and_submit(&job, false, 900 + 200 * i).await;
        m.world.advance(m.world.params.challenge_window + 1).await;
        m.world.finalize(&job, &m.cranker).await.expect("finalize");
    }

    // A segmented job of three segments, live: segment 0 run for 20 s on the
    // provider's 2 GPUs, committed and paid; what follows it as the program decides.
    let terms = gpu_market_tests::segments::terms(3, PRICE, 600);
    let deadline = m.world.now().await + 7_200;
    let segmented = m
        .world
        .post_segmented(&m.buyer, 9_000, &terms, deadline)
        .await;
    m.world
        .seg_claim(&m.provider, &segmented)
        .await
        .expect("segment 0 starts");
    m.world.advance(20).await;
    m.world
        .seg_commit(&m.provider, &segmented, 0, 7)
        .await
        .expect("segment 0 commits");
    m.world.advance(m.world.params.challenge_window + 1).await;
    m.world
        .seg_finalize(&segmented, 0, &m.cranker)
        .await
        .expect("segment 0 is paid");

    // A segmented job of two segments run to the end: both committed and paid, its
    // accounts closed; its page's segments come from the history.
    // Its own provider: the suites' one runs as many jobs at once as it may.
    let runner = m
        .world
        .register_provider(gpu_market_tests::gpu("H100", 81_920, 2, 90), 100_000)
        .await;
    let terms2 = gpu_market_tests::segments::terms(2, PRICE, 600);
    let settled = m
        .world
        .post_segmented(&m.buyer, 9_001, &terms2, deadline)
        .await;
    m.world
        .seg_claim(&runner, &settled)
        .await
        .expect("segment 0 starts");
    for index in 0..2u8 {
        m.world.advance(10).await;
        m.world
            .seg_commit(&runner, &settled, index, 8 + index)
            .await
            .expect("the segment commits");
        if index == 0 && m.world.segments(&settled).await.running().is_none() {
            m.world
                .seg_claim(&runner, &settled)
                .await
                .expect("segment 1 starts");
        }
    }
    m.world.advance(m.world.params.challenge_window + 1).await;
    for index in 0..2u8 {
        m.world
            .seg_finalize(&settled, index, &m.cranker)
            .await
            .expect("the segment is paid");
    }

    // The dashboard as `gpumkt dashboard` runs it, serving the built app.
    let db = tempfile::tempdir().unwrap();
    let mut cfg = DashboardConfig::new(&m.net.rpc_url, &m.net.ws_url, m.world.market.market);
    cfg.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    cfg.cluster = "localnet".into();
    cfg.db_path = Some(db.path().join("history.sqlite"));
    cfg.blob_store = Some(m.blob_dir.path().display().to_string());
    cfg.poll_every = Duration::from_millis(300);
    let d = Dashboard::start(cfg).await.expect("dashboard starts");

    // audit stats at this chain state, written as `--output json` writes it.
    let snap = audit::Snapshot::load(&*m.rpc, &m.world.market.market)
        .await
        .unwrap();
    let before = audit::stats(&snap);
    // The snapshot read the segmented job's segments from the node: segment 0 paid
    // its provider the price less the fee, for 20 s x 2 GPUs of metered time.
    let seg = before
        .segmented_jobs
        .iter()
        .find(|j| j.job == segmented.to_string())
        .expect("audit stats lists the live segmented job");
    assert_eq!(seg.segments.len(), 3);
    let s0 = &seg.segments[0];
    assert_eq!((s0.state, s0.paid), ("paid", true));
    assert_eq!(s0.provider, Some(m.provider.key.to_string()));
    assert_eq!(s0.gpu_ms, 40_000);
    assert_eq!(
        s0.revenue,
        gpu_market::math::payout_for(PRICE, m.world.params.fee_bps).unwrap()
    );
    assert_eq!(s0.state_root, Some(hex::encode([7u8; 32])));
    // The settled one is in no account any more, so not in audit stats; the API
    // rebuilds its segments from its history: both paid, each for its own 10 s x 2 GPUs.
    assert!(before
        .segmented_jobs
        .iter()
        .all(|j| j.job != settled.to_string()));
    let (status, detail) = get(&format!("{}/api/jobs/{settled}", d.url)).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["job"]["settled"], true, "{detail}");
    let h = &detail["segments"];
    let payout = gpu_market::math::payout_for(PRICE, m.world.params.fee_bps).unwrap();
    let fee = gpu_market::math::fee_for(PRICE, m.world.params.fee_bps).unwrap();
    assert_eq!(h["segments"].as_array().map(Vec::len), Some(2), "{h}");
    for (i, root) in [(0usize, 8u8), (1, 9)] {
        let r = &h["segments"][i];
        assert_eq!(r["state"], "paid", "{r}");
        assert_eq!(r["provider"], runner.key.to_string());
        assert_eq!(r["gpu_ms"], 20_000, "{r}");
        assert_eq!(
            (r["revenue"].as_u64(), r["fee"].as_u64()),
            (Some(payout), Some(fee))
        );
        assert_eq!(r["state_root"], hex::encode([root; 32]));
    }
    assert_eq!(h["segments_paid"], 2);
    assert_eq!(h["revenue"].as_u64(), Some(2 * payout));
    let work = tempfile::tempdir().unwrap();
    let stats_file = work.path().join("stats.json");
    serde_json::to_writer_pretty(std::fs::File::create(&stats_file).unwrap(), &before).unwrap();

    // The page's buyer: a funded wallet whose key only the script's Node side holds.
    let buyer = m.world.wallet(100 * PRICE, 0).await;
    let key_file = work.path().join("buyer.json");
    std::fs::write(
        &key_file,
        serde_json::to_vec(&buyer.key.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();

    let out = screenshots();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg("e2e/e2e.mjs")
        .arg("--url")
        .arg(&d.url)
        .arg("--stats")
        .arg(&stats_file)
        .arg("--keypair")
        .arg(&key_file)
        .arg("--out")
        .arg(&out)
        // The suites' provider computes 8 x 8 x 8 gemm-i8 (`Market::claim_and_submit`).
        .arg("--post-size")
        .arg("8")
        .arg("--post-price-units")
        .arg(PRICE.to_string())
        .current_dir(&web)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Ok(shot) = std::env::var("GPUMKT_README_SHOT") {
        cmd.arg("--readme-shot").arg(shot);
    }
    let mut child = cmd.spawn().expect("node starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (mut so, mut se) = (String::new(), String::new());
    let output = async {
        let (a, b) = tokio::join!(
            stdout.read_to_string(&mut so),
            stderr.read_to_string(&mut se)
        );
        a.and(b)
    };

    // The provider's side while the script runs: each job the page posts is claimed,
    // computed and submitted, and finalized once its challenge window has passed.
    let mut served: Vec<Pubkey> = Vec::new();
    let provider = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for job in posted_by_page(&m).await {
                if served.contains(&job) {
                    continue;
                }
                m.claim_and_submit(&job, false, 1_200).await;
                m.world.advance(m.world.params.challenge_window + 1).await;
                m.world
                    .finalize(&job, &m.cranker)
                    .await
                    .expect("the page's job finalizes");
                served.push(job);
            }
        }
    };
    let status = tokio::time::timeout(SCRIPT_WAIT, async {
        tokio::select! {
            r = async { output.await.expect("read the script's output"); child.wait().await } => r,
            _ = provider => unreachable!("the provider loop never ends"),
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the e2e script did not finish in {SCRIPT_WAIT:?}"))
    .expect("node runs");
    println!("{so}");
    assert!(
        status.success(),
        "e2e script failed ({status}):\n{so}\n{se}"
    );
    assert!(
        so.contains(&format!("ok segments of job {segmented}: 3 rows")),
        "the segmented job's page showed no segments table:\n{so}"
    );
    assert!(
        so.contains(&format!("ok segments of job {settled}: 2 rows")),
        "the settled segmented job's page showed no segments table:\n{so}"
    );
    for step in [
        "ok page overview:",
        "ok page providers:",
        "ok page jobs:",
        "ok posted job",
        "result checked",
        "through a wallet offering only solana:signAndSendTransaction",
        "ok audit stats counts both posted jobs",
        "e2e: all",
    ] {
        assert!(so.contains(step), "missing `{step}`:\n{so}");
    }

    // The page's jobs are in the chain's figures: two more posted and completed (one
    // through a wallet that signs, one through a wallet that signs and sends).
    assert_eq!(served.len(), 2, "the page posted two jobs: {served:?}");
    let after = audit::stats(
        &audit::Snapshot::load(&*m.rpc, &m.world.market.market)
            .await
            .unwrap(),
    );
    assert_eq!(after.jobs_posted, before.jobs_posted + 2);
    assert_eq!(after.jobs_completed, before.jobs_completed + 2);
    assert!(after.volume_paid > before.volume_paid);
    let shots = std::fs::read_dir(&out).unwrap().filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
    });
    assert!(
        shots.count() >= 8,
        "screenshots missing in {}",
        out.display()
    );
    d.stop().await;
}
