//! Signing and sending with the failure modes of a real cluster handled:
//! a transaction is re-sent (same signature, so it can land at most once)
//! while its blockhash is valid, re-signed with a fresh blockhash only once
//! the old one has provably expired, and never retried after a program's
//! verdict. Compute-unit limit and priority fee are optional settings.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use solana_sdk::hash::{hash, Hash};
use solana_sdk::message::Message;

use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;

use crate::chain::{SharedChain, SignatureStatus, TxOutcome};
use crate::error::{ClientError, Result};

#[derive(Clone, Debug)]
pub struct SendOptions {
    /// Sets the transaction's compute-unit limit when given.
    pub compute_unit_limit: Option<u32>,
    /// Priority fee in micro-lamports per compute unit when given.
    pub priority_fee_micro_lamports: Option<u64>,
    /// How many times a transient failure is retried.
    pub max_retries: u32,
    /// First pause between retries; doubles each time.
    pub backoff: Duration,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            compute_unit_limit: None,
            priority_fee_micro_lamports: None,
            max_retries: 5,
            backoff: Duration::from_millis(250),
        }
    }
}

/// A signed transaction and the last block height at which it can land:
/// what a worker journals before sending, so a restart can tell whether it landed.
#[derive(Clone, Debug)]
pub struct SignedTx {
    pub tx: Transaction,
    pub last_valid_block_height: u64,
}

#[derive(Clone)]
pub struct Sender {
    pub chain: SharedChain,
    pub options: SendOptions,
    /// Messages signed recently. Re-sending the same instructions while the
    /// blockhash has not moved would produce byte-identical transactions, which
    /// the chain deduplicates; a new attempt waits for a fresh blockhash instead.
    recent: Arc<Mutex<VecDeque<Hash>>>,
}

const RECENT_MESSAGES: usize = 4_096;

impl Sender {
    pub fn new(chain: SharedChain) -> Self {
        Self::with_options(chain, SendOptions::default())
    }

    pub fn with_options(chain: SharedChain, options: SendOptions) -> Self {
        Self {
            chain,
            options,
            recent: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    /// Adds the compute-budget instructions the options ask for.
    fn with_budget(&self, ixs: &[Instruction]) -> Vec<Instruction> {
        let mut all = Vec::with_capacity(ixs.len() + 2);
        if let Some(units) = self.options.compute_unit_limit {
            all.push(ComputeBudgetInstruction::set_compute_unit_limit(units));
        }
        if let Some(price) = self.options.priority_fee_micro_lamports {
            all.push(ComputeBudgetInstruction::set_compute_unit_price(price));
        }
        all.extend_from_slice(ixs);
        all
    }

    /// Signs with a fresh blockhash; `payer` pays fees and signs first.
    pub async fn sign(
        &self,
        ixs: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> Result<SignedTx> {
        let mut all: Vec<&Keypair> = vec![payer];
        all.extend(
            signers
                .iter()
                .copied()
                .filter(|k| k.pubkey() != payer.pubkey()),
        );
        let ixs = self.with_budget(ixs);
        for _ in 0..100 {
            let (blockhash, last_valid_block_height) = self.chain.latest_blockhash().await?;
            let message = Message::new_with_blockhash(&ixs, Some(&payer.pubkey()), &blockhash);
            let digest = hash(&message.serialize());
            let fresh = {
                let mut recent = self.recent.lock().unwrap();
                let fresh = !recent.contains(&digest);
                if fresh {
                    if recent.len() >= RECENT_MESSAGES {
                        recent.pop_front();
                    }
                    recent.push_back(digest);
                }
                fresh
            };
            if fresh {
                let mut tx = Transaction::new_unsigned(message);
                tx.try_sign(&all, blockhash).map_err(ClientError::Sign)?;
                return Ok(SignedTx {
                    tx,
                    last_valid_block_height,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(ClientError::Timeout(
            "a fresh blockhash to send the same instructions again".into(),
        ))
    }

    /// Signs and sends, re-signing only after the previous blockhash expired.
    pub async fn send(
        &self,
        ixs: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> Result<TxOutcome> {
        let mut attempt = 0;
        loop {
            let signed = self.sign(ixs, payer, signers).await?;
            match self.send_signed(&signed).await {
                Err(ClientError::BlockhashExpired) if attempt < self.options.max_retries => {
                    attempt += 1;
                    tracing::debug!(attempt, "blockhash expired before landing; re-signing");
                }
                other => return other,
            }
        }
    }

    /// Sends an already signed transaction, retrying transient failures with
    /// the same signature until it lands, fails by a program's verdict, or its
    /// blockhash expires (`BlockhashExpired`: it can no longer land).
    pub async fn send_signed(&self, signed: &SignedTx) -> Result<TxOutcome> {
        let signature = signed.tx.signatures[0];
        let mut pause = self.options.backoff;
        let mut attempt = 0;
        loop {
            match self.chain.send_transaction(&signed.tx).await {
                Ok(outcome) => return Ok(outcome),
                Err(e) if e.is_transient() => {
                    // It may have landed even though we heard no answer.
                    if let Ok(SignatureStatus::Landed { slot, error }) =
                        self.chain.signature_status(&signature).await
                    {
                        return match error {
                            None => Ok(TxOutcome {
                                signature,
                                slot,
                                logs: vec![],
                                compute_units: None,
                            }),
                            Some(err) => Err(crate::error::from_transaction_error(err, vec![])),
                        };
                    }
                    if let Ok(height) = self.chain.block_height().await {
                        if height > signed.last_valid_block_height {
                            return Err(ClientError::BlockhashExpired);
                        }
                    }
                    if attempt >= self.options.max_retries {
                        return Err(e);
                    }
                    attempt += 1;
                    tracing::debug!(%signature, attempt, error = %e, "transient send failure; retrying");
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                }
                Err(e) => return Err(e),
            }
        }
    }
}
