//! The checkpoint store of segmented jobs on each backend: a local directory, an HTTP
//! server and an S3-compatible service (the in-process object server of
//! `src/testing.rs`). Round trips at `<job>/<index>.ckpt`, a checkpoint read by another
//! provider's store after its writer is gone, and from the attacker's (or the failing
//! disk's) side: a torn write is never visible under the checkpoint's name, a torn
//! upload is caught by the writer's read-back, and a tampered, substituted or re-hashed
//! checkpoint is refused against the committed root.

#[path = "../src/testing.rs"]
#[allow(dead_code)]
mod testing;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gpu_market_blobs::{
    checkpoint_root, sha256, BlobError, BlobOptions, CheckpointStore, CheckpointStoreError, Hash32,
    S3Config,
};
use testing::ObjectServer;

const JOB: &str = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU";

/// A framed checkpoint: `len` body bytes varying with `seed`, then their SHA-256.
fn checkpoint(seed: u8, len: usize) -> (Vec<u8>, Hash32) {
    let mut b: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed)
        .collect();
    let root = sha256(&b);
    b.extend_from_slice(&root.0);
    (b, root)
}

/// The same body edited, re-hashed so the file is self-consistent: a forgery.
fn forged(bytes: &[u8]) -> Vec<u8> {
    let mut f = bytes.to_vec();
    let body = f.len() - 32;
    f[10] ^= 1;
    let root = sha256(&f[..body]);
    f[body..].copy_from_slice(&root.0);
    f
}

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

// ---------------------------------------------------------------- local directory

#[tokio::test]
async fn local_round_trip_survives_its_writer_and_refuses_the_wrong_root() {
    let dir = tempfile::tempdir().unwrap();
    let location = format!("file://{}", dir.path().display());
    let (c0, r0) = checkpoint(1, 5000);
    let (c1, r1) = checkpoint(2, 5000);
    let stored = {
        let writer = CheckpointStore::open(&location).unwrap();
        writer.put(JOB, 0, &c0).await.unwrap();
        writer.put(JOB, 1, &c1).await.unwrap()
    }; // the writer (provider A) is gone
    let path = dir.path().canonicalize().unwrap().join(JOB).join("1.ckpt");
    assert_eq!(stored.uri, format!("file://{}", path.display()));
    assert_eq!((stored.root, stored.len), (r1, c1.len() as u64));
    assert_eq!(std::fs::read(&path).unwrap(), c1);

    let reader = CheckpointStore::open(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(reader.get(JOB, 0, &r0).await.unwrap(), c0);
    assert_eq!(reader.get(JOB, 1, &r1).await.unwrap(), c1);
    assert_eq!(reader.uri_for(JOB, 1).unwrap(), stored.uri);
    // Checkpoint 0 asked for with checkpoint 1's root: another segment's bytes.
    assert!(matches!(
        reader.get(JOB, 0, &r1).await,
        Err(CheckpointStoreError::RootMismatch { expected, found, .. })
            if expected == r1 && found == r0
    ));
    assert!(matches!(
        reader.get(JOB, 7, &r0).await,
        Err(CheckpointStoreError::Blob(BlobError::NotFound { .. }))
    ));
    // A hand-off: segment 1 written again by another provider replaces the file.
    let (c1b, r1b) = checkpoint(3, 5000);
    reader.put(JOB, 1, &c1b).await.unwrap();
    assert_eq!(reader.get(JOB, 1, &r1b).await.unwrap(), c1b);
}

/// Attack: whoever can write the buyer's directory (a provider, a bad disk) edits a
/// checkpoint in place: a flipped byte (torn or rotten) and an edit re-hashed to be
/// self-consistent. Both are refused against the committed root, by different names.
#[tokio::test]
async fn local_tampered_and_forged_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(dir.path().to_str().unwrap()).unwrap();
    let (c, r) = checkpoint(4, 3000);
    store.put(JOB, 2, &c).await.unwrap();
    let path = dir.path().join(JOB).join("2.ckpt");

    let mut flipped = c.clone();
    flipped[100] ^= 0x40;
    std::fs::write(&path, &flipped).unwrap();
    assert!(matches!(
        store.get(JOB, 2, &r).await,
        Err(CheckpointStoreError::Torn { trailer, .. }) if trailer == r
    ));
    std::fs::write(&path, forged(&c)).unwrap();
    assert!(matches!(
        store.get(JOB, 2, &r).await,
        Err(CheckpointStoreError::RootMismatch { expected, .. }) if expected == r
    ));
    std::fs::write(&path, &c[..20]).unwrap();
    assert!(matches!(
        store.get(JOB, 2, &r).await,
        Err(CheckpointStoreError::TooShort { len: 20, .. })
    ));
}

