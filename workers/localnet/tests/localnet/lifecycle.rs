//! The gpu-market job lifecycle written once against `SharedChain` and run
//! on both implementations: the embedded chain directly, and `RpcChain`
//! through the localnet. Same steps, same balances, same named errors. The
//! market is built by the SDK's shared bootstrap (as the demo's and the test
//! harness's are) and ends with the shared token-conservation check.

use std::sync::Arc;

use gpu_market::state::{JobRequirements, JobState};
use gpu_market::{JobPostArgs, JobSubmitArgs, ProviderRegisterArgs};
use gpu_market_client::bootstrap::{self, MarketPlan};
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::rpc::RpcChain;
use gpu_market_client::chain::SharedChain;
use gpu_market_client::conservation::TokenAccounts;
use gpu_market_client::ix::{self, MarketKeys};
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, pda, token, Pubkey};
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};

use gpu_market_tests::{default_params, h100};

use crate::common::*;

struct Wallet {
    key: Keypair,
    payment: Pubkey,
    stake: Pubkey,
}

struct Provider {
    owner: Wallet,
    worker: Keypair,
    key: Pubkey,
}

/// A market on some chain, with the authority paying for everything.
struct Market {
    chain: SharedChain,
    sender: Sender,
    authority: Keypair,
    keys: MarketKeys,
    /// Every token account made here: conservation is checked over them.
    tokens: TokenAccounts,
}

impl Market {
    async fn new(chain: SharedChain) -> Market {
        let authority = Keypair::new();
        chain
            .request_airdrop(&authority.pubkey(), 100_000_000_000)
            .await
            .expect("airdrop to the authority");
        let sender = Sender::new(chain.clone());
        let tokens = TokenAccounts::new();
        let plan = MarketPlan {
            market_id: 1,
            params: default_params(),
            treasury: Keypair::new().pubkey(),
            same_mint: false,
        };
        let market = bootstrap::create_market(&sender, &authority, &plan, &tokens)
            .await
            .expect("market bootstrap");
        Market {
            chain,
            sender,
            authority,
            keys: market.keys,
            tokens,
        }
    }

