//! The embedded chain: Agave's runtime in-process through `solana-program-test`,
//! with the gpu-market program loaded natively, SPL Token and the associated
//! token program loaded as the real SBF programs, and a clock that advances.
//!
//! `BanksClient` has no account scan, so this chain indexes accounts itself:
//! every transaction goes through [`EmbeddedChain::send_transaction`], which
//! re-reads the transaction's writable accounts afterwards, keeps a per-owner
//! index for `get_program_accounts`, and notifies subscribers of the changes.
//!
//! The pieces: [`stubs`] (event logs from a native program), [`clock`]
//! (where time is and how the bank follows), [`index`] (the owner index and
//! subscriptions) and the [`Chain`](super::Chain) implementation.
//!
//! Time: in [`ClockMode::RealTime`] a ticker moves the bank forward one slot
//! per 400 ms of wall clock and sets the Clock sysvar's unix time from the
//! wall clock; in [`ClockMode::Manual`] time only moves when a test calls
//! [`EmbeddedChain::advance`] or [`EmbeddedChain::set_unix_timestamp`].
//! Either way `advance` adds an offset, which is how the demo and tests skip
//! a challenge window without waiting for it.

#![allow(deprecated)] // program-test's context API is marked unstable from Agave 4 on.

mod chain_impl;
mod clock;
mod index;
mod stubs;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::account_info::AccountInfo;
use anchor_lang::solana_program::entrypoint::ProgramResult;
use solana_program_test::{
    processor, BanksClient, BanksClientError, ProgramTest, ProgramTestContext,
};
use solana_sdk::account::{Account, AccountSharedData};
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::signature::Keypair;
use solana_sdk::transaction::{Transaction, TransactionError};
use tokio::sync::{mpsc, RwLock};

pub use clock::{ClockMode, SLOT_MS};

use super::{AccountUpdate, ChainClock};
use crate::error::{from_transaction_error, ClientError, Result};
use clock::{sync_clock, Time};
use index::Index;

/// Serializes chain start-up, so that the one-time stub swap below happens
/// while no other embedded chain in the process can be running a transaction.
static START: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);

/// The outcome of [`EmbeddedChain::simulate`].
#[derive(Clone, Debug)]
pub struct Simulation {
    pub error: Option<TransactionError>,
    pub logs: Vec<String>,
    pub units_consumed: u64,
}

/// `processor!` wants the plain `ProcessInstruction` signature; Anchor's `entry`
/// ties the slice and its elements to one lifetime.
fn process_instruction(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    // SAFETY: only the lifetimes change. program-test keeps the slice and every
    // AccountInfo in it alive for the whole call, and `entry` returns before it ends.
    let accounts: &[AccountInfo] = unsafe { std::mem::transmute(accounts) };
    gpu_market::entry(program_id, accounts, data)
}

