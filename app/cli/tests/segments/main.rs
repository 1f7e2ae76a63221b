//! Segmented train-mlp jobs through the CLI on one embedded chain with a manual clock:
//! the buyer posts (`job post --segments`), reads `job status`, extends, ends and
//! watches with `gpumkt`, parsing `--output json`; the provider plays the chain side
//! directly with the client's segment calls (claim, commit a checkpoint root, finalize
//! after the window, expire a missed one). Money is checked against token balances to
//! the unit. A bad-input table gives each refused post, extension and end its named
//! error and shows that nothing was sent: balances unchanged and no job account.
//!
//! Files: this one (the world: chain, market, provider, buyer, the watch beside the
//! steps), `lifecycle.rs` (a job delivered, paid, extended, ended and watched; a missed
//! segment handed off), `bad_input.rs` (the refusals table), `daemon.rs` (a CLI-posted
//! job run to its close by the provider's real worker daemon).

mod bad_input;
mod daemon;
mod lifecycle;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::{Chain, SharedChain};
use gpu_market_client::ix::MarketKeys;
use gpu_market_client::segments as seg;
use gpu_market_client::{accounts, pda, token, Pubkey};
use gpumkt::{run_with, Cli, CliError, Ctx, Format};
use serde_json::Value;
use solana_sdk::signature::{Keypair, Signer};

pub const START: i64 = 1_800_000_000;
pub const BOUNTY: u64 = 5;

pub struct User {
    pub ctx: Ctx,
}

impl User {
    pub async fn new(chain: &Arc<EmbeddedChain>, blobs: &str, market: Option<Pubkey>) -> User {
        let key = Keypair::new();
        chain
            .request_airdrop(&key.pubkey(), 10_000_000_000)
            .await
            .unwrap();
        User::with_key(chain, blobs, market, key)
    }

    pub fn with_key(
        chain: &Arc<EmbeddedChain>,
        blobs: &str,
        market: Option<Pubkey>,
        key: Keypair,
    ) -> User {
        let shared: SharedChain = chain.clone();
        User {
            ctx: Ctx::with_chain(
                shared,
                "embedded".into(),
                Some(Arc::new(key)),
                market,
                Some(blobs.into()),
                Format::Json,
            ),
        }
    }

    pub fn key(&self) -> &Keypair {
        self.ctx.keypair().unwrap()
    }

    pub fn pubkey(&self) -> Pubkey {
        self.key().pubkey()
    }

    pub async fn try_run(&self, args: &[&str]) -> Result<Value, CliError> {
        let mut argv = vec!["gpumkt"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| CliError::Usage(e.to_string()))?;
        let mut out = Vec::new();
        run_with(&self.ctx, cli.command, &mut out).await?;
        Ok(serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed invalid JSON ({e}): {}",
                String::from_utf8_lossy(&out)
            )
        }))
    }

    pub async fn run(&self, args: &[&str]) -> Value {
        self.try_run(args)
            .await
            .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
    }
}

pub fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_string()
}

/// A market (defaults: fee 2.5 %, challenge window 300 s, min submit window 300 s; a
/// crank bounty of 5), one provider registered through the CLI, and a funded buyer.
pub struct World {
    pub chain: Arc<EmbeddedChain>,
    pub dir: tempfile::TempDir,
    pub mint: Pubkey,
    pub market: Pubkey,
    pub keys: MarketKeys,
    pub admin: User,
    pub buyer: User,
}

