//! `gpumkt dashboard` and `gpumkt demo --dashboard` as users run them: the real binary
//! (`CARGO_BIN_EXE_gpumkt`) started as a process, its URL read from the JSON line it
//! prints, its API read over HTTP and compared with `gpumkt audit stats --output json`
//! run as a second process against the same chain, and stopped with SIGTERM, after
//! which it must exit 0. Each refusal (a `--web-dir` missing or unbuilt, a port in use,
//! an address not this machine's, a `--bind` that is no address) is checked by its
//! message and exit code 2. `--db` is reopened by a second run, which keeps what the
//! first stored and catches up with what happened while it was down.
//!
//! The demo test drives the web app in headless Chromium (app/web/e2e/e2e.mjs) against
//! the demo's dashboard; it needs `node` 20+, `npm ci --prefix app/web && npm run build
//! --prefix app/web` and /usr/bin/chromium, and fails naming whichever is missing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use gpu_market_client::bootstrap::{self, MarketPlan};
use gpu_market_client::chain::embedded::ClockMode;
use gpu_market_client::chain::rpc::RpcChain;
use gpu_market_client::chain::SharedChain;
use gpu_market_client::conservation::TokenAccounts;
use gpu_market_client::send::Sender;
use gpu_market_client::Pubkey;
use gpu_market_localnet::{Localnet, LocalnetConfig};
use serde_json::Value;
use solana_sdk::signature::Signer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_gpumkt");
/// How long a started binary may take to print its URL (the demo runs first).
const URL_WAIT: Duration = Duration::from_secs(240);
const CHROMIUM: &str = "/usr/bin/chromium";

fn web_src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web")
}

fn web_dist() -> PathBuf {
    web_src().join("dist")
}

/// A running `gpumkt` that printed where it serves.
struct Served {
    child: Child,
    /// The JSON line it printed: url, market, rpc_url, ws_url, cluster.
    line: Value,
    /// Everything it printed on stdout, including what follows the URL line.
    stdout: tokio::task::JoinHandle<String>,
    stderr: tokio::task::JoinHandle<String>,
}

impl Served {
    /// Starts `gpumkt args` and waits for its URL line (the first stdout line that is
    /// a JSON object with a "url").
    async fn start(args: &[&str]) -> Served {
        let mut child = Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("gpumkt starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s).await;
            s
        });
        let mut seen = String::new();
        let found = tokio::time::timeout(URL_WAIT, async {
            while let Ok(Some(l)) = lines.next_line().await {
                seen.push_str(&l);
                seen.push('\n');
                if let Ok(v) = serde_json::from_str::<Value>(&l) {
                    if v.get("url").is_some_and(Value::is_string) {
                        return Some(v);
                    }
                }
            }
            None
        })
        .await;
        let line =
            match found {
                Ok(Some(v)) => v,
                other => {
                    let _ = child.start_kill();
                    let err = stderr.await.unwrap_or_default();
                    panic!(
                    "gpumkt {args:?} printed no URL line ({}):\nstdout:\n{seen}\nstderr:\n{err}",
                    if other.is_err() { "timed out" } else { "exited" }
                );
                }
            };
        // Keep reading, so that a full pipe never blocks it.
        let stdout = tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                seen.push_str(&l);
                seen.push('\n');
            }
            seen
        });
        Served {
            child,
            line,
            stdout,
            stderr,
        }
    }

    fn url(&self) -> String {
        self.line["url"].as_str().unwrap().to_string()
    }

    /// SIGTERM, then it must exit 0 within a few seconds.
    async fn stop(mut self) -> (String, String) {
        let pid = self.child.id().expect("still running") as libc::pid_t;
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("gpumkt exits after SIGTERM")
            .unwrap();
        let out = self.stdout.await.unwrap_or_default();
        let err = self.stderr.await.unwrap_or_default();
        assert!(
            status.success(),
            "gpumkt exited {status} after SIGTERM:\n{out}\n{err}"
        );
        (out, err)
    }
}

