//! The CLI's commands end to end on one embedded chain, as separate users
//! (authority, provider, buyer, auditor) would run them, parsing `--output
//! json`; and each bad-input case getting a clear error and a non-zero exit.

use std::sync::Arc;

use clap::Parser;
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::rpc::RpcChain;
use gpu_market_client::chain::{Chain, SharedChain};
use gpu_market_client::Pubkey;
use gpumkt::{run_with, Cli, CliError, Ctx, Format};
use serde_json::Value;
use solana_sdk::signature::{Keypair, Signer};

struct User {
    ctx: Ctx,
}

impl User {
    async fn new(chain: &Arc<EmbeddedChain>, blobs: &str, market: Option<Pubkey>) -> User {
        let key = Keypair::new();
        chain
            .request_airdrop(&key.pubkey(), 10_000_000_000)
            .await
            .unwrap();
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

    fn pubkey(&self) -> Pubkey {
        self.ctx.keypair().unwrap().pubkey()
    }

    async fn try_run(&self, args: &[&str]) -> Result<Value, CliError> {
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

    async fn run(&self, args: &[&str]) -> Value {
        self.try_run(args)
            .await
            .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
    }
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_providers_and_auditors_through_the_cli() {
    let chain = EmbeddedChain::start(ClockMode::Manual {
        start_unix_timestamp: 1_800_000_000,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    let blobs = blobs.to_str().unwrap();

    let admin = User::new(&chain, blobs, None).await;
    let mint = s(&admin.run(&["token", "create-mint"]).await, "mint");
    let market_json = admin
        .run(&[
            "market",
            "create",
            "--payment-mint",
            &mint,
            "--min-stake",
            "1000",
            "--bond-min",
            "10",
            "--crank-bounty",
            "5",
        ])
        .await;
    let market: Pubkey = s(&market_json, "market").parse().unwrap();
    assert_eq!(market_json["params"]["crank_bounty"], 5);

    let provider = User::new(&chain, blobs, Some(market)).await;
    let buyer = User::new(&chain, blobs, Some(market)).await;
    let auditor = User::new(&chain, blobs, Some(market)).await;
    admin
        .run(&[
            "token",
            "mint",
            "--mint",
            &mint,
            "--to",
            &provider.pubkey().to_string(),
            "--amount",
            "50000",
        ])
        .await;
    admin
        .run(&[
            "token",
            "mint",
            "--mint",
            &mint,
            "--to",
            &buyer.pubkey().to_string(),
            "--amount",
            "100000",
        ])
        .await;

    // Provider registers with explicit hardware and shows up in listings.
    let reg = provider
        .run(&[
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
    assert_eq!(reg["vram_mb"], 23034);
    let shown = provider.run(&["provider", "show"]).await;
    assert_eq!(
        (shown["stake"].as_u64(), shown["gpu"]["model"].as_str()),
        (Some(5000), Some("NVIDIA L4"))
    );
    let list = auditor.run(&["provider", "list"]).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Buyer posts a generated GEMM job; status and listing show it open.
    let posted = buyer
        .run(&[
            "job",
            "post",
            "--workload",
            "gemm-i8",
            "--m",
            "8",
            "--n",
            "8",
            "--k",
            "8",
            "--price",
            "2000",
            "--nonce",
            "1",
        ])
        .await;
    let job = s(&posted, "job");
    let status = buyer.run(&["job", "status", &job]).await;
    assert_eq!(
        (
            status["state"].as_str(),
            status["price"].as_u64(),
            status["escrow"].as_u64()
        ),
        (Some("open"), Some(2000), Some(2005))
    );
    let open = auditor.run(&["job", "list", "--state", "open"]).await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    let bal = buyer.run(&["token", "balance", "--mint", &mint]).await;
    assert_eq!(s(&bal, "owner"), buyer.pubkey().to_string());
    assert_eq!(
        buyer.run(&["token", "balance", "--mint", &mint]).await["amount"],
        100000 - 2005
    );

    // Only the buyer can cancel; cancelling refunds in full.
    let err = provider
        .try_run(&["job", "cancel", &job])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("was posted by"), "{err}");
    let cancelled = buyer.run(&["job", "cancel", &job]).await;
    assert_eq!(cancelled["refunded"], 2005);
    assert_eq!(
        buyer.run(&["token", "balance", "--mint", &mint]).await["amount"],
        100000
    );
    let err = buyer.try_run(&["job", "status", &job]).await.unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");

    // The auditor recomputes the market from chain state.
    let stats = auditor.run(&["audit", "stats"]).await;
    assert_eq!(
        (
            stats["jobs_posted"].as_u64(),
            stats["jobs_cancelled"].as_u64(),
            stats["jobs_live"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(stats["providers"].as_array().unwrap().len(), 1);
    let inv = auditor.run(&["audit", "invariants"]).await;
    assert_eq!(inv["ok"], true);
    assert!(inv["checks"].as_array().unwrap().len() >= 10);
    let providers = auditor.run(&["audit", "providers"]).await;
    assert_eq!(providers[0]["gpu_model"], "NVIDIA L4");
    let shown = auditor.run(&["market", "show"]).await;
    assert_eq!(
        (
            shown["totals"]["jobs_posted"].as_u64(),
            shown["payment_vault_balance"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let crank = auditor.run(&["crank"]).await;
    assert_eq!(crank["finalized"].as_array().unwrap().len(), 0);

    // A referee seat locks stake out of what can be unstaked, and comes back on leaving.
    let seat = provider.run(&["provider", "referee-join", "300"]).await;
    assert_eq!(seat["referee_seat_weight"], 300);
    let shown = provider.run(&["provider", "show"]).await;
    assert_eq!(shown["referee_stake"], 300);
    let free = shown["free_stake"].as_u64().unwrap();
    let err = provider
        .try_run(&["provider", "unstake", &(free + 1).to_string()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("InsufficientFreeStake"), "{err}");
    let left = provider.run(&["provider", "referee-leave"]).await;
    assert_eq!(left["referee_seat_released"], 300);
    assert_eq!(
        provider.run(&["provider", "show"]).await["referee_stake"],
        0
    );

    // Stake management.
    provider.run(&["provider", "stake", "100"]).await;
    let un = provider.run(&["provider", "unstake", "600"]).await;
    assert_eq!(un["pending"], 600);
    let err = provider
        .try_run(&["provider", "withdraw"])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string().split(' ').next(),
        Some("UnstakeCooldownActive"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_named_error() {
    let chain = EmbeddedChain::start(ClockMode::Manual {
        start_unix_timestamp: 1_800_000_000,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    let blobs = blobs.to_str().unwrap();
    let admin = User::new(&chain, blobs, None).await;
    let mint = s(&admin.run(&["token", "create-mint"]).await, "mint");
    let market: Pubkey = s(
        &admin
            .run(&["market", "create", "--payment-mint", &mint])
            .await,
        "market",
    )
    .parse()
    .unwrap();
    let user = User::new(&chain, blobs, Some(market)).await;

    let expect = |r: Result<Value, CliError>, needle: &str, code: i32| {
        let e = r.expect_err(needle);
        assert!(
            e.to_string().contains(needle),
            "expected {needle:?} in: {e}"
        );
        assert_eq!(e.exit_code(), code, "{e}");
    };

    // Unknown market.
    let nowhere = User::new(&chain, blobs, Some(Pubkey::new_unique())).await;
    expect(
        nowhere.try_run(&["market", "show"]).await,
        "does not exist",
        1,
    );
    // No market given.
    let unset = User::new(&chain, blobs, None).await;
    expect(unset.try_run(&["job", "list"]).await, "no market given", 2);
    // Insufficient balance.
    expect(
        user.try_run(&[
            "job",
            "post",
            "--workload",
            "gemm-i8",
            "--m",
            "4",
            "--n",
            "4",
            "--k",
            "4",
            "--price",
            "10",
        ])
        .await,
        "insufficient balance",
        2,
    );
    admin
        .run(&[
            "token",
            "mint",
            "--mint",
            &mint,
            "--to",
            &user.pubkey().to_string(),
            "--amount",
            "100000000",
        ])
        .await;
    // Malformed spec file.
    let spec = dir.path().join("spec.json");
    std::fs::write(
        &spec,
        r#"{"version":1,"workload":{"kind":"gemm-i8","m":0,"n":4,"k":4},"inputs":[]}"#,
    )
    .unwrap();
    expect(
        user.try_run(&[
            "job",
            "post",
            "--spec",
            spec.to_str().unwrap(),
            "--price",
            "10",
        ])
        .await,
        "malformed spec",
        2,
    );
    std::fs::write(&spec, "not json").unwrap();
    expect(
        user.try_run(&[
            "job",
            "post",
            "--spec",
            spec.to_str().unwrap(),
            "--price",
            "10",
        ])
        .await,
        "malformed spec",
        2,
    );
    expect(
        user.try_run(&[
            "job",
            "post",
            "--spec",
            "/nonexistent/spec.json",
            "--price",
            "10",
        ])
        .await,
        "cannot read spec",
        2,
    );
    // Invalid workload shapes and prices.
    expect(
        user.try_run(&[
            "job",
            "post",
            "--workload",
            "gemm-i8",
            "--m",
            "4",
            "--n",
            "4",
            "--k",
            "100000",
            "--price",
            "10",
        ])
        .await,
        "invalid workload",
        2,
    );
    expect(
        user.try_run(&["job", "post", "--workload", "gemm-i8", "--price", "0"])
            .await,
        "--price must be positive",
        2,
    );
    // Stake below the minimum; not registered.
    expect(
        user.try_run(&["provider", "register", "--stake", "1", "--gpu-model", "x"])
            .await,
        "below the market's minimum stake",
        2,
    );
    expect(
        user.try_run(&["provider", "unstake", "5"]).await,
        "not a provider",
        2,
    );
    // Parameters outside the program's bounds are refused before sending.
    let admin_m = User {
        ctx: Ctx::with_chain(
            chain.clone(),
            "embedded".into(),
            Some(Arc::new(admin.ctx.keypair().unwrap().insecure_clone())),
            Some(market),
            Some(blobs.into()),
            Format::Json,
        ),
    };
    expect(
        admin_m
            .try_run(&["market", "update", "--fee-bps", "9000"])
            .await,
        "invalid parameters",
        2,
    );
    expect(
        user.try_run(&["market", "update", "--fee-bps", "10"]).await,
        "only the market authority",
        2,
    );
    // A program rejection surfaces the program's error name.
    let posted = user
        .run(&[
            "job",
            "post",
            "--workload",
            "gemm-i8",
            "--m",
            "4",
            "--n",
            "4",
            "--k",
            "4",
            "--price",
            "10",
            "--deadline-in",
            // The shortest deadline the market's min_submit_window (300 s) admits.
            "300",
        ])
        .await;
    chain.advance(310).await.unwrap();
    let job = s(&posted, "job");
    let err = user.try_run(&["job", "result", &job]).await.unwrap_err();
    assert!(err.to_string().contains("no submitted result"), "{err}");
    // Not a keypair file / bad URL monikers.
    let cli = Cli::try_parse_from(["gpumkt", "--url", "devnett", "market", "list"]).unwrap();
    let e = gpumkt::run(cli, &mut Vec::new()).await.unwrap_err();
    assert!(e.to_string().contains("neither a URL"), "{e}");
    // Unreachable RPC.
    let dead: SharedChain = Arc::new(RpcChain::new("http://127.0.0.1:9"));
    let offline = User {
        ctx: Ctx::with_chain(
            dead,
            "http://127.0.0.1:9".into(),
            None,
            Some(market),
            None,
            Format::Json,
        ),
    };
    expect(
        offline.try_run(&["market", "show"]).await,
        "cannot reach the cluster at http://127.0.0.1:9",
        1,
    );
}
