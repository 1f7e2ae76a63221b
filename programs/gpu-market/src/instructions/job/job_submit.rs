//! The claiming provider's worker submits the result commitment (Merkle root),
//! where to fetch the output, and the GPU time it metered. The challenge
//! window starts now.

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::events::JobSubmitted;
use crate::state::{Job, Provider};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct JobSubmitArgs {
    pub result_root: [u8; 32],
    pub result_uri: String,
    /// Metered GPU time, milliseconds (at most wall clock since the claim times GPU count).
    pub gpu_ms: u64,
}

#[derive(Accounts)]
pub struct JobSubmit<'info> {
    pub worker: Signer<'info>,
    #[account(mut, constraint = provider.worker == worker.key() @ MarketError::WrongWorker)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(mut, constraint = job.provider == provider.key() @ MarketError::WrongProvider)]
    pub job: Box<Account<'info, Job>>,
}

impl JobSubmit<'_> {
    pub fn handle(ctx: Context<Self>, args: JobSubmitArgs) -> Result<()> {
        let clock = Clock::get()?;
        let a = &mut *ctx.accounts;
        a.job.submit(
            args.result_root,
            args.result_uri,
            args.gpu_ms,
            clock.unix_timestamp,
        )?;
        a.provider.heartbeat(clock.unix_timestamp, clock.slot);
        a.provider.invariant()?;
        crate::emit_event!(JobSubmitted {
            job: a.job.key(),
            provider: a.provider.key(),
            result_root: args.result_root,
            gpu_ms: args.gpu_ms,
            challenge_deadline: a.job.challenge_deadline,
            timestamp: clock.unix_timestamp,
        });
        Ok(())
    }
}
