//! `gpumkt market`: create a market (authority), show it, change its
//! parameters within the program's bounds, pause and resume it.

use std::io::Write;

use clap::{Args, Subcommand};
use gpu_market::state::MarketParams;
use gpu_market_client::{accounts, audit, ix, pda, Pubkey};
use serde_json::json;
use solana_sdk::signature::Signer;

use super::{ensure_ata, json_kv, params_json, send};
use crate::output::emit;
use crate::{CliError, Ctx, Result};

#[derive(Subcommand, Debug)]
pub enum MarketCmd {
    /// Create a market; you become its authority.
    Create(CreateArgs),
    /// Show a market's parameters, totals and vault balances.
    Show {
        /// Market address (default: --market).
        market: Option<Pubkey>,
    },
    /// List every market of the program.
    List,
    /// Change parameters (authority); jobs already posted keep their terms.
    Update(ParamArgs),
    /// Stop new registrations, posts and claims (authority). Funds are never trapped.
    Pause,
    /// Resume new business (authority).
    Unpause,
    /// Apply a queued parameter update once its delay is over (anyone).
    ApplyUpdate,
    /// Send accrued fees and treasury slash shares to token accounts (authority;
    /// default: the market's fee and slash accounts).
    Sweep {
        /// Payment-mint account for the fees.
        #[arg(long)]
        fee_to: Option<Pubkey>,
        /// Stake-mint account for the slash shares.
        #[arg(long)]
        slash_to: Option<Pubkey>,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Mint of prices, escrow and fees.
    #[arg(long)]
    pub payment_mint: Pubkey,
    /// Mint of stake and bonds (default: the payment mint).
    #[arg(long)]
    pub stake_mint: Option<Pubkey>,
    /// Distinguishes markets of one authority.
    #[arg(long, default_value_t = 0)]
    pub id: u64,
    /// Payment-mint token account receiving fees (default: your associated account).
    #[arg(long)]
    pub fee_account: Option<Pubkey>,
    /// Stake-mint token account receiving the treasury share of slashes (default: your associated account).
    #[arg(long)]
    pub slash_account: Option<Pubkey>,
    #[command(flatten)]
    pub params: ParamArgs,
}

/// Market parameters; unset ones keep their current (or default) value.
#[derive(Args, Debug, Clone, Default)]
pub struct ParamArgs {
    /// Protocol fee, bps of the price (max 2000).
    #[arg(long)]
    pub fee_bps: Option<u16>,
    /// Stake a provider must keep, stake-mint base units.
    #[arg(long)]
    pub min_stake: Option<u64>,
    /// Bond per claim, bps of the price.
    #[arg(long)]
    pub bond_bps: Option<u32>,
    /// Minimum bond per claim, stake-mint base units.
    #[arg(long)]
    pub bond_min: Option<u64>,
    /// Seconds from claim to submission.
    #[arg(long)]
    pub claim_timeout: Option<i64>,
    /// Seconds a result can be challenged.
    #[arg(long)]
    pub challenge_window: Option<i64>,
    /// Seconds a provider has to answer a challenge.
    #[arg(long)]
    pub dispute_timeout: Option<i64>,
    /// Seconds between unstake request and withdrawal.
    #[arg(long)]
    pub unstake_cooldown: Option<i64>,
    /// Bond a challenger posts, payment-mint base units.
    #[arg(long)]
    pub challenger_bond: Option<u64>,
    /// Share of a slash paid to the buyer, bps.
    #[arg(long)]
    pub slash_buyer_bps: Option<u16>,
    /// Share of a slash paid to whoever reported the fault, bps.
    #[arg(long)]
    pub slash_reporter_bps: Option<u16>,
    /// Paid to whoever settles a job, payment-mint base units.
    #[arg(long)]
    pub crank_bounty: Option<u64>,
    /// Fees at which reputation confidence reaches 50%.
    #[arg(long)]
    pub score_fee_scale: Option<u64>,
    /// Seconds every claim must leave to submit (at most the claim timeout).
    #[arg(long)]
    pub min_submit_window: Option<i64>,
}

/// Defaults for a 6-decimal token: 2.5% fee, bond half the price (at least
/// 0.01), 10 min to run a job, 5 min to challenge it, 1 h unstake cooldown.
pub fn default_params() -> MarketParams {
    MarketParams {
        fee_bps: 250,
        min_stake: 1_000_000,
        bond_bps: 5_000,
        bond_min: 10_000,
        claim_timeout: 600,
        challenge_window: 300,
        dispute_timeout: 300,
        unstake_cooldown: 3_600,
        challenger_bond: 100_000,
        slash_buyer_bps: 5_000,
        slash_reporter_bps: 1_000,
        crank_bounty: 1_000,
        score_fee_scale: 1_000_000,
        min_submit_window: 300,
    }
}

impl ParamArgs {
    pub fn apply(&self, mut p: MarketParams) -> MarketParams {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { p.$f = v; } )* };
        }
        set!(
            fee_bps,
            min_stake,
            bond_bps,
            bond_min,
            claim_timeout,
            challenge_window,
            dispute_timeout,
            unstake_cooldown,
            challenger_bond,
            slash_buyer_bps,
            slash_reporter_bps,
            crank_bounty,
            score_fee_scale,
            min_submit_window
        );
        p
    }
}

