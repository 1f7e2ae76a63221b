//! Shared fixtures for the integration suites: a [`World`] on the embedded
//! chain with a market (built by the SDK's shared bootstrap, as the demo's
//! and the localnet tests' are), funded wallets that it remembers (so token
//! conservation can be checked over every token account that exists), and
//! helpers that drive each instruction and assert on named errors.

use std::sync::Arc;

pub mod dispute;
pub mod referee;
pub mod segment_disputes;
pub mod segments;

use gpu_market::state::{
    GemmCommitment, GpuDescriptor, Job, JobRequirements, MarketParams, Provider,
};
use gpu_market::{JobPostArgs, JobSubmitArgs, ProviderRegisterArgs};
use gpu_market_client::bootstrap::{self, MarketPlan};
use gpu_market_client::chain::embedded::{ClockMode, EmbeddedChain};
use gpu_market_client::chain::{Chain, SharedChain, TxOutcome};
use gpu_market_client::conservation::TokenAccounts;
use gpu_market_client::error::Result;
use gpu_market_client::ix::{self, MarketKeys};
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, audit, pda, token, Pubkey};
use solana_sdk::instruction::Instruction;
pub use solana_sdk::signature::{Keypair, Signer};

/// Where manual-clock worlds start.
pub const T0: i64 = 1_800_000_000;

