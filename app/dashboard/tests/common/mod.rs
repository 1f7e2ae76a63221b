//! The suites' market: a localnet on free loopback ports (manual clock, so a figure
//! read twice at one state is the same figure), a World whose transactions go through
//! the node's JSON-RPC (so they are in its history, as on a real cluster), real GEMM
//! jobs in every state, and a counting JSON-RPC proxy in front of the node.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use gpu_market::state::JobRequirements;
use gpu_market::JobSubmitArgs;
use gpu_market_blobs::BlobStore;
use gpu_market_client::buyer;
use gpu_market_client::chain::rpc::RpcChain;
use gpu_market_client::chain::SharedChain;
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, ix, Pubkey};
use gpu_market_compute::commit::result_root;
use gpu_market_compute::gemm;
use gpu_market_compute::spec::Workload;
use gpu_market_dashboard::{Dashboard, DashboardConfig};
use gpu_market_localnet::{ClockMode, Localnet, LocalnetConfig};
use gpu_market_tests::{ProviderHandle, Wallet, World, T0};
use serde_json::Value;
use solana_sdk::signature::Signer;

pub const PRICE: u64 = 10_000;

pub struct Market {
    pub net: Localnet,
    pub world: World,
    pub rpc: SharedChain,
    pub blobs: Arc<dyn BlobStore>,
    pub blob_dir: tempfile::TempDir,
    pub buyer: Wallet,
    pub cranker: Wallet,
    pub provider: ProviderHandle,
    pub idle_provider: ProviderHandle,
    /// Finalized (account closed): from history only.
    pub finalized: Pubkey,
    /// Submitted with the right product.
    pub submitted: Pubkey,
    /// Submitted with one element changed.
    pub cheated: Pubkey,
    /// Posted, never claimed.
    pub open: Pubkey,
    pub nonce: u64,
}

pub async fn market() -> Market {
    let net = Localnet::start(LocalnetConfig {
        rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        clock: ClockMode::Manual {
            start_unix_timestamp: T0,
        },
    })
    .await
    .expect("localnet starts");
    let mut world =
        World::on_chain(net.chain.clone(), gpu_market_tests::default_params(), false).await;
    // From here on every transaction goes through the node, as a client's would.
    let rpc: SharedChain = Arc::new(RpcChain::with_ws(&net.rpc_url, &net.ws_url));
    world.sender = Sender::new(rpc.clone());
    let blob_dir = tempfile::tempdir().unwrap();
    let blobs = gpu_market_blobs::open(&blob_dir.path().display().to_string()).unwrap();
    let buyer = world.wallet(100 * PRICE, 0).await;
    let cranker = world.wallet(0, 0).await;
    let provider = world
        .register_provider(gpu_market_tests::gpu("H100", 81_920, 2, 90), 100_000)
        .await;
    let idle_provider = world
        .register_provider(gpu_market_tests::h100(), 3_000)
        .await;
    let mut m = Market {
        net,
        world,
        rpc,
        blobs,
        blob_dir,
        buyer,
        cranker,
        provider,
        idle_provider,
        finalized: Pubkey::default(),
        submitted: Pubkey::default(),
        cheated: Pubkey::default(),
        open: Pubkey::default(),
        nonce: 0,
    };
    m.finalized = m.post().await;
    m.claim_and_submit(&m.finalized.clone(), false, 1_500).await;
    m.world.advance(m.world.params.challenge_window + 1).await;
    m.world
        .finalize(&m.finalized, &m.cranker)
        .await
        .expect("finalize");
    m.submitted = m.post().await;
    m.claim_and_submit(&m.submitted.clone(), false, 700).await;
    m.cheated = m.post().await;
    m.claim_and_submit(&m.cheated.clone(), true, 900).await;
    m.open = m.post().await;
    m
}

impl Market {
    /// Posts an 8 x 8 x 8 gemm-i8 job with real inputs in the blob store.
    pub async fn post(&mut self) -> Pubkey {
        self.nonce += 1;
        let spec = buyer::gemm_spec(
            &*self.blobs,
            Workload::GemmI8 { m: 8, n: 8, k: 8 },
            self.nonce,
        )
        .await
        .unwrap();
        let deadline = self.world.now().await + 3_600;
        let (job, _, _) = buyer::post(
            &self.world.sender,
            &self.buyer.key,
            &self.world.market,
            &*self.blobs,
            &spec,
            self.nonce,
            PRICE,
            deadline,
            JobRequirements::default(),
            gpu_market::math::escrow_for(PRICE, self.world.params.crank_bounty).unwrap(),
        )
        .await
        .expect("post");
        job
    }

