//! Registers a provider with its first stake deposit, GPU descriptor, worker
//! key and payout account. The provider's address (one per owner and market) is
//! predictable, so it is created by `create::create_pda`: lamports sent there first
//! cannot keep the owner out of the market.

use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::constants::PROVIDER_SEED;
use crate::create;
use crate::errors::MarketError;
use crate::events::ProviderRegistered;
use crate::state::{GpuDescriptor, Market, Provider, Reputation};
use crate::token_ops;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct ProviderRegisterArgs {
    /// Hot key the worker daemon signs with.
    pub worker: Pubkey,
    pub gpu: GpuDescriptor,
    pub price_floor: u64,
    pub max_concurrent: u16,
    /// First deposit, stake-mint units; at least the market's minimum.
    pub stake: u64,
}

#[derive(Accounts)]
pub struct ProviderRegister<'info> {
    #[account(mut)]
    pub owner: Signer<'info>,
    #[account(mut, constraint = !market.paused @ MarketError::MarketPaused)]
    pub market: Box<Account<'info, Market>>,
    /// CHECK: the owner's provider address (seeds checked), created in the handler by
    /// `create::create_pda`. Lamports sent there before cannot block the registration; a
    /// live provider there refuses it (`AccountAddressInUse`).
    #[account(
        mut,
        seeds = [PROVIDER_SEED, market.key().as_ref(), owner.key().as_ref()],
        bump
    )]
    pub provider: UncheckedAccount<'info>,
    #[account(
        mut,
        constraint = owner_stake_account.mint == market.stake_mint @ MarketError::WrongMint,
        constraint = owner_stake_account.owner == owner.key() @ MarketError::WrongTokenOwner
    )]
    pub owner_stake_account: Box<Account<'info, TokenAccount>>,
    #[account(mut, address = market.stake_vault @ MarketError::WrongVault)]
    pub stake_vault: Box<Account<'info, TokenAccount>>,
    #[account(
        constraint = payout_account.mint == market.payment_mint @ MarketError::WrongMint,
        constraint = !market.is_vault(&payout_account.key()) @ MarketError::WrongPayoutAccount
    )]
    pub payout_account: Box<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

impl ProviderRegister<'_> {
    pub fn validate(&self, args: &ProviderRegisterArgs) -> Result<()> {
        Provider::check_register_stake(args.stake, self.market.params.min_stake)?;
        args.gpu.validate()?;
        require!(args.max_concurrent > 0, MarketError::InvalidConcurrency);
        Ok(())
    }

    pub fn handle(ctx: Context<Self>, args: ProviderRegisterArgs) -> Result<()> {
        ctx.accounts.validate(&args)?;
        let clock = Clock::get()?;
        let a = &mut *ctx.accounts;
        let provider = Provider {
            market: a.market.key(),
            owner: a.owner.key(),
            worker: args.worker,
            payout_account: a.payout_account.key(),
            stake: args.stake,
            locked: 0,
            pending_unstake: 0,
            unstake_release_at: 0,
            gpu: args.gpu,
            price_floor: args.price_floor,
            max_concurrent: args.max_concurrent,
            active_jobs: 0,
            registered_at: clock.unix_timestamp,
            last_heartbeat: clock.unix_timestamp,
            last_heartbeat_slot: clock.slot,
            reputation: Reputation::default(),
            bump: ctx.bumps.provider,
            referee_stake: 0,
        };
        provider.invariant()?;
        let market_key = a.market.key();
        let owner_key = a.owner.key();
        create::create_pda(
            &a.owner,
            &a.provider,
            &a.system_program,
            8 + Provider::INIT_SPACE,
            &[
                PROVIDER_SEED,
                market_key.as_ref(),
                owner_key.as_ref(),
                &[ctx.bumps.provider],
            ],
        )?;
        create::write_new(&a.provider, &provider)?;
        // The address first (as `init` did): a live provider there refuses the
        // registration by name before any stake moves.
        token_ops::deposit(
            &a.token_program,
            &a.owner_stake_account,
            &a.stake_vault,
            &a.owner,
            args.stake,
        )?;
        a.market.totals.on_stake(args.stake)?;
        a.market.totals.providers = crate::math::add(a.market.totals.providers, 1)?;
        a.market.invariant()?;
        crate::emit_event!(ProviderRegistered {
            market: a.market.key(),
            provider: a.provider.key(),
            owner: a.owner.key(),
            worker: args.worker,
            gpu: args.gpu,
            stake: args.stake,
            timestamp: clock.unix_timestamp,
        });
        Ok(())
    }
}
