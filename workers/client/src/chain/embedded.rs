//! The embedded chain: Agave's runtime in-process through `solana-program-test`,
//! with the gpu-market program loaded natively, SPL Token and the associated
//! token program loaded as the real SBF programs, and a clock that advances.
//!
//! `BanksClient` has no account scan, so this chain indexes accounts itself:
//! every transaction goes through [`EmbeddedChain::send_transaction`], which
//! re-reads the transaction's writable accounts afterwards, keeps a per-owner
//! index for `get_program_accounts`, and notifies subscribers of the changes.
//!
//! Time: in [`ClockMode::RealTime`] a ticker moves the bank forward one slot
//! per 400 ms of wall clock and sets the Clock sysvar's unix time from the
//! wall clock; in [`ClockMode::Manual`] time only moves when a test calls
//! [`EmbeddedChain::advance`] or [`EmbeddedChain::set_unix_timestamp`].
//! Either way `advance` adds an offset, which is how the demo and tests skip
//! a challenge window without waiting for it.

#![allow(deprecated)] // program-test's context API is marked unstable from Agave 4 on.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::account_info::AccountInfo;
use anchor_lang::solana_program::entrypoint::ProgramResult;
use async_trait::async_trait;
use solana_commitment_config::CommitmentLevel;
use solana_program_test::{
    processor, BanksClient, BanksClientError, ProgramTest, ProgramTestContext,
};
use solana_sdk::account::{Account, AccountSharedData};
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError};
use solana_sysvar::program_stubs::{set_syscall_stubs, SyscallStubs};
use tokio::sync::{mpsc, RwLock};

use super::{AccountUpdate, Chain, ChainClock, Filter, SignatureStatus, TxOutcome};
use crate::error::{from_transaction_error, ClientError, Result};

/// Marks event bytes routed through the syscall stubs (see [`EventStubs`]).
const DATA_MARKER: &str = "\u{1}gpu-market-data:";

/// Native builds cannot issue the `sol_log_data` syscall, so the program hands
/// event bytes to the syscall stubs (`gpu_market::events::log_native`).
/// program-test's stubs only record `sol_log`; this wrapper forwards
/// everything to them and turns event data into a marked log line, which
/// `send_transaction` rewrites into Solana's "Program data: <base64>" form.
struct EventStubs(Box<dyn SyscallStubs>);

struct PlaceholderStubs;
impl SyscallStubs for PlaceholderStubs {}

impl SyscallStubs for EventStubs {
    fn sol_log(&self, message: &str) {
        self.0.sol_log(message)
    }
    fn sol_log_compute_units(&self) {
        self.0.sol_log_compute_units()
    }
    fn sol_remaining_compute_units(&self) -> u64 {
        self.0.sol_remaining_compute_units()
    }
    fn sol_invoke_signed(
        &self,
        instruction: &solana_sdk::instruction::Instruction,
        account_infos: &[AccountInfo],
        signers_seeds: &[&[&[u8]]],
    ) -> ProgramResult {
        self.0
            .sol_invoke_signed(instruction, account_infos, signers_seeds)
    }
    fn sol_get_sysvar(
        &self,
        sysvar_id_addr: *const u8,
        var_addr: *mut u8,
        offset: u64,
        length: u64,
    ) -> u64 {
        self.0
            .sol_get_sysvar(sysvar_id_addr, var_addr, offset, length)
    }
    fn sol_get_clock_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_clock_sysvar(var_addr)
    }
    fn sol_get_epoch_schedule_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_epoch_schedule_sysvar(var_addr)
    }
    fn sol_get_fees_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_fees_sysvar(var_addr)
    }
    fn sol_get_rent_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_rent_sysvar(var_addr)
    }
    fn sol_get_epoch_rewards_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_epoch_rewards_sysvar(var_addr)
    }
    fn sol_get_last_restart_slot(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_last_restart_slot(var_addr)
    }
    fn sol_get_epoch_stake(&self, vote_address: *const u8) -> u64 {
        self.0.sol_get_epoch_stake(vote_address)
    }
    fn sol_get_return_data(&self) -> Option<(Pubkey, Vec<u8>)> {
        self.0.sol_get_return_data()
    }
    fn sol_set_return_data(&self, data: &[u8]) {
        self.0.sol_set_return_data(data)
    }
    fn sol_log_data(&self, fields: &[&[u8]]) {
        use base64::{engine::general_purpose::STANDARD, Engine};
        let encoded: Vec<String> = fields.iter().map(|f| STANDARD.encode(f)).collect();
        self.0
            .sol_log(&format!("{DATA_MARKER}{}", encoded.join(" ")))
    }
    fn sol_get_processed_sibling_instruction(
        &self,
        index: usize,
    ) -> Option<solana_sdk::instruction::Instruction> {
        self.0.sol_get_processed_sibling_instruction(index)
    }
    fn sol_get_stack_height(&self) -> u64 {
        self.0.sol_get_stack_height()
    }
}

