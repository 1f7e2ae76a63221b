//! `gpumkt demo`: a whole market on one machine, in one command. An authority
//! creates mints and a market; providers register and run real workers (GPU
//! if present, CPU otherwise); a buyer posts a stream of jobs of each workload
//! it can run and checks every result; one provider goes offline right after
//! claiming a job, which then expires, its bond slashed by the market's rule,
//! and another provider finishes it; one more provider cheats (its worker in
//! the test-only wrong-results mode) on a job of a second buyer, and an
//! auditor running `gpumkt audit watch`'s loop challenges the wrong element,
//! proves it on chain and settles the dispute: the cheater's bond and locked
//! stake slashed by the rule, the buyer refunded, the challenger paid; a crank
//! settles everything; an auditor's report recomputes the figures and checks
//! the invariants from chain state.
//!
//! The scenario here is the script; [`setup`] sets the stage, [`actors`]
//! holds the tasks that share one [`Env`], and [`report`] is the auditor's
//! account of it.

mod actors;
mod error;
mod report;
mod serving;
mod setup;
mod training;
mod training_report;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use gpu_market::state::MarketParams;
use gpu_market_client::audit;
use gpu_market_client::auditor::{Verdict, WatchEvent};
use gpu_market_client::buyer;
use gpu_market_client::chain::counting::CountingChain;
use gpu_market_client::chain::SharedChain;
use gpu_market_client::conservation::TokenAccounts;
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, token, Pubkey};
use gpu_market_worker::FailPoint;
use solana_sdk::signature::{Keypair, Signer};

pub use actors::Env;
pub use error::DemoError;
pub use report::{print_report, DemoReport, DisputeReport, Progress, ProviderReport, SlashReport};
pub use serving::{Running, DASHBOARD_BUYER_FILE};
pub use training_report::{TrainingReport, TrainingSegment, MIN_ACCURACY};

use crate::output::emit;
use crate::{CliError, Ctx, Format, Result};

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Jobs the buyer posts.
    #[arg(long, default_value_t = 12)]
    pub jobs: u32,
    /// Providers, each running a worker (one of them goes offline); one more, a
    /// cheating provider, joins them.
    #[arg(long, default_value_t = 3)]
    pub providers: u32,
    /// GEMM dimension (m = n = k).
    #[arg(long, default_value_t = 96)]
    pub size: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 170)]
    pub timeout: u64,
    /// Keep the demo's blob store and journals here (default: a temporary directory).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// After the report, keep the market up and serve the dashboard over it until
    /// ctrl-c. On the embedded chain the demo then runs through an in-process node
    /// (JSON-RPC), so that its transactions are in the dashboard's history. It prints
    /// the dashboard's URL last (`--output json`: as one JSON line after the report).
    #[arg(long)]
    pub dashboard: bool,
    /// The dashboard's port (0 picks a free one).
    #[arg(long, default_value_t = gpu_market_dashboard::DEFAULT_PORT)]
    pub dashboard_port: u16,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            jobs: 12,
            providers: 3,
            size: 96,
            timeout: 170,
            workdir: None,
            dashboard: false,
            dashboard_port: gpu_market_dashboard::DEFAULT_PORT,
        }
    }
}

/// Market rules sized for a demo that runs in seconds: a claim must be
/// submitted within 6 s, results can be challenged for 4 s (time for the
/// auditor to fetch and check each result), and a dispute's two sides have
/// 8 s to stage their proofs (a complete dispute is settled at once, so an
/// honest run never waits that long).
pub fn demo_params() -> MarketParams {
    MarketParams {
        fee_bps: 250,
        min_stake: 1_000_000,
        bond_bps: 5_000,
        bond_min: 100_000,
        claim_timeout: 6,
        challenge_window: 4,
        dispute_timeout: 8,
        unstake_cooldown: 20,
        challenger_bond: 100_000,
        slash_buyer_bps: 5_000,
        slash_reporter_bps: 1_000,
        crank_bounty: 1_000,
        score_fee_scale: 100_000,
        min_submit_window: 3,
    }
}

/// What the buyer pays per job, payment-mint base units.
const PRICE: u64 = 1_000_000;
/// The price of the cheated buyer's one job: the cheating provider takes only
/// jobs at this price or more, so it cheats on that job alone.
const CHEAT_PRICE: u64 = 2 * PRICE;
/// How often the scenario looks at the market while it waits.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// Runs the scenario on `chain`, paying for everything from `funder`.
/// `progress` is called about twice a second.
pub async fn run_scenario(
    chain: SharedChain,
    funder: &Keypair,
    a: &DemoArgs,
    progress: impl FnMut(&Progress),
) -> Result<DemoReport> {
    let (report, running) = run_scenario_serving(chain, funder, a, progress).await?;
    if let Some(r) = running {
        r.stop().await;
    }
    Ok(report)
}