    async fn send(
        &self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> gpu_market_client::error::Result<gpu_market_client::chain::TxOutcome> {
        self.sender.send(ixs, &self.authority, signers).await
    }

    async fn wallet(&self, payment: u64, stake: u64) -> Wallet {
        let key = Keypair::new();
        self.chain
            .request_airdrop(&key.pubkey(), 10_000_000_000)
            .await
            .unwrap();
        let (payment, stake) = bootstrap::fund(
            &self.sender,
            &self.authority,
            &self.keys,
            &self.tokens,
            &key.pubkey(),
            payment,
            stake,
        )
        .await
        .expect("fund wallet");
        Wallet {
            key,
            payment,
            stake,
        }
    }

    /// Every token of both mints is where the books say.
    async fn assert_conservation(&self) {
        let report = self.tokens.check(&*self.chain).await.unwrap();
        assert_eq!(report.len(), 2, "both mints checked: {report:?}");
        for c in report {
            assert!(c.ok, "token conservation: {c:?}");
        }
    }

    async fn balance(&self, token_account: &Pubkey) -> u64 {
        let a = self
            .chain
            .get_account(token_account)
            .await
            .unwrap()
            .expect("token account exists");
        token::decode_token_account(token_account, &a.data)
            .unwrap()
            .amount
    }

    async fn register_provider(&self, stake: u64) -> Provider {
        let owner = self.wallet(0, stake).await;
        let worker = Keypair::new();
        self.chain
            .request_airdrop(&worker.pubkey(), 1_000_000_000)
            .await
            .unwrap();
        let args = ProviderRegisterArgs {
            worker: worker.pubkey(),
            gpu: h100(),
            price_floor: 0,
            max_concurrent: 4,
            stake,
        };
        let ix = ix::provider_register(
            &self.keys,
            owner.key.pubkey(),
            owner.stake,
            owner.payment,
            args,
        );
        self.send(&[ix], &[&owner.key])
            .await
            .expect("provider_register");
        let key = pda::provider(&self.keys.market, &owner.key.pubkey());
        Provider { owner, worker, key }
    }

    async fn claim(
        &self,
        p: &Provider,
        job: &Pubkey,
    ) -> gpu_market_client::error::Result<gpu_market_client::chain::TxOutcome> {
        let ix = ix::job_claim(self.keys.market, p.key, *job, p.worker.pubkey());
        self.send(&[ix], &[&p.worker]).await
    }
}

/// Post, claim, submit, wait out the challenge window, finalize; check every
/// balance and one program error by name. `clock` moves time on the chain
/// behind `chain` (the same chain, reached in-process).
async fn lifecycle(chain: SharedChain, clock: Arc<EmbeddedChain>) {
    let p = default_params();
    let mut updates = chain.subscribe_program(&gpu_market::ID).await.unwrap();
    let m = Market::new(chain.clone()).await;
    let provider = m.register_provider(5_000).await;
    let rival = m.register_provider(5_000).await;
    let buyer = m.wallet(100_000, 0).await;
    let cranker = m.wallet(0, 0).await;
    let treasury_before = m.balance(&m.keys.fee_account).await;
    m.assert_conservation().await;

    let price = 10_000;
    let now = chain.clock().await.unwrap().unix_timestamp;
    let (post, job) = ix::job_post(
        &m.keys,
        buyer.key.pubkey(),
        buyer.payment,
        JobPostArgs {
            nonce: 1,
            workload: 0,
            spec_hash: [1; 32],
            spec_uri: "blob://spec/1".into(),
            requirements: JobRequirements::default(),
            price,
            deadline: now + 600,
            gemm: Some(gpu_market::state::GemmCommitment {
                m: 1,
                n: 1,
                k: 1,
                a_root: [0xA1; 32],
                b_root: [0xB1; 32],
            }),
            max_escrow: gpu_market::math::escrow_for(price, default_params().crank_bounty).unwrap(),
        },
    );
    m.send(&[post], &[&buyer.key]).await.expect("job_post");
    assert_eq!(
        m.balance(&buyer.payment).await,
        100_000 - price - p.crank_bounty
    );
    assert_eq!(
        m.balance(&m.keys.payment_vault).await,
        price + p.crank_bounty
    );
    // Scans with memcmp filters (discriminator, market, state) find it.
    let open = accounts::list_jobs(&*chain, &m.keys.market, Some(JobState::Open))
        .await
        .unwrap();
    assert_eq!(open.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![job]);
    assert_eq!(
        accounts::list_providers(&*chain, &m.keys.market)
            .await
            .unwrap()
            .len(),
        2
    );

    m.claim(&provider, &job).await.expect("job_claim");
    let j = accounts::fetch_job(&*chain, &job).await.unwrap();
    assert_eq!((j.state, j.provider), (JobState::Claimed, provider.key));

    // The rival is too late, and the program says so by name.
    let err = m.claim(&rival, &job).await.unwrap_err();
    assert_eq!(err.error_name(), Some("JobNotOpen"), "{err}");
    assert_eq!(
        err.market_error(),
        Some(gpu_market::errors::MarketError::JobNotOpen)
    );
    assert!(
        err.logs()
            .iter()
            .any(|l| l.contains("failed: custom program error")),
        "the program's logs come with the error: {:?}",
        err.logs()
    );

    // Metered GPU time may not exceed wall-clock time since the claim.
    clock.advance(10).await.unwrap();
    let submit = ix::job_submit(
        provider.key,
        job,
        provider.worker.pubkey(),
        JobSubmitArgs {
            result_root: [7; 32],
            result_uri: "blob://result/7".into(),
            gpu_ms: 9_500,
        },
    );
    m.send(&[submit], &[&provider.worker])
        .await
        .expect("job_submit");
    assert_eq!(
        accounts::fetch_job(&*chain, &job).await.unwrap().state,
        JobState::Submitted
    );

    clock.advance(p.challenge_window + 1).await.unwrap();
    let j = accounts::fetch_job(&*chain, &job).await.unwrap();
    assert!(chain.clock().await.unwrap().unix_timestamp > j.challenge_deadline);
    let pr = accounts::fetch_provider(&*chain, &j.provider)
        .await
        .unwrap();
    let finalize = ix::job_finalize(&m.keys, job, &j, &pr, cranker.key.pubkey(), cranker.payment);
    m.send(&[finalize], &[&cranker.key])
        .await
        .expect("job_finalize");

    let fee = price * u64::from(p.fee_bps) / 10_000;
    assert_eq!(m.balance(&provider.owner.payment).await, price - fee);
    // The fee accrues in the payment vault until the authority sweeps it.
    assert_eq!(m.balance(&m.keys.fee_account).await - treasury_before, 0);
    assert_eq!(
        accounts::fetch_market(&*m.chain, &m.keys.market)
            .await
            .unwrap()
            .totals
            .fees_unswept,
        fee
    );
    assert_eq!(m.balance(&cranker.payment).await, p.crank_bounty);
    // The fee stays in the vault, accrued for the treasury until swept.
    assert_eq!(m.balance(&m.keys.payment_vault).await, fee);
    assert!(
        chain.get_account(&job).await.unwrap().is_none(),
        "settled jobs close their accounts"
    );
    let pr = accounts::fetch_provider(&*chain, &provider.key)
        .await
        .unwrap();
    assert_eq!(
        (
            pr.locked,
            pr.active_jobs,
            pr.reputation.completed,
            pr.reputation.gpu_ms
        ),
        (0, 0, 1, 9_500)
    );
    let market = accounts::fetch_market(&*chain, &m.keys.market)
        .await
        .unwrap();
    assert_eq!(
        (market.totals.jobs_posted, market.totals.jobs_completed),
        (1, 1)
    );
    m.assert_conservation().await;

    // The program stream told of the job's creation, changes and closure
    // (closure as `None`), in order.
    let mut seen = Vec::new();
    while seen.last() != Some(&None) {
        let u = within("job updates", updates.recv())
            .await
            .expect("stream open");
        if u.pubkey == job {
            seen.push(u.account.map(|a| {
                accounts::decode::<gpu_market::state::Job>(&job, &a.data, "job")
                    .unwrap()
                    .state
            }));
        }
    }
    assert_eq!(
        seen,
        vec![
            Some(JobState::Open),
            Some(JobState::Claimed),
            Some(JobState::Submitted),
            None
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_the_embedded_chain() {
    let chain = EmbeddedChain::start(ClockMode::RealTime).await.unwrap();
    lifecycle(chain.clone(), chain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_over_rpc_through_the_localnet() {
    let net = start().await;
    let rpc: SharedChain = Arc::new(RpcChain::new(&net.rpc_url));
    lifecycle(rpc, net.chain.clone()).await;
    net.stop().await;
}
