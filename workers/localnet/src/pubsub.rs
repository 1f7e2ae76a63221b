//! The websocket subscriptions. Account changes flow from the embedded
//! chain's subscription channels (fed after every transaction it executes)
//! into `accountNotification` / `programNotification` messages, encoded and
//! filtered as Solana's pubsub service does; `signatureNotification` is sent
//! once the signature has landed. Slots flow from the node's slot watcher
//! into `slotNotification` and `rootNotification` (every slot is a root
//! here), and transactions recorded by [`Node::submit`] into
//! `logsNotification`, filtered by `all`, `allWithVotes` or `mentions`.
//! Subscription ids are jsonrpsee's random integers, which is the number
//! Solana clients expect.

use std::sync::Arc;
use std::time::Duration;

use gpu_market_client::chain::{AccountUpdate, Chain, SignatureStatus};
use jsonrpsee::server::{
    PendingSubscriptionSink, RegisterMethodError, RpcModule, SubscriptionSink,
};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde::Serialize;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_rpc_client_types::config::{
    RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSignatureSubscribeConfig,
    RpcTransactionLogsConfig, RpcTransactionLogsFilter,
};
use solana_rpc_client_types::response::{
    ProcessedSignatureResult, Response, RpcKeyedAccount, RpcLogsResponse, RpcResponseContext,
    RpcSignatureResult,
};
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use tokio::sync::{broadcast, mpsc};

use crate::encode;
use crate::error::{self, RpcResult};
use crate::node::Node;
use crate::params::{self, Args};

/// How often a pending `signatureSubscribe` looks for its signature.
const SIGNATURE_POLL: Duration = Duration::from_millis(100);

pub(crate) fn module(node: Arc<Node>) -> Result<RpcModule<Arc<Node>>, RegisterMethodError> {
    let mut m = RpcModule::new(node);
    m.register_subscription(
        "accountSubscribe",
        "accountNotification",
        "accountUnsubscribe",
        |params, pending, node, _| async move { account(params, pending, Arc::clone(&node)).await },
    )?;
    m.register_subscription(
        "programSubscribe",
        "programNotification",
        "programUnsubscribe",
        |params, pending, node, _| async move { program(params, pending, Arc::clone(&node)).await },
    )?;
    m.register_subscription(
        "signatureSubscribe",
        "signatureNotification",
        "signatureUnsubscribe",
        |params, pending, node, _| async move {
            signature(params, pending, Arc::clone(&node)).await
        },
    )?;
    m.register_subscription(
        "slotSubscribe",
        "slotNotification",
        "slotUnsubscribe",
        |params, pending, node, _| async move { slot(params, pending, Arc::clone(&node), false).await },
    )?;
    m.register_subscription(
        "rootSubscribe",
        "rootNotification",
        "rootUnsubscribe",
        |params, pending, node, _| async move { slot(params, pending, Arc::clone(&node), true).await },
    )?;
    m.register_subscription(
        "logsSubscribe",
        "logsNotification",
        "logsUnsubscribe",
        |params, pending, node, _| async move { logs(params, pending, Arc::clone(&node)).await },
    )?;
    Ok(m)
}

/// Notifications carry only the slot in their context, as Solana's do.
fn notification<T>(slot: u64, value: T) -> Response<T> {
    Response {
        context: RpcResponseContext {
            slot,
            api_version: None,
        },
        value,
    }
}

async fn send(sink: &SubscriptionSink, value: &impl Serialize) -> Result<(), ()> {
    let raw = serde_json::value::to_raw_value(value).map_err(|_| ())?;
    sink.send(raw).await.map_err(|_| ())
}

/// What Solana sends for an account that no longer exists: the default
/// account (no lamports, no data, owned by the system program).
fn closed_account() -> Account {
    Account {
        lamports: 0,
        data: Vec::new(),
        owner: solana_system_interface::program::ID,
        executable: false,
        rent_epoch: 0,
    }
}

