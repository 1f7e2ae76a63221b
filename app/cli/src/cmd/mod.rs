//! One module per command group. Shared here: sending with the context's
//! keypair, creating associated token accounts on demand, and the JSON views of
//! the program's accounts (the SDK's `views`, shared with the dashboard).

pub mod audit;
pub mod auditor;
pub mod blob;
pub mod crank;
pub mod dashboard;
pub mod demo;
pub mod job;
pub mod localnet;
pub mod market;
pub mod provider;
pub mod token;

use gpu_market::state::Market;
use gpu_market_client::chain::TxOutcome;
use gpu_market_client::ix::MarketKeys;
/// The JSON views of the program's accounts live in the SDK: the dashboard's API shows
/// the same fields under the same names.
pub use gpu_market_client::views::{
    job_json, params_json, provider_json, state_name, workload_name,
};
use gpu_market_client::{accounts, token as tok, Pubkey};
use serde_json::Value;
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};

use crate::{Ctx, Result};

/// Sends `ixs` paid and signed by the context's keypair (plus `extra` signers).
pub async fn send(ctx: &Ctx, ixs: &[Instruction], extra: &[&Keypair]) -> Result<TxOutcome> {
    let payer = ctx.keypair()?;
    Ok(ctx.sender.send(ixs, payer, extra).await?)
}

/// The owner's associated token account, with the instruction that creates it
/// if it does not exist (paid by the context's keypair).
pub async fn ensure_ata(
    ctx: &Ctx,
    owner: &Pubkey,
    mint: &Pubkey,
    ixs: &mut Vec<Instruction>,
) -> Result<Pubkey> {
    let ata = tok::ata(owner, mint);
    if ctx.chain.get_account(&ata).await?.is_none() {
        ixs.push(tok::create_ata_idempotent(
            &ctx.keypair()?.pubkey(),
            owner,
            mint,
        ));
    }
    Ok(ata)
}

pub async fn market_keys(ctx: &Ctx) -> Result<(MarketKeys, Market)> {
    let key = ctx.market()?;
    let m = accounts::fetch_market(&*ctx.chain, &key).await?;
    Ok((MarketKeys::new(key, &m), m))
}

/// Renders a JSON object's scalar fields as `key: value` lines (nested objects flattened with dots).
pub fn json_kv(out: &mut dyn std::io::Write, v: &Value) -> std::io::Result<()> {
    fn walk(prefix: &str, v: &Value, rows: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, v, rows);
                }
            }
            Value::Null => rows.push((prefix.to_string(), "-".into())),
            Value::String(s) => rows.push((prefix.to_string(), s.clone())),
            other => rows.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut rows = Vec::new();
    walk("", v, &mut rows);
    let refs: Vec<(&str, String)> = rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    crate::output::kv(out, &refs)
}
