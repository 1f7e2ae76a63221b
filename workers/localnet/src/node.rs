//! The state every request handler shares: the embedded chain, the faucet,
//! and the bookkeeping a validator has and `BanksClient` lacks (blockhash
//! expiry heights, unique airdrops, the [`History`] of what landed). Handlers
//! in `http`, `transactions`, `token` and `pubsub` ask it for response
//! contexts, blockhash validity, signature statuses and airdrops; every
//! transaction the node executes goes through [`Node::submit`], which records
//! its balances and logs and tells log subscribers, and [`Node::watch_slots`]
//! tells slot subscribers as the chain moves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gpu_market_client::chain::embedded::EmbeddedChain;
use gpu_market_client::chain::{Chain, SignatureStatus};
use gpu_market_client::error::ClientError;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_types::response::{RpcResponseContext, SlotInfo};
use solana_sdk::hash::Hash;
use solana_sdk::message::Message;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError};
use solana_transaction_status_client_types::{TransactionConfirmationStatus, TransactionStatus};

use tokio::sync::broadcast;

use crate::error::{self, RpcResult};
use crate::history::{BlockTime, History, Landed};
use crate::token;

/// Fee per signature the embedded chain's bank charges (Solana's default).
pub(crate) const LAMPORTS_PER_SIGNATURE: u64 = 5_000;

/// Airdrops carry a compute-unit limit in `[BASE, BASE + SPREAD)` taken from a
/// counter, so that two identical requests within one blockhash are two
/// transactions rather than one signature processed once.
const AIRDROP_CU_BASE: u32 = 10_000;
const AIRDROP_CU_SPREAD: u64 = 190_000;

/// How often the slot watcher looks at the chain's clock (a slot is 400 ms).
const SLOT_WATCH: Duration = Duration::from_millis(100);
/// Notifications a slow subscriber may fall behind by before it misses some.
const BROADCAST_CAPACITY: usize = 1_024;

/// Compute-unit limit Agave assumes per instruction when a transaction sets
/// none, and the most a transaction may ask for.
const DEFAULT_UNITS_PER_INSTRUCTION: u64 = 200_000;
const MAX_COMPUTE_UNIT_LIMIT: u64 = 1_400_000;
const MICRO_LAMPORTS_PER_LAMPORT: u128 = 1_000_000;

pub(crate) struct Node {
    pub(crate) chain: Arc<EmbeddedChain>,
    faucet: Keypair,
    airdrops: AtomicU64,
    /// Blockhashes handed out by `getLatestBlockhash`, with the last block
    /// height at which each can land: past it, `isBlockhashValid` says no
    /// without asking the bank.
    blockhashes: Mutex<HashMap<Hash, u64>>,
    pub(crate) history: Mutex<History>,
    /// Every transaction recorded, for `logsSubscribe`.
    pub(crate) landed: broadcast::Sender<Arc<Landed>>,
    /// Every new slot seen, for `slotSubscribe` and `rootSubscribe`.
    pub(crate) slots: broadcast::Sender<SlotInfo>,
    /// One transaction at a time through `submit`, so that the balances read
    /// before and after it are its own.
    submitting: tokio::sync::Mutex<()>,
}

impl Node {
    pub(crate) fn new(chain: Arc<EmbeddedChain>) -> Self {
        let faucet = chain.faucet().insecure_clone();
        Node {
            chain,
            faucet,
            airdrops: AtomicU64::new(0),
            blockhashes: Mutex::new(HashMap::new()),
            history: Mutex::new(History::default()),
            landed: broadcast::channel(BROADCAST_CAPACITY).0,
            slots: broadcast::channel(BROADCAST_CAPACITY).0,
            submitting: tokio::sync::Mutex::new(()),
        }
    }

    /// Records that the chain is at `slot` and tells slot subscribers when
    /// it is a new one. Everything here is final at once, so the root is the
    /// slot itself.
    fn observe(&self, slot: u64, unix_time: i64) {
        let parent = self.history.lock().unwrap().observe(slot, unix_time);
        if let Some(parent) = parent {
            // No subscriber is not a failure.
            let _ = self.slots.send(SlotInfo {
                slot,
                parent,
                root: slot,
            });
        }
    }

    /// Follows the chain's clock until the task is aborted (when the node
    /// stops).
    pub(crate) async fn watch_slots(self: Arc<Self>) {
        let mut tick = tokio::time::interval(SLOT_WATCH);
        loop {
            tick.tick().await;
            match self.chain.clock().await {
                Ok(c) => self.observe(c.slot, c.unix_timestamp),
                Err(e) => tracing::debug!(error = %e, "slot watcher could not read the clock"),
            }
        }
    }

    /// The time at `slot`, as far as the record reaches.
    pub(crate) fn block_time(&self, slot: u64) -> BlockTime {
        self.history.lock().unwrap().block_time(slot)
    }

