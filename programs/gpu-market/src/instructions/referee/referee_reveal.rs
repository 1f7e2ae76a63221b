//! A referee reveals its root and salt (its worker) once the commit phase is over and
//! before the reveal deadline; the pair must open its commitment.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::events::RefereeRevealed;
use crate::state::{Dispute, Provider};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct RefereeRevealArgs {
    pub root: [u8; 32],
    pub salt: [u8; 32],
}

#[derive(Accounts)]
pub struct RefereeReveal<'info> {
    pub worker: Signer<'info>,
    #[account(
        constraint = provider.worker == worker.key() @ MarketError::WrongWorker,
        constraint = provider.market == dispute.market @ MarketError::WrongMarket
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(mut)]
    pub dispute: Box<Account<'info, Dispute>>,
}

impl RefereeReveal<'_> {
    pub fn handle(ctx: Context<Self>, args: RefereeRevealArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &mut *ctx.accounts;
        let provider = a.provider.key();
        let round = &mut a.dispute.referee;
        let i = round.index_of(&provider)?;
        round.reveal(i, &provider, args.root, args.salt, now)?;
        crate::emit_event!(RefereeRevealed {
            dispute: a.dispute.key(),
            referee: provider,
            root: args.root,
            timestamp: now,
        });
        Ok(())
    }
}
