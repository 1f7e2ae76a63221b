//! `open("s3://...")` and `fetch("s3://...")` configured only by the standard AWS
//! environment variables, against an in-test S3-compatible server on 127.0.0.1.
//!
//! One test in its own binary, because it sets process environment variables: no other
//! thread of this process may be reading the environment meanwhile.

mod common;

use common::{content, TestServer};
use gpu_market_blobs::{fetch, open, sha256, to_hex, BlobError};

#[tokio::test]
async fn open_and_fetch_configured_by_aws_environment() {
    let server = TestServer::s3().await;
    std::env::set_var("AWS_ENDPOINT_URL", server.url(""));
    std::env::set_var("AWS_REGION", "eu-west-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "env-key");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "env-secret");
    std::env::set_var("AWS_ALLOW_HTTP", "true");

    let store = open("s3://results/job-7").unwrap();
    let description = store.describe();
    assert!(description.contains(&server.url("")), "{description}");
    assert!(description.contains("eu-west-1"), "{description}");

    let bytes = content(9, 300_000);
    let r = store.put(&bytes).await.unwrap();
    let hex = to_hex(&sha256(&bytes));
    assert_eq!(r.uri, format!("s3://results/job-7/{hex}"));
    assert_eq!(
        server.object(&format!("/results/job-7/{hex}")).unwrap(),
        bytes
    );
    assert_eq!(store.get(&r.uri, &r.sha256).await.unwrap(), bytes);

    // A worker holding only the URI and hash: no store configured.
    assert_eq!(fetch(&r.uri, &r.sha256).await.unwrap(), bytes);
    // Any key in any bucket, not only our layout.
    server.insert("/other-bucket/inputs/a.bin", b"matrix a");
    assert_eq!(
        fetch("s3://other-bucket/inputs/a.bin", &sha256(b"matrix a"))
            .await
            .unwrap(),
        b"matrix a"
    );
    assert!(matches!(
        fetch(&r.uri, &sha256(b"something else")).await,
        Err(BlobError::HashMismatch { .. })
    ));
    assert!(matches!(
        fetch("s3://results/job-7/missing", &r.sha256).await,
        Err(BlobError::NotFound { .. })
    ));
    assert!(matches!(
        fetch("s3://results", &r.sha256).await,
        Err(BlobError::InvalidLocation { .. })
    ));

    // AWS_ENDPOINT, the older spelling, works too.
    std::env::remove_var("AWS_ENDPOINT_URL");
    std::env::set_var("AWS_ENDPOINT", server.url(""));
    assert_eq!(fetch(&r.uri, &r.sha256).await.unwrap(), bytes);
}