    /// Executes `tx` on the chain and, if it landed (succeeded or failed
    /// with a fee charged), records it with its balances before and after,
    /// its logs and its fee, and tells log subscribers. The chain's own
    /// result comes back unchanged.
    pub(crate) async fn submit(&self, tx: &Transaction) -> Result<(), ClientError> {
        let signature = tx.signatures.first().copied().unwrap_or_default();
        let keys = &tx.message.account_keys;
        let _one_at_a_time = self.submitting.lock().await;
        let before = self.chain.get_multiple_accounts(keys).await.ok();
        let result = self.chain.send_transaction(tx).await;
        let (logs, compute_units) = match &result {
            Ok(outcome) => (outcome.logs.clone(), outcome.compute_units),
            Err(ClientError::Program { logs, .. } | ClientError::Transaction { logs, .. }) => {
                (logs.clone(), None)
            }
            Err(_) => (Vec::new(), None),
        };
        let Some(before) = before else {
            return result.map(|_| ());
        };
        if self.history.lock().unwrap().contains(&signature) {
            // The same signed transaction again: it ran once.
            return result.map(|_| ());
        }
        let Ok(SignatureStatus::Landed { slot, error }) =
            self.chain.signature_status(&signature).await
        else {
            return result.map(|_| ());
        };
        let after = self
            .chain
            .get_multiple_accounts(keys)
            .await
            .unwrap_or_else(|_| before.clone());
        let now = self.chain.clock().await;
        if let Ok(c) = &now {
            self.observe(c.slot, c.unix_timestamp);
        }
        let block_time = match self.block_time(slot) {
            BlockTime::Known(t) => t,
            _ => now.map(|c| c.unix_timestamp).unwrap_or_default(),
        };
        let lamports = |accounts: &[Option<solana_sdk::account::Account>]| {
            accounts
                .iter()
                .map(|a| a.as_ref().map_or(0, |a| a.lamports))
                .collect()
        };
        let (fee, compute_unit_price) = fee(tx);
        let landed = Landed {
            signature,
            slot,
            block_time,
            transaction: tx.clone(),
            err: error,
            fee,
            compute_unit_price,
            pre_balances: lamports(&before),
            post_balances: lamports(&after),
            pre_token_balances: token::balances(&self.chain, keys, &before).await,
            post_token_balances: token::balances(&self.chain, keys, &after).await,
            logs,
            compute_units,
        };
        if let Some(landed) = self.history.lock().unwrap().record(landed) {
            let _ = self.landed.send(landed);
        }
        result.map(|_| ())
    }

    pub(crate) async fn slot(&self) -> RpcResult<u64> {
        Ok(self.chain.clock().await.map_err(error::chain)?.slot)
    }

    /// The context of a response, refusing requests that want a later slot
    /// than the chain has reached (Solana's -32016).
    pub(crate) async fn context(
        &self,
        min_context_slot: Option<u64>,
    ) -> RpcResult<RpcResponseContext> {
        let slot = self.slot().await?;
        check_min_context_slot(slot, min_context_slot)?;
        Ok(RpcResponseContext::new(slot))
    }

    pub(crate) async fn block_height(&self) -> RpcResult<u64> {
        self.chain.block_height().await.map_err(error::chain)
    }

    /// The newest blockhash and its last valid block height, remembered for
    /// `isBlockhashValid`.
    pub(crate) async fn latest_blockhash(&self) -> RpcResult<(Hash, u64)> {
        let (hash, last_valid) = self.chain.latest_blockhash().await.map_err(error::chain)?;
        let height = last_valid.saturating_sub(solana_sdk::clock::MAX_PROCESSING_AGE as u64);
        let mut known = self.blockhashes.lock().unwrap();
        known.retain(|_, lv| *lv >= height);
        known.insert(hash, last_valid);
        Ok((hash, last_valid))
    }

    pub(crate) async fn is_blockhash_valid(&self, hash: &Hash) -> RpcResult<bool> {
        let height = self.block_height().await?;
        let known = self.blockhashes.lock().unwrap().get(hash).copied();
        if known.is_some_and(|last_valid| height > last_valid) {
            return Ok(false);
        }
        // Within its block height, a hash can still be gone from the bank:
        // program-test registers a blockhash every 6.4 ms, and a transaction
        // may use only the newest 150, so a hash lasts about a second here
        // however few blocks pass. Ask the bank, by simulating an empty
        // transaction with that blockhash. Simulation checks the hash against
        // a window 6 hashes shorter than landing does (Agave's forwarding
        // delay), so this errs towards "expired" by some 40 ms.
        let probe = Transaction::new_unsigned(Message::new_with_blockhash(
            &[],
            Some(&self.faucet.pubkey()),
            hash,
        ));
        let sim = self.chain.simulate(&probe).await.map_err(error::chain)?;
        Ok(!matches!(
            sim.error,
            Some(TransactionError::BlockhashNotFound)
        ))
    }

