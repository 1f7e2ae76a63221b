//! Streamed reads (`get_to`, `fetch_to`) from the attacker's side: a store that sends an
//! endless body, more than the reader was told, less, or the wrong bytes; a redirect
//! away from the checked address; a store that cannot pin its connections. Each is cut
//! or refused with a named error, and what reached the reader's sink (a counting writer
//! standing in for a file) shows that memory and disk stayed bounded: never a write
//! larger than one chunk, never more than the declared length in total.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use common::{content, TestServer};
use gpu_market_blobs::{
    fetch_to, open, open_with, sha256, to_hex, BlobError, BlobOptions, BlobRef, BlobStore, Connect,
    Hash32, Len,
};

/// Largest single write any backend makes: its read chunk (1 MiB for files; an HTTP
/// body arrives in frames far smaller).
const CHUNK: usize = 1 << 20;

/// A sink that keeps nothing: counts the bytes and the largest single write, i.e. the
/// most the read handed over at once.
#[derive(Default)]
struct Counting {
    total: u64,
    largest: usize,
}

impl tokio::io::AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.total += buf.len() as u64;
        self.largest = self.largest.max(buf.len());
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// No retries, short timeouts: a hostile server gets one try.
fn quick() -> BlobOptions {
    BlobOptions {
        max_retries: 0,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(20),
        ..BlobOptions::default()
    }
}

/// A hostile HTTP server on 127.0.0.1: `/endless` streams 64 KiB chunks forever (no
/// Content-Length), `/long` announces and sends 200,000 bytes, `/moved` redirects to
/// `/secret`. `sent` counts the bytes the endless body has produced; `hits` the requests.
struct Hostile {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    hits: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct HostileState {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    hits: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn hostile_handler(State(s): State<HostileState>, uri: Uri) -> Response {
    s.hits.lock().unwrap().push(uri.path().to_string());
    match uri.path() {
        "/endless" => {
            let sent = s.sent.clone();
            let chunks = futures::stream::repeat_with(move || {
                sent.fetch_add(64 << 10, Ordering::SeqCst);
                Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 64 << 10]))
            });
            Response::new(Body::from_stream(chunks))
        }
        "/long" => Response::builder()
            .header(header::CONTENT_LENGTH, 200_000)
            .body(Body::from(vec![7u8; 200_000]))
            .unwrap(),
        "/moved" => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, format!("http://{}/secret", s.addr))
            .body(Body::empty())
            .unwrap(),
        _ => Response::builder()
            .body(Body::from(b"secret".to_vec()))
            .unwrap(),
    }
}