pub async fn run(ctx: &Ctx, cmd: MarketCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        MarketCmd::Create(a) => create(ctx, a, out).await,
        MarketCmd::Show { market } => {
            let key = market.map(Ok).unwrap_or_else(|| ctx.market())?;
            show(ctx, &key, out).await
        }
        MarketCmd::List => {
            let markets = accounts::list_markets(&*ctx.chain).await?;
            let rows: Vec<_> = markets
                .iter()
                .map(|(k, m)| json!({"market": k.to_string(), "authority": m.authority.to_string(), "id": m.market_id, "paused": m.paused, "jobs_posted": m.totals.jobs_posted, "providers": m.totals.providers}))
                .collect();
            emit(out, ctx.format, &rows, |o| {
                let t: Vec<Vec<String>> = markets
                    .iter()
                    .map(|(k, m)| {
                        vec![
                            k.to_string(),
                            m.market_id.to_string(),
                            m.paused.to_string(),
                            m.totals.providers.to_string(),
                            m.totals.jobs_posted.to_string(),
                        ]
                    })
                    .collect();
                crate::output::table(o, &["MARKET", "ID", "PAUSED", "PROVIDERS", "JOBS"], &t)
            })
        }
        MarketCmd::Update(params) => {
            let key = ctx.market()?;
            let current = accounts::fetch_market(&*ctx.chain, &key).await?;
            let new = params.apply(current.params);
            new.validate()
                .map_err(|e| CliError::Usage(format!("invalid parameters: {e}")))?;
            let me = ctx.keypair()?.pubkey();
            if me != current.authority {
                return Err(CliError::Usage(format!(
                    "only the market authority {} may update it (you are {me})",
                    current.authority
                )));
            }
            // Raising what is read live (min stake, cooldown, score scale)
            // is queued by the program behind `MarketParams::update_delay`.
            let delayed = current.params.needs_delay(&new);
            let out_tx = send(ctx, &[ix::market_update(me, key, new)], &[]).await?;
            emit(
                out,
                ctx.format,
                &json!({"market": key.to_string(), "params": params_json(&new), "queued": delayed, "signature": out_tx.signature.to_string()}),
                |o| {
                    if delayed {
                        writeln!(
                            o,
                            "market {key} update queued: anyone may apply it in {} s ({})",
                            current.params.update_delay().unwrap_or(i64::MAX),
                            out_tx.signature
                        )
                    } else {
                        writeln!(o, "market {key} updated ({})", out_tx.signature)
                    }
                },
            )
        }
        MarketCmd::Pause | MarketCmd::Unpause => {
            let paused = matches!(cmd, MarketCmd::Pause);
            let key = ctx.market()?;
            let me = ctx.keypair()?.pubkey();
            let out_tx = send(ctx, &[ix::market_set_paused(me, key, paused)], &[]).await?;
            emit(
                out,
                ctx.format,
                &json!({"market": key.to_string(), "paused": paused, "signature": out_tx.signature.to_string()}),
                |o| {
                    writeln!(
                        o,
                        "market {key} {}",
                        if paused { "paused" } else { "resumed" }
                    )
                },
            )
        }
        MarketCmd::ApplyUpdate => {
            let key = ctx.market()?;
            let out_tx = send(ctx, &[ix::market_apply_update(key)], &[]).await?;
            emit(
                out,
                ctx.format,
                &json!({"market": key.to_string(), "signature": out_tx.signature.to_string()}),
                |o| {
                    writeln!(
                        o,
                        "market {key}: queued update applied ({})",
                        out_tx.signature
                    )
                },
            )
        }
        MarketCmd::Sweep { fee_to, slash_to } => {
            let key = ctx.market()?;
            let state = accounts::fetch_market(&*ctx.chain, &key).await?;
            let m = ix::MarketKeys::new(key, &state);
            let (fees, slash) = (state.totals.fees_unswept, state.totals.slash_unswept);
            let fee_to = fee_to.unwrap_or(state.fee_account);
            let slash_to = slash_to.unwrap_or(state.slash_account);
            let me = ctx.keypair()?.pubkey();
            let out_tx = send(ctx, &[ix::market_sweep(&m, me, fee_to, slash_to)], &[]).await?;
            emit(
                out,
                ctx.format,
                &json!({"market": key.to_string(), "fees": fees, "slash": slash, "fee_to": fee_to.to_string(), "slash_to": slash_to.to_string(), "signature": out_tx.signature.to_string()}),
                |o| {
                    writeln!(
                        o,
                        "market {key}: swept {fees} in fees to {fee_to} and {slash} in slash shares to {slash_to}"
                    )
                },
            )
        }
    }
}

