//! The S3 backend configured explicitly with `S3Config`, against an in-test
//! S3-compatible server on 127.0.0.1 (path-style, plain http, signatures ignored).
//! Configuration from the AWS environment variables is in `s3_env.rs`, its own process.

mod common;

use common::{content, TestServer};
use gpu_market_blobs::{sha256, to_hex, BlobError, S3Config};

fn config(server: &TestServer, prefix: &str) -> S3Config {
    S3Config {
        endpoint: Some(server.url("")),
        region: Some("us-east-1".into()),
        access_key_id: Some("test-key".into()),
        secret_access_key: Some("test-secret".into()),
        allow_http: true,
        ..S3Config::new("jobs", prefix)
    }
}

#[tokio::test]
async fn round_trip_with_explicit_config() {
    let server = TestServer::s3().await;
    let store = config(&server, "specs/v1").open().unwrap();
    let bytes = content(1, 2 << 20);
    let r = store.put(&bytes).await.unwrap();

    let hex = to_hex(&sha256(&bytes));
    assert_eq!(r.uri, format!("s3://jobs/specs/v1/{hex}"));
    assert_eq!(r.len, bytes.len() as u64);
    // Path-style request: /<bucket>/<prefix>/<hex>.
    assert_eq!(
        server.object(&format!("/jobs/specs/v1/{hex}")).unwrap(),
        bytes
    );

    assert_eq!(store.get(&r.uri, &r.sha256).await.unwrap(), bytes);
    assert!(store.exists(&r.sha256).await.unwrap());
    assert!(!store.exists(&sha256(b"never stored")).await.unwrap());
    assert_eq!(store.put(&bytes).await.unwrap(), r);
    let description = store.describe();
    assert!(description.contains("s3://jobs/specs/v1"), "{description}");
    assert!(description.contains(&server.url("")), "{description}");
}

#[tokio::test]
async fn empty_prefix_and_slashes_are_normalized() {
    let server = TestServer::s3().await;
    let bytes = b"spec";
    let hex = to_hex(&sha256(bytes));
    let r = config(&server, "")
        .open()
        .unwrap()
        .put(bytes)
        .await
        .unwrap();
    assert_eq!(r.uri, format!("s3://jobs/{hex}"));
    let r = config(&server, "/a/b/")
        .open()
        .unwrap()
        .put(bytes)
        .await
        .unwrap();
    assert_eq!(r.uri, format!("s3://jobs/a/b/{hex}"));
    assert!(server.object(&format!("/jobs/a/b/{hex}")).is_some());
}

#[tokio::test]
async fn tampered_object_is_a_hash_mismatch() {
    let server = TestServer::s3().await;
    let store = config(&server, "in").open().unwrap();
    let r = store.put(&content(2, 4096)).await.unwrap();
    server
        .state
        .tamper
        .store(true, std::sync::atomic::Ordering::SeqCst);
    match store.get(&r.uri, &r.sha256).await {
        Err(BlobError::HashMismatch { expected, uri, .. }) => {
            assert_eq!(expected, r.sha256);
            assert_eq!(uri, r.uri);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_object_is_not_found() {
    let server = TestServer::s3().await;
    let store = config(&server, "in").open().unwrap();
    let hash = sha256(b"absent");
    let uri = format!("s3://jobs/in/{}", to_hex(&hash));
    match store.get(&uri, &hash).await {
        Err(BlobError::NotFound { uri: u }) => assert_eq!(u, uri),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn debug_output_hides_the_secret_key() {
    let config = S3Config {
        secret_access_key: Some("hunter2".into()),
        ..S3Config::new("b", "p")
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[test]
fn bad_configs_are_named_errors() {
    assert!(matches!(
        S3Config::new("", "p").open(),
        Err(BlobError::InvalidLocation { .. })
    ));
    assert!(matches!(
        S3Config::new("b", "a//b").open(),
        Err(BlobError::InvalidLocation { .. })
    ));
}

/// A streamed read of the store's own object: whole and verified, in bounded writes; a
/// declared length shorter than the object is refused from the object's size, unread.
#[tokio::test]
async fn own_objects_stream_with_length_checks() {
    use gpu_market_blobs::{Connect, Len};
    let server = TestServer::s3().await;
    let store = config(&server, "inputs").open().unwrap();
    let bytes = content(5, 3 << 20);
    let r = store.put(&bytes).await.unwrap();
    let mut out = Vec::new();
    let n = store
        .get_to(
            &r.uri,
            &r.sha256,
            Len::Exactly(r.len),
            &Connect::Resolve,
            &mut out,
        )
        .await
        .unwrap();
    assert_eq!((n, out == bytes), (r.len, true));
    let mut out = Vec::new();
    let long = store
        .get_to(
            &r.uri,
            &r.sha256,
            Len::Exactly(r.len - 1),
            &Connect::Resolve,
            &mut out,
        )
        .await;
    assert!(
        matches!(long, Err(BlobError::LongerThanDeclared { received, .. }) if received == r.len),
        "{long:?}"
    );
    assert!(out.is_empty(), "nothing written");
}
