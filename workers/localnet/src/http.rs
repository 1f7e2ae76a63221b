//! The HTTP JSON-RPC methods: each takes Solana's positional parameters and
//! config objects (the `solana-rpc-client-types` types, so mistyped fields
//! are refused and unknown ones ignored, as a validator does), reads or
//! writes the embedded chain through [`Node`], and answers with Solana's
//! response types.

use std::future::Future;
use std::sync::Arc;

use gpu_market_client::chain::Chain;
use jsonrpsee::server::{RegisterMethodError, RpcModule};
use serde::Serialize;
use serde_json::Value;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_types::config::{
    RpcAccountInfoConfig, RpcContextConfig, RpcProgramAccountsConfig, RpcRequestAirdropConfig,
    RpcSendTransactionConfig, RpcSignatureStatusConfig, RpcSimulateTransactionConfig,
};
use solana_rpc_client_types::filter::RpcFilterType;
use solana_rpc_client_types::response::{
    OptionalContext, Response, RpcBlockhash, RpcKeyedAccount, RpcSimulateTransactionResult,
    RpcVersionInfo,
};
use solana_sdk::epoch_info::EpochInfo;
use solana_sdk::epoch_schedule::EpochSchedule;
use solana_sdk::message::VersionedMessage;
use solana_sdk::transaction::Transaction;
use solana_transaction_status_client_types::TransactionBinaryEncoding;

use crate::encode;
use crate::error::{self, invalid_params, RpcResult};
use crate::node::{check_min_context_slot, Node, LAMPORTS_PER_SIGNATURE};
use crate::params::{self, Args};
use crate::sigverify;

/// Most accounts per `getMultipleAccounts` (Agave's `MAX_MULTIPLE_ACCOUNTS`).
const MAX_MULTIPLE_ACCOUNTS: usize = 100;
/// Most signatures per `getSignatureStatuses`.
const MAX_SIGNATURE_STATUSES: usize = 256;

pub(crate) type Module = RpcModule<Arc<Node>>;

/// Every HTTP method, registered on one module.
pub(crate) fn module(node: Arc<Node>) -> Result<Module, RegisterMethodError> {
    let mut m = RpcModule::new(node);
    method(&mut m, "getVersion", get_version)?;
    method(&mut m, "getHealth", get_health)?;
    method(&mut m, "getGenesisHash", get_genesis_hash)?;
    method(&mut m, "getSlot", get_slot)?;
    method(&mut m, "getBlockHeight", get_block_height)?;
    method(&mut m, "getEpochInfo", get_epoch_info)?;
    method(&mut m, "getLatestBlockhash", get_latest_blockhash)?;
    method(&mut m, "isBlockhashValid", is_blockhash_valid)?;
    method(&mut m, "getFeeForMessage", get_fee_for_message)?;
    method(
        &mut m,
        "getMinimumBalanceForRentExemption",
        get_minimum_balance_for_rent_exemption,
    )?;
    method(&mut m, "getBalance", get_balance)?;
    method(&mut m, "getAccountInfo", get_account_info)?;
    method(&mut m, "getMultipleAccounts", get_multiple_accounts)?;
    method(&mut m, "getProgramAccounts", get_program_accounts)?;
    method(&mut m, "sendTransaction", send_transaction)?;
    method(&mut m, "simulateTransaction", simulate_transaction)?;
    method(&mut m, "getSignatureStatuses", get_signature_statuses)?;
    method(&mut m, "requestAirdrop", request_airdrop)?;
    crate::transactions::register(&mut m)?;
    crate::token::register(&mut m)?;
    Ok(m)
}

/// Registers an async handler that receives parsed positional arguments.
pub(crate) fn method<F, Fut>(
    m: &mut Module,
    name: &'static str,
    handler: F,
) -> Result<(), RegisterMethodError>
where
    F: Fn(Arc<Node>, Args) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = RpcResult<Value>> + Send + 'static,
{
    m.register_async_method(name, move |params, node, _| {
        let handler = handler.clone();
        async move {
            let args = Args::parse(&params)?;
            let result = handler(Arc::clone(&node), args).await;
            if let Err(e) = &result {
                tracing::debug!(
                    method = name,
                    code = e.code(),
                    message = e.message(),
                    "request refused"
                );
            }
            result
        }
    })?;
    Ok(())
}

