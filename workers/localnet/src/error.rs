//! Errors: [`LocalnetError`] for starting the node, and the JSON-RPC error
//! objects its methods answer with. Solana's own error conversion
//! (`RpcCustomError` into a JSON-RPC error) is reused so that codes, messages
//! and `data` payloads (the preflight simulation above all) match a validator's.

use std::net::SocketAddr;

use gpu_market_client::error::ClientError;
use jsonrpsee::types::ErrorObjectOwned;
use solana_rpc_client_api::custom_error::RpcCustomError;

/// Why `Localnet::start` failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the embedded chain did not start: {0}")]
    Chain(#[from] ClientError),
    #[error("the JSON-RPC server could not be set up: {0}")]
    Server(String),
    /// The faucet would be open to the network: binding beyond loopback takes
    /// `Access::beyond_loopback` (`gpumkt localnet --bind ADDR`).
    #[error("refusing to serve on {addr}, which is not loopback: anyone who can reach it could spend the faucet; allow it explicitly (Access::beyond_loopback, `gpumkt localnet --bind`)")]
    NotLoopback { addr: SocketAddr },
    #[error("CORS origin {origin:?} is refused: {source}")]
    CorsOrigin {
        origin: String,
        #[source]
        source: OriginError,
    },
}

/// Why an origin given for CORS is refused.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error(
        "`*` would let every web page use the node and its faucet; name the dashboard's origin"
    )]
    Wildcard,
    #[error(
        "`null` is the origin of sandboxed frames and local files, which any page can produce"
    )]
    Null,
    #[error("an origin is http:// or https://, a host, an optional :port, and nothing after")]
    Malformed,
}

pub(crate) type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// JSON-RPC 2.0's reserved codes, as Solana uses them.
const INVALID_REQUEST: i32 = -32600;
const INVALID_PARAMS: i32 = -32602;
const INTERNAL_ERROR: i32 = -32603;

/// -32602; Solana puts the whole explanation in the message.
pub(crate) fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, message.into(), None::<()>)
}

/// -32600, which Solana uses for requests it understood but will not serve
/// as asked (base58 for large accounts).
pub(crate) fn invalid_request(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_REQUEST, message.into(), None::<()>)
}

/// -32603 "Internal error" as Solana sends it, with the cause in `data` so
/// that a local node's failures are not a mystery.
pub(crate) fn internal(detail: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INTERNAL_ERROR, "Internal error", Some(detail.to_string()))
}

/// Solana's server-defined errors (-32002 preflight failure, -32003 signature
/// verification, -32016 minimum context slot, ...), converted by Solana's code.
pub(crate) fn custom(error: RpcCustomError) -> ErrorObjectOwned {
    let e: jsonrpc_core::Error = error.into();
    ErrorObjectOwned::owned(e.code.code() as i32, e.message, e.data)
}

/// The embedded chain failed underneath a request.
pub(crate) fn chain(error: ClientError) -> ErrorObjectOwned {
    internal(error)
}
