//! The chain calls the segment runner makes, behind a trait so its logic is tested
//! with an in-memory chain (`tests/segments.rs`) and run on the real program through
//! [`ClientChain`], a thin wrapper over `gpu_market_client::segments` (`fetch_segments`,
//! `claim`, `commit`, `expire`) and the chain's clock, signing as the worker's
//! provider. What comes back is the program's own `Segments` account; failures are the
//! client's own errors, program failures by their name (`ClientError::error_name`).

use std::future::Future;

use gpu_market::state::Segments;
use gpu_market_client::chain::Chain;
use gpu_market_client::crank;
use gpu_market_client::error::ClientError;
use gpu_market_client::ix::MarketKeys;
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, segments as seg, token, Pubkey};
use gpu_market_compute::Hash32;
use solana_sdk::signature::{Keypair, Signer};

pub trait SegmentChain: Send + Sync {
    /// The job's `Segments` account, `None` if it has none (a single job, or one whose
    /// accounts closed once every segment was settled).
    fn segments(
        &self,
        job: &Pubkey,
    ) -> impl Future<Output = Result<Option<Segments>, ClientError>> + Send;

    /// The chain's unix time.
    fn now(&self) -> impl Future<Output = Result<i64, ClientError>> + Send;

    /// Whether the program would start `segments`' next segment of `job` for this
    /// provider at `now` (the program's `Segments::startable_at`).
    fn startable(
        &self,
        job: &Pubkey,
        segments: &Segments,
        now: i64,
    ) -> impl Future<Output = Result<bool, ClientError>> + Send;

    /// `job_claim`: starts segment `next` for this provider.
    fn claim(&self, job: &Pubkey) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// `segment_commit(index, state_root, checkpoint_uri)`.
    fn commit(
        &self,
        job: &Pubkey,
        index: u8,
        state_root: Hash32,
        uri: &str,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// `segment_expire(index)`.
    fn expire(
        &self,
        job: &Pubkey,
        index: u8,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;
}

/// The program, through the client: the worker key signs and pays, for `provider`.
pub struct ClientChain {
    pub sender: Sender,
    pub key: Keypair,
    pub market: MarketKeys,
    /// The provider account the worker key works for.
    pub provider: Pubkey,
}

impl ClientChain {
    fn chain(&self) -> &dyn Chain {
        &*self.sender.chain
    }
}

impl SegmentChain for ClientChain {
    async fn segments(&self, job: &Pubkey) -> Result<Option<Segments>, ClientError> {
        seg::fetch_segments(self.chain(), job).await
    }

    async fn now(&self) -> Result<i64, ClientError> {
        Ok(self.chain().clock().await?.unix_timestamp)
    }

    async fn startable(
        &self,
        job: &Pubkey,
        segments: &Segments,
        now: i64,
    ) -> Result<bool, ClientError> {
        let chain = self.chain();
        let Some(j) = accounts::fetch_job_opt(chain, job).await? else {
            return Ok(false);
        };
        let provider = accounts::fetch_provider(chain, &self.provider).await?;
        let market = accounts::fetch_market(chain, &self.market.market).await?;
        Ok(segments.startable_at(&j, &provider, market.params.min_stake, now))
    }

    async fn claim(&self, job: &Pubkey) -> Result<(), ClientError> {
        seg::claim(
            &self.sender,
            &self.key,
            &self.market.market,
            &self.provider,
            job,
        )
        .await
        .map(drop)
    }

    async fn commit(
        &self,
        job: &Pubkey,
        index: u8,
        state_root: Hash32,
        uri: &str,
    ) -> Result<(), ClientError> {
        seg::commit(
            &self.sender,
            &self.key,
            &self.market.market,
            &self.provider,
            job,
            index,
            state_root.0,
            uri.to_string(),
        )
        .await
        .map(drop)
    }

    async fn expire(&self, job: &Pubkey, index: u8) -> Result<(), ClientError> {
        // The reporter's share goes to the worker key's own stake account, created
        // once at its cost (as the worker's crank does).
        let me = self.key.pubkey();
        let mine = token::ata(&me, &self.market.stake_mint);
        if self.chain().get_account(&mine).await?.is_none() {
            let ixs = crank::own_accounts_instructions(&self.market, &me);
            self.sender.send(&ixs, &self.key, &[]).await?;
        }
        seg::expire(&self.sender, &self.key, &self.market, job, index, mine)
            .await
            .map(drop)
    }
}