impl Hostile {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = HostileState {
            addr,
            sent: Arc::default(),
            hits: Arc::default(),
        };
        let app = Router::new()
            .fallback(hostile_handler)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Hostile {
            addr,
            sent: state.sent,
            hits: state.hits,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// The attack: a store that answers an input's URL with a body that never ends (a
/// worker buffering it would run out of memory, or disk). The read stops at the first
/// chunk past the declared 100,000 bytes with `LongerThanDeclared`; the sink got at most
/// those bytes, never more than one chunk at a time; the connection is dropped, so the
/// server stops producing.
#[tokio::test]
async fn an_endless_body_is_cut_at_the_declared_length() {
    let server = Hostile::start().await;
    let mut sink = Counting::default();
    let started = Instant::now();
    let r = fetch_to(
        &server.url("/endless"),
        &Hash32([1; 32]),
        Len::Exactly(100_000),
        &Connect::Resolve,
        &quick(),
        &mut sink,
    )
    .await;
    assert!(
        matches!(r, Err(BlobError::LongerThanDeclared { declared: 100_000, received, .. }) if received > 100_000),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "cut promptly");
    assert!(sink.total <= 100_000, "disk: {} bytes", sink.total);
    assert!(
        sink.largest <= CHUNK,
        "memory: a {}-byte write",
        sink.largest
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_cut = server.sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.sent.load(Ordering::SeqCst),
        after_cut,
        "the server is no longer read from"
    );

    // The same under a whole-blob limit (a spec: at most 100,000 bytes).
    let mut sink = Counting::default();
    let r = fetch_to(
        &server.url("/endless"),
        &Hash32([1; 32]),
        Len::AtMost(100_000),
        &Connect::Resolve,
        &quick(),
        &mut sink,
    )
    .await;
    assert!(
        matches!(r, Err(BlobError::TooLarge { max: 100_000, .. })),
        "{r:?}"
    );
    assert!(sink.total <= 100_000);
}

/// The attack: a store that announces (and sends) twice the declared length. Refused
/// from its Content-Length, before a byte of the body reaches the sink.
#[tokio::test]
async fn an_announced_body_longer_than_declared_is_refused_unread() {
    let server = Hostile::start().await;
    let mut sink = Counting::default();
    let r = fetch_to(
        &server.url("/long"),
        &Hash32([1; 32]),
        Len::Exactly(100_000),
        &Connect::Resolve,
        &quick(),
        &mut sink,
    )
    .await;
    assert!(
        matches!(
            r,
            Err(BlobError::LongerThanDeclared {
                declared: 100_000,
                received: 200_000,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(sink.total, 0, "nothing written");
}

/// Honest reads stream too: a 3 MiB blob from a file and from an HTTP store arrives
/// whole, in writes no larger than a chunk; a declared length one byte off either way,
/// or tampered bytes, are named errors.
#[tokio::test]
async fn file_and_http_reads_stream_in_bounded_chunks_and_check_length_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::http().await;
    let bytes = content(3, 3 << 20);
    let local = open(dir.path().to_str().unwrap()).unwrap();
    let remote = open(&server.url("/blobs")).unwrap();
    let refs: Vec<BlobRef> = vec![
        local.put(&bytes).await.unwrap(),
        remote.put(&bytes).await.unwrap(),
    ];
    for r in &refs {
        for store in [&local, &remote] {
            let mut sink = Counting::default();
            let n = store
                .get_to(
                    &r.uri,
                    &r.sha256,
                    Len::Exactly(r.len),
                    &Connect::Resolve,
                    &mut sink,
                )
                .await
                .unwrap();
            assert_eq!((n, sink.total), (r.len, r.len), "{}", r.uri);
            assert!(sink.largest <= CHUNK, "{}: {}", r.uri, sink.largest);
        }
        let mut file = Vec::new();
        let got = local
            .get_to(
                &r.uri,
                &r.sha256,
                Len::Exactly(r.len),
                &Connect::Resolve,
                &mut file,
            )
            .await;
        assert_eq!((got.unwrap(), file == bytes), (r.len, true));

        let mut sink = Counting::default();
        let short = local
            .get_to(
                &r.uri,
                &r.sha256,
                Len::Exactly(r.len + 1),
                &Connect::Resolve,
                &mut sink,
            )
            .await;
        assert!(
            matches!(short, Err(BlobError::ShorterThanDeclared { received, .. }) if received == r.len),
            "{}: {short:?}",
            r.uri
        );
        let mut sink = Counting::default();
        let long = local
            .get_to(
                &r.uri,
                &r.sha256,
                Len::Exactly(r.len - 1),
                &Connect::Resolve,
                &mut sink,
            )
            .await;
        assert!(
            matches!(long, Err(BlobError::LongerThanDeclared { .. })),
            "{}: {long:?}",
            r.uri
        );
        assert_eq!(sink.total, 0, "refused from the announced size");
    }
    server.state.tamper.store(true, Ordering::SeqCst);
    let r = &refs[1];
    let tampered = local
        .get_to(
            &r.uri,
            &r.sha256,
            Len::Exactly(r.len),
            &Connect::Resolve,
            &mut Counting::default(),
        )
        .await;
    assert!(
        matches!(tampered, Err(BlobError::HashMismatch { .. })),
        "{tampered:?}"
    );
}

/// A pinned read connects to the address it was given, not to what the name resolves
/// to: `blobs.invalid` resolves nowhere, yet pinned to 127.0.0.1 the read succeeds; a
/// rebinding DNS server never gets asked. Unpinned, the same URI fails to resolve.
#[tokio::test]
async fn a_pinned_read_connects_only_to_its_pinned_address() {
    let server = TestServer::http().await;
    let bytes = content(4, 70_000);
    let hex = to_hex(&sha256(&bytes));
    server.insert(&format!("/{hex}"), &bytes);
    let uri = format!("http://blobs.invalid:{}/{hex}", server.addr.port());
    let pinned = Connect::Pinned(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let mut out = Vec::new();
    let n = fetch_to(
        &uri,
        &sha256(&bytes),
        Len::Exactly(70_000),
        &pinned,
        &quick(),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!((n, out == bytes), (70_000, true));

    let r = fetch_to(
        &uri,
        &sha256(&bytes),
        Len::Exactly(70_000),
        &Connect::Resolve,
        &quick(),
        &mut Vec::new(),
    )
    .await;
    assert!(matches!(r, Err(BlobError::Unreachable { .. })), "{r:?}");
}

/// The attack: the checked host answers with a redirect to an address the check would
/// refuse (here `/secret` on a loopback port). A pinned read follows no redirect: it
/// fails with `Redirected`, and the redirect's target is never requested.
#[tokio::test]
async fn a_pinned_read_follows_no_redirect() {
    let server = Hostile::start().await;
    let uri = format!("http://store.invalid:{}/moved", server.addr.port());
    let r = fetch_to(
        &uri,
        &Hash32([1; 32]),
        Len::Exactly(6),
        &Connect::Pinned(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]),
        &quick(),
        &mut Counting::default(),
    )
    .await;
    assert!(
        matches!(&r, Err(BlobError::Redirected { location, .. }) if location.ends_with("/secret")),
        "{r:?}"
    );
    assert_eq!(*server.hits.lock().unwrap(), vec!["/moved".to_string()]);
}

/// Failures before the body starts (503s) are retried with the store's backoff.
#[tokio::test]
async fn a_streamed_read_retries_before_the_body_starts() {
    let server = TestServer::http().await;
    let options = BlobOptions {
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..quick()
    };
    let store = open_with(&server.url("/blobs"), &options).unwrap();
    let r = store.put(b"retried").await.unwrap();
    server.state.fail_next.store(2, Ordering::SeqCst);
    let mut out = Vec::new();
    store
        .get_to(
            &r.uri,
            &r.sha256,
            Len::Exactly(7),
            &Connect::Resolve,
            &mut out,
        )
        .await
        .unwrap();
    assert_eq!(out, b"retried");
    let gets = server
        .requests()
        .iter()
        .filter(|l| l.starts_with("GET "))
        .count();
    assert_eq!(gets, 3, "two 503s, then the blob");
}

/// A store without its own `get_to` reads whole through `get`; it cannot honour a pin,
/// so a pinned read is refused rather than silently connecting wherever `get` does.
#[tokio::test]
async fn a_store_that_cannot_pin_refuses_a_pinned_read() {
    struct OnlyGet {
        inner: Arc<dyn BlobStore>,
        gets: AtomicUsize,
    }
    #[async_trait::async_trait]
    impl BlobStore for OnlyGet {
        fn describe(&self) -> String {
            "only get".into()
        }
        async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
            self.inner.put(bytes).await
        }
        async fn get(&self, uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            self.inner.get(uri, sha256).await
        }
        async fn exists(&self, sha256: &Hash32) -> Result<bool, BlobError> {
            self.inner.exists(sha256).await
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = OnlyGet {
        inner: open(dir.path().to_str().unwrap()).unwrap(),
        gets: AtomicUsize::new(0),
    };
    let r = store.put(b"twelve bytes").await.unwrap();
    let pinned = Connect::Pinned(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let refused = store
        .get_to(
            &r.uri,
            &r.sha256,
            Len::Exactly(12),
            &pinned,
            &mut Vec::new(),
        )
        .await;
    assert!(
        matches!(refused, Err(BlobError::PinUnsupported { .. })),
        "{refused:?}"
    );
    assert_eq!(store.gets.load(Ordering::SeqCst), 0, "nothing read");
    let mut out = Vec::new();
    let n = store
        .get_to(
            &r.uri,
            &r.sha256,
            Len::Exactly(12),
            &Connect::Resolve,
            &mut out,
        )
        .await
        .unwrap();
    assert_eq!((n, out.as_slice()), (12, &b"twelve bytes"[..]));
    let long = store
        .get_to(
            &r.uri,
            &r.sha256,
            Len::Exactly(11),
            &Connect::Resolve,
            &mut Counting::default(),
        )
        .await;
    assert!(matches!(long, Err(BlobError::LongerThanDeclared { .. })));
}
