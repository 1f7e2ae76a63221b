//! The sender's failure handling, against the embedded chain behind a
//! fault-injecting wrapper: transient failures are retried with the same
//! signature, a landing that was never acknowledged is found by its
//! signature, an unknown blockhash is reported as expired, and a program's
//! or runtime's verdict is never retried.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::{
    AccountUpdate, Chain, ChainClock, Filter, SharedChain, SignatureStatus, TxOutcome,
};
use gpu_market_client::error::{ClientError, Result};
use gpu_market_client::send::{SendOptions, Sender, SignedTx};
use gpu_market_client::Pubkey;
use solana_sdk::account::Account;
use solana_sdk::hash::Hash;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::Transaction;
use tokio::sync::mpsc;

/// Fails the first `drop_before` sends before they reach the chain, and
/// the next `drop_after` after they landed (the answer lost on the way back).
struct Flaky {
    inner: SharedChain,
    drop_before: AtomicU32,
    drop_after: AtomicU32,
    sends: AtomicU32,
}

fn unreachable() -> ClientError {
    ClientError::Unreachable {
        url: "test".into(),
        detail: "connection reset".into(),
    }
}

#[async_trait]
impl Chain for Flaky {
    fn describe(&self) -> String {
        "flaky".into()
    }
    async fn latest_blockhash(&self) -> Result<(Hash, u64)> {
        self.inner.latest_blockhash().await
    }
    async fn block_height(&self) -> Result<u64> {
        self.inner.block_height().await
    }
    async fn send_transaction(&self, tx: &Transaction) -> Result<TxOutcome> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        if self.drop_before.load(Ordering::SeqCst) > 0 {
            self.drop_before.fetch_sub(1, Ordering::SeqCst);
            return Err(unreachable());
        }
        let r = self.inner.send_transaction(tx).await;
        if r.is_ok() && self.drop_after.load(Ordering::SeqCst) > 0 {
            self.drop_after.fetch_sub(1, Ordering::SeqCst);
            return Err(unreachable());
        }
        r
    }
    async fn signature_status(&self, s: &Signature) -> Result<SignatureStatus> {
        self.inner.signature_status(s).await
    }
    async fn get_account(&self, k: &Pubkey) -> Result<Option<Account>> {
        self.inner.get_account(k).await
    }
    async fn get_multiple_accounts(&self, k: &[Pubkey]) -> Result<Vec<Option<Account>>> {
        self.inner.get_multiple_accounts(k).await
    }
    async fn get_program_accounts(
        &self,
        p: &Pubkey,
        f: &[Filter],
    ) -> Result<Vec<(Pubkey, Account)>> {
        self.inner.get_program_accounts(p, f).await
    }
    async fn clock(&self) -> Result<ChainClock> {
        self.inner.clock().await
    }
    async fn subscribe_program(
        &self,
        p: &Pubkey,
    ) -> Result<mpsc::UnboundedReceiver<AccountUpdate>> {
        self.inner.subscribe_program(p).await
    }
    async fn minimum_balance_for_rent_exemption(&self, n: usize) -> Result<u64> {
        self.inner.minimum_balance_for_rent_exemption(n).await
    }
    async fn get_balance(&self, k: &Pubkey) -> Result<u64> {
        self.inner.get_balance(k).await
    }
    async fn request_airdrop(&self, to: &Pubkey, l: u64) -> Result<()> {
        self.inner.request_airdrop(to, l).await
    }
}

async fn setup(
    drop_before: u32,
    drop_after: u32,
) -> (Arc<EmbeddedChain>, Arc<Flaky>, Sender, Keypair) {
    let chain = EmbeddedChain::start(ClockMode::Manual {
        start_unix_timestamp: 1_800_000_000,
    })
    .await
    .unwrap();
    let payer = Keypair::new();
    chain
        .request_airdrop(&payer.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    let flaky = Arc::new(Flaky {
        inner: chain.clone(),
        drop_before: AtomicU32::new(drop_before),
        drop_after: AtomicU32::new(drop_after),
        sends: AtomicU32::new(0),
    });
    let options = SendOptions {
        backoff: Duration::from_millis(5),
        max_retries: 3,
        ..Default::default()
    };
    let sender = Sender::with_options(flaky.clone(), options);
    (chain, flaky, sender, payer)
}

fn transfer(from: &Keypair, to: &Pubkey, lamports: u64) -> solana_sdk::instruction::Instruction {
    solana_system_interface::instruction::transfer(&from.pubkey(), to, lamports)
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_signature() {
    let (chain, flaky, sender, payer) = setup(2, 0).await;
    let to = Pubkey::new_unique();
    let out = sender
        .send(&[transfer(&payer, &to, 1_000_000)], &payer, &[])
        .await
        .unwrap();
    assert_eq!(
        flaky.sends.load(Ordering::SeqCst),
        3,
        "two lost sends, then the same bytes again"
    );
    assert_eq!(chain.get_balance(&to).await.unwrap(), 1_000_000);
    assert!(matches!(
        chain.signature_status(&out.signature).await.unwrap(),
        SignatureStatus::Landed { error: None, .. }
    ));
}

#[tokio::test]
async fn a_landing_whose_answer_was_lost_is_found_by_its_signature_and_not_repeated() {
    let (chain, flaky, sender, payer) = setup(0, 1).await;
    let to = Pubkey::new_unique();
    sender
        .send(&[transfer(&payer, &to, 1_000_000)], &payer, &[])
        .await
        .unwrap();
    assert_eq!(
        flaky.sends.load(Ordering::SeqCst),
        1,
        "found by signature, not re-sent"
    );
    assert_eq!(
        chain.get_balance(&to).await.unwrap(),
        1_000_000,
        "paid once"
    );
}

#[tokio::test]
async fn too_many_transient_failures_surface_the_failure() {
    let (_chain, flaky, sender, payer) = setup(10, 0).await;
    let err = sender
        .send(
            &[transfer(&payer, &Pubkey::new_unique(), 1_000_000)],
            &payer,
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    assert_eq!(
        flaky.sends.load(Ordering::SeqCst),
        4,
        "first try + max_retries"
    );
}

#[tokio::test]
async fn an_unknown_blockhash_is_reported_as_expired_and_verdicts_are_final() {
    let (_chain, flaky, sender, payer) = setup(0, 0).await;
    let tx = Transaction::new_signed_with_payer(
        &[transfer(&payer, &Pubkey::new_unique(), 1_000_000)],
        Some(&payer.pubkey()),
        &[&payer],
        Hash::new_unique(),
    );
    let err = sender
        .send_signed(&SignedTx {
            tx,
            last_valid_block_height: u64::MAX,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::BlockhashExpired), "{err}");
    // Spending more than the payer has is the runtime's verdict: one send, no retry.
    let before = flaky.sends.load(Ordering::SeqCst);
    let err = sender
        .send(
            &[transfer(&payer, &Pubkey::new_unique(), 10_000_000_000)],
            &payer,
            &[],
        )
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert_eq!(flaky.sends.load(Ordering::SeqCst), before + 1);
}
