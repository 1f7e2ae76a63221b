//! The gpu-market dashboard's server (`gpumkt dashboard`): a JSON API on localhost
//! over one market's chain state and history, and the web app's built files
//! (`app/web/dist`) from the same origin. Requests flow through [`api`]'s router to
//! the SDK (figures from `gpu_market_client::audit`, the code `gpumkt audit` runs,
//! result checks from its auditor) and to the history database ([`store`], SQLite),
//! which [`follow`] keeps current from the program's transactions ([`source`]:
//! `getSignaturesForAddress`, `getTransaction`, `logsSubscribe` on any RPC node),
//! decoding their events and instructions with the program's IDL ([`idl`]).

pub mod api;
pub mod error;
pub mod follow;
pub mod idl;
pub mod jobs;
pub mod prepare;
pub mod source;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gpu_market_client::chain::rpc::RpcChain;
use gpu_market_client::chain::SharedChain;
use gpu_market_client::send::Sender;
use gpu_market_client::Pubkey;
use tower_http::services::{ServeDir, ServeFile};

pub use error::ApiError;

/// Where the web app's build lands (`npm run build` in app/web).
pub fn default_web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/dist")
}

/// The API's default port.
pub const DEFAULT_PORT: u16 = 7070;
/// The largest upload `POST /api/blobs` takes.
pub const MAX_UPLOAD_BYTES: usize = 256 << 20;

#[derive(Clone)]
pub struct DashboardConfig {
    pub rpc_url: String,
    pub ws_url: String,
    /// What `/api/config` calls the cluster: "localnet", "embedded" or the URL.
    pub cluster: String,
    pub market: Pubkey,
    /// The history database; `None` keeps it in memory (gone at exit).
    pub db_path: Option<PathBuf>,
    pub web_dir: PathBuf,
    /// A blob store location (directory, http(s)://, s3://) for uploads and downloads.
    pub blob_store: Option<String>,
    /// An opened blob store, used instead of opening `blob_store` (its description is
    /// what `/api/config` shows).
    pub blobs: Option<Arc<dyn gpu_market_blobs::BlobStore>>,
    pub bind: SocketAddr,
    /// The longest wait between history passes (a logs notification starts one sooner).
    pub poll_every: Duration,
    pub max_upload_bytes: usize,
}

