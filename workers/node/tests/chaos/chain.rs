//! A [`Chain`] that passes every call through to the embedded chain unless a
//! fault is due for it: each call kind has a script (the faults its next calls
//! get, in order) and, when the chaos is seeded, a random draw. The faults are
//! what a provider's RPC endpoint really does: calls that hang until the RPC
//! client's request timeout fires, HTTP 429 and 5xx, a node that answers with a
//! JSON-RPC error, a send whose answer is lost although the transaction landed,
//! reads served by a node that lags, and a websocket that drops. The errors are
//! the ones [`RpcChain`](gpu_market_client::chain::rpc::RpcChain) itself returns
//! for those answers ([`super::rpc_errors`]). Transactions that land are counted
//! by instruction and job, so a test can assert on what reached the chain.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anchor_lang::Discriminator;
use async_trait::async_trait;
use gpu_market_client::chain::{
    AccountUpdate, Chain, ChainClock, Filter, SharedChain, SignatureStatus, TxOutcome,
};
use gpu_market_client::error::{ClientError, Result};
use gpu_market_client::Pubkey;
use solana_sdk::account::Account;
use solana_sdk::hash::Hash;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::Transaction;
use tokio::sync::mpsc;

use super::rng::Rng;
use super::rpc_errors::RpcErrors;

/// The kinds of call a fault is scheduled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    Blockhash,
    BlockHeight,
    Send,
    SignatureStatus,
    Account,
    Accounts,
    ProgramAccounts,
    Clock,
    Subscribe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainFault {
    /// The call hangs for [`ChaosChain::hang`] (standing for the RPC client's
    /// 30 s request timeout) and fails as that timeout does.
    Timeout,
    /// HTTP 429, after the RPC client's own retries.
    RateLimited,
    /// HTTP 503.
    ServerError,
    /// A JSON-RPC error object (-32005, the node is behind).
    NodeUnhealthy,
    /// Sends only: the transaction reaches the chain and lands, but its answer
    /// is lost and the client times out (the double-submit trap).
    LandedUnanswered,
    /// Reads only: the answer a lagging node gives, the one before the latest
    /// (for a signature, `Unknown`: the node has not seen it yet).
    Stale,
}

impl ChainFault {
    /// The faults a call of `call` can get.
    pub fn for_call(call: Call) -> &'static [ChainFault] {
        use ChainFault::*;
        match call {
            Call::Send => &[
                Timeout,
                RateLimited,
                ServerError,
                NodeUnhealthy,
                LandedUnanswered,
            ],
            Call::Account | Call::Accounts | Call::ProgramAccounts | Call::SignatureStatus => {
                &[Timeout, RateLimited, ServerError, NodeUnhealthy, Stale]
            }
            _ => &[Timeout, RateLimited, ServerError, NodeUnhealthy],
        }
    }
}

/// Seeded chaos: each call is faulted with probability `per_mille / 1000`, the
/// fault drawn from those its kind can get.
struct Random {
    rng: Rng,
    per_mille: u64,
}

/// What the chaos did and what landed through it.
#[derive(Default)]
struct Record {
    injected: HashMap<ChainFault, u64>,
    /// Landed job_submit / job_claim instructions, by job.
    submits: HashMap<Pubkey, u64>,
    claims: HashMap<Pubkey, u64>,
}

pub struct ChaosChain {
    inner: SharedChain,
    errors: RpcErrors,
    /// How long a `Timeout` hangs before it fails.
    pub hang: Duration,
    script: Mutex<HashMap<Call, VecDeque<ChainFault>>>,
    random: Mutex<Option<Random>>,
    record: Mutex<Record>,
    /// The latest answer per read (what the next `Stale` one serves).
    seen: Mutex<HashMap<String, Vec<u8>>>,
    /// Subscriptions forwarded; dropping them closes every stream.
    streams: Mutex<Vec<Arc<AtomicBool>>>,
    subscriptions: AtomicU64,
}

impl ChaosChain {
    pub fn new(inner: SharedChain, errors: RpcErrors) -> Arc<Self> {
        Arc::new(ChaosChain {
            inner,
            errors,
            hang: Duration::from_millis(150),
            script: Mutex::default(),
            random: Mutex::default(),
            record: Mutex::default(),
            seen: Mutex::default(),
            streams: Mutex::default(),
            subscriptions: AtomicU64::new(0),
        })
    }

    /// The next calls of `call` get `faults`, in order (after any already scripted).
    pub fn script(&self, call: Call, faults: impl IntoIterator<Item = ChainFault>) {
        self.script
            .lock()
            .unwrap()
            .entry(call)
            .or_default()
            .extend(faults);
    }

