//! One trait for every way to reach a chain. Off-chain logic (CLI, workers,
//! auditors) is written against [`Chain`] and runs unchanged on a real cluster
//! over JSON-RPC ([`rpc::RpcChain`]) or on the embedded in-process chain
//! ([`embedded::EmbeddedChain`]) that tests and the demo use.

pub mod counting;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod rpc;

use std::sync::Arc;

use anchor_lang::prelude::Pubkey;
use async_trait::async_trait;
use solana_sdk::account::Account;
use solana_sdk::hash::Hash;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::{Transaction, TransactionError};
use tokio::sync::mpsc;

use crate::error::Result;

/// A landed transaction.
#[derive(Clone, Debug)]
pub struct TxOutcome {
    pub signature: Signature,
    pub slot: u64,
    /// Program logs, when the chain returns them (always on the embedded
    /// chain; on RPC only when fetched).
    pub logs: Vec<String>,
    pub compute_units: Option<u64>,
}

/// Server-side filters for program account scans, as in Solana's RPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    DataSize(u64),
    Memcmp { offset: usize, bytes: Vec<u8> },
}

impl Filter {
    pub fn matches(&self, data: &[u8]) -> bool {
        match self {
            Filter::DataSize(n) => data.len() as u64 == *n,
            Filter::Memcmp { offset, bytes } => data
                .get(*offset..offset.saturating_add(bytes.len()))
                .is_some_and(|d| d == bytes.as_slice()),
        }
    }
}

/// The chain's clock as programs see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainClock {
    pub slot: u64,
    pub unix_timestamp: i64,
}

/// A change to an account a subscriber watches; `account` is `None` when the
/// account was closed.
#[derive(Clone, Debug)]
pub struct AccountUpdate {
    pub pubkey: Pubkey,
    pub account: Option<Account>,
    pub slot: u64,
}

/// What a transaction's signature says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureStatus {
    /// The chain has not seen it (yet, or ever: check the blockhash's expiry).
    Unknown,
    Landed {
        slot: u64,
        error: Option<TransactionError>,
    },
}

#[async_trait]
pub trait Chain: Send + Sync {
    /// Where this chain is, for messages: a URL or "embedded".
    fn describe(&self) -> String;

    /// A recent blockhash and the last block height at which a transaction
    /// using it can still land.
    async fn latest_blockhash(&self) -> Result<(Hash, u64)>;

    async fn block_height(&self) -> Result<u64>;

    /// Submits a signed transaction and waits until it lands or fails. Program
    /// failures come back as `ClientError::Program`.
    async fn send_transaction(&self, tx: &Transaction) -> Result<TxOutcome>;

    async fn signature_status(&self, signature: &Signature) -> Result<SignatureStatus>;

    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>>;

    async fn get_multiple_accounts(&self, keys: &[Pubkey]) -> Result<Vec<Option<Account>>>;

    /// Every account owned by `program` whose data matches all `filters`.
    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        filters: &[Filter],
    ) -> Result<Vec<(Pubkey, Account)>>;

    async fn clock(&self) -> Result<ChainClock>;

    /// A stream of changes to accounts owned by `program`. Streams can lag or
    /// drop; consumers reconcile with `get_program_accounts`.
    async fn subscribe_program(
        &self,
        program: &Pubkey,
    ) -> Result<mpsc::UnboundedReceiver<AccountUpdate>>;

    async fn minimum_balance_for_rent_exemption(&self, data_len: usize) -> Result<u64>;

    async fn get_balance(&self, key: &Pubkey) -> Result<u64>;

    /// Local chains only: lamports from the faucet.
    async fn request_airdrop(&self, to: &Pubkey, lamports: u64) -> Result<()>;
}

pub type SharedChain = Arc<dyn Chain>;