/// `gpumkt args` to completion: exit code, stdout, stderr.
async fn gpumkt(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("gpumkt runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("the dashboard answers");
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_json(url: &str) -> Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

/// A node in this process with the chain's clock standing still (figures taken at
/// different moments are then equal), and a market on it.
async fn node_with_market() -> (Localnet, Pubkey, Sender) {
    let node = Localnet::start(LocalnetConfig {
        rpc_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        clock: ClockMode::Manual {
            start_unix_timestamp: 1_800_000_000,
        },
    })
    .await
    .expect("localnet starts");
    let chain: SharedChain = Arc::new(RpcChain::with_ws(&node.rpc_url, &node.ws_url));
    let sender = Sender::new(chain);
    let plan = MarketPlan {
        market_id: 0,
        params: gpumkt::cmd::demo::demo_params(),
        treasury: node.faucet.pubkey(),
        same_mint: false,
    };
    let market = bootstrap::create_market(&sender, &node.faucet, &plan, &TokenAccounts::new())
        .await
        .expect("market created")
        .keys
        .market;
    (node, market, sender)
}

/// The first page of stored events as (id, signature, name).
async fn stored_events(url: &str) -> Vec<(i64, String, String)> {
    let v = get_json(&format!("{url}/api/events?limit=1000")).await;
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_i64().unwrap(),
                e["signature"].as_str().unwrap().to_string(),
                e["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_serves_the_api_and_the_web_app_and_its_db_resumes() {
    assert!(
        web_dist().join("index.html").is_file(),
        "the web app is not built: run `npm ci --prefix app/web && npm run build --prefix app/web`"
    );
    let (node, market, sender) = node_with_market().await;
    let m = market.to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let dist = web_dist();
    let args = [
        "-u",
        node.rpc_url.as_str(),
        "-m",
        m.as_str(),
        "dashboard",
        "--port",
        "0",
        "--print-url",
        "--poll",
        "1",
        "--db",
        db.to_str().unwrap(),
        "--web-dir",
        dist.to_str().unwrap(),
    ];
    let d = Served::start(&args).await;
    let url = d.url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(d.line["market"], m);
    assert_eq!(d.line["rpc_url"], node.rpc_url);
    assert_eq!(d.line["cluster"], node.rpc_url);

    // The API's figures are `audit stats --output json`'s, run as its own process.
    let (code, out, err) = gpumkt(&[
        "-u",
        &node.rpc_url,
        "-m",
        &m,
        "audit",
        "stats",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(code, 0, "audit stats: {err}");
    let cli: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(get_json(&format!("{url}/api/stats")).await, cli);
    // The web app is served from --web-dir, client-side routes included.
    for path in ["/", "/jobs/x"] {
        let (status, body) = get(&format!("{url}{path}")).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            body,
            std::fs::read_to_string(dist.join("index.html")).unwrap(),
            "{path} is not the built app's index.html"
        );
    }
    let (status, body) = get(&format!("{url}/api/jobs/{}", Pubkey::new_unique())).await;
    assert_eq!(status, 404, "{body}");

    // The market's creation is in the history.
    let first = stored_events(&url).await;
    assert!(
        first.iter().any(|(_, _, n)| n == "MarketCreated"),
        "no MarketCreated in {first:?}"
    );
    d.stop().await;
    assert!(db.is_file(), "--db {} was not written", db.display());

    // While it is down, the authority pauses the market; reopened on the same DB, it
    // keeps what it stored (the same ids and signatures, in the same order) and
    // catches up with the pause.
    let pause = gpu_market_client::ix::market_set_paused(node.faucet.pubkey(), market, true);
    let paused = sender
        .send(&[pause], &node.faucet, &[])
        .await
        .expect("the market pauses");
    // This time announced by `--output json` rather than `--print-url`: the same line.
    let mut json_args: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| *a != "--print-url")
        .collect();
    json_args.extend(["--output", "json"]);
    let d = Served::start(&json_args).await;
    assert_eq!(d.line["market"], m);
    let url = d.url();
    let mut again = stored_events(&url).await;
    for _ in 0..40 {
        if again.len() > first.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        again = stored_events(&url).await;
    }
    assert_eq!(
        again[..first.len()],
        first[..],
        "the reopened history differs from what the first run stored"
    );
    assert!(
        again[first.len()..]
            .iter()
            .any(|(_, sig, n)| n == "MarketPauseSet" && *sig == paused.signature.to_string()),
        "the pause sent while it was down is not in the history: {again:?}"
    );
    let h = get_json(&format!("{url}/api/history")).await;
    assert_eq!(h["events_stored"].as_u64(), Some(again.len() as u64), "{h}");
    d.stop().await;
    node.stop().await;
}

/// On `-u embedded` without `--market` it starts a node in its process, creates a
/// market there and serves it: the line names both, and the API reads that market.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_dashboard_creates_a_market_and_serves_it() {
    let d = Served::start(&["-u", "embedded", "dashboard", "--port", "0", "--print-url"]).await;
    let url = d.url();
    assert_eq!(d.line["cluster"], "embedded");
    let market = d.line["market"].as_str().unwrap().to_string();
    let rpc = d.line["rpc_url"].as_str().unwrap().to_string();
    assert!(rpc.starts_with("http://127.0.0.1:"), "{rpc}");
    let config = get_json(&format!("{url}/api/config")).await;
    assert_eq!(config["market"], market);
    assert_eq!(config["rpc_url"], rpc);
    let stats = get_json(&format!("{url}/api/stats")).await;
    assert_eq!(stats["market"], market);
    assert_eq!(stats["jobs_posted"], 0);
    // Its node answers other clients too, for as long as it serves.
    let (code, out, err) = gpumkt(&["-u", &rpc, "-m", &market, "audit", "invariants"]).await;
    assert_eq!(code, 0, "audit invariants on the embedded node: {out}{err}");
    d.stop().await;
}

/// Runs `gpumkt dashboard` with `extra` against no chain at all (nothing is read before
/// these refusals) and returns its stderr, asserting exit code 2.
async fn refused(extra: &[&str]) -> String {
    let market = Pubkey::new_unique().to_string();
    let mut args = vec![
        "-u",
        "http://127.0.0.1:9",
        "-m",
        market.as_str(),
        "dashboard",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = tokio::time::timeout(Duration::from_secs(60), gpumkt(&args))
        .await
        .unwrap_or_else(|_| panic!("gpumkt dashboard {extra:?} kept running: it should refuse"));
    assert_eq!(
        code, 2,
        "gpumkt dashboard {extra:?}: exit {code}\n{out}\n{err}"
    );
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_refuses_what_it_cannot_serve_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let err = refused(&["--port", "0", "--web-dir", missing.to_str().unwrap()]).await;
    assert!(
        err.contains(&format!(
            "the web app's directory {} does not exist",
            missing.display()
        )),
        "{err}"
    );
    // A directory, but not a built app (no index.html): the source tree, say.
    let unbuilt = dir.path().join("src");
    std::fs::create_dir(&unbuilt).unwrap();
    std::fs::write(unbuilt.join("main.tsx"), "").unwrap();
    let err = refused(&["--port", "0", "--web-dir", unbuilt.to_str().unwrap()]).await;
    assert!(
        err.contains(&format!("{} holds no index.html", unbuilt.display())),
        "{err}"
    );

    // Someone listens on the port already.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let err = refused(&["--port", &port]).await;
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is in use")),
        "{err}"
    );
    drop(taken);

    // An address of no interface here (TEST-NET-1, reserved for documentation).
    let err = refused(&["--port", "0", "--bind", "192.0.2.1"]).await;
    assert!(
        err.contains("192.0.2.1 is not an address of this machine"),
        "{err}"
    );
    // Not an address at all: refused by the flag's parser, naming the flag.
    let err = refused(&["--bind", "localhost:80"]).await;
    assert!(
        err.contains("invalid value 'localhost:80' for '--bind <BIND>'"),
        "{err}"
    );
}

/// The e2e script's prerequisites, each missing one named with what provides it.
fn browser_prerequisites() {
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        node_ok,
        "`node` is not on PATH: install Node.js 20 or later"
    );
    assert!(
        web_src().join("node_modules/playwright-core").is_dir(),
        "app/web has no node_modules: run `npm ci --prefix app/web`"
    );
    assert!(
        web_dist().join("index.html").is_file(),
        "the web app is not built: run `npm run build --prefix app/web`"
    );
    assert!(
        Path::new(CHROMIUM).is_file(),
        "no Chromium at {CHROMIUM}: run `apt-get install chromium`"
    );
}

fn screenshots() -> PathBuf {
    match std::env::var_os("OUT") {
        Some(out) => PathBuf::from(out).join("e2e-demo-screenshots"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-demo-screenshots"),
    }
}

/// The newcomer's path, end to end: `gpumkt demo --dashboard` runs the scenario, keeps
/// its market up and serves the dashboard; every page of it, opened in Chromium, shows
/// the figures `gpumkt audit stats --output json` prints against the demo's node; a
/// job posted through the page by a Wallet Standard test wallet (and a second one by a
/// wallet that only signs and sends) is served by the demo's providers and settles;
/// then SIGTERM stops the demo, which exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_dashboard_in_chromium_matches_audit_stats_and_settles_a_wallet_posted_job() {
    browser_prerequisites();
    let work = tempfile::tempdir().unwrap();
    let workdir = work.path().join("demo");
    let d = Served::start(&[
        "-u",
        "embedded",
        "--output",
        "json",
        "demo",
        "--jobs",
        "4",
        "--providers",
        "2",
        "--size",
        "32",
        "--dashboard",
        "--dashboard-port",
        "0",
        "--workdir",
        workdir.to_str().unwrap(),
    ])
    .await;
    let url = d.url();
    let rpc = d.line["rpc_url"].as_str().unwrap().to_string();
    let market = d.line["market"].as_str().unwrap().to_string();
    let buyer = workdir.join("dashboard-buyer.json");
    assert!(
        buyer.is_file(),
        "demo --dashboard wrote no funded buyer key at {} for the page's post",
        buyer.display()
    );
    let cli = serde_json::to_string(&[BIN, "-u", &rpc, "-m", &market]).unwrap();
    let out = screenshots();
    let script = Command::new("node")
        .arg("e2e/e2e.mjs")
        .arg("--url")
        .arg(&url)
        .arg("--cli")
        .arg(&cli)
        .arg("--keypair")
        .arg(&buyer)
        .arg("--out")
        .arg(&out)
        .arg("--post-size")
        .arg("16")
        .arg("--post-price-units")
        .arg("1000000")
        .current_dir(web_src())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let o = tokio::time::timeout(Duration::from_secs(420), script)
        .await
        .expect("the e2e script finishes in 7 minutes")
        .expect("node runs");
    let so = String::from_utf8_lossy(&o.stdout);
    let se = String::from_utf8_lossy(&o.stderr);
    println!("{so}");
    assert!(
        o.status.success(),
        "e2e script failed ({}):\n{so}\n{se}",
        o.status
    );
    for step in [
        "ok page overview:",
        "ok page providers:",
        "ok page jobs:",
        "ok posted job",
        "through a wallet offering only solana:signAndSendTransaction",
        "ok audit stats counts both posted jobs",
        "e2e: all",
    ] {
        assert!(so.contains(step), "missing `{step}`:\n{so}");
    }
    let pngs = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    assert!(pngs >= 8, "{pngs} screenshots in {}", out.display());
    d.stop().await;
}
