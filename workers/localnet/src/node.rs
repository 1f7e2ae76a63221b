//! The state every request handler shares: the embedded chain, the faucet,
//! and the little bookkeeping a validator has and `BanksClient` lacks
//! (blockhash expiry heights, unique airdrops). Handlers in `http` and
//! `pubsub` ask it for response contexts, blockhash validity, signature
//! statuses and airdrops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gpu_market_client::chain::embedded::EmbeddedChain;
use gpu_market_client::chain::{Chain, SignatureStatus};
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_types::response::RpcResponseContext;
use solana_sdk::hash::Hash;
use solana_sdk::message::Message;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError};
use solana_transaction_status_client_types::{TransactionConfirmationStatus, TransactionStatus};

use crate::error::{self, RpcResult};

/// Fee per signature the embedded chain's bank charges (Solana's default).
pub(crate) const LAMPORTS_PER_SIGNATURE: u64 = 5_000;

/// Airdrops carry a compute-unit limit in `[BASE, BASE + SPREAD)` taken from a
/// counter, so that two identical requests within one blockhash are two
/// transactions rather than one signature processed once.
const AIRDROP_CU_BASE: u32 = 10_000;
const AIRDROP_CU_SPREAD: u64 = 190_000;

pub(crate) struct Node {
    pub(crate) chain: Arc<EmbeddedChain>,
    faucet: Keypair,
    airdrops: AtomicU64,
    /// Blockhashes handed out by `getLatestBlockhash`, with the last block
    /// height at which each can land: `isBlockhashValid` answers from here
    /// exactly, and asks the bank only about hashes it never handed out.
    blockhashes: Mutex<HashMap<Hash, u64>>,
}

impl Node {
    pub(crate) fn new(chain: Arc<EmbeddedChain>) -> Self {
        let faucet = chain.faucet().insecure_clone();
        Node {
            chain,
            faucet,
            airdrops: AtomicU64::new(0),
            blockhashes: Mutex::new(HashMap::new()),
        }
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
        if let Some(last_valid) = known {
            return Ok(height <= last_valid);
        }
        // Not one of ours (signed from a hash read in-process): ask the bank
        // by simulating an empty transaction with that blockhash. Simulation
        // checks the hash against a window 6 blocks shorter than landing
        // does (Agave's forwarding delay), so this errs towards "expired".
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
        if let Err(e) = self.chain.send_transaction(&tx).await {
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

pub(crate) fn check_min_context_slot(slot: u64, min_context_slot: Option<u64>) -> RpcResult<()> {
    match min_context_slot {
        Some(min) if slot < min => Err(error::custom(RpcCustomError::MinContextSlotNotReached {
            context_slot: slot,
        })),
        _ => Ok(()),
    }
}
