//! Creates a market: its parameters, its two vaults, and the treasury's
//! default sweep destinations (fees and the treasury share of slashes accrue
//! in the vaults; `market_sweep` pays them out). Mints with a freeze authority
//! are refused: whoever holds it could freeze the vaults and stop every
//! settlement and withdrawal.

use anchor_lang::prelude::*;
use anchor_spl::token::{Mint, Token, TokenAccount};

use crate::constants::*;
use crate::errors::MarketError;
use crate::events::MarketCreated;
use crate::state::{Market, MarketParams, MarketTotals};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct MarketCreateArgs {
    pub market_id: u64,
    pub params: MarketParams,
}

#[derive(Accounts)]
#[instruction(args: MarketCreateArgs)]
pub struct MarketCreate<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(
        init,
        payer = authority,
        space = 8 + Market::INIT_SPACE,
        seeds = [MARKET_SEED, authority.key().as_ref(), &args.market_id.to_le_bytes()],
        bump
    )]
    pub market: Box<Account<'info, Market>>,
    #[account(constraint = payment_mint.freeze_authority.is_none() @ MarketError::MintHasFreezeAuthority)]
    pub payment_mint: Box<Account<'info, Mint>>,
    #[account(constraint = stake_mint.freeze_authority.is_none() @ MarketError::MintHasFreezeAuthority)]
    pub stake_mint: Box<Account<'info, Mint>>,
    #[account(
        init,
        payer = authority,
        seeds = [PAYMENT_VAULT_SEED, market.key().as_ref()],
        bump,
        token::mint = payment_mint,
        token::authority = market
    )]
    pub payment_vault: Box<Account<'info, TokenAccount>>,
    #[account(
        init,
        payer = authority,
        seeds = [STAKE_VAULT_SEED, market.key().as_ref()],
        bump,
        token::mint = stake_mint,
        token::authority = market
    )]
    pub stake_vault: Box<Account<'info, TokenAccount>>,
    #[account(constraint = fee_account.mint == payment_mint.key() @ MarketError::WrongMint)]
    pub fee_account: Box<Account<'info, TokenAccount>>,
    #[account(constraint = slash_account.mint == stake_mint.key() @ MarketError::WrongMint)]
    pub slash_account: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

impl MarketCreate<'_> {
    pub fn handle(ctx: Context<Self>, args: MarketCreateArgs) -> Result<()> {
        args.params.validate()?;
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        a.market.set_inner(Market {
            authority: a.authority.key(),
            market_id: args.market_id,
            payment_mint: a.payment_mint.key(),
            stake_mint: a.stake_mint.key(),
            payment_vault: a.payment_vault.key(),
            stake_vault: a.stake_vault.key(),
            fee_account: a.fee_account.key(),
            slash_account: a.slash_account.key(),
            params: args.params,
            paused: false,
            created_at: now,
            totals: MarketTotals::default(),
            bump: ctx.bumps.market,
            payment_vault_bump: ctx.bumps.payment_vault,
            stake_vault_bump: ctx.bumps.stake_vault,
            pending_update: None,
        });
        a.market.invariant()?;
        crate::emit_event!(MarketCreated {
            market: a.market.key(),
            authority: a.authority.key(),
            payment_mint: a.payment_mint.key(),
            stake_mint: a.stake_mint.key(),
            params: args.params,
            timestamp: now,
        });
        Ok(())
    }
}
