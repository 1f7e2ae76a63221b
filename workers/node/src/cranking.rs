//! The worker as a crank: a job the chain's rules say is due (finalize, expire, refund;
//! `gpu_market_client::crank::due`) is settled with the worker key as cranker, and its
//! bounty and reporter share go to the worker key's own token accounts, created once at
//! the worker's cost.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use gpu_market::state::{Job, Provider};
use gpu_market_client::{accounts, crank, Pubkey};
use solana_sdk::signature::Signer;

use crate::worker::{Result, Worker};

impl Worker {
    /// Sends the crank `c` of `job`; `providers` is read once per tick, on the first crank
    /// that needs it. A crank that fails (someone else was first) is skipped.
    pub(crate) async fn crank(
        &self,
        c: crank::CrankAction,
        job: &Job,
        providers: &mut Option<HashMap<Pubkey, Provider>>,
    ) -> Result<()> {
        self.load_providers(providers).await?;
        self.ensure_crank_accounts().await?;
        let ixs = crank::instructions(
            &self.market,
            c,
            job,
            providers.as_ref().expect("read above"),
            &self.key.pubkey(),
        )?;
        match self.sender.send(&ixs, &self.key, &[]).await {
            Ok(_) => self.bump(|s| s.cranked += 1),
            Err(e) => tracing::debug!(job = %c.job, error = %e, "crank skipped"),
        }
        Ok(())
    }

    /// The market's providers, read once per tick (on the first crank that needs them).
    pub(crate) async fn load_providers(
        &self,
        providers: &mut Option<HashMap<Pubkey, Provider>>,
    ) -> Result<()> {
        if providers.is_none() {
            *providers = Some(
                accounts::list_providers(&*self.sender.chain, &self.cfg.market)
                    .await?
                    .into_iter()
                    .collect(),
            );
        }
        Ok(())
    }

    /// The worker key's own token accounts, where crank bounties and reporter shares
    /// go: created once, at the worker's cost (a crank never creates anyone else's).
    pub(crate) async fn ensure_crank_accounts(&self) -> Result<()> {
        if self.crank_accounts_ready.load(Ordering::SeqCst) {
            return Ok(());
        }
        let me = self.key.pubkey();
        let mine = [
            gpu_market_client::token::ata(&me, &self.market.payment_mint),
            gpu_market_client::token::ata(&me, &self.market.stake_mint),
        ];
        let chain = &*self.sender.chain;
        if chain
            .get_multiple_accounts(&mine)
            .await?
            .iter()
            .any(Option::is_none)
        {
            let ixs = crank::own_accounts_instructions(&self.market, &me);
            self.sender.send(&ixs, &self.key, &[]).await?;
        }
        self.crank_accounts_ready.store(true, Ordering::SeqCst);
        Ok(())
    }
}
