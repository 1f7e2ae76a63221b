//! `gpumkt`, the gpu-market command line. Buyers post and watch jobs and check
//! results, providers register and manage stake, auditors recompute the
//! market's figures and invariants from chain state, anyone cranks due jobs,
//! and `localnet` / `demo` run a whole market on this machine.
//!
//! Every command is a function of a [`Ctx`] (chain, signer, market, blob
//! store, output format) so that tests drive the same code on the embedded
//! chain and parse its `--output json`.

pub mod cmd;
pub mod error;
pub mod output;

pub use error::CliError;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use gpu_market_blobs::BlobStore;
use gpu_market_client::chain::rpc::RpcChain;
use gpu_market_client::chain::SharedChain;
use gpu_market_client::config::{self, SolanaCliConfig};
use gpu_market_client::send::{SendOptions, Sender};
use gpu_market_client::Pubkey;
use solana_sdk::signature::Keypair;

#[derive(Parser, Debug)]
#[command(
    name = "gpumkt",
    version,
    about = "gpu-market: a decentralized GPU compute market on Solana"
)]
pub struct Cli {
    /// RPC URL or moniker: localnet, devnet, testnet, mainnet-beta, or embedded (an
    /// in-process chain that lives as long as this command). Default: Solana CLI's
    /// config.yml, else localnet.
    #[arg(short = 'u', long, global = true, env = "GPUMKT_URL")]
    pub url: Option<String>,
    /// Keypair file that signs and pays (Solana's JSON format). Default: config.yml's, else ~/.config/solana/id.json.
    #[arg(short = 'k', long, global = true, env = "GPUMKT_KEYPAIR")]
    pub keypair: Option<PathBuf>,
    /// Market address.
    #[arg(short = 'm', long, global = true, env = "GPUMKT_MARKET")]
    pub market: Option<Pubkey>,
    /// Blob store for specs, inputs and outputs: a directory, http(s)://..., or s3://bucket/prefix.
    #[arg(long, global = true, env = "GPUMKT_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value = "text")]
    pub output: Format,
    /// Priority fee in micro-lamports per compute unit.
    #[arg(long, global = true)]
    pub priority_fee: Option<u64>,
    /// Solana CLI config file.
    #[arg(long, global = true, env = "SOLANA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create, show, update, pause or resume a market.
    #[command(subcommand)]
    Market(cmd::market::MarketCmd),
    /// Register as a provider and manage stake.
    #[command(subcommand)]
    Provider(cmd::provider::ProviderCmd),
    /// Post, watch, check and cancel jobs.
    #[command(subcommand)]
    Job(cmd::job::JobCmd),
    /// Recompute the market's figures and check its invariants from chain state; verify,
    /// challenge and watch submitted results.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// Settle what is due (finalize, expire, refund) and earn the bounties.
    Crank(cmd::crank::CrankArgs),
    /// Mints and token accounts (for local chains and tests).
    #[command(subcommand)]
    Token(cmd::token::TokenCmd),
    /// Write a new keypair file (Solana's JSON format) and print its public key.
    Keygen {
        /// Where to write it.
        #[arg(long)]
        outfile: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Put and get content-addressed blobs.
    #[command(subcommand)]
    Blob(cmd::blob::BlobCmd),
    /// Run a local node: the embedded chain served over Solana's JSON-RPC and websocket APIs.
    Localnet(cmd::localnet::LocalnetArgs),
    /// Run a whole market on this machine: providers with workers, a buyer, an
    /// offline provider slashed by rule, and an auditor's report.
    Demo(cmd::demo::DemoArgs),
    /// Serve the market dashboard (web app and JSON API) on localhost until ctrl-c:
    /// figures from chain state, history from the program's transactions in SQLite.
    Dashboard(cmd::dashboard::DashboardArgs),
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// Everything a command needs, resolved once from flags, environment and config.
pub struct Ctx {
    pub chain: SharedChain,
    pub sender: Sender,
    pub url: String,
    keypair: Option<Arc<Keypair>>,
    keypair_error: Option<String>,
    pub market: Option<Pubkey>,
    blob_location: String,
    blobs: std::sync::OnceLock<Arc<dyn BlobStore>>,
    pub format: Format,
    /// The embedded chain, when this command runs one.
    pub embedded: Option<Arc<gpu_market_client::chain::embedded::EmbeddedChain>>,
}

pub fn default_data_dir() -> PathBuf {
    config::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".local/share/gpu-market")
}

impl Ctx {
    /// Resolves settings the way Solana's CLI does. Chains are only contacted
    /// by the commands themselves.
    pub async fn from_cli(cli: &Cli) -> Result<Ctx> {
        let cfg_path = cli.config.clone().or_else(config::default_cli_config_path);
        let solana = match &cfg_path {
            Some(p) => SolanaCliConfig::load(p)?,
            None => SolanaCliConfig::default(),
        };
        let url = config::resolve_url(
            cli.url
                .as_deref()
                .or(solana.json_rpc_url.as_deref())
                .unwrap_or(config::LOCALNET_URL),
        )?;
        let (chain, embedded): (SharedChain, _) = if url == config::EMBEDDED {
            let chain = gpu_market_client::chain::embedded::EmbeddedChain::start(
                gpu_market_client::chain::embedded::ClockMode::RealTime,
            )
            .await?;
            (chain.clone(), Some(chain))
        } else {
            let chain = match &solana.websocket_url {
                Some(ws) if cli.url.is_none() => RpcChain::with_ws(&url, ws),
                _ => RpcChain::new(&url),
            };
            (Arc::new(chain), None)
        };
        let path = cli
            .keypair
            .clone()
            .or(solana.keypair_path.map(PathBuf::from))
            .or_else(config::default_keypair_path);
        let (keypair, keypair_error) = match path {
            Some(p) => match config::read_keypair(&p) {
                Ok(k) => (Some(Arc::new(k)), None),
                Err(e) => (None, Some(e.to_string())),
            },
            None => (None, Some("no keypair: pass --keypair".into())),
        };
        let mut ctx = Ctx::with_chain(
            chain,
            url,
            keypair,
            cli.market,
            cli.blob_store.clone(),
            cli.output,
        );
        ctx.keypair_error = keypair_error;
        ctx.embedded = embedded;
        ctx.sender.options = SendOptions {
            priority_fee_micro_lamports: cli.priority_fee,
            ..Default::default()
        };
        Ok(ctx)
    }

