//! Creates a market's referee pool (anyone, once; the payer pays its rent). A separate
//! instruction rather than `init_if_needed`, so no path can initialize the pool twice.

use anchor_lang::prelude::*;

use crate::constants::*;
use crate::state::{Market, RefereePool, RefereeSeat};

#[derive(Accounts)]
pub struct RefereePoolCreate<'info> {
    #[account(mut)]
    pub payer: Signer<'info>,
    pub market: Box<Account<'info, Market>>,
    #[account(
        init,
        payer = payer,
        space = 8 + RefereePool::INIT_SPACE,
        seeds = [REFEREE_POOL_SEED, market.key().as_ref()],
        bump
    )]
    pub pool: Box<Account<'info, RefereePool>>,
    pub system_program: Program<'info, System>,
}

impl RefereePoolCreate<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let market = ctx.accounts.market.key();
        ctx.accounts.pool.set_inner(RefereePool {
            market,
            len: 0,
            seats: [RefereeSeat::default(); REFEREE_POOL_CAPACITY],
            bump: ctx.bumps.pool,
        });
        Ok(())
    }
}