    /// Faults every call with probability `per_mille / 1000`, drawn from `seed`.
    pub fn chaos(&self, seed: u64, per_mille: u64) {
        *self.random.lock().unwrap() = Some(Random {
            rng: Rng::new(seed),
            per_mille,
        });
    }

    /// No more random faults (scripted ones still apply).
    pub fn calm(&self) {
        *self.random.lock().unwrap() = None;
    }

    /// Closes every subscription stream now (the websocket drops).
    pub fn drop_subscriptions(&self) {
        for s in self.streams.lock().unwrap().drain(..) {
            s.store(true, Ordering::SeqCst);
        }
    }

    /// Scripted faults not injected yet.
    pub fn pending(&self) -> usize {
        self.script
            .lock()
            .unwrap()
            .values()
            .map(VecDeque::len)
            .sum()
    }

    pub fn subscriptions(&self) -> u64 {
        self.subscriptions.load(Ordering::SeqCst)
    }

    pub fn injected(&self, f: ChainFault) -> u64 {
        self.record
            .lock()
            .unwrap()
            .injected
            .get(&f)
            .copied()
            .unwrap_or(0)
    }

    pub fn injected_total(&self) -> u64 {
        self.record.lock().unwrap().injected.values().sum()
    }

    /// job_submit instructions for `job` that landed through this chain.
    pub fn submits_landed(&self, job: &Pubkey) -> u64 {
        self.record
            .lock()
            .unwrap()
            .submits
            .get(job)
            .copied()
            .unwrap_or(0)
    }

    /// job_claim instructions for `job` that landed through this chain.
    pub fn claims_landed(&self, job: &Pubkey) -> u64 {
        self.record
            .lock()
            .unwrap()
            .claims
            .get(job)
            .copied()
            .unwrap_or(0)
    }

    /// The fault due for this call of `call`, if any: a scripted one first.
    fn due(&self, call: Call) -> Option<ChainFault> {
        let scripted = self
            .script
            .lock()
            .unwrap()
            .get_mut(&call)
            .and_then(VecDeque::pop_front);
        let fault = scripted.or_else(|| {
            let mut random = self.random.lock().unwrap();
            let r = random.as_mut()?;
            if r.rng.below(1_000) >= r.per_mille {
                return None;
            }
            let choices = ChainFault::for_call(call);
            Some(choices[r.rng.below(choices.len() as u64) as usize])
        })?;
        *self
            .record
            .lock()
            .unwrap()
            .injected
            .entry(fault)
            .or_default() += 1;
        Some(fault)
    }

    /// The error `fault` surfaces as (after its hang, for a timeout).
    async fn fail(&self, fault: ChainFault) -> ClientError {
        match fault {
            ChainFault::Timeout | ChainFault::LandedUnanswered => {
                tokio::time::sleep(self.hang).await;
                self.errors.timed_out()
            }
            ChainFault::RateLimited => self.errors.rate_limited(),
            ChainFault::ServerError => self.errors.server_error(),
            ChainFault::NodeUnhealthy => self.errors.unhealthy(),
            ChainFault::Stale => unreachable!("a stale read is an answer"),
        }
    }

    /// Runs a read: faulted, stale, or fresh. A stale read is served by a
    /// node one call behind: the answer the previous call of this read got
    /// (the chain's fresh answer becomes what the next stale read serves).
    async fn read<T, F>(&self, call: Call, key: String, fresh: F) -> Result<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: std::future::Future<Output = Result<T>>,
    {
        let stale = match self.due(call) {
            Some(ChainFault::Stale) => true,
            Some(f) => return Err(self.fail(f).await),
            None => false,
        };
        let answer = fresh.await?;
        let bytes = bincode::serialize(&answer).expect("serializable answer");
        let before = self.seen.lock().unwrap().insert(key, bytes);
        match before {
            Some(old) if stale => Ok(bincode::deserialize(&old).expect("remembered answer")),
            _ => Ok(answer),
        }
    }

