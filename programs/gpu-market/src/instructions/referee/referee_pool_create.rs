//! Creates a market's referee pool (anyone, once; the payer pays its rent). A separate
//! instruction rather than `init_if_needed`, so no path can initialize the pool twice. Its
//! address is predictable (one per market), so it is created by `create::create_pda`:
//! lamports sent there first cannot leave a market without referees (nor block the
//! market's creation, which creates its pool in the same transaction).

use anchor_lang::prelude::*;

use crate::constants::*;
use crate::create;
use crate::state::{Market, RefereePool, RefereeSeat};

#[derive(Accounts)]
pub struct RefereePoolCreate<'info> {
    #[account(mut)]
    pub payer: Signer<'info>,
    pub market: Box<Account<'info, Market>>,
    /// CHECK: the market's pool address (seeds checked), created in the handler by
    /// `create::create_pda`. Lamports sent there before cannot block it; a live pool there
    /// refuses it (`AccountAddressInUse`).
    #[account(mut, seeds = [REFEREE_POOL_SEED, market.key().as_ref()], bump)]
    pub pool: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

impl RefereePoolCreate<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let a = &ctx.accounts;
        let market = a.market.key();
        let bump = ctx.bumps.pool;
        create::create_pda(
            &a.payer,
            &a.pool,
            &a.system_program,
            8 + RefereePool::INIT_SPACE,
            &[REFEREE_POOL_SEED, market.as_ref(), &[bump]],
        )?;
        let pool = Box::new(RefereePool {
            market,
            len: 0,
            seats: [RefereeSeat::default(); REFEREE_POOL_CAPACITY],
            bump,
        });
        create::write_new(&a.pool, pool.as_ref())
    }
}