impl DashboardConfig {
    pub fn new(rpc_url: &str, ws_url: &str, market: Pubkey) -> Self {
        DashboardConfig {
            rpc_url: rpc_url.to_string(),
            ws_url: ws_url.to_string(),
            cluster: rpc_url.to_string(),
            market,
            db_path: None,
            web_dir: default_web_dir(),
            blob_store: None,
            blobs: None,
            bind: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            poll_every: Duration::from_secs(5),
            max_upload_bytes: MAX_UPLOAD_BYTES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("blob store {location:?}: {source}")]
    BlobStore {
        location: String,
        #[source]
        source: gpu_market_blobs::BlobError,
    },
    /// Another process (or another dashboard) listens there already.
    #[error("port {} on {} is in use: pick another with --port, or 0 for a free one", addr.port(), addr.ip())]
    PortInUse {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The address is not one of this machine's (a typo, or another host's address).
    #[error("{} is not an address of this machine: bind 127.0.0.1, 0.0.0.0 or one of its interfaces' addresses", addr.ip())]
    NotALocalAddress {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A web directory that was asked for and does not exist.
    #[error("the web app's directory {} does not exist", dir.display())]
    WebDirMissing { dir: PathBuf },
    /// A web directory without the built app (`index.html`).
    #[error("{} holds no index.html: build the web app (npm ci --prefix app/web && npm run build --prefix app/web) or name its dist directory", dir.display())]
    WebDirNotBuilt { dir: PathBuf },
}

impl DashboardError {
    /// A failed bind, named by its cause.
    fn bind(addr: SocketAddr, source: std::io::Error) -> DashboardError {
        match source.kind() {
            std::io::ErrorKind::AddrInUse => DashboardError::PortInUse { addr, source },
            std::io::ErrorKind::AddrNotAvailable => {
                DashboardError::NotALocalAddress { addr, source }
            }
            _ => DashboardError::Bind { addr, source },
        }
    }
}

/// Checks that `dir` holds a built web app, for a caller that names the directory
/// itself (the default directory of a source tree may be unbuilt: the dashboard then
/// serves a page saying how to build it).
pub fn check_web_dir(dir: &std::path::Path) -> Result<(), DashboardError> {
    if !dir.is_dir() {
        return Err(DashboardError::WebDirMissing {
            dir: dir.to_path_buf(),
        });
    }
    if !dir.join("index.html").is_file() {
        return Err(DashboardError::WebDirNotBuilt {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// A serving dashboard. Dropping it stops the server and the follower.
pub struct Dashboard {
    /// `http://host:port`.
    pub url: String,
    pub addr: SocketAddr,
    pub state: Arc<api::AppState>,
    stop: tokio::sync::watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
    follower: Option<tokio::task::JoinHandle<()>>,
}

impl Dashboard {
    /// Opens the history, makes a first pass over what it lacks (a failure is logged:
    /// the API still answers, with 502 for chain reads), then serves and follows.
    pub async fn start(config: DashboardConfig) -> Result<Dashboard, DashboardError> {
        // The address first: a port in use is refused before any history is read.
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| DashboardError::bind(config.bind, source))?;
        let addr = listener
            .local_addr()
            .map_err(|source| DashboardError::bind(config.bind, source))?;
        let program = gpu_market::ID;
        let store = Arc::new(match &config.db_path {
            Some(p) => store::Store::open(p, &program.to_string())?,
            None => store::Store::in_memory(&program.to_string())?,
        });
        let idl = Arc::new(idl::Idl::builtin());
        let source: Arc<dyn source::HistorySource> =
            Arc::new(source::RpcSource::new(&config.rpc_url, &config.ws_url));
        let follower = Arc::new(follow::Follower::new(
            source,
            store.clone(),
            idl.clone(),
            program,
        ));
        if let Err(e) = follower.catch_up().await {
            tracing::warn!(error = %e, "the history's first pass failed; retrying while serving");
        }
        let blobs = match (&config.blobs, &config.blob_store) {
            (Some(b), _) => Some(b.clone()),
            (None, Some(location)) => Some(gpu_market_blobs::open(location).map_err(|source| {
                DashboardError::BlobStore {
                    location: location.clone(),
                    source,
                }
            })?),
            (None, None) => None,
        };
        let blob_location = match (&config.blob_store, &blobs) {
            (Some(l), _) => Some(l.clone()),
            (None, Some(b)) => Some(b.describe()),
            (None, None) => None,
        };
        let chain: SharedChain = Arc::new(RpcChain::with_ws(&config.rpc_url, &config.ws_url));
        let state = Arc::new(api::AppState {
            sender: Sender::new(chain.clone()),
            chain,
            market: config.market,
            store,
            follower: follower.clone(),
            idl,
            blobs,
            blob_location,
            rpc_url: config.rpc_url.clone(),
            ws_url: config.ws_url.clone(),
            cluster: config.cluster.clone(),
            max_upload_bytes: config.max_upload_bytes,
        });
        let index = config.web_dir.join("index.html");
        let app = if index.is_file() {
            // Client-side routes (/jobs/<key>) get the app's index page.
            api::router(state.clone())
                .fallback_service(ServeDir::new(&config.web_dir).fallback(ServeFile::new(index)))
        } else {
            tracing::warn!(dir = %config.web_dir.display(), "the web app is not built: run npm ci && npm run build in app/web");
            api::router(state.clone()).fallback(api::not_built)
        };
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = server_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "dashboard server stopped");
            }
        });
        let follower_task = tokio::spawn(follower.run(stop_rx, config.poll_every));
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        Ok(Dashboard {
            url: format!("http://{host}:{}", addr.port()),
            addr,
            state,
            stop,
            server: Some(server),
            follower: Some(follower_task),
        })
    }

    /// Stops serving and following, and waits for both to end.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(s) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), s).await;
        }
        if let Some(f) = self.follower.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), f).await;
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(s) = self.server.take() {
            s.abort();
        }
        if let Some(f) = self.follower.take() {
            f.abort();
        }
    }
}
