//! A [`BlobStore`] that passes through to a local directory unless a fault is
//! due: per operation a script of the next calls' faults, and seeded random
//! faults. The faults are a blob backend's: slow reads, a stream that never
//! completes, a body cut short, bytes that are not the blob's, HTTP 429 and
//! 5xx (which object_store reports, after its own retries, as
//! `BlobError::Unreachable`), and uploads that fail. A slow transfer can also
//! move the chain's clock, so a download is slow as the chain sees it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gpu_market_blobs::{BlobError, BlobRef, BlobStore, Hash32};
use gpu_market_client::chain::embedded::EmbeddedChain;

use super::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Get,
    Put,
    Exists,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlobFault {
    /// The transfer takes [`ChaosStore::slow`] of wall time and
    /// [`ChaosStore::slow_chain_secs`] of chain time, then succeeds.
    Slow,
    /// The transfer never completes.
    Stall,
    /// The body is cut short and handed back as it is: a store that did not
    /// verify it (the worker's own length check is what stands in its way).
    Truncated,
    /// Other bytes than the blob's, caught by the store's verification:
    /// `HashMismatch`.
    Corrupt,
    /// HTTP 429 from the backend.
    RateLimited,
    /// HTTP 503 from the backend.
    ServerError,
}

impl BlobFault {
    fn for_op(op: Op) -> &'static [BlobFault] {
        use BlobFault::*;
        match op {
            Op::Get => &[Slow, Stall, Truncated, Corrupt, RateLimited, ServerError],
            Op::Put => &[Slow, Stall, RateLimited, ServerError],
            Op::Exists => &[Slow, RateLimited, ServerError],
        }
    }
}

struct Random {
    rng: Rng,
    per_mille: u64,
    /// Faults the random draw never picks (they make a job impossible to
    /// finish, and are tested on their own).
    excluded: Vec<BlobFault>,
}

pub struct ChaosStore {
    inner: Arc<dyn BlobStore>,
    chain: Arc<EmbeddedChain>,
    pub slow: Duration,
    pub slow_chain_secs: i64,
    script: Mutex<HashMap<Op, VecDeque<BlobFault>>>,
    /// Faults for reads of one URI (checked before the per-operation script).
    by_uri: Mutex<HashMap<String, VecDeque<BlobFault>>>,
    /// Every put fails while set, each attempt costing `put_chain_secs` of chain time.
    puts_down: Mutex<Option<i64>>,
    random: Mutex<Option<Random>>,
    injected: Mutex<HashMap<BlobFault, u64>>,
    pub puts_failed: AtomicU64,
    pub gets: AtomicU64,
}

impl ChaosStore {
    pub fn new(inner: Arc<dyn BlobStore>, chain: Arc<EmbeddedChain>) -> Arc<Self> {
        Arc::new(ChaosStore {
            inner,
            chain,
            slow: Duration::from_millis(100),
            slow_chain_secs: 2,
            script: Mutex::default(),
            by_uri: Mutex::default(),
            puts_down: Mutex::default(),
            random: Mutex::default(),
            injected: Mutex::default(),
            puts_failed: AtomicU64::new(0),
            gets: AtomicU64::new(0),
        })
    }

    pub fn script(&self, op: Op, faults: impl IntoIterator<Item = BlobFault>) {
        self.script
            .lock()
            .unwrap()
            .entry(op)
            .or_default()
            .extend(faults);
    }

    /// The next reads of `uri` get `faults`, in order.
    pub fn script_uri(&self, uri: &str, faults: impl IntoIterator<Item = BlobFault>) {
        self.by_uri
            .lock()
            .unwrap()
            .entry(uri.to_string())
            .or_default()
            .extend(faults);
    }

    /// Every put fails (HTTP 503) until [`ChaosStore::puts_up`], each attempt
    /// taking `chain_secs` of chain time (a request that hangs, then fails).
    pub fn puts_down(&self, chain_secs: i64) {
        *self.puts_down.lock().unwrap() = Some(chain_secs);
    }

    pub fn puts_up(&self) {
        *self.puts_down.lock().unwrap() = None;
    }

    pub fn chaos(&self, seed: u64, per_mille: u64, excluded: &[BlobFault]) {
        *self.random.lock().unwrap() = Some(Random {
            rng: Rng::new(seed),
            per_mille,
            excluded: excluded.to_vec(),
        });
    }

    pub fn calm(&self) {
        *self.random.lock().unwrap() = None;
    }

    pub fn injected(&self, f: BlobFault) -> u64 {
        self.injected.lock().unwrap().get(&f).copied().unwrap_or(0)
    }