/// Serializes chain start-up, so that the one-time stub swap below happens
/// while no other embedded chain in the process can be running a transaction.
static START: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);

fn rewrite_logs(logs: Vec<String>) -> Vec<String> {
    let marked = format!("Program log: {DATA_MARKER}");
    logs.into_iter()
        .map(|l| match l.strip_prefix(&marked) {
            Some(data) => format!("Program data: {data}"),
            None => l,
        })
        .collect()
}

/// The outcome of [`EmbeddedChain::simulate`].
#[derive(Clone, Debug)]
pub struct Simulation {
    pub error: Option<TransactionError>,
    pub logs: Vec<String>,
    pub units_consumed: u64,
}

/// Slot duration used to turn elapsed time into slots, as on mainnet.
pub const SLOT_MS: u64 = 400;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Time follows the wall clock (plus any `advance` offset).
    RealTime,
    /// Time starts at `start_unix_timestamp` and moves only when told to.
    Manual { start_unix_timestamp: i64 },
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

struct Index {
    /// owner -> accounts it owns that this chain has seen.
    by_owner: HashMap<Pubkey, BTreeSet<Pubkey>>,
    /// (owner filter, sink): `None` receives every account change.
    subscribers: Vec<(Option<Pubkey>, mpsc::UnboundedSender<AccountUpdate>)>,
    notifications: bool,
}

struct Time {
    mode: ClockMode,
    started: Instant,
    /// Seconds added by `advance`.
    offset: i64,
    /// What the Clock sysvar says now.
    clock: ChainClock,
    base_slot: u64,
    base_unix: i64,
}

