//! The errors the chaos chain injects, taken from the real thing: an
//! [`RpcChain`] is pointed at a local HTTP server that answers every request
//! with a 429, a 503 or a JSON-RPC error object, and what `RpcChain` returns is
//! kept, so the worker meets exactly the `ClientError` variants (and so the
//! transient / final classification) a provider's RPC endpoint produces. Only
//! the request timeout is built by hand: `RpcChain`'s client waits 30 s for it,
//! and it is the `Unreachable` that `RpcChain::map_err` makes of reqwest's
//! "operation timed out".

use gpu_market_client::chain::rpc::RpcChain;
use gpu_market_client::chain::Chain;
use gpu_market_client::error::ClientError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A captured error, rebuilt on each injection (`ClientError` is not `Clone`).
#[derive(Clone, Debug)]
enum Captured {
    Unreachable { url: String, detail: String },
    Rpc { url: String, detail: String },
    Timeout(String),
}

impl Captured {
    fn of(e: &ClientError) -> Self {
        match e {
            ClientError::Unreachable { url, detail } => Captured::Unreachable {
                url: url.clone(),
                detail: detail.clone(),
            },
            ClientError::Rpc { url, detail } => Captured::Rpc {
                url: url.clone(),
                detail: detail.clone(),
            },
            ClientError::Timeout(what) => Captured::Timeout(what.clone()),
            other => panic!("RpcChain returned an error the chaos chain does not replay: {other}"),
        }
    }

    fn build(&self) -> ClientError {
        match self.clone() {
            Captured::Unreachable { url, detail } => ClientError::Unreachable { url, detail },
            Captured::Rpc { url, detail } => ClientError::Rpc { url, detail },
            Captured::Timeout(what) => ClientError::Timeout(what),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RpcErrors {
    rate_limited: Captured,
    server_error: Captured,
    unhealthy: Captured,
    timed_out: Captured,
}

impl RpcErrors {
    /// Asks a real `RpcChain` for each answer's error (a few hundred ms).
    pub async fn capture() -> Self {
        let rate_limited = capture(
            // Retry-After: 0 so that the RPC client's own five retries of a 429
            // do not pause; it still gives up after them.
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let server_error = capture(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let body = r#"{"jsonrpc":"2.0","error":{"code":-32005,"message":"Node is behind by 42 slots","data":{"numSlotsBehind":42}},"id":1}"#;
        let unhealthy = capture(&format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
        .await;
        let url = match &server_error {
            Captured::Unreachable { url, .. } | Captured::Rpc { url, .. } => url.clone(),
            Captured::Timeout(_) => unreachable!("an HTTP answer is not a timeout"),
        };
        let timed_out = Captured::Unreachable {
            detail: format!("error sending request for url ({url}/): operation timed out"),
            url,
        };
        RpcErrors {
            rate_limited,
            server_error,
            unhealthy,
            timed_out,
        }
    }

    pub fn rate_limited(&self) -> ClientError {
        self.rate_limited.build()
    }
    pub fn server_error(&self) -> ClientError {
        self.server_error.build()
    }
    pub fn unhealthy(&self) -> ClientError {
        self.unhealthy.build()
    }
    pub fn timed_out(&self) -> ClientError {
        self.timed_out.build()
    }
}

/// What `RpcChain::block_height` returns from a server that answers `response`.
async fn capture(response: &str) -> Captured {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let response = response.as_bytes().to_vec();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 64 << 10];
            let _ = conn.read(&mut buf).await;
            let _ = conn.write_all(&response).await;
            let _ = conn.shutdown().await;
        }
    });
    let chain = RpcChain::new(&format!("http://{addr}"));
    let err = chain
        .block_height()
        .await
        .expect_err("the server answers only errors");
    server.abort();
    Captured::of(&err)
}
