//! `gpu-worker`: run next to your GPUs to earn from gpu-market jobs.
//!
//! Settings come from flags, then `GPU_WORKER_*` environment variables, then
//! a TOML file (`--config`), then Solana CLI's config.yml for the URL and
//! keypair, like the `gpumkt` CLI.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use gpu_market_client::chain::rpc::RpcChain;
use gpu_market_client::config::{self, SolanaCliConfig};
use gpu_market_client::send::{SendOptions, Sender};
use gpu_market_client::Pubkey;
use gpu_market_worker::{Worker, WorkerConfig};
use serde::Deserialize;
use solana_sdk::signature::Signer;

#[derive(Parser, Debug)]
#[command(
    name = "gpu-worker",
    version,
    about = "gpu-market provider daemon: claims jobs, runs them on GPUs (or CPUs), submits result commitments"
)]
struct Args {
    /// Market address.
    #[arg(long, env = "GPU_WORKER_MARKET")]
    market: Option<Pubkey>,
    /// The provider's owner (cold) public key; the provider account is derived from it.
    #[arg(long, env = "GPU_WORKER_OWNER")]
    owner: Option<Pubkey>,
    /// RPC URL or moniker (localnet, devnet, mainnet-beta).
    #[arg(short = 'u', long, env = "GPU_WORKER_URL")]
    url: Option<String>,
    /// The worker's hot keypair (signs claims, submissions, heartbeats; pays their fees).
    #[arg(short = 'k', long, env = "GPU_WORKER_KEYPAIR")]
    keypair: Option<PathBuf>,
    /// Where outputs are uploaded: a directory, http(s)://..., or s3://bucket/prefix.
    #[arg(long, env = "GPU_WORKER_BLOB_STORE")]
    blob_store: Option<String>,
    /// Crash journal file.
    #[arg(long, env = "GPU_WORKER_JOURNAL")]
    journal: Option<PathBuf>,
    #[arg(long, env = "GPU_WORKER_MAX_CONCURRENT")]
    max_concurrent: Option<usize>,
    /// Lowest job price accepted (payment-mint base units).
    #[arg(long, env = "GPU_WORKER_PRICE_FLOOR")]
    price_floor: Option<u64>,
    /// Also finalize and expire what is due, earning bounties.
    #[arg(long, env = "GPU_WORKER_CRANK")]
    crank: bool,
    #[arg(long, env = "GPU_WORKER_RECONCILE_SECS")]
    reconcile_secs: Option<u64>,
    #[arg(long, env = "GPU_WORKER_HEARTBEAT_SECS")]
    heartbeat_secs: Option<u64>,
    /// Priority fee, micro-lamports per compute unit.
    #[arg(long, env = "GPU_WORKER_PRIORITY_FEE")]
    priority_fee: Option<u64>,
    /// `text` or `json` log lines.
    #[arg(long, env = "GPU_WORKER_LOG_FORMAT", default_value = "text")]
    log_format: String,
    /// URI schemes fetched for job specs and inputs [default: https,s3]; add
    /// `file` or `http` only for local development.
    #[arg(long, env = "GPU_WORKER_URI_SCHEMES", value_delimiter = ',')]
    uri_schemes: Option<Vec<String>>,
    /// Only fetch specs and inputs from these hosts (`.example.com` admits
    /// subdomains) [default: any public host].
    #[arg(long, env = "GPU_WORKER_ALLOW_HOSTS", value_delimiter = ',')]
    allow_hosts: Option<Vec<String>>,
    /// Also fetch from loopback and private addresses (local development only).
    #[arg(long, env = "GPU_WORKER_ALLOW_PRIVATE_HOSTS")]
    allow_private_hosts: bool,
    /// Largest job spec downloaded, bytes [default: 2 MiB].
    #[arg(long, env = "GPU_WORKER_MAX_SPEC_BYTES")]
    max_spec_bytes: Option<u64>,
    /// Most bytes one job may hold (inputs and output) [default: 8 GiB].
    #[arg(long, env = "GPU_WORKER_MEMORY_BUDGET_BYTES")]
    memory_budget_bytes: Option<u64>,
    /// Longest a job's spec and inputs may take to download, seconds [default: 300].
    #[arg(long, env = "GPU_WORKER_FETCH_TIMEOUT_SECS")]
    fetch_timeout_secs: Option<u64>,
    /// TOML file with any of the settings above (snake_case keys).
    #[arg(long, env = "GPU_WORKER_CONFIG")]
    config: Option<PathBuf>,
    /// TEST ONLY: corrupt one element of every GEMM result before committing to it, so
    /// the worker submits wrong results and loses the disputes over them (its bond and
    /// stake slashed). For demos and tests of the dispute machinery; hidden, and never
    /// read from the environment or the config file.
    #[arg(long, hide = true)]
    test_only_submit_wrong_results: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    market: Option<String>,
    owner: Option<String>,
    url: Option<String>,
    keypair: Option<PathBuf>,
    blob_store: Option<String>,
    journal: Option<PathBuf>,
    max_concurrent: Option<usize>,
    price_floor: Option<u64>,
    crank: Option<bool>,
    reconcile_secs: Option<u64>,
    heartbeat_secs: Option<u64>,
    priority_fee: Option<u64>,
    uri_schemes: Option<Vec<String>>,
    allow_hosts: Option<Vec<String>>,
    allow_private_hosts: Option<bool>,
    max_spec_bytes: Option<u64>,
    memory_budget_bytes: Option<u64>,
    fetch_timeout_secs: Option<u64>,
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("gpu-worker: error: {msg}");
    std::process::exit(2)
}

fn parse_key(what: &str, s: Option<String>) -> Option<Pubkey> {
    s.map(|s| {
        s.parse()
            .unwrap_or_else(|_| fail(format!("{what} {s:?} is not a base58 public key")))
    })
}