#[tokio::test]
async fn unframed_bytes_and_bad_job_ids_are_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(dir.path().to_str().unwrap()).unwrap();
    let (c, _) = checkpoint(5, 1000);
    // A worker bug that would commit a root no file has: refused before writing.
    assert!(matches!(
        store.put(JOB, 0, &c[..c.len() - 1]).await,
        Err(CheckpointStoreError::Torn { .. })
    ));
    assert!(matches!(
        store.put(JOB, 0, b"short").await,
        Err(CheckpointStoreError::TooShort { len: 5, .. })
    ));
    assert!(!dir.path().join(JOB).join("0.ckpt").exists());
    for job in ["../etc", "a/b", "", "job.x"] {
        assert!(
            matches!(
                store.put(job, 0, &c).await,
                Err(CheckpointStoreError::BadJobId { .. })
            ),
            "{job:?}"
        );
    }
    let small = BlobOptions {
        max_blob_size: 500,
        ..BlobOptions::default()
    };
    let limited = CheckpointStore::open_with(dir.path().to_str().unwrap(), &small).unwrap();
    assert!(matches!(
        limited.put(JOB, 0, &c).await,
        Err(CheckpointStoreError::Blob(BlobError::TooLarge { .. }))
    ));
    assert!(matches!(
        CheckpointStore::open("ftp://h/x"),
        Err(CheckpointStoreError::Blob(
            BlobError::UnsupportedScheme { .. }
        ))
    ));
    assert!(matches!(
        CheckpointStore::open("https://h/x?sig=1"),
        Err(CheckpointStoreError::Blob(
            BlobError::InvalidLocation { .. }
        ))
    ));
}

/// A writer killed mid-write leaves a partial temporary file in the job's directory;
/// a reader racing a writer that keeps replacing a large checkpoint. Under the
/// checkpoint's name a reader only ever finds a whole checkpoint: the old one, the new
/// one, or none yet, never a torn one.
#[test]
fn a_torn_local_write_is_never_visible() {
    let dir = tempfile::tempdir().unwrap();
    let root_dir = dir.path().to_path_buf();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = CheckpointStore::open(root_dir.to_str().unwrap()).unwrap();
    let (a, ra) = checkpoint(6, 4 << 20);
    let (b, rb) = checkpoint(7, 4 << 20);
    rt.block_on(store.put(JOB, 3, &a)).unwrap();

    // The debris of a writer that died after writing half of `b`.
    std::fs::write(root_dir.join(JOB).join(".tmp-crashed"), &b[..b.len() / 2]).unwrap();
    assert_eq!(rt.block_on(store.get(JOB, 3, &ra)).unwrap(), a);
    assert!(matches!(
        rt.block_on(store.get(JOB, 4, &rb)),
        Err(CheckpointStoreError::Blob(BlobError::NotFound { .. }))
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, root_dir, a_copy) = (stop.clone(), root_dir.clone(), a.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let store = CheckpointStore::open(root_dir.to_str().unwrap()).unwrap();
            let path = root_dir.join(JOB).join("3.ckpt");
            let mut reads = 0;
            while !stop.load(Ordering::SeqCst) {
                // Whatever the name holds right now must be a whole checkpoint.
                let bytes = std::fs::read(&path).unwrap();
                let root = checkpoint_root(&bytes).expect("a torn checkpoint was visible");
                assert!(root == ra || root == rb);
                // Through the store: `a`, or `b` refused as another root, never torn.
                match rt.block_on(store.get(JOB, 3, &ra)) {
                    Ok(got) => assert!(got == a_copy),
                    Err(CheckpointStoreError::RootMismatch { found, .. }) => {
                        assert_eq!(found, rb)
                    }
                    Err(e) => panic!("{e}"),
                }
                reads += 1;
            }
            reads
        })
    };
    for i in 0..20 {
        let next = if i % 2 == 0 { &b } else { &a };
        rt.block_on(store.put(JOB, 3, next)).unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let reads = reader.join().unwrap();
    eprintln!("{reads} whole reads during 20 overwrites of a 4 MiB checkpoint");
    assert!(reads > 0);
}

// ---------------------------------------------------------------- HTTP

#[tokio::test]
async fn http_put_is_one_upload_read_back_and_survives_its_writer() {
    let server = ObjectServer::start().await.unwrap();
    let (c, r) = checkpoint(8, 20_000);
    let stored = {
        let writer = CheckpointStore::open_with(&server.url("/ckpt/"), &quick()).unwrap();
        writer.put(JOB, 5, &c).await.unwrap()
    };
    let path = format!("/ckpt/{JOB}/5.ckpt");
    assert_eq!(stored.uri, server.url(&path));
    assert_eq!(stored.root, r);
    assert_eq!(server.object(&path).unwrap(), c);
    let reqs = server.requests();
    assert_eq!(
        reqs.iter().filter(|q| **q == format!("PUT {path}")).count(),
        1,
        "{reqs:?}"
    );
    assert!(
        reqs.iter().any(|q| *q == format!("GET {path}")),
        "read back: {reqs:?}"
    );
    let reader = CheckpointStore::open(&server.url("/ckpt")).unwrap();
    assert_eq!(reader.get(JOB, 5, &r).await.unwrap(), c);

    // Transient failures are retried by the client.
    server.fail_next(2);
    reader.put(JOB, 6, &c).await.unwrap();
}

