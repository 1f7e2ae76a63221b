//! The owner changes the worker key, payout account, price floor, concurrency
//! or GPU descriptor. Work in flight is unaffected: a job's provider is the
//! provider account, whichever worker key it has now.

use anchor_lang::prelude::*;
use anchor_spl::token::TokenAccount;

use crate::errors::MarketError;
use crate::events::ProviderUpdated;
use crate::state::{GpuDescriptor, Market, Provider};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct ProviderUpdateArgs {
    pub worker: Option<Pubkey>,
    pub price_floor: Option<u64>,
    pub max_concurrent: Option<u16>,
    pub gpu: Option<GpuDescriptor>,
}

#[derive(Accounts)]
pub struct ProviderUpdate<'info> {
    pub owner: Signer<'info>,
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = owner @ MarketError::WrongOwner,
        has_one = market @ MarketError::WrongMarket
    )]
    pub provider: Box<Account<'info, Provider>>,
    /// A new payout account, if it changes.
    #[account(
        constraint = payout_account.mint == market.payment_mint @ MarketError::WrongMint,
        constraint = !market.is_vault(&payout_account.key()) @ MarketError::WrongPayoutAccount
    )]
    pub payout_account: Option<Box<Account<'info, TokenAccount>>>,
}

impl ProviderUpdate<'_> {
    pub fn validate(&self, args: &ProviderUpdateArgs) -> Result<()> {
        if let Some(gpu) = &args.gpu {
            gpu.validate()?;
        }
        require!(
            args.max_concurrent != Some(0),
            MarketError::InvalidConcurrency
        );
        Ok(())
    }

    pub fn handle(ctx: Context<Self>, args: ProviderUpdateArgs) -> Result<()> {
        ctx.accounts.validate(&args)?;
        let a = &mut *ctx.accounts;
        let p = &mut a.provider;
        if let Some(worker) = args.worker {
            p.worker = worker;
        }
        if let Some(floor) = args.price_floor {
            p.price_floor = floor;
        }
        if let Some(n) = args.max_concurrent {
            p.max_concurrent = n;
        }
        if let Some(gpu) = args.gpu {
            p.gpu = gpu;
        }
        if let Some(payout) = &a.payout_account {
            p.payout_account = payout.key();
        }
        p.invariant()?;
        crate::emit_event!(ProviderUpdated {
            provider: p.key(),
            worker: p.worker,
            payout_account: p.payout_account,
            price_floor: p.price_floor,
            max_concurrent: p.max_concurrent,
            timestamp: Clock::get()?.unix_timestamp,
        });
        Ok(())
    }
}
