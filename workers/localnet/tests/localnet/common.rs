//! Helpers shared by the suites: a node on free loopback ports, raw JSON-RPC
//! calls, a bounded wait for stream items, and Solana's `RpcClient` doing
//! what clients do (airdrop, send, make a mint and token accounts).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use gpu_market_client::token;
use gpu_market_localnet::{ClockMode, Localnet, LocalnetConfig};
use serde_json::Value;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::Transaction;

pub const WAIT: Duration = Duration::from_secs(20);

pub async fn start() -> Localnet {
    start_with(ClockMode::RealTime).await
}

pub async fn start_with(clock: ClockMode) -> Localnet {
    Localnet::start(LocalnetConfig {
        rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        clock,
    })
    .await
    .expect("localnet starts")
}

/// POSTs `body` as it is and returns the parsed response.
pub async fn post_raw(url: &str, body: &str) -> Value {
    let text = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("HTTP request")
        .text()
        .await
        .expect("HTTP body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// One JSON-RPC call; the whole response object comes back.
pub async fn call(url: &str, method: &str, params: Value) -> Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    post_raw(url, &body.to_string()).await
}

/// The `result` of a call that must succeed.
pub async fn result(url: &str, method: &str, params: Value) -> Value {
    let r = call(url, method, params).await;
    assert!(r.get("error").is_none(), "{method} failed: {r}");
    r["result"].clone()
}

/// The `error` of a call that must fail: (code, message).
pub async fn error(url: &str, method: &str, params: Value) -> (i64, String) {
    let r = call(url, method, params).await;
    let e = r
        .get("error")
        .unwrap_or_else(|| panic!("{method} should fail: {r}"));
    (
        e["code"].as_i64().unwrap(),
        e["message"].as_str().unwrap().to_string(),
    )
}

pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

pub const SOL: u64 = 1_000_000_000;

pub fn client(url: &str) -> RpcClient {
    RpcClient::new_with_commitment(url.to_string(), CommitmentConfig::confirmed())
}

pub async fn airdrop(rpc: &RpcClient, to: &Pubkey, lamports: u64) {
    let sig = rpc.request_airdrop(to, lamports).await.unwrap();
    assert!(
        rpc.confirm_transaction(&sig).await.unwrap(),
        "airdrop lands"
    );
}

pub async fn send(
    rpc: &RpcClient,
    ixs: &[solana_sdk::instruction::Instruction],
    signers: &[&Keypair],
) -> Signature {
    let hash = rpc.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(ixs, Some(&signers[0].pubkey()), signers, hash);
    rpc.send_and_confirm_transaction(&tx).await.unwrap()
}

/// A mint and token accounts for `owners`, each holding `amount`.
pub async fn token_accounts(
    rpc: &RpcClient,
    payer: &Keypair,
    owners: &[Pubkey],
    amount: u64,
) -> Pubkey {
    let mint = Keypair::new();
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(token::MINT_LEN)
        .await
        .unwrap();
    let ixs = token::create_mint(&payer.pubkey(), &mint.pubkey(), &payer.pubkey(), 6, rent);
    send(rpc, &ixs, &[payer, &mint]).await;
    let mut ixs = Vec::new();
    for owner in owners {
        ixs.push(token::create_ata_idempotent(
            &payer.pubkey(),
            owner,
            &mint.pubkey(),
        ));
        ixs.push(token::mint_to(
            &mint.pubkey(),
            &token::ata(owner, &mint.pubkey()),
            &payer.pubkey(),
            amount,
        ));
    }
    send(rpc, &ixs, &[payer]).await;
    mint.pubkey()
}