/// A server that acknowledges an upload it stored only in part (a proxy cutting the
/// body, a full disk): the writer's read-back catches it, so no provider commits a root
/// whose checkpoint the buyer's store does not hold; a later read refuses it too.
#[tokio::test]
async fn http_torn_upload_is_caught_by_the_read_back_and_refused_on_read() {
    let server = ObjectServer::start().await.unwrap();
    let store = CheckpointStore::open_with(&server.url("/ckpt"), &quick()).unwrap();
    let (c, r) = checkpoint(9, 10_000);
    server.set_truncate_puts(true);
    match store.put(JOB, 0, &c).await {
        Err(CheckpointStoreError::ReadBack { uri, source }) => {
            assert!(uri.ends_with(&format!("{JOB}/0.ckpt")), "{uri}");
            assert!(
                matches!(*source, CheckpointStoreError::Torn { .. }),
                "{source:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    server.set_truncate_puts(false);
    assert!(matches!(
        store.get(JOB, 0, &r).await,
        Err(CheckpointStoreError::Torn { .. })
    ));
    // Written again, whole.
    store.put(JOB, 0, &c).await.unwrap();
    assert_eq!(store.get(JOB, 0, &r).await.unwrap(), c);
}

/// Attack: the store (or anyone with write access to it) serves altered bytes: a
/// flipped byte, another intact checkpoint in its place, or a re-hashed forgery. Each
/// is refused against the committed root.
#[tokio::test]
async fn http_tampered_substituted_and_forged_checkpoints_are_refused() {
    let server = ObjectServer::start().await.unwrap();
    let store = CheckpointStore::open_with(&server.url("/ckpt"), &quick()).unwrap();
    let (c, r) = checkpoint(10, 8000);
    store.put(JOB, 1, &c).await.unwrap();
    server.set_tamper(true);
    assert!(matches!(
        store.get(JOB, 1, &r).await,
        Err(CheckpointStoreError::Torn { .. })
    ));
    server.set_tamper(false);
    let path = format!("/ckpt/{JOB}/1.ckpt");
    let (other, other_root) = checkpoint(11, 8000);
    server.insert(&path, &other);
    assert!(matches!(
        store.get(JOB, 1, &r).await,
        Err(CheckpointStoreError::RootMismatch { found, .. }) if found == other_root
    ));
    server.insert(&path, &forged(&c));
    assert!(matches!(
        store.get(JOB, 1, &r).await,
        Err(CheckpointStoreError::RootMismatch { .. })
    ));
    assert!(matches!(
        store.get(JOB, 9, &r).await,
        Err(CheckpointStoreError::Blob(BlobError::NotFound { .. }))
    ));
}

// ---------------------------------------------------------------- S3

fn s3(server: &ObjectServer, prefix: &str) -> CheckpointStore {
    let config = S3Config {
        endpoint: Some(server.url("")),
        region: Some("us-east-1".into()),
        access_key_id: Some("test-key".into()),
        secret_access_key: Some("test-secret".into()),
        allow_http: true,
        ..S3Config::new("buyer-bucket", prefix)
    };
    CheckpointStore::s3(config, &quick()).unwrap()
}

#[tokio::test]
async fn s3_round_trip_torn_upload_and_tampering() {
    let server = ObjectServer::start().await.unwrap();
    let (c, r) = checkpoint(12, 30_000);
    let stored = s3(&server, "/runs/a/").put(JOB, 2, &c).await.unwrap();
    assert_eq!(stored.uri, format!("s3://buyer-bucket/runs/a/{JOB}/2.ckpt"));
    let path = format!("/buyer-bucket/runs/a/{JOB}/2.ckpt");
    assert_eq!(server.object(&path).unwrap(), c);
    // Another provider's store on the same bucket reads it.
    let reader = s3(&server, "runs/a");
    assert_eq!(reader.get(JOB, 2, &r).await.unwrap(), c);
    assert_eq!(reader.uri_for(JOB, 2).unwrap(), stored.uri);

    server.set_truncate_puts(true);
    assert!(matches!(
        reader.put(JOB, 3, &c).await,
        Err(CheckpointStoreError::ReadBack { .. })
    ));
    server.set_truncate_puts(false);
    server.set_tamper(true);
    assert!(matches!(
        reader.get(JOB, 2, &r).await,
        Err(CheckpointStoreError::Torn { .. })
    ));
    server.set_tamper(false);
    server.insert(&path, &forged(&c));
    assert!(matches!(
        reader.get(JOB, 2, &r).await,
        Err(CheckpointStoreError::RootMismatch { .. })
    ));
}
