//! Websocket subscriptions: Solana's `PubsubClient`, unchanged, and the raw
//! frames it parses.

use futures::{SinkExt, StreamExt};
use gpu_market_client::chain::Chain;
use gpu_market_client::token;
use serde_json::{json, Value};
use solana_client::nonblocking::pubsub_client::PubsubClient;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::{
    RpcAccountInfoConfig, RpcProgramAccountsConfig, UiAccountEncoding,
};
use solana_client::rpc_filter::{Memcmp, RpcFilterType};
use solana_client::rpc_response::RpcSignatureResult;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

const SOL: u64 = 1_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_client_sees_account_and_program_changes_made_over_rpc() {
    let net = start().await;
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let pubsub = PubsubClient::new(&net.ws_url).await.unwrap();

    let payer = Keypair::new();
    let alice = Pubkey::new_unique();
    let base64 = RpcAccountInfoConfig {
        encoding: Some(UiAccountEncoding::Base64),
        commitment: Some(CommitmentConfig::confirmed()),
        ..Default::default()
    };
    let (mut payer_stream, payer_unsub) = pubsub
        .account_subscribe(&payer.pubkey(), Some(base64.clone()))
        .await
        .unwrap();
    // Token accounts owned by alice only.
    let (mut token_stream, token_unsub) = pubsub
        .program_subscribe(
            &token::TOKEN_PROGRAM_ID,
            Some(RpcProgramAccountsConfig {
                filters: Some(vec![
                    RpcFilterType::DataSize(165),
                    RpcFilterType::Memcmp(Memcmp::new_base58_encoded(32, alice.as_ref())),
                ]),
                account_config: base64,
                ..Default::default()
            }),
        )
        .await
        .unwrap();

    let sig = rpc.request_airdrop(&payer.pubkey(), 5 * SOL).await.unwrap();
    let n = within("accountNotification", payer_stream.next())
        .await
        .expect("stream open");
    assert_eq!(n.value.lamports, 5 * SOL);
    assert!(n.context.slot > 0);
    assert!(rpc.confirm_transaction(&sig).await.unwrap());

    // Signature subscriptions: one for a landed transaction (notified at
    // once), one for a transaction not sent yet.
    let (mut landed, _u1) = pubsub.signature_subscribe(&sig, None).await.unwrap();
    let n = within("signatureNotification (landed)", landed.next())
        .await
        .unwrap();
    assert_eq!(
        n.value,
        RpcSignatureResult::ProcessedSignature(
            solana_client::rpc_response::ProcessedSignatureResult { err: None }
        )
    );

    let mint = Keypair::new();
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(token::MINT_LEN)
        .await
        .unwrap();
    let mut ixs = token::create_mint(&payer.pubkey(), &mint.pubkey(), &payer.pubkey(), 0, rent);
    ixs.push(token::create_ata_idempotent(
        &payer.pubkey(),
        &alice,
        &mint.pubkey(),
    ));
    ixs.push(token::create_ata_idempotent(
        &payer.pubkey(),
        &payer.pubkey(),
        &mint.pubkey(),
    ));
    let hash = rpc.get_latest_blockhash().await.unwrap();
    let tx =
        Transaction::new_signed_with_payer(&ixs, Some(&payer.pubkey()), &[&payer, &mint], hash);
    let (mut pending, _u2) = pubsub
        .signature_subscribe(&tx.signatures[0], None)
        .await
        .unwrap();
    rpc.send_and_confirm_transaction(&tx).await.unwrap();
    within("signatureNotification (new)", pending.next())
        .await
        .unwrap();

    // The payer paid fees and rent: a second notification with less.
    let n = within("second accountNotification", payer_stream.next())
        .await
        .unwrap();
    assert!(n.value.lamports < 5 * SOL);

    // Only alice's token account passes the filters (the mint is 82 bytes,
    // the payer's token account has another owner).
    let p = within("programNotification", token_stream.next())
        .await
        .unwrap();
    assert_eq!(
        p.value.pubkey,
        token::ata(&alice, &mint.pubkey()).to_string()
    );
    let account: solana_sdk::account::Account = p.value.account.decode().unwrap();
    assert_eq!(account.owner, token::TOKEN_PROGRAM_ID);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), token_stream.next())
            .await
            .is_err(),
        "nothing else matches the filters"
    );

    payer_unsub().await;
    token_unsub().await;
    drop((payer_stream, token_stream, landed, pending));
    pubsub.shutdown().await.unwrap();
    net.stop().await;
}

