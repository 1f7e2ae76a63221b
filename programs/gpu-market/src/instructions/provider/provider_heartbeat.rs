//! The worker's sign of life, optionally carrying a freshly detected GPU
//! descriptor (the worker measures its hardware at start).

use anchor_lang::prelude::*;

use crate::errors::MarketError;
use crate::events::ProviderHeartbeatRecorded;
use crate::state::{GpuDescriptor, Provider};

#[derive(Accounts)]
pub struct ProviderHeartbeat<'info> {
    pub worker: Signer<'info>,
    #[account(mut, constraint = provider.worker == worker.key() @ MarketError::WrongWorker)]
    pub provider: Box<Account<'info, Provider>>,
}

impl ProviderHeartbeat<'_> {
    pub fn handle(ctx: Context<Self>, gpu: Option<GpuDescriptor>) -> Result<()> {
        let clock = Clock::get()?;
        let provider = &mut ctx.accounts.provider;
        if let Some(gpu) = gpu {
            gpu.validate()?;
            provider.gpu = gpu;
        }
        provider.heartbeat(clock.unix_timestamp, clock.slot);
        provider.invariant()?;
        crate::emit_event!(ProviderHeartbeatRecorded {
            provider: provider.key(),
            slot: clock.slot,
            gpu_updated: gpu.is_some(),
            timestamp: clock.unix_timestamp,
        });
        Ok(())
    }
}
