//! The auditor's commands end to end on one embedded chain: `audit verify` on an honest
//! result, a cheated one (a provider that submits a tampered output, stored so that its
//! URI resolves) and one whose output blob is gone; `audit watch --once` challenging and
//! proving the cheated job, then, after the response window, settling it: the provider
//! slashed by exactly its job bond plus the stake locked beside it, the challenger paid
//! exactly the reporter share (plus the settler's bounty), the honest job untouched.

use std::sync::Arc;

use clap::Parser;
use gpu_market::JobSubmitArgs;
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::{Chain, SharedChain};
use gpu_market_client::{accounts, ix, pda, Pubkey};
use gpu_market_compute::commit::result_root;
use gpu_market_compute::{gemm, spec::JobSpec, Hash32};
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

    fn key(&self) -> &Keypair {
        self.ctx.keypair().unwrap()
    }

    fn pubkey(&self) -> Pubkey {
        self.key().pubkey()
    }

    /// The command's output and its result (the output is printed before an error).
    async fn exec(&self, args: &[&str]) -> (String, Result<(), CliError>) {
        let mut argv = vec!["gpumkt"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let mut out = Vec::new();
        let r = run_with(&self.ctx, cli.command, &mut out).await;
        (String::from_utf8(out).unwrap(), r)
    }

    async fn run(&self, args: &[&str]) -> Value {
        let (out, r) = self.exec(args).await;
        r.unwrap_or_else(|e| panic!("{args:?} failed: {e}"));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// `audit watch` prints one JSON object per line.
    async fn watch_once(&self) -> Vec<Value> {
        let (out, r) = self.exec(&["audit", "watch", "--once"]).await;
        r.unwrap_or_else(|e| panic!("watch failed: {e}"));
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_string()
}

/// A job's inputs and the output its provider committed to.
struct Matrices {
    workload: gpu_market_compute::spec::Workload,
    a: Vec<u8>,
    b: Vec<u8>,
    c: Vec<u8>,
}

struct Market {
    chain: Arc<EmbeddedChain>,
    _dir: tempfile::TempDir,
    blobs_dir: std::path::PathBuf,
    blobs: String,
    admin: User,
    mint: String,
    market: Pubkey,
}

impl Market {
    async fn new() -> Market {
        let chain = EmbeddedChain::start(ClockMode::Manual {
            start_unix_timestamp: 1_800_000_000,
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let blobs_dir = dir.path().join("blobs");
        let blobs = blobs_dir.to_str().unwrap().to_string();
        let admin = User::new(&chain, &blobs, None).await;
        let mint = s(&admin.run(&["token", "create-mint"]).await, "mint");
        let market = admin
            .run(&[
                "market",
                "create",
                "--payment-mint",
                &mint,
                "--min-stake",
                "1000",
            ])
            .await;
        let market: Pubkey = s(&market, "market").parse().unwrap();
        Market {
            chain,
            _dir: dir,
            blobs_dir,
            blobs,
            admin,
            mint,
            market,
        }
    }

    async fn user(&self, tokens: u64) -> User {
        let u = User::new(&self.chain, &self.blobs, Some(self.market)).await;
        let to = u.pubkey().to_string();
        let amount = tokens.to_string();
        self.admin
            .run(&[
                "token", "mint", "--mint", &self.mint, "--to", &to, "--amount", &amount,
            ])
            .await;
        u
    }

    async fn balance(&self, u: &User) -> u64 {
        u.run(&["token", "balance", "--mint", &self.mint]).await["amount"]
            .as_u64()
            .unwrap()
    }

    /// A provider (registered through the CLI) takes a buyer's generated gemm-i8 job
    /// (posted through the CLI, i.e. `buyer::post`) and submits the true product, with
    /// `tamper` applied to it first, stored in the blob store. Inputs are seeded by the
    /// nonce, so that two jobs' outputs are different blobs. Returns (job, provider).
    async fn submitted(
        &self,
        nonce: u64,
        tamper: impl FnOnce(&mut [i32]),
    ) -> (Pubkey, User, Matrices) {
        self.submitted_as(nonce, "gemm-i8", |c: &mut Vec<u8>| {
            let mut v = gemm::i32s_from_le_bytes(c);
            tamper(&mut v);
            *c = gemm::i32s_to_le_bytes(&v);
        })
        .await
    }

    /// [`Self::submitted`] for `workload` ("gemm-i8" or "gemm-f32"), `tamper` applied to
    /// the output's little-endian bytes.
    async fn submitted_as(
        &self,
        nonce: u64,
        workload: &str,
        tamper: impl FnOnce(&mut Vec<u8>),
    ) -> (Pubkey, User, Matrices) {
        let provider = self.user(50_000).await;
        provider
            .run(&[
                "provider",
                "register",
                "--stake",
                "40000",
                "--gpu-model",
                "NVIDIA L4",
                "--vram-mb",
                "23034",
                "--compute-capability",
                "89",
            ])
            .await;
        let buyer = self.user(100_000).await;
        let nonce = nonce.to_string();
        let posted = buyer
            .run(&[
                "job",
                "post",
                "--workload",
                workload,
                "--m",
                "8",
                "--n",
                "8",
                "--k",
                "8",
                "--price",
                "2000",
                "--nonce",
                &nonce,
                "--seed",
                &nonce,
            ])
            .await;
        let job: Pubkey = s(&posted, "job").parse().unwrap();

        let chain = &*self.chain;
        let state = accounts::fetch_job(chain, &job).await.unwrap();
        let spec = gpu_market_blobs::fetch(&state.spec_uri, &Hash32(state.spec_hash))
            .await
            .unwrap();
        let spec = JobSpec::from_bytes(&spec).unwrap();
        let input = |name: &str| {
            let r = spec.input(name).unwrap().clone();
            async move { gpu_market_blobs::fetch(&r.uri, &r.sha256).await.unwrap() }
        };
        let (a, b) = (input("a").await, input("b").await);
        let mut c = match spec.workload {
            gpu_market_compute::spec::Workload::GemmI8 { .. } => {
                let c = gemm::gemm_i8(
                    8,
                    8,
                    8,
                    &gemm::i8s_from_bytes(&a),
                    &gemm::i8s_from_bytes(&b),
                );
                gemm::i32s_to_le_bytes(&c.unwrap())
            }
            _ => {
                let (af, bf) = (gemm::f32s_from_le_bytes(&a), gemm::f32s_from_le_bytes(&b));
                gemm::f32s_to_le_bytes(&gemm::gemm_f32(8, 8, 8, &af, &bf).unwrap())
            }
        };
        tamper(&mut c);
        let store = gpu_market_blobs::open(&self.blobs).unwrap();
        let stored = store.put(&c).await.unwrap();

        let me = provider.pubkey();
        let pkey = pda::provider(&self.market, &me);
        let claim = ix::job_claim(self.market, pkey, job, me);
        provider
            .ctx
            .sender
            .send(&[claim], provider.key(), &[])
            .await
            .unwrap();
        let submit = ix::job_submit(
            pkey,
            job,
            me,
            JobSubmitArgs {
                result_root: result_root(&spec.workload, &c).unwrap().0,
                result_uri: stored.uri,
                gpu_ms: 1,
            },
        );
        provider
            .ctx
            .sender
            .send(&[submit], provider.key(), &[])
            .await
            .unwrap();
        let workload = spec.workload;
        (job, provider, Matrices { workload, a, b, c })
    }

    /// Deletes the blob whose SHA-256 a URI names from the directory store.
    fn delete_blob(&self, uri: &str) {
        let sha = gpu_market_blobs::uri_sha256(uri).unwrap();
        let hex = hex::encode(sha.0);
        let mut stack = vec![self.blobs_dir.clone()];
        let mut deleted = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.file_name().unwrap().to_str().unwrap().contains(&hex) {
                    std::fs::remove_file(&p).unwrap();
                    deleted += 1;
                }
            }
        }
        assert_eq!(deleted, 1, "the output blob {hex} in {:?}", self.blobs_dir);
    }
}

fn cheat(c: &mut [i32]) {
    c[3 * 8 + 5] += 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_a_wrong_element_and_an_unavailable_output() {
    let m = Market::new().await;
    let auditor = User::new(&m.chain, &m.blobs, Some(m.market)).await;

    let (honest, _, _) = m.submitted(1, |_| {}).await;
    let v = auditor.run(&["audit", "verify", &honest.to_string()]).await;
    assert_eq!(
        (v["verdict"].as_str(), v["job"].as_str()),
        (Some("correct"), Some(&*honest.to_string()))
    );

    // The attack: a provider submits a product with one element off by one.
    let (cheated, _, _) = m.submitted(2, cheat).await;
    let (out, r) = auditor
        .exec(&["audit", "verify", &cheated.to_string()])
        .await;
    let e = r.unwrap_err();
    assert!(
        matches!(e, CliError::ResultWrong { row: 3, col: 5, .. }),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("C[3][5]"), "{e}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["verdict"].as_str(), v["row"].as_u64(), v["col"].as_u64()),
        (Some("wrong"), Some(3), Some(5))
    );
    assert_eq!(
        v["exact"].as_str().unwrap().parse::<i64>().unwrap() + 1,
        v["claimed"].as_str().unwrap().parse::<i64>().unwrap()
    );

    // The element it names is challenged by hand: bond posted, row of A and column of B
    // proven, their dot product absorbed.
    let viewer = User::new(&m.chain, &m.blobs, Some(m.market)).await;
    let bond = viewer.run(&["market", "show"]).await["params"]["challenger_bond"]
        .as_u64()
        .unwrap();
    let bonded = m.user(bond * 2).await;
    let c = bonded
        .run(&[
            "audit",
            "challenge",
            &cheated.to_string(),
            "--row",
            "3",
            "--col",
            "5",
        ])
        .await;
    let dispute: Pubkey = s(&c, "dispute").parse().unwrap();
    let d = accounts::fetch_dispute(&*m.chain, &dispute).await.unwrap();
    assert_eq!(
        (d.row, d.col, d.proven, d.challenger),
        (3, 5, 1 | 2, bonded.pubkey())
    );
    assert_eq!(d.absorbed(gpu_market::state::WorkloadKind::GemmI8), 8);

    // The output blob vanishes: a named outcome with its own exit code, not a crash.
    let (gone, _, _) = m.submitted(3, |_| {}).await;
    let uri = accounts::fetch_job(&*m.chain, &gone)
        .await
        .unwrap()
        .result_uri;
    m.delete_blob(&uri);
    let (out, r) = auditor.exec(&["audit", "verify", &gone.to_string()]).await;
    let e = r.unwrap_err();
    assert!(matches!(e, CliError::OutputUnavailable { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 3);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "output_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_watch_challenges_and_slashes_a_cheat_and_leaves_honest_work_alone() {
    let m = Market::new().await;
    let viewer = User::new(&m.chain, &m.blobs, Some(m.market)).await;
    let params = viewer.run(&["market", "show"]).await;
    let p = &params["params"];
    let (challenger_bond, crank_bounty, buyer_bps, reporter_bps) = (
        p["challenger_bond"].as_u64().unwrap(),
        p["crank_bounty"].as_u64().unwrap(),
        p["slash_buyer_bps"].as_u64().unwrap() as u16,
        p["slash_reporter_bps"].as_u64().unwrap() as u16,
    );
    let auditor = m.user(challenger_bond * 10).await;
    let (honest, _, _) = m.submitted(1, |_| {}).await;
    let (cheated, cheater, _) = m.submitted(2, cheat).await;
    let (gone, _, _) = m.submitted(3, |_| {}).await;
    let uri = accounts::fetch_job(&*m.chain, &gone)
        .await
        .unwrap()
        .result_uri;
    m.delete_blob(&uri);

    let job = accounts::fetch_job(&*m.chain, &cheated).await.unwrap();
    let pkey = pda::provider(&m.market, &cheater.pubkey());
    let before = accounts::fetch_provider(&*m.chain, &pkey).await.unwrap();
    let balance_before = m.balance(&auditor).await;

    // First pass: every submission verified once; the cheat challenged and proven.
    let events = auditor.watch_once().await;
    let of = |job: &Pubkey, event: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["job"] == job.to_string() && e["event"] == event)
            .cloned()
            .collect()
    };
    assert_eq!(
        of(&honest, "verified")[0]["verdict"],
        "correct",
        "{events:?}"
    );
    assert_eq!(
        of(&gone, "verified")[0]["verdict"],
        "output_unavailable",
        "{events:?}"
    );
    assert_eq!(
        of(&cheated, "verified")[0]["verdict"],
        "wrong",
        "{events:?}"
    );
    let challenged = &of(&cheated, "challenged");
    assert_eq!(challenged.len(), 1, "{events:?}");
    assert_eq!(
        (challenged[0]["row"].as_u64(), challenged[0]["col"].as_u64()),
        (Some(3), Some(5))
    );
    assert!(of(&honest, "challenged").is_empty() && of(&gone, "challenged").is_empty());
    let dispute_key: Pubkey = s(&challenged[0], "dispute").parse().unwrap();
    let dispute = accounts::fetch_dispute(&*m.chain, &dispute_key)
        .await
        .unwrap();
    assert_eq!(
        dispute.proven,
        1 | 2,
        "the row of A and column of B are proven"
    );
    assert_eq!(m.balance(&auditor).await, balance_before - challenger_bond);
    assert_eq!(of(&cheated, "pending").len(), 1, "{events:?}");

    // The cheat never reveals its row of C; past the response window the second pass
    // settles the dispute by default.
    let now = m.chain.clock().await.unwrap().unix_timestamp;
    m.chain
        .advance(dispute.respond_deadline - now + 1)
        .await
        .unwrap();
    let events = auditor.watch_once().await;
    let settled: Vec<&Value> = events.iter().filter(|e| e["event"] == "settled").collect();
    assert_eq!(settled.len(), 1, "{events:?}");
    assert_eq!(settled[0]["outcome"], "provider_silent");
    assert!(
        events.iter().all(|e| e["event"] != "challenged"),
        "nothing else is challenged: {events:?}"
    );
    assert!(
        accounts::fetch_job_opt(&*m.chain, &cheated)
            .await
            .unwrap()
            .is_none(),
        "the slashed job is closed"
    );
    assert!(m.chain.get_account(&dispute_key).await.unwrap().is_none());

    let after = accounts::fetch_provider(&*m.chain, &pkey).await.unwrap();
    let slashed = job.bond + dispute.stake_locked;
    assert!(dispute.stake_locked > 0);
    assert_eq!(before.stake - after.stake, slashed);
    let split = gpu_market::math::slash_split(slashed, buyer_bps, reporter_bps).unwrap();
    assert!(split.reporter > 0);
    assert_eq!(
        m.balance(&auditor).await,
        balance_before + split.reporter + crank_bounty,
        "the challenger gets its bond back, the reporter share and the settler's bounty"
    );
    assert_eq!(
        accounts::fetch_job(&*m.chain, &honest).await.unwrap().state,
        gpu_market::state::JobState::Submitted
    );
    // No buffer of the auditor's is left open.
    assert!(accounts::list_proof_buffers(&*m.chain, &auditor.pubkey())
        .await
        .unwrap()
        .is_empty());
}

/// The risk `--challenge-unavailable` is documented with: the provider whose output blob
/// is gone from the store reveals its (right) row from its own copy, and the challenger
/// loses its bond. Without the flag nothing is challenged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenging_an_unavailable_but_right_output_costs_the_bond() {
    let m = Market::new().await;
    let viewer = User::new(&m.chain, &m.blobs, Some(m.market)).await;
    let challenger_bond = viewer.run(&["market", "show"]).await["params"]["challenger_bond"]
        .as_u64()
        .unwrap();
    let auditor = m.user(challenger_bond * 10).await;
    let (gone, gone_provider, gone_matrices) = m.submitted(3, |_| {}).await;
    let uri = accounts::fetch_job(&*m.chain, &gone)
        .await
        .unwrap()
        .result_uri;
    m.delete_blob(&uri);
    let events = auditor.watch_once().await;
    assert!(
        events.iter().all(|e| e["event"] != "challenged"),
        "{events:?}"
    );

    let balance_before = m.balance(&auditor).await;
    let (out, r) = auditor
        .exec(&["audit", "watch", "--once", "--challenge-unavailable"])
        .await;
    r.unwrap();
    let challenged: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "challenged")
        .collect();
    assert_eq!(challenged.len(), 1, "{out}");
    assert_eq!(challenged[0]["job"], gone.to_string(), "{out}");
    let dispute_key: Pubkey = s(&challenged[0], "dispute").parse().unwrap();
    let x = &gone_matrices;
    let proof =
        gpu_market_compute::commit::proof_for_element(&x.workload, &x.a, &x.b, &x.c, 0, 0).unwrap();
    gpu_market_client::dispute::stage_leaf(
        &gone_provider.ctx.sender,
        gone_provider.key(),
        &gone,
        &dispute_key,
        gpu_market::state::ProofTree::C,
        &proof.c_row,
        &proof.c_proof,
    )
    .await
    .unwrap();
    let events = auditor.watch_once().await;
    let settled: Vec<&Value> = events.iter().filter(|e| e["event"] == "settled").collect();
    assert_eq!(settled.len(), 1, "{events:?}");
    assert_eq!(settled[0]["outcome"], "challenger_wrong", "{events:?}");
    assert_eq!(m.balance(&auditor).await, balance_before - challenger_bond);
    assert!(
        events.iter().all(|e| e["event"] != "challenged"),
        "{events:?}"
    );

    let job = accounts::fetch_job(&*m.chain, &gone).await.unwrap();
    assert_eq!(job.state, gpu_market::state::JobState::Submitted);
}

/// gemm-f32: an element off by one ulp is within the ruling's bound and is not named (a
/// challenge of it would lose the bond); one far beyond it is named, challenged and its
/// four-byte row of A and column of B proven and absorbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f32_results_are_named_by_the_rulings_bound() {
    let m = Market::new().await;
    let viewer = User::new(&m.chain, &m.blobs, Some(m.market)).await;
    let bond = viewer.run(&["market", "show"]).await["params"]["challenger_bond"]
        .as_u64()
        .unwrap();
    let auditor = m.user(bond * 10).await;
    let at = (3 * 8 + 5) * 4;
    let nudge = |delta: fn(f32) -> f32| {
        move |c: &mut Vec<u8>| {
            let v = f32::from_le_bytes(c[at..at + 4].try_into().unwrap());
            c[at..at + 4].copy_from_slice(&delta(v).to_le_bytes());
        }
    };
    let (near, _, _) = m
        .submitted_as(1, "gemm-f32", nudge(|v| f32::from_bits(v.to_bits() + 1)))
        .await;
    let (far, _, _) = m.submitted_as(2, "gemm-f32", nudge(|v| v + 100.0)).await;
    let v = auditor.run(&["audit", "verify", &near.to_string()]).await;
    assert_eq!(v["verdict"], "correct");
    let (out, r) = auditor.exec(&["audit", "verify", &far.to_string()]).await;
    assert!(
        matches!(r, Err(CliError::ResultWrong { row: 3, col: 5, .. })),
        "{r:?}: {out}"
    );
    let events = auditor.watch_once().await;
    let challenged: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "challenged")
        .collect();
    assert_eq!(challenged.len(), 1, "{events:?}");
    assert_eq!(challenged[0]["job"], far.to_string());
    let dispute: Pubkey = s(challenged[0], "dispute").parse().unwrap();
    let d = accounts::fetch_dispute(&*m.chain, &dispute).await.unwrap();
    assert_eq!((d.row, d.col, d.proven), (3, 5, 1 | 2));
    assert_eq!(d.absorbed(gpu_market::state::WorkloadKind::GemmF32), 8);
}

/// `audit watch` runs as a daemon woken by the program's account updates: with a one-hour
/// interval, a cheat submitted after it started is still challenged within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_watch_wakes_on_a_landing_submission_not_its_interval() {
    let m = Market::new().await;
    let viewer = User::new(&m.chain, &m.blobs, Some(m.market)).await;
    let bond = viewer.run(&["market", "show"]).await["params"]["challenger_bond"]
        .as_u64()
        .unwrap();
    let auditor = m.user(bond * 10).await;
    // The CLI's output writer is not `Send`: the daemon and the test share this task.
    let probe = async {
        // Let its first (empty) pass end and its subscription start.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (cheated, _, _) = m.submitted(7, cheat).await;
        let started = std::time::Instant::now();
        loop {
            let job = accounts::fetch_job(&*m.chain, &cheated).await.unwrap();
            if job.state == gpu_market::state::JobState::Disputed {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "not challenged within 60 s of landing (the interval is 3,600 s)"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        r = auditor.exec(&["audit", "watch", "--interval", "3600"]) => {
            panic!("the daemon stopped: {r:?}")
        }
        took = probe => println!("challenged {took:?} after the submission landed"),
    }
}