impl World {
    pub async fn new() -> World {
        let chain = EmbeddedChain::start(ClockMode::Manual {
            start_unix_timestamp: START,
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs").display().to_string();
        let admin = User::new(&chain, &blobs, None).await;
        let mint: Pubkey = s(&admin.run(&["token", "create-mint"]).await, "mint")
            .parse()
            .unwrap();
        let market: Pubkey = s(
            &admin
                .run(&[
                    "market",
                    "create",
                    "--payment-mint",
                    &mint.to_string(),
                    "--min-stake",
                    "1000",
                    "--bond-min",
                    "10",
                    "--crank-bounty",
                    &BOUNTY.to_string(),
                ])
                .await,
            "market",
        )
        .parse()
        .unwrap();
        let m = accounts::fetch_market(&*chain, &market).await.unwrap();
        let keys = MarketKeys::new(market, &m);
        let buyer = User::new(&chain, &blobs, Some(market)).await;
        let w = World {
            chain,
            dir,
            mint,
            market,
            keys,
            admin,
            buyer,
        };
        w.mint_to(&w.buyer.pubkey(), 100_000).await;
        w
    }

    pub fn blobs(&self) -> String {
        self.dir.path().join("blobs").display().to_string()
    }

    pub fn store(&self) -> String {
        format!("file://{}", self.dir.path().join("ckpt").display())
    }

    pub async fn user(&self) -> User {
        User::new(&self.chain, &self.blobs(), Some(self.market)).await
    }

    pub async fn mint_to(&self, to: &Pubkey, amount: u64) {
        self.admin
            .run(&[
                "token",
                "mint",
                "--mint",
                &self.mint.to_string(),
                "--to",
                &to.to_string(),
                "--amount",
                &amount.to_string(),
            ])
            .await;
    }

    /// A provider registered through the CLI (two slots: it can run segments back to
    /// back); returns it and its provider account.
    pub async fn provider(&self) -> (User, Pubkey) {
        let p = self.user().await;
        self.mint_to(&p.pubkey(), 50_000).await;
        p.run(&[
            "provider",
            "register",
            "--stake",
            "5000",
            "--gpu-model",
            "NVIDIA L4",
            "--vram-mb",
            "23034",
            "--compute-capability",
            "89",
        ])
        .await;
        let key = pda::provider(&self.market, &p.pubkey());
        (p, key)
    }

    pub async fn balance(&self, owner: &Pubkey) -> u64 {
        token::balance(&*self.chain, &token::ata(owner, &self.mint))
            .await
            .unwrap()
    }

    pub async fn segments(&self, job: &Pubkey) -> gpu_market::state::Segments {
        seg::fetch_segments(&*self.chain, job)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn now(&self) -> i64 {
        self.chain.clock().await.unwrap().unix_timestamp
    }

    /// Moves the clock past segment `index`'s challenge window.
    pub async fn past_window(&self, job: &Pubkey, index: u8) {
        let due = self.segments(job).await.segments[index as usize].challenge_deadline;
        let now = self.now().await;
        self.chain.advance(due + 1 - now).await.unwrap();
    }

    /// `job watch --output json` on its own context, to run beside the test's steps
    /// (`tokio::join!`: the command's future borrows its output and is not `Send`); it
    /// must end by itself, when the job closes.
    /// `user`'s command with `--output text`: what a person reads.
    pub async fn text(&self, user: &User, args: &[&str]) -> String {
        let mut as_text = User::with_key(
            &self.chain,
            &self.blobs(),
            Some(self.market),
            user.key().insecure_clone(),
        );
        as_text.ctx.format = Format::Text;
        let mut argv = vec!["gpumkt"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap();
        let mut out = Vec::new();
        run_with(&as_text.ctx, cli.command, &mut out)
            .await
            .unwrap_or_else(|e| panic!("{args:?} failed: {e}"));
        String::from_utf8(out).unwrap()
    }

    /// [`World::watch`] with `--output text`: the lines a person watching sees.
    pub fn watch_text(&self, job: Pubkey, key: &Keypair) -> Pin<Box<dyn Future<Output = String>>> {
        let watcher = User::with_key(
            &self.chain,
            &self.blobs(),
            Some(self.market),
            key.insecure_clone(),
        );
        let chain = self.chain.clone();
        let (blobs, market) = (self.blobs(), self.market);
        Box::pin(async move {
            let w = World::text_ctx(&chain, &blobs, market, &watcher);
            let job = job.to_string();
            let argv = ["gpumkt", "job", "watch", &job, "--interval-ms", "10"];
            let cli = Cli::try_parse_from(argv).unwrap();
            let mut out = Vec::new();
            tokio::time::timeout(Duration::from_secs(60), run_with(&w, cli.command, &mut out))
                .await
                .expect("the watch ends when the job closes")
                .unwrap();
            String::from_utf8(out).unwrap()
        })
    }

    fn text_ctx(chain: &Arc<EmbeddedChain>, blobs: &str, market: Pubkey, user: &User) -> Ctx {
        let shared: SharedChain = chain.clone();
        Ctx::with_chain(
            shared,
            "embedded".into(),
            Some(Arc::new(user.key().insecure_clone())),
            Some(market),
            Some(blobs.into()),
            Format::Text,
        )
    }

    pub fn watch(&self, job: Pubkey, key: &Keypair) -> Pin<Box<dyn Future<Output = Value>>> {
        let watcher = User::with_key(
            &self.chain,
            &self.blobs(),
            Some(self.market),
            key.insecure_clone(),
        );
        Box::pin(async move {
            let job = job.to_string();
            let args = [
                "job",
                "watch",
                &job,
                "--interval-ms",
                "10",
                "--timeout",
                "120",
            ];
            tokio::time::timeout(Duration::from_secs(60), watcher.run(&args))
                .await
                .expect("the watch ends when the job closes")
        })
    }
}

/// Lets a running watch take a look before the next step.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

pub fn post_args<'a>(
    store: &'a str,
    nonce: &'a str,
    segments: &'a str,
    price: &'a str,
) -> Vec<&'a str> {
    vec![
        "job",
        "post",
        "--segments",
        segments,
        "--segment-price",
        price,
        "--segment-duration",
        "600",
        "--checkpoint-store",
        store,
        "--steps-per-segment",
        "10",
        "--nonce",
        nonce,
    ]
}

pub fn events(watch: &Value) -> Vec<String> {
    watch["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let e = c["event"].as_str().unwrap();
            match c["index"].as_u64() {
                Some(i) => format!("{e}#{i}"),
                None => e.to_string(),
            }
        })
        .collect()
}