pub(crate) fn json(value: impl Serialize) -> RpcResult<Value> {
    serde_json::to_value(value).map_err(error::internal)
}

async fn response<T: Serialize>(
    node: &Node,
    min_context_slot: Option<u64>,
    value: T,
) -> RpcResult<Value> {
    let context = node.context(min_context_slot).await?;
    json(Response { context, value })
}

async fn get_version(_: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(0)?;
    let version = solana_version::Version::default();
    json(RpcVersionInfo {
        solana_core: version.to_string(),
        feature_set: Some(version.feature_set),
    })
}

async fn get_health(_: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(0)?;
    json("ok")
}

async fn get_genesis_hash(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(0)?;
    json(node.chain.genesis_hash().await.to_string())
}

async fn get_slot(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    let config: RpcContextConfig = args.at_most(1)?.config(0)?;
    json(node.context(config.min_context_slot).await?.slot)
}

async fn get_block_height(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    let config: RpcContextConfig = args.at_most(1)?.config(0)?;
    node.context(config.min_context_slot).await?;
    json(node.block_height().await?)
}

async fn get_epoch_info(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    let config: RpcContextConfig = args.at_most(1)?.config(0)?;
    let slot = node.context(config.min_context_slot).await?.slot;
    let block_height = node.block_height().await?;
    let schedule_account = node
        .chain
        .get_account(&solana_sdk::sysvar::epoch_schedule::ID)
        .await
        .map_err(error::chain)?
        .ok_or_else(|| error::internal("the EpochSchedule sysvar is missing"))?;
    let schedule: EpochSchedule =
        bincode::deserialize(&schedule_account.data).map_err(error::internal)?;
    let (epoch, slot_index) = schedule.get_epoch_and_slot_index(slot);
    json(EpochInfo {
        epoch,
        slot_index,
        slots_in_epoch: schedule.get_slots_in_epoch(epoch),
        absolute_slot: slot,
        block_height,
        // The bank's transaction counter is not reachable through BanksClient.
        transaction_count: None,
    })
}

async fn get_latest_blockhash(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    let config: RpcContextConfig = args.at_most(1)?.config(0)?;
    let (hash, last_valid_block_height) = node.latest_blockhash().await?;
    response(
        &node,
        config.min_context_slot,
        RpcBlockhash {
            blockhash: hash.to_string(),
            last_valid_block_height,
        },
    )
    .await
}

async fn is_blockhash_valid(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let hash = params::hash(&args.required::<String>(0, "blockhash")?)?;
    let config: RpcContextConfig = args.config(1)?;
    let valid = node.is_blockhash_valid(&hash).await?;
    response(&node, config.min_context_slot, valid).await
}

async fn get_fee_for_message(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let data: String = args.required(0, "message")?;
    let config: RpcContextConfig = args.config(1)?;
    let message: VersionedMessage =
        encode::decode_and_deserialize(data, TransactionBinaryEncoding::Base64)?;
    message
        .sanitize()
        .map_err(|e| invalid_params(format!("invalid transaction message: {e}")))?;
    // As a validator: no fee for a message whose blockhash can no longer land.
    // Only the signature fee is counted (no priority fee).
    let fee = if node.is_blockhash_valid(message.recent_blockhash()).await? {
        Some(u64::from(message.header().num_required_signatures) * LAMPORTS_PER_SIGNATURE)
    } else {
        None
    };
    response(&node, config.min_context_slot, fee).await
}

async fn get_minimum_balance_for_rent_exemption(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let data_len: usize = args.required(0, "dataLength")?;
    let _: RpcContextConfig = args.config(1)?;
    json(
        node.chain
            .minimum_balance_for_rent_exemption(data_len)
            .await
            .map_err(error::chain)?,
    )
}

async fn get_balance(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let key = params::pubkey(&args.required::<String>(0, "pubkey")?)?;
    let config: RpcContextConfig = args.config(1)?;
    let lamports = node.chain.get_balance(&key).await.map_err(error::chain)?;
    response(&node, config.min_context_slot, lamports).await
}

