//! An in-test object server on 127.0.0.1, standing in for both a WebDAV-style HTTP
//! server and a path-style S3-compatible service: objects are stored by request path on
//! PUT and served on GET/HEAD; MKCOL succeeds; SigV4 signatures are ignored. Switches
//! let a test make it tamper with what it serves or fail the next requests with 503.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;

#[derive(Default)]
pub struct ServerState {
    objects: Mutex<HashMap<String, Vec<u8>>>,
    /// Serve every object with its first byte flipped.
    pub tamper: AtomicBool,
    /// Answer this many of the next requests with 503 Service Unavailable.
    pub fail_next: AtomicUsize,
    /// Add the ETag and Last-Modified headers S3 clients require.
    s3_headers: bool,
    /// Every request as "METHOD /path".
    log: Mutex<Vec<String>>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A plain HTTP server: no ETag, no Last-Modified, the minimum HttpStore needs.
    pub async fn http() -> Self {
        Self::start(false).await
    }

    /// An S3-compatible server (path-style: `/<bucket>/<key>`).
    pub async fn s3() -> Self {
        Self::start(true).await
    }

    async fn start(s3_headers: bool) -> Self {
        let state = Arc::new(ServerState {
            s3_headers,
            ..Default::default()
        });
        let app = Router::new()
            .fallback(handle)
            // Blobs are bigger than axum's 2 MB default request limit.
            .layer(DefaultBodyLimit::disable())
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestServer { addr, state, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The object stored at `path`, if any.
    pub fn object(&self, path: &str) -> Option<Vec<u8>> {
        self.state.objects.lock().unwrap().get(path).cloned()
    }

    /// Stores `bytes` at `path` directly, as if another client had put them there.
    pub fn insert(&self, path: &str, bytes: &[u8]) {
        self.state
            .objects
            .lock()
            .unwrap()
            .insert(path.to_string(), bytes.to_vec());
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    state.log.lock().unwrap().push(format!("{method} {path}"));
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    match method.as_str() {
        "PUT" => {
            let etag = etag(&body);
            state.objects.lock().unwrap().insert(path, body.to_vec());
            let mut resp = status(StatusCode::OK);
            resp.headers_mut().insert(header::ETAG, etag);
            resp
        }
        "GET" | "HEAD" => {
            let Some(mut bytes) = state.objects.lock().unwrap().get(&path).cloned() else {
                return status(StatusCode::NOT_FOUND);
            };
            if state.tamper.load(Ordering::SeqCst) && !bytes.is_empty() {
                bytes[0] ^= 0xff;
            }
            let mut resp = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_LENGTH, bytes.len());
            if state.s3_headers {
                resp = resp
                    .header(header::ETAG, etag(&bytes))
                    .header(header::LAST_MODIFIED, "Tue, 15 Nov 1994 08:12:31 GMT");
            }
            let body = if method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(bytes)
            };
            resp.body(body).unwrap()
        }
        // WebDAV collection creation: collections are implicit here.
        "MKCOL" => status(StatusCode::CREATED),
        _ => status(StatusCode::METHOD_NOT_ALLOWED),
    }
}

fn status(code: StatusCode) -> Response {
    Response::builder()
        .status(code)
        .body(Body::empty())
        .unwrap()
}

fn etag(bytes: &[u8]) -> HeaderValue {
    let hash = gpu_market_blobs::to_hex(&gpu_market_blobs::sha256(bytes));
    HeaderValue::from_str(&format!("\"{}\"", &hash[..32])).unwrap()
}

/// Deterministic test content of `len` bytes, different per `seed`.
pub fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed)
        .collect()
}
