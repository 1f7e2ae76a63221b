//! Helpers shared by the suites: a node on free loopback ports, raw JSON-RPC
//! calls, and a bounded wait for stream items.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use gpu_market_localnet::{ClockMode, Localnet, LocalnetConfig};
use serde_json::Value;

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
