//! Creates a market: its parameters, its two vaults, and the treasury's
//! default sweep destinations (fees and the treasury share of slashes accrue
//! in the vaults; `market_sweep` pays them out). Mints with a freeze authority
//! are refused: whoever holds it could freeze the vaults and stop every
//! settlement and withdrawal. The market's address and its vaults' are predictable
//! (the authority and an id), so all three are created by `create::create_pda*`:
//! lamports sent to any of them first cannot block the creation.

use anchor_lang::prelude::*;
use anchor_spl::token::{self, InitializeAccount3, Mint, Token, TokenAccount};

use crate::constants::*;
use crate::create;
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
    /// CHECK: the market's address (seeds checked), created in the handler by
    /// `create::create_pda`. Lamports sent there before cannot block the creation; a live
    /// market there refuses it (`AccountAddressInUse`).
    #[account(
        mut,
        seeds = [MARKET_SEED, authority.key().as_ref(), &args.market_id.to_le_bytes()],
        bump
    )]
    pub market: UncheckedAccount<'info>,
    #[account(constraint = payment_mint.freeze_authority.is_none() @ MarketError::MintHasFreezeAuthority)]
    pub payment_mint: Box<Account<'info, Mint>>,
    #[account(constraint = stake_mint.freeze_authority.is_none() @ MarketError::MintHasFreezeAuthority)]
    pub stake_mint: Box<Account<'info, Mint>>,
    /// CHECK: the payment vault's address (seeds checked), created in the handler by
    /// `create_vault` (a token account of `payment_mint`, the market its authority).
    #[account(mut, seeds = [PAYMENT_VAULT_SEED, market.key().as_ref()], bump)]
    pub payment_vault: UncheckedAccount<'info>,
    /// CHECK: the stake vault's address (seeds checked), created in the handler by
    /// `create_vault` (a token account of `stake_mint`, the market its authority).
    #[account(mut, seeds = [STAKE_VAULT_SEED, market.key().as_ref()], bump)]
    pub stake_vault: UncheckedAccount<'info>,
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
        let market = Market {
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
        };
        market.invariant()?;
        let (authority, id) = (a.authority.key(), args.market_id.to_le_bytes());
        create::create_pda(
            &a.authority,
            &a.market,
            &a.system_program,
            8 + Market::INIT_SPACE,
            &[MARKET_SEED, authority.as_ref(), &id, &[market.bump]],
        )?;
        create::write_new(&a.market, &market)?;
        let key = a.market.key();
        for (vault, mint, seed, bump) in [
            (
                &a.payment_vault,
                &a.payment_mint,
                PAYMENT_VAULT_SEED,
                market.payment_vault_bump,
            ),
            (
                &a.stake_vault,
                &a.stake_mint,
                STAKE_VAULT_SEED,
                market.stake_vault_bump,
            ),
        ] {
            create_vault(a, vault, mint, &[seed, key.as_ref(), &[bump]])?;
        }
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

/// Creates a vault at its PDA (`seeds`, with bump), whatever lamports sit there: a token
/// account of `mint` owned by the token program, the market its authority, as Anchor's
/// `token::mint`/`token::authority` would make it.
fn create_vault<'info>(
    a: &MarketCreate<'info>,
    vault: &UncheckedAccount<'info>,
    mint: &Account<'info, Mint>,
    seeds: &[&[u8]],
) -> Result<()> {
    create::create_pda_owned(
        &a.authority,
        vault,
        &a.system_program,
        TokenAccount::LEN,
        &a.token_program.key(),
        seeds,
    )?;
    let accounts = InitializeAccount3 {
        account: vault.to_account_info(),
        mint: mint.to_account_info(),
        authority: a.market.to_account_info(),
    };
    token::initialize_account3(CpiContext::new(a.token_program.key(), accounts))
}