async fn ws_send(ws: &mut WsStream, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_next(ws: &mut WsStream) -> Value {
    loop {
        match within("a websocket frame", ws.next())
            .await
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_have_solanas_exact_shape() {
    let net = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(net.ws_url.as_str())
        .await
        .unwrap();
    let key = Pubkey::new_unique();
    ws_send(
        &mut ws,
        json!({"jsonrpc":"2.0","id":1,"method":"accountSubscribe","params":[key.to_string(), {"encoding":"base64"}]}),
    )
    .await;
    let r = ws_next(&mut ws).await;
    assert_eq!(
        (r["jsonrpc"].clone(), r["id"].clone()),
        (json!("2.0"), json!(1))
    );
    let id = r["result"].as_u64().expect("numeric subscription id");

    result(
        &net.rpc_url,
        "requestAirdrop",
        json!([key.to_string(), SOL]),
    )
    .await;
    let n = ws_next(&mut ws).await;
    assert_eq!(
        n,
        json!({
            "jsonrpc": "2.0",
            "method": "accountNotification",
            "params": {
                "result": {
                    "context": {"slot": n["params"]["result"]["context"]["slot"]},
                    "value": {
                        "lamports": SOL,
                        "data": ["", "base64"],
                        "owner": "11111111111111111111111111111111",
                        "executable": false,
                        "rentEpoch": n["params"]["result"]["value"]["rentEpoch"],
                        "space": 0
                    }
                },
                "subscription": id
            }
        })
    );
    assert!(n["params"]["result"]["context"]["slot"].as_u64().is_some());

    // Unsubscribing answers true; a second time false.
    ws_send(
        &mut ws,
        json!({"jsonrpc":"2.0","id":2,"method":"accountUnsubscribe","params":[id]}),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await["result"], json!(true));
    ws_send(
        &mut ws,
        json!({"jsonrpc":"2.0","id":3,"method":"accountUnsubscribe","params":[id]}),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await["result"], json!(false));

    // Bad subscriptions are refused with -32602; HTTP methods are not served here.
    ws_send(
        &mut ws,
        json!({"jsonrpc":"2.0","id":4,"method":"programSubscribe","params":["nope"]}),
    )
    .await;
    let r = ws_next(&mut ws).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    ws_send(&mut ws, json!({"jsonrpc":"2.0","id":5,"method":"getSlot"})).await;
    let r = ws_next(&mut ws).await;
    assert_eq!(r["error"]["code"], -32601, "{r}");

    // A program subscription without filters hears that an account closed.
    ws_send(
        &mut ws,
        json!({"jsonrpc":"2.0","id":6,"method":"programSubscribe","params":[token::TOKEN_PROGRAM_ID.to_string(), {"encoding":"base64"}]}),
    )
    .await;
    let sub = ws_next(&mut ws).await["result"].as_u64().unwrap();
    let owner = Keypair::new();
    result(
        &net.rpc_url,
        "requestAirdrop",
        json!([owner.pubkey().to_string(), SOL]),
    )
    .await;
    let payer = net.faucet.insecure_clone();
    let mint = Keypair::new();
    let rent = net
        .chain
        .minimum_balance_for_rent_exemption(token::MINT_LEN)
        .await
        .unwrap();
    let mut ixs = token::create_mint(&payer.pubkey(), &mint.pubkey(), &payer.pubkey(), 0, rent);
    let ata = token::ata(&owner.pubkey(), &mint.pubkey());
    ixs.push(token::create_ata_idempotent(
        &payer.pubkey(),
        &owner.pubkey(),
        &mint.pubkey(),
    ));
    send_raw(&net.rpc_url, &ixs, &[&payer, &mint]).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let n = ws_next(&mut ws).await;
        assert_eq!(n["method"], "programNotification");
        assert_eq!(n["params"]["subscription"], json!(sub));
        seen.push(
            n["params"]["result"]["value"]["pubkey"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert!(seen.contains(&ata.to_string()) && seen.contains(&mint.pubkey().to_string()));
    let close = spl_close_account(&ata, &owner.pubkey());
    send_raw(&net.rpc_url, &[close], &[&owner]).await;
    let n = ws_next(&mut ws).await;
    assert_eq!(n["params"]["result"]["value"]["pubkey"], ata.to_string());
    assert_eq!(n["params"]["result"]["value"]["account"]["lamports"], 0);
    assert_eq!(
        n["params"]["result"]["value"]["account"]["owner"],
        "11111111111111111111111111111111"
    );
    ws.close(None).await.unwrap();
    net.stop().await;
}

fn spl_close_account(account: &Pubkey, owner: &Pubkey) -> solana_sdk::instruction::Instruction {
    anchor_spl::token::spl_token::instruction::close_account(
        &token::TOKEN_PROGRAM_ID,
        account,
        owner,
        owner,
        &[],
    )
    .unwrap()
}

/// Signs and sends through raw JSON-RPC (base64), returning once landed.
async fn send_raw(url: &str, ixs: &[solana_sdk::instruction::Instruction], signers: &[&Keypair]) {
    use base64::Engine;
    let hash: String = serde_json::from_value(
        result(url, "getLatestBlockhash", json!([])).await["value"]["blockhash"].clone(),
    )
    .unwrap();
    let tx = Transaction::new_signed_with_payer(
        ixs,
        Some(&signers[0].pubkey()),
        signers,
        hash.parse().unwrap(),
    );
    let wire = base64::engine::general_purpose::STANDARD.encode(bincode::serialize(&tx).unwrap());
    let sig = result(
        url,
        "sendTransaction",
        json!([wire, {"encoding": "base64"}]),
    )
    .await;
    assert_eq!(sig, json!(tx.signatures[0].to_string()));
    let status = result(url, "getSignatureStatuses", json!([[sig]])).await;
    assert_eq!(
        status["value"][0]["confirmationStatus"], "finalized",
        "{status}"
    );
    assert_eq!(status["value"][0]["err"], Value::Null, "{status}");
}
