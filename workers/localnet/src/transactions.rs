//! Transaction history over JSON-RPC: `getTransaction`,
//! `getSignaturesForAddress`, `getBlockTime` and
//! `getRecentPrioritizationFees`, answered from the node's
//! [`History`](crate::history::History) of what landed through it, in
//! Solana's response types. A landed transaction is encoded here as a validator
//! encodes it: json (the raw message), jsonParsed (account keys with their
//! roles, instructions partially decoded), base58 or base64 bincode.

use std::sync::Arc;

use base64::{prelude::BASE64_STANDARD, Engine};
use serde_json::Value;
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_types::config::{
    RpcEncodingConfigWrapper, RpcSignaturesForAddressConfig, RpcTransactionConfig,
};
use solana_rpc_client_types::response::{
    RpcConfirmedTransactionStatusWithSignature, RpcPrioritizationFee,
};
use solana_sdk::transaction::{Transaction, TransactionVersion};
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::{
    EncodedConfirmedTransactionWithStatusMeta, EncodedTransaction,
    EncodedTransactionWithStatusMeta, ParsedAccount, ParsedAccountSource,
    TransactionBinaryEncoding, TransactionConfirmationStatus, UiCompiledInstruction, UiInstruction,
    UiLoadedAddresses, UiMessage, UiParsedInstruction, UiParsedMessage,
    UiPartiallyDecodedInstruction, UiRawMessage, UiTransaction, UiTransactionEncoding,
    UiTransactionStatusMeta,
};

use crate::error::{self, invalid_params, RpcResult};
use crate::history::{memo, BlockTime, Landed};
use crate::http::{json, method, Module};
use crate::node::Node;
use crate::params::{self, Args};

/// Most signatures per `getSignaturesForAddress` page (Agave's limit), and
/// its default.
const MAX_SIGNATURES_FOR_ADDRESS: usize = 1_000;
/// Most accounts `getRecentPrioritizationFees` takes (Agave's limit).
const MAX_PRIORITIZATION_FEE_ACCOUNTS: usize = 128;

pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::server::RegisterMethodError> {
    method(m, "getTransaction", get_transaction)?;
    method(m, "getSignaturesForAddress", get_signatures_for_address)?;
    method(m, "getBlockTime", get_block_time)?;
    method(
        m,
        "getRecentPrioritizationFees",
        get_recent_prioritization_fees,
    )?;
    Ok(())
}

/// History methods answer from confirmed blocks; `processed` is refused
/// with a validator's message.
/// (`confirmed`: whether the commitment asked for, if any, is at least
/// `confirmed`.)
fn at_least_confirmed(confirmed: Option<bool>) -> RpcResult<()> {
    match confirmed {
        Some(false) => Err(invalid_params(
            "Method does not support commitment below `confirmed`",
        )),
        _ => Ok(()),
    }
}

async fn get_transaction(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let signature = params::signature(&args.required::<String>(0, "signature")?)?;
    let config = args
        .optional::<RpcEncodingConfigWrapper<RpcTransactionConfig>>(1, "config")?
        .map(|w| w.convert_to_current())
        .unwrap_or_default();
    at_least_confirmed(config.commitment.map(|c| c.is_at_least_confirmed()))?;
    let encoding = config.encoding.unwrap_or(UiTransactionEncoding::Json);
    let landed = node.history.lock().unwrap().get(&signature);
    let Some(landed) = landed else {
        return Ok(Value::Null);
    };
    json(EncodedConfirmedTransactionWithStatusMeta {
        slot: landed.slot,
        transaction: EncodedTransactionWithStatusMeta {
            transaction: encode_transaction(&landed.transaction, encoding)?,
            meta: Some(status_meta(&landed, encoding)),
            // Every transaction here is legacy; a client that says which
            // versions it takes is told so, one that does not is answered
            // in the shape that predates versions.
            version: config
                .max_supported_transaction_version
                .map(|_| TransactionVersion::LEGACY),
        },
        block_time: Some(landed.block_time),
    })
}

fn encode_transaction(
    tx: &Transaction,
    encoding: UiTransactionEncoding,
) -> RpcResult<EncodedTransaction> {
    let bytes = || bincode::serialize(tx).map_err(error::internal);
    Ok(match encoding {
        UiTransactionEncoding::Binary => {
            EncodedTransaction::LegacyBinary(bs58::encode(bytes()?).into_string())
        }
        UiTransactionEncoding::Base58 => EncodedTransaction::Binary(
            bs58::encode(bytes()?).into_string(),
            TransactionBinaryEncoding::Base58,
        ),
        UiTransactionEncoding::Base64 => EncodedTransaction::Binary(
            BASE64_STANDARD.encode(bytes()?),
            TransactionBinaryEncoding::Base64,
        ),
        UiTransactionEncoding::Json => EncodedTransaction::Json(UiTransaction {
            signatures: signatures(tx),
            message: UiMessage::Raw(raw_message(tx)),
        }),
        UiTransactionEncoding::JsonParsed => EncodedTransaction::Json(UiTransaction {
            signatures: signatures(tx),
            message: UiMessage::Parsed(parsed_message(tx)),
        }),
    })
}

fn signatures(tx: &Transaction) -> Vec<String> {
    tx.signatures.iter().map(ToString::to_string).collect()
}

fn raw_message(tx: &Transaction) -> UiRawMessage {
    let msg = &tx.message;
    UiRawMessage {
        header: msg.header,
        account_keys: msg.account_keys.iter().map(ToString::to_string).collect(),
        recent_blockhash: msg.recent_blockhash.to_string(),
        instructions: msg
            .instructions
            .iter()
            .map(|ix| UiCompiledInstruction::from(ix, None))
            .collect(),
        address_table_lookups: None,
    }
}