pub fn default_params() -> MarketParams {
    MarketParams {
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

/// A gemm-i8 commitment for jobs whose results are never disputed: a 1 x 1 x 1 shape and
/// roots no input hashes to. Dispute tests post real ones (`tests/tests/disputes.rs`).
pub fn placeholder_gemm() -> GemmCommitment {
    GemmCommitment {
        m: 1,
        n: 1,
        k: 1,
        a_root: [0xA1; 32],
        b_root: [0xB1; 32],
    }
}

pub fn gpu(model: &str, vram_mb: u32, count: u16, cc: u16) -> GpuDescriptor {
    GpuDescriptor {
        model: GpuDescriptor::model_from_str(model),
        vram_mb,
        count,
        compute_capability: cc,
        benchmark_gflops: 1_000,
    }
}

pub fn h100() -> GpuDescriptor {
    gpu("NVIDIA H100 80GB HBM3", 81_559, 1, 90)
}

/// A wallet with SOL and associated token accounts for both mints.
pub struct Wallet {
    pub key: Keypair,
    pub payment: Pubkey,
    pub stake: Pubkey,
}

impl Wallet {
    pub fn pubkey(&self) -> Pubkey {
        self.key.pubkey()
    }
}

pub struct ProviderHandle {
    pub owner: Wallet,
    pub worker: Keypair,
    pub key: Pubkey,
}

pub struct World {
    pub chain: Arc<EmbeddedChain>,
    pub sender: Sender,
    pub authority: Keypair,
    pub payment_mint: Pubkey,
    pub stake_mint: Pubkey,
    pub treasury: Wallet,
    pub market: MarketKeys,
    pub params: MarketParams,
    /// Every token account created in this world, by mint: conservation sums these.
    tokens: TokenAccounts,
}

impl World {
    pub async fn new() -> Self {
        Self::with_params(default_params(), false).await
    }

    /// A world on a manual clock starting at [`T0`]; `same_mint` uses one mint
    /// for payments and stake.
    pub async fn with_params(params: MarketParams, same_mint: bool) -> Self {
        let chain = EmbeddedChain::start(ClockMode::Manual {
            start_unix_timestamp: T0,
        })
        .await
        .expect("embedded chain starts");
        Self::on_chain(chain, params, same_mint).await
    }

    /// A world on a chain started elsewhere (a real-time clock, for benchmarks).
    pub async fn on_chain(
        chain: Arc<EmbeddedChain>,
        params: MarketParams,
        same_mint: bool,
    ) -> Self {
        let shared: SharedChain = chain.clone();
        let sender = Sender::new(shared);
        let authority = Keypair::new();
        chain
            .request_airdrop(&authority.pubkey(), 100_000_000_000)
            .await
            .unwrap();
        let treasury = Keypair::new();
        chain
            .request_airdrop(&treasury.pubkey(), 10_000_000_000)
            .await
            .unwrap();
        let tokens = TokenAccounts::new();
        let plan = MarketPlan {
            market_id: 1,
            params,
            treasury: treasury.pubkey(),
            same_mint,
        };
        let market = bootstrap::create_market(&sender, &authority, &plan, &tokens)
            .await
            .expect("market bootstrap");
        World {
            chain,
            sender,
            authority,
            payment_mint: market.keys.payment_mint,
            stake_mint: market.keys.stake_mint,
            treasury: Wallet {
                key: treasury,
                payment: market.keys.fee_account,
                stake: market.keys.slash_account,
            },
            market: market.keys,
            params,
            tokens,
        }
    }

    /// Records a token account for the conservation check.
    pub fn track(&self, mint: Pubkey, account: Pubkey) {
        self.tokens.track(mint, account);
    }

    /// Sends with the authority paying fees and `signers` signing too.
    pub async fn send(&self, ixs: &[Instruction], signers: &[&Keypair]) -> Result<TxOutcome> {
        self.sender.send(ixs, &self.authority, signers).await
    }

    pub async fn create_mint(&self) -> Pubkey {
        bootstrap::create_mint(&self.sender, &self.authority)
            .await
            .expect("create mint")
    }

    /// A wallet with 10 SOL, its associated token accounts, and the given balances.
    pub async fn wallet(&self, payment: u64, stake: u64) -> Wallet {
        let key = Keypair::new();
        self.chain
            .request_airdrop(&key.pubkey(), 10_000_000_000)
            .await
            .unwrap();
        let (payment, stake) = bootstrap::fund(
            &self.sender,
            &self.authority,
            &self.market,
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

    pub async fn balance(&self, token_account: &Pubkey) -> u64 {
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

    pub async fn now(&self) -> i64 {
        self.chain.clock().await.unwrap().unix_timestamp
    }

    pub async fn set_time(&self, t: i64) {
        let c = self.chain.set_unix_timestamp(t).await.unwrap();
        assert_eq!(c.unix_timestamp, t, "the clock never moves backwards");
    }

    pub async fn advance(&self, seconds: i64) {
        self.chain.advance(seconds).await.unwrap();
    }

    pub async fn provider(&self, key: &Pubkey) -> Provider {
        accounts::fetch_provider(&*self.chain, key).await.unwrap()
    }

    pub async fn job(&self, key: &Pubkey) -> Job {
        accounts::fetch_job(&*self.chain, key).await.unwrap()
    }

    pub async fn job_exists(&self, key: &Pubkey) -> bool {
        self.chain.get_account(key).await.unwrap().is_some()
    }

    pub async fn market_state(&self) -> gpu_market::state::Market {
        accounts::fetch_market(&*self.chain, &self.market.market)
            .await
            .unwrap()
    }

    pub fn register_args(
        &self,
        worker: Pubkey,
        gpu: GpuDescriptor,
        stake: u64,
    ) -> ProviderRegisterArgs {
        ProviderRegisterArgs {
            worker,
            gpu,
            price_floor: 0,
            max_concurrent: 4,
            stake,
        }
    }

    pub async fn register_provider(&self, gpu: GpuDescriptor, stake: u64) -> ProviderHandle {
        let owner = self.wallet(0, stake).await;
        let worker = Keypair::new();
        self.chain
            .request_airdrop(&worker.pubkey(), 1_000_000_000)
            .await
            .unwrap();
        let args = self.register_args(worker.pubkey(), gpu, stake);
        let ix = ix::provider_register(
            &self.market,
            owner.pubkey(),
            owner.stake,
            owner.payment,
            args,
        );
        self.send(&[ix], &[&owner.key])
            .await
            .expect("provider_register");
        let key = pda::provider(&self.market.market, &owner.pubkey());
        ProviderHandle { owner, worker, key }
    }

    pub fn post_args(&self, nonce: u64, price: u64, deadline: i64) -> JobPostArgs {
        JobPostArgs {
            nonce,
            workload: 0,
            spec_hash: [nonce as u8; 32],
            spec_uri: format!("blob://spec/{nonce}"),
            requirements: JobRequirements::default(),
            price,
            deadline,
            gemm: Some(placeholder_gemm()),
            // What the world's terms ask; a price that overflows it is the
            // program's to refuse.
            max_escrow: gpu_market::math::escrow_for(price, self.params.crank_bounty)
                .unwrap_or(u64::MAX),
        }
    }

    pub async fn post_job(&self, buyer: &Wallet, nonce: u64, price: u64, deadline: i64) -> Pubkey {
        let (ix, job) = ix::job_post(
            &self.market,
            buyer.pubkey(),
            buyer.payment,
            self.post_args(nonce, price, deadline),
        );
        self.send(&[ix], &[&buyer.key]).await.expect("job_post");
        job
    }

    pub async fn claim(&self, p: &ProviderHandle, job: &Pubkey) -> Result<TxOutcome> {
        let ix = ix::job_claim(self.market.market, p.key, *job, p.worker.pubkey());
        self.send(&[ix], &[&p.worker]).await
    }

    pub fn submit_args(root: u8, gpu_ms: u64) -> JobSubmitArgs {
        JobSubmitArgs {
            result_root: [root; 32],
            result_uri: format!("blob://result/{root}"),
            gpu_ms,
        }
    }

    pub async fn submit(&self, p: &ProviderHandle, job: &Pubkey, gpu_ms: u64) -> Result<TxOutcome> {
        let ix = ix::job_submit(p.key, *job, p.worker.pubkey(), Self::submit_args(7, gpu_ms));
        self.send(&[ix], &[&p.worker]).await
    }

    pub async fn finalize(&self, job_key: &Pubkey, cranker: &Wallet) -> Result<TxOutcome> {
        let job = self.job(job_key).await;
        let provider = self.provider(&job.provider).await;
        let ix = ix::job_finalize(
            &self.market,
            *job_key,
            &job,
            &provider,
            cranker.pubkey(),
            cranker.payment,
        );
        self.send(&[ix], &[&cranker.key]).await
    }

    pub async fn expire(&self, job_key: &Pubkey, cranker: &Wallet) -> Result<TxOutcome> {
        let job = self.job(job_key).await;
        let ix = ix::job_expire(
            &self.market,
            *job_key,
            &job,
            cranker.pubkey(),
            cranker.stake,
        );
        self.send(&[ix], &[&cranker.key]).await
    }

    pub async fn expire_unclaimed(&self, job_key: &Pubkey, cranker: &Wallet) -> Result<TxOutcome> {
        let job = self.job(job_key).await;
        let ix = ix::job_expire_unclaimed(
            &self.market,
            *job_key,
            &job,
            cranker.pubkey(),
            cranker.payment,
        );
        self.send(&[ix], &[&cranker.key]).await
    }

    /// The authority sweeps what accrued for the treasury to `fee` and `slash`.
    pub async fn sweep(&self, fee: Pubkey, slash: Pubkey) -> Result<TxOutcome> {
        let ix = ix::market_sweep(&self.market, self.authority.pubkey(), fee, slash);
        self.send(&[ix], &[]).await
    }

    pub async fn cancel(&self, job_key: &Pubkey, buyer: &Wallet) -> Result<TxOutcome> {
        let ix = ix::job_cancel(&self.market, *job_key, buyer.pubkey(), buyer.payment);
        self.send(&[ix], &[&buyer.key]).await
    }

    /// Token conservation and vault solvency, asserted:
    /// - for each mint, the balances of every token account in this world sum
    ///   to the mint's supply (no token was created, destroyed, or sent anywhere
    ///   this world does not know about);
    /// - every audit invariant holds (vaults hold exactly what is owed, and
    ///   provider counters add up to the market totals).
    pub async fn assert_conservation(&self) {
        let report = self
            .tokens
            .check(&*self.chain)
            .await
            .expect("token accounts readable");
        for c in report {
            assert!(
                c.ok,
                "token conservation for mint {}: supply {} but the {} accounts hold {}",
                c.mint, c.supply, c.accounts, c.sum_of_accounts
            );
        }
        let snap = audit::Snapshot::load(&*self.chain, &self.market.market)
            .await
            .unwrap();
        let report = audit::invariants(&snap);
        assert!(
            report.ok,
            "invariants violated: {:#?}",
            report.checks.iter().filter(|c| !c.ok).collect::<Vec<_>>()
        );
    }
}

/// Asserts that `r` failed with the named program error.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(r: Result<T>, name: &str) {
    match r {
        Err(e) if e.error_name() == Some(name) => {}
        Err(e) => panic!(
            "expected {name}, got {e} / {:?}",
            e.logs().iter().rev().take(3).collect::<Vec<_>>()
        ),
        Ok(v) => panic!("expected {name}, but it succeeded: {v:?}"),
    }
}

impl World {
    /// Finalize built from remembered accounts, for a job that may already be closed.
    pub async fn finalize_closed(
        &self,
        job_key: &Pubkey,
        p: &ProviderHandle,
        cranker: &Wallet,
    ) -> Result<TxOutcome> {
        let provider = self.provider(&p.key).await;
        let accounts = gpu_market::accounts::JobFinalize {
            cranker: cranker.pubkey(),
            market: self.market.market,
            job: *job_key,
            buyer: Pubkey::new_unique(),
            provider: p.key,
            payout_account: provider.payout_account,
            cranker_payment_account: cranker.payment,
            payment_vault: self.market.payment_vault,
            token_program: token::TOKEN_PROGRAM_ID,
        };
        let ix = Instruction {
            program_id: gpu_market::ID,
            accounts: anchor_lang::ToAccountMetas::to_account_metas(&accounts, None),
            data: anchor_lang::InstructionData::data(&gpu_market::instruction::JobFinalize {}),
        };
        self.send(&[ix], &[&cranker.key]).await
    }
}

impl World {
    /// Another market in this world (same mints and treasury), by id.
    pub async fn create_market(&self, market_id: u64, params: MarketParams) -> Result<MarketKeys> {
        let plan = MarketPlan {
            market_id,
            params,
            treasury: self.treasury.pubkey(),
            same_mint: self.payment_mint == self.stake_mint,
        };
        let market = bootstrap::create_market_with_mints(
            &self.sender,
            &self.authority,
            &plan,
            self.payment_mint,
            self.stake_mint,
            &self.tokens,
        )
        .await?;
        Ok(market.keys)
    }
}

/// Replaces every occurrence of `from` among the instruction's accounts by `to`.
pub fn swap(mut ix: Instruction, from: Pubkey, to: Pubkey) -> Instruction {
    for m in &mut ix.accounts {
        if m.pubkey == from {
            m.pubkey = to;
        }
    }
    ix
}
