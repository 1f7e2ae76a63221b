//! [`Chain`] for the embedded chain: transactions go to the bank through
//! `BanksClient` under the shared side of the context lock (so a clock warp
//! never freezes a bank under them), and their writable accounts are
//! re-indexed afterwards; reads go straight to the bank; scans read the
//! owner index.

use anchor_lang::prelude::Pubkey;
use async_trait::async_trait;
use solana_commitment_config::CommitmentLevel;
use solana_sdk::account::Account;
use solana_sdk::hash::Hash;
use solana_sdk::signature::{Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError};
use tokio::sync::mpsc;

use super::stubs::rewrite_logs;
use super::{banks_err, EmbeddedChain};
use crate::chain::{AccountUpdate, Chain, ChainClock, Filter, SignatureStatus, TxOutcome};
use crate::error::{from_transaction_error, ClientError, Result};

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
        let keys = self.index.lock().unwrap().owned_by(program);
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
        Ok(self.index.lock().unwrap().subscribe(Some(*program)))
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
