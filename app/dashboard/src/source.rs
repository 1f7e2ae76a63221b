//! Where the history comes from: the three Solana RPC calls an indexer needs, behind
//! [`HistorySource`] so the follower's logic is tested without a network. [`RpcSource`]
//! serves them from any node (`gpumkt localnet`, devnet, a provider's RPC):
//! `getSignaturesForAddress` on the program id, newest first, paged with `before` and
//! bounded by `until`; `getTransaction` for one signature's slot, block time, logs and
//! message; `logsSubscribe` (mentions of the program) to hear of new transactions.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use solana_client::nonblocking::pubsub_client::PubsubClient;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_client::rpc_config::{
    RpcTransactionConfig, RpcTransactionLogsConfig, RpcTransactionLogsFilter,
};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::UiTransactionEncoding;
use tokio::sync::mpsc;

/// A failed RPC call, with the node and what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{method} at {url}: {detail}")]
    Rpc {
        method: &'static str,
        url: String,
        detail: String,
    },
    #[error("{method} at {url} returned a malformed answer: {detail}")]
    Malformed {
        method: &'static str,
        url: String,
        detail: String,
    },
}

pub type Result<T, E = SourceError> = std::result::Result<T, E>;

/// One line of `getSignaturesForAddress`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureInfo {
    pub signature: Signature,
    pub slot: u64,
    pub block_time: Option<i64>,
    /// The transaction failed (its events were rolled back).
    pub err: Option<String>,
}

/// A top-level instruction of a transaction: program, account keys, data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawInstruction {
    pub program: Pubkey,
    pub accounts: Vec<Pubkey>,
    pub data: Vec<u8>,
}

/// What `getTransaction` says about one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedTx {
    pub signature: Signature,
    pub slot: u64,
    pub block_time: Option<i64>,
    pub err: Option<String>,
    pub logs: Vec<String>,
    pub instructions: Vec<RawInstruction>,
}

#[async_trait]
pub trait HistorySource: Send + Sync {
    /// Where it reads from, for messages.
    fn describe(&self) -> String;

    /// Signatures of transactions that mention `address`, newest first: those older
    /// than `before` (when given) and newer than `until` (when given), at most `limit`.
    async fn signatures(
        &self,
        address: &Pubkey,
        before: Option<Signature>,
        until: Option<Signature>,
        limit: usize,
    ) -> Result<Vec<SignatureInfo>>;

    async fn transaction(&self, signature: &Signature) -> Result<FetchedTx>;

    /// A wake-up for each new transaction that mentions `address` (its signature). The
    /// stream ends when the subscription drops.
    async fn subscribe(&self, address: &Pubkey) -> Result<mpsc::UnboundedReceiver<Signature>>;
}

pub struct RpcSource {
    client: RpcClient,
    url: String,
    ws_url: String,
    commitment: CommitmentConfig,
}

impl RpcSource {
    pub fn new(url: &str, ws_url: &str) -> Self {
        // Confirmed, not finalized: a dashboard shows what landed within a second; the
        // rare confirmed transaction dropped by a fork stays in the history.
        let commitment = CommitmentConfig::confirmed();
        RpcSource {
            client: RpcClient::new_with_timeout_and_commitment(
                url.to_string(),
                Duration::from_secs(30),
                commitment,
            ),
            url: url.to_string(),
            ws_url: ws_url.to_string(),
            commitment,
        }
    }

    fn err(&self, method: &'static str) -> impl Fn(String) -> SourceError + '_ {
        move |detail| SourceError::Rpc {
            method,
            url: self.url.clone(),
            detail,
        }
    }
}

#[async_trait]
impl HistorySource for RpcSource {
    fn describe(&self) -> String {
        self.url.clone()
    }

