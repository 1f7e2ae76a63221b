//! Forged signatures. The embedded chain's bank does not verify ed25519
//! signatures (a validator does that before its bank), so the node must: an
//! attacker who names the faucet as signer of a transfer to itself and sends
//! garbage (or its own signature) in the faucet's place, with preflight
//! skipped, must not move a lamport.

use serde_json::{json, Value};
use solana_sdk::hash::Hash;
use solana_sdk::message::Message;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::Transaction;

use base64::{prelude::BASE64_STANDARD, Engine};

use crate::common::{call, result, start};

const STOLEN: u64 = 1_000_000_000;

fn base64(tx: &Transaction) -> String {
    BASE64_STANDARD.encode(bincode::serialize(tx).unwrap())
}

async fn blockhash(url: &str) -> Hash {
    let r = result(url, "getLatestBlockhash", json!([])).await;
    r["value"]["blockhash"].as_str().unwrap().parse().unwrap()
}

async fn balance(url: &str, key: &Pubkey) -> u64 {
    result(url, "getBalance", json!([key.to_string()])).await["value"]
        .as_u64()
        .unwrap()
}

async fn status(url: &str, signature: &Signature) -> Value {
    result(
        url,
        "getSignatureStatuses",
        json!([[signature.to_string()]]),
    )
    .await["value"][0]
        .clone()
}

/// The faucet's lamports, moved to `thief` by a message only the faucet could
/// sign, carrying `signatures` instead of the faucet's.
fn forged_transfer(
    faucet: &Pubkey,
    thief: &Keypair,
    hash: Hash,
    sign: impl Fn(&Message) -> Vec<Signature>,
) -> Transaction {
    let ix = solana_system_interface::instruction::transfer(faucet, &thief.pubkey(), STOLEN);
    let message = Message::new_with_blockhash(&[ix], Some(faucet), &hash);
    let signatures = sign(&message);
    Transaction {
        signatures,
        message,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_from_the_faucet_without_its_signature_never_lands() {
    let net = start().await;
    let url = net.rpc_url.as_str();
    let faucet = net.faucet.pubkey();
    let thief = Keypair::new();
    let hash = blockhash(url).await;
    let faucet_before = balance(url, &faucet).await;

    let forgeries = [
        (
            "an empty signature",
            forged_transfer(&faucet, &thief, hash, |_| vec![Signature::default()]),
        ),
        (
            "the thief's own signature in the faucet's place",
            forged_transfer(&faucet, &thief, hash, |m| {
                vec![thief.sign_message(&m.serialize())]
            }),
        ),
        (
            "the faucet's signature of another message",
            forged_transfer(&faucet, &thief, hash, |_| {
                let other = Message::new_with_blockhash(&[], Some(&faucet), &Hash::new_unique());
                vec![net.faucet.sign_message(&other.serialize())]
            }),
        ),
    ];
    // The thief also tries paying the fee itself (a valid first signature)
    // with the faucet as a second signer whose signature is garbage.
    let ix = solana_system_interface::instruction::transfer(&faucet, &thief.pubkey(), STOLEN);
    let message = Message::new_with_blockhash(&[ix], Some(&thief.pubkey()), &hash);
    let half_signed = Transaction {
        signatures: vec![
            thief.sign_message(&message.serialize()),
            Signature::default(),
        ],
        message,
    };

    for (what, tx) in forgeries
        .iter()
        .map(|(w, t)| (*w, t))
        .chain([("a valid fee payer and a forged faucet", &half_signed)])
    {
        for skip_preflight in [true, false] {
            let r = call(
                url,
                "sendTransaction",
                json!([base64(tx), {"encoding": "base64", "skipPreflight": skip_preflight}]),
            )
            .await;
            assert_eq!(
                balance(url, &thief.pubkey()).await,
                0,
                "{what} (skipPreflight {skip_preflight}) landed: the faucet was robbed ({r})"
            );
            assert_eq!(
                r["error"]["code"], -32003,
                "{what} (skipPreflight {skip_preflight}) must be refused as a forged signature: {r}"
            );
        }
        let r = call(
            url,
            "simulateTransaction",
            json!([base64(tx), {"encoding": "base64", "sigVerify": true}]),
        )
        .await;
        assert_eq!(
            r["error"]["code"], -32003,
            "{what} simulated with sigVerify: {r}"
        );
        assert_eq!(status(url, &tx.signatures[0]).await, Value::Null, "{what}");
    }
    assert_eq!(balance(url, &thief.pubkey()).await, 0);
    assert_eq!(balance(url, &faucet).await, faucet_before);

    // The same transfer, signed by its owner, lands with preflight skipped.
    let owner = Keypair::new();
    result(
        url,
        "requestAirdrop",
        json!([owner.pubkey().to_string(), 2 * STOLEN]),
    )
    .await;
    let ix =
        solana_system_interface::instruction::transfer(&owner.pubkey(), &thief.pubkey(), STOLEN);
    let honest = Transaction::new_signed_with_payer(
        &[ix],
        Some(&owner.pubkey()),
        &[&owner],
        blockhash(url).await,
    );
    let sent = result(
        url,
        "sendTransaction",
        json!([base64(&honest), {"encoding": "base64", "skipPreflight": true}]),
    )
    .await;
    assert_eq!(sent, honest.signatures[0].to_string());
    assert_eq!(status(url, &honest.signatures[0]).await["err"], Value::Null);
    assert_eq!(balance(url, &thief.pubkey()).await, STOLEN);
    net.stop().await;
}

/// Solana's own client with `skip_preflight`, as an attacker would use it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_client_with_skip_preflight_cannot_land_an_unsigned_transfer() {
    use solana_client::nonblocking::rpc_client::RpcClient;
    use solana_client::rpc_config::RpcSendTransactionConfig;

    let net = start().await;
    let client = RpcClient::new(net.rpc_url.clone());
    let thief = Keypair::new();
    let hash = client.get_latest_blockhash().await.unwrap();
    let tx = forged_transfer(&net.faucet.pubkey(), &thief, hash, |_| {
        vec![Signature::default()]
    });
    let sent = client
        .send_transaction_with_config(
            &tx,
            RpcSendTransactionConfig {
                skip_preflight: true,
                ..RpcSendTransactionConfig::default()
            },
        )
        .await;
    let err = sent.expect_err("an unsigned transfer must be refused");
    assert!(
        err.to_string().contains("signature verification failure"),
        "{err}"
    );
    assert_eq!(client.get_balance(&thief.pubkey()).await.unwrap(), 0);
    net.stop().await;
}