pub fn default_data_dir() -> PathBuf {
    config::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".local/share/gpu-market")
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tarpc=error".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format.as_str() {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => fail(format!("--log-format {other:?}: use text or json")),
    }

    let file: FileConfig = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .unwrap_or_else(|e| fail(format!("cannot read {}: {e}", p.display())));
            toml::from_str(&text).unwrap_or_else(|e| fail(format!("{}: {e}", p.display())))
        }
        None => FileConfig::default(),
    };
    let cli = config::default_cli_config_path()
        .map(|p| SolanaCliConfig::load(&p).unwrap_or_default())
        .unwrap_or_default();

    let market = args
        .market
        .or(parse_key("market", file.market))
        .unwrap_or_else(|| fail("no market: pass --market"));
    let owner = args
        .owner
        .or(parse_key("owner", file.owner))
        .unwrap_or_else(|| fail("no provider owner: pass --owner"));
    let url = args
        .url
        .or(file.url)
        .or(cli.json_rpc_url)
        .unwrap_or_else(|| config::LOCALNET_URL.into());
    let url = config::resolve_url(&url).unwrap_or_else(|e| fail(e));
    if url == config::EMBEDDED {
        fail("the worker needs a chain other processes share: start `gpumkt localnet` and pass --url localnet");
    }
    let keypair_path = args
        .keypair
        .or(file.keypair)
        .or(cli.keypair_path.map(PathBuf::from))
        .or_else(config::default_keypair_path)
        .unwrap_or_else(|| fail("no keypair: pass --keypair"));
    let key = config::read_keypair(&keypair_path).unwrap_or_else(|e| fail(e));
    let data = default_data_dir();
    let blob_location = args
        .blob_store
        .or(file.blob_store)
        .unwrap_or_else(|| data.join("blobs").display().to_string());
    let journal = args
        .journal
        .or(file.journal)
        .unwrap_or_else(|| data.join(format!("worker-{}.journal", key.pubkey())));

    let mut cfg = WorkerConfig::new(market, owner, journal);
    cfg.max_concurrent = args
        .max_concurrent
        .or(file.max_concurrent)
        .unwrap_or(cfg.max_concurrent);
    cfg.price_floor = args.price_floor.or(file.price_floor).unwrap_or(0);
    cfg.crank = args.crank || file.crank.unwrap_or(false);
    cfg.cheat_wrong_results = args.test_only_submit_wrong_results;
    if let Some(s) = args.reconcile_secs.or(file.reconcile_secs) {
        cfg.reconcile_every = Duration::from_secs(s.max(1));
    }
    if let Some(s) = args.heartbeat_secs.or(file.heartbeat_secs) {
        cfg.heartbeat_every = Duration::from_secs(s.max(1));
    }
    // Chain-supplied URIs: strict unless the operator widens it.
    if let Some(schemes) = args.uri_schemes.or(file.uri_schemes) {
        cfg.uri_policy.schemes = schemes
            .into_iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
    }
    cfg.uri_policy.hosts = args.allow_hosts.or(file.allow_hosts);
    cfg.uri_policy.allow_private =
        args.allow_private_hosts || file.allow_private_hosts.unwrap_or(false);
    if let Some(b) = args.max_spec_bytes.or(file.max_spec_bytes) {
        cfg.max_spec_bytes = b;
    }
    if let Some(b) = args.memory_budget_bytes.or(file.memory_budget_bytes) {
        cfg.memory_budget_bytes = b;
    }
    if let Some(s) = args.fetch_timeout_secs.or(file.fetch_timeout_secs) {
        cfg.fetch_timeout = Duration::from_secs(s.max(1));
    }
    // Reads are bounded where the blob layer bounds them: inputs (and outputs)
    // by the memory budget, specs by their own limit, checked on the length a
    // store announces and again while reading.
    let limited = |max: u64| gpu_market_blobs::BlobOptions {
        max_blob_size: max.min(gpu_market_blobs::DEFAULT_MAX_BLOB_SIZE),
        ..Default::default()
    };
    let blobs = gpu_market_blobs::open_with(&blob_location, &limited(cfg.memory_budget_bytes))
        .unwrap_or_else(|e| fail(format!("blob store {blob_location}: {e}")));
    let specs = gpu_market_blobs::open_with(&blob_location, &limited(cfg.max_spec_bytes))
        .unwrap_or_else(|e| fail(format!("blob store {blob_location}: {e}")));
    cfg.spec_store = Some(gpu_market_worker::SpecStore(specs));

    let best = gpu_market_compute::best_executor();
    match &best.fallback_reason {
        None => tracing::info!(device = %best.executor.device().name, "running jobs on the GPU"),
        Some(reason) => tracing::warn!(%reason, "no usable GPU: running jobs on the CPU executor"),
    }
    let gflops = gpu_market_worker::worker::measure_gflops(&*best.executor);
    let chain = Arc::new(RpcChain::new(&url));
    let options = SendOptions {
        priority_fee_micro_lamports: args.priority_fee.or(file.priority_fee),
        ..Default::default()
    };
    let sender = Sender::with_options(chain, options);
    let worker = Worker::new(cfg, sender, key, Arc::from(best.executor), blobs)
        .await
        .unwrap_or_else(|e| fail(e));
    if let Err(e) = worker.announce(gflops).await {
        fail(format!("cannot reach the market at {url}: {e}"));
    }
    tracing::info!(provider = %worker.provider, %url, blob_store = %blob_location, "worker started");

    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
    });
    match worker.run(rx).await {
        Ok(stats) => tracing::info!(?stats, "worker stopped"),
        Err(e) => fail(e),
    }
}