/// Account keys with their roles; instructions with their accounts named
/// (no program's instructions are decoded further here).
fn parsed_message(tx: &Transaction) -> UiParsedMessage {
    let msg = &tx.message;
    let key = |i: u8| {
        msg.account_keys
            .get(i as usize)
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    UiParsedMessage {
        account_keys: msg
            .account_keys
            .iter()
            .enumerate()
            .map(|(i, k)| ParsedAccount {
                pubkey: k.to_string(),
                writable: msg.is_maybe_writable(i, None),
                signer: msg.is_signer(i),
                source: Some(ParsedAccountSource::Transaction),
            })
            .collect(),
        recent_blockhash: msg.recent_blockhash.to_string(),
        instructions: msg
            .instructions
            .iter()
            .map(|ix| {
                UiInstruction::Parsed(UiParsedInstruction::PartiallyDecoded(
                    UiPartiallyDecodedInstruction {
                        program_id: key(ix.program_id_index),
                        accounts: ix.accounts.iter().map(|&a| key(a)).collect(),
                        data: bs58::encode(&ix.data).into_string(),
                        stack_height: None,
                    },
                ))
            })
            .collect(),
        address_table_lookups: None,
    }
}

/// The status meta as a validator fills it for a legacy transaction. Inner
/// instructions are not recorded (`BanksClient` does not return them), so
/// they are `null`, which clients read as "not available".
fn status_meta(landed: &Landed, encoding: UiTransactionEncoding) -> UiTransactionStatusMeta {
    let err = landed.err.clone().map(Into::into);
    let token_balances =
        |b: &[solana_transaction_status_client_types::TransactionTokenBalance]| {
            OptionSerializer::Some(b.iter().cloned().map(Into::into).collect())
        };
    UiTransactionStatusMeta {
        status: match &err {
            None => Ok(()),
            Some(e) => Err(Clone::clone(e)),
        },
        err,
        fee: landed.fee,
        pre_balances: landed.pre_balances.clone(),
        post_balances: landed.post_balances.clone(),
        inner_instructions: OptionSerializer::None,
        log_messages: OptionSerializer::Some(landed.logs.clone()),
        pre_token_balances: token_balances(&landed.pre_token_balances),
        post_token_balances: token_balances(&landed.post_token_balances),
        rewards: OptionSerializer::Some(Vec::new()),
        // jsonParsed leaves loaded addresses out, as a validator does (its
        // account keys already say where each key came from).
        loaded_addresses: if encoding == UiTransactionEncoding::JsonParsed {
            OptionSerializer::Skip
        } else {
            OptionSerializer::Some(UiLoadedAddresses::default())
        },
        return_data: OptionSerializer::Skip,
        compute_units_consumed: OptionSerializer::or_skip(landed.compute_units),
        cost_units: OptionSerializer::Skip,
    }
}

async fn get_signatures_for_address(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let address = params::pubkey(&args.required::<String>(0, "address")?)?;
    let config: RpcSignaturesForAddressConfig = args.config(1)?;
    at_least_confirmed(config.commitment.map(|c| c.is_at_least_confirmed()))?;
    let limit = config.limit.unwrap_or(MAX_SIGNATURES_FOR_ADDRESS);
    if limit == 0 || limit > MAX_SIGNATURES_FOR_ADDRESS {
        return Err(invalid_params(format!(
            "Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS}"
        )));
    }
    let before = config
        .before
        .as_deref()
        .map(params::signature)
        .transpose()?;
    let until = config.until.as_deref().map(params::signature).transpose()?;
    node.context(config.min_context_slot).await?;
    let found = node.history.lock().unwrap().signatures_for(
        &address,
        before.as_ref(),
        until.as_ref(),
        limit,
    );
    json(
        found
            .iter()
            .map(|t| RpcConfirmedTransactionStatusWithSignature {
                signature: t.signature.to_string(),
                slot: t.slot,
                err: t.err.clone().map(Into::into),
                memo: memo(&t.transaction),
                block_time: Some(t.block_time),
                confirmation_status: Some(TransactionConfirmationStatus::Finalized),
            })
            .collect::<Vec<_>>(),
    )
}

async fn get_block_time(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(1)?;
    let slot: u64 = args.required(0, "slot")?;
    match node.block_time(slot) {
        BlockTime::Known(t) => json(t),
        BlockTime::NotYet => Err(error::custom(RpcCustomError::BlockNotAvailable { slot })),
        BlockTime::Forgotten { first_available } => {
            Err(error::custom(RpcCustomError::BlockCleanedUp {
                slot,
                first_available_block: first_available,
            }))
        }
    }
}

async fn get_recent_prioritization_fees(node: Arc<Node>, args: Args) -> RpcResult<Value> {
    args.at_most(1)?;
    let keys: Vec<String> = args
        .optional(0, "lockedWritableAccounts")?
        .unwrap_or_default();
    if keys.len() > MAX_PRIORITIZATION_FEE_ACCOUNTS {
        return Err(invalid_params(format!(
            "Too many inputs provided; max {MAX_PRIORITIZATION_FEE_ACCOUNTS}"
        )));
    }
    let keys = keys
        .iter()
        .map(|k| params::pubkey(k))
        .collect::<RpcResult<Vec<_>>>()?;
    let fees = node.history.lock().unwrap().prioritization_fees(&keys);
    json(
        fees.into_iter()
            .map(|(slot, prioritization_fee)| RpcPrioritizationFee {
                slot,
                prioritization_fee,
            })
            .collect::<Vec<_>>(),
    )
}