impl Time {
    /// Where the clock should be now.
    fn target(&self) -> ChainClock {
        let (elapsed_ms, elapsed_s) = match self.mode {
            ClockMode::RealTime => {
                let e = self.started.elapsed();
                (e.as_millis() as u64, e.as_secs() as i64)
            }
            ClockMode::Manual { .. } => (0, 0),
        };
        let unix_timestamp = self.base_unix + elapsed_s + self.offset;
        let time_slots = ((unix_timestamp - self.base_unix).max(0) as u64) * 1000 / SLOT_MS;
        let slot = (self.base_slot + (elapsed_ms / SLOT_MS)).max(self.base_slot + time_slots);
        ChainClock {
            slot: slot.max(self.clock.slot),
            unix_timestamp,
        }
    }
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
                let previous = set_syscall_stubs(Box::new(PlaceholderStubs));
                set_syscall_stubs(Box::new(EventStubs(previous)));
                *installed = true;
            }
            ctx
        };
        let banks = ctx.banks_client.clone();
        let faucet = ctx.payer.insecure_clone();
        let genesis_clock: Clock = banks.get_sysvar().await.map_err(banks_err)?;
        let base_unix = match mode {
            ClockMode::RealTime => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(genesis_clock.unix_timestamp),
            ClockMode::Manual {
                start_unix_timestamp,
            } => start_unix_timestamp,
        };
        let time = Time {
            mode,
            started: Instant::now(),
            offset: 0,
            // What the sysvar says now: the first sync moves it to `base_unix`.
            clock: ChainClock {
                slot: genesis_clock.slot,
                unix_timestamp: genesis_clock.unix_timestamp,
            },
            base_slot: genesis_clock.slot,
            base_unix,
        };
        let mut chain = EmbeddedChain {
            banks,
            ctx: Arc::new(RwLock::new(ctx)),
            faucet,
            index: Arc::new(Mutex::new(Index {
                by_owner: HashMap::new(),
                subscribers: Vec::new(),
                notifications: true,
            })),
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
        self.time.lock().unwrap().offset += seconds.max(0);
        self.sync_clock().await
    }

    /// Sets the unix time programs see to exactly `unix_timestamp` (never backwards).
    pub async fn set_unix_timestamp(&self, unix_timestamp: i64) -> Result<ChainClock> {
        {
            let mut t = self.time.lock().unwrap();
            let now = t.target().unix_timestamp;
            t.offset += (unix_timestamp - now).max(0);
        }
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
        let (tx, rx) = mpsc::unbounded_channel();
        self.index.lock().unwrap().subscribers.push((None, tx));
        rx
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
            .map(|d| (rewrite_logs(d.logs), d.units_consumed))
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
        let mut updates = Vec::with_capacity(keys.len());
        for key in keys {
            if let Ok(account) = self.banks.get_account(*key).await {
                updates.push((*key, account));
            }
        }
        let mut index = self.index.lock().unwrap();
        let mut notify = Vec::new();
        for (key, account) in updates {
            let previous_owner = index
                .by_owner
                .iter()
                .find(|(_, keys)| keys.contains(&key))
                .map(|(owner, _)| *owner);
            if let Some(owner) = previous_owner {
                index.by_owner.get_mut(&owner).map(|s| s.remove(&key));
            }
            match &account {
                Some(a) if a.lamports > 0 => {
                    index.by_owner.entry(a.owner).or_default().insert(key);
                    notify.push((
                        a.owner,
                        AccountUpdate {
                            pubkey: key,
                            account: account.clone(),
                            slot,
                        },
                    ));
                }
                _ => {
                    if let Some(owner) = previous_owner {
                        notify.push((
                            owner,
                            AccountUpdate {
                                pubkey: key,
                                account: None,
                                slot,
                            },
                        ));
                    }
                }
            }
        }
        if index.notifications {
            index.subscribers.retain(|(filter, tx)| {
                notify
                    .iter()
                    .filter(|(owner, _)| filter.is_none_or(|f| f == *owner))
                    .all(|(_, update)| tx.send(update.clone()).is_ok())
            });
        }
    }
}

impl Drop for EmbeddedChain {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
    }
}

