//! Predictable addresses pre-funded by someone else: a job's address is
//! `["job", market, buyer, nonce]`, so a griefer (or a watcher front-running the nonce a
//! buyer's client picks) can send lamports there before the post. Each test states that
//! attack and asserts the post lands anyway, with the escrow and token conservation exact
//! and the job's rent short only by what the griefer paid; and that a second post under a
//! live job's nonce is refused by name, leaving the first job as it was.

use anchor_lang::Space;
use gpu_market::state::{Job, JobState};
use gpu_market_client::chain::Chain;
use gpu_market_client::{ix, pda, Pubkey};
use gpu_market_tests::segments::*;
use gpu_market_tests::*;

const PRICE: u64 = 1_000;
/// Price plus the world's crank bounty.
const ESCROW: u64 = 1_010;
const DUR: i64 = 100;
const JOB_SPACE: usize = 8 + Job::INIT_SPACE;

/// The griefer sends `lamports` to `target` and the address holds exactly them.
async fn prefund(w: &World, target: &Pubkey, lamports: u64) {
    let griefer = w.wallet(0, 0).await;
    let transfer =
        solana_system_interface::instruction::transfer(&griefer.pubkey(), target, lamports);
    w.send(&[transfer], &[&griefer.key]).await.unwrap();
    let a = w.chain.get_account(target).await.unwrap().unwrap();
    assert_eq!((a.lamports, a.data.len()), (lamports, 0));
}

async fn lamports(w: &World, key: &Pubkey) -> u64 {
    w.chain
        .get_account(key)
        .await
        .unwrap()
        .map_or(0, |a| a.lamports)
}

async fn rent(w: &World, space: usize) -> u64 {
    w.chain
        .minimum_balance_for_rent_exemption(space)
        .await
        .unwrap()
}

/// The job at `key` is a program account of the job's size, rent exempt, holding
/// `held` lamports, with the discriminator a fetch checks.
async fn assert_created(w: &World, key: &Pubkey, held: u64) {
    let a = w.chain.get_account(key).await.unwrap().unwrap();
    assert_eq!(a.owner, gpu_market::ID, "the program owns the job");
    assert_eq!(a.data.len(), JOB_SPACE, "the job's full space");
    assert_eq!(a.lamports, held);
    assert!(a.lamports >= rent(w, JOB_SPACE).await, "rent exempt");
}

/// The attack: a griefer sends lamports (less than the job's rent, then more) to the
/// address of the buyer's next job before its `job_post`. Both posts land: the buyer
/// pays only the rent the griefer did not, the full escrow reaches the vault, the job is
/// stored with its bump and runs to its cancel with every token back.
#[tokio::test]
async fn lamports_sent_to_a_job_address_before_job_post_cannot_block_it() {
    let w = World::new().await;
    let buyer = w.wallet(10 * ESCROW, 0).await;
    let job_rent = rent(&w, JOB_SPACE).await;
    let deadline = w.now().await + 3_600;
    for (nonce, sent) in [(1u64, job_rent / 3), (2, job_rent + 5_000_000)] {
        let key = pda::job(&w.market.market, &buyer.pubkey(), nonce);
        prefund(&w, &key, sent).await;
        let (sol, tokens, vault) = (
            lamports(&w, &buyer.pubkey()).await,
            w.balance(&buyer.payment).await,
            w.balance(&w.market.payment_vault).await,
        );
        let posted = w.post_job(&buyer, nonce, PRICE, deadline).await;
        assert_eq!(posted, key);
        assert_created(&w, &key, sent.max(job_rent)).await;
        assert_eq!(
            sol - lamports(&w, &buyer.pubkey()).await,
            job_rent.saturating_sub(sent),
            "the buyer pays only the rent still missing"
        );
        assert_eq!(w.balance(&buyer.payment).await, tokens - ESCROW);
        assert_eq!(w.balance(&w.market.payment_vault).await, vault + ESCROW);
        let job = w.job(&key).await;
        let (_, bump) = Pubkey::find_program_address(
            &[
                gpu_market::constants::JOB_SEED,
                w.market.market.as_ref(),
                buyer.pubkey().as_ref(),
                &nonce.to_le_bytes(),
            ],
            &gpu_market::ID,
        );
        assert_eq!(
            (job.state, job.nonce, job.escrow, job.buyer, job.bump),
            (JobState::Open, nonce, ESCROW, buyer.pubkey(), bump)
        );
        w.assert_conservation().await;
    }
    let before = w.balance(&buyer.payment).await;
    for nonce in [1u64, 2] {
        let key = pda::job(&w.market.market, &buyer.pubkey(), nonce);
        w.cancel(&key, &buyer).await.unwrap();
        assert!(!w.job_exists(&key).await, "closed");
    }
    assert_eq!(w.balance(&buyer.payment).await, before + 2 * ESCROW);
    w.assert_conservation().await;
}