    /// A context over a given chain (tests, the demo).
    pub fn with_chain(
        chain: SharedChain,
        url: String,
        keypair: Option<Arc<Keypair>>,
        market: Option<Pubkey>,
        blob_store: Option<String>,
        format: Format,
    ) -> Ctx {
        Ctx {
            sender: Sender::new(chain.clone()),
            chain,
            url,
            keypair,
            keypair_error: None,
            market,
            blob_location: blob_store
                .unwrap_or_else(|| default_data_dir().join("blobs").display().to_string()),
            blobs: std::sync::OnceLock::new(),
            format,
            embedded: None,
        }
    }

    pub fn keypair(&self) -> Result<&Keypair> {
        self.keypair.as_deref().ok_or_else(|| {
            CliError::Usage(
                self.keypair_error
                    .clone()
                    .unwrap_or_else(|| "no keypair: pass --keypair".into()),
            )
        })
    }

    pub fn market(&self) -> Result<Pubkey> {
        self.market.ok_or_else(|| {
            CliError::Usage("no market given: pass --market <ADDRESS> or set GPUMKT_MARKET".into())
        })
    }

    pub fn blobs(&self) -> Result<Arc<dyn BlobStore>> {
        if let Some(b) = self.blobs.get() {
            return Ok(b.clone());
        }
        let b = gpu_market_blobs::open(&self.blob_location)
            .map_err(|e| CliError::Usage(format!("blob store {:?}: {e}", self.blob_location)))?;
        Ok(self.blobs.get_or_init(|| b).clone())
    }
}

/// Runs one parsed command, writing its output to `out`.
pub async fn run(mut cli: Cli, out: &mut dyn std::io::Write) -> Result<()> {
    // The demo runs on its own in-process chain unless told where to go.
    if matches!(cli.command, Command::Demo(_)) && cli.url.is_none() {
        cli.url = Some(config::EMBEDDED.into());
    }
    let ctx = Ctx::from_cli(&cli).await?;
    run_with(&ctx, cli.command, out).await
}

pub async fn run_with(ctx: &Ctx, command: Command, out: &mut dyn std::io::Write) -> Result<()> {
    let r = match command {
        Command::Market(c) => cmd::market::run(ctx, c, out).await,
        Command::Provider(c) => cmd::provider::run(ctx, c, out).await,
        Command::Job(c) => cmd::job::run(ctx, c, out).await,
        Command::Audit(c) => cmd::audit::run(ctx, c, out).await,
        Command::Crank(c) => cmd::crank::run(ctx, c, out).await,
        Command::Token(c) => cmd::token::run(ctx, c, out).await,
        Command::Blob(c) => cmd::blob::run(ctx, c, out).await,
        Command::Keygen { outfile, force } => {
            use solana_sdk::signature::Signer;
            if outfile.exists() && !force {
                return Err(CliError::Usage(format!(
                    "{} exists: pass --force to overwrite it",
                    outfile.display()
                )));
            }
            let k = Keypair::new();
            config::write_keypair(&k, &outfile)?;
            output::emit(
                out,
                ctx.format,
                &serde_json::json!({"pubkey": k.pubkey().to_string(), "outfile": outfile.display().to_string()}),
                |o| writeln!(o, "{}", k.pubkey()),
            )
        }
        Command::Localnet(c) => cmd::localnet::run(ctx, c, out).await,
        Command::Demo(c) => cmd::demo::run(ctx, c, out).await,
        Command::Dashboard(c) => cmd::dashboard::run(ctx, c, out).await,
    };
    r.map_err(|e| match e {
        CliError::Client(c) => CliError::explained(c),
        other => other,
    })
}