    async fn signatures(
        &self,
        address: &Pubkey,
        before: Option<Signature>,
        until: Option<Signature>,
        limit: usize,
    ) -> Result<Vec<SignatureInfo>> {
        let method = "getSignaturesForAddress";
        let list = self
            .client
            .get_signatures_for_address_with_config(
                address,
                GetConfirmedSignaturesForAddress2Config {
                    before,
                    until,
                    limit: Some(limit),
                    commitment: Some(self.commitment),
                },
            )
            .await
            .map_err(|e| self.err(method)(e.to_string()))?;
        list.into_iter()
            .map(|s| {
                let signature = s.signature.parse().map_err(|e| SourceError::Malformed {
                    method,
                    url: self.url.clone(),
                    detail: format!("signature {:?}: {e}", s.signature),
                })?;
                Ok(SignatureInfo {
                    signature,
                    slot: s.slot,
                    block_time: s.block_time,
                    err: s.err.map(|e| format!("{e:?}")),
                })
            })
            .collect()
    }

    async fn transaction(&self, signature: &Signature) -> Result<FetchedTx> {
        let method = "getTransaction";
        let got = self
            .client
            .get_transaction_with_config(
                signature,
                RpcTransactionConfig {
                    encoding: Some(UiTransactionEncoding::Base64),
                    commitment: Some(self.commitment),
                    max_supported_transaction_version: Some(0),
                },
            )
            .await
            .map_err(|e| self.err(method)(e.to_string()))?;
        let malformed = |detail: &str| SourceError::Malformed {
            method,
            url: self.url.clone(),
            detail: format!("{signature}: {detail}"),
        };
        let meta = got
            .transaction
            .meta
            .ok_or_else(|| malformed("no status meta"))?;
        let tx = got
            .transaction
            .transaction
            .decode()
            .ok_or_else(|| malformed("the transaction does not decode"))?;
        // Account keys: the message's own, then those loaded from lookup tables
        // (writable first), as the runtime orders them.
        let mut keys: Vec<Pubkey> = tx.message.static_account_keys().to_vec();
        if let OptionSerializer::Some(loaded) = &meta.loaded_addresses {
            for k in loaded.writable.iter().chain(&loaded.readonly) {
                keys.push(k.parse().map_err(|_| malformed("a loaded address"))?);
            }
        }
        let instructions = tx
            .message
            .instructions()
            .iter()
            .filter_map(|ix| {
                Some(RawInstruction {
                    program: *keys.get(ix.program_id_index as usize)?,
                    accounts: ix
                        .accounts
                        .iter()
                        .map(|i| keys.get(*i as usize).copied())
                        .collect::<Option<Vec<_>>>()?,
                    data: ix.data.clone(),
                })
            })
            .collect();
        let logs = match meta.log_messages {
            OptionSerializer::Some(l) => l,
            _ => Vec::new(),
        };
        Ok(FetchedTx {
            signature: *signature,
            slot: got.slot,
            block_time: got.block_time,
            err: meta.err.map(|e| format!("{e:?}")),
            logs,
            instructions,
        })
    }

    async fn subscribe(&self, address: &Pubkey) -> Result<mpsc::UnboundedReceiver<Signature>> {
        let method = "logsSubscribe";
        let err = |detail: String| SourceError::Rpc {
            method,
            url: self.ws_url.clone(),
            detail,
        };
        let client = PubsubClient::new(&self.ws_url)
            .await
            .map_err(|e| err(e.to_string()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let filter = RpcTransactionLogsFilter::Mentions(vec![address.to_string()]);
        let config = RpcTransactionLogsConfig {
            commitment: Some(self.commitment),
        };
        tokio::spawn(async move {
            let (mut stream, _unsubscribe) = match client.logs_subscribe(filter, config).await {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            while let Some(n) = stream.next().await {
                let Ok(sig) = n.value.signature.parse::<Signature>() else {
                    continue;
                };
                if tx.send(sig).is_err() {
                    break;
                }
            }
        });
        match ready_rx.await {
            Ok(Ok(())) => Ok(rx),
            Ok(Err(detail)) => Err(err(detail)),
            Err(_) => Err(err("the subscription task ended".into())),
        }
    }
}