    /// A validator's view of a signature. The embedded chain executes
    /// synchronously on one node with no forks, so whatever has landed is final.
    pub(crate) async fn signature_status(
        &self,
        signature: &Signature,
    ) -> RpcResult<Option<TransactionStatus>> {
        Ok(
            match self
                .chain
                .signature_status(signature)
                .await
                .map_err(error::chain)?
            {
                SignatureStatus::Unknown => None,
                SignatureStatus::Landed { slot, error } => Some(TransactionStatus {
                    slot,
                    confirmations: None,
                    status: match &error {
                        None => Ok(()),
                        Some(e) => Err(e.clone()),
                    },
                    err: error,
                    confirmation_status: Some(TransactionConfirmationStatus::Finalized),
                }),
            },
        )
    }

    /// Lamports from the faucet; the signature of the landed transfer.
    pub(crate) async fn airdrop(
        &self,
        to: &Pubkey,
        lamports: u64,
        blockhash: Option<Hash>,
    ) -> RpcResult<Signature> {
        let blockhash = match blockhash {
            Some(h) => h,
            None => self.latest_blockhash().await?.0,
        };
        let n = self.airdrops.fetch_add(1, Ordering::Relaxed);
        let units = AIRDROP_CU_BASE + (n % AIRDROP_CU_SPREAD) as u32;
        let ixs = [
            ComputeBudgetInstruction::set_compute_unit_limit(units),
            solana_system_interface::instruction::transfer(&self.faucet.pubkey(), to, lamports),
        ];
        let tx = Transaction::new_signed_with_payer(
            &ixs,
            Some(&self.faucet.pubkey()),
            &[&self.faucet],
            blockhash,
        );
        let signature = tx.signatures[0];
        if let Err(e) = self.submit(&tx).await {
            // As with a validator's faucet, a transfer that executed and failed
            // (too few lamports for rent, say) is a signature whose status
            // tells why; one that never executed is an error now.
            let landed = matches!(
                self.chain.signature_status(&signature).await,
                Ok(SignatureStatus::Landed { .. })
            );
            if !landed {
                return Err(error::internal(format!(
                    "airdrop of {lamports} lamports to {to} failed: {e}"
                )));
            }
        }
        Ok(signature)
    }
}

/// What the bank charges `tx`: its signature fees plus its priority fee
/// (price times compute-unit limit, rounded up), and the price it bid. A
/// transaction without a limit is assumed to ask for 200 000 units per
/// instruction (Agave charges builtin-only instructions less).
pub(crate) fn fee(tx: &Transaction) -> (u64, u64) {
    let msg = &tx.message;
    let budget = solana_compute_budget_interface::ID;
    let (mut price, mut limit, mut others) = (0u64, None, 0u64);
    for ix in &msg.instructions {
        let is_budget = msg.account_keys.get(ix.program_id_index as usize) == Some(&budget);
        if !is_budget {
            others += 1;
            continue;
        }
        // Borsh: a one-byte tag, then the little-endian value.
        match ix.data.split_first() {
            Some((2, v)) if v.len() == 4 => {
                limit = Some(u64::from(u32::from_le_bytes(
                    v.try_into().unwrap_or_default(),
                )))
            }
            Some((3, v)) if v.len() == 8 => {
                price = u64::from_le_bytes(v.try_into().unwrap_or_default())
            }
            _ => {}
        }
    }
    let limit = limit
        .unwrap_or(others.saturating_mul(DEFAULT_UNITS_PER_INSTRUCTION))
        .min(MAX_COMPUTE_UNIT_LIMIT);
    let micro = u128::from(price) * u128::from(limit);
    let priority = micro.div_ceil(MICRO_LAMPORTS_PER_LAMPORT) as u64;
    let signatures = u64::from(msg.header.num_required_signatures);
    (signatures * LAMPORTS_PER_SIGNATURE + priority, price)
}

pub(crate) fn check_min_context_slot(slot: u64, min_context_slot: Option<u64>) -> RpcResult<()> {
    match min_context_slot {
        Some(min) if slot < min => Err(error::custom(RpcCustomError::MinContextSlotNotReached {
            context_slot: slot,
        })),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(ixs: &[solana_sdk::instruction::Instruction]) -> Transaction {
        Transaction::new_unsigned(Message::new(ixs, Some(&Pubkey::new_unique())))
    }

    #[test]
    fn fees_are_signatures_plus_the_priority_fee_rounded_up() {
        let transfer = solana_system_interface::instruction::transfer(
            &Pubkey::new_unique(),
            &Pubkey::new_unique(),
            1,
        );
        // Two signers (payer and `from`), no bid.
        assert_eq!(fee(&tx(std::slice::from_ref(&transfer))), (10_000, 0));
        // 3 micro-lamports per unit for 100_001 units: 0.300003 lamports, so 1.
        let bid = [
            ComputeBudgetInstruction::set_compute_unit_limit(100_001),
            ComputeBudgetInstruction::set_compute_unit_price(3),
            transfer.clone(),
        ];
        assert_eq!(fee(&tx(&bid)), (10_001, 3));
        // No limit: 200_000 units for the one other instruction.
        let bid = [
            ComputeBudgetInstruction::set_compute_unit_price(1_000_000),
            transfer,
        ];
        assert_eq!(fee(&tx(&bid)), (10_000 + 200_000, 1_000_000));
    }
}
