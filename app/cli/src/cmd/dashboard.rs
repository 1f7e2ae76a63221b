//! `gpumkt dashboard`: the market dashboard (`gpu_market_dashboard`) served on
//! localhost over the context's cluster and market: its JSON API under `/api/` and the
//! web app built in app/web/dist. On `-u embedded` it starts the in-process localnet
//! (the history needs transactions sent through a node) and, without `--market`,
//! creates a market there. It prints where it serves (`--print-url` or `--output
//! json`: one JSON line, `{"url", "market", "rpc_url", "ws_url", "cluster"}`) and
//! serves until ctrl-c or SIGTERM. A `--web-dir` it is given must hold the built app,
//! and the address must be free and this machine's: each refusal is named
//! (`gpu_market_dashboard::DashboardError`).

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use gpu_market_client::bootstrap::{self, MarketPlan};
use gpu_market_client::chain::rpc::{websocket_url, RpcChain};
use gpu_market_client::chain::SharedChain;
use gpu_market_client::conservation::TokenAccounts;
use gpu_market_client::send::Sender;
use gpu_market_client::{config, Pubkey};
use gpu_market_dashboard::{check_web_dir, Dashboard, DashboardConfig, DEFAULT_PORT};
use gpu_market_localnet::{ClockMode, Localnet, LocalnetConfig};
use serde_json::json;

use crate::{CliError, Ctx, Format, Result};

#[derive(Args, Debug, Clone)]
pub struct DashboardArgs {
    /// Port to serve on (0 picks a free one; see --print-url).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Address to bind. The API sends no transactions and holds no keys, but it
    /// uploads to the blob store: keep it on loopback unless that is meant.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// The web app's built files (default: app/web/dist of this source tree; a page
    /// saying how to build them is served when they are missing).
    #[arg(long)]
    pub web_dir: Option<PathBuf>,
    /// The history database (SQLite). Default: <data dir>/dashboard/<market>-<cluster>.sqlite;
    /// in memory on the embedded chain, which is gone at exit anyway.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Print one JSON line with the URL when serving (as --output json does), for
    /// scripts that start it with --port 0.
    #[arg(long)]
    pub print_url: bool,
    /// Longest wait between history passes, seconds (a logsSubscribe notification
    /// starts one at once).
    #[arg(long, default_value_t = 5)]
    pub poll: u64,
}

impl Default for DashboardArgs {
    fn default() -> Self {
        DashboardArgs {
            port: DEFAULT_PORT,
            bind: IpAddr::from([127, 0, 0, 1]),
            web_dir: None,
            db: None,
            print_url: false,
            poll: 5,
        }
    }
}

/// What the dashboard reads: a node's URLs, what to call the cluster, the market.
pub struct Target {
    pub rpc_url: String,
    pub ws_url: String,
    pub cluster: String,
    pub market: Pubkey,
    pub blobs: Option<Arc<dyn gpu_market_blobs::BlobStore>>,
}

/// A file name part from a URL: its letters and digits.
fn slug(url: &str) -> String {
    url.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// What `a` asks that can be refused before anything starts: a named web directory
/// without the built app.
fn check_args(a: &DashboardArgs) -> Result<()> {
    match &a.web_dir {
        Some(dir) => Ok(check_web_dir(dir)?),
        None => Ok(()),
    }
}

/// Starts serving `target` as `a` says.
pub async fn start(target: &Target, a: &DashboardArgs, persist: bool) -> Result<Dashboard> {
    check_args(a)?;
    let mut cfg = DashboardConfig::new(&target.rpc_url, &target.ws_url, target.market);
    cfg.cluster = target.cluster.clone();
    cfg.bind = SocketAddr::new(a.bind, a.port);
    cfg.blobs = target.blobs.clone();
    cfg.poll_every = Duration::from_secs(a.poll.max(1));
    if let Some(dir) = &a.web_dir {
        cfg.web_dir = dir.clone();
    }
    cfg.db_path = match (&a.db, persist) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(crate::default_data_dir().join("dashboard").join(format!(
            "{}-{}.sqlite",
            target.market,
            slug(&target.cluster)
        ))),
        (None, false) => None,
    };
    Ok(Dashboard::start(cfg).await?)
}

/// Prints where `d` serves: one JSON line for scripts, a sentence otherwise.
pub fn announce(
    out: &mut dyn Write,
    d: &Dashboard,
    target: &Target,
    json_line: bool,
) -> Result<()> {
    let r = if json_line {
        let v = json!({
            "url": d.url,
            "market": target.market.to_string(),
            "rpc_url": target.rpc_url,
            "ws_url": target.ws_url,
            "cluster": target.cluster,
        });
        writeln!(out, "{v}")
    } else {
        writeln!(
            out,
            "dashboard: {} (market {} on {}); ctrl-c stops it",
            d.url, target.market, target.cluster
        )
    };
    r.and_then(|_| out.flush()).map_err(CliError::Output)
}

/// Serves until ctrl-c (SIGINT) or SIGTERM (what a service manager or a test
/// sends), then stops serving and following, and returns.
pub async fn serve_until_ctrl_c(d: Dashboard) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    d.stop().await;
}

pub async fn run(ctx: &Ctx, a: DashboardArgs, out: &mut dyn Write) -> Result<()> {
    check_args(&a)?;
    let json_line = a.print_url || ctx.format == Format::Json;
    let blobs = ctx.blobs().ok();
    // On the embedded chain: a node in this process, so that transactions (and with
    // them the history) go through JSON-RPC; and a market on it unless one is named.
    let _node;
    let (target, persist) = if ctx.embedded.is_some() {
        let node = Localnet::start(LocalnetConfig {
            rpc_addr: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 0),
            clock: ClockMode::RealTime,
        })
        .await
        .map_err(|e| CliError::Usage(format!("starting the embedded node: {e}")))?;
        let market = match ctx.market {
            Some(m) => m,
            None => {
                let chain: SharedChain = Arc::new(RpcChain::with_ws(&node.rpc_url, &node.ws_url));
                let plan = MarketPlan {
                    market_id: 0,
                    params: super::demo::demo_params(),
                    treasury: solana_sdk::signature::Signer::pubkey(&node.faucet),
                    same_mint: false,
                };
                bootstrap::create_market(
                    &Sender::new(chain),
                    &node.faucet,
                    &plan,
                    &TokenAccounts::new(),
                )
                .await?
                .keys
                .market
            }
        };
        let t = Target {
            rpc_url: node.rpc_url.clone(),
            ws_url: node.ws_url.clone(),
            cluster: config::EMBEDDED.into(),
            market,
            blobs,
        };
        _node = node;
        (t, false)
    } else {
        let cluster = if ctx.url == config::LOCALNET_URL {
            "localnet".to_string()
        } else {
            ctx.url.clone()
        };
        let t = Target {
            rpc_url: ctx.url.clone(),
            ws_url: websocket_url(&ctx.url),
            cluster,
            market: ctx.market()?,
            blobs,
        };
        (t, true)
    };
    let d = start(&target, &a, persist).await?;
    announce(out, &d, &target, json_line)?;
    serve_until_ctrl_c(d).await;
    Ok(())
}
