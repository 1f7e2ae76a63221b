//! `gpumkt localnet`: the embedded chain (Agave's runtime in-process, with
//! the gpu-market program loaded natively) run as a long-lived local node.
//! Separate processes (the CLI, workers, the dashboard, and standard Solana
//! clients such as `RpcClient` and `PubsubClient`) reach it through the
//! subset of Solana's JSON-RPC API they use, over HTTP on the RPC port, and
//! Solana's pubsub API over a websocket on the next port, with Solana's
//! request and response shapes. Requests flow from the servers started here
//! into the handlers in `http` and `pubsub`, which act on the shared chain.
//!
//! Served over HTTP: `getVersion`, `getHealth`, `getGenesisHash`, `getSlot`,
//! `getBlockHeight`, `getEpochInfo`, `getLatestBlockhash`, `isBlockhashValid`,
//! `getFeeForMessage`, `getMinimumBalanceForRentExemption`, `getBalance`,
//! `getAccountInfo`, `getMultipleAccounts`, `getProgramAccounts`,
//! `getTokenAccountsByOwner`, `getTokenAccountBalance`, `getTokenSupply`,
//! `sendTransaction`, `simulateTransaction`, `getSignatureStatuses`,
//! `getTransaction`, `getSignaturesForAddress`, `getBlockTime`,
//! `getRecentPrioritizationFees`, `requestAirdrop`. Over the websocket:
//! `accountSubscribe`, `programSubscribe`, `signatureSubscribe`,
//! `slotSubscribe`, `rootSubscribe`, `logsSubscribe` and their
//! `*Unsubscribe`. Any other method is -32601 (Method not found).
//!
//! Where it differs from a validator, because the chain is one in-process
//! bank reached through `BanksClient`:
//! - every landed transaction is final at once (`confirmationStatus:
//!   "finalized"`, `confirmations: null`); commitment levels are accepted and
//!   mean the same thing;
//! - legacy transactions only (v0 is refused with -32602);
//! - a blockhash lasts about a second, however few blocks pass (program-test
//!   registers one every 6.4 ms; a transaction may use the newest 150):
//!   `isBlockhashValid` asks the bank, but `lastValidBlockHeight` counts
//!   blocks as a validator's does and overstates it;
//! - `getSignatureStatuses` knows a signature while the bank's status cache
//!   holds it (its last 300 rooted banks, about a minute of the real-time
//!   clock), and `searchTransactionHistory` finds nothing older;
//! - `getProgramAccounts` sees the accounts that transactions executed by the
//!   chain (through the node or in-process) or `EmbeddedChain::set_account`
//!   have touched, not accounts that exist from genesis;
//! - `getFeeForMessage` counts signature fees, not priority fees;
//!   `getEpochInfo.transactionCount` is `null`;
//! - history (`getTransaction`, `getSignaturesForAddress`, `logsSubscribe`,
//!   `getRecentPrioritizationFees`) covers the transactions sent through this
//!   node, the newest 20 000 (see `history`), not those run in-process on
//!   [`Localnet::chain`]; `getBlockTime` knows the slots the node watched
//!   pass, the newest 9 000 (about an hour). A transaction's meta has no
//!   inner instructions (`null`) or return data, and jsonParsed decodes
//!   instructions only partially (program, accounts, base58 data);
//! - every slot is a root at once: `slotNotification.root` is the slot, and
//!   a clock jump (`advance`) is one notification whose parent is the slot
//!   seen before it;
//! - simulations carry logs and compute units but no return data, inner
//!   instructions, loaded-data size or fee; `simulateTransaction` refuses the
//!   `accounts` option on a successful simulation rather than answer without
//!   post-execution states;
//! - `programSubscribe` without filters also reports an account closing (as
//!   Solana's empty system-owned account), which a validator never sends;
//! - valid JSON that is not a request gets jsonrpsee's -32700 (Parse error)
//!   where a validator answers -32600 (Invalid request);
//! - a transaction whose signatures do not verify is refused with -32003
//!   even with `skipPreflight` (a validator answers with the signature and
//!   drops the transaction in its sigverify stage; here the bank underneath
//!   verifies none, see `sigverify`);
//! - it serves this machine (see [`Access`]): loopback by default, CORS for
//!   pages on loopback and named origins only (Solana's RPC allows any), and
//!   403 for other origins and, when bound to loopback, for a `Host` that is
//!   not a loopback name.
//!
//! ```no_run
//! # async fn run() -> Result<(), gpu_market_localnet::LocalnetError> {
//! use gpu_market_localnet::{Localnet, LocalnetConfig};
//! let node = Localnet::start(LocalnetConfig::default()).await?;
//! println!("RPC {}  websocket {}", node.rpc_url, node.ws_url);
//! tokio::signal::ctrl_c().await.ok();
//! node.stop().await;
//! # Ok(()) }
//! ```

mod access;
mod encode;
mod error;
mod history;
mod http;
mod node;
mod params;
mod pubsub;
mod sigverify;
mod token;
mod transactions;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