async fn get_account_info(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let key = params::pubkey(&args.required::<String>(0, "pubkey")?)?;
    let config: RpcAccountInfoConfig = args.config(1)?;
    let context = node.context(config.min_context_slot).await?;
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
    let value = match node.chain.get_account(&key).await.map_err(error::chain)? {
        Some(a) => Some(encode::account(&node.chain, &key, &a, encoding, config.data_slice).await?),
        None => None,
    };
    json(Response { context, value })
}

async fn get_multiple_accounts(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let keys: Vec<String> = args.required(0, "pubkeys")?;
    if keys.len() > MAX_MULTIPLE_ACCOUNTS {
        return Err(invalid_params(format!(
            "Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}"
        )));
    }
    let keys = keys
        .iter()
        .map(|k| params::pubkey(k))
        .collect::<RpcResult<Vec<_>>>()?;
    let config: RpcAccountInfoConfig = args.config(1)?;
    let context = node.context(config.min_context_slot).await?;
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Base64);
    let mut value = Vec::with_capacity(keys.len());
    for (key, account) in keys.iter().zip(
        node.chain
            .get_multiple_accounts(&keys)
            .await
            .map_err(error::chain)?,
    ) {
        value.push(match account {
            Some(a) => {
                Some(encode::account(&node.chain, key, &a, encoding, config.data_slice).await?)
            }
            None => None,
        });
    }
    json(Response { context, value })
}

async fn get_program_accounts(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let program = params::pubkey(&args.required::<String>(0, "programId")?)?;
    let config: RpcProgramAccountsConfig = args.config(1)?;
    let filters = config.filters.unwrap_or_default();
    if filters.len() > encode::MAX_FILTERS {
        return Err(invalid_params(format!(
            "Too many filters provided; max {}",
            encode::MAX_FILTERS
        )));
    }
    encode::verify_filters(&filters)?;
    let account_config = config.account_config;
    let context = node.context(account_config.min_context_slot).await?;
    let encoding = account_config.encoding.unwrap_or(UiAccountEncoding::Binary);
    // The chain's scan returns accounts in address order, which is what
    // `sortResults` (default true) asks for.
    let scanned = node
        .chain
        .get_program_accounts(&program, &[])
        .await
        .map_err(error::chain)?;
    let mut accounts = Vec::new();
    for (key, account) in scanned {
        if !filters
            .iter()
            .all(|f: &RpcFilterType| encode::filter_allows(f, &account))
        {
            continue;
        }
        accounts.push(RpcKeyedAccount {
            pubkey: key.to_string(),
            account: encode::account(
                &node.chain,
                &key,
                &account,
                encoding,
                account_config.data_slice,
            )
            .await?,
        });
    }
    json(if config.with_context.unwrap_or_default() {
        OptionalContext::Context(Response {
            context,
            value: accounts,
        })
    } else {
        OptionalContext::NoContext(accounts)
    })
}

/// The simulation result a failed preflight carries, as a validator fills it.
fn preflight_result(
    sim: &gpu_market_client::chain::embedded::Simulation,
) -> RpcSimulateTransactionResult {
    RpcSimulateTransactionResult {
        err: sim.error.clone().map(Into::into),
        logs: Some(sim.logs.clone()),
        accounts: None,
        units_consumed: Some(sim.units_consumed),
        loaded_accounts_data_size: None,
        return_data: None,
        inner_instructions: None,
        replacement_blockhash: None,
        fee: None,
        pre_balances: None,
        post_balances: None,
        pre_token_balances: None,
        post_token_balances: None,
        loaded_addresses: None,
    }
}

