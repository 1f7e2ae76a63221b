//! Wire formats: accounts go out as Solana's `UiAccount` (base58, base64,
//! base64+zstd or jsonParsed, through Solana's own encoder), program-account
//! filters are applied as a validator applies them, and transactions come in
//! as base58 or base64 bincode with a validator's size limits and messages.

use std::any::type_name;

use base64::{prelude::BASE64_STANDARD, Engine};
use bincode::Options;
use gpu_market_client::chain::embedded::EmbeddedChain;
use gpu_market_client::chain::Chain;
use serde::de::DeserializeOwned;
use solana_account_decoder::parse_account_data::{
    AccountAdditionalDataV3, SplTokenAdditionalDataV2,
};
use solana_account_decoder::parse_token::get_token_account_mint;
use solana_account_decoder::{encode_ui_account, MAX_BASE58_BYTES};
use solana_account_decoder_client_types::{UiAccount, UiAccountEncoding, UiDataSliceConfig};
use solana_rpc_client_types::filter::RpcFilterType;
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::sanitize::Sanitize;
use solana_sdk::transaction::{Transaction, TransactionError, VersionedTransaction};
use solana_transaction_status_client_types::{TransactionBinaryEncoding, UiTransactionEncoding};

use crate::error::{invalid_params, invalid_request, RpcResult};

/// The largest serialized transaction a validator accepts (IPv6 MTU minus headers).
pub(crate) const PACKET_DATA_SIZE: usize = 1232;
/// Encoded lengths of a `PACKET_DATA_SIZE` payload; longer strings are refused
/// before decoding, as Agave does.
const MAX_BASE58_SIZE: usize = 1683;
const MAX_BASE64_SIZE: usize = 1644;

/// Filters per `getProgramAccounts` call (Agave's `MAX_GET_PROGRAM_ACCOUNT_FILTERS`).
pub(crate) const MAX_FILTERS: usize = 4;

const TOKEN_2022_PROGRAM_ID: Pubkey =
    solana_sdk::pubkey!("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");

pub(crate) fn is_token_program(owner: &Pubkey) -> bool {
    *owner == gpu_market_client::token::TOKEN_PROGRAM_ID || *owner == TOKEN_2022_PROGRAM_ID
}

/// The account as `getAccountInfo` & co. return it. Base58 is refused for
/// data over 128 bytes (after slicing), with Solana's -32600 message.
pub(crate) async fn account(
    chain: &EmbeddedChain,
    pubkey: &Pubkey,
    account: &Account,
    encoding: UiAccountEncoding,
    data_slice: Option<UiDataSliceConfig>,
) -> RpcResult<UiAccount> {
    let len = match data_slice {
        Some(s) => s.length.min(account.data.len().saturating_sub(s.offset)),
        None => account.data.len(),
    };
    if matches!(
        encoding,
        UiAccountEncoding::Binary | UiAccountEncoding::Base58
    ) && len > MAX_BASE58_BYTES
    {
        return Err(invalid_request(format!(
            "Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, please use Base64 encoding."
        )));
    }
    Ok(account_unchecked(chain, pubkey, account, encoding, data_slice).await)
}

/// The account as subscriptions send it: oversized base58 becomes Solana's
/// "error: data too large for bs58 encoding" string instead of an error.
pub(crate) async fn account_unchecked(
    chain: &EmbeddedChain,
    pubkey: &Pubkey,
    account: &Account,
    encoding: UiAccountEncoding,
    data_slice: Option<UiDataSliceConfig>,
) -> UiAccount {
    let additional = if encoding == UiAccountEncoding::JsonParsed {
        token_additional_data(chain, account).await
    } else {
        None
    };
    encode_ui_account(pubkey, account, encoding, additional, data_slice)
}

/// A token account's amounts are only meaningful with its mint's decimals,
/// which jsonParsed needs; without them the encoder falls back to base64.
async fn token_additional_data(
    chain: &EmbeddedChain,
    account: &Account,
) -> Option<AccountAdditionalDataV3> {
    if !is_token_program(&account.owner) {
        return None;
    }
    let mint = get_token_account_mint(&account.data)?;
    let mint_account = chain.get_account(&mint).await.ok().flatten()?;
    // SPL Mint layout: mint_authority (COption<Pubkey>, 36 bytes), supply (u64),
    // then decimals (u8) at offset 44.
    let decimals = *mint_account.data.get(44)?;
    Some(AccountAdditionalDataV3 {
        spl_token_additional_data: Some(SplTokenAdditionalDataV2::with_decimals(decimals)),
    })
}

/// Solana's rules for filters: each checked for size and encoding before use.
pub(crate) fn verify_filters(filters: &[RpcFilterType]) -> RpcResult<()> {
    for f in filters {
        f.verify()
            .map_err(|e| invalid_params(format!("Invalid param: {e:?}")))?;
    }
    Ok(())
}

/// Whether `account` passes `filter`, as a validator decides it.
pub(crate) fn filter_allows(filter: &RpcFilterType, account: &Account) -> bool {
    match filter {
        RpcFilterType::DataSize(size) => account.data.len() as u64 == *size,
        RpcFilterType::Memcmp(m) => m.bytes_match(&account.data),
        RpcFilterType::TokenAccountState => {
            is_token_program(&account.owner) && get_token_account_mint(&account.data).is_some()
        }
    }
}

