//! The auditor on segmented train-mlp jobs, end to end on one embedded chain: buyers post
//! through the CLI (`job post --segments`), providers train each segment with the real
//! segment executor and commit its checkpoint to the buyer's store and its root on chain.
//!
//! The attack: a lazy provider trains segment 1 one step fewer than the spec says and
//! commits that checkpoint. `audit verify` re-executes it from checkpoint 0 (read from
//! the buyer's store under the committed root) and exits 1 naming it; `audit watch
//! --once` challenges it within its window (the dispute on chain names the segment, the
//! challenger's bond is posted) and nothing else: an honest segment verifies correct and
//! costs the auditor nothing, and a segment whose previous checkpoint is torn in the
//! store is "unavailable", never challenged. A ruling needs seated referees, which the
//! worker's `referee_segments` suite drives; with none drawn by the response deadline the
//! watcher settles its dispute by `segment_settle` with no ruling and its bond comes back.

use std::collections::HashSet;
use std::sync::Arc;

use clap::Parser;
use gpu_market::state::SegmentState;
use gpu_market_blobs::CheckpointStore;
use gpu_market_client::auditor::{self, ChallengerAccounts, WatchEvent, WatchPolicy};
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::{Chain, SharedChain};
use gpu_market_client::segments as seg;
use gpu_market_client::{accounts, pda, token, Pubkey};
use gpu_market_compute::spec::{Hash32, TrainMlpSpec};
use gpu_market_compute::train::segment::start_of;
use gpu_market_compute::train::{run_segment, training_data, CpuTrainer, Previous, Trainer};
use gpumkt::{run_with, Cli, CliError, Ctx, Format};
use serde_json::Value;
use solana_sdk::signature::{Keypair, Signer};

const STEPS: u64 = 10;

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

/// How a provider trains a segment from the checkpoint before it.
#[derive(Clone, Copy)]
enum Work {
    Honest,
    /// `STEPS - 1` of the spec's `STEPS`: the lazy provider's saving.
    OneStepShort,
}

struct World {
    chain: Arc<EmbeddedChain>,
    dir: tempfile::TempDir,
    admin: User,
    buyer: User,
    mint: Pubkey,
    market: Pubkey,
}