/// The next update, or `None` once the subscriber or the chain is gone.
async fn next(
    sink: &SubscriptionSink,
    updates: &mut mpsc::UnboundedReceiver<AccountUpdate>,
) -> Option<AccountUpdate> {
    tokio::select! {
        _ = sink.closed() => None,
        u = updates.recv() => u,
    }
}

/// Parses and validates, or answers the subscribe call with the error.
async fn accept<T>(
    pending: PendingSubscriptionSink,
    parsed: Result<T, ErrorObjectOwned>,
) -> Option<(T, SubscriptionSink)> {
    match parsed {
        Ok(v) => pending.accept().await.ok().map(|sink| (v, sink)),
        Err(e) => {
            pending.reject(e).await;
            None
        }
    }
}

fn account_params(params: &Params) -> RpcResult<(Pubkey, RpcAccountInfoConfig)> {
    let args = Args::parse(params)?;
    args.at_most(2)?;
    let key = params::pubkey(&args.required::<String>(0, "pubkey")?)?;
    Ok((key, args.config(1)?))
}

async fn account(params: Params<'static>, pending: PendingSubscriptionSink, node: Arc<Node>) {
    let parsed = account_params(&params);
    // Listen before answering, so no change after the answer is missed.
    let mut updates = node.chain.subscribe_all();
    let Some(((key, config), sink)) = accept(pending, parsed).await else {
        return;
    };
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
    while let Some(update) = next(&sink, &mut updates).await {
        if update.pubkey != key {
            continue;
        }
        let account = update.account.unwrap_or_else(closed_account);
        let ui =
            encode::account_unchecked(&node.chain, &key, &account, encoding, config.data_slice)
                .await;
        if send(&sink, &notification(update.slot, ui)).await.is_err() {
            return;
        }
    }
}

fn program_params(params: &Params) -> RpcResult<(Pubkey, RpcProgramAccountsConfig)> {
    let args = Args::parse(params)?;
    args.at_most(2)?;
    let program = params::pubkey(&args.required::<String>(0, "programId")?)?;
    let config: RpcProgramAccountsConfig = args.config(1)?;
    encode::verify_filters(config.filters.as_deref().unwrap_or_default())?;
    Ok((program, config))
}

async fn program(params: Params<'static>, pending: PendingSubscriptionSink, node: Arc<Node>) {
    let parsed = program_params(&params);
    let mut updates = match &parsed {
        Ok((program, _)) => match node.chain.subscribe_program(program).await {
            Ok(rx) => rx,
            Err(e) => return pending.reject(error::chain(e)).await,
        },
        Err(_) => mpsc::unbounded_channel().1,
    };
    let Some(((_, config), sink)) = accept(pending, parsed).await else {
        return;
    };
    let filters = config.filters.unwrap_or_default();
    let encoding = config
        .account_config
        .encoding
        .unwrap_or(UiAccountEncoding::Binary);
    while let Some(update) = next(&sink, &mut updates).await {
        let account = match update.account {
            Some(a) if filters.iter().all(|f| encode::filter_allows(f, &a)) => a,
            Some(_) => continue,
            // A validator never tells program subscribers that an account
            // closed (it is no longer the program's); we tell those who
            // filter nothing, with the account Solana reports for a closed one.
            None if filters.is_empty() => closed_account(),
            None => continue,
        };
        let ui = encode::account_unchecked(
            &node.chain,
            &update.pubkey,
            &account,
            encoding,
            config.account_config.data_slice,
        )
        .await;
        let value = RpcKeyedAccount {
            pubkey: update.pubkey.to_string(),
            account: ui,
        };
        if send(&sink, &notification(update.slot, value))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn signature_params(
    params: &Params,
) -> RpcResult<(
    solana_sdk::signature::Signature,
    RpcSignatureSubscribeConfig,
)> {
    let args = Args::parse(params)?;
    args.at_most(2)?;
    let sig = params::signature(&args.required::<String>(0, "signature")?)?;
    Ok((sig, args.config(1)?))
}

/// One notification when the signature lands, then the subscription ends, as
/// Solana's does. (`enableReceivedNotification` has no meaning here: the node
/// executes a transaction in the same step as receiving it.)
async fn signature(params: Params<'static>, pending: PendingSubscriptionSink, node: Arc<Node>) {
    let Some(((sig, _config), sink)) = accept(pending, signature_params(&params)).await else {
        return;
    };
    let mut poll = tokio::time::interval(SIGNATURE_POLL);
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            _ = poll.tick() => {}
        }
        match node.chain.signature_status(&sig).await {
            Ok(SignatureStatus::Unknown) => continue,
            Ok(SignatureStatus::Landed { slot, error }) => {
                let value = RpcSignatureResult::ProcessedSignature(ProcessedSignatureResult {
                    err: error.map(Into::into),
                });
                let _ = send(&sink, &notification(slot, value)).await;
                return;
            }
            Err(e) => {
                tracing::debug!(%sig, error = %e, "signature subscription ended");
                return;
            }
        }
    }
}