pub use access::Access;
pub use error::{LocalnetError, OriginError};
pub use gpu_market_client::chain::embedded::ClockMode;
use gpu_market_client::chain::embedded::EmbeddedChain;
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use solana_sdk::signature::Keypair;

/// Solana's default RPC port; the websocket listens on the next one.
pub const DEFAULT_RPC_PORT: u16 = 8899;

/// Enough for a dashboard, a CLI and many workers at once.
const MAX_CONNECTIONS: u32 = 1_024;
/// `getProgramAccounts` over a busy market can be large.
const MAX_RESPONSE_BYTES: u32 = 128 * 1024 * 1024;
/// How long `stop` waits for connections to finish before giving up on them.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalnetConfig {
    /// Where the HTTP JSON-RPC server listens. The websocket server listens on
    /// the next port (Solana's convention). Port 0 picks free ports: the next
    /// port when it is free, otherwise any free port (see `Localnet::ws_url`).
    pub rpc_addr: SocketAddr,
    pub clock: ClockMode,
}

impl Default for LocalnetConfig {
    fn default() -> Self {
        Self {
            rpc_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_RPC_PORT),
            clock: ClockMode::RealTime,
        }
    }
}

/// A running local node. Dropping it stops the servers too, without waiting;
/// [`Localnet::stop`] waits until both ports are free.
pub struct Localnet {
    /// `http://host:port` of the JSON-RPC server.
    pub rpc_url: String,
    /// `ws://host:port` of the websocket server.
    pub ws_url: String,
    pub rpc_addr: SocketAddr,
    pub ws_addr: SocketAddr,
    /// Holds the genesis lamports; `requestAirdrop` pays from it.
    pub faucet: Keypair,
    /// The chain itself, for in-process use (tests move its clock with
    /// `advance`).
    pub chain: Arc<EmbeddedChain>,
    servers: Option<[ServerHandle; 2]>,
    /// Follows the chain's slots for `slotSubscribe` and `getBlockTime`.
    slot_watcher: tokio::task::JoinHandle<()>,
}

impl Localnet {
    /// Binds both ports, starts the chain with the program deployed and the
    /// faucet funded, and serves until stopped: to this machine only (see
    /// [`Access`]'s defaults).
    pub async fn start(config: LocalnetConfig) -> Result<Localnet, LocalnetError> {
        Self::start_with(config, Access::default()).await
    }

    /// [`Localnet::start`], with browser origins beyond loopback pages, or
    /// an address beyond loopback, allowed by `access`.
    pub async fn start_with(
        config: LocalnetConfig,
        access: Access,
    ) -> Result<Localnet, LocalnetError> {
        Self::start_with_ws_port(config, access, None).await
    }

    /// [`Localnet::start_with`], with the websocket on `ws_port` (on the RPC
    /// address's host; 0 picks a free port) instead of the next port.
    pub async fn start_with_ws_port(
        config: LocalnetConfig,
        access: Access,
        ws_port: Option<u16>,
    ) -> Result<Localnet, LocalnetError> {
        let policy = Arc::new(access::Policy::new(&access, config.rpc_addr)?);
        // Ports first: a port in use should fail before the chain spends
        // time starting.
        let (rpc_listener, ws_listener) = match ws_port {
            None => bind(config.rpc_addr)?,
            Some(port) => {
                let rpc = listen(config.rpc_addr, "JSON-RPC (HTTP)")?;
                let ws_addr = SocketAddr::new(config.rpc_addr.ip(), port);
                (rpc, listen(ws_addr, "JSON-RPC (websocket)")?)
            }
        };
        let rpc_addr = local_addr(&rpc_listener, config.rpc_addr)?;
        let ws_addr = local_addr(&ws_listener, config.rpc_addr)?;

        let chain = EmbeddedChain::start(config.clock).await?;
        let node = Arc::new(node::Node::new(Arc::clone(&chain)));
        let slot_watcher = tokio::spawn(Arc::clone(&node).watch_slots());
        let server_err = |e: &dyn std::fmt::Display| LocalnetError::Server(e.to_string());

        let http_module = http::module(Arc::clone(&node)).map_err(|e| server_err(&e))?;
        let ws_module = pubsub::module(Arc::clone(&node)).map_err(|e| server_err(&e))?;
        let base = || {
            ServerConfig::builder()
                .max_connections(MAX_CONNECTIONS)
                .max_response_body_size(MAX_RESPONSE_BYTES)
        };
        // Browsers refuse cross-origin answers without CORS headers. Solana's
        // RPC allows any origin; this node's faucet pays whoever asks, so only
        // loopback pages and named origins get them (`access`), and the guard
        // turns other origins away before a method runs. Websockets have no
        // CORS: the guard is all that keeps other pages off the subscriptions.
        let guard = access::GuardLayer(Arc::clone(&policy));
        let http = Server::builder()
            .set_config(base().http_only().build())
            .set_http_middleware(
                tower::ServiceBuilder::new()
                    .layer(access::cors(&policy))
                    .layer(guard.clone()),
            )
            .build_from_tcp(rpc_listener)
            .map_err(|e| server_err(&e))?
            .start(http_module);
        let ws = Server::builder()
            .set_config(base().ws_only().build())
            .set_http_middleware(tower::ServiceBuilder::new().layer(guard))
            .build_from_tcp(ws_listener)
            .map_err(|e| server_err(&e))?
            .start(ws_module);

        let rpc_url = format!("http://{}", reachable(rpc_addr));
        let ws_url = format!("ws://{}", reachable(ws_addr));
        tracing::info!(rpc = %rpc_url, ws = %ws_url, "localnet serving");
        Ok(Localnet {
            rpc_url,
            ws_url,
            rpc_addr,
            ws_addr,
            faucet: chain.faucet().insecure_clone(),
            chain,
            servers: Some([http, ws]),
            slot_watcher,
        })
    }