/// Decodes base58/base64 bincode with Agave's limits and messages.
pub(crate) fn decode_and_deserialize<T: DeserializeOwned>(
    encoded: String,
    encoding: TransactionBinaryEncoding,
) -> RpcResult<T> {
    let wire = match encoding {
        TransactionBinaryEncoding::Base58 => {
            if encoded.len() > MAX_BASE58_SIZE {
                return Err(invalid_params(format!(
                    "base58 encoded {} too large: {} bytes (max: encoded/raw {}/{})",
                    type_name::<T>(),
                    encoded.len(),
                    MAX_BASE58_SIZE,
                    PACKET_DATA_SIZE,
                )));
            }
            bs58::decode(encoded)
                .into_vec()
                .map_err(|e| invalid_params(format!("invalid base58 encoding: {e:?}")))?
        }
        TransactionBinaryEncoding::Base64 => {
            if encoded.len() > MAX_BASE64_SIZE {
                return Err(invalid_params(format!(
                    "base64 encoded {} too large: {} bytes (max: encoded/raw {}/{})",
                    type_name::<T>(),
                    encoded.len(),
                    MAX_BASE64_SIZE,
                    PACKET_DATA_SIZE,
                )));
            }
            BASE64_STANDARD
                .decode(encoded)
                .map_err(|e| invalid_params(format!("invalid base64 encoding: {e:?}")))?
        }
    };
    if wire.len() > PACKET_DATA_SIZE {
        return Err(invalid_params(format!(
            "decoded {} too large: {} bytes (max: {} bytes)",
            type_name::<T>(),
            wire.len(),
            PACKET_DATA_SIZE
        )));
    }
    bincode::options()
        .with_limit(PACKET_DATA_SIZE as u64)
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .deserialize_from(&wire[..])
        .map_err(|e| invalid_params(format!("failed to deserialize {}: {}", type_name::<T>(), e)))
}

/// A transaction from `sendTransaction` / `simulateTransaction`: decoded,
/// legacy only (the embedded chain takes legacy transactions), and sanitized.
pub(crate) fn transaction(
    data: String,
    encoding: Option<UiTransactionEncoding>,
) -> RpcResult<Transaction> {
    let encoding = encoding.unwrap_or(UiTransactionEncoding::Base58);
    let binary = encoding.into_binary_encoding().ok_or_else(|| {
        invalid_params(format!(
            "unsupported encoding: {encoding}. Supported encodings: base58, base64"
        ))
    })?;
    let versioned: VersionedTransaction = decode_and_deserialize(data, binary)?;
    let tx = versioned.into_legacy_transaction().ok_or_else(|| {
        invalid_params(
            "invalid transaction: versioned (v0) transactions are not supported by gpu-market localnet; send a legacy transaction",
        )
    })?;
    // Agave reports every structural defect as the runtime's SanitizeFailure.
    tx.sanitize().map_err(|_| {
        invalid_params(format!(
            "invalid transaction: {}",
            TransactionError::SanitizeFailure
        ))
    })?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_rpc_client_types::filter::{Memcmp, MemcmpEncodedBytes};

    fn account_with(data: Vec<u8>) -> Account {
        Account {
            lamports: 1,
            data,
            owner: Pubkey::new_unique(),
            executable: false,
            rent_epoch: 0,
        }
    }

    #[test]
    fn filters_match_like_a_validator() {
        let a = account_with(vec![1, 2, 3, 4, 5]);
        assert!(filter_allows(&RpcFilterType::DataSize(5), &a));
        assert!(!filter_allows(&RpcFilterType::DataSize(4), &a));
        let b58 = Memcmp::new(
            2,
            MemcmpEncodedBytes::Base58(bs58::encode([3, 4]).into_string()),
        );
        let b64 = Memcmp::new(
            1,
            MemcmpEncodedBytes::Base64(BASE64_STANDARD.encode([2, 3])),
        );
        let past_end = Memcmp::new_raw_bytes(4, vec![5, 6]);
        assert!(filter_allows(&RpcFilterType::Memcmp(b58), &a));
        assert!(filter_allows(&RpcFilterType::Memcmp(b64), &a));
        assert!(!filter_allows(&RpcFilterType::Memcmp(past_end), &a));
        assert!(!filter_allows(&RpcFilterType::TokenAccountState, &a));
    }

    #[test]
    fn oversized_filters_are_refused() {
        let big = Memcmp::new_raw_bytes(0, vec![7; 129]);
        let err = verify_filters(&[RpcFilterType::Memcmp(big)]).unwrap_err();
        assert_eq!(err.code(), -32602);
        assert_eq!(err.message(), "Invalid param: DataTooLarge");
    }

    #[test]
    fn transactions_decode_in_both_encodings_and_garbage_is_named() {
        let payer = solana_sdk::signature::Keypair::new();
        let ix = solana_system_interface::instruction::transfer(
            &solana_sdk::signer::Signer::pubkey(&payer),
            &Pubkey::new_unique(),
            1,
        );
        let tx = Transaction::new_signed_with_payer(
            &[ix],
            Some(&solana_sdk::signer::Signer::pubkey(&payer)),
            &[&payer],
            solana_sdk::hash::Hash::new_unique(),
        );
        let bytes = bincode::serialize(&tx).unwrap();
        let b58 = bs58::encode(&bytes).into_string();
        let b64 = BASE64_STANDARD.encode(&bytes);
        assert_eq!(transaction(b58, None).unwrap(), tx);
        assert_eq!(
            transaction(b64, Some(UiTransactionEncoding::Base64)).unwrap(),
            tx
        );
        let err = transaction("0OIl".into(), None).unwrap_err();
        assert!(
            err.message().starts_with("invalid base58 encoding"),
            "{err:?}"
        );
        let err = transaction("AAAA".into(), Some(UiTransactionEncoding::Base64)).unwrap_err();
        assert!(
            err.message().starts_with("failed to deserialize"),
            "{err:?}"
        );
        let err = transaction("x".into(), Some(UiTransactionEncoding::Json)).unwrap_err();
        assert_eq!(
            err.message(),
            "unsupported encoding: json. Supported encodings: base58, base64"
        );
    }
}