async fn send_transaction(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let data: String = args.required(0, "transaction")?;
    let config: RpcSendTransactionConfig = args.config(1)?;
    let tx = encode::transaction(data, config.encoding)?;
    check_min_context_slot(node.slot().await?, config.min_context_slot)?;
    // Before anything else and whatever the client asked: `skipPreflight`
    // skips the simulation, never the signatures (see `sigverify`).
    sigverify::verify(&tx)?;
    let signature = tx.signatures[0];
    if !config.skip_preflight {
        let sim = node.chain.simulate(&tx).await.map_err(error::chain)?;
        if let Some(err) = &sim.error {
            return Err(error::custom(
                RpcCustomError::SendTransactionPreflightFailure {
                    message: format!("Transaction simulation failed: {err}"),
                    result: preflight_result(&sim),
                },
            ));
        }
    }
    // A validator answers with the signature once the transaction is queued,
    // whatever becomes of it; here it has been executed by the time we answer,
    // and a failure shows in getSignatureStatuses as it would there.
    match node.submit(&tx).await {
        Ok(_) => {}
        Err(e @ gpu_market_client::error::ClientError::Unreachable { .. }) => {
            return Err(error::chain(e))
        }
        Err(e) => tracing::debug!(%signature, error = %e, "transaction failed on execution"),
    }
    json(signature.to_string())
}

async fn simulate_transaction(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let data: String = args.required(0, "transaction")?;
    let config: RpcSimulateTransactionConfig = args.config(1)?;
    let mut tx: Transaction = encode::transaction(data, config.encoding)?;
    let context = node.context(config.min_context_slot).await?;
    let mut replacement_blockhash = None;
    if config.replace_recent_blockhash {
        if config.sig_verify {
            return Err(invalid_params(
                "sigVerify may not be used with replaceRecentBlockhash",
            ));
        }
        let (hash, last_valid_block_height) = node.latest_blockhash().await?;
        tx.message.recent_blockhash = hash;
        replacement_blockhash = Some(RpcBlockhash {
            blockhash: hash.to_string(),
            last_valid_block_height,
        });
    }
    if config.sig_verify {
        sigverify::verify(&tx)?;
    }
    let sim = node.chain.simulate(&tx).await.map_err(error::chain)?;
    let accounts = match config.accounts {
        None => None,
        Some(requested) => {
            if matches!(
                requested.encoding,
                Some(UiAccountEncoding::Binary | UiAccountEncoding::Base58)
            ) {
                return Err(invalid_params("base58 encoding not supported"));
            }
            let max = tx.message.account_keys.len();
            if requested.addresses.len() > max {
                return Err(invalid_params(format!(
                    "Too many accounts provided; max {max}"
                )));
            }
            if sim.error.is_none() {
                // BanksClient's simulation does not return post-execution
                // accounts; an answer without them would be wrong, not partial.
                return Err(invalid_params(
                    "simulateTransaction `accounts` (post-simulation account states) is not supported by gpu-market localnet",
                ));
            }
            Some(vec![None; requested.addresses.len()])
        }
    };
    let value = RpcSimulateTransactionResult {
        accounts,
        replacement_blockhash,
        ..preflight_result(&sim)
    };
    json(Response { context, value })
}

async fn get_signature_statuses(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let signatures: Vec<String> = args.required(0, "signatures")?;
    if signatures.len() > MAX_SIGNATURE_STATUSES {
        return Err(invalid_params(format!(
            "Too many inputs provided; max {MAX_SIGNATURE_STATUSES}"
        )));
    }
    let signatures = signatures
        .iter()
        .map(|s| params::signature(s))
        .collect::<RpcResult<Vec<_>>>()?;
    // searchTransactionHistory has nothing more to search: the bank's status
    // cache is all the history there is.
    let _: Option<RpcSignatureStatusConfig> = args.optional(1, "config")?;
    let context = node.context(None).await?;
    let mut value = Vec::with_capacity(signatures.len());
    for s in &signatures {
        value.push(node.signature_status(s).await?);
    }
    json(Response { context, value })
}

async fn request_airdrop(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(3)?;
    let to = params::pubkey(&args.required::<String>(0, "pubkey")?)?;
    let lamports: u64 = args.required(1, "lamports")?;
    let config: RpcRequestAirdropConfig = args.config(2)?;
    let blockhash = config
        .recent_blockhash
        .as_deref()
        .map(params::hash)
        .transpose()?;
    json(node.airdrop(&to, lamports, blockhash).await?.to_string())
}
