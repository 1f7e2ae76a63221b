//! The HTTP backend against an in-test server on 127.0.0.1: round trip, tampering,
//! absence, a server that is down, transient failures retried, and size limits.

mod common;

use std::time::{Duration, Instant};

use common::{content, dead_port, TestServer};
use gpu_market_blobs::{
    fetch, fetch_with, open, open_with, sha256, to_hex, BlobError, BlobOptions,
};

/// Fast retries so failure tests take milliseconds, with enough attempts to matter.
fn quick() -> BlobOptions {
    BlobOptions {
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        retry_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ..BlobOptions::default()
    }
}

#[tokio::test]
async fn round_trip_through_put_get_and_fetch() {
    let server = TestServer::http().await;
    let store = open(&server.url("/blobs")).unwrap();
    let bytes = content(1, 3 << 20);
    let r = store.put(&bytes).await.unwrap();

    let hex = to_hex(&sha256(&bytes));
    assert_eq!(r.uri, server.url(&format!("/blobs/{hex}")));
    assert_eq!(r.len, bytes.len() as u64);
    assert_eq!(server.object(&format!("/blobs/{hex}")).unwrap(), bytes);

    assert_eq!(store.get(&r.uri, &r.sha256).await.unwrap(), bytes);
    assert_eq!(fetch(&r.uri, &r.sha256).await.unwrap(), bytes);
    assert!(store.exists(&r.sha256).await.unwrap());
    assert!(!store.exists(&sha256(b"never stored")).await.unwrap());
    assert!(store.describe().contains(&server.url("/blobs")));

    // Idempotent: the same reference again.
    assert_eq!(store.put(&bytes).await.unwrap(), r);
    assert!(server.requests().contains(&format!("PUT /blobs/{hex}")));
    assert!(server.requests().contains(&format!("HEAD /blobs/{hex}")));
}

#[tokio::test]
async fn base_url_with_trailing_slash_or_at_root() {
    let server = TestServer::http().await;
    let bytes = b"spec";
    let hex = to_hex(&sha256(bytes));
    let r = open(&server.url("/blobs/"))
        .unwrap()
        .put(bytes)
        .await
        .unwrap();
    assert_eq!(r.uri, server.url(&format!("/blobs/{hex}")));
    let r = open(&server.url("/")).unwrap().put(bytes).await.unwrap();
    assert_eq!(r.uri, server.url(&format!("/{hex}")));
    assert_eq!(fetch(&r.uri, &r.sha256).await.unwrap(), bytes);
    assert!(matches!(
        open(&server.url("/blobs?token=x")),
        Err(BlobError::InvalidLocation { .. })
    ));
}

#[tokio::test]
async fn fetch_sends_the_url_as_given() {
    // A presigned-style URL: the query must reach the server, the path unaltered.
    let server = TestServer::http().await;
    let bytes = b"input matrix";
    server.insert("/some%20dir/a.bin", bytes);
    let uri = server.url("/some%20dir/a.bin?X-Signature=abc%2Fdef");
    assert_eq!(fetch(&uri, &sha256(bytes)).await.unwrap(), bytes);
}

#[tokio::test]
async fn tampered_content_is_a_hash_mismatch() {
    let server = TestServer::http().await;
    let store = open(&server.url("/blobs")).unwrap();
    let bytes = content(2, 5000);
    let r = store.put(&bytes).await.unwrap();
    server
        .state
        .tamper
        .store(true, std::sync::atomic::Ordering::SeqCst);

    match store.get(&r.uri, &r.sha256).await {
        Err(BlobError::HashMismatch {
            expected,
            actual,
            uri,
        }) => {
            assert_eq!(expected, r.sha256);
            assert_ne!(actual, r.sha256);
            assert_eq!(uri, r.uri);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert!(matches!(
        fetch(&r.uri, &r.sha256).await,
        Err(BlobError::HashMismatch { .. })
    ));
}

#[tokio::test]
async fn missing_blob_is_not_found() {
    let server = TestServer::http().await;
    let store = open(&server.url("/blobs")).unwrap();
    let hash = sha256(b"absent");
    let uri = server.url(&format!("/blobs/{}", to_hex(&hash)));
    match store.get(&uri, &hash).await {
        Err(BlobError::NotFound { uri: u }) => assert_eq!(u, uri),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        fetch(&server.url("/elsewhere/x.bin"), &hash).await,
        Err(BlobError::NotFound { .. })
    ));
}

#[tokio::test]
async fn server_down_is_unreachable_with_a_clear_message() {
    let base = format!("http://127.0.0.1:{}/blobs", dead_port());
    let store = open_with(&base, &quick()).unwrap();
    let hash = sha256(b"anything");
    let uri = format!("{base}/{}", to_hex(&hash));

    let started = Instant::now();
    let err = store.get(&uri, &hash).await.unwrap_err();
    let msg = err.to_string();
    match &err {
        BlobError::Unreachable { uri: u, .. } => assert_eq!(u, &uri),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(msg.contains(&uri), "{msg}");
    assert!(msg.to_lowercase().contains("connect"), "{msg}");
    // The retries ran (several backoffs) but stayed within the configured budget.
    assert!(started.elapsed() < Duration::from_secs(5), "{msg}");

    assert!(matches!(
        store.put(b"x").await,
        Err(BlobError::Unreachable { .. })
    ));
    assert!(matches!(
        store.exists(&hash).await,
        Err(BlobError::Unreachable { .. })
    ));
    assert!(matches!(
        fetch_with(&uri, &hash, &quick()).await,
        Err(BlobError::Unreachable { .. })
    ));
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let server = TestServer::http().await;
    let store = open_with(&server.url("/blobs"), &quick()).unwrap();
    let bytes = content(3, 1000);

    server
        .state
        .fail_next
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let r = store.put(&bytes).await.unwrap();
    server
        .state
        .fail_next
        .store(2, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(store.get(&r.uri, &r.sha256).await.unwrap(), bytes);

    let hex = to_hex(&r.sha256);
    let count = |req: &str| server.requests().iter().filter(|r| *r == req).count();
    assert_eq!(count(&format!("PUT /blobs/{hex}")), 3);
    assert_eq!(count(&format!("GET /blobs/{hex}")), 3);

    // More failures than retries: reported, not hidden.
    server
        .state
        .fail_next
        .store(10, std::sync::atomic::Ordering::SeqCst);
    let err = store.get(&r.uri, &r.sha256).await.unwrap_err();
    assert!(matches!(err, BlobError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
}

#[tokio::test]
async fn oversized_blob_is_refused_before_download() {
    let server = TestServer::http().await;
    let r = open(&server.url("/blobs"))
        .unwrap()
        .put(&content(4, 1 << 20))
        .await
        .unwrap();
    let small = BlobOptions {
        max_blob_size: 1000,
        ..quick()
    };
    let limited = open_with(&server.url("/blobs"), &small).unwrap();
    match limited.get(&r.uri, &r.sha256).await {
        Err(BlobError::TooLarge { len, max, .. }) => {
            // The announced length, not a count of bytes read.
            assert_eq!(len, 1 << 20);
            assert_eq!(max, 1000);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(
        limited.put(&[0u8; 1001]).await,
        Err(BlobError::TooLarge { .. })
    ));
}
