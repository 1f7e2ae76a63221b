//! Keeping the history current. One pass ([`Follower::catch_up`]) lists the program's
//! signatures newer than the newest one stored (`until` = the `sync` row), paging back
//! with `before`, then reads each new transaction once, oldest first, and stores it with
//! its events and instructions (the `sync` row moves with each, so an interrupted pass
//! resumes where it stopped). A failed transaction is stored from its listing alone: its
//! events were rolled back, so there is nothing to fetch.
//!
//! [`Follower::run`] makes a pass at start, then whenever `logsSubscribe` reports a
//! transaction of the program, and at least every `poll` (a subscription can lag, drop
//! or be unavailable; each pass reconciles with the listing anyway). The notification
//! is only the wake-up: `getTransaction` gives what its logs lack, the block time and
//! the instructions' arguments.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gpu_market_client::Pubkey;
use solana_sdk::signature::Signature;

use crate::idl::Idl;
use crate::source::{FetchedTx, HistorySource, SourceError};
use crate::store::{Store, StoreError, StoredTx};

/// Signatures per `getSignaturesForAddress` page (the RPC's maximum).
pub const PAGE: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the history's newest signature {0:?} is not a signature")]
    BadWatermark(String),
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Signatures listed newer than the `sync` row.
    pub listed: usize,
    /// Transactions read with `getTransaction`.
    pub fetched: usize,
}

pub struct Follower {
    source: Arc<dyn HistorySource>,
    store: Arc<Store>,
    idl: Arc<Idl>,
    program: Pubkey,
    following: AtomicBool,
    /// One pass at a time (the run loop's, or a caller's).
    pass: tokio::sync::Mutex<()>,
}

impl Follower {
    pub fn new(
        source: Arc<dyn HistorySource>,
        store: Arc<Store>,
        idl: Arc<Idl>,
        program: Pubkey,
    ) -> Self {
        Follower {
            source,
            store,
            idl,
            program,
            following: AtomicBool::new(false),
            pass: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether a live subscription is open.
    pub fn following(&self) -> bool {
        self.following.load(Ordering::SeqCst)
    }

    /// Stores every program transaction newer than the `sync` row (see the module doc).
    pub async fn catch_up(&self) -> Result<Pass, FollowError> {
        let _one = self.pass.lock().await;
        let until = match self.store.sync_state()?.last_signature {
            Some(s) => Some(
                s.parse::<Signature>()
                    .map_err(|_| FollowError::BadWatermark(s.clone()))?,
            ),
            None => None,
        };
        let mut listed = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .source
                .signatures(&self.program, before, until, PAGE)
                .await?;
            let full = page.len() >= PAGE;
            before = page.last().map(|s| s.signature);
            listed.extend(page);
            if !full {
                break;
            }
        }
        let mut pass = Pass {
            listed: listed.len(),
            fetched: 0,
        };
        for info in listed.into_iter().rev() {
            let signature = info.signature.to_string();
            let tx = if info.err.is_some() || self.store.has_transaction(&signature)? {
                StoredTx {
                    signature,
                    slot: info.slot,
                    block_time: info.block_time,
                    err: info.err,
                    events: vec![],
                    instructions: vec![],
                }
            } else {
                pass.fetched += 1;
                let fetched = self.source.transaction(&info.signature).await?;
                self.decode(fetched)
            };
            self.store.record(&tx)?;
        }
        Ok(pass)
    }

    fn decode(&self, tx: FetchedTx) -> StoredTx {
        let events = self.idl.events_in_logs(&tx.logs).unwrap_or_else(|e| {
            // The IDL and the program disagree: keep the transaction (never refetched),
            // say which, and show what decodes.
            tracing::warn!(signature = %tx.signature, error = %e, "an event did not decode");
            Vec::new()
        });
        let instructions = tx
            .instructions
            .iter()
            .filter(|ix| ix.program == self.program)
            .filter_map(|ix| {
                let keys: Vec<String> = ix.accounts.iter().map(|k| k.to_string()).collect();
                match self.idl.instruction(&ix.data, &keys) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(signature = %tx.signature, error = %e, "an instruction did not decode");
                        None
                    }
                }
            })
            .collect();
        StoredTx {
            signature: tx.signature.to_string(),
            slot: tx.slot,
            block_time: tx.block_time,
            err: tx.err,
            events,
            instructions,
        }
    }

    /// Passes until `stop` turns true (see the module doc).
    pub async fn run(
        self: Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
        poll: Duration,
    ) {
        let mut updates = None;
        loop {
            if updates.is_none() {
                match self.source.subscribe(&self.program).await {
                    Ok(rx) => {
                        updates = Some(rx);
                        self.following.store(true, Ordering::SeqCst);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "no logs subscription; polling every {poll:?}")
                    }
                }
            }
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = %e, source = %self.source.describe(), "history pass failed");
            }
            let sleep = tokio::time::sleep(poll);
            tokio::select! {
                _ = stop.changed() => break,
                _ = sleep => {}
                update = async {
                    match updates.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => match update {
                    // Whatever else landed meanwhile is in the same pass.
                    Some(_) => {
                        if let Some(rx) = updates.as_mut() {
                            while rx.try_recv().is_ok() {}
                        }
                    }
                    None => {
                        updates = None;
                        self.following.store(false, Ordering::SeqCst);
                    }
                },
            }
            if *stop.borrow() {
                break;
            }
        }
        self.following.store(false, Ordering::SeqCst);
    }
}