async fn create(ctx: &Ctx, a: CreateArgs, out: &mut dyn Write) -> Result<()> {
    let params = a.params.apply(default_params());
    params
        .validate()
        .map_err(|e| CliError::Usage(format!("invalid parameters: {e}")))?;
    let me = ctx.keypair()?.pubkey();
    let stake_mint = a.stake_mint.unwrap_or(a.payment_mint);
    for mint in [a.payment_mint, stake_mint] {
        match ctx.chain.get_account(&mint).await? {
            Some(acc) if acc.owner == gpu_market_client::token::TOKEN_PROGRAM_ID => {}
            Some(_) => return Err(CliError::Usage(format!("{mint} is not an SPL Token mint"))),
            None => {
                return Err(CliError::Usage(format!(
                    "mint {mint} does not exist on {}",
                    ctx.url
                )))
            }
        }
    }
    let mut ixs = Vec::new();
    let fee = match a.fee_account {
        Some(f) => f,
        None => ensure_ata(ctx, &me, &a.payment_mint, &mut ixs).await?,
    };
    let slash = match a.slash_account {
        Some(s) => s,
        None if stake_mint == a.payment_mint => fee,
        None => ensure_ata(ctx, &me, &stake_mint, &mut ixs).await?,
    };
    let key = pda::market(&me, a.id);
    if ctx.chain.get_account(&key).await?.is_some() {
        return Err(CliError::Usage(format!(
            "you already have market {key} with id {}: pass another --id",
            a.id
        )));
    }
    ixs.push(ix::market_create(
        me,
        a.id,
        a.payment_mint,
        stake_mint,
        fee,
        slash,
        params,
    ));
    // Its referee pool, in the same transaction.
    ixs.push(ix::referee_pool_create(me, key));
    let out_tx = send(ctx, &ixs, &[]).await?;
    emit(
        out,
        ctx.format,
        &json!({"market": key.to_string(), "authority": me.to_string(), "payment_mint": a.payment_mint.to_string(), "stake_mint": stake_mint.to_string(), "params": params_json(&params), "signature": out_tx.signature.to_string()}),
        |o| {
            writeln!(
                o,
                "market {key} created (authority {me})\nuse it with: --market {key}"
            )
        },
    )
}

pub async fn show(ctx: &Ctx, key: &Pubkey, out: &mut dyn Write) -> Result<()> {
    let snap = audit::Snapshot::load(&*ctx.chain, key).await?;
    let m = &snap.market;
    let t = &m.totals;
    let v = json!({
        "market": key.to_string(),
        "authority": m.authority.to_string(),
        "id": m.market_id,
        "paused": m.paused,
        "payment_mint": m.payment_mint.to_string(),
        "stake_mint": m.stake_mint.to_string(),
        "payment_vault": m.payment_vault.to_string(),
        "stake_vault": m.stake_vault.to_string(),
        "fee_account": m.fee_account.to_string(),
        "slash_account": m.slash_account.to_string(),
        "params": params_json(&m.params),
        "totals": {
            "providers": t.providers, "jobs_posted": t.jobs_posted, "jobs_completed": t.jobs_completed,
            "jobs_expired": t.jobs_expired, "jobs_refunded": t.jobs_refunded, "jobs_cancelled": t.jobs_cancelled,
            "jobs_disputed": t.jobs_disputed, "gpu_ms_sold": t.gpu_ms_sold, "volume_paid": t.volume_paid,
            "fees_collected": t.fees_collected, "bounties_paid": t.bounties_paid, "slashed": t.slashed,
            "escrow_outstanding": t.escrow_outstanding, "stake_total": t.stake_total,
        },
        "payment_vault_balance": snap.payment_vault_balance,
        "stake_vault_balance": snap.stake_vault_balance,
    });
    emit(out, ctx.format, &v, |o| json_kv(o, &v))
}
