//! A proof buffer's payer writes bytes of the staged leaf at an offset (a transaction
//! carries about 900), until the leaf is verified; then its bytes are frozen. The account
//! grows to cover what is written (at most `MAX_PERMITTED_DATA_INCREASE`, 10 KiB, per
//! instruction, the runtime's limit), the payer topping up its rent.

use anchor_lang::prelude::*;
use anchor_lang::system_program;

use crate::errors::MarketError;
use crate::state::{Dispute, ProofBuffer};
use anchor_lang::solana_program::entrypoint::MAX_PERMITTED_DATA_INCREASE;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct ProofWriteArgs {
    pub offset: u32,
    pub data: Vec<u8>,
}

#[derive(Accounts)]
pub struct ProofWrite<'info> {
    #[account(mut)]
    pub payer: Signer<'info>,
    pub dispute: Box<Account<'info, Dispute>>,
    #[account(
        mut,
        has_one = dispute @ MarketError::WrongDispute,
        has_one = payer @ MarketError::Unauthorized
    )]
    pub buffer: Box<Account<'info, ProofBuffer>>,
    pub system_program: Program<'info, System>,
}

impl ProofWrite<'_> {
    pub fn handle(ctx: Context<Self>, args: ProofWriteArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = &*ctx.accounts;
        a.dispute.check_staging_at(now)?;
        require!(
            !a.dispute.is_proven(a.buffer.tree),
            MarketError::ProofAlreadyVerified
        );
        let end = (args.offset as u64).saturating_add(args.data.len() as u64);
        require!(
            end <= a.buffer.len as u64,
            MarketError::ProofWriteOutOfBounds
        );
        let info = a.buffer.to_account_info();
        let start = ProofBuffer::DATA_OFFSET.saturating_add(args.offset as usize);
        let stop = start.saturating_add(args.data.len());
        if stop > info.data_len() {
            require!(
                stop.saturating_sub(info.data_len()) <= MAX_PERMITTED_DATA_INCREASE,
                MarketError::ProofWriteOutOfBounds
            );
            let rent = Rent::get()?.minimum_balance(stop);
            let top_up = rent.saturating_sub(info.lamports());
            if top_up > 0 {
                system_program::transfer(
                    CpiContext::new(
                        a.system_program.key(),
                        system_program::Transfer {
                            from: a.payer.to_account_info(),
                            to: info.clone(),
                        },
                    ),
                    top_up,
                )?;
            }
            info.resize(stop)?;
        }
        let mut data = info.try_borrow_mut_data()?;
        // In range: the account now holds at least `stop` bytes.
        data[start..stop].copy_from_slice(&args.data);
        Ok(())
    }
}
