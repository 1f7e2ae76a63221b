//! [`Chain`] over Solana's JSON-RPC and websocket APIs (`solana-client`), for
//! any cluster: `gpumkt localnet`, devnet, mainnet-beta.

use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use async_trait::async_trait;
use futures::StreamExt;
use solana_client::nonblocking::pubsub_client::PubsubClient;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::{
    RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSendTransactionConfig,
};
use solana_client::rpc_filter::{Memcmp, RpcFilterType};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client_api::client_error::{Error as RpcClientError, ErrorKind};
use solana_rpc_client_api::request::{RpcError, RpcResponseErrorData};
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::Transaction;
use tokio::sync::mpsc;

use super::{AccountUpdate, Chain, ChainClock, Filter, SignatureStatus, TxOutcome};
use crate::error::{from_transaction_error, ClientError, Result};

pub struct RpcChain {
    client: RpcClient,
    url: String,
    ws_url: String,
    commitment: CommitmentConfig,
    /// How long `send_transaction` waits for a landing before giving up.
    pub confirm_timeout: Duration,
}

/// The websocket URL Solana's tools pair with an RPC URL: same host, port + 1
/// (8899 -> 8900), http -> ws, https -> wss.
pub fn websocket_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", r)) => ("wss", r),
        Some((_, r)) => ("ws", r),
        None => ("ws", url),
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let hostport = match hostport.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.contains('[') => {
            match port.parse::<u16>() {
                Ok(p) => format!("{host}:{}", p.wrapping_add(1)),
                Err(_) => hostport.to_string(),
            }
        }
        _ => hostport.to_string(),
    };
    format!("{scheme}://{hostport}{path}")
}

impl RpcChain {
    pub fn new(url: &str) -> Self {
        Self::with_ws(url, &websocket_url(url))
    }

    pub fn with_ws(url: &str, ws_url: &str) -> Self {
        let commitment = CommitmentConfig::confirmed();
        Self {
            client: RpcClient::new_with_timeout_and_commitment(
                url.to_string(),
                Duration::from_secs(30),
                commitment,
            ),
            url: url.to_string(),
            ws_url: ws_url.to_string(),
            commitment,
            confirm_timeout: Duration::from_secs(90),
        }
    }

    fn map_err(&self, e: RpcClientError) -> ClientError {
        if let Some(tx_err) = e.get_transaction_error() {
            let logs = match e.kind() {
                ErrorKind::RpcError(RpcError::RpcResponseError {
                    data: RpcResponseErrorData::SendTransactionPreflightFailure(sim),
                    ..
                }) => sim.logs.clone().unwrap_or_default(),
                _ => vec![],
            };
            return from_transaction_error(tx_err, logs);
        }
        // Some client calls wrap transport failures in a message (e.g.
        // get_account's "AccountNotFound: ...: error sending request"); the
        // transport's own wording is what tells them apart from a node's answer.
        let text = e.to_string();
        let transport = [
            "error sending request",
            "onnection refused",
            "dns error",
            "operation timed out",
            "connection reset",
        ]
        .iter()
        .any(|needle| text.contains(needle));
        match e.kind() {
            _ if transport => ClientError::Unreachable {
                url: self.url.clone(),
                detail: text,
            },
            ErrorKind::Io(_) | ErrorKind::Reqwest(_) => ClientError::Unreachable {
                url: self.url.clone(),
                detail: e.to_string(),
            },
            _ => ClientError::Rpc {
                url: self.url.clone(),
                detail: e.to_string(),
            },
        }
    }
}

fn to_rpc_filters(filters: &[Filter]) -> Vec<RpcFilterType> {
    filters
        .iter()
        .map(|f| match f {
            Filter::DataSize(n) => RpcFilterType::DataSize(*n),
            Filter::Memcmp { offset, bytes } => {
                RpcFilterType::Memcmp(Memcmp::new_raw_bytes(*offset, bytes.clone()))
            }
        })
        .collect()
}

fn base64_config(commitment: CommitmentConfig) -> RpcAccountInfoConfig {
    RpcAccountInfoConfig {
        encoding: Some(solana_client::rpc_config::UiAccountEncoding::Base64),
        commitment: Some(commitment),
        ..Default::default()
    }
}

#[async_trait]
impl Chain for RpcChain {
    fn describe(&self) -> String {
        self.url.clone()
    }