/// [`run_scenario`]; with `a.dashboard`, the honest providers' daemons and the crank
/// are left running (and a buyer for the dashboard's page funded, its key in
/// [`DASHBOARD_BUYER_FILE`] under the workdir), until the caller stops them.
pub async fn run_scenario_serving(
    chain: SharedChain,
    funder: &Keypair,
    a: &DemoArgs,
    mut progress: impl FnMut(&Progress),
) -> Result<(DemoReport, Option<Running>)> {
    if a.providers < 2 {
        return Err(CliError::Usage(
            "--providers must be at least 2 (one of them goes offline)".into(),
        ));
    }
    if a.jobs < 2 {
        return Err(CliError::Usage("--jobs must be at least 2".into()));
    }
    let started = Instant::now();
    let counting = Arc::new(CountingChain::new(chain.clone()));
    let chain: SharedChain = counting.clone();
    let sender = Sender::new(chain.clone());
    let tmp;
    let workdir = match &a.workdir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().map_err(DemoError::TempDir)?;
            tmp.path().to_path_buf()
        }
    };
    let location = workdir.join("blobs").display().to_string();
    let blobs = gpu_market_blobs::open(&location)
        .map_err(|source| DemoError::BlobStore { location, source })?;

    // The stage: keys, lamports, the market, tokens, providers.
    // The providers, then the cheating provider.
    let cast = setup::Cast::new(a.providers + 1);
    setup::fund_lamports(&sender, funder, &cast).await?;
    let tokens = TokenAccounts::new();
    let market = setup::market(&sender, &cast, a.jobs, &tokens).await?;
    let params = market.state.params;
    let env = Arc::new(Env {
        sender: sender.clone(),
        market: market.keys,
        blobs,
        started,
        posted: AtomicU64::new(0),
        verified: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        tokens,
    });
    let executors = setup::Executors::detect(a.providers + 1);
    let executor_name = executors.next().device().name.clone();
    let seats = setup::register_providers(&env, &cast, &executors).await?;
    let cheat_index = seats.len() - 1;
    let cheat_key = seats[cheat_index].key;
    let offline_index = cheat_index - 1;
    let offline_key = seats[offline_index].key;
    let workloads = actors::workloads(a.size, executors.has_gpu());

    // Act 1: the soon-offline provider claims the first job, then dies.
    let first = actors::post_job(&env, &cast.buyer, &workloads[0], 0, PRICE).await?;
    let offline_worker = seats[offline_index]
        .worker(&env, &workdir, Some(FailPoint::AfterClaimSent))
        .await?;
    // It is meant to crash: its errors are the point.
    let _ = offline_worker.tick().await;
    let _ = offline_worker.drain().await;
    let first_job = accounts::fetch_job(&*chain, &first)
        .await
        .map_err(DemoError::chain("reading the first job"))?;
    if first_job.provider != offline_key {
        return Err(DemoError::OfflineMissedFirstJob {
            provider: offline_key,
            job: first,
        }
        .into());
    }
    let offline_bond = first_job.bond;
    let mut worker_stats = BTreeMap::new();
    worker_stats.insert(offline_index, offline_worker.stats());
    drop(offline_worker);

    // Act 2: the cheating provider's daemon takes the cheated buyer's one job and
    // submits a wrong result; that buyer's own check rejects it.
    let deadline = started + Duration::from_secs(a.timeout);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cheater = seats[cheat_index].cheater(&env, &workdir).await?;
    let cheater_task = tokio::spawn(cheater.clone().run(stop_rx.clone()));
    let cheated = actors::post_job(
        &env,
        &cast.cheated_buyer,
        &workloads[0],
        u64::from(a.jobs),
        CHEAT_PRICE,
    )
    .await?;
    let cheated_job = actors::wait_submitted(&env, &cheated, deadline).await?;
    let buyer_check_rejected = matches!(
        buyer::verify_result(&env.sender, &cheated).await,
        Ok(v) if !v.ok()
    );
    // What the rule will lock beside the bond at the challenge: the cheater holds no
    // other job, so its free stake now is its free stake then.
    let cheater_before = accounts::fetch_provider(&*chain, &cheat_key)
        .await
        .map_err(DemoError::chain("reading the cheating provider"))?;
    let stake_locked = cheated_job.bond.min(cheater_before.free_stake());

    // Act 3: the auditor's watch loop, the other providers' daemons, a crank, and
    // the buyer's checker run while the buyer posts the rest.
    let auditor =
        actors::spawn_auditor(env.clone(), cast.auditor.insecure_clone(), stop_rx.clone());
    let mut daemons = Vec::new();
    for (i, seat) in seats.iter().enumerate().take(offline_index) {
        let w = seat.worker(&env, &workdir, None).await?;
        daemons.push((i, w.clone(), tokio::spawn(w.run(stop_rx.clone()))));
    }
    let crank_task =
        actors::spawn_crank(env.clone(), cast.cranker.insecure_clone(), stop_rx.clone());
    let checker = actors::spawn_checker(env.clone(), cast.buyer.pubkey(), stop_rx.clone());
    actors::post_stream(&env, &cast.buyer, &workloads, a.jobs).await?;

    // Until every job is finalized (or, the cheated one, slashed). Meanwhile, note
    // who picks up the abandoned job.
    let mut finished_by = None;
    loop {
        if finished_by.is_none() {
            if let Ok(Some(j)) = accounts::fetch_job_opt(&*chain, &first).await {
                if j.provider != Pubkey::default() && j.provider != offline_key {
                    finished_by = Some(j.provider);
                }
            }
        }
        let p = actors::snapshot_progress(&env).await?;
        progress(&p);
        if p.settled(u64::from(a.jobs) + 1) {
            break;
        }
        if Instant::now() > deadline {
            let _ = stop_tx.send(true);
            return Err(DemoError::NotSettled {
                timeout_s: a.timeout,
                progress: Box::new(p),
            }
            .into());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let _ = stop_tx.send(true);
    crank_task.await.map_err(DemoError::CrankTask)?;
    let _ = checker.await;
    let events = auditor.await.map_err(DemoError::AuditorTask)?;
    for (i, w, handle) in daemons {
        let _ = handle.await;
        worker_stats.insert(i, w.stats());
    }
    let _ = cheater_task.await;
    worker_stats.insert(cheat_index, cheater.stats());

    // Fees and the treasury's share of slashes accrue in the vaults; the
    // authority (the demo's treasury) sweeps them to its own accounts.
    let (fee_to, slash_to) =
        gpu_market_client::bootstrap::wallet_accounts(&env.market, &cast.authority.pubkey());
    sender
        .send(
            &[gpu_market_client::ix::market_sweep(
                &env.market,
                cast.authority.pubkey(),
                fee_to,
                slash_to,
            )],
            &cast.authority,
            &[],
        )
        .await
        .map_err(DemoError::chain("sweeping the treasury"))?;

    // The auditor's view.
    let snap = audit::Snapshot::load(&*chain, &env.market.market)
        .await
        .map_err(DemoError::chain("auditing"))?;
    let stats = audit::stats(&snap);
    let invariants = audit::invariants(&snap);
    let conservation = env
        .tokens
        .check(&*chain)
        .await
        .map_err(DemoError::chain("checking token conservation"))?;
    let split = gpu_market::math::slash_split(
        offline_bond,
        params.slash_buyer_bps,
        params.slash_reporter_bps,
    )
    .map_err(|source| DemoError::SlashSplit {
        bond: offline_bond,
        source,
    })?;
    let stake_mint = env.market.stake_mint;
    let received = |owner: Pubkey| {
        let chain = chain.clone();
        async move {
            token::balance(&*chain, &token::ata(&owner, &stake_mint))
                .await
                .map_err(DemoError::chain("reading slash shares"))
        }
    };
    let offline = SlashReport {
        provider: offline_key.to_string(),
        job: first.to_string(),
        bond: offline_bond,
        expected_to_buyer: split.buyer,
        expected_to_reporter: split.reporter,
        expected_to_treasury: split.treasury,
        buyer_received: received(cast.buyer.pubkey()).await?,
        reporter_received: received(cast.cranker.pubkey()).await?,
        finished_by: finished_by.map(|k| k.to_string()),
    };

    // The cheat's dispute: what the auditor did, and what the rule paid.
    let cheated_name = cheated.to_string();
    let challenged = events.iter().find_map(|e| match e {
        WatchEvent::Challenged(c) if c.job == cheated_name => Some(c.clone()),
        _ => None,
    });
    let outcome = events.iter().find_map(|e| match e {
        WatchEvent::Settled { job, outcome, .. } if *job == cheated_name => Some(outcome.clone()),
        _ => None,
    });
    let cheater_after = accounts::fetch_provider(&*chain, &cheat_key)
        .await
        .map_err(DemoError::chain("reading the cheating provider"))?;
    let expected_slashed = cheated_job.bond.saturating_add(stake_locked);
    let dispute_split = gpu_market::math::slash_split(
        expected_slashed,
        params.slash_buyer_bps,
        params.slash_reporter_bps,
    )
    .map_err(|source| DemoError::SlashSplit {
        bond: expected_slashed,
        source,
    })?;
    let paid = |owner: Pubkey| {
        let chain = chain.clone();
        let mint = env.market.payment_mint;
        async move {
            token::balance(&*chain, &token::ata(&owner, &mint))
                .await
                .map_err(DemoError::chain("reading the dispute's payments"))
        }
    };
    // The cheated buyer was funded with exactly its one job's escrow, and the auditor
    // with exactly one challenger bond: what they hold now is what came back.
    let auditor_paid = paid(cast.auditor.pubkey()).await?;
    let dispute = DisputeReport {
        provider: cheat_key.to_string(),
        job: cheated_name,
        dispute: challenged.as_ref().map(|c| c.dispute.clone()),
        row: challenged.as_ref().map(|c| c.row),
        col: challenged.as_ref().map(|c| c.col),
        buyer_check_rejected,
        outcome,
        bond: cheated_job.bond,
        stake_locked,
        slashed: cheater_before.stake.saturating_sub(cheater_after.stake),
        expected_slashed,
        expected_to_buyer: dispute_split.buyer,
        expected_to_challenger: dispute_split.reporter,
        expected_to_treasury: dispute_split.treasury,
        buyer_received: received(cast.cheated_buyer.pubkey()).await?,
        challenger_received: received(cast.auditor.pubkey()).await?,
        buyer_refunded: paid(cast.cheated_buyer.pubkey()).await?,
        expected_refund: cheated_job.escrow.saturating_sub(params.crank_bounty),
        challenger_bond_returned: auditor_paid >= params.challenger_bond,
        challenger_bounty: auditor_paid.saturating_sub(params.challenger_bond),
    };
    let auditor_checked = events
        .iter()
        .filter(|e| matches!(e, WatchEvent::Verified { .. }))
        .count() as u64;
    let auditor_wrong = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                WatchEvent::Verified {
                    verdict: Verdict::Wrong { .. },
                    ..
                }
            )
        })
        .count() as u64;
    let jobs_slashed = accounts::fetch_market(&*chain, &env.market.market)
        .await
        .map_err(DemoError::chain("reading the market"))?
        .totals
        .jobs_slashed;
    let providers = seats
        .iter()
        .enumerate()
        .map(|(i, seat)| {
            let worker = worker_stats.get(&i).cloned().unwrap_or_default();
            report::provider_report(
                &seat.name,
                &seat.key,
                i == offline_index,
                i == cheat_index,
                &stats,
                worker,
            )
        })
        .collect();
    // Act 4: a training job paid per segment, its provider killed mid-run and another
    // finishing from the last checkpoint (after the rest, so the figures above are the
    // scenario's own).
    let training = training::act(&env, &cast.authority, &seats[0], &seats[1], &workdir).await?;
    // With the dashboard, the honest providers' daemons and a crank start again, to
    // serve the page's jobs, and a buyer for the page is funded.
    let running = if a.dashboard {
        let honest = &seats[..offline_index];
        Some(
            serving::start(
                &env,
                &cast.authority,
                &cast.cranker,
                funder,
                honest,
                &workdir,
            )
            .await?,
        )
    } else {
        None
    };
    let report = DemoReport {
        training: Some(training),
        chain: chain.describe(),
        market: env.market.market.to_string(),
        executor: executor_name,
        executor_note: executors.note.clone(),
        workloads: workloads
            .iter()
            .map(|w| w.kind_name().to_string())
            .collect(),
        duration_s: started.elapsed().as_secs_f64(),
        jobs_posted: env.posted.load(Ordering::SeqCst),
        jobs_finalized: stats.jobs_completed,
        results_verified: env.verified.load(Ordering::SeqCst),
        results_rejected: env.rejected.load(Ordering::SeqCst),
        transactions: counting.landed(),
        jobs_slashed,
        treasury_slash_received: received(cast.authority.pubkey()).await?,
        treasury_slash_expected: split.treasury.saturating_add(dispute.expected_to_treasury),
        offline: Some(offline),
        disputes: vec![dispute],
        auditor_checked,
        auditor_wrong,
        providers,
        market_stats: stats,
        invariants,
        conservation,
    };
    Ok((report, running))
}

