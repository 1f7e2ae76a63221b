//! Solana's own nonblocking `RpcClient`, unchanged, against the localnet.

use gpu_market_client::chain::Chain;
use gpu_market_client::token;
use serde_json::json;
use solana_client::client_error::ClientErrorKind;
use solana_client::rpc_config::{
    RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSendTransactionConfig,
    RpcSimulateTransactionConfig, UiAccountEncoding,
};
use solana_client::rpc_filter::{Memcmp, MemcmpEncodedBytes, RpcFilterType};
use solana_client::rpc_request::{RpcError, RpcResponseErrorData};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::instruction::InstructionError;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_metadata_matches_the_chain() {
    let net = start().await;
    let rpc = client(&net.rpc_url);

    let version = rpc.get_version().await.unwrap();
    assert!(version.solana_core.starts_with("3."), "{version:?}");
    assert!(version.feature_set.is_some());
    rpc.get_health().await.unwrap();
    assert_eq!(
        rpc.get_genesis_hash().await.unwrap(),
        net.chain.genesis_hash().await
    );

    let (hash, last_valid) = rpc
        .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
        .await
        .unwrap();
    let height = rpc.get_block_height().await.unwrap();
    assert!(last_valid >= height + 140, "{last_valid} vs {height}");
    assert!(rpc
        .is_blockhash_valid(&hash, CommitmentConfig::processed())
        .await
        .unwrap());
    assert!(!rpc
        .is_blockhash_valid(
            &solana_sdk::hash::Hash::new_unique(),
            CommitmentConfig::processed()
        )
        .await
        .unwrap());

    // A hash read in-process, never handed out over RPC, is checked by the bank.
    let (in_process, _) = net.chain.latest_blockhash().await.unwrap();
    assert!(rpc
        .is_blockhash_valid(&in_process, CommitmentConfig::processed())
        .await
        .unwrap());

    let slot = rpc.get_slot().await.unwrap();
    let epoch = rpc.get_epoch_info().await.unwrap();
    assert!(epoch.absolute_slot >= slot);
    assert!(epoch.slots_in_epoch > 0 && epoch.slot_index < epoch.slots_in_epoch);
    assert_eq!(
        rpc.get_minimum_balance_for_rent_exemption(165)
            .await
            .unwrap(),
        net.chain
            .minimum_balance_for_rent_exemption(165)
            .await
            .unwrap()
    );
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airdrop_transfer_balances_accounts_and_statuses() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let alice = Keypair::new();
    airdrop(&rpc, &alice.pubkey(), 2 * SOL).await;
    // The same request twice in one blockhash is two airdrops, not one.
    airdrop(&rpc, &alice.pubkey(), SOL).await;
    assert_eq!(rpc.get_balance(&alice.pubkey()).await.unwrap(), 3 * SOL);
    // Too little to make a new account rent-exempt: the airdrop executes and
    // fails, and its status says why, as from a validator's faucet.
    let poor = Pubkey::new_unique();
    let sig = rpc.request_airdrop(&poor, 5).await.unwrap();
    let status = rpc.get_signature_statuses(&[sig]).await.unwrap().value[0]
        .clone()
        .expect("landed");
    assert!(
        matches!(
            status.err,
            Some(TransactionError::InsufficientFundsForRent { .. })
        ),
        "{status:?}"
    );
    assert_eq!(rpc.get_balance(&poor).await.unwrap(), 0);

    let bob = Pubkey::new_unique();
    let hash = rpc.get_latest_blockhash().await.unwrap();
    let ix = solana_system_interface::instruction::transfer(&alice.pubkey(), &bob, SOL);
    let tx = Transaction::new_signed_with_payer(&[ix], Some(&alice.pubkey()), &[&alice], hash);
    let fee = rpc.get_fee_for_message(&tx.message).await.unwrap();
    assert_eq!(fee, 5_000, "one signature");
    // No fee for a message whose blockhash cannot land (Solana answers null).
    let mut stale = tx.message.clone();
    stale.recent_blockhash = solana_sdk::hash::Hash::new_unique();
    let raw = result(
        &net.rpc_url,
        "getFeeForMessage",
        json!([base64_of(&stale.serialize())]),
    )
    .await;
    assert_eq!(raw["value"], serde_json::Value::Null, "{raw}");
    let sig = rpc.send_and_confirm_transaction(&tx).await.unwrap();
    assert_eq!(rpc.get_balance(&bob).await.unwrap(), SOL);
    assert_eq!(
        rpc.get_balance(&alice.pubkey()).await.unwrap(),
        2 * SOL - fee,
        "getFeeForMessage is what the bank charged"
    );

    let account = rpc.get_account(&bob).await.unwrap();
    assert_eq!(
        (account.lamports, account.owner, account.data.len()),
        (SOL, solana_system_interface::program::ID, 0)
    );
    let missing = Pubkey::new_unique();
    assert!(rpc.get_account(&missing).await.is_err());
    let many = rpc
        .get_multiple_accounts(&[bob, missing, alice.pubkey()])
        .await
        .unwrap();
    assert_eq!(many[0].as_ref().map(|a| a.lamports), Some(SOL));
    assert!(many[1].is_none());
    assert_eq!(many[2].as_ref().map(|a| a.lamports), Some(2 * SOL - fee));

    let statuses = rpc
        .get_signature_statuses(&[sig, Signature::from([7u8; 64])])
        .await
        .unwrap()
        .value;
    let landed = statuses[0].as_ref().expect("landed");
    assert!(landed.satisfies_commitment(CommitmentConfig::finalized()));
    assert_eq!((landed.err.clone(), landed.status.clone()), (None, Ok(())));
    assert!(statuses[1].is_none());
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn program_accounts_filter_by_memcmp_in_both_encodings() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let payer = Keypair::new();
    airdrop(&rpc, &payer.pubkey(), 10 * SOL).await;
    let (alice, bob) = (Pubkey::new_unique(), Pubkey::new_unique());
    let mint = token_accounts(&rpc, &payer, &[alice, bob], 1_000).await;

    // SPL token account: mint at 0, owner at 32; 165 bytes.
    let by_owner = |bytes: MemcmpEncodedBytes| RpcProgramAccountsConfig {
        filters: Some(vec![
            RpcFilterType::DataSize(165),
            RpcFilterType::Memcmp(Memcmp::new(32, bytes)),
        ]),
        account_config: RpcAccountInfoConfig {
            encoding: Some(UiAccountEncoding::Base64),
            ..Default::default()
        },
        with_context: Some(true),
        ..Default::default()
    };
    let b58 = MemcmpEncodedBytes::Base58(bs58::encode(alice).into_string());
    let b64 = MemcmpEncodedBytes::Base64(base64_of(alice.as_ref()));
    for bytes in [b58, b64] {
        // The long-standing call many clients still make (deprecated for the UI variant below).
        #[allow(deprecated)]
        let found = rpc
            .get_program_accounts_with_config(&token::TOKEN_PROGRAM_ID, by_owner(bytes))
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, token::ata(&alice, &mint));
        let t = token::decode_token_account(&found[0].0, &found[0].1.data).unwrap();
        assert_eq!((t.owner, t.amount), (alice, 1_000));
    }
    let all = rpc
        .get_program_ui_accounts_with_config(
            &token::TOKEN_PROGRAM_ID,
            RpcProgramAccountsConfig {
                filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                    0,
                    mint.to_bytes().to_vec(),
                ))]),
                account_config: RpcAccountInfoConfig {
                    encoding: Some(UiAccountEncoding::Base64Zstd),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "both holders of the mint");
    assert!(all
        .iter()
        .all(|(_, a)| a.decode::<solana_sdk::account::Account>().is_some()));

    // Raw: without context the result is a bare array; base58 (the default)
    // is refused for 165-byte accounts with Solana's -32600.
    let raw = result(
        &net.rpc_url,
        "getProgramAccounts",
        json!([token::TOKEN_PROGRAM_ID.to_string(), {
            "encoding": "base64",
            "filters": [{"memcmp": {"offset": 32, "bytes": alice.to_string()}}]
        }]),
    )
    .await;
    assert_eq!(raw.as_array().map(Vec::len), Some(1), "{raw}");
    assert_eq!(raw[0]["account"]["data"][1], "base64");
    let (code, message) = error(
        &net.rpc_url,
        "getProgramAccounts",
        json!([token::TOKEN_PROGRAM_ID.to_string()]),
    )
    .await;
    assert_eq!(code, -32600);
    assert!(message.starts_with("Encoded binary (base 58) data should be less than 128 bytes"));

    // jsonParsed knows the mint's decimals.
    let parsed = result(
        &net.rpc_url,
        "getAccountInfo",
        json!([token::ata(&bob, &mint).to_string(), {"encoding": "jsonParsed"}]),
    )
    .await;
    let info = &parsed["value"]["data"]["parsed"]["info"];
    assert_eq!(info["tokenAmount"]["amount"], "1000", "{parsed}");
    assert_eq!(info["tokenAmount"]["decimals"], 6);
    assert_eq!(parsed["value"]["data"]["program"], "spl-token");
    net.stop().await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_transactions_report_preflight_errors_with_logs() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let payer = Keypair::new();
    airdrop(&rpc, &payer.pubkey(), 10 * SOL).await;
    let alice = Keypair::new();
    let mint = token_accounts(&rpc, &payer, &[alice.pubkey()], 10).await;

    // Overdraw a token account: SPL Token's InsufficientFunds (custom error 1).
    let hash = rpc.get_latest_blockhash().await.unwrap();
    let ix = token::transfer(
        &token::ata(&alice.pubkey(), &mint),
        &token::ata(&payer.pubkey(), &mint),
        &alice.pubkey(),
        11,
    );
    let tx = Transaction::new_signed_with_payer(
        &[
            token::create_ata_idempotent(&payer.pubkey(), &payer.pubkey(), &mint),
            ix,
        ],
        Some(&payer.pubkey()),
        &[&payer, &alice],
        hash,
    );
    let err = rpc.send_transaction(&tx).await.unwrap_err();
    let expected = TransactionError::InstructionError(1, InstructionError::Custom(1));
    assert_eq!(err.get_transaction_error(), Some(expected.clone()));
    match err.kind() {
        ClientErrorKind::RpcError(RpcError::RpcResponseError {
            code,
            message,
            data: RpcResponseErrorData::SendTransactionPreflightFailure(sim),
        }) => {
            assert_eq!(*code, -32002);
            assert_eq!(
                message,
                "Transaction simulation failed: Error processing Instruction 1: custom program error: 0x1"
            );
            let logs = sim.logs.as_ref().expect("logs");
            assert!(
                logs.iter().any(|l| l.contains("insufficient funds")),
                "{logs:#?}"
            );
            assert!(sim.units_consumed.unwrap_or_default() > 0);
        }
        other => panic!("expected a preflight failure, got {other:?}"),
    }
    // Nothing landed.
    assert!(rpc
        .get_signature_statuses(&[tx.signatures[0]])
        .await
        .unwrap()
        .value[0]
        .is_none());

    // simulateTransaction says the same without an error; with
    // replaceRecentBlockhash an unsigned copy simulates too.
    let sim = rpc.simulate_transaction(&tx).await.unwrap().value;
    assert_eq!(sim.err.map(TransactionError::from), Some(expected.clone()));
    assert!(!sim.logs.unwrap().is_empty());
    let mut unsigned = tx.clone();
    unsigned.signatures = vec![Signature::default(); 2];
    let sim = rpc
        .simulate_transaction_with_config(
            &unsigned,
            RpcSimulateTransactionConfig {
                replace_recent_blockhash: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .value;
    assert!(sim.replacement_blockhash.is_some());
    assert_eq!(sim.err.map(TransactionError::from), Some(expected.clone()));

    // Bad signatures are refused before simulation (-32003).
    let err = rpc.send_transaction(&unsigned).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ClientErrorKind::RpcError(RpcError::RpcResponseError { code: -32003, .. })
        ),
        "{err:?}"
    );

    // skipPreflight: the transaction executes, fails, and says so in its status.
    let sig = rpc
        .send_transaction_with_config(
            &tx,
            RpcSendTransactionConfig {
                skip_preflight: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let status = rpc.get_signature_statuses(&[sig]).await.unwrap().value[0]
        .clone()
        .expect("a failed transaction still lands");
    assert_eq!(status.err, Some(expected.clone()));
    assert_eq!(status.status, Err(expected));
    net.stop().await;
}

/// A blockhash lasts about a second on this chain (program-test registers
/// one every 6.4 ms, and a transaction may use the newest 150) however few
/// blocks pass. A client that holds one longer, as web3.js's 30-second cache
/// does, must hear "not valid" from `isBlockhashValid`, not "valid" followed
/// by "Blockhash not found" when it sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blockhash_the_bank_dropped_is_not_valid_though_few_blocks_passed() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let alice = Keypair::new();
    airdrop(&rpc, &alice.pubkey(), SOL).await;
    let (old, last_valid) = rpc
        .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        rpc.get_block_height().await.unwrap() < last_valid,
        "still within its block height"
    );
    assert!(!rpc
        .is_blockhash_valid(&old, CommitmentConfig::processed())
        .await
        .unwrap());
    let ix = solana_system_interface::instruction::transfer(
        &alice.pubkey(),
        &Pubkey::new_unique(),
        SOL / 10,
    );
    let stale = Transaction::new_signed_with_payer(
        std::slice::from_ref(&ix),
        Some(&alice.pubkey()),
        &[&alice],
        old,
    );
    let err = rpc.send_transaction(&stale).await.unwrap_err();
    assert!(err.to_string().contains("Blockhash not found"), "{err}");
    // A fresh one lands.
    send(&rpc, &[ix], &[&alice]).await;
    net.stop().await;
}
