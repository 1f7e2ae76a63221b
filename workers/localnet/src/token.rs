//! SPL Token accounts as the RPC reads them: `getTokenAccountsByOwner`,
//! `getTokenAccountBalance` and `getTokenSupply`, and the token balances a
//! landed transaction's status meta lists. Account data is decoded by
//! Solana's own token parser (SPL Token and Token-2022), amounts scaled by
//! the mint's decimals as a validator scales them, and refusals carry a
//! validator's -32602 messages.

use gpu_market_client::chain::embedded::EmbeddedChain;
use gpu_market_client::chain::{Chain, Filter};
use serde_json::Value;
use solana_account_decoder::parse_account_data::SplTokenAdditionalDataV2;
use solana_account_decoder::parse_token::{
    parse_token_v3, token_amount_to_ui_amount_v3, TokenAccountType, UiTokenAccount, UiTokenAmount,
};
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_rpc_client_types::config::{
    RpcAccountInfoConfig, RpcContextConfig, RpcTokenAccountsFilter,
};
use solana_rpc_client_types::response::{Response, RpcKeyedAccount};
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use solana_transaction_status_client_types::TransactionTokenBalance;

use crate::encode::{self, is_token_program};
use crate::error::{self, invalid_params, RpcResult};
use crate::http::{json, method, Module};
use crate::params::{self, Args};

/// Where a token account keeps its owner (after the 32-byte mint).
const OWNER_OFFSET: usize = 32;

pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::server::RegisterMethodError> {
    method(m, "getTokenAccountsByOwner", get_token_accounts_by_owner)?;
    method(m, "getTokenAccountBalance", get_token_account_balance)?;
    method(m, "getTokenSupply", get_token_supply)?;
    Ok(())
}

/// A mint's decimals, if `account` is a mint.
fn mint_decimals(account: &Account) -> Option<u8> {
    if !is_token_program(&account.owner) {
        return None;
    }
    match parse_token_v3(&account.data, None) {
        Ok(TokenAccountType::Mint(m)) => Some(m.decimals),
        _ => None,
    }
}

/// `account` as a token account, with amounts in its mint's decimals.
async fn token_account(chain: &EmbeddedChain, account: &Account) -> Option<UiTokenAccount> {
    if !is_token_program(&account.owner) {
        return None;
    }
    let mint = solana_account_decoder::parse_token::get_token_account_mint(&account.data)?;
    let decimals = mint_decimals(&chain.get_account(&mint).await.ok()??)?;
    let data = SplTokenAdditionalDataV2::with_decimals(decimals);
    match parse_token_v3(&account.data, Some(&data)) {
        Ok(TokenAccountType::Account(a)) => Some(a),
        _ => None,
    }
}

/// The token accounts among a transaction's accounts, as its status meta
/// lists them (`accounts[i]` is the state of `keys[i]`).
pub(crate) async fn balances(
    chain: &EmbeddedChain,
    keys: &[Pubkey],
    accounts: &[Option<Account>],
) -> Vec<TransactionTokenBalance> {
    let mut out = Vec::new();
    for (i, account) in accounts.iter().enumerate().take(keys.len()) {
        let Some(account) = account else { continue };
        let Some(parsed) = token_account(chain, account).await else {
            continue;
        };
        out.push(TransactionTokenBalance {
            account_index: i as u8,
            mint: parsed.mint,
            ui_token_amount: parsed.token_amount,
            owner: parsed.owner,
            program_id: account.owner.to_string(),
        });
    }
    out
}

async fn get_token_accounts_by_owner(
    node: std::sync::Arc<crate::node::Node>,
    args: Args,
) -> RpcResult<Value> {
    args.at_most(3)?;
    let owner = params::pubkey(&args.required::<String>(0, "owner")?)?;
    let filter: RpcTokenAccountsFilter = args.required(1, "filter")?;
    let config: RpcAccountInfoConfig = args.config(2)?;
    let (program, mint) = match filter {
        RpcTokenAccountsFilter::Mint(mint) => {
            let mint = params::pubkey(&mint)?;
            let account = node
                .chain
                .get_account(&mint)
                .await
                .map_err(error::chain)?
                .ok_or_else(|| invalid_params("Invalid param: could not find mint"))?;
            if !is_token_program(&account.owner) {
                return Err(invalid_params("Invalid param: not a Token mint"));
            }
            (account.owner, Some(mint))
        }
        RpcTokenAccountsFilter::ProgramId(program) => {
            let program = params::pubkey(&program)?;
            if !is_token_program(&program) {
                return Err(invalid_params(
                    "Invalid param: unrecognized Token program id",
                ));
            }
            (program, None)
        }
    };
    let context = node.context(config.min_context_slot).await?;
    let mut filters = vec![Filter::Memcmp {
        offset: OWNER_OFFSET,
        bytes: owner.to_bytes().to_vec(),
    }];
    if let Some(mint) = mint {
        filters.push(Filter::Memcmp {
            offset: 0,
            bytes: mint.to_bytes().to_vec(),
        });
    }
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
    let mut value = Vec::new();
    for (key, account) in node
        .chain
        .get_program_accounts(&program, &filters)
        .await
        .map_err(error::chain)?
    {
        // Mints and multisigs can match the bytes; only token accounts count.
        if solana_account_decoder::parse_token::get_token_account_mint(&account.data).is_none() {
            continue;
        }
        value.push(RpcKeyedAccount {
            pubkey: key.to_string(),
            account: encode::account(&node.chain, &key, &account, encoding, config.data_slice)
                .await?,
        });
    }
    json(Response { context, value })
}

async fn get_token_account_balance(
    node: std::sync::Arc<crate::node::Node>,
    args: Args,
) -> RpcResult<Value> {
    args.at_most(2)?;
    let key = params::pubkey(&args.required::<String>(0, "pubkey")?)?;
    let config: RpcContextConfig = args.config(1)?;
    let context = node.context(config.min_context_slot).await?;
    let account = node
        .chain
        .get_account(&key)
        .await
        .map_err(error::chain)?
        .ok_or_else(|| invalid_params("Invalid param: could not find account"))?;
    if !is_token_program(&account.owner)
        || solana_account_decoder::parse_token::get_token_account_mint(&account.data).is_none()
    {
        return Err(invalid_params("Invalid param: not a Token account"));
    }
    let parsed = token_account(&node.chain, &account)
        .await
        .ok_or_else(|| invalid_params("Invalid param: could not find mint"))?;
    json(Response {
        context,
        value: parsed.token_amount,
    })
}

async fn get_token_supply(node: std::sync::Arc<crate::node::Node>, args: Args) -> RpcResult<Value> {
    args.at_most(2)?;
    let key = params::pubkey(&args.required::<String>(0, "mint")?)?;
    let config: RpcContextConfig = args.config(1)?;
    let context = node.context(config.min_context_slot).await?;
    let account = node
        .chain
        .get_account(&key)
        .await
        .map_err(error::chain)?
        .ok_or_else(|| invalid_params("Invalid param: could not find account"))?;
    if !is_token_program(&account.owner) {
        return Err(invalid_params("Invalid param: not a Token mint"));
    }
    let mint = match parse_token_v3(&account.data, None) {
        Ok(TokenAccountType::Mint(m)) => m,
        _ => return Err(invalid_params("Invalid param: mint could not be unpacked")),
    };
    let supply: u64 = mint.supply.parse().map_err(error::internal)?;
    let value: UiTokenAmount = token_amount_to_ui_amount_v3(
        supply,
        &SplTokenAdditionalDataV2::with_decimals(mint.decimals),
    );
    json(Response { context, value })
}
