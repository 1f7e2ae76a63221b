//! `gpumkt token` and `airdrop` helpers for local chains and tests: create a
//! mint, mint to a wallet's associated account, read balances.

use std::io::Write;

use clap::Subcommand;
use gpu_market_client::{token, Pubkey};
use serde_json::json;
use solana_sdk::signature::{Keypair, Signer};

use super::{ensure_ata, send};
use crate::output::emit;
use crate::{CliError, Ctx, Result};

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create a mint with you as mint authority.
    CreateMint {
        #[arg(long, default_value_t = 6)]
        decimals: u8,
    },
    /// Mint tokens to a wallet's associated token account (you must be the mint authority).
    Mint {
        #[arg(long)]
        mint: Pubkey,
        /// Wallet receiving (default: you).
        #[arg(long)]
        to: Option<Pubkey>,
        #[arg(long)]
        amount: u64,
    },
    /// A wallet's balance of a mint (default: yours).
    Balance {
        #[arg(long)]
        mint: Pubkey,
        #[arg(long)]
        owner: Option<Pubkey>,
    },
    /// Lamports from the local chain's faucet.
    Airdrop {
        #[arg(long)]
        to: Option<Pubkey>,
        #[arg(long, default_value_t = 10_000_000_000)]
        lamports: u64,
    },
}

pub async fn run(ctx: &Ctx, cmd: TokenCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        TokenCmd::CreateMint { decimals } => {
            let me = ctx.keypair()?.pubkey();
            let mint = Keypair::new();
            let rent = ctx
                .chain
                .minimum_balance_for_rent_exemption(token::MINT_LEN)
                .await?;
            let tx = send(
                ctx,
                &token::create_mint(&me, &mint.pubkey(), &me, decimals, rent),
                &[&mint],
            )
            .await?;
            emit(
                out,
                ctx.format,
                &json!({"mint": mint.pubkey().to_string(), "decimals": decimals, "signature": tx.signature.to_string()}),
                |o| writeln!(o, "mint {} created", mint.pubkey()),
            )
        }
        TokenCmd::Mint { mint, to, amount } => {
            let me = ctx.keypair()?.pubkey();
            let to = to.unwrap_or(me);
            let mut ixs = Vec::new();
            let ata = ensure_ata(ctx, &to, &mint, &mut ixs).await?;
            ixs.push(token::mint_to(&mint, &ata, &me, amount));
            let tx = send(ctx, &ixs, &[]).await?;
            emit(
                out,
                ctx.format,
                &json!({"minted": amount, "to": ata.to_string(), "signature": tx.signature.to_string()}),
                |o| writeln!(o, "minted {amount} to {ata}"),
            )
        }
        TokenCmd::Balance { mint, owner } => {
            let owner = match owner {
                Some(o) => o,
                None => ctx.keypair()?.pubkey(),
            };
            let ata = token::ata(&owner, &mint);
            let amount = token::balance(&*ctx.chain, &ata).await?;
            emit(
                out,
                ctx.format,
                &json!({"owner": owner.to_string(), "mint": mint.to_string(), "account": ata.to_string(), "amount": amount}),
                |o| writeln!(o, "{amount}"),
            )
        }
        TokenCmd::Airdrop { to, lamports } => {
            let to = match to {
                Some(t) => t,
                None => ctx.keypair()?.pubkey(),
            };
            ctx.chain
                .request_airdrop(&to, lamports)
                .await
                .map_err(|source| CliError::Airdrop { to, source })?;
            emit(
                out,
                ctx.format,
                &json!({"to": to.to_string(), "lamports": lamports}),
                |o| writeln!(o, "{lamports} lamports to {to}"),
            )
        }
    }
}
