//! `gpumkt provider`: register GPUs with a stake deposit, add or withdraw
//! stake (after the cooldown), change settings, and read providers.

use std::io::Write;

use clap::{Args, Subcommand};
use gpu_market::errors::MarketError;
use gpu_market::state::{GpuDescriptor, Provider};
use gpu_market::{ProviderRegisterArgs, ProviderUpdateArgs};
use gpu_market_client::{accounts, ix, pda, token, Pubkey};
use serde_json::json;
use solana_sdk::signature::Signer;

use super::{ensure_ata, json_kv, market_keys, provider_json, send};
use crate::output::{emit, short, table};
use crate::{CliError, Ctx, Result};

#[derive(Subcommand, Debug)]
pub enum ProviderCmd {
    /// Register with a first stake deposit; your keypair is the owner (cold key).
    Register(RegisterArgs),
    /// Add stake (stake-mint base units).
    Stake { amount: u64 },
    /// Start the cooldown for part of your free stake.
    Unstake { amount: u64 },
    /// Withdraw the pending unstake after the cooldown (no bond may be locked).
    Withdraw,
    /// Change the worker key, payout account, price floor, concurrency or hardware.
    Update(UpdateArgs),
    /// Take a seat in the market's referee pool: lock `weight` of your free stake (the
    /// draw picks referees in proportion to it). Your worker then re-executes disputed
    /// cuda-kernel jobs it is drawn for, commits and reveals by itself; a referee that
    /// commits and does not reveal loses 5% of its seat.
    RefereeJoin { weight: u64 },
    /// Leave the referee pool (once no dispute you were drawn for is open); the seat's
    /// weight returns to free stake.
    RefereeLeave,
    /// Show a provider (default: yours).
    Show {
        /// Provider address.
        provider: Option<Pubkey>,
        /// Or: the provider owned by this key.
        #[arg(long)]
        owner: Option<Pubkey>,
    },
    /// List the market's providers.
    List,
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// First deposit, stake-mint base units (at least the market's minimum).
    #[arg(long)]
    pub stake: u64,
    /// The worker daemon's hot key (default: your own key).
    #[arg(long)]
    pub worker: Option<Pubkey>,
    #[arg(long, default_value_t = 0)]
    pub price_floor: u64,
    #[arg(long, default_value_t = 2)]
    pub max_concurrent: u16,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// Hardware to advertise. Without --gpu-model the local machine is detected
/// (a GPU through CUDA when present, else the CPU).
#[derive(Args, Debug, Default)]
pub struct GpuArgs {
    #[arg(long)]
    pub gpu_model: Option<String>,
    #[arg(long)]
    pub vram_mb: Option<u32>,
    #[arg(long)]
    pub gpu_count: Option<u16>,
    /// major*10 + minor, e.g. 90 for Hopper; 0 for CPU.
    #[arg(long)]
    pub compute_capability: Option<u16>,
}

#[derive(Args, Debug, Default)]
pub struct UpdateArgs {
    #[arg(long)]
    pub worker: Option<Pubkey>,
    /// New payment-mint token account for payouts.
    #[arg(long)]
    pub payout_account: Option<Pubkey>,
    #[arg(long)]
    pub price_floor: Option<u64>,
    #[arg(long)]
    pub max_concurrent: Option<u16>,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

impl GpuArgs {
    fn explicit(&self) -> Option<GpuDescriptor> {
        let model = self.gpu_model.as_ref()?;
        Some(GpuDescriptor {
            model: GpuDescriptor::model_from_str(model),
            vram_mb: self.vram_mb.unwrap_or(1),
            count: self.gpu_count.unwrap_or(1),
            compute_capability: self.compute_capability.unwrap_or(0),
            benchmark_gflops: 0,
        })
    }