pub async fn run(ctx: &Ctx, a: DemoArgs, out: &mut dyn Write) -> Result<()> {
    if a.dashboard {
        return run_with_dashboard(ctx, a, out).await;
    }
    let funder = match &ctx.embedded {
        Some(chain) => chain.faucet().insecure_clone(),
        None => ctx.keypair()?.insecure_clone(),
    };
    let (_, running) = run_on(ctx.chain.clone(), &funder, &a, ctx.format, out).await?;
    if let Some(r) = running {
        r.stop().await;
    }
    Ok(())
}

/// `demo --dashboard`: the scenario on a node the dashboard can read (an in-process
/// localnet on the embedded chain, else the context's cluster), its blob store kept,
/// then the dashboard over the market until ctrl-c.
async fn run_with_dashboard(ctx: &Ctx, mut a: DemoArgs, out: &mut dyn Write) -> Result<()> {
    use super::dashboard as dash;
    let node = match &ctx.embedded {
        Some(_) => Some(
            gpu_market_localnet::Localnet::start(gpu_market_localnet::LocalnetConfig {
                rpc_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                clock: gpu_market_localnet::ClockMode::RealTime,
            })
            .await
            .map_err(|e| CliError::Usage(format!("starting the demo's node: {e}")))?,
        ),
        None => None,
    };
    let (rpc_url, ws_url, cluster, chain, funder): (String, String, String, SharedChain, Keypair) =
        match &node {
            Some(n) => (
                n.rpc_url.clone(),
                n.ws_url.clone(),
                gpu_market_client::config::EMBEDDED.to_string(),
                Arc::new(gpu_market_client::chain::rpc::RpcChain::with_ws(
                    &n.rpc_url, &n.ws_url,
                )),
                n.faucet.insecure_clone(),
            ),
            None => (
                ctx.url.clone(),
                gpu_market_client::chain::rpc::websocket_url(&ctx.url),
                ctx.url.clone(),
                ctx.chain.clone(),
                ctx.keypair()?.insecure_clone(),
            ),
        };
    // The dashboard serves the demo's inputs and results: the store outlives the run.
    let tmp;
    if a.workdir.is_none() {
        tmp = tempfile::tempdir().map_err(DemoError::TempDir)?;
        a.workdir = Some(tmp.path().to_path_buf());
    }
    let workdir = a.workdir.clone().expect("set above");
    let (report, running) = run_on(chain, &funder, &a, ctx.format, out).await?;
    let Ok(market) = report.market.parse() else {
        if let Some(r) = running {
            r.stop().await;
        }
        return Ok(());
    };
    let location = workdir.join("blobs").display().to_string();
    let blobs = gpu_market_blobs::open(&location)
        .map_err(|source| DemoError::BlobStore { location, source })?;
    let target = dash::Target {
        rpc_url,
        ws_url,
        cluster,
        market,
        blobs: Some(blobs),
    };
    let args = dash::DashboardArgs {
        port: a.dashboard_port,
        ..Default::default()
    };
    let d = dash::start(&target, &args, false).await?;
    dash::announce(out, &d, &target, ctx.format == Format::Json)?;
    dash::serve_until_ctrl_c(d).await;
    // The page's jobs were served; now the daemons and the crank stop.
    if let Some(r) = running {
        r.stop().await;
    }
    drop(node);
    Ok(())
}

/// Runs the scenario on `chain` and prints its report; an error if a check failed
/// (the report is printed first, and anything left running stopped).
async fn run_on(
    chain: SharedChain,
    funder: &Keypair,
    a: &DemoArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(DemoReport, Option<Running>)> {
    let describe = chain.describe();
    let text = format == Format::Text;
    if text {
        writeln!(
            out,
            "gpu-market demo on {}: {} providers and a cheating one, {} jobs and the one it cheats on",
            describe,
            a.providers,
            a.jobs
        )
        .ok();
    }
    let mut last = String::new();
    let (report, running) = run_scenario_serving(chain, funder, a, |p| {
        if !text {
            return;
        }
        let line = p.line();
        if line != last {
            let _ = writeln!(out, "[{:>5.1}s] {line}", p.elapsed_s);
            last = line;
        }
    })
    .await?;
    emit(out, format, &report, |o| print_report(o, &report))?;
    if report.ok() {
        Ok((report, running))
    } else {
        if let Some(r) = running {
            r.stop().await;
        }
        Err(DemoError::FailedCheck.into())
    }
}