pub struct EmbeddedChain {
    banks: BanksClient,
    /// Transactions hold it shared; warps and sysvar writes hold it exclusively,
    /// so a bank is never frozen under a transaction.
    ctx: Arc<RwLock<ProgramTestContext>>,
    faucet: Keypair,
    index: Arc<Mutex<Index>>,
    time: Arc<Mutex<Time>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl EmbeddedChain {
    /// Starts a fresh chain with the program deployed. The faucet keypair holds
    /// the genesis lamports.
    pub async fn start(mode: ClockMode) -> Result<Arc<Self>> {
        let ctx = {
            let mut installed = START.lock().await;
            if !*installed && std::env::var_os("RUST_LOG").is_none() {
                // program-test logs every instruction at debug level to stderr
                // unless told otherwise (it reads RUST_LOG in ProgramTest::new);
                // keep the runtime quiet by default.
                std::env::set_var("RUST_LOG", "error");
            }
            let mut pt = ProgramTest::new(
                "gpu_market",
                gpu_market::ID,
                processor!(process_instruction),
            );
            pt.prefer_bpf(false);
            let ctx = pt.start_with_context().await;
            if !*installed {
                // program-test installed its stubs during the first start; wrap them.
                stubs::install();
                *installed = true;
            }
            ctx
        };
        let banks = ctx.banks_client.clone();
        let faucet = ctx.payer.insecure_clone();
        let genesis: Clock = banks.get_sysvar().await.map_err(banks_err)?;
        let time = Time::new(
            mode,
            ChainClock {
                slot: genesis.slot,
                unix_timestamp: genesis.unix_timestamp,
            },
        );
        let mut chain = EmbeddedChain {
            banks,
            ctx: Arc::new(RwLock::new(ctx)),
            faucet,
            index: Arc::new(Mutex::new(Index::new())),
            time: Arc::new(Mutex::new(time)),
            ticker: None,
        };
        chain.sync_clock().await?;
        if mode == ClockMode::RealTime {
            let ctx = chain.ctx.clone();
            let time = chain.time.clone();
            chain.ticker = Some(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if sync_clock(&ctx, &time).await.is_err() {
                        break;
                    }
                }
            }));
        }
        Ok(Arc::new(chain))
    }

    /// The keypair holding the genesis lamports.
    pub fn faucet(&self) -> &Keypair {
        &self.faucet
    }

    /// Moves the chain's clock forward by `seconds` (and its slot by the
    /// matching number of 400 ms slots).
    pub async fn advance(&self, seconds: i64) -> Result<ChainClock> {
        self.time.lock().unwrap().advance(seconds);
        self.sync_clock().await
    }

    /// Sets the unix time programs see to exactly `unix_timestamp` (never backwards).
    pub async fn set_unix_timestamp(&self, unix_timestamp: i64) -> Result<ChainClock> {
        self.time.lock().unwrap().advance_to(unix_timestamp);
        self.sync_clock().await
    }

    async fn sync_clock(&self) -> Result<ChainClock> {
        sync_clock(&self.ctx, &self.time).await
    }

    /// Writes an account directly, bypassing the runtime (tests forge accounts
    /// with it). Indexed and notified like any other change.
    pub async fn set_account(&self, key: &Pubkey, account: Account) {
        self.ctx
            .write()
            .await
            .set_account(key, &AccountSharedData::from(account));
        self.refresh(&[*key]).await;
    }

    /// Stops or resumes delivery to subscribers: what happens meanwhile is lost
    /// to them, as when a websocket drops.
    pub fn set_notifications(&self, enabled: bool) {
        self.index.lock().unwrap().notifications = enabled;
    }

    /// Every change to any account, whoever owns it (for account subscriptions
    /// served by `gpumkt localnet`).
    pub fn subscribe_all(&self) -> mpsc::UnboundedReceiver<AccountUpdate> {
        self.index.lock().unwrap().subscribe(None)
    }

    /// Runs a transaction without committing it: its result, logs and compute units.
    pub async fn simulate(&self, tx: &Transaction) -> Result<Simulation> {
        let _shared = self.ctx.read().await;
        let r = self
            .banks
            .simulate_transaction(tx.clone())
            .await
            .map_err(banks_err)?;
        let (logs, units) = r
            .simulation_details
            .map(|d| (stubs::rewrite_logs(d.logs), d.units_consumed))
            .unwrap_or_default();
        Ok(Simulation {
            error: r.result.and_then(|res| res.err()),
            logs,
            units_consumed: units,
        })
    }

    /// The genesis hash (what `getGenesisHash` reports).
    pub async fn genesis_hash(&self) -> Hash {
        self.ctx.read().await.genesis_config().hash()
    }

    /// Re-reads `keys`, updates the owner index and notifies subscribers.
    async fn refresh(&self, keys: &[Pubkey]) {
        let slot = self.time.lock().unwrap().clock.slot;
        let mut accounts = Vec::with_capacity(keys.len());
        for key in keys {
            // An account that cannot be read now keeps its last indexed state.
            if let Ok(account) = self.banks.get_account(*key).await {
                accounts.push((*key, account));
            }
        }
        self.index.lock().unwrap().apply(accounts, slot);
    }
}

impl Drop for EmbeddedChain {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
    }
}

fn banks_err(e: BanksClientError) -> ClientError {
    match e {
        BanksClientError::TransactionError(err) => from_transaction_error(err, vec![]),
        BanksClientError::SimulationError { err, logs, .. } => from_transaction_error(err, logs),
        other => ClientError::Unreachable {
            url: "embedded".into(),
            detail: other.to_string(),
        },
    }
}