    fn resolve(&self) -> GpuDescriptor {
        self.explicit().unwrap_or_else(|| {
            let best = gpu_market_compute::best_executor();
            let gflops = gpu_market_worker::worker::measure_gflops(&*best.executor);
            gpu_market_worker::descriptor(best.executor.device(), gflops)
        })
    }
}

pub async fn run(ctx: &Ctx, cmd: ProviderCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        ProviderCmd::Register(a) => register(ctx, a, out).await,
        ProviderCmd::Stake { amount } => {
            let (m, _) = market_keys(ctx).await?;
            let me = ctx.keypair()?.pubkey();
            require_registered(ctx, &m.market, &me).await?;
            let tx = send(
                ctx,
                &[ix::provider_stake(
                    &m,
                    me,
                    token::ata(&me, &m.stake_mint),
                    amount,
                )],
                &[],
            )
            .await?;
            done(ctx, out, "staked", amount, &tx.signature.to_string())
        }
        ProviderCmd::RefereeJoin { weight } => {
            let (m, _) = market_keys(ctx).await?;
            let me = ctx.keypair()?.pubkey();
            require_registered(ctx, &m.market, &me).await?;
            let tx = send(ctx, &[ix::referee_join(m.market, me, weight)], &[]).await?;
            done(
                ctx,
                out,
                "referee_seat_weight",
                weight,
                &tx.signature.to_string(),
            )
        }
        ProviderCmd::RefereeLeave => {
            let (m, _) = market_keys(ctx).await?;
            let me = ctx.keypair()?.pubkey();
            let p = require_registered(ctx, &m.market, &me).await?;
            let tx = send(ctx, &[ix::referee_leave(m.market, me)], &[]).await?;
            done(
                ctx,
                out,
                "referee_seat_released",
                p.referee_stake,
                &tx.signature.to_string(),
            )
        }
        ProviderCmd::Unstake { amount } => {
            let (m, _) = market_keys(ctx).await?;
            let me = ctx.keypair()?.pubkey();
            require_registered(ctx, &m.market, &me).await?;
            let tx = send(ctx, &[ix::provider_unstake(m.market, me, amount)], &[]).await?;
            let p = accounts::fetch_provider(&*ctx.chain, &pda::provider(&m.market, &me)).await?;
            emit(
                out,
                ctx.format,
                &json!({"unstake_requested": amount, "pending": p.pending_unstake, "release_at": p.unstake_release_at, "signature": tx.signature.to_string()}),
                |o| {
                    writeln!(
                        o,
                        "{amount} moving out; {} pending, withdrawable from unix time {}",
                        p.pending_unstake, p.unstake_release_at
                    )
                },
            )
        }
        ProviderCmd::Withdraw => {
            let (m, _) = market_keys(ctx).await?;
            let me = ctx.keypair()?.pubkey();
            let p = require_registered(ctx, &m.market, &me).await?;
            let mut ixs = Vec::new();
            let to = ensure_ata(ctx, &me, &m.stake_mint, &mut ixs).await?;
            ixs.push(ix::provider_withdraw(&m, me, to));
            let tx = send(ctx, &ixs, &[]).await?;
            done(
                ctx,
                out,
                "withdrew",
                p.pending_unstake,
                &tx.signature.to_string(),
            )
        }
        ProviderCmd::Update(a) => {
            let (m, _) = market_keys(ctx).await?;
            let me = ctx.keypair()?.pubkey();
            require_registered(ctx, &m.market, &me).await?;
            let args = ProviderUpdateArgs {
                worker: a.worker,
                price_floor: a.price_floor,
                max_concurrent: a.max_concurrent,
                gpu: a.gpu.explicit(),
            };
            let tx = send(
                ctx,
                &[ix::provider_update(m.market, me, a.payout_account, args)],
                &[],
            )
            .await?;
            emit(
                out,
                ctx.format,
                &json!({"updated": pda::provider(&m.market, &me).to_string(), "signature": tx.signature.to_string()}),
                |o| writeln!(o, "provider updated"),
            )
        }
        ProviderCmd::Show { provider, owner } => {
            let market = ctx.market()?;
            let key = match (provider, owner) {
                (Some(p), _) => p,
                (None, Some(o)) => pda::provider(&market, &o),
                (None, None) => pda::provider(&market, &ctx.keypair()?.pubkey()),
            };
            let p = accounts::fetch_provider(&*ctx.chain, &key)
                .await
                .map_err(|e| match e {
                    gpu_market_client::error::ClientError::AccountNotFound(provider) => {
                        CliError::NoProvider { provider, market }
                    }
                    e => e.into(),
                })?;
            let now = ctx.chain.clock().await?.unix_timestamp;
            let v = provider_json(&key, &p, now);
            emit(out, ctx.format, &v, |o| json_kv(o, &v))
        }
        ProviderCmd::List => {
            let market = ctx.market()?;
            let list = accounts::list_providers(&*ctx.chain, &market).await?;
            let now = ctx.chain.clock().await?.unix_timestamp;
            let v: Vec<_> = list.iter().map(|(k, p)| provider_json(k, p, now)).collect();
            emit(out, ctx.format, &v, |o| {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|(k, p)| {
                        vec![
                            short(k),
                            p.gpu.model_name(),
                            p.gpu.count.to_string(),
                            p.stake.to_string(),
                            p.active_jobs.to_string(),
                            p.reputation.completed.to_string(),
                            p.reputation.expired.to_string(),
                            p.reputation.score.to_string(),
                        ]
                    })
                    .collect();
                table(
                    o,
                    &[
                        "PROVIDER", "GPU", "N", "STAKE", "ACTIVE", "DONE", "EXPIRED", "SCORE",
                    ],
                    &rows,
                )
            })
        }
    }
}

