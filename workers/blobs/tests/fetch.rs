//! `fetch` without a configured store: a blob put in one store is fetched by URI
//! alone, across schemes, and through another store's `get`; unsupported URIs are named
//! errors. (`fetch("s3://...")` needs the AWS environment and is tested in `s3_env.rs`.)

mod common;

use common::{content, TestServer};
use gpu_market_blobs::{fetch, open, sha256, BlobError};

#[tokio::test]
async fn fetch_reads_file_and_http_uris() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::http().await;
    let local = open(dir.path().to_str().unwrap()).unwrap();
    let remote = open(&server.url("/blobs")).unwrap();

    let a = content(1, 70_000);
    let b = content(2, 70_000);
    let ra = local.put(&a).await.unwrap();
    let rb = remote.put(&b).await.unwrap();
    assert!(ra.uri.starts_with("file:///"));
    assert!(rb.uri.starts_with("http://127.0.0.1:"));

    assert_eq!(fetch(&ra.uri, &ra.sha256).await.unwrap(), a);
    assert_eq!(fetch(&rb.uri, &rb.sha256).await.unwrap(), b);
    // A store's `get` follows URIs that belong to other stores.
    assert_eq!(local.get(&rb.uri, &rb.sha256).await.unwrap(), b);
    assert_eq!(remote.get(&ra.uri, &ra.sha256).await.unwrap(), a);
}

#[tokio::test]
async fn unsupported_schemes_are_named_errors() {
    let hash = sha256(b"x");
    for uri in [
        "ftp://example.com/x",
        "gs://bucket/x",
        "ipfs://bafy",
        "/plain/path/x",
        "x",
        "",
    ] {
        match fetch(uri, &hash).await {
            Err(BlobError::UnsupportedScheme { uri: u }) => assert_eq!(u, uri),
            other => panic!("{uri:?}: expected UnsupportedScheme, got {other:?}"),
        }
    }
    assert!(matches!(
        open("ftp://example.com/blobs"),
        Err(BlobError::UnsupportedScheme { .. })
    ));
    let msg = fetch("gs://bucket/x", &hash).await.unwrap_err().to_string();
    assert!(
        msg.contains("gs://bucket/x") && msg.contains("s3://"),
        "{msg}"
    );
}

#[tokio::test]
async fn malformed_uris_are_invalid_locations() {
    let hash = sha256(b"x");
    // Not regular files: a spec must not make a worker read a device or a directory.
    for uri in [
        "http://",
        "file://remote-host/x",
        "file:///dev/zero",
        "file:///tmp",
    ] {
        match fetch(uri, &hash).await {
            Err(BlobError::InvalidLocation { .. }) => {}
            other => panic!("{uri:?}: expected InvalidLocation, got {other:?}"),
        }
    }
}