impl World {
    async fn new() -> World {
        let chain = EmbeddedChain::start(ClockMode::Manual {
            start_unix_timestamp: 1_800_000_000,
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
                    "5",
                ])
                .await,
            "market",
        )
        .parse()
        .unwrap();
        let buyer = User::new(&chain, &blobs, Some(market)).await;
        let w = World {
            chain,
            dir,
            admin,
            buyer,
            mint,
            market,
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

    async fn user(&self, tokens: u64) -> User {
        let u = User::new(&self.chain, &self.blobs(), Some(self.market)).await;
        self.mint_to(&u.pubkey(), tokens).await;
        u
    }

    async fn mint_to(&self, to: &Pubkey, amount: u64) {
        let (mint, to, amount) = (self.mint.to_string(), to.to_string(), amount.to_string());
        self.admin
            .run(&[
                "token", "mint", "--mint", &mint, "--to", &to, "--amount", &amount,
            ])
            .await;
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

    /// A buyer posts a train-mlp job of `work.len()` segments through the CLI; a
    /// provider of its own (registered through the CLI) trains each as `work` says,
    /// from the checkpoint before it, stores it in the buyer's store and commits its
    /// root. Returns the job and, per segment, the root an honest run from the committed
    /// previous checkpoint gives.
    async fn delivered(&self, nonce: u64, work: &[Work]) -> (Pubkey, Vec<Hash32>) {
        let (store_uri, nonce, count) = (self.store(), nonce.to_string(), work.len().to_string());
        let steps = STEPS.to_string();
        let posted = self
            .buyer
            .run(&[
                "job",
                "post",
                "--segments",
                &count,
                "--segment-price",
                "1000",
                "--segment-duration",
                "600",
                "--checkpoint-store",
                &store_uri,
                "--steps-per-segment",
                &steps,
                "--nonce",
                &nonce,
            ])
            .await;
        let job: Pubkey = s(&posted, "job").parse().unwrap();
        let state = accounts::fetch_job(&*self.chain, &job).await.unwrap();
        let bytes = gpu_market_blobs::fetch(&state.spec_uri, &Hash32(state.spec_hash))
            .await
            .unwrap();
        let spec = TrainMlpSpec::from_bytes(&bytes).unwrap();
        assert_eq!(spec.params().steps_per_segment, STEPS);
        let r = spec.data().unwrap();
        let digits = gpu_market_blobs::fetch(&r.uri, &r.sha256).await.unwrap();
        let data = training_data(&spec, &digits).unwrap();
        let store = CheckpointStore::open(&spec.params().checkpoint_store).unwrap();

        let provider = self.user(50_000).await;
        provider
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
        let pkey = pda::provider(&self.market, &provider.pubkey());
        let sender = &provider.ctx.sender;
        let mut previous: Option<Vec<u8>> = None;
        let mut honest_roots = Vec::new();
        for (i, w) in work.iter().enumerate() {
            let index = i as u8;
            if self.segments(&job).await.running().is_none() {
                seg::claim(sender, provider.key(), &self.market, &pkey, &job)
                    .await
                    .unwrap();
            }
            let prev = previous.as_ref().map(|bytes| Previous {
                bytes,
                root: gpu_market_blobs::checkpoint_root(bytes).unwrap(),
            });
            let honest = run_segment(&CpuTrainer, &spec, &data, prev, i as u32).unwrap();
            honest_roots.push(honest.state_root);
            let bytes = match w {
                Work::Honest => honest.bytes,
                Work::OneStepShort => {
                    let start = start_of(&spec, &data, prev, i as u32).unwrap();
                    CpuTrainer
                        .train(&start, &data, STEPS - 1)
                        .unwrap()
                        .to_bytes()
                }
            };
            let stored = store.put(&job.to_string(), i as u32, &bytes).await.unwrap();
            seg::commit(
                sender,
                provider.key(),
                &self.market,
                &pkey,
                &job,
                index,
                stored.root.0,
                stored.uri,
            )
            .await
            .unwrap();
            previous = Some(bytes);
        }
        let s = self.segments(&job).await;
        assert_eq!(s.next as usize, work.len(), "every segment committed");
        (job, honest_roots)
    }

    /// Flips a byte of checkpoint `index` in the buyer's store: torn, its root no longer
    /// the one committed.
    fn tear(&self, job: &Pubkey, index: u32) {
        let path = self
            .dir
            .path()
            .join("ckpt")
            .join(job.to_string())
            .join(format!("{index}.ckpt"));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_a_lazy_segment_and_an_unavailable_one() {
    let w = World::new().await;
    let auditor = User::new(&w.chain, &w.blobs(), Some(w.market)).await;
    let (job, honest) = w.delivered(1, &[Work::Honest, Work::OneStepShort]).await;
    let committed = w.segments(&job).await;
    let committed_root = |i: usize| Hash32(committed.segments[i].state_root);
    assert_eq!(committed_root(0), honest[0]);
    assert_ne!(
        committed_root(1),
        honest[1],
        "the lazy checkpoint is another"
    );

    let (out, r) = auditor.exec(&["audit", "verify", &job.to_string()]).await;
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            CliError::Auditor(gpu_market_client::auditor::AuditorError::SegmentWrong {
                index: 1,
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("segment 1"), "{e}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["job"], job.to_string());
    let segs = v["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 2, "{v}");
    assert_eq!(
        (segs[0]["index"].as_u64(), segs[0]["verdict"].as_str()),
        (Some(0), Some("correct"))
    );
    assert_eq!(
        (segs[1]["index"].as_u64(), segs[1]["verdict"].as_str()),
        (Some(1), Some("wrong"))
    );
    let hash = |v: &Value| -> Hash32 { serde_json::from_value(v.clone()).unwrap() };
    assert_eq!(hash(&segs[1]["committed_root"]), committed_root(1));
    assert_eq!(hash(&segs[1]["expected_root"]), honest[1]);

    // What a person reads: one line per segment, the wrong one with both roots.
    let mut reader = User::new(&w.chain, &w.blobs(), Some(w.market)).await;
    reader.ctx.format = Format::Text;
    let (text, r) = reader.exec(&["audit", "verify", &job.to_string()]).await;
    assert_eq!(r.unwrap_err().exit_code(), 1);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!("{job} segment 0: correct")),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{job} segment 1: WRONG: committed root {}, re-executed {}",
            committed_root(1),
            honest[1]
        )),
        "{text}"
    );

    // The honest segment alone passes.
    let v = auditor
        .run(&["audit", "verify", &job.to_string(), "--segment", "0"])
        .await;
    assert_eq!(v["segments"][0]["verdict"], "correct");

    // Checkpoint 0 torn in the buyer's store: segment 1 cannot be re-executed. That is
    // its own outcome and exit code, not a verdict against the provider.
    w.tear(&job, 0);
    let (out, r) = auditor
        .exec(&["audit", "verify", &job.to_string(), "--segment", "1"])
        .await;
    let e = r.unwrap_err();
    assert!(matches!(e, CliError::OutputUnavailable { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 3);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["segments"][0]["verdict"], "unavailable", "{v}");
    assert!(
        s(&v["segments"][0], "why").contains("torn"),
        "names the cause: {v}"
    );

    // A segment the job does not have is refused by name.
    let (single, _) = w.delivered(2, &[Work::Honest]).await;
    let (_, r) = auditor
        .exec(&["audit", "verify", &single.to_string(), "--segment", "3"])
        .await;
    assert!(
        matches!(
            r,
            Err(CliError::Auditor(
                gpu_market_client::auditor::AuditorError::NoSuchSegment { index: 3, .. }
            ))
        ),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_watch_challenges_a_lazy_segment_and_nothing_else() {
    let w = World::new().await;
    let viewer = User::new(&w.chain, &w.blobs(), Some(w.market)).await;
    let bond = viewer.run(&["market", "show"]).await["params"]["challenger_bond"]
        .as_u64()
        .unwrap();
    let auditor = w.user(bond * 2).await;
    let (honest, _) = w.delivered(1, &[Work::Honest, Work::Honest]).await;
    let (lazy, _) = w.delivered(2, &[Work::Honest, Work::OneStepShort]).await;
    // Lazy too, but its checkpoint 0 is torn in the store: nobody can re-execute
    // segment 1, so a challenge would end with no ruling. Not challenged.
    let (torn, _) = w.delivered(3, &[Work::Honest, Work::OneStepShort]).await;
    w.tear(&torn, 0);
    let before = w.balance(&auditor.pubkey()).await;

    let events = auditor.watch_once().await;
    let verdict = |job: &Pubkey, index: u64| -> Vec<String> {
        events
            .iter()
            .filter(|e| {
                e["event"] == "segment_verified"
                    && e["job"] == job.to_string()
                    && e["index"].as_u64() == Some(index)
            })
            .map(|e| s(e, "verdict"))
            .collect()
    };
    assert_eq!(verdict(&honest, 0), ["correct"], "{events:?}");
    assert_eq!(verdict(&honest, 1), ["correct"], "{events:?}");
    assert_eq!(verdict(&lazy, 0), ["correct"], "{events:?}");
    assert_eq!(verdict(&lazy, 1), ["wrong"], "{events:?}");
    assert_eq!(verdict(&torn, 0), ["correct"], "{events:?}");
    assert_eq!(verdict(&torn, 1), ["unavailable"], "{events:?}");
    let challenged: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "segment_challenged" || e["event"] == "challenged")
        .collect();
    assert_eq!(challenged.len(), 1, "{events:?}");
    assert_eq!(
        (
            challenged[0]["job"].as_str(),
            challenged[0]["index"].as_u64()
        ),
        (Some(&*lazy.to_string()), Some(1))
    );

    // On chain: the dispute names segment 1 of the lazy job and this auditor, whose
    // bond (and nothing more) left its account.
    let dispute_key: Pubkey = s(challenged[0], "dispute").parse().unwrap();
    let d = accounts::fetch_dispute(&*w.chain, &dispute_key)
        .await
        .unwrap();
    assert_eq!(
        (d.job, d.segment, d.challenger, d.bond),
        (lazy, Some(1), auditor.pubkey(), bond)
    );
    assert_eq!(w.balance(&auditor.pubkey()).await, before - bond);
    let job = accounts::fetch_job(&*w.chain, &lazy).await.unwrap();
    assert_eq!(job.dispute, dispute_key);
    let states = |s: &gpu_market::state::Segments| -> Vec<SegmentState> {
        s.segments.iter().map(|x| x.state).collect()
    };
    assert_eq!(
        states(&w.segments(&lazy).await),
        [SegmentState::Committed, SegmentState::Disputed]
    );
    for job in [honest, torn] {
        assert_eq!(
            states(&w.segments(&job).await),
            [SegmentState::Committed, SegmentState::Committed]
        );
        let j = accounts::fetch_job(&*w.chain, &job).await.unwrap();
        assert_eq!(j.dispute, Pubkey::default());
    }

    // Another `watch --once` (a fresh process, no memory) checks again and challenges
    // nothing more: the disputed segment is not challengeable, and the lazy job's segment
    // 0 waits behind its dispute. The dispute of ours waits for its referees.
    let events = auditor.watch_once().await;
    assert!(
        events.iter().all(|e| !matches!(
            e["event"].as_str(),
            Some("segment_challenged" | "challenged")
        )),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["job"] != lazy.to_string() || e["event"] == "pending"),
        "{events:?}"
    );
    let pending: Vec<&Value> = events.iter().filter(|e| e["event"] == "pending").collect();
    assert_eq!(pending.len(), 1, "{events:?}");
    assert_eq!(pending[0]["dispute"], dispute_key.to_string());
    assert_eq!(w.balance(&auditor.pubkey()).await, before - bond);

    // The daemon's passes share their memory: each segment is re-executed once.
    let m = accounts::fetch_market(&*w.chain, &w.market).await.unwrap();
    let keys = gpu_market_client::ix::MarketKeys::new(w.market, &m);
    let me = auditor.key();
    let accounts = ChallengerAccounts::associated(&me.pubkey(), &keys);
    let mut seen = HashSet::new();
    let mut passes = Vec::new();
    for _ in 0..2 {
        let mut got = Vec::new();
        auditor::watch_pass(
            &auditor.ctx.sender,
            me,
            accounts,
            &keys,
            WatchPolicy::default(),
            &mut seen,
            &mut |e| got.push(e),
        )
        .await
        .unwrap();
        passes.push(
            got.iter()
                .filter(|e| matches!(e, WatchEvent::SegmentVerified { .. }))
                .count(),
        );
    }
    assert_eq!(passes, [4, 0], "honest #0 #1 and torn #0 #1, then nothing");

    // Nobody drew referees before the response deadline: past it the watcher settles its
    // dispute by `segment_settle` with no ruling, and its bond comes back whole.
    let now = w.chain.clock().await.unwrap().unix_timestamp;
    w.chain.advance(d.respond_deadline - now + 1).await.unwrap();
    let events = auditor.watch_once().await;
    let settled: Vec<&Value> = events.iter().filter(|e| e["event"] == "settled").collect();
    assert_eq!(settled.len(), 1, "{events:?}");
    assert_eq!(
        (
            settled[0]["dispute"].as_str(),
            settled[0]["outcome"].as_str()
        ),
        (Some(&*dispute_key.to_string()), Some("no_ruling"))
    );
    assert!(w.chain.get_account(&dispute_key).await.unwrap().is_none());
    assert_eq!(w.balance(&auditor.pubkey()).await, before);
    assert_eq!(
        states(&w.segments(&lazy).await),
        [SegmentState::Committed, SegmentState::Committed]
    );
    assert!(
        events.iter().all(|e| e["event"] != "segment_challenged"),
        "its window closed: not challenged again: {events:?}"
    );
}
