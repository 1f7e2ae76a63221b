//! The shared market bootstrap and the token-conservation check on the
//! embedded chain: a bootstrapped market's books balance; money moved
//! between known accounts keeps them balanced; tokens that appear where the
//! books do not look are caught, for that mint only.

use gpu_market_client::bootstrap::{self, MarketPlan};
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::{Chain, SharedChain};
use gpu_market_client::conservation::TokenAccounts;
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, token};
use solana_sdk::signature::{Keypair, Signer};

fn params() -> gpu_market::state::MarketParams {
    gpu_market::state::MarketParams {
        fee_bps: 250,
        min_stake: 1_000,
        bond_bps: 5_000,
        bond_min: 100,
        claim_timeout: 60,
        challenge_window: 30,
        dispute_timeout: 30,
        unstake_cooldown: 120,
        challenger_bond: 500,
        slash_buyer_bps: 5_000,
        slash_reporter_bps: 1_000,
        crank_bounty: 10,
        score_fee_scale: 1_000,
        min_submit_window: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrapped_market_balances_and_hidden_mints_are_caught() {
    let chain = EmbeddedChain::start(ClockMode::Manual {
        start_unix_timestamp: 1_800_000_000,
    })
    .await
    .unwrap();
    let shared: SharedChain = chain.clone();
    let sender = Sender::new(shared);
    let authority = chain.faucet().insecure_clone();
    let treasury = Keypair::new().pubkey();
    let tokens = TokenAccounts::new();
    let plan = MarketPlan {
        market_id: 7,
        params: params(),
        treasury,
        same_mint: false,
    };
    let m = bootstrap::create_market(&sender, &authority, &plan, &tokens)
        .await
        .unwrap();

    // The market is what was asked for, its treasury accounts are the plan's.
    let state = accounts::fetch_market(&*chain, &m.keys.market)
        .await
        .unwrap();
    assert_eq!(state.params.fee_bps, 250);
    assert_ne!(m.keys.payment_mint, m.keys.stake_mint);
    assert_eq!(
        (m.keys.fee_account, m.keys.slash_account),
        bootstrap::wallet_accounts(&m.keys, &treasury)
    );
    let tracked = tokens.tracked();
    assert_eq!(
        tracked[&m.keys.payment_mint].len(),
        2,
        "fee account + vault"
    );
    assert_eq!(
        tracked[&m.keys.stake_mint].len(),
        2,
        "slash account + vault"
    );

    let alice = Keypair::new();
    let bob = Keypair::new();
    let (alice_pay, _) = bootstrap::fund(
        &sender,
        &authority,
        &m.keys,
        &tokens,
        &alice.pubkey(),
        1_000,
        50,
    )
    .await
    .unwrap();
    let (bob_pay, _) = bootstrap::fund(&sender, &authority, &m.keys, &tokens, &bob.pubkey(), 0, 0)
        .await
        .unwrap();
    assert_eq!(token::balance(&*chain, &alice_pay).await.unwrap(), 1_000);
    let report = tokens.check(&*chain).await.unwrap();
    assert_eq!(report.len(), 2);
    assert!(report.iter().all(|c| c.ok), "{report:?}");
    let pay = report
        .iter()
        .find(|c| c.mint == m.keys.payment_mint)
        .unwrap();
    assert_eq!(
        (pay.supply, pay.sum_of_accounts, pay.accounts),
        (1_000, 1_000, 4)
    );

    // Money moving between known accounts keeps the books balanced.
    chain
        .request_airdrop(&alice.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    sender
        .send(
            &[token::transfer(&alice_pay, &bob_pay, &alice.pubkey(), 400)],
            &alice,
            &[],
        )
        .await
        .unwrap();
    assert!(tokens.check(&*chain).await.unwrap().iter().all(|c| c.ok));

    // The mint authority prints payment tokens into an account the books do
    // not know: the payment mint's check fails, by exactly that amount; the
    // stake mint's still holds.
    let mallory = Keypair::new().pubkey();
    let hidden = token::ata(&mallory, &m.keys.payment_mint);
    sender
        .send(
            &[
                token::create_ata_idempotent(&authority.pubkey(), &mallory, &m.keys.payment_mint),
                token::mint_to(&m.keys.payment_mint, &hidden, &authority.pubkey(), 77),
            ],
            &authority,
            &[],
        )
        .await
        .unwrap();
    let report = tokens.check(&*chain).await.unwrap();
    let pay = report
        .iter()
        .find(|c| c.mint == m.keys.payment_mint)
        .unwrap();
    assert!(!pay.ok);
    assert_eq!(
        u128::from(pay.supply) - pay.sum_of_accounts,
        77,
        "the gap is what was hidden"
    );
    let stake = report.iter().find(|c| c.mint == m.keys.stake_mint).unwrap();
    assert!(stake.ok, "{stake:?}");

    // Once the account is on the books, they balance again.
    tokens.track(m.keys.payment_mint, hidden);
    assert!(tokens.check(&*chain).await.unwrap().iter().all(|c| c.ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_mint_market_has_one_account_per_owner() {
    let chain = EmbeddedChain::start(ClockMode::RealTime).await.unwrap();
    let shared: SharedChain = chain.clone();
    let sender = Sender::new(shared);
    let authority = chain.faucet().insecure_clone();
    let tokens = TokenAccounts::new();
    let plan = MarketPlan {
        market_id: 0,
        params: params(),
        treasury: authority.pubkey(),
        same_mint: true,
    };
    let m = bootstrap::create_market(&sender, &authority, &plan, &tokens)
        .await
        .unwrap();
    assert_eq!(m.keys.payment_mint, m.keys.stake_mint);
    let owner = Keypair::new().pubkey();
    let (pay, stake) = bootstrap::fund(&sender, &authority, &m.keys, &tokens, &owner, 30, 12)
        .await
        .unwrap();
    assert_eq!(pay, stake);
    assert_eq!(token::balance(&*chain, &pay).await.unwrap(), 42);
    let report = tokens.check(&*chain).await.unwrap();
    assert_eq!(report.len(), 1);
    assert!(report[0].ok && report[0].supply == 42, "{report:?}");
    assert!(chain.get_account(&m.keys.market).await.unwrap().is_some());
}