/// The same attack on a segmented post, at both of its addresses (the job's and its
/// segments'): the post lands, escrow exact, and a provider runs its first segment.
#[tokio::test]
async fn lamports_sent_to_a_job_address_before_job_post_segmented_cannot_block_it() {
    let w = World::new().await;
    let buyer = w.wallet(10 * ESCROW, 0).await;
    let p = w.register_provider(h100(), 50_000).await;
    let job_rent = rent(&w, JOB_SPACE).await;
    let key = pda::job(&w.market.market, &buyer.pubkey(), 7);
    prefund(&w, &key, job_rent / 2).await;
    prefund(&w, &pda::segments(&key), 1_000_000).await;
    let t = terms(3, PRICE, DUR);
    let before = w.balance(&buyer.payment).await;
    let posted = w.post_segmented(&buyer, 7, &t, w.now().await + 3_600).await;
    assert_eq!(posted, key);
    assert_created(&w, &key, job_rent).await;
    assert_eq!(w.balance(&buyer.payment).await, before - escrow_of(&t));
    let job = w.job(&key).await;
    assert_eq!(
        (job.state, job.escrow, job.price),
        (JobState::Segmented, escrow_of(&t), 3 * PRICE)
    );
    assert_eq!(w.segments(&key).await.count, 3);
    w.seg_claim(&p, &key).await.unwrap();
    w.assert_conservation().await;
}

/// The attack: a second post under the nonce of a live job (the buyer's client replaying
/// it, or the buyer hoping to overwrite a claimed job's terms) by either post. Refused by
/// name (`AccountAddressInUse`); the first job, the buyer's tokens and the market's
/// totals are as they were.
#[tokio::test]
async fn a_second_post_under_a_live_jobs_nonce_is_refused_and_the_first_job_is_intact() {
    let w = World::new().await;
    let buyer = w.wallet(10 * ESCROW, 0).await;
    let p = w.register_provider(h100(), 50_000).await;
    let deadline = w.now().await + 3_600;
    let single = w.post_job(&buyer, 1, PRICE, deadline).await;
    w.claim(&p, &single).await.unwrap();
    let t = terms(2, PRICE, DUR);
    let segmented = w.post_segmented(&buyer, 2, &t, deadline).await;

    let stored = [single, segmented, pda::segments(&segmented)];
    let before = w.chain.get_multiple_accounts(&stored).await.unwrap();
    let tokens = w.balance(&buyer.payment).await;
    let totals = w.market_state().await.totals;
    for nonce in [1u64, 2] {
        let mut args = w.post_args(nonce, 2 * PRICE, deadline);
        args.max_escrow = u64::MAX;
        let (again, _) = ix::job_post(&w.market, buyer.pubkey(), buyer.payment, args);
        assert_err(w.send(&[again], &[&buyer.key]).await, "AccountAddressInUse");
        let args = w.segmented_args(nonce, &t, deadline);
        assert_err(
            w.try_post_segmented(&buyer, args, t.clone()).await,
            "AccountAddressInUse",
        );
    }
    assert_eq!(
        w.chain.get_multiple_accounts(&stored).await.unwrap(),
        before,
        "both jobs and the segments unchanged, byte for byte"
    );
    assert_eq!(w.job(&single).await.state, JobState::Claimed);
    assert_eq!(w.balance(&buyer.payment).await, tokens);
    assert_eq!(w.market_state().await.totals, totals);
    w.assert_conservation().await;
}