async fn require_registered(ctx: &Ctx, market: &Pubkey, owner: &Pubkey) -> Result<Provider> {
    let key = pda::provider(market, owner);
    accounts::fetch_provider(&*ctx.chain, &key).await.map_err(|e| match e {
        gpu_market_client::error::ClientError::AccountNotFound(_) => {
            CliError::Usage(format!("{owner} is not a provider in market {market}: run `gpumkt provider register` first"))
        }
        e => e.into(),
    })
}

fn done(ctx: &Ctx, out: &mut dyn Write, what: &str, amount: u64, sig: &str) -> Result<()> {
    emit(
        out,
        ctx.format,
        &json!({ what: amount, "signature": sig }),
        |o| writeln!(o, "{what} {amount} ({sig})"),
    )
}

async fn register(ctx: &Ctx, a: RegisterArgs, out: &mut dyn Write) -> Result<()> {
    let (m, market) = market_keys(ctx).await?;
    let me = ctx.keypair()?.pubkey();
    // The program's own rule, so the CLI refuses exactly what the program would.
    match Provider::check_register_stake(a.stake, market.params.min_stake) {
        Ok(()) => {}
        Err(MarketError::StakeBelowMinimum) => {
            return Err(CliError::Usage(format!(
                "--stake {} is below the market's minimum stake {}",
                a.stake, market.params.min_stake
            )))
        }
        Err(e) => return Err(CliError::Usage(format!("--stake {}: {e}", a.stake))),
    }
    let key = pda::provider(&m.market, &me);
    if ctx.chain.get_account(&key).await?.is_some() {
        return Err(CliError::Usage(format!(
            "you are already provider {key} in this market"
        )));
    }
    let stake_account = token::ata(&me, &m.stake_mint);
    let balance = token::balance(&*ctx.chain, &stake_account).await?;
    if balance < a.stake {
        return Err(CliError::Usage(format!(
            "insufficient balance: your stake-mint account {stake_account} holds {balance}, --stake asks for {}",
            a.stake
        )));
    }
    let gpu = a.gpu.resolve();
    let mut ixs = Vec::new();
    let payout = ensure_ata(ctx, &me, &m.payment_mint, &mut ixs).await?;
    let args = ProviderRegisterArgs {
        worker: a.worker.unwrap_or(me),
        gpu,
        price_floor: a.price_floor,
        max_concurrent: a.max_concurrent,
        stake: a.stake,
    };
    ixs.push(ix::provider_register(&m, me, stake_account, payout, args));
    let tx = send(ctx, &ixs, &[]).await?;
    emit(
        out,
        ctx.format,
        &json!({"provider": key.to_string(), "owner": me.to_string(), "worker": a.worker.unwrap_or(me).to_string(), "gpu": gpu.model_name(), "vram_mb": gpu.vram_mb, "compute_capability": gpu.compute_capability, "stake": a.stake, "signature": tx.signature.to_string()}),
        |o| {
            writeln!(
                o,
                "provider {key} registered: {} x{} ({} MiB, cc {}), stake {}",
                gpu.model_name(),
                gpu.count,
                gpu.vram_mb,
                gpu.compute_capability,
                a.stake
            )
        },
    )
}
