//! Anyone closes a proof buffer once its dispute has settled (the dispute account is
//! gone); the rent goes back to whoever paid it.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::state::ProofBuffer;

#[derive(Accounts)]
pub struct ProofClose<'info> {
    /// CHECK: only receives the buffer's rent; `has_one = payer` pins it.
    #[account(mut)]
    pub payer: UncheckedAccount<'info>,
    /// CHECK: must be the buffer's dispute, closed: settlement closes it (the account
    /// leaves this program), and dispute addresses never repeat (their seeds hold the
    /// market's dispute count).
    #[account(address = buffer.dispute @ MarketError::WrongDispute)]
    pub dispute: UncheckedAccount<'info>,
    #[account(mut, has_one = payer @ MarketError::Unauthorized, close = payer)]
    pub buffer: Box<Account<'info, ProofBuffer>>,
}

impl ProofClose<'_> {
    pub fn handle(ctx: Context<Self>) -> Result<()> {
        let d = &ctx.accounts.dispute;
        // Open means a live account of this program. Anyone can send lamports to the
        // closed address, which makes it a system account again, not an open dispute:
        // judging by lamports would let that lock every buffer's rent.
        require!(
            d.owner != &crate::ID || d.data_is_empty(),
            MarketError::ProofBufferInUse
        );
        Ok(())
    }
}