/// The attack: a griefer sends lamports to the provider address of an owner who has not
/// registered yet (`["provider", market, owner]`: one per owner and market, so a block
/// there would be for good). The registration lands, its stake in the vault.
#[tokio::test]
async fn lamports_sent_to_a_provider_address_before_provider_register_cannot_block_it() {
    let w = World::new().await;
    let owner = w.wallet(0, 5_000).await;
    let key = pda::provider(&w.market.market, &owner.pubkey());
    prefund(&w, &key, 1_000_000).await;
    let vault = w.balance(&w.market.stake_vault).await;
    let args = w.register_args(Pubkey::new_unique(), h100(), 5_000);
    let register =
        ix::provider_register(&w.market, owner.pubkey(), owner.stake, owner.payment, args);
    w.send(&[register], &[&owner.key]).await.unwrap();
    let provider = w.provider(&key).await;
    assert_eq!((provider.owner, provider.stake), (owner.pubkey(), 5_000));
    assert_eq!(w.balance(&w.market.stake_vault).await, vault + 5_000);
    let again = ix::provider_register(
        &w.market,
        owner.pubkey(),
        owner.stake,
        owner.payment,
        w.register_args(Pubkey::new_unique(), h100(), 1_000),
    );
    assert_err(w.send(&[again], &[&owner.key]).await, "AccountAddressInUse");
    assert_eq!(
        w.provider(&key).await.stake,
        5_000,
        "the first registration intact"
    );
    w.assert_conservation().await;
}

/// The attack: a griefer sends lamports to the addresses of an authority's next market
/// (`["market", authority, id]`, its vaults and its referee pool, all predictable) before
/// `market_create`. Each creation lands, its vaults token accounts of the market's mints
/// under the market's authority (a buyer's escrow reaches them), and creating the pool
/// again is refused by name.
#[tokio::test]
async fn lamports_sent_to_a_markets_addresses_before_market_create_cannot_block_it() {
    let w = World::new().await;
    let ids = [2u64, 3, 4, 5];
    for (id, at) in ids
        .iter()
        .zip(["market", "payment vault", "stake vault", "pool"])
    {
        let market = pda::market(&w.authority.pubkey(), *id);
        let target = match at {
            "market" => market,
            "payment vault" => pda::payment_vault(&market),
            "stake vault" => pda::stake_vault(&market),
            _ => pda::referee_pool(&market),
        };
        prefund(&w, &target, 1_000_000).await;
        let keys = w
            .create_market(*id, default_params())
            .await
            .unwrap_or_else(|e| panic!("market {id}, {at} pre-funded: {e}"));
        assert_eq!(keys.market, market);
        let state = w
            .chain
            .get_account(&keys.payment_vault)
            .await
            .unwrap()
            .unwrap();
        let vault =
            gpu_market_client::token::decode_token_account(&keys.payment_vault, &state.data)
                .unwrap();
        assert_eq!((vault.mint, vault.owner), (w.payment_mint, market));
        let again = ix::referee_pool_create(w.authority.pubkey(), market);
        assert_err(w.send(&[again], &[]).await, "AccountAddressInUse");
        let buyer = w.wallet(ESCROW, 0).await;
        let mut post = w.post_args(1, PRICE, w.now().await + 3_600);
        post.gemm = Some(placeholder_gemm());
        let (ix, _) = ix::job_post(&keys, buyer.pubkey(), buyer.payment, post);
        w.send(&[ix], &[&buyer.key]).await.unwrap();
        assert_eq!(w.balance(&keys.payment_vault).await, ESCROW);
    }
    w.assert_conservation().await;
}
