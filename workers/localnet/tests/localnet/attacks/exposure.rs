//! Reaching the node from where it should not be reached. The faucet pays
//! whoever asks, so a web page on another origin, a page whose domain was
//! rebound to 127.0.0.1, and the network at large must all be turned away;
//! a dashboard on loopback (or at an origin named at start) must still work.

use std::net::{Ipv4Addr, SocketAddr};

use gpu_market_localnet::{
    Access, ClockMode, Localnet, LocalnetConfig, LocalnetError, OriginError,
};
use serde_json::json;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{result, start};

const AIRDROP: u64 = 1_000_000_000;

fn loopback_config() -> LocalnetConfig {
    LocalnetConfig {
        rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        clock: ClockMode::RealTime,
    }
}

fn airdrop_body(to: &Pubkey) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "requestAirdrop", "params": [to.to_string(), AIRDROP]})
        .to_string()
}

async fn lamports(url: &str, key: &Pubkey) -> u64 {
    result(url, "getBalance", json!([key.to_string()])).await["value"]
        .as_u64()
        .unwrap()
}

/// A browser's CORS preflight from `origin`: the origin the node grants, if any.
async fn preflight(url: &str, origin: &str) -> Option<String> {
    let r = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, url)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type,solana-client",
        )
        .send()
        .await
        .unwrap();
    r.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string())
}

/// The airdrop a page at `origin` asks for, as a browser sends it: the HTTP
/// status and the origin granted on the answer.
async fn airdrop_from(url: &str, origin: &str, to: &Pubkey) -> (u16, Option<String>) {
    let r = reqwest::Client::new()
        .post(url)
        .header("Origin", origin)
        .header("content-type", "application/json")
        .body(airdrop_body(to))
        .send()
        .await
        .unwrap();
    let granted = r
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), granted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_cannot_use_the_faucet() {
    let net = start().await;
    let url = net.rpc_url.as_str();
    let victim_pocket = Keypair::new().pubkey();
    for evil in [
        "https://evil.example",
        "http://localhost.evil.example:3000",
        "http://127.0.0.1.evil.example",
        "null",
    ] {
        assert_eq!(preflight(url, evil).await, None, "{evil} got a CORS grant");
        let (status, granted) = airdrop_from(url, evil, &victim_pocket).await;
        assert_eq!((status, granted), (403, None), "{evil}");
    }
    assert_eq!(lamports(url, &victim_pocket).await, 0);

    // A dashboard served on loopback is granted its own origin (not `*`).
    let dashboard = "http://localhost:3000";
    assert_eq!(preflight(url, dashboard).await.as_deref(), Some(dashboard));
    let (status, granted) = airdrop_from(url, dashboard, &victim_pocket).await;
    assert_eq!((status, granted.as_deref()), (200, Some(dashboard)));
    assert_eq!(lamports(url, &victim_pocket).await, AIRDROP);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_cors_origin_is_granted_and_lookalikes_are_not() {
    let dashboard = "https://dash.example:8443";
    let net = Localnet::start_with(
        loopback_config(),
        Access {
            cors_origins: vec![dashboard.into()],
            ..Access::default()
        },
    )
    .await
    .unwrap();
    let url = net.rpc_url.as_str();
    assert_eq!(preflight(url, dashboard).await.as_deref(), Some(dashboard));
    for lookalike in [
        "https://dash.example",
        "https://dash.example:8443.evil.example",
    ] {
        assert_eq!(preflight(url, lookalike).await, None, "{lookalike}");
    }

    // `*` would give every page the faucet: refused before anything binds.
    let wildcard = Localnet::start_with(
        loopback_config(),
        Access {
            cors_origins: vec!["*".into()],
            ..Access::default()
        },
    )
    .await;
    assert!(matches!(
        wildcard,
        Err(LocalnetError::CorsOrigin {
            source: OriginError::Wildcard,
            ..
        })
    ));
    net.stop().await;
}

/// DNS rebinding: a page at `rebound.evil.example` whose name now resolves to
/// 127.0.0.1 is same-origin with itself, so CORS never applies; its requests
/// carry its own name in `Host`, and a loopback node refuses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebound_domain_cannot_reach_a_loopback_node() {
    let net = start().await;
    let url = net.rpc_url.as_str();
    let port = net.rpc_addr.port();
    let pocket = Keypair::new().pubkey();
    let r = reqwest::Client::new()
        .post(url)
        .header("Host", format!("rebound.evil.example:{port}"))
        .header("content-type", "application/json")
        .body(airdrop_body(&pocket))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(lamports(url, &pocket).await, 0);

    // Over the websocket too: the handshake is refused for a foreign Host
    // and for a foreign page's Origin, and accepted for a loopback page.
    let ws = net.ws_url.clone();
    let ws_port = net.ws_addr.port();
    let mut rebound = ws.as_str().into_client_request().unwrap();
    rebound.headers_mut().insert(
        "host",
        format!("rebound.evil.example:{ws_port}").parse().unwrap(),
    );
    assert!(tokio_tungstenite::connect_async(rebound).await.is_err());
    let mut foreign = ws.as_str().into_client_request().unwrap();
    foreign
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(foreign).await.is_err());
    let mut dashboard = ws.as_str().into_client_request().unwrap();
    dashboard
        .headers_mut()
        .insert("origin", "http://127.0.0.1:3000".parse().unwrap());
    let (stream, _) = tokio_tungstenite::connect_async(dashboard).await.unwrap();
    drop(stream);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_beyond_loopback_takes_the_explicit_flag() {
    assert!(LocalnetConfig::default().rpc_addr.ip().is_loopback());
    let wide = LocalnetConfig {
        rpc_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        clock: ClockMode::RealTime,
    };
    match Localnet::start(wide).await {
        Err(LocalnetError::NotLoopback { addr }) => assert_eq!(addr, wide.rpc_addr),
        Err(e) => panic!("expected NotLoopback, got {e}"),
        Ok(_) => panic!("a wildcard address was served without the flag"),
    }
    let net = Localnet::start_with(
        wide,
        Access {
            beyond_loopback: true,
            ..Access::default()
        },
    )
    .await
    .unwrap();
    assert!(net.rpc_addr.ip().is_unspecified());
    // Served beyond loopback, any Host is answered (the node cannot know its
    // names), but foreign pages still get no CORS grant.
    let r = reqwest::Client::new()
        .post(net.rpc_url.as_str())
        .header("Host", "gpu-box.lan:1")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"getHealth"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(preflight(&net.rpc_url, "https://evil.example").await, None);
    net.stop().await;
}
