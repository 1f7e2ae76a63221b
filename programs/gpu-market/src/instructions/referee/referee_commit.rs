//! A drawn referee commits to the result root it computed (its worker), as
//! `sha256(root || salt || provider)`, before the commit deadline. Its payout account is
//! recorded here: a referee share of a challenger's bond goes there.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::events::RefereeCommitted;
use crate::state::{Dispute, Provider};

#[derive(Accounts)]
pub struct RefereeCommit<'info> {
    pub worker: Signer<'info>,
    #[account(
        constraint = provider.worker == worker.key() @ MarketError::WrongWorker,
        constraint = provider.market == dispute.market @ MarketError::WrongMarket
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(mut)]
    pub dispute: Box<Account<'info, Dispute>>,
}

impl RefereeCommit<'_> {
    pub fn handle(ctx: Context<Self>, commitment: [u8; 32]) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let provider = a.provider.key();
        let round = &mut a.dispute.referee;
        let i = round.index_of(&provider)?;
        round.commit(i, commitment, a.provider.payout_account, now)?;
        crate::emit_event!(RefereeCommitted {
            dispute: a.dispute.key(),
            referee: provider,
            commitment,
            timestamp: now,
        });
        Ok(())
    }
}
