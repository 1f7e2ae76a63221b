//! Setting the stage: the cast's keys and lamports, the market (through the
//! SDK's shared bootstrap, so the demo's market is built like the tests'),
//! the buyer's and providers' tokens, the executors, and the providers'
//! registrations and workers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gpu_market::ProviderRegisterArgs;
use gpu_market_client::bootstrap::{self, MarketPlan, NewMarket};
use gpu_market_client::send::Sender;
use gpu_market_client::{ix, pda, Pubkey};
use gpu_market_compute::exec::{CpuExecutor, DeviceKind, Executor};
use gpu_market_worker::{FailPoint, Worker, WorkerConfig};
use solana_sdk::signature::{Keypair, Signer};

use super::actors::Env;
use super::error::DemoError;
use super::{demo_params, CHEAT_PRICE, PRICE};
use gpu_market_client::conservation::TokenAccounts;

/// Lamports each actor gets for fees and rent.
const LAMPORTS_EACH: u64 = 2_000_000_000;
/// Stake-mint units each provider owner gets, and what it stakes of them.
const OWNER_STAKE_FUNDS: u64 = 10_000_000;
const STAKE: u64 = 5_000_000;
/// Instructions per setup transaction (well under the size limit).
const IXS_PER_TX: usize = 6;

/// Everyone's keys. The market's authority is also its treasury. The cheated
/// buyer posts only the job the cheating provider takes, so that what the
/// dispute pays it (its slash share, its refund) is its balance alone.
pub(super) struct Cast {
    pub authority: Keypair,
    pub buyer: Keypair,
    pub cheated_buyer: Keypair,
    pub auditor: Keypair,
    pub cranker: Keypair,
    pub owners: Vec<Keypair>,
    pub workers: Vec<Keypair>,
}

impl Cast {
    pub fn new(providers: u32) -> Self {
        Cast {
            authority: Keypair::new(),
            buyer: Keypair::new(),
            cheated_buyer: Keypair::new(),
            auditor: Keypair::new(),
            cranker: Keypair::new(),
            owners: (0..providers).map(|_| Keypair::new()).collect(),
            workers: (0..providers).map(|_| Keypair::new()).collect(),
        }
    }

    fn everyone(&self) -> Vec<Pubkey> {
        [
            &self.authority,
            &self.buyer,
            &self.cheated_buyer,
            &self.auditor,
            &self.cranker,
        ]
        .into_iter()
        .chain(&self.owners)
        .chain(&self.workers)
        .map(|k| k.pubkey())
        .collect()
    }
}

/// Pays every actor's lamports from `funder`.
pub(super) async fn fund_lamports(
    sender: &Sender,
    funder: &Keypair,
    cast: &Cast,
) -> Result<(), DemoError> {
    let ixs: Vec<_> = cast
        .everyone()
        .iter()
        .map(|k| solana_system_interface::instruction::transfer(&funder.pubkey(), k, LAMPORTS_EACH))
        .collect();
    for chunk in ixs.chunks(8) {
        sender
            .send(chunk, funder, &[])
            .await
            .map_err(DemoError::chain("funding the actors"))?;
    }
    Ok(())
}

/// Mints, the market, and the tokens: the buyer can pay for every job (and
/// one more), the cheated buyer for its one job, the auditor for one
/// challenger bond, each owner holds stake, and everyone who will receive
/// tokens (the cranker's bounties, the buyers' slash shares, the auditor's
/// reporter share) has both accounts.
pub(super) async fn market(
    sender: &Sender,
    cast: &Cast,
    jobs: u32,
    tokens: &TokenAccounts,
) -> Result<NewMarket, DemoError> {
    let authority = &cast.authority;
    let params = demo_params();
    let plan = MarketPlan {
        market_id: 0,
        params,
        treasury: authority.pubkey(),
        same_mint: false,
    };
    let market = bootstrap::create_market(sender, authority, &plan, tokens)
        .await
        .map_err(DemoError::chain("creating the market"))?;
    let budget = gpu_market::math::escrow_for(PRICE, params.crank_bounty)
        .unwrap_or(u64::MAX)
        .saturating_mul(u64::from(jobs) + 1);
    let wallets = [
        (cast.buyer.pubkey(), budget, 0),
        (
            cast.cheated_buyer.pubkey(),
            gpu_market::math::escrow_for(CHEAT_PRICE, params.crank_bounty).unwrap_or(u64::MAX),
            0,
        ),
        (cast.auditor.pubkey(), params.challenger_bond, 0),
        (cast.cranker.pubkey(), 0, 0),
    ]
    .into_iter()
    .chain(
        cast.owners
            .iter()
            .map(|o| (o.pubkey(), 0, OWNER_STAKE_FUNDS)),
    );
    let mut batch = Vec::new();
    for (owner, payment, stake) in wallets {
        let ixs =
            bootstrap::fund_instructions(&authority.pubkey(), &market.keys, &owner, payment, stake);
        if batch.len() + ixs.len() > IXS_PER_TX {
            send_batch(sender, authority, &mut batch).await?;
        }
        batch.extend(ixs);
        bootstrap::track_wallet(tokens, &market.keys, &owner);
    }
    send_batch(sender, authority, &mut batch).await?;
    Ok(market)
}

async fn send_batch(
    sender: &Sender,
    authority: &Keypair,
    batch: &mut Vec<solana_sdk::instruction::Instruction>,
) -> Result<(), DemoError> {
    if !batch.is_empty() {
        sender
            .send(batch, authority, &[])
            .await
            .map_err(DemoError::chain("minting"))?;
        batch.clear();
    }
    Ok(())
}

