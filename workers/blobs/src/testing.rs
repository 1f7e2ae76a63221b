//! An in-process object server on 127.0.0.1 for tests and benchmarks (feature
//! `test-server`): objects are stored by request path on PUT and served on GET and
//! HEAD, with the ETag and Last-Modified headers S3 clients need, so one server stands
//! in for a WebDAV-style HTTP store (`http://addr/base`) and a path-style S3 service
//! (endpoint `http://addr`, bucket = first path segment; signatures are not checked).
//! Switches make it misbehave the way real stores do: serve tampered bytes, keep only
//! part of an upload (a torn write the server still acknowledges), or fail requests.
//!
//! Uses only axum, tokio and sha2, so this crate's own tests can include the file by
//! path without the feature.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use sha2::Digest;

/// What the server holds and how it misbehaves.
#[derive(Default)]
pub struct ObjectServerState {
    objects: Mutex<HashMap<String, Vec<u8>>>,
    /// Serve every object with its first byte flipped.
    pub tamper: AtomicBool,
    /// Store only the first half of each uploaded body, and acknowledge it as whole.
    pub truncate_puts: AtomicBool,
    /// Answer this many of the next requests with 503 Service Unavailable.
    pub fail_next: AtomicUsize,
    log: Mutex<Vec<String>>,
}

/// A running server; dropping it stops it.
pub struct ObjectServer {
    pub addr: SocketAddr,
    pub state: Arc<ObjectServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ObjectServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ObjectServer {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(ObjectServerState::default());
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            // Ends only when the task is aborted (the server dropped).
            let _ = axum::serve(listener, app).await;
        });
        Ok(ObjectServer { addr, state, task })
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The object stored at `path`, if any.
    pub fn object(&self, path: &str) -> Option<Vec<u8>> {
        self.state.objects.lock().ok()?.get(path).cloned()
    }

    /// Stores `bytes` at `path` directly, as another client (or an attacker with write
    /// access) would.
    pub fn insert(&self, path: &str, bytes: &[u8]) {
        if let Ok(mut o) = self.state.objects.lock() {
            o.insert(path.to_string(), bytes.to_vec());
        }
    }

    /// Every request so far, as "METHOD /path".
    pub fn requests(&self) -> Vec<String> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn set_tamper(&self, on: bool) {
        self.state.tamper.store(on, Ordering::SeqCst);
    }

    pub fn set_truncate_puts(&self, on: bool) {
        self.state.truncate_puts.store(on, Ordering::SeqCst);
    }

    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }
}

async fn handle(
    State(state): State<Arc<ObjectServerState>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if let Ok(mut log) = state.log.lock() {
        log.push(format!("{method} {path}"));
    }
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    match method.as_str() {
        "PUT" => {
            let mut stored = body.to_vec();
            if state.truncate_puts.load(Ordering::SeqCst) {
                stored.truncate(stored.len() / 2);
            }
            let tag = etag(&body);
            if let Ok(mut o) = state.objects.lock() {
                o.insert(path, stored);
            }
            let mut resp = status(StatusCode::OK);
            resp.headers_mut().insert(header::ETAG, tag);
            resp
        }
        "GET" | "HEAD" => {
            let found = state
                .objects
                .lock()
                .ok()
                .and_then(|o| o.get(&path).cloned());
            let Some(mut bytes) = found else {
                return status(StatusCode::NOT_FOUND);
            };
            if state.tamper.load(Ordering::SeqCst) && !bytes.is_empty() {
                bytes[0] ^= 0xff;
            }
            let body = if method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(bytes.clone())
            };
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_LENGTH, bytes.len())
                .header(header::ETAG, etag(&bytes))
                .header(header::LAST_MODIFIED, "Tue, 15 Nov 1994 08:12:31 GMT")
                .body(body)
                .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
        }
        // WebDAV collection creation: collections are implicit here.
        "MKCOL" => status(StatusCode::CREATED),
        _ => status(StatusCode::METHOD_NOT_ALLOWED),
    }
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

fn etag(bytes: &[u8]) -> HeaderValue {
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}