    /// Claims `job` for the provider and submits its product (one element off when
    /// `cheat`), stored in the blob store so the result URI resolves.
    pub async fn claim_and_submit(&self, job: &Pubkey, cheat: bool, gpu_ms: u64) {
        let p = &self.provider;
        let claim = ix::job_claim(self.world.market.market, p.key, *job, p.worker.pubkey());
        self.world
            .send(&[claim], &[&p.worker])
            .await
            .expect("claim");
        let j = accounts::fetch_job(&*self.rpc, job).await.unwrap();
        let spec_bytes = self
            .blobs
            .get(&j.spec_uri, &gpu_market_compute::Hash32(j.spec_hash))
            .await
            .unwrap();
        let spec = gpu_market_compute::spec::JobSpec::from_bytes(&spec_bytes).unwrap();
        let input = |name: &str| spec.input(name).unwrap().clone();
        let (a, b) = (input("a"), input("b"));
        let a = self.blobs.get(&a.uri, &a.sha256).await.unwrap();
        let b = self.blobs.get(&b.uri, &b.sha256).await.unwrap();
        let mut c = gemm::gemm_i8(
            8,
            8,
            8,
            &gemm::i8s_from_bytes(&a),
            &gemm::i8s_from_bytes(&b),
        )
        .unwrap();
        if cheat {
            c[9] += 1;
        }
        let out = gemm::i32s_to_le_bytes(&c);
        let stored = self.blobs.put(&out).await.unwrap();
        let root = result_root(&spec.workload, &out).unwrap();
        let args = JobSubmitArgs {
            result_root: root.0,
            result_uri: stored.uri,
            gpu_ms,
        };
        let submit = ix::job_submit(p.key, *job, p.worker.pubkey(), args);
        self.world
            .send(&[submit], &[&p.worker])
            .await
            .expect("submit");
    }

    /// A dashboard over this market, reading the node at `rpc_url` (the node itself,
    /// or a proxy in front of it), its history in `db`.
    pub async fn dashboard(&self, rpc_url: &str, db: Option<std::path::PathBuf>) -> Dashboard {
        let mut cfg = DashboardConfig::new(rpc_url, &self.net.ws_url, self.world.market.market);
        cfg.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        cfg.db_path = db;
        cfg.blob_store = Some(self.blob_dir.path().display().to_string());
        cfg.web_dir = self.blob_dir.path().join("no-web-app-here");
        cfg.poll_every = std::time::Duration::from_millis(300);
        cfg.max_upload_bytes = 1 << 20;
        Dashboard::start(cfg).await.expect("dashboard starts")
    }
}

/// Where the proxy forwards, what it counted, and how it calls.
type ProxyState = (String, Arc<Mutex<HashMap<String, u64>>>, reqwest::Client);

/// A JSON-RPC proxy that counts the methods it forwards.
pub struct CountingProxy {
    pub url: String,
    counts: Arc<Mutex<HashMap<String, u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(target: &str) -> CountingProxy {
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let state = (target.to_string(), counts.clone(), reqwest::Client::new());
        async fn forward(
            State((target, counts, client)): State<ProxyState>,
            body: Bytes,
        ) -> (
            axum::http::StatusCode,
            [(axum::http::HeaderName, &'static str); 1],
            Vec<u8>,
        ) {
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                let methods: Vec<String> = match &v {
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|r| r["method"].as_str().map(String::from))
                        .collect(),
                    r => r["method"].as_str().map(String::from).into_iter().collect(),
                };
                let mut c = counts.lock().unwrap();
                for m in methods {
                    *c.entry(m).or_default() += 1;
                }
            }
            let resp = client
                .post(&target)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .expect("the node answers");
            let status = axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap();
            let bytes = resp.bytes().await.unwrap().to_vec();
            (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                bytes,
            )
        }
        let app = axum::Router::new()
            .route("/", post(forward))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        CountingProxy { url, counts, task }
    }

    pub fn count(&self, method: &str) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .get(method)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// GET `url`: (status, JSON body).
pub async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::Client::new().get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub async fn post_body(url: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub async fn ok(url: &str) -> Value {
    let (status, v) = get(url).await;
    assert_eq!(status, 200, "GET {url}: {v}");
    v
}

/// Asserts an error answer: status, named error, and a message naming `mentions`.
pub fn assert_error(got: &(u16, Value), status: u16, name: &str, mentions: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"], name, "{}", got.1);
    let msg = got.1["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(mentions),
        "message {msg:?} should mention {mentions:?}"
    );
}