async fn sync_clock(ctx: &RwLock<ProgramTestContext>, time: &Mutex<Time>) -> Result<ChainClock> {
    let (target, current) = {
        let t = time.lock().unwrap();
        (t.target(), t.clock)
    };
    if target == current {
        return Ok(current);
    }
    let mut ctx = ctx.write().await;
    let mut clock: Clock = ctx.banks_client.get_sysvar().await.map_err(banks_err)?;
    if target.slot > clock.slot {
        ctx.warp_to_slot(target.slot).map_err(|e| {
            ClientError::Invalid(format!("embedded chain could not advance: {e:?}"))
        })?;
        clock = ctx.banks_client.get_sysvar().await.map_err(banks_err)?;
    }
    clock.unix_timestamp = target.unix_timestamp;
    ctx.set_sysvar(&clock);
    let now = ChainClock {
        slot: clock.slot,
        unix_timestamp: clock.unix_timestamp,
    };
    time.lock().unwrap().clock = now;
    Ok(now)
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

#[async_trait]
impl Chain for EmbeddedChain {
    fn describe(&self) -> String {
        "embedded".into()
    }

    async fn latest_blockhash(&self) -> Result<(Hash, u64)> {
        self.banks
            .get_latest_blockhash_with_commitment(CommitmentLevel::Processed)
            .await
            .map_err(banks_err)?
            .ok_or_else(|| ClientError::Invalid("embedded chain has no blockhash".into()))
    }

    async fn block_height(&self) -> Result<u64> {
        // The last valid height of the newest blockhash is the current height + 150.
        let (_, last_valid) = self.latest_blockhash().await?;
        Ok(last_valid.saturating_sub(solana_sdk::clock::MAX_PROCESSING_AGE as u64))
    }

    async fn send_transaction(&self, tx: &Transaction) -> Result<TxOutcome> {
        let result = {
            let _shared = self.ctx.read().await;
            self.banks
                .process_transaction_with_metadata(tx.clone())
                .await
                .map_err(banks_err)?
        };
        let (logs, units) = result
            .metadata
            .map(|m| (rewrite_logs(m.log_messages), Some(m.compute_units_consumed)))
            .unwrap_or_default();
        let signature = tx.signatures.first().copied().unwrap_or_default();
        match result.result {
            Ok(()) => {}
            Err(TransactionError::AlreadyProcessed) => {
                // The same signed transaction was processed before: report that outcome.
                return match self.signature_status(&signature).await? {
                    SignatureStatus::Landed { slot, error: None } => Ok(TxOutcome {
                        signature,
                        slot,
                        logs,
                        compute_units: units,
                    }),
                    SignatureStatus::Landed { error: Some(e), .. } => {
                        Err(from_transaction_error(e, logs))
                    }
                    SignatureStatus::Unknown => Err(from_transaction_error(
                        TransactionError::AlreadyProcessed,
                        logs,
                    )),
                };
            }
            Err(e) => return Err(from_transaction_error(e, logs)),
        }
        let msg = &tx.message;
        let writable: Vec<Pubkey> = msg
            .account_keys
            .iter()
            .enumerate()
            .filter(|(i, _)| msg.is_maybe_writable(*i, None))
            .map(|(_, k)| *k)
            .collect();
        self.refresh(&writable).await;
        let slot = self.time.lock().unwrap().clock.slot;
        Ok(TxOutcome {
            signature,
            slot,
            logs,
            compute_units: units,
        })
    }

    async fn signature_status(&self, signature: &Signature) -> Result<SignatureStatus> {
        Ok(
            match self
                .banks
                .get_transaction_status(*signature)
                .await
                .map_err(banks_err)?
            {
                None => SignatureStatus::Unknown,
                Some(s) => SignatureStatus::Landed {
                    slot: s.slot,
                    error: s.err,
                },
            },
        )
    }

    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>> {
        Ok(self
            .banks
            .get_account(*key)
            .await
            .map_err(banks_err)?
            .filter(|a| a.lamports > 0))
    }

    async fn get_multiple_accounts(&self, keys: &[Pubkey]) -> Result<Vec<Option<Account>>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.get_account(k).await?);
        }
        Ok(out)
    }

    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        filters: &[Filter],
    ) -> Result<Vec<(Pubkey, Account)>> {
        let keys: Vec<Pubkey> = {
            let index = self.index.lock().unwrap();
            index
                .by_owner
                .get(program)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for key in keys {
            if let Some(a) = self.get_account(&key).await? {
                if a.owner == *program && filters.iter().all(|f| f.matches(&a.data)) {
                    out.push((key, a));
                }
            }
        }
        Ok(out)
    }

    async fn clock(&self) -> Result<ChainClock> {
        self.sync_clock().await
    }

    async fn subscribe_program(
        &self,
        program: &Pubkey,
    ) -> Result<mpsc::UnboundedReceiver<AccountUpdate>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.index
            .lock()
            .unwrap()
            .subscribers
            .push((Some(*program), tx));
        Ok(rx)
    }

    async fn minimum_balance_for_rent_exemption(&self, data_len: usize) -> Result<u64> {
        Ok(self
            .banks
            .get_rent()
            .await
            .map_err(banks_err)?
            .minimum_balance(data_len))
    }

    async fn get_balance(&self, key: &Pubkey) -> Result<u64> {
        self.banks.get_balance(*key).await.map_err(banks_err)
    }

    async fn request_airdrop(&self, to: &Pubkey, lamports: u64) -> Result<()> {
        let (blockhash, _) = self.latest_blockhash().await?;
        let ix =
            solana_system_interface::instruction::transfer(&self.faucet.pubkey(), to, lamports);
        let tx = Transaction::new_signed_with_payer(
            &[ix],
            Some(&self.faucet.pubkey()),
            &[&self.faucet],
            blockhash,
        );
        self.send_transaction(&tx).await.map(|_| ())
    }
}
