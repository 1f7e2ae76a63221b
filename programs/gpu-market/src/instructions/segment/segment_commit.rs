//! The provider running a segment commits its checkpoint: the SHA-256 root of the
//! checkpoint bytes and the URI it is stored at (the buyer's store, named in the spec),
//! on time. The segment's challenge window starts now. The job goes on to its next
//! segment: started at once for the same provider when that provider may start it
//! (`Segments::check_start_for`, the claim's own rule: slot, stake, floor, deadline,
//! market not paused), otherwise left pending for any provider's claim.

use anchor_lang::prelude::*;

use crate::constants::SEGMENTS_SEED;
use crate::errors::MarketError;
use crate::events::SegmentCommitted;
use crate::instructions::job::start_segment_for;
use crate::state::{Job, Market, Provider, Segments};

#[derive(Accounts)]
pub struct SegmentCommit<'info> {
    pub worker: Signer<'info>,
    #[account(mut)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        has_one = market @ MarketError::WrongMarket,
        constraint = provider.worker == worker.key() @ MarketError::WrongWorker
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(mut, has_one = market @ MarketError::WrongMarket)]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, seeds = [SEGMENTS_SEED, job.key().as_ref()], bump = segments.bump)]
    pub segments: Box<Account<'info, Segments>>,
}

impl SegmentCommit<'_> {
    pub fn handle(
        ctx: Context<Self>,
        index: u8,
        state_root: [u8; 32],
        checkpoint_uri: String,
    ) -> Result<()> {
        let clock = Clock::get()?;
        let now = clock.unix_timestamp;
        let a = &mut *ctx.accounts;
        let provider_key = a.provider.key();
        let uri = checkpoint_uri.clone();
        a.segments.commit(
            &mut a.job,
            index,
            &provider_key,
            state_root,
            checkpoint_uri,
            now,
        )?;
        let committed = *a.segments.segment(index)?;
        a.provider.heartbeat(now, clock.slot);
        a.provider.invariant()?;
        a.segments.invariant(&a.job)?;
        crate::emit_event!(SegmentCommitted {
            job: a.job.key(),
            index,
            provider: provider_key,
            state_root,
            uri,
            committed_at: now,
            challenge_deadline: committed.challenge_deadline,
            gpu_ms: committed.gpu_ms(),
        });
        let go_on = if a.market.paused {
            None
        } else {
            a.segments
                .check_start_for(&a.job, &a.provider, a.market.params.min_stake, now)
                .ok()
        };
        if let Some((_, bond)) = go_on {
            start_segment_for(
                &mut a.market,
                &mut a.provider,
                &mut a.job,
                &mut a.segments,
                bond,
                &clock,
            )?;
        }
        Ok(())
    }
}
