//! The node as a server: ports, clean shutdown, and JSON-RPC errors for bad input.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use futures::StreamExt;
use gpu_market_localnet::{Access, ClockMode, Localnet, LocalnetConfig, LocalnetError};
use serde_json::json;
use solana_client::nonblocking::pubsub_client::PubsubClient;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::pubkey::Pubkey;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_and_stops_twice_freeing_its_ports() {
    for round in 0..2 {
        let net = start().await;
        assert_ne!(net.rpc_addr.port(), 0);
        assert_ne!(net.ws_addr, net.rpc_addr);
        assert_eq!(net.rpc_url, format!("http://{}", net.rpc_addr));
        assert_eq!(net.ws_url, format!("ws://{}", net.ws_addr));

        // Open connections and a live subscription must not hold the stop up.
        let rpc = RpcClient::new(net.rpc_url.clone());
        rpc.get_slot().await.unwrap();
        let pubsub = PubsubClient::new(&net.ws_url).await.unwrap();
        let (mut stream, _unsub) = pubsub
            .account_subscribe(&Pubkey::new_unique(), None)
            .await
            .unwrap();
        let (rpc_addr, ws_addr) = (net.rpc_addr, net.ws_addr);
        let chain = std::sync::Arc::downgrade(&net.chain);
        tokio::time::timeout(Duration::from_secs(10), net.stop())
            .await
            .unwrap_or_else(|_| panic!("round {round}: stop hung"));

        // No task outlives the node holding its chain (whose drop also ends
        // the clock ticker).
        within("the chain to be dropped", async {
            while chain.upgrade().is_some() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;

        // The subscription ends and both ports can be bound again.
        assert!(tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the stream ends when the node stops")
            .is_none());
        TcpListener::bind(rpc_addr).expect("RPC port freed");
        TcpListener::bind(ws_addr).expect("websocket port freed");
        assert!(rpc.get_slot().await.is_err(), "nothing answers after stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_port_puts_the_websocket_on_the_next_one() {
    // Find a free pair (p, p + 1); the OS hands out p, the next is usually free.
    let port = (0..20)
        .find_map(|_| {
            let p = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let next = p.checked_add(1)?;
            TcpListener::bind((Ipv4Addr::LOCALHOST, next)).ok()?;
            Some(p)
        })
        .expect("a free port pair");
    let config = LocalnetConfig {
        rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        clock: ClockMode::Manual {
            start_unix_timestamp: 1_800_000_000,
        },
    };
    let net = Localnet::start(config).await.unwrap();
    assert_eq!((net.rpc_addr.port(), net.ws_addr.port()), (port, port + 1));

    // A second node cannot take the same ports, and says which.
    match Localnet::start(config).await {
        Err(LocalnetError::Bind { addr, .. }) => assert_eq!(addr.port(), port),
        Err(e) => panic!("expected a bind error, got {e}"),
        Ok(_) => panic!("two nodes on one port"),
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_websocket_port_replaces_the_next_one() {
    let free = || {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let ws_port = free();
    let config = LocalnetConfig {
        rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        clock: ClockMode::RealTime,
    };
    let net = Localnet::start_with_ws_port(config, Access::default(), Some(ws_port))
        .await
        .unwrap();
    assert_eq!(net.ws_addr.port(), ws_port);
    assert_eq!(net.ws_url, format!("ws://127.0.0.1:{ws_port}"));
    // It serves: a slot subscription answers there.
    let pubsub = PubsubClient::new(&net.ws_url).await.unwrap();
    let (mut slots, _unsub) = pubsub.slot_subscribe().await.unwrap();
    assert!(within("a slot", slots.next()).await.is_some());

    // A taken websocket port fails the start and names that port.
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    match Localnet::start_with_ws_port(config, Access::default(), Some(port)).await {
        Err(LocalnetError::Bind { addr, .. }) => assert_eq!(addr.port(), port),
        Err(e) => panic!("expected a bind error, got {e}"),
        Ok(_) => panic!("the websocket took a port in use"),
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_rpc_errors() {
    let net = start().await;
    let url = &net.rpc_url;

    let r = post_raw(url, r#"{"jsonrpc":"2.0","id":1,"method":"getSlot""#).await;
    assert_eq!(r["error"]["code"], -32700, "malformed JSON: {r}");
    assert_eq!(r["id"], json!(null));

    // Valid JSON that is not a request: jsonrpsee calls it a parse error
    // (-32700) where Solana's server says -32600; either way an error object.
    let r = post_raw(url, r#"{"hello":"world"}"#).await;
    assert_eq!(r["error"]["code"], -32700, "not a request: {r}");
    assert_eq!(r["id"], json!(null));

    let (code, message) = error(url, "getFoo", json!([])).await;
    assert_eq!((code, message.as_str()), (-32601, "Method not found"));
    // Subscriptions are served on the websocket port only.
    let (code, _) = error(
        url,
        "accountSubscribe",
        json!([Pubkey::new_unique().to_string()]),
    )
    .await;
    assert_eq!(code, -32601);

    let key = Pubkey::new_unique().to_string();
    let cases = [
        (
            "getBalance",
            json!([]),
            "missing required parameter `pubkey`",
        ),
        (
            "getBalance",
            json!([42]),
            "invalid type: integer `42`, expected a string",
        ),
        ("getBalance", json!(["not-a-key"]), "Invalid param: Invalid"),
        ("getBalance", json!(["abc"]), "Invalid param: WrongSize"),
        (
            "getBalance",
            json!([key, {}, 3]),
            "expected at most 2 parameter(s)",
        ),
        ("getBalance", json!({"pubkey": key}), "expected an array"),
        (
            "getAccountInfo",
            json!([key, {"encoding": "hex"}]),
            "unknown variant `hex`",
        ),
        (
            "getSlot",
            json!([{"minContextSlot": "soon"}]),
            "invalid type: string \"soon\"",
        ),
        (
            "getMultipleAccounts",
            json!([vec![key.clone(); 101]]),
            "Too many inputs provided; max 100",
        ),
        (
            "getProgramAccounts",
            json!([key, {"filters": [{"dataSize": 1}, {"dataSize": 1}, {"dataSize": 1}, {"dataSize": 1}, {"dataSize": 1}]}]),
            "Too many filters provided; max 4",
        ),
        (
            "getProgramAccounts",
            json!([key, {"filters": [{"memcmp": {"offset": 0, "bytes": "0OIl"}}]}]),
            "Invalid param: Base58DecodeError",
        ),
        ("getSignatureStatuses", json!([["xyz"]]), "Invalid param:"),
        (
            "sendTransaction",
            json!(["0OIl"]),
            "invalid base58 encoding",
        ),
        (
            "sendTransaction",
            json!(["AAAA", {"encoding": "base64"}]),
            "failed to deserialize",
        ),
        (
            "sendTransaction",
            json!(["AAAA", {"encoding": "json"}]),
            "unsupported encoding: json",
        ),
        (
            "simulateTransaction",
            json!(["AAAA", {"encoding": "base64", "sigVerify": true, "replaceRecentBlockhash": true}]),
            "failed to deserialize",
        ),
        (
            "requestAirdrop",
            json!([key]),
            "missing required parameter `lamports`",
        ),
        ("getFeeForMessage", json!(["AAAA"]), "failed to deserialize"),
        ("isBlockhashValid", json!(["short"]), "Invalid param"),
    ];
    for (method, params, expected) in cases {
        let (code, message) = error(url, method, params.clone()).await;
        assert_eq!(code, -32602, "{method} {params}: {message}");
        assert!(
            message.contains(expected),
            "{method} {params}: `{message}` lacks `{expected}`"
        );
    }

    // A context slot the chain has not reached: Solana's -32016 with the slot.
    let r = call(
        url,
        "getBalance",
        json!([key, {"minContextSlot": u64::MAX}]),
    )
    .await;
    assert_eq!(r["error"]["code"], -32016, "{r}");
    assert!(r["error"]["data"]["contextSlot"].as_u64().is_some(), "{r}");

    // Browsers may call from a page on this machine (the dashboard): CORS
    // preflight and the answer allow that origin by name, not every origin.
    let http = reqwest::Client::new();
    let preflight = http
        .request(reqwest::Method::OPTIONS, url.as_str())
        .header("Origin", "http://127.0.0.1:3000")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{preflight:?}");
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://127.0.0.1:3000"
    );
    let answer = http
        .post(url.as_str())
        .header("Origin", "http://127.0.0.1:3000")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"getHealth"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "http://127.0.0.1:3000"
    );

    // Batches work, each answer with its id.
    let r = post_raw(
        url,
        r#"[{"jsonrpc":"2.0","id":7,"method":"getHealth"},{"jsonrpc":"2.0","id":8,"method":"nope"}]"#,
    )
    .await;
    let answers = r.as_array().expect("a batch answer");
    let health = answers.iter().find(|a| a["id"] == 7).unwrap();
    assert_eq!(health["result"], "ok");
    let nope = answers.iter().find(|a| a["id"] == 8).unwrap();
    assert_eq!(nope["error"]["code"], -32601);
    net.stop().await;
}
