//! A [`Chain`] decorator that counts the transactions sent through it, for
//! reports and benchmarks ("transactions per job").

use std::sync::atomic::{AtomicU64, Ordering};

use anchor_lang::prelude::Pubkey;
use async_trait::async_trait;
use solana_sdk::account::Account;
use solana_sdk::hash::Hash;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::Transaction;
use tokio::sync::mpsc;

use super::{AccountUpdate, Chain, ChainClock, Filter, SharedChain, SignatureStatus, TxOutcome};
use crate::error::Result;

pub struct CountingChain {
    inner: SharedChain,
    sent: AtomicU64,
    landed: AtomicU64,
}

impl CountingChain {
    pub fn new(inner: SharedChain) -> Self {
        Self {
            inner,
            sent: AtomicU64::new(0),
            landed: AtomicU64::new(0),
        }
    }

    /// Transactions submitted (including ones that failed).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Transactions that landed successfully.
    pub fn landed(&self) -> u64 {
        self.landed.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Chain for CountingChain {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn latest_blockhash(&self) -> Result<(Hash, u64)> {
        self.inner.latest_blockhash().await
    }
    async fn block_height(&self) -> Result<u64> {
        self.inner.block_height().await
    }
    async fn send_transaction(&self, tx: &Transaction) -> Result<TxOutcome> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        let r = self.inner.send_transaction(tx).await;
        if r.is_ok() {
            self.landed.fetch_add(1, Ordering::SeqCst);
        }
        r
    }
    async fn signature_status(&self, signature: &Signature) -> Result<SignatureStatus> {
        self.inner.signature_status(signature).await
    }
    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>> {
        self.inner.get_account(key).await
    }
    async fn get_multiple_accounts(&self, keys: &[Pubkey]) -> Result<Vec<Option<Account>>> {
        self.inner.get_multiple_accounts(keys).await
    }
    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        filters: &[Filter],
    ) -> Result<Vec<(Pubkey, Account)>> {
        self.inner.get_program_accounts(program, filters).await
    }
    async fn clock(&self) -> Result<ChainClock> {
        self.inner.clock().await
    }
    async fn subscribe_program(
        &self,
        program: &Pubkey,
    ) -> Result<mpsc::UnboundedReceiver<AccountUpdate>> {
        self.inner.subscribe_program(program).await
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