/// The next item of a broadcast, or `None` once the subscriber or the node is
/// gone. A subscriber that fell behind skips what it missed, as a lagging
/// websocket client of a validator does.
async fn next_broadcast<T: Clone>(
    sink: &SubscriptionSink,
    items: &mut broadcast::Receiver<T>,
) -> Option<T> {
    loop {
        tokio::select! {
            _ = sink.closed() => return None,
            r = items.recv() => match r {
                Ok(item) => return Some(item),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "a subscriber fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
        }
    }
}

/// `slotSubscribe` sends Solana's `{parent, root, slot}`; `rootSubscribe`
/// the bare root slot. Neither takes parameters.
async fn slot(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    node: Arc<Node>,
    root: bool,
) {
    let parsed = Args::parse(&params).and_then(|a| a.at_most(0).map(|_| ()));
    let mut slots = node.slots.subscribe();
    let Some(((), sink)) = accept(pending, parsed).await else {
        return;
    };
    while let Some(info) = next_broadcast(&sink, &mut slots).await {
        let sent = if root {
            send(&sink, &info.root).await
        } else {
            send(&sink, &info).await
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Which transactions a logs subscription hears about.
enum LogsFilter {
    /// `all` and `allWithVotes` (the node has no vote transactions).
    All,
    Mentions(Pubkey),
}

fn logs_params(params: &Params) -> RpcResult<LogsFilter> {
    let args = Args::parse(params)?;
    args.at_most(2)?;
    let filter: RpcTransactionLogsFilter = args.required(0, "filter")?;
    let _: Option<RpcTransactionLogsConfig> = args.optional(1, "config")?;
    Ok(match filter {
        RpcTransactionLogsFilter::All | RpcTransactionLogsFilter::AllWithVotes => LogsFilter::All,
        RpcTransactionLogsFilter::Mentions(addresses) => match addresses.as_slice() {
            [one] => LogsFilter::Mentions(params::pubkey(one)?),
            _ => {
                return Err(error::invalid_params(
                    "Invalid Request: Only 1 address supported",
                ))
            }
        },
    })
}

async fn logs(params: Params<'static>, pending: PendingSubscriptionSink, node: Arc<Node>) {
    let parsed = logs_params(&params);
    let mut landed = node.landed.subscribe();
    let Some((filter, sink)) = accept(pending, parsed).await else {
        return;
    };
    while let Some(t) = next_broadcast(&sink, &mut landed).await {
        if let LogsFilter::Mentions(address) = &filter {
            if !t.mentions(address) {
                continue;
            }
        }
        let value = RpcLogsResponse {
            signature: t.signature.to_string(),
            err: t.err.clone().map(Into::into),
            logs: t.logs.clone(),
        };
        if send(&sink, &notification(t.slot, value)).await.is_err() {
            return;
        }
    }
}
