//! `demo --dashboard` after the report: the market keeps working while the dashboard
//! serves it. The honest providers' daemons and a crank start again (a job posted from
//! the page is claimed, computed and finalized) until [`Running::stop`], and a buyer
//! for the page is funded, its key written where a wallet can load it, because the
//! payment mint's authority is a key only the demo holds.

use std::path::Path;

use gpu_market_client::bootstrap;
use solana_sdk::signature::{Keypair, Signer};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::actors::{self, Env};
use super::error::DemoError;
use super::setup::Seat;
use super::PRICE;

/// The dashboard buyer's key under the workdir: a Solana JSON key file (the 64-byte
/// array).
pub const DASHBOARD_BUYER_FILE: &str = "dashboard-buyer.json";
/// Its lamports (fees and rent for its posts).
const BUYER_LAMPORTS: u64 = 2_000_000_000;
/// Its payment tokens: a hundred jobs at the demo's price.
const BUYER_JOBS: u64 = 100;

/// What keeps running after the scenario.
pub struct Running {
    pub(super) stop: watch::Sender<bool>,
    pub(super) daemons: Vec<JoinHandle<()>>,
    pub(super) crank: JoinHandle<Keypair>,
}

impl Running {
    /// Stops the daemons (each waits for its jobs in flight, bounded) and the crank.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for d in self.daemons {
            let _ = d.await;
        }
        let _ = self.crank.await;
    }
}

/// Starts `seats`' daemons and a crank (as `cranker`) over `env`, and funds the
/// dashboard's buyer.
pub(super) async fn start(
    env: &std::sync::Arc<Env>,
    authority: &Keypair,
    cranker: &Keypair,
    funder: &Keypair,
    seats: &[Seat],
    workdir: &Path,
) -> Result<Running, DemoError> {
    let (stop, rx) = watch::channel(false);
    let mut daemons = Vec::new();
    for seat in seats {
        let w = seat.worker(env, workdir, None).await?;
        let rx = rx.clone();
        daemons.push(tokio::spawn(async move {
            let _ = w.run(rx).await;
        }));
    }
    let crank = actors::spawn_crank(env.clone(), cranker.insecure_clone(), rx);
    fund_dashboard_buyer(env, authority, funder, workdir).await?;
    Ok(Running {
        stop,
        daemons,
        crank,
    })
}

/// A fresh buyer holding lamports and `BUYER_JOBS` x `PRICE` payment tokens in its
/// associated account, its key in `<workdir>/DASHBOARD_BUYER_FILE`.
async fn fund_dashboard_buyer(
    env: &Env,
    authority: &Keypair,
    funder: &Keypair,
    workdir: &Path,
) -> Result<Keypair, DemoError> {
    let buyer = Keypair::new();
    let mut ixs = vec![solana_system_interface::instruction::transfer(
        &funder.pubkey(),
        &buyer.pubkey(),
        BUYER_LAMPORTS,
    )];
    ixs.extend(bootstrap::fund_instructions(
        &authority.pubkey(),
        &env.market,
        &buyer.pubkey(),
        BUYER_JOBS * PRICE,
        0,
    ));
    env.sender
        .send(&ixs, funder, &[authority])
        .await
        .map_err(DemoError::chain("funding the dashboard's buyer"))?;
    bootstrap::track_wallet(&env.tokens, &env.market, &buyer.pubkey());
    let path = workdir.join(DASHBOARD_BUYER_FILE);
    let json = serde_json::to_string(&buyer.to_bytes().to_vec()).expect("bytes serialize");
    std::fs::write(&path, json).map_err(|source| DemoError::KeyFile { path, source })?;
    Ok(buyer)
}
