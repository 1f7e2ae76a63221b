//! A job posted with `gpumkt job post --segments` is one the provider's daemon runs: the
//! spec the CLI builds and uploads (the bundled digits, the buyer's checkpoint store) is
//! read, trained and committed segment by segment by a real `Worker`, whose crank then
//! pays each segment; `job watch` follows it to the close, and the last checkpoint in the
//! buyer's store is the one whose root the chain recorded.

use std::sync::Arc;

use gpu_market_blobs::CheckpointStore;
use gpu_market_client::chain::Chain;
use gpu_market_client::Pubkey;
use gpu_market_compute::spec::Hash32;
use gpu_market_worker::{UriPolicy, Worker, WorkerConfig};

use crate::{events, post_args, s, World, BOUNTY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_a_job_the_cli_posted_and_the_watch_follows_it() {
    let w = World::new().await;
    let (provider, _) = w.provider().await;
    let store = w.store();
    let me = w.buyer.pubkey();
    let posted = w.buyer.run(&post_args(&store, "3", "2", "1000")).await;
    let job: Pubkey = s(&posted, "job").parse().unwrap();

    let mut cfg = WorkerConfig::new(
        w.market,
        provider.pubkey(),
        w.dir.path().join("worker.jsonl"),
    );
    cfg.uri_policy = UriPolicy::local();
    cfg.crank = true;
    let worker = Worker::new(
        cfg,
        w.buyer.ctx.sender.clone(),
        provider.key().insecure_clone(),
        Arc::new(gpu_market_compute::exec::CpuExecutor::with_threads(1)),
        w.buyer.ctx.blobs().unwrap(),
    )
    .await
    .unwrap();

    let watch = w.watch(job, w.buyer.key());
    let steps = async {
        // Both segments trained and committed, back to back.
        for _ in 0..20 {
            worker.tick().await.unwrap();
            let errors = worker.drain().await;
            assert!(errors.is_empty(), "{errors:?}");
            if w.segments(&job).await.next == 2 {
                break;
            }
        }
        let segs = w.segments(&job).await;
        assert_eq!(segs.next, 2, "the worker committed both segments");
        let root = Hash32(segs.segments[1].state_root);
        let last = CheckpointStore::open(&store)
            .unwrap()
            .get(&job.to_string(), 1, &root)
            .await
            .unwrap();
        assert!(!last.is_empty());
        assert_eq!(segs.last_checkpoint_uri, format!("{store}/{job}/1.ckpt"));
        // Past the windows the worker's crank pays both; the job closes.
        w.past_window(&job, 1).await;
        worker.tick().await.unwrap();
        assert!(worker.drain().await.is_empty());
    };
    let (watched, ()) = tokio::join!(watch, steps);
    assert!(w.chain.get_account(&job).await.unwrap().is_none());
    assert_eq!(w.balance(&me).await, 100_000 - 2 * (1_000 + BOUNTY));
    let seen = events(&watched);
    assert_eq!(
        seen.first().map(String::as_str),
        Some("started#0"),
        "{watched}"
    );
    assert_eq!(seen.last().map(String::as_str), Some("closed"), "{watched}");
    for e in [
        "committed#0",
        "started#1",
        "committed#1",
        "paid#0",
        "paid#1",
    ] {
        assert!(seen.iter().any(|s| s == e), "{e} not in {seen:?}");
    }
}
