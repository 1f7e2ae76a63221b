//! Token accounts over JSON-RPC: `getTokenAccountsByOwner`,
//! `getTokenAccountBalance`, `getTokenSupply`, the token balances in
//! `getTransaction`'s meta, and `getMultipleAccounts` /
//! `getMinimumBalanceForRentExemption` with every encoding and option
//! clients send, through Solana's `RpcClient` and raw JSON.

use base64::{prelude::BASE64_STANDARD, Engine};
use gpu_market_client::chain::Chain;
use gpu_market_client::token;
use serde_json::json;
use solana_client::rpc_config::{RpcAccountInfoConfig, RpcTransactionConfig, UiAccountEncoding};
use solana_client::rpc_request::TokenAccountsFilter;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::UiTransactionEncoding;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_accounts_balances_and_supply_read_as_a_validator_answers() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let payer = Keypair::new();
    airdrop(&rpc, &payer.pubkey(), 10 * SOL).await;
    let (alice, bob) = (Keypair::new(), Pubkey::new_unique());
    // 6 decimals, 1.5 tokens each.
    let mint = token_accounts(&rpc, &payer, &[alice.pubkey(), bob], 1_500_000).await;
    let other_mint = token_accounts(&rpc, &payer, &[alice.pubkey()], 7).await;
    let alice_ata = token::ata(&alice.pubkey(), &mint);

    let mine = rpc
        .get_token_accounts_by_owner(&alice.pubkey(), TokenAccountsFilter::Mint(mint))
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].pubkey, alice_ata.to_string());
    let data = serde_json::to_value(&mine[0].account.data).unwrap();
    assert_eq!(data["program"], "spl-token");
    assert_eq!(data["parsed"]["type"], "account");
    let info = &data["parsed"]["info"];
    assert_eq!(info["mint"], mint.to_string());
    assert_eq!(info["owner"], alice.pubkey().to_string());
    assert_eq!(info["tokenAmount"]["amount"], "1500000");
    assert_eq!(info["tokenAmount"]["uiAmountString"], "1.5");

    let all = rpc
        .get_token_accounts_by_owner(
            &alice.pubkey(),
            TokenAccountsFilter::ProgramId(token::TOKEN_PROGRAM_ID),
        )
        .await
        .unwrap();
    let mut keys: Vec<String> = all.iter().map(|a| a.pubkey.clone()).collect();
    keys.sort();
    let mut expected = vec![
        alice_ata.to_string(),
        token::ata(&alice.pubkey(), &other_mint).to_string(),
    ];
    expected.sort();
    assert_eq!(keys, expected);

    // Base64, as web3.js asks: the raw 165-byte account.
    let url = &net.rpc_url;
    let r = result(
        url,
        "getTokenAccountsByOwner",
        json!([bob.to_string(), {"mint": mint.to_string()}, {"encoding": "base64"}]),
    )
    .await;
    let raw = BASE64_STANDARD
        .decode(r["value"][0]["account"]["data"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(raw.len(), 165);
    assert_eq!(&raw[32..64], bob.as_ref());
    assert!(r["context"]["slot"].as_u64().unwrap() > 0);

    let balance = rpc.get_token_account_balance(&alice_ata).await.unwrap();
    assert_eq!(
        (balance.amount.as_str(), balance.decimals, balance.ui_amount),
        ("1500000", 6, Some(1.5))
    );
    assert_eq!(balance.ui_amount_string, "1.5");
    let supply = rpc.get_token_supply(&mint).await.unwrap();
    assert_eq!((supply.amount.as_str(), supply.decimals), ("3000000", 6));
    assert_eq!(supply.ui_amount_string, "3");

    let token_program = token::TOKEN_PROGRAM_ID.to_string();
    let system = "11111111111111111111111111111111";
    let nobody = Pubkey::new_unique().to_string();
    for (method, params, message) in [
        (
            "getTokenAccountBalance",
            json!([mint.to_string()]),
            "Invalid param: not a Token account",
        ),
        (
            "getTokenAccountBalance",
            json!([payer.pubkey().to_string()]),
            "Invalid param: not a Token account",
        ),
        (
            "getTokenAccountBalance",
            json!([nobody]),
            "Invalid param: could not find account",
        ),
        (
            "getTokenSupply",
            json!([alice_ata.to_string()]),
            "Invalid param: mint could not be unpacked",
        ),
        (
            "getTokenSupply",
            json!([payer.pubkey().to_string()]),
            "Invalid param: not a Token mint",
        ),
        (
            "getTokenSupply",
            json!([nobody]),
            "Invalid param: could not find account",
        ),
        ("getTokenSupply", json!(["xyz"]), "Invalid param"),
        (
            "getTokenAccountsByOwner",
            json!([nobody, {"programId": system}]),
            "Invalid param: unrecognized Token program id",
        ),
        (
            "getTokenAccountsByOwner",
            json!([nobody, {"mint": nobody}]),
            "Invalid param: could not find mint",
        ),
        (
            "getTokenAccountsByOwner",
            json!([nobody, {"mint": payer.pubkey().to_string()}]),
            "Invalid param: not a Token mint",
        ),
        (
            "getTokenAccountsByOwner",
            json!([nobody, {"delegate": token_program}]),
            "`filter`",
        ),
        (
            "getTokenAccountsByOwner",
            json!([nobody]),
            "missing required parameter `filter`",
        ),
    ] {
        let (c, m) = error(url, method, params.clone()).await;
        assert_eq!(c, -32602, "{method} {params}: {m}");
        assert!(m.contains(message), "{method} {params}: {m}");
    }
    // Base58 of a 165-byte account is refused as a validator refuses it.
    let (c, _) = error(
        url,
        "getTokenAccountsByOwner",
        json!([bob.to_string(), {"mint": mint.to_string()}, {"encoding": "base58"}]),
    )
    .await;
    assert_eq!(c, -32600);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_transfer_lists_its_token_balances_before_and_after() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let payer = Keypair::new();
    airdrop(&rpc, &payer.pubkey(), 10 * SOL).await;
    let alice = Keypair::new();
    let bob = Pubkey::new_unique();
    let mint = token_accounts(&rpc, &payer, &[alice.pubkey(), bob], 1_000_000).await;
    let (from, to) = (token::ata(&alice.pubkey(), &mint), token::ata(&bob, &mint));
    let ix = anchor_spl::token::spl_token::instruction::transfer(
        &token::TOKEN_PROGRAM_ID,
        &from,
        &to,
        &alice.pubkey(),
        &[],
        250_000,
    )
    .unwrap();
    let sig = send(&rpc, &[ix], &[&payer, &alice]).await;
    let got = rpc
        .get_transaction_with_config(
            &sig,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Base64),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap();
    // Token balances name accounts by their index in the message.
    let tx_keys = got
        .transaction
        .transaction
        .decode()
        .expect("base64 decodes")
        .message
        .static_account_keys()
        .to_vec();
    let meta = got.transaction.meta.unwrap();
    let amounts = |b: &OptionSerializer<
        Vec<solana_transaction_status_client_types::UiTransactionTokenBalance>,
    >| {
        let OptionSerializer::Some(b) = b else {
            panic!("token balances missing")
        };
        let mut v: Vec<(u8, String, String, String)> = b
            .iter()
            .map(|b| {
                assert_eq!(b.mint, mint.to_string());
                assert_eq!(
                    b.program_id,
                    OptionSerializer::Some(token::TOKEN_PROGRAM_ID.to_string())
                );
                let OptionSerializer::Some(owner) = &b.owner else {
                    panic!("owner missing")
                };
                (
                    b.account_index,
                    owner.clone(),
                    b.ui_token_amount.amount.clone(),
                    b.ui_token_amount.ui_amount_string.clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let index = |k: &Pubkey| -> u8 {
        let keys = &tx_keys;
        keys.iter().position(|x| x == k).unwrap() as u8
    };
    let mut before = vec![
        (
            index(&from),
            alice.pubkey().to_string(),
            "1000000".to_string(),
            "1".to_string(),
        ),
        (
            index(&to),
            bob.to_string(),
            "1000000".to_string(),
            "1".to_string(),
        ),
    ];
    before.sort();
    let mut after = vec![
        (
            index(&from),
            alice.pubkey().to_string(),
            "750000".to_string(),
            "0.75".to_string(),
        ),
        (
            index(&to),
            bob.to_string(),
            "1250000".to_string(),
            "1.25".to_string(),
        ),
    ];
    after.sort();
    assert_eq!(amounts(&meta.pre_token_balances), before);
    assert_eq!(amounts(&meta.post_token_balances), after);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_accounts_and_rent_take_every_encoding_and_option_clients_send() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let payer = Keypair::new();
    airdrop(&rpc, &payer.pubkey(), 10 * SOL).await;
    let owner = Pubkey::new_unique();
    let mint = token_accounts(&rpc, &payer, &[owner], 42).await;
    let ata = token::ata(&owner, &mint);
    let missing = Pubkey::new_unique();
    let keys = [mint, ata, missing];
    let chain_accounts = net.chain.get_multiple_accounts(&keys).await.unwrap();

    // RpcClient decodes base64 and base64+zstd back into the accounts.
    for encoding in [UiAccountEncoding::Base64, UiAccountEncoding::Base64Zstd] {
        let got = rpc
            .get_multiple_ui_accounts_with_config(
                &keys,
                RpcAccountInfoConfig {
                    encoding: Some(encoding),
                    commitment: Some(CommitmentConfig::confirmed()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .value
            .into_iter()
            .map(|a| a.map(|a| a.decode::<solana_sdk::account::Account>().expect("decodes")))
            .collect::<Vec<_>>();
        assert_eq!(got, chain_accounts, "{encoding:?}");
    }

    let url = &net.rpc_url;
    let k: Vec<String> = keys.iter().map(ToString::to_string).collect();
    // jsonParsed: the mint and the token account as spl-token parses them.
    let r = result(
        url,
        "getMultipleAccounts",
        json!([k, {"encoding": "jsonParsed"}]),
    )
    .await;
    let v = &r["value"];
    assert_eq!(v[0]["data"]["parsed"]["type"], "mint");
    assert_eq!(v[0]["data"]["parsed"]["info"]["decimals"], 6);
    assert_eq!(v[0]["data"]["parsed"]["info"]["supply"], "42");
    assert_eq!(v[1]["data"]["parsed"]["type"], "account");
    assert_eq!(
        v[1]["data"]["parsed"]["info"]["tokenAmount"]["amount"],
        "42"
    );
    assert_eq!(v[2], json!(null));
    // Base58 for the 82-byte mint; a slice of the token account's owner.
    let r = result(
        url,
        "getMultipleAccounts",
        json!([[k[0]], {"encoding": "base58"}]),
    )
    .await;
    let b58 = bs58::decode(r["value"][0]["data"][0].as_str().unwrap())
        .into_vec()
        .unwrap();
    assert_eq!(b58, chain_accounts[0].as_ref().unwrap().data);
    assert_eq!(r["value"][0]["data"][1], "base58");
    let r = result(
        url,
        "getMultipleAccounts",
        json!([[k[1]], {"encoding": "base64", "dataSlice": {"offset": 32, "length": 32}}]),
    )
    .await;
    let slice = BASE64_STANDARD
        .decode(r["value"][0]["data"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(slice, owner.as_ref());
    let slot = r["context"]["slot"].as_u64().unwrap();
    let r = result(
        url,
        "getMultipleAccounts",
        json!([[k[1]], {"encoding": "base64", "minContextSlot": slot, "commitment": "finalized"}]),
    )
    .await;
    assert!(r["context"]["slot"].as_u64().unwrap() >= slot);
    let (c, _) = error(
        url,
        "getMultipleAccounts",
        json!([[k[1]], {"minContextSlot": u64::MAX}]),
    )
    .await;
    assert_eq!(c, -32016);
    let (c, m) = error(
        url,
        "getMultipleAccounts",
        json!([[k[1]], {"encoding": "base58"}]),
    )
    .await;
    assert_eq!(c, -32600, "{m}");
    let (c, m) = error(
        url,
        "getMultipleAccounts",
        json!([[k[1]], {"encoding": "hex"}]),
    )
    .await;
    assert_eq!(c, -32602, "{m}");

    // Rent: the bank's figure, with or without a commitment; junk refused.
    let rent = net
        .chain
        .minimum_balance_for_rent_exemption(165)
        .await
        .unwrap();
    assert_eq!(
        rpc.get_minimum_balance_for_rent_exemption(165)
            .await
            .unwrap(),
        rent
    );
    assert_eq!(
        result(
            url,
            "getMinimumBalanceForRentExemption",
            json!([165, {"commitment": "processed"}])
        )
        .await,
        json!(rent)
    );
    for params in [json!([]), json!(["165"]), json!([-1]), json!([165, {}, 1])] {
        let (c, m) = error(url, "getMinimumBalanceForRentExemption", params.clone()).await;
        assert_eq!(c, -32602, "{params}: {m}");
    }
    net.stop().await;
}