/// The executor every provider runs: the GPU if there is one (shared), else
/// the CPU split between the providers' workers.
pub(super) struct Executors {
    gpu: Option<Arc<dyn Executor>>,
    cpu_threads: usize,
    /// Why no GPU is used, when none is.
    pub note: Option<String>,
}

impl Executors {
    pub fn detect(providers: u32) -> Self {
        let best = gpu_market_compute::best_executor();
        let gpu = (best.executor.device().kind == DeviceKind::Cuda)
            .then(|| Arc::from(best.executor) as Arc<dyn Executor>);
        let cpu_threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .div_ceil(providers as usize)
            .max(1);
        Executors {
            gpu,
            cpu_threads,
            note: best.fallback_reason,
        }
    }

    pub fn has_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    pub fn next(&self) -> Arc<dyn Executor> {
        self.gpu
            .clone()
            .unwrap_or_else(|| Arc::new(CpuExecutor::with_threads(self.cpu_threads)))
    }
}

/// A registered provider and what its worker needs.
pub(super) struct Seat {
    pub name: String,
    pub key: Pubkey,
    pub owner: Pubkey,
    pub worker: Keypair,
    executor: Arc<dyn Executor>,
}

/// Registers one provider per owner, each with its measured executor.
pub(super) async fn register_providers(
    env: &Env,
    cast: &Cast,
    executors: &Executors,
) -> Result<Vec<Seat>, DemoError> {
    let m = &env.market;
    let mut seats = Vec::new();
    for (i, (owner, worker)) in cast.owners.iter().zip(&cast.workers).enumerate() {
        let executor = executors.next();
        let gflops = gpu_market_worker::worker::measure_gflops(&*executor);
        let args = ProviderRegisterArgs {
            worker: worker.pubkey(),
            gpu: gpu_market_worker::descriptor(executor.device(), gflops),
            price_floor: 0,
            max_concurrent: 2,
            stake: STAKE,
        };
        let (payout, stake_account) = bootstrap::wallet_accounts(m, &owner.pubkey());
        let ix = ix::provider_register(m, owner.pubkey(), stake_account, payout, args);
        env.sender
            .send(&[ix], owner, &[])
            .await
            .map_err(DemoError::chain("registering providers"))?;
        seats.push(Seat {
            name: format!("provider-{}", i + 1),
            key: pda::provider(&m.market, &owner.pubkey()),
            owner: owner.pubkey(),
            worker: worker.insecure_clone(),
            executor,
        });
    }
    Ok(seats)
}

impl Seat {
    /// A worker for this provider, journaling under `workdir`; `fail` makes it
    /// crash at that point (the offline provider). Phases are second-scale,
    /// so it reconciles often.
    pub async fn worker(
        &self,
        env: &Env,
        workdir: &Path,
        fail: Option<FailPoint>,
    ) -> Result<Arc<Worker>, DemoError> {
        self.start(self.config(env, workdir, fail), env).await
    }

    /// The cheating provider's worker: in the test-only mode that submits wrong
    /// results, and taking only jobs priced at [`CHEAT_PRICE`] or more (the one
    /// job the cheated buyer posts), so that it cheats exactly once. It answers
    /// the challenge itself, revealing its (wrong) committed row, and loses.
    pub async fn cheater(&self, env: &Env, workdir: &Path) -> Result<Arc<Worker>, DemoError> {
        let mut cfg = self.config(env, workdir, None);
        cfg.cheat_wrong_results = true;
        cfg.price_floor = CHEAT_PRICE;
        cfg.max_concurrent = 1;
        self.start(cfg, env).await
    }

    /// The training act's worker for this provider: its own journal (and checkpoint
    /// directory) beside the scenario's, a crank too (it pays segments and expires a
    /// missed one); `fail` kills it at that point of that segment.
    pub async fn trainer(
        &self,
        env: &Env,
        workdir: &Path,
        fail: Option<(u8, gpu_market_worker::segments::FailPoint)>,
    ) -> Result<Arc<Worker>, DemoError> {
        let mut cfg = self.config(env, workdir, None);
        cfg.journal = workdir.join(format!("{}.train.journal", self.name));
        cfg.checkpoint_dir = workdir.join(format!("{}.ckpt", self.name));
        cfg.work_dir = workdir.join(format!("{}.train.work", self.name));
        cfg.crank = true;
        cfg.segment_fail_point = fail;
        self.start(cfg, env).await
    }

    fn config(&self, env: &Env, workdir: &Path, fail: Option<FailPoint>) -> WorkerConfig {
        let mut cfg = WorkerConfig::new(
            env.market.market,
            self.owner,
            workdir.join(format!("{}.journal", self.name)),
        );
        cfg.reconcile_every = Duration::from_millis(500);
        cfg.heartbeat_every = Duration::from_secs(5);
        cfg.max_concurrent = if fail.is_some() { 1 } else { 2 };
        cfg.min_time_to_submit = 2;
        cfg.fail_point = fail;
        // The demo's blob store is a local directory (file:// URIs), or a
        // loopback server.
        cfg.uri_policy = gpu_market_worker::UriPolicy::local();
        // Claims last 6 s here: a second is enough to commit, upload and submit.
        cfg.execution_margin = 1;
        cfg
    }

    async fn start(&self, cfg: WorkerConfig, env: &Env) -> Result<Arc<Worker>, DemoError> {
        Worker::new(
            cfg,
            env.sender.clone(),
            self.worker.insecure_clone(),
            self.executor.clone(),
            env.blobs.clone(),
        )
        .await
        .map_err(|source| DemoError::Worker {
            provider: self.key,
            source,
        })
    }
}