    /// Stops both servers, closing open connections and subscriptions, and
    /// returns once the ports are free.
    pub async fn stop(mut self) {
        self.slot_watcher.abort();
        let Some(servers) = self.servers.take() else {
            return;
        };
        for s in &servers {
            let _ = s.stop();
        }
        for s in servers {
            if tokio::time::timeout(STOP_GRACE, s.stopped()).await.is_err() {
                tracing::warn!("localnet: a connection did not close within {STOP_GRACE:?}");
            }
        }
        tracing::info!(rpc = %self.rpc_url, "localnet stopped");
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        self.slot_watcher.abort();
        if let Some(servers) = self.servers.take() {
            for s in &servers {
                let _ = s.stop();
            }
        }
    }
}

fn listen(addr: SocketAddr, what: &'static str) -> Result<TcpListener, LocalnetError> {
    let bind_err = |source| LocalnetError::Bind { what, addr, source };
    let listener = TcpListener::bind(addr).map_err(bind_err)?;
    // tokio adopts the socket only in non-blocking mode.
    listener.set_nonblocking(true).map_err(bind_err)?;
    Ok(listener)
}

fn local_addr(listener: &TcpListener, requested: SocketAddr) -> Result<SocketAddr, LocalnetError> {
    listener.local_addr().map_err(|source| LocalnetError::Bind {
        what: "JSON-RPC",
        addr: requested,
        source,
    })
}

/// The RPC listener on `addr` and the websocket listener on the next port.
/// With port 0 the websocket takes the next port if free, else any free port.
fn bind(addr: SocketAddr) -> Result<(TcpListener, TcpListener), LocalnetError> {
    let rpc = listen(addr, "JSON-RPC (HTTP)")?;
    let rpc_addr = local_addr(&rpc, addr)?;
    let next = rpc_addr
        .port()
        .checked_add(1)
        .map(|p| SocketAddr::new(rpc_addr.ip(), p));
    let ws = match next {
        Some(ws_addr) => match listen(ws_addr, "JSON-RPC (websocket)") {
            Ok(l) => l,
            Err(_) if addr.port() == 0 => {
                listen(SocketAddr::new(rpc_addr.ip(), 0), "JSON-RPC (websocket)")?
            }
            Err(e) => return Err(e),
        },
        None if addr.port() == 0 => {
            listen(SocketAddr::new(rpc_addr.ip(), 0), "JSON-RPC (websocket)")?
        }
        None => {
            return Err(LocalnetError::Bind {
                what: "JSON-RPC (websocket)",
                addr: rpc_addr,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the RPC port is 65535, so there is no next port for the websocket",
                ),
            })
        }
    };
    Ok((rpc, ws))
}

/// An address clients can dial: a wildcard bind is reached on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_binds_two_ports_and_fixed_ports_take_the_next_one() {
        let (rpc, ws) = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        let (rpc, ws) = (rpc.local_addr().unwrap(), ws.local_addr().unwrap());
        assert_ne!(rpc.port(), 0);
        assert_ne!(ws.port(), 0);
        assert_ne!(rpc, ws);

        // A taken next port is an error when the port was asked for.
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        if let Ok(free) = TcpListener::bind((Ipv4Addr::LOCALHOST, port - 1)) {
            drop(free);
            match bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port - 1))) {
                Err(LocalnetError::Bind { addr, .. }) => assert_eq!(addr.port(), port),
                other => panic!(
                    "expected the websocket port to be refused: {:?}",
                    other.map(|_| ())
                ),
            }
        }
    }

    #[test]
    fn wildcard_binds_are_dialled_on_loopback() {
        let any: SocketAddr = "0.0.0.0:8899".parse().unwrap();
        assert_eq!(reachable(any), "127.0.0.1:8899".parse().unwrap());
        let any6: SocketAddr = "[::]:8899".parse().unwrap();
        assert_eq!(reachable(any6), "[::1]:8899".parse().unwrap());
        let lo: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(reachable(lo), lo);
    }
}
