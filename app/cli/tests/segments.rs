//! Segmented train-mlp jobs through the CLI on one embedded chain with a manual clock:
//! the buyer posts (`job post --segments`), reads `job status`, extends, ends and
//! watches with `gpumkt`, parsing `--output json`; the provider plays the chain side
//! directly with the client's segment calls (claim, commit a checkpoint root, finalize
//! after the window, expire a missed one). Money is checked against token balances to
//! the unit. A bad-input table gives each refused post, extension and end its named
//! error and shows that nothing was sent: balances unchanged and no job account.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::{Chain, SharedChain};
use gpu_market_client::ix::MarketKeys;
use gpu_market_client::segments as seg;
use gpu_market_client::{accounts, pda, token, MarketError, Pubkey};
use gpu_market_compute::spec::{Hash32, SpecError, TrainMlpSpec};
use gpu_market_compute::train::data::BUNDLED_DIGITS_SHA256;
use gpu_market_compute::train::Digits;
use gpumkt::error::SegmentInputError;
use gpumkt::{run_with, Cli, CliError, Ctx, Format};
use serde_json::Value;
use solana_sdk::signature::{Keypair, Signer};

const START: i64 = 1_800_000_000;
const BOUNTY: u64 = 5;

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
        User::with_key(chain, blobs, market, key)
    }

    fn with_key(
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

    fn key(&self) -> &Keypair {
        self.ctx.keypair().unwrap()
    }

    fn pubkey(&self) -> Pubkey {
        self.key().pubkey()
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

/// A market (defaults: fee 2.5 %, challenge window 300 s, min submit window 300 s; a
/// crank bounty of 5), one provider registered through the CLI, and a funded buyer.
struct World {
    chain: Arc<EmbeddedChain>,
    dir: tempfile::TempDir,
    mint: Pubkey,
    market: Pubkey,
    keys: MarketKeys,
    admin: User,
    buyer: User,
}

impl World {
    async fn new() -> World {
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

    fn blobs(&self) -> String {
        self.dir.path().join("blobs").display().to_string()
    }

    fn store(&self) -> String {
        format!("file://{}", self.dir.path().join("ckpt").display())
    }

    async fn user(&self) -> User {
        User::new(&self.chain, &self.blobs(), Some(self.market)).await
    }

    async fn mint_to(&self, to: &Pubkey, amount: u64) {
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
    async fn provider(&self) -> (User, Pubkey) {
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

    async fn balance(&self, owner: &Pubkey) -> u64 {
        token::balance(&*self.chain, &token::ata(owner, &self.mint))
            .await
            .unwrap()
    }

    async fn segments(&self, job: &Pubkey) -> gpu_market::state::Segments {
        seg::fetch_segments(&*self.chain, job)
            .await
            .unwrap()
            .unwrap()
    }

    async fn now(&self) -> i64 {
        self.chain.clock().await.unwrap().unix_timestamp
    }

    /// Moves the clock past segment `index`'s challenge window.
    async fn past_window(&self, job: &Pubkey, index: u8) {
        let due = self.segments(job).await.segments[index as usize].challenge_deadline;
        let now = self.now().await;
        self.chain.advance(due + 1 - now).await.unwrap();
    }

    /// A `job watch --output json` running on its own context while the test acts.
    /// `job watch --output json` on its own context, to run beside the test's steps
    /// (`tokio::join!`: the command's future borrows its output and is not `Send`); it
    /// must end by itself, when the job closes.
    fn watch(&self, job: Pubkey, key: &Keypair) -> Pin<Box<dyn Future<Output = Value>>> {
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
async fn settle() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

fn post_args<'a>(
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

fn events(watch: &Value) -> Vec<String> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segmented_job_is_posted_delivered_extended_ended_and_watched() {
    let w = World::new().await;
    let (provider, pkey) = w.provider().await;
    let store = w.store();
    let me = w.buyer.pubkey();
    let fee = |price: u64| gpu_market::math::fee_for(price, 250).unwrap();

    // A dry run shows the escrow, price plus bounty per segment, and sends nothing.
    let mut args = post_args(&store, "1", "3", "1000");
    args.push("--dry-run");
    let dry = w.buyer.run(&args).await;
    assert_eq!(
        (dry["escrow"].as_u64(), dry["dry_run"].as_bool()),
        (Some(3 * 1_005), Some(true))
    );
    let job: Pubkey = s(&dry, "job").parse().unwrap();
    assert!(w.chain.get_account(&job).await.unwrap().is_none());
    assert_eq!(w.balance(&me).await, 100_000);

    let posted = w.buyer.run(&post_args(&store, "1", "3", "1000")).await;
    assert_eq!(s(&posted, "job"), job.to_string());
    assert_eq!(
        (
            posted["segments"].as_u64(),
            posted["price"].as_u64(),
            posted["escrow"].as_u64()
        ),
        (Some(3), Some(3_000), Some(3_015))
    );
    assert_eq!(w.balance(&me).await, 100_000 - 3_015);

    // The published spec is a train-mlp spec over the bundled digits, in the buyer's store.
    let spec_uri = s(&posted, "spec_uri");
    let spec_hash: Hash32 = serde_json::from_value(posted["spec_hash"].clone()).unwrap();
    let bytes = gpu_market_blobs::fetch(&spec_uri, &spec_hash)
        .await
        .unwrap();
    let spec = TrainMlpSpec::from_bytes(&bytes).unwrap();
    assert_eq!(spec.params().segments, 3);
    assert_eq!(spec.params().checkpoint_store, store);
    let data = spec.data().unwrap();
    assert_eq!(data.sha256.to_string(), BUNDLED_DIGITS_SHA256);
    let fetched = gpu_market_blobs::fetch(&data.uri, &data.sha256)
        .await
        .unwrap();
    spec.check_data(&fetched).unwrap();

    let status = w.buyer.run(&["job", "status", &job.to_string()]).await;
    assert_eq!(
        (
            status["state"].as_str(),
            status["workload"].as_str(),
            status["escrow"].as_u64()
        ),
        (Some("segmented"), Some("train-mlp"), Some(3_015))
    );
    let segs = &status["segments"];
    assert_eq!(
        (
            segs["count"].as_u64(),
            segs["done"].as_u64(),
            segs["pending"].as_u64()
        ),
        (Some(3), Some(0), Some(3))
    );
    assert!(segs["current_provider"].is_null());

    let uri0 = format!("{store}/{job}/0.ckpt");
    let watch = w.watch(job, w.buyer.key());
    let steps = async {
        settle().await;

        // The provider claims segment 0 and commits its checkpoint; with two slots its
        // commit starts segment 1 for it.
        let sender = &w.buyer.ctx.sender;
        let worker = provider.key();
        seg::claim(sender, worker, &w.market, &pkey, &job)
            .await
            .unwrap();
        settle().await;
        seg::commit(
            sender,
            worker,
            &w.market,
            &pkey,
            &job,
            0,
            [7; 32],
            uri0.clone(),
        )
        .await
        .unwrap();
        settle().await;
        let status = w.buyer.run(&["job", "status", &job.to_string()]).await;
        let segs = &status["segments"];
        assert_eq!(
            (
                segs["done"].as_u64(),
                segs["paid"].as_u64(),
                segs["running"].as_u64()
            ),
            (Some(1), Some(0), Some(1))
        );
        assert_eq!(s(segs, "current_provider"), pkey.to_string());
        let s0 = &segs["segments"][0];
        assert_eq!(
            (
                s0["state"].as_str(),
                s0["state_root"].as_str(),
                s0["checkpoint_uri"].as_str()
            ),
            (
                Some("committed"),
                Some(hex::encode([7; 32]).as_str()),
                Some(uri0.as_str())
            )
        );
        assert_eq!(s(s0, "provider"), pkey.to_string());
        assert_eq!(segs["segments"][1]["state"], "running");
        let listed = w.buyer.run(&["job", "list", "--state", "segmented"]).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert_eq!(listed[0]["segments"]["done"], 1);

        // Paid after its window: price minus fee to the provider, the bounty to the cranker.
        w.past_window(&job, 0).await;
        let p_before = w.balance(&provider.pubkey()).await;
        let crank_account = token::ata(&provider.pubkey(), &w.mint);
        seg::finalize(sender, worker, &w.keys, &job, 0, crank_account)
            .await
            .unwrap();
        settle().await;
        assert_eq!(
            w.balance(&provider.pubkey()).await,
            p_before + 1_000 - fee(1_000) + BOUNTY
        );
        let status = w.buyer.run(&["job", "status", &job.to_string()]).await;
        assert_eq!(
            status["segments"]["segments"][0]["paid"],
            1_000 - fee(1_000)
        );

        // Extend by two segments at 1500: exactly (1500 + bounty) each leaves the buyer.
        let before = w.balance(&me).await;
        let ext = w
            .buyer
            .run(&[
                "job",
                "extend",
                &job.to_string(),
                "--segments",
                "2",
                "--segment-price",
                "1500",
            ])
            .await;
        assert_eq!(
            (ext["escrow"].as_u64(), ext["count"].as_u64()),
            (Some(3_010), Some(5))
        );
        assert_eq!(w.balance(&me).await, before - 3_010);
        settle().await;

        // End while segment 1 runs: segments 2, 3 and 4 never started and come back,
        // exactly price plus bounty each; a dry run shows the same refund first.
        let before = w.balance(&me).await;
        let dry = w
            .buyer
            .run(&["job", "end", &job.to_string(), "--dry-run"])
            .await;
        assert_eq!(dry["refunded"], 1_005 + 2 * 1_505);
        assert_eq!(w.balance(&me).await, before);
        let ended = w.buyer.run(&["job", "end", &job.to_string()]).await;
        assert_eq!(
            (
                ended["segments_refunded"].as_u64(),
                ended["refunded"].as_u64(),
                ended["running"].as_u64()
            ),
            (Some(3), Some(4_015), Some(1))
        );
        assert_eq!(w.balance(&me).await, before + 4_015);
        settle().await;
        // Ended once: a second end or an extension is the program's JobAlreadyEnded, unsent.
        let before = w.balance(&me).await;
        for args in [
            vec!["job", "end", &*job.to_string()]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
            ["job", "extend", &job.to_string(), "--segments", "1"]
                .into_iter()
                .map(String::from)
                .collect(),
        ] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let e = w.buyer.try_run(&args).await.unwrap_err();
            assert!(
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::Refused {
                        rule: MarketError::JobAlreadyEnded
                    })
                ),
                "{args:?}: {e:?}"
            );
            assert_eq!(e.exit_code(), 2);
        }
        assert_eq!(w.balance(&me).await, before);

        // The running segment still commits and is paid; its payment closes the job.
        let uri1 = format!("{store}/{job}/1.ckpt");
        seg::commit(sender, worker, &w.market, &pkey, &job, 1, [8; 32], uri1)
            .await
            .unwrap();
        settle().await;
        w.past_window(&job, 1).await;
        seg::finalize(sender, worker, &w.keys, &job, 1, crank_account)
            .await
            .unwrap();
    };
    let (watched, ()) = tokio::join!(watch, steps);
    assert!(w.chain.get_account(&job).await.unwrap().is_none());
    // The buyer paid exactly the two delivered segments, price plus bounty each.
    assert_eq!(w.balance(&me).await, 100_000 - 2 * 1_005);

    let seen = events(&watched);
    assert_eq!(
        seen,
        [
            "started#0",
            "committed#0",
            "started#1",
            "paid#0",
            "extended",
            "refunded",
            "ended",
            "committed#1",
            "paid#1",
            "closed"
        ],
        "{watched}"
    );
    let changes = watched["changes"].as_array().unwrap();
    let committed = changes.iter().find(|c| c["event"] == "committed").unwrap();
    assert_eq!(
        (
            committed["state_root"].as_str(),
            committed["checkpoint_uri"].as_str()
        ),
        (Some(hex::encode([7; 32]).as_str()), Some(uri0.as_str()))
    );
    let paid: Vec<u64> = changes
        .iter()
        .filter(|c| c["event"] == "paid")
        .map(|c| c["amount"].as_u64().unwrap())
        .collect();
    assert_eq!(paid, [1_000 - fee(1_000); 2]);
}

/// The attack: a provider claims and never delivers. Its segment expires (its bond
/// slashed), the watch reports the miss and the hand-off, and another provider resumes
/// from the last committed checkpoint; the buyer pays nothing for the missed segment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_segment_is_handed_off_and_the_watch_says_so() {
    let w = World::new().await;
    let (a, akey) = w.provider().await;
    let (b, bkey) = w.provider().await;
    let store = w.store();
    let me = w.buyer.pubkey();
    let posted = w.buyer.run(&post_args(&store, "7", "2", "1000")).await;
    let job: Pubkey = s(&posted, "job").parse().unwrap();
    let sender = &w.buyer.ctx.sender;
    // What A's miss costs it, by the job's frozen terms: segment 1's bond, split by the
    // market's rule between the buyer, the reporter (B, who expires it) and the treasury.
    let terms = accounts::fetch_job(&*w.chain, &job).await.unwrap().terms;
    let bond = gpu_market::math::bond_for(1_000, terms.bond_bps, terms.bond_min).unwrap();
    let split =
        gpu_market::math::slash_split(bond, terms.slash_buyer_bps, terms.slash_reporter_bps)
            .unwrap();
    let payout = gpu_market::math::payout_for(1_000, terms.fee_bps).unwrap();
    let (a_before, b_before) = (w.balance(&a.pubkey()).await, w.balance(&b.pubkey()).await);
    let a_stake = accounts::fetch_provider(&*w.chain, &akey)
        .await
        .unwrap()
        .stake;
    let watch = w.watch(job, w.buyer.key());
    let steps = async {
        settle().await;
        seg::claim(sender, a.key(), &w.market, &akey, &job)
            .await
            .unwrap();
        seg::commit(
            sender,
            a.key(),
            &w.market,
            &akey,
            &job,
            0,
            [1; 32],
            format!("{store}/{job}/0.ckpt"),
        )
        .await
        .unwrap();
        settle().await;
        // Its commit started segment 1 for A (two slots); A goes silent; past segment 1's deadline anyone expires it.
        let late = w.segments(&job).await.segments[1].deadline + 1 - w.now().await;
        w.chain.advance(late).await.unwrap();
        let stake_account = token::ata(&b.pubkey(), &w.mint);
        seg::expire(sender, b.key(), &w.keys, &job, 1, stake_account)
            .await
            .unwrap();
        settle().await;
        let status = w.buyer.run(&["job", "status", &job.to_string()]).await;
        assert_eq!(status["segments"]["segments"][1]["state"], "pending");
        assert_eq!(status["segments"]["last_checkpoint_index"], 0);
        seg::claim(sender, b.key(), &w.market, &bkey, &job)
            .await
            .unwrap();
        settle().await;
        seg::commit(
            sender,
            b.key(),
            &w.market,
            &bkey,
            &job,
            1,
            [2; 32],
            format!("{store}/{job}/1.ckpt"),
        )
        .await
        .unwrap();
        settle().await;
        w.past_window(&job, 1).await;
        let crank = token::ata(&b.pubkey(), &w.mint);
        seg::finalize(sender, b.key(), &w.keys, &job, 0, crank)
            .await
            .unwrap();
        seg::finalize(sender, b.key(), &w.keys, &job, 1, crank)
            .await
            .unwrap();
    };
    let (watched, ()) = tokio::join!(watch, steps);
    let seen = events(&watched);
    assert_eq!(
        seen,
        [
            "started#0",
            "committed#0",
            "started#1",
            "expired#1",
            "started#1",
            "committed#1",
            "paid#0",
            "paid#1",
            "closed"
        ],
        "{watched}"
    );
    let changes = watched["changes"].as_array().unwrap();
    let expired = changes.iter().find(|c| c["event"] == "expired").unwrap();
    assert_eq!(s(expired, "provider"), akey.to_string());
    let handoff = changes
        .iter()
        .filter(|c| c["event"] == "started")
        .nth(2)
        .unwrap();
    assert_eq!(
        (s(handoff, "provider"), s(handoff, "handoff_from")),
        (bkey.to_string(), akey.to_string())
    );
    // Each provider is paid for the segment it delivered; A loses segment 1's bond from
    // its stake; the buyer paid for two segments and got its share of the slash; B
    // earned the reporter's share and both bounties.
    assert_eq!(w.balance(&a.pubkey()).await, a_before + payout);
    assert_eq!(
        accounts::fetch_provider(&*w.chain, &akey)
            .await
            .unwrap()
            .stake,
        a_stake - bond
    );
    assert_eq!(
        w.balance(&b.pubkey()).await,
        b_before + split.reporter + payout + 2 * BOUNTY
    );
    assert_eq!(w.balance(&me).await, 100_000 - 2 * 1_005 + split.buyer);
    assert!(split.buyer > 0 && split.reporter > 0);
}

/// Each refused post, extension and end gets its named error and sends nothing: the
/// buyer's balance is unchanged and no job account exists for the nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_segmented_input_gets_its_named_error_and_sends_nothing() {
    let w = World::new().await;
    let store = w.store();
    let me = w.buyer.pubkey();
    let dir = w.dir.path();
    let gemm_spec = dir.join("gemm.json");
    std::fs::write(
        &gemm_spec,
        r#"{"version":1,"workload":{"kind":"gemm-i8","m":4,"n":4,"k":4},"inputs":[]}"#,
    )
    .unwrap();
    let digits = std::fs::read(Digits::bundled_path()).unwrap();
    let train_spec = dir.join("train.json");
    std::fs::write(
        &train_spec,
        serde_json::json!({
            "version": 1,
            "workload": {"kind": "train-mlp", "input": 64, "hidden": 32, "classes": 10,
                "batch": 32, "learning_rate": 0.1, "momentum": 0.9, "init_seed": 1,
                "data_seed": 2, "steps_per_segment": 10, "segments": 2,
                "checkpoint_store": store},
            "inputs": [{"name": "digits", "uri": "file:///nowhere/digits",
                "sha256": BUNDLED_DIGITS_SHA256, "len": digits.len()}],
        })
        .to_string(),
    )
    .unwrap();
    let garbage = dir.join("garbage.bin");
    std::fs::write(&garbage, b"not a digits file at all").unwrap();
    let (gemm, train, garbage) = (
        gemm_spec.display().to_string(),
        train_spec.display().to_string(),
        garbage.display().to_string(),
    );

    let refused = |rule: MarketError| move |e: &CliError| matches!(e, CliError::Segments(SegmentInputError::Refused { rule: r }) if *r == rule);
    let base = |extra: &[&'static str]| {
        let mut v: Vec<String> = ["job", "post", "--checkpoint-store", &store, "--nonce", "9"]
            .into_iter()
            .map(String::from)
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(&str, Vec<String>, Box<dyn Fn(&CliError) -> bool>)> = vec![
        (
            "no segments",
            base(&["--segments", "0", "--segment-price", "10"]),
            Box::new(refused(MarketError::SegmentsEmpty)),
        ),
        (
            "over MAX_SEGMENTS",
            base(&["--segments", "33", "--segment-price", "10"]),
            Box::new(refused(MarketError::TooManySegments)),
        ),
        (
            "a zero price",
            base(&["--segments", "2", "--segment-price", "10,0"]),
            Box::new(refused(MarketError::PriceZero)),
        ),
        (
            "a duration shorter than the market's submit window",
            base(&[
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--segment-duration",
                "60",
            ]),
            Box::new(refused(MarketError::SegmentDurationInvalid)),
        ),
        (
            "a price list of the wrong length",
            base(&["--segments", "2", "--segment-price", "10,20,30"]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::TermsListLength {
                        flag: "--segment-price",
                        given: 3,
                        segments: 2
                    })
                )
            }),
        ),
        (
            "no segment price",
            base(&["--segments", "2"]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::SegmentPriceRequired)
                )
            }),
        ),
        (
            "a GEMM workload in segments",
            [
                "job",
                "post",
                "--workload",
                "gemm-i8",
                "--segments",
                "2",
                "--segment-price",
                "10",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(
                |e: &CliError| matches!(e, CliError::Segments(SegmentInputError::NotSegmentable { kind }) if kind == "gemm-i8"),
            ),
        ),
        (
            "a GEMM spec file in segments",
            [
                "job",
                "post",
                "--spec",
                &gemm,
                "--segments",
                "2",
                "--segment-price",
                "10",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(
                |e: &CliError| matches!(e, CliError::Segments(SegmentInputError::NotSegmentable { kind }) if kind == "gemm-i8"),
            ),
        ),
        (
            "train-mlp without segments",
            ["job", "post", "--workload", "train-mlp", "--price", "10"]
                .map(String::from)
                .to_vec(),
            Box::new(|e: &CliError| {
                matches!(e, CliError::Segments(SegmentInputError::SegmentsRequired))
            }),
        ),
        (
            "a train-mlp spec file without segments",
            ["job", "post", "--spec", &train, "--price", "10"]
                .map(String::from)
                .to_vec(),
            Box::new(|e: &CliError| {
                matches!(e, CliError::Segments(SegmentInputError::SegmentsRequired))
            }),
        ),
        (
            "a spec planning 2 segments posted as 3",
            [
                "job",
                "post",
                "--spec",
                &train,
                "--segments",
                "3",
                "--segment-price",
                "10",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::SpecSegmentsDisagree {
                        spec: 2,
                        flag: 3,
                        ..
                    })
                )
            }),
        ),
        (
            "no checkpoint store",
            ["job", "post", "--segments", "2", "--segment-price", "10"]
                .map(String::from)
                .to_vec(),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::CheckpointStoreRequired)
                )
            }),
        ),
        (
            "an unsupported checkpoint store scheme",
            [
                "job",
                "post",
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--checkpoint-store",
                "ftp://host/ckpt",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::Spec(SpecError::CheckpointStore { .. }))
                )
            }),
        ),
        (
            "a relative file checkpoint store",
            [
                "job",
                "post",
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--checkpoint-store",
                "file://ckpt",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::Spec(SpecError::CheckpointStore { .. }))
                )
            }),
        ),
        (
            "a batch larger than the training data",
            base(&[
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--batch",
                "5000",
            ]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::Spec(SpecError::TrainConfig(_)))
                )
            }),
        ),
        (
            "training data that is not a digits file",
            {
                let mut v = base(&["--segments", "2", "--segment-price", "10", "--data"]);
                v.push(garbage.clone());
                v
            },
            Box::new(|e: &CliError| {
                matches!(e, CliError::Segments(SegmentInputError::Data { .. }))
            }),
        ),
        (
            "training data that does not exist",
            base(&[
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--data",
                "/nonexistent/digits.bin",
            ]),
            Box::new(|e: &CliError| matches!(e, CliError::ReadFile { .. })),
        ),
        (
            "an escrow above --max-escrow",
            base(&[
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--max-escrow",
                "29",
            ]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::EscrowAboveMax {
                        escrow: 30,
                        max: 29,
                        ..
                    }
                )
            }),
        ),
        (
            "an escrow above the balance",
            base(&["--segments", "2", "--segment-price", "60000"]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::InsufficientBalance {
                        need: 120_010,
                        have: 100_000,
                        ..
                    }
                )
            }),
        ),
    ];
    let job9 = pda::job(&w.market, &me, 9);
    for (what, args, check) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = w.buyer.try_run(&args).await.expect_err(what);
        assert!(check(&e), "{what}: got {e:?}");
        assert_eq!(e.exit_code(), 2, "{what}: {e}");
        assert_eq!(w.balance(&me).await, 100_000, "{what}: money moved");
        assert!(
            w.chain.get_account(&job9).await.unwrap().is_none(),
            "{what}: a job was posted"
        );
    }

    // The spec file itself is fine: posted as its 2 segments it goes through.
    let posted = w
        .buyer
        .run(&[
            "job",
            "post",
            "--spec",
            &train,
            "--segments",
            "2",
            "--segment-price",
            "10",
            "--nonce",
            "10",
        ])
        .await;
    let job: Pubkey = s(&posted, "job").parse().unwrap();
    assert_eq!(w.balance(&me).await, 100_000 - 2 * (10 + BOUNTY));
    let before = w.balance(&me).await;

    // Extensions and ends refused before sending.
    let other = w.user().await;
    w.mint_to(&other.pubkey(), 1_000).await;
    let job_s = job.to_string();
    let single = w
        .buyer
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
            "--nonce",
            "11",
        ])
        .await;
    let single = s(&single, "job");
    let before = before - (10 + BOUNTY);
    assert_eq!(w.balance(&me).await, before);
    let refusals: Vec<(&str, &User, Vec<&str>, Box<dyn Fn(&CliError) -> bool>)> = vec![
        (
            "someone else's job extended",
            &other,
            vec!["job", "extend", &job_s, "--segments", "1"],
            Box::new(|e: &CliError| matches!(e, CliError::NotYourJob { .. })),
        ),
        (
            "someone else's job ended",
            &other,
            vec!["job", "end", &job_s],
            Box::new(|e: &CliError| matches!(e, CliError::NotYourJob { .. })),
        ),
        (
            "a single job extended",
            &w.buyer,
            vec!["job", "extend", &single, "--segments", "1"],
            Box::new(|e: &CliError| matches!(e, CliError::NotSegmented { state: "open", .. })),
        ),
        (
            "a single job ended",
            &w.buyer,
            vec!["job", "end", &single],
            Box::new(|e: &CliError| matches!(e, CliError::NotSegmented { .. })),
        ),
        (
            "extended past MAX_SEGMENTS",
            &w.buyer,
            vec!["job", "extend", &job_s, "--segments", "31"],
            Box::new(refused(MarketError::TooManySegments)),
        ),
        (
            "extended by nothing",
            &w.buyer,
            vec!["job", "extend", &job_s, "--segments", "0"],
            Box::new(refused(MarketError::SegmentsEmpty)),
        ),
        (
            "an extension above --max-escrow",
            &w.buyer,
            vec![
                "job",
                "extend",
                &job_s,
                "--segments",
                "2",
                "--max-escrow",
                "10",
            ],
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::EscrowAboveMax {
                        escrow: 30,
                        max: 10,
                        ..
                    }
                )
            }),
        ),
        (
            "an extension above the balance",
            &w.buyer,
            vec![
                "job",
                "extend",
                &job_s,
                "--segments",
                "2",
                "--segment-price",
                "60000",
            ],
            Box::new(|e: &CliError| matches!(e, CliError::InsufficientBalance { .. })),
        ),
    ];
    let other_before = w.balance(&other.pubkey()).await;
    for (what, user, args, check) in &refusals {
        let e = user.try_run(args).await.expect_err(what);
        assert!(check(&e), "{what}: got {e:?}");
        assert_eq!(e.exit_code(), 2, "{what}: {e}");
        assert_eq!(w.balance(&me).await, before, "{what}: money moved");
        assert_eq!(w.balance(&other.pubkey()).await, other_before, "{what}");
    }
    assert_eq!(w.segments(&job).await.count, 2);

    // Past the job's deadline no extension is accepted (JobDeadlinePassed, unsent).
    w.chain.advance(3_601).await.unwrap();
    let e = w
        .buyer
        .try_run(&["job", "extend", &job_s, "--segments", "1"])
        .await
        .unwrap_err();
    assert!(refused(MarketError::JobDeadlinePassed)(&e), "{e:?}");
    assert_eq!(w.balance(&me).await, before);
    // Ending with nothing started refunds everything, exactly; the job then closes.
    let ended = w.buyer.run(&["job", "end", &job_s]).await;
    assert_eq!(ended["refunded"], 2 * (10 + BOUNTY));
    assert_eq!(w.balance(&me).await, before + 2 * (10 + BOUNTY));
    assert!(w.chain.get_account(&job).await.unwrap().is_none());
}
