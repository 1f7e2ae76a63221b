//! Slot, root and logs subscriptions: Solana's `PubsubClient`, unchanged,
//! and the raw frames, including the subscriptions a validator refuses.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use solana_client::nonblocking::pubsub_client::PubsubClient;
use solana_client::rpc_config::{RpcTransactionLogsConfig, RpcTransactionLogsFilter};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_system_interface::instruction::transfer;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_and_root_subscriptions_follow_the_chain() {
    let net = start().await;
    let pubsub = PubsubClient::new(&net.ws_url).await.unwrap();
    let (mut slots, slots_unsub) = pubsub.slot_subscribe().await.unwrap();
    let (mut roots, roots_unsub) = pubsub.root_subscribe().await.unwrap();
    let a = within("slotNotification", slots.next()).await.unwrap();
    let b = within("slotNotification", slots.next()).await.unwrap();
    assert!(
        a.parent < a.slot && a.slot <= b.parent && b.parent < b.slot,
        "{a:?} {b:?}"
    );
    assert_eq!(
        (a.root, b.root),
        (a.slot, b.slot),
        "every slot is final here"
    );
    let r1 = within("rootNotification", roots.next()).await.unwrap();
    let r2 = within("rootNotification", roots.next()).await.unwrap();
    assert!(r1 < r2);
    // The node's slot is never behind what it announced.
    let rpc = client(&net.rpc_url);
    assert!(rpc.get_slot().await.unwrap() >= b.slot);

    // A warp (the chain skipping ahead an hour) is one notification naming
    // the slot before it as its parent.
    let before = rpc.get_slot().await.unwrap();
    net.chain.advance(3_600).await.unwrap();
    let jumped = loop {
        let n = within("slotNotification after a warp", slots.next())
            .await
            .unwrap();
        if n.slot > before + 9_000 {
            break n;
        }
    };
    assert!(
        jumped.parent < jumped.slot && jumped.parent >= before,
        "{jumped:?}"
    );
    slots_unsub().await;
    roots_unsub().await;
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_subscriptions_hear_all_or_what_mentions_an_address() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let pubsub = PubsubClient::new(&net.ws_url).await.unwrap();
    let alice = Keypair::new();
    let carol = Keypair::new();
    let config = || RpcTransactionLogsConfig {
        commitment: Some(CommitmentConfig::confirmed()),
    };
    let (mut mine, mine_unsub) = pubsub
        .logs_subscribe(
            RpcTransactionLogsFilter::Mentions(vec![alice.pubkey().to_string()]),
            config(),
        )
        .await
        .unwrap();
    let (mut all, all_unsub) = pubsub
        .logs_subscribe(RpcTransactionLogsFilter::All, config())
        .await
        .unwrap();
    let (mut with_votes, votes_unsub) = pubsub
        .logs_subscribe(RpcTransactionLogsFilter::AllWithVotes, config())
        .await
        .unwrap();

    // Carol's airdrop first: heard by `all`, not by alice's subscription.
    let carols = rpc.request_airdrop(&carol.pubkey(), SOL).await.unwrap();
    assert!(rpc.confirm_transaction(&carols).await.unwrap());
    airdrop(&rpc, &alice.pubkey(), SOL).await;
    let sig = send(
        &rpc,
        &[transfer(&alice.pubkey(), &Pubkey::new_unique(), SOL / 10)],
        &[&alice],
    )
    .await;

    let n = within("logsNotification (all)", all.next()).await.unwrap();
    assert_eq!(n.value.signature, carols.to_string());
    assert_eq!(n.value.err, None);
    assert!(n.context.slot > 0);
    let n = within("logsNotification (allWithVotes)", with_votes.next())
        .await
        .unwrap();
    assert_eq!(n.value.signature, carols.to_string());
    // Alice's stream starts with her airdrop, then her transfer, with its logs.
    let _airdrop = within("logsNotification (mentions)", mine.next())
        .await
        .unwrap();
    let n = within("logsNotification (mentions)", mine.next())
        .await
        .unwrap();
    assert_eq!(n.value.signature, sig.to_string());
    assert_eq!(
        n.value.logs,
        vec![
            "Program 11111111111111111111111111111111 invoke [1]",
            "Program 11111111111111111111111111111111 success"
        ]
    );
    mine_unsub().await;
    all_unsub().await;
    votes_unsub().await;
    net.stop().await;
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ask(ws: &mut WsStream, v: Value) -> Value {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
    loop {
        let m = within("a websocket answer", ws.next())
            .await
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            // Skip notifications of subscriptions made earlier.
            if v.get("id").is_some() {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_refuse_bad_params_as_a_validator_does() {
    let net = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&net.ws_url).await.unwrap();
    let alice = Pubkey::new_unique().to_string();
    let bob = Pubkey::new_unique().to_string();
    for (method, params, message) in [
        (
            "logsSubscribe",
            json!([{"mentions": [alice, bob]}]),
            "Invalid Request: Only 1 address supported",
        ),
        (
            "logsSubscribe",
            json!([{"mentions": []}]),
            "Invalid Request: Only 1 address supported",
        ),
        (
            "logsSubscribe",
            json!([{"mentions": ["xyz"]}]),
            "Invalid param",
        ),
        ("logsSubscribe", json!(["everything"]), "`filter`"),
        (
            "logsSubscribe",
            json!([]),
            "missing required parameter `filter`",
        ),
        ("logsSubscribe", json!(["all", 5]), "`config`"),
        ("slotSubscribe", json!([1]), "at most 0 parameter"),
        ("rootSubscribe", json!(["x"]), "at most 0 parameter"),
    ] {
        let r = ask(
            &mut ws,
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
        )
        .await;
        assert_eq!(r["error"]["code"], -32602, "{method} {params}: {r}");
        let m = r["error"]["message"].as_str().unwrap();
        assert!(m.contains(message), "{method} {params}: {m}");
    }
    // The good forms are accepted, with a subscription id...
    for (method, params) in [
        ("logsSubscribe", json!(["all"])),
        (
            "logsSubscribe",
            json!([{"mentions": [alice]}, {"commitment": "finalized"}]),
        ),
        ("slotSubscribe", json!([])),
        ("rootSubscribe", json!(null)),
    ] {
        let r = ask(
            &mut ws,
            json!({"jsonrpc": "2.0", "id": 2, "method": method, "params": params}),
        )
        .await;
        assert!(r["result"].is_u64(), "{method}: {r}");
    }
    // ...and what is not served stays "Method not found".
    let r = ask(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 3, "method": "blockSubscribe", "params": ["all"]}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
    net.stop().await;
}
