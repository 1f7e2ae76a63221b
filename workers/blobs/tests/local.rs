//! The local-directory backend: round trip, idempotence, tampering and absence, size
//! limits, and many writers of one blob at once.

mod common;

use std::sync::Arc;

use common::content;
use gpu_market_blobs::{
    fetch, fetch_with, open, open_with, sha256, to_hex, BlobError, BlobOptions, BlobStore,
};

fn store(dir: &tempfile::TempDir) -> Arc<dyn BlobStore> {
    open(dir.path().to_str().unwrap()).unwrap()
}

/// Entries in the store's directory, excluding nothing (temp files would show).
fn entries(dir: &tempfile::TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn round_trip_returns_a_file_uri_any_process_can_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let bytes = content(1, 100_000);
    let r = store.put(&bytes).await.unwrap();

    let hex = to_hex(&sha256(&bytes));
    let root = dir.path().canonicalize().unwrap();
    assert_eq!(r.sha256, sha256(&bytes));
    assert_eq!(r.len, bytes.len() as u64);
    assert_eq!(r.uri, format!("file://{}/{hex}", root.display()));
    assert_eq!(std::fs::read(root.join(&hex)).unwrap(), bytes);

    assert_eq!(store.get(&r.uri, &r.sha256).await.unwrap(), bytes);
    // No store needed: the URI alone is enough.
    assert_eq!(fetch(&r.uri, &r.sha256).await.unwrap(), bytes);
    assert!(store.exists(&r.sha256).await.unwrap());
    assert!(!store.exists(&sha256(b"never stored")).await.unwrap());
    assert!(store.describe().contains(&root.display().to_string()));
}

#[tokio::test]
async fn empty_blob_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let r = store.put(b"").await.unwrap();
    assert_eq!(r.len, 0);
    assert_eq!(store.get(&r.uri, &r.sha256).await.unwrap(), b"");
}

#[tokio::test]
async fn location_forms_name_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let bytes = b"one spec, three spellings of its directory";
    let plain = open(root.to_str().unwrap())
        .unwrap()
        .put(bytes)
        .await
        .unwrap();
    let dir_uri = open(&format!("dir://{}", root.display()))
        .unwrap()
        .put(bytes)
        .await
        .unwrap();
    let file_uri = open(&format!("file://{}/", root.display()))
        .unwrap()
        .put(bytes)
        .await
        .unwrap();
    assert_eq!(plain, dir_uri);
    assert_eq!(plain, file_uri);
    assert_eq!(entries(&dir), vec![to_hex(&sha256(bytes))]);

    // A missing directory is created.
    let nested = root.join("a/b/c");
    let r = open(nested.to_str().unwrap())
        .unwrap()
        .put(bytes)
        .await
        .unwrap();
    assert!(r.uri.contains("/a/b/c/"));

    assert!(matches!(
        open("dir://relative/path"),
        Err(BlobError::InvalidLocation { .. })
    ));
    assert!(matches!(open(""), Err(BlobError::InvalidLocation { .. })));
}

#[tokio::test]
async fn put_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let bytes = content(2, 4096);
    let first = store.put(&bytes).await.unwrap();
    let second = store.put(&bytes).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(entries(&dir), vec![to_hex(&first.sha256)]);
    assert_eq!(store.get(&first.uri, &first.sha256).await.unwrap(), bytes);
}

#[tokio::test]
async fn tampered_file_is_a_hash_mismatch_and_put_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let bytes = content(3, 10_000);
    let r = store.put(&bytes).await.unwrap();

    let path = dir.path().join(to_hex(&r.sha256));
    let mut tampered = bytes.clone();
    tampered[5000] ^= 1;
    std::fs::write(&path, &tampered).unwrap();

    match store.get(&r.uri, &r.sha256).await {
        Err(BlobError::HashMismatch {
            expected,
            actual,
            uri,
        }) => {
            assert_eq!(expected, r.sha256);
            assert_eq!(actual, sha256(&tampered));
            assert_eq!(uri, r.uri);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert!(matches!(
        fetch(&r.uri, &r.sha256).await,
        Err(BlobError::HashMismatch { .. })
    ));

    // Putting the blob again replaces the damaged copy rather than trusting its name.
    store.put(&bytes).await.unwrap();
    assert_eq!(store.get(&r.uri, &r.sha256).await.unwrap(), bytes);
}

#[tokio::test]
async fn missing_blob_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let hash = sha256(b"absent");
    let uri = format!(
        "file://{}/{}",
        dir.path().canonicalize().unwrap().display(),
        to_hex(&hash)
    );
    match store.get(&uri, &hash).await {
        Err(BlobError::NotFound { uri: u }) => assert_eq!(u, uri),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        fetch(&uri, &hash).await,
        Err(BlobError::NotFound { .. })
    ));
}

#[tokio::test]
async fn wrong_expected_hash_is_a_hash_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let r = store.put(b"the real input").await.unwrap();
    let claimed = sha256(b"what the spec claims");
    match store.get(&r.uri, &claimed).await {
        Err(BlobError::HashMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, r.sha256);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn size_limit_applies_to_put_and_get() {
    let dir = tempfile::tempdir().unwrap();
    let small = BlobOptions {
        max_blob_size: 16,
        ..BlobOptions::default()
    };
    let limited = open_with(dir.path().to_str().unwrap(), &small).unwrap();
    assert!(matches!(
        limited.put(&[0u8; 17]).await,
        Err(BlobError::TooLarge {
            len: 17,
            max: 16,
            ..
        })
    ));
    assert_eq!(limited.put(&[0u8; 16]).await.unwrap().len, 16);

    let r = store(&dir).put(&[7u8; 100]).await.unwrap();
    assert!(matches!(
        limited.get(&r.uri, &r.sha256).await,
        Err(BlobError::TooLarge {
            len: 100,
            max: 16,
            ..
        })
    ));
    assert!(matches!(
        fetch_with(&r.uri, &r.sha256, &small).await,
        Err(BlobError::TooLarge { len: 100, .. })
    ));
}

/// Sixteen writers store the same 8 MiB blob while readers fetch it: every read sees
/// either no blob or the whole blob, never a partial one, and no temp file is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_of_one_blob_are_safe() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let bytes = Arc::new(content(4, 8 << 20));
    let hash = sha256(&bytes);
    let uri = format!(
        "file://{}/{}",
        dir.path().canonicalize().unwrap().display(),
        to_hex(&hash)
    );

    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (store, bytes) = (store.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            store.put(&bytes).await.map(|r| r.uri)
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (store, bytes, uri) = (store.clone(), bytes.clone(), uri.clone());
        readers.push(tokio::spawn(async move {
            let mut whole = 0;
            for _ in 0..20 {
                match store.get(&uri, &hash).await {
                    Ok(got) => {
                        assert_eq!(got.len(), bytes.len());
                        whole += 1;
                    }
                    Err(BlobError::NotFound { .. }) => {}
                    Err(e) => panic!("reader saw a broken blob: {e}"),
                }
            }
            whole
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), uri);
    }
    for r in readers {
        r.await.unwrap();
    }
    assert_eq!(store.get(&uri, &hash).await.unwrap(), *bytes);
    assert_eq!(entries(&dir), vec![to_hex(&hash)]);
}