    async fn latest_blockhash(&self) -> Result<(Hash, u64)> {
        self.client
            .get_latest_blockhash_with_commitment(self.commitment)
            .await
            .map_err(|e| self.map_err(e))
    }

    async fn block_height(&self) -> Result<u64> {
        self.client
            .get_block_height()
            .await
            .map_err(|e| self.map_err(e))
    }

    async fn send_transaction(&self, tx: &Transaction) -> Result<TxOutcome> {
        let config = RpcSendTransactionConfig {
            skip_preflight: false,
            preflight_commitment: Some(self.commitment.commitment),
            max_retries: Some(0),
            ..Default::default()
        };
        let signature = match self.client.send_transaction_with_config(tx, config).await {
            Ok(sig) => sig,
            Err(e) => match self.map_err(e) {
                // The same signed bytes landed before: report that landing, as
                // the embedded chain does, so re-sending a journaled
                // transaction is safe on either.
                ClientError::Transaction {
                    error: solana_sdk::transaction::TransactionError::AlreadyProcessed,
                    ..
                } => tx.signatures[0],
                other => return Err(other),
            },
        };
        let started = Instant::now();
        loop {
            match self.signature_status(&signature).await? {
                SignatureStatus::Landed { slot, error: None } => {
                    return Ok(TxOutcome {
                        signature,
                        slot,
                        logs: vec![],
                        compute_units: None,
                    })
                }
                SignatureStatus::Landed {
                    error: Some(err), ..
                } => return Err(from_transaction_error(err, vec![])),
                SignatureStatus::Unknown => {}
            }
            let valid = self
                .client
                .is_blockhash_valid(&tx.message.recent_blockhash, self.commitment)
                .await
                .map_err(|e| self.map_err(e))?;
            if !valid {
                // One last look: it may have landed just before expiring.
                if let SignatureStatus::Landed { slot, error } =
                    self.signature_status(&signature).await?
                {
                    return match error {
                        None => Ok(TxOutcome {
                            signature,
                            slot,
                            logs: vec![],
                            compute_units: None,
                        }),
                        Some(err) => Err(from_transaction_error(err, vec![])),
                    };
                }
                return Err(ClientError::BlockhashExpired);
            }
            if started.elapsed() > self.confirm_timeout {
                return Err(ClientError::Timeout(format!("confirmation of {signature}")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn signature_status(&self, signature: &Signature) -> Result<SignatureStatus> {
        let statuses = self
            .client
            .get_signature_statuses(&[*signature])
            .await
            .map_err(|e| self.map_err(e))?
            .value;
        Ok(match statuses.into_iter().next().flatten() {
            Some(s) if s.satisfies_commitment(self.commitment) || s.err.is_some() => {
                SignatureStatus::Landed {
                    slot: s.slot,
                    error: s.err,
                }
            }
            _ => SignatureStatus::Unknown,
        })
    }

    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>> {
        self.client
            .get_account_with_commitment(key, self.commitment)
            .await
            .map(|r| r.value)
            .map_err(|e| self.map_err(e))
    }

    async fn get_multiple_accounts(&self, keys: &[Pubkey]) -> Result<Vec<Option<Account>>> {
        let mut out = Vec::with_capacity(keys.len());
        // The RPC API caps one call at 100 accounts.
        for chunk in keys.chunks(100) {
            let got = self
                .client
                .get_multiple_accounts_with_commitment(chunk, self.commitment)
                .await
                .map_err(|e| self.map_err(e))?
                .value;
            out.extend(got);
        }
        Ok(out)
    }

    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        filters: &[Filter],
    ) -> Result<Vec<(Pubkey, Account)>> {
        let config = RpcProgramAccountsConfig {
            filters: Some(to_rpc_filters(filters)),
            account_config: base64_config(self.commitment),
            ..Default::default()
        };
        self.client
            .get_program_ui_accounts_with_config(program, config)
            .await
            .map_err(|e| self.map_err(e))?
            .into_iter()
            .map(|(k, ui)| {
                ui.decode::<Account>()
                    .map(|a| (k, a))
                    .ok_or_else(|| ClientError::Rpc {
                        url: self.url.clone(),
                        detail: format!("undecodable account {k}"),
                    })
            })
            .collect()
    }

    async fn clock(&self) -> Result<ChainClock> {
        let account = self
            .get_account(&solana_sdk::sysvar::clock::ID)
            .await?
            .ok_or(ClientError::AccountNotFound(solana_sdk::sysvar::clock::ID))?;
        let clock: Clock = bincode_clock(&account.data).ok_or_else(|| ClientError::Rpc {
            url: self.url.clone(),
            detail: "undecodable Clock sysvar".into(),
        })?;
        Ok(ChainClock {
            slot: clock.slot,
            unix_timestamp: clock.unix_timestamp,
        })
    }

    async fn subscribe_program(
        &self,
        program: &Pubkey,
    ) -> Result<mpsc::UnboundedReceiver<AccountUpdate>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let client =
            PubsubClient::new(&self.ws_url)
                .await
                .map_err(|e| ClientError::Unreachable {
                    url: self.ws_url.clone(),
                    detail: e.to_string(),
                })?;
        let program = *program;
        let config = RpcProgramAccountsConfig {
            account_config: base64_config(self.commitment),
            ..Default::default()
        };
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _unsubscribe) =
                match client.program_subscribe(&program, Some(config)).await {
                    Ok(s) => {
                        let _ = ready_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
            while let Some(update) = stream.next().await {
                let Ok(pubkey) = update.value.pubkey.parse::<Pubkey>() else {
                    continue;
                };
                // A closed account arrives as Solana's default account (no
                // lamports); report it as `None`, as the embedded chain does.
                let account = update
                    .value
                    .account
                    .decode::<Account>()
                    .filter(|a| a.lamports > 0);
                let msg = AccountUpdate {
                    pubkey,
                    account,
                    slot: update.context.slot,
                };
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        match ready_rx.await {
            Ok(Ok(())) => Ok(rx),
            Ok(Err(detail)) => Err(ClientError::Rpc {
                url: self.ws_url.clone(),
                detail,
            }),
            Err(_) => Err(ClientError::Unreachable {
                url: self.ws_url.clone(),
                detail: "subscription task ended".into(),
            }),
        }
    }

    async fn minimum_balance_for_rent_exemption(&self, data_len: usize) -> Result<u64> {
        self.client
            .get_minimum_balance_for_rent_exemption(data_len)
            .await
            .map_err(|e| self.map_err(e))
    }

    async fn get_balance(&self, key: &Pubkey) -> Result<u64> {
        self.client
            .get_balance_with_commitment(key, self.commitment)
            .await
            .map(|r| r.value)
            .map_err(|e| self.map_err(e))
    }

    async fn request_airdrop(&self, to: &Pubkey, lamports: u64) -> Result<()> {
        let signature = self
            .client
            .request_airdrop(to, lamports)
            .await
            .map_err(|e| self.map_err(e))?;
        let started = Instant::now();
        loop {
            if let SignatureStatus::Landed { error, .. } = self.signature_status(&signature).await?
            {
                return match error {
                    None => Ok(()),
                    Some(e) => Err(from_transaction_error(e, vec![])),
                };
            }
            if started.elapsed() > self.confirm_timeout {
                return Err(ClientError::Timeout(format!("airdrop {signature}")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The Clock sysvar's fixed layout: slot, epoch_start_timestamp, epoch,
/// leader_schedule_epoch, unix_timestamp (5 little-endian 8-byte fields).
fn bincode_clock(data: &[u8]) -> Option<Clock> {
    let field = |i: usize| -> Option<[u8; 8]> { data.get(i * 8..i * 8 + 8)?.try_into().ok() };
    Some(Clock {
        slot: u64::from_le_bytes(field(0)?),
        epoch_start_timestamp: i64::from_le_bytes(field(1)?),
        epoch: u64::from_le_bytes(field(2)?),
        leader_schedule_epoch: u64::from_le_bytes(field(3)?),
        unix_timestamp: i64::from_le_bytes(field(4)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls_follow_solana_conventions() {
        assert_eq!(
            websocket_url("http://127.0.0.1:8899"),
            "ws://127.0.0.1:8900"
        );
        assert_eq!(
            websocket_url("https://api.devnet.solana.com"),
            "wss://api.devnet.solana.com"
        );
        assert_eq!(
            websocket_url("http://localhost:1234/rpc"),
            "ws://localhost:1235/rpc"
        );
    }

    #[test]
    fn clock_layout() {
        let mut data = Vec::new();
        for v in [7u64, 100, 2, 3, 1_700_000_000] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        let c = bincode_clock(&data).unwrap();
        assert_eq!((c.slot, c.epoch, c.unix_timestamp), (7, 2, 1_700_000_000));
        assert!(bincode_clock(&data[..30]).is_none());
    }
}
