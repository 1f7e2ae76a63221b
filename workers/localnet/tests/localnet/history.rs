//! Transaction history over JSON-RPC: `getTransaction` in every encoding,
//! `getSignaturesForAddress` paging, `getBlockTime` and
//! `getRecentPrioritizationFees`, through Solana's `RpcClient` where it has
//! the call and raw JSON for the shapes and the refusals.

use serde_json::json;
use solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_client::rpc_config::{RpcSendTransactionConfig, RpcTransactionConfig};
use solana_commitment_config::CommitmentConfig;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_sdk::instruction::InstructionError;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError, TransactionVersion};
use solana_system_interface::instruction::transfer;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::{
    EncodedTransaction, UiInstruction, UiMessage, UiParsedInstruction, UiTransactionEncoding,
};

use crate::common::*;

fn config(encoding: UiTransactionEncoding) -> RpcTransactionConfig {
    RpcTransactionConfig {
        encoding: Some(encoding),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_transaction_reads_a_transfer_back_in_every_encoding() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let alice = Keypair::new();
    let bob = Pubkey::new_unique();
    airdrop(&rpc, &alice.pubkey(), 2 * SOL).await;
    let hash = rpc.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        &[transfer(&alice.pubkey(), &bob, SOL)],
        Some(&alice.pubkey()),
        &[&alice],
        hash,
    );
    let sig = rpc.send_and_confirm_transaction(&tx).await.unwrap();
    let status = rpc.get_signature_statuses(&[sig]).await.unwrap().value[0]
        .clone()
        .unwrap();

    let got = rpc
        .get_transaction_with_config(&sig, config(UiTransactionEncoding::Json))
        .await
        .unwrap();
    assert_eq!(got.slot, status.slot);
    let block_time = got.block_time.expect("a block time");
    assert_eq!(rpc.get_block_time(got.slot).await.unwrap(), block_time);
    assert_eq!(got.transaction.version, Some(TransactionVersion::LEGACY));
    let meta = got.transaction.meta.unwrap();
    assert_eq!(meta.err, None);
    assert_eq!(meta.status, Ok(()));
    assert_eq!(meta.fee, 5_000, "one signature, no priority fee");
    // Keys: alice (payer), bob, the system program.
    assert_eq!(meta.pre_balances[..2], [2 * SOL, 0]);
    assert_eq!(meta.post_balances[..2], [SOL - 5_000, SOL]);
    let OptionSerializer::Some(logs) = &meta.log_messages else {
        panic!("logs missing: {:?}", meta.log_messages)
    };
    assert_eq!(
        logs,
        &[
            "Program 11111111111111111111111111111111 invoke [1]",
            "Program 11111111111111111111111111111111 success"
        ]
    );
    assert_eq!(meta.pre_token_balances, OptionSerializer::Some(vec![]));
    assert!(matches!(meta.compute_units_consumed, OptionSerializer::Some(u) if u > 0));
    let EncodedTransaction::Json(ui) = &got.transaction.transaction else {
        panic!("json encoding: {:?}", got.transaction.transaction)
    };
    assert_eq!(ui.signatures, vec![sig.to_string()]);
    let UiMessage::Raw(raw) = &ui.message else {
        panic!("a raw message: {:?}", ui.message)
    };
    assert_eq!(raw.header, tx.message.header);
    assert_eq!(raw.recent_blockhash, hash.to_string());
    assert_eq!(
        raw.account_keys,
        tx.message
            .account_keys
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        raw.instructions[0].data,
        bs58::encode(&tx.message.instructions[0].data).into_string()
    );

    // Binary encodings decode to the very transaction that was sent.
    for encoding in [UiTransactionEncoding::Base64, UiTransactionEncoding::Base58] {
        let got = rpc
            .get_transaction_with_config(&sig, config(encoding))
            .await
            .unwrap();
        let decoded = got.transaction.transaction.decode().expect("decodes");
        assert_eq!(decoded.into_legacy_transaction().unwrap(), tx, "{encoding}");
    }

    // jsonParsed: each key with its role, instructions with accounts named.
    let got = rpc
        .get_transaction_with_config(&sig, config(UiTransactionEncoding::JsonParsed))
        .await
        .unwrap();
    let EncodedTransaction::Json(ui) = &got.transaction.transaction else {
        panic!("jsonParsed: {:?}", got.transaction.transaction)
    };
    let UiMessage::Parsed(parsed) = &ui.message else {
        panic!("a parsed message: {:?}", ui.message)
    };
    let roles: Vec<(String, bool, bool)> = parsed
        .account_keys
        .iter()
        .map(|a| (a.pubkey.clone(), a.writable, a.signer))
        .collect();
    assert_eq!(
        roles,
        vec![
            (alice.pubkey().to_string(), true, true),
            (bob.to_string(), true, false),
            ("11111111111111111111111111111111".to_string(), false, false),
        ]
    );
    let UiInstruction::Parsed(UiParsedInstruction::PartiallyDecoded(ix)) = &parsed.instructions[0]
    else {
        panic!("instruction: {:?}", parsed.instructions[0])
    };
    assert_eq!(ix.program_id, "11111111111111111111111111111111");
    assert_eq!(
        ix.accounts,
        vec![alice.pubkey().to_string(), bob.to_string()]
    );
    assert_eq!(
        got.transaction.meta.unwrap().loaded_addresses,
        OptionSerializer::Skip
    );
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_transaction_shapes_and_refusals_in_raw_json() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let alice = Keypair::new();
    let sig = rpc.request_airdrop(&alice.pubkey(), SOL).await.unwrap();
    assert!(rpc.confirm_transaction(&sig).await.unwrap());
    let url = &net.rpc_url;

    // Without maxSupportedTransactionVersion there is no `version` field,
    // and the deprecated form (the encoding as the second parameter) works.
    let r = result(url, "getTransaction", json!([sig.to_string(), "base64"])).await;
    assert!(r.get("version").is_none(), "{r}");
    assert_eq!(r["transaction"][1], "base64");
    assert!(r["meta"]["innerInstructions"].is_null());
    assert_eq!(r["meta"]["rewards"], json!([]));
    assert_eq!(
        r["meta"]["loadedAddresses"],
        json!({"writable": [], "readonly": []})
    );
    let r = result(
        url,
        "getTransaction",
        json!([sig.to_string(), {"encoding": "json", "maxSupportedTransactionVersion": 0}]),
    )
    .await;
    assert_eq!(r["version"], "legacy");
    assert_eq!(r["meta"]["err"], json!(null));
    assert_eq!(r["meta"]["status"], json!({"Ok": null}));

    // Unknown signature: null, as a validator answers.
    let unknown = Signature::new_unique().to_string();
    assert_eq!(
        result(url, "getTransaction", json!([unknown])).await,
        json!(null)
    );

    for (params, code, message) in [
        (json!([]), -32602, "missing required parameter `signature`"),
        (json!(["nope"]), -32602, "Invalid param"),
        (
            json!([sig.to_string(), {"encoding": "xml"}]),
            -32602,
            "`config`",
        ),
        (
            json!([sig.to_string(), {"commitment": "processed"}]),
            -32602,
            "Method does not support commitment below `confirmed`",
        ),
        (
            json!([sig.to_string(), {}, 3]),
            -32602,
            "at most 2 parameter",
        ),
    ] {
        let (c, m) = error(url, "getTransaction", params.clone()).await;
        assert_eq!(c, code, "{params}: {m}");
        assert!(m.contains(message), "{params}: {m}");
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transaction_is_recorded_with_its_error_fee_and_logs() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let alice = Keypair::new();
    airdrop(&rpc, &alice.pubkey(), SOL).await;
    let hash = rpc.get_latest_blockhash().await.unwrap();
    // More than alice has: the system program refuses, the fee is charged.
    let tx = Transaction::new_signed_with_payer(
        &[transfer(&alice.pubkey(), &Pubkey::new_unique(), 2 * SOL)],
        Some(&alice.pubkey()),
        &[&alice],
        hash,
    );
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
    let got = rpc
        .get_transaction_with_config(&sig, config(UiTransactionEncoding::Json))
        .await
        .unwrap();
    let meta = got.transaction.meta.unwrap();
    let expected = TransactionError::InstructionError(0, InstructionError::Custom(1));
    assert_eq!(meta.err, Some(expected.clone().into()));
    assert_eq!(meta.pre_balances[0] - meta.post_balances[0], 5_000);
    let OptionSerializer::Some(logs) = &meta.log_messages else {
        panic!("logs missing")
    };
    assert!(
        logs.iter().any(|l| l.contains("insufficient lamports")),
        "{logs:?}"
    );
    let listed = rpc
        .get_signatures_for_address(&alice.pubkey())
        .await
        .unwrap();
    assert_eq!(listed[0].signature, sig.to_string());
    assert_eq!(listed[0].err, Some(expected.into()));
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_for_address_page_newest_first_with_before_until_and_limit() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let alice = Keypair::new();
    let bob = Pubkey::new_unique();
    airdrop(&rpc, &alice.pubkey(), 2 * SOL).await;
    let mut sent = Vec::new();
    for n in 1..=3 {
        sent.push(
            send(
                &rpc,
                &[transfer(&alice.pubkey(), &bob, n * SOL / 10)],
                &[&alice],
            )
            .await,
        );
    }
    // Someone else's transfer: not alice's history, in bob's.
    let carol = Keypair::new();
    airdrop(&rpc, &carol.pubkey(), SOL).await;
    let carols = send(&rpc, &[transfer(&carol.pubkey(), &bob, 1)], &[&carol]).await;

    let page = |before: Option<Signature>, until: Option<Signature>, limit: Option<usize>| {
        let rpc = &rpc;
        let alice = alice.pubkey();
        async move {
            rpc.get_signatures_for_address_with_config(
                &alice,
                GetConfirmedSignaturesForAddress2Config {
                    before,
                    until,
                    limit,
                    commitment: Some(CommitmentConfig::confirmed()),
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.signature.parse::<Signature>().unwrap())
            .collect::<Vec<_>>()
        }
    };
    let all = page(None, None, None).await;
    assert_eq!(all.len(), 4, "the airdrop and three transfers: {all:?}");
    assert_eq!(all[..3], [sent[2], sent[1], sent[0]]);
    assert_eq!(page(None, None, Some(2)).await, all[..2]);
    assert_eq!(page(Some(sent[2]), None, None).await, all[1..]);
    assert_eq!(page(None, Some(sent[0]), None).await, all[..2]);
    assert_eq!(page(Some(sent[2]), Some(sent[0]), None).await, all[1..2]);
    let bobs = rpc.get_signatures_for_address(&bob).await.unwrap();
    assert_eq!(bobs.len(), 4);
    assert_eq!(bobs[0].signature, carols.to_string());
    let first = &bobs[0];
    assert_eq!(first.err, None);
    assert_eq!(first.memo, None);
    assert!(first.block_time.is_some());
    assert_eq!(
        first.confirmation_status,
        Some(solana_transaction_status_client_types::TransactionConfirmationStatus::Finalized)
    );

    let url = &net.rpc_url;
    let me = alice.pubkey().to_string();
    for (params, message) in [
        (json!([me, {"limit": 0}]), "Invalid limit; max 1000"),
        (json!([me, {"limit": 1001}]), "Invalid limit; max 1000"),
        (json!([me, {"before": "xyz"}]), "Invalid param"),
        (json!(["xyz"]), "Invalid param"),
        (json!([me, {"limit": "ten"}]), "`config`"),
        (
            json!([me, {"commitment": "processed"}]),
            "Method does not support commitment below `confirmed`",
        ),
    ] {
        let (c, m) = error(url, "getSignaturesForAddress", params.clone()).await;
        assert_eq!(c, -32602, "{params}: {m}");
        assert!(m.contains(message), "{params}: {m}");
    }
    let (c, _) = error(
        url,
        "getSignaturesForAddress",
        json!([me, {"minContextSlot": u64::MAX}]),
    )
    .await;
    assert_eq!(c, -32016);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_times_and_prioritization_fees_follow_what_landed() {
    let net = start().await;
    let rpc = client(&net.rpc_url);
    let payer = Keypair::new();
    let from = Keypair::new();
    let hot = Pubkey::new_unique();
    airdrop(&rpc, &payer.pubkey(), SOL).await;
    airdrop(&rpc, &from.pubkey(), SOL).await;
    // The payer only pays: its balance drops by exactly the fee. Two
    // signatures, 10_000 micro-lamports per unit for 50_000 units = 500.
    let ixs = [
        ComputeBudgetInstruction::set_compute_unit_limit(50_000),
        ComputeBudgetInstruction::set_compute_unit_price(10_000),
        transfer(&from.pubkey(), &hot, SOL / 2),
    ];
    let sig = send(&rpc, &ixs, &[&payer, &from]).await;
    let got = rpc
        .get_transaction_with_config(&sig, config(UiTransactionEncoding::Base64))
        .await
        .unwrap();
    let meta = got.transaction.meta.unwrap();
    assert_eq!(meta.fee, 10_500);
    assert_eq!(meta.pre_balances[0] - meta.post_balances[0], meta.fee);

    let fees = rpc.get_recent_prioritization_fees(&[hot]).await.unwrap();
    let at = fees
        .iter()
        .find(|f| f.slot == got.slot)
        .expect("its slot is listed");
    assert_eq!(at.prioritization_fee, 10_000);
    assert!(fees.len() <= 150);
    assert!(
        fees.windows(2).all(|w| w[0].slot < w[1].slot),
        "oldest first"
    );

    // Slots: the transaction's has its time; one the chain has not reached
    // has none (-32004), and earlier slots have times no later.
    let t = rpc.get_block_time(got.slot).await.unwrap();
    assert_eq!(Some(t), got.block_time);
    let url = &net.rpc_url;
    let (c, m) = error(url, "getBlockTime", json!([got.slot + 1_000_000])).await;
    assert_eq!(c, -32004, "{m}");
    assert_eq!(
        m,
        format!("Block not available for slot {}", got.slot + 1_000_000)
    );
    for (method, params, message) in [
        (
            "getBlockTime",
            json!([]),
            "missing required parameter `slot`",
        ),
        ("getBlockTime", json!(["x"]), "`slot`"),
        ("getBlockTime", json!([1, {}]), "at most 1 parameter"),
        (
            "getRecentPrioritizationFees",
            json!([["xyz"]]),
            "Invalid param",
        ),
        (
            "getRecentPrioritizationFees",
            json!(["one"]),
            "`lockedWritableAccounts`",
        ),
    ] {
        let (c, m) = error(url, method, params.clone()).await;
        assert_eq!(c, -32602, "{method} {params}: {m}");
        assert!(m.contains(message), "{method} {params}: {m}");
    }
    let many: Vec<String> = (0..129).map(|_| Pubkey::new_unique().to_string()).collect();
    let (c, m) = error(url, "getRecentPrioritizationFees", json!([many])).await;
    assert_eq!(
        (c, m.as_str()),
        (-32602, "Too many inputs provided; max 128")
    );
    net.stop().await;
}