    pub fn injected_total(&self) -> u64 {
        self.injected.lock().unwrap().values().sum()
    }

    fn due(&self, op: Op, uri: Option<&str>) -> Option<BlobFault> {
        let by_uri = uri.and_then(|u| {
            self.by_uri
                .lock()
                .unwrap()
                .get_mut(u)
                .and_then(VecDeque::pop_front)
        });
        let scripted = by_uri.or_else(|| {
            self.script
                .lock()
                .unwrap()
                .get_mut(&op)
                .and_then(VecDeque::pop_front)
        });
        let fault = scripted.or_else(|| {
            let mut random = self.random.lock().unwrap();
            let r = random.as_mut()?;
            if r.rng.below(1_000) >= r.per_mille {
                return None;
            }
            let choices: Vec<BlobFault> = BlobFault::for_op(op)
                .iter()
                .copied()
                .filter(|f| !r.excluded.contains(f))
                .collect();
            if choices.is_empty() {
                return None;
            }
            Some(choices[r.rng.below(choices.len() as u64) as usize])
        })?;
        *self.injected.lock().unwrap().entry(fault).or_default() += 1;
        Some(fault)
    }

    fn unreachable(uri: &str, status: &str) -> BlobError {
        // object_store's wording for a non-2xx answer it gave up retrying.
        BlobError::Unreachable {
            uri: uri.to_string(),
            detail: format!(
                "Generic HTTP error: Error performing GET {uri} in 10ms, after 3 retries: Server returned non-2xx status code: {status}"
            ),
        }
    }

    async fn slow_down(&self) {
        tokio::time::sleep(self.slow).await;
        if self.slow_chain_secs > 0 {
            self.chain.advance(self.slow_chain_secs).await.unwrap();
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for ChaosStore {
    fn describe(&self) -> String {
        format!("chaos over {}", self.inner.describe())
    }

    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        let down = *self.puts_down.lock().unwrap();
        if let Some(chain_secs) = down {
            self.puts_failed.fetch_add(1, Ordering::SeqCst);
            self.chain.advance(chain_secs).await.unwrap();
            return Err(Self::unreachable(
                &self.inner.describe(),
                "503 Service Unavailable",
            ));
        }
        match self.due(Op::Put, None) {
            None => {}
            Some(BlobFault::Slow) => self.slow_down().await,
            Some(BlobFault::Stall) => std::future::pending::<()>().await,
            Some(BlobFault::RateLimited) => {
                self.puts_failed.fetch_add(1, Ordering::SeqCst);
                return Err(Self::unreachable(
                    &self.inner.describe(),
                    "429 Too Many Requests",
                ));
            }
            Some(_) => {
                self.puts_failed.fetch_add(1, Ordering::SeqCst);
                return Err(Self::unreachable(
                    &self.inner.describe(),
                    "503 Service Unavailable",
                ));
            }
        }
        self.inner.put(bytes).await
    }

    async fn get(&self, uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        match self.due(Op::Get, Some(uri)) {
            None => self.inner.get(uri, sha256).await,
            Some(BlobFault::Slow) => {
                self.slow_down().await;
                self.inner.get(uri, sha256).await
            }
            Some(BlobFault::Stall) => std::future::pending().await,
            Some(BlobFault::Truncated) => {
                let mut bytes = self.inner.get(uri, sha256).await?;
                bytes.truncate(bytes.len() / 2);
                Ok(bytes)
            }
            Some(BlobFault::Corrupt) => {
                let mut bytes = self.inner.get(uri, sha256).await?;
                if let Some(b) = bytes.first_mut() {
                    *b ^= 0xFF;
                }
                Err(BlobError::HashMismatch {
                    expected: *sha256,
                    actual: gpu_market_blobs::sha256(&bytes),
                    uri: uri.to_string(),
                })
            }
            Some(BlobFault::RateLimited) => Err(Self::unreachable(uri, "429 Too Many Requests")),
            Some(BlobFault::ServerError) => Err(Self::unreachable(uri, "503 Service Unavailable")),
        }
    }

    async fn exists(&self, sha256: &Hash32) -> Result<bool, BlobError> {
        match self.due(Op::Exists, None) {
            None => {}
            Some(BlobFault::Slow) => self.slow_down().await,
            Some(BlobFault::RateLimited) => {
                return Err(Self::unreachable(
                    &self.inner.describe(),
                    "429 Too Many Requests",
                ))
            }
            Some(_) => {
                return Err(Self::unreachable(
                    &self.inner.describe(),
                    "503 Service Unavailable",
                ))
            }
        }
        self.inner.exists(sha256).await
    }
}