    fn count_landed(&self, tx: &Transaction) {
        let keys = &tx.message.account_keys;
        let mut record = self.record.lock().unwrap();
        for ix in &tx.message.instructions {
            if keys.get(ix.program_id_index as usize) != Some(&gpu_market::ID) {
                continue;
            }
            // job_submit takes the job last; job_claim takes (worker, market, provider,
            // job, segments), the optional segments account after the job.
            let (counter, job_at) = if ix
                .data
                .starts_with(gpu_market::instruction::JobSubmit::DISCRIMINATOR)
            {
                (&mut record.submits, ix.accounts.len().checked_sub(1))
            } else if ix
                .data
                .starts_with(gpu_market::instruction::JobClaim::DISCRIMINATOR)
            {
                (&mut record.claims, Some(3))
            } else {
                continue;
            };
            let job = job_at.and_then(|at| ix.accounts.get(at));
            if let Some(job) = job.and_then(|i| keys.get(*i as usize)) {
                *counter.entry(*job).or_default() += 1;
            }
        }
    }
}

#[async_trait]
impl Chain for ChaosChain {
    fn describe(&self) -> String {
        format!("chaos over {}", self.inner.describe())
    }

    async fn latest_blockhash(&self) -> Result<(Hash, u64)> {
        match self.due(Call::Blockhash) {
            Some(f) => Err(self.fail(f).await),
            None => self.inner.latest_blockhash().await,
        }
    }

    async fn block_height(&self) -> Result<u64> {
        match self.due(Call::BlockHeight) {
            Some(f) => Err(self.fail(f).await),
            None => self.inner.block_height().await,
        }
    }

    async fn send_transaction(&self, tx: &Transaction) -> Result<TxOutcome> {
        match self.due(Call::Send) {
            Some(ChainFault::LandedUnanswered) => {
                if self.inner.send_transaction(tx).await.is_ok() {
                    self.count_landed(tx);
                }
                Err(self.fail(ChainFault::LandedUnanswered).await)
            }
            Some(f) => Err(self.fail(f).await),
            None => {
                let landed_before = matches!(
                    self.inner.signature_status(&tx.signatures[0]).await,
                    Ok(SignatureStatus::Landed { .. })
                );
                let r = self.inner.send_transaction(tx).await;
                // A re-send of a landed transaction reports that landing; it is
                // not a second one.
                if r.is_ok() && !landed_before {
                    self.count_landed(tx);
                }
                r
            }
        }
    }

    async fn signature_status(&self, signature: &Signature) -> Result<SignatureStatus> {
        match self.due(Call::SignatureStatus) {
            Some(ChainFault::Stale) => Ok(SignatureStatus::Unknown),
            Some(f) => Err(self.fail(f).await),
            None => self.inner.signature_status(signature).await,
        }
    }

    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>> {
        self.read(
            Call::Account,
            format!("account {key}"),
            self.inner.get_account(key),
        )
        .await
    }

    async fn get_multiple_accounts(&self, keys: &[Pubkey]) -> Result<Vec<Option<Account>>> {
        self.read(
            Call::Accounts,
            format!("accounts {keys:?}"),
            self.inner.get_multiple_accounts(keys),
        )
        .await
    }

    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        filters: &[Filter],
    ) -> Result<Vec<(Pubkey, Account)>> {
        self.read(
            Call::ProgramAccounts,
            format!("program {program} {filters:?}"),
            self.inner.get_program_accounts(program, filters),
        )
        .await
    }

    async fn clock(&self) -> Result<ChainClock> {
        match self.due(Call::Clock) {
            Some(f) => Err(self.fail(f).await),
            None => self.inner.clock().await,
        }
    }

    async fn subscribe_program(
        &self,
        program: &Pubkey,
    ) -> Result<mpsc::UnboundedReceiver<AccountUpdate>> {
        if let Some(f) = self.due(Call::Subscribe) {
            return Err(self.fail(f).await);
        }
        let mut inner = self.inner.subscribe_program(program).await?;
        self.subscriptions.fetch_add(1, Ordering::SeqCst);
        let dropped = Arc::new(AtomicBool::new(false));
        self.streams.lock().unwrap().push(dropped.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        // Forwards until the stream is dropped; the closed channel is what a
        // dropped websocket looks like to the worker.
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    ev = inner.recv() => match ev {
                        Some(ev) if !dropped.load(Ordering::SeqCst) => {
                            if tx.send(ev).is_err() {
                                break;
                            }
                        }
                        _ => break,
                    },
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {
                        if dropped.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                }
            }
        });
        Ok(rx)
    }

    async fn minimum_balance_for_rent_exemption(&self, data_len: usize) -> Result<u64> {
        self.inner
            .minimum_balance_for_rent_exemption(data_len)
            .await
    }

    async fn get_balance(&self, key: &Pubkey) -> Result<u64> {
        self.inner.get_balance(key).await
    }

    async fn request_airdrop(&self, to: &Pubkey, lamports: u64) -> Result<()> {
        self.inner.request_airdrop(to, lamports).await
    }
}
