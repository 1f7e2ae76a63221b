//! Who may reach the node. The localnet's faucet holds the genesis lamports
//! and signs airdrops for anyone who asks, so the node is for this machine:
//! it binds loopback unless told otherwise (and then warns), answers only
//! requests addressed to a loopback host name (so a web page that rebinds its
//! own domain to 127.0.0.1 is refused), and lets browsers use it only from
//! pages served on loopback or from origins named with `--cors-origin`.
//!
//! Every HTTP request and websocket handshake passes through [`Guard`]: a
//! request whose `Origin` is not allowed, or whose `Host` is not loopback on a
//! loopback-bound node, is answered 403 before any method runs. Clients that
//! are not browsers send no `Origin` and are served. CORS headers
//! ([`cors`]) tell browsers which origins may read the answers.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use jsonrpsee::server::http::response;
use jsonrpsee::server::{HttpRequest, HttpResponse};
use tower::{Layer, Service};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use crate::error::{LocalnetError, OriginError};

/// Host names that are this machine on every system: what a loopback-bound
/// node answers to, and the hosts of the web pages it serves without asking.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// How long a browser may cache a CORS preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Who may use the node beyond the loopback defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// Browser origins (`scheme://host[:port]`, exactly as a browser sends
    /// them, e.g. `https://dashboard.example:8443`) allowed besides pages
    /// served from loopback. `*` and `null` are refused: either would let any
    /// web page drive the faucet.
    pub cors_origins: Vec<String>,
    /// Serve on an address other than loopback. Anyone who can reach it can
    /// spend the faucet's lamports and send transactions; the node logs a
    /// warning saying so. `Localnet::start` refuses such an address without it.
    pub beyond_loopback: bool,
}

/// What [`Guard`] and the CORS layer enforce, checked once at start.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    origins: Vec<String>,
    /// `Host` must name loopback (the node is bound to loopback).
    loopback_host_only: bool,
}

impl Policy {
    /// Validates `access` against the address the node binds.
    pub(crate) fn new(access: &Access, addr: SocketAddr) -> Result<Policy, LocalnetError> {
        let loopback = addr.ip().is_loopback();
        if !loopback && !access.beyond_loopback {
            return Err(LocalnetError::NotLoopback { addr });
        }
        if !loopback {
            tracing::warn!(
                %addr,
                "localnet is serving beyond loopback: anyone who can reach {addr} can take the \
                 faucet's lamports and send transactions to this chain"
            );
        }
        let origins = access
            .cors_origins
            .iter()
            .map(|o| {
                check_origin(o).map_err(|source| LocalnetError::CorsOrigin {
                    origin: o.clone(),
                    source,
                })?;
                Ok(o.to_ascii_lowercase())
            })
            .collect::<Result<Vec<_>, LocalnetError>>()?;
        Ok(Policy {
            origins,
            loopback_host_only: loopback,
        })
    }

    /// A page on loopback (any scheme of http and https, any port) or one of
    /// the named origins.
    pub(crate) fn allows_origin(&self, origin: &[u8]) -> bool {
        let Ok(origin) = std::str::from_utf8(origin) else {
            return false;
        };
        let origin = origin.to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        let Some(rest) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        LOOPBACK_HOSTS.iter().any(|host| {
            rest.strip_prefix(host)
                .is_some_and(|port| port.is_empty() || is_port(port))
        })
    }

    /// Whether a `Host` header names this node as a loopback-bound node may
    /// be named. Anything goes when bound beyond loopback.
    pub(crate) fn allows_host(&self, host: Option<&[u8]>) -> bool {
        if !self.loopback_host_only {
            return true;
        }
        let Some(Ok(host)) = host.map(std::str::from_utf8) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        LOOPBACK_HOSTS.iter().any(|name| {
            host.strip_prefix(name)
                .is_some_and(|port| port.is_empty() || is_port(port))
        })
    }
}

/// `:` followed by a decimal port.
fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// An origin as browsers serialize it: `http` or `https`, `://`, a host
/// (letters, digits, `.`, `-`, or a bracketed IPv6 address), an optional
/// port, and nothing after.
fn check_origin(origin: &str) -> Result<(), OriginError> {
    match origin {
        "*" => return Err(OriginError::Wildcard),
        "null" => return Err(OriginError::Null),
        _ => {}
    }
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .ok_or(OriginError::Malformed)?;
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or(OriginError::Malformed)?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(OriginError::Malformed);
        }
        ("v6", after)
    } else {
        match rest.find(':') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if host_ok && (port.is_empty() || is_port(port)) {
        Ok(())
    } else {
        Err(OriginError::Malformed)
    }
}

/// The CORS answer for the HTTP port: allowed origins are echoed back (with
/// `Vary: Origin`), others get no CORS headers, so browsers keep the answer
/// from the page.
pub(crate) fn cors(policy: &Arc<Policy>) -> CorsLayer {
    let policy = Arc::clone(policy);
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            policy.allows_origin(origin.as_bytes())
        }))
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(PREFLIGHT_MAX_AGE)
}

/// Refuses, with 403, requests from origins or to hosts the [`Policy`] does
/// not allow; the rest go on to the JSON-RPC server.
#[derive(Clone, Debug)]
pub(crate) struct GuardLayer(pub(crate) Arc<Policy>);

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            policy: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Guard<S> {
    inner: S,
    policy: Arc<Policy>,
}

type Answer<E> = Pin<Box<dyn Future<Output = Result<HttpResponse, E>> + Send>>;

impl<S, B> Service<HttpRequest<B>> for Guard<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Answer<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        let headers = request.headers();
        let host = headers.get("host").map(|h| h.as_bytes());
        if !self.policy.allows_host(host) {
            tracing::debug!(host = ?host.map(String::from_utf8_lossy), "refused: not a loopback host");
            return Box::pin(std::future::ready(Ok(response::host_not_allowed())));
        }
        if let Some(origin) = headers.get("origin") {
            if !self.policy.allows_origin(origin.as_bytes()) {
                tracing::debug!(origin = ?origin, "refused: origin not allowed");
                return Box::pin(std::future::ready(Ok(response::denied())));
            }
        }
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], addr: &str) -> Result<Policy, LocalnetError> {
        Policy::new(
            &Access {
                cors_origins: origins.iter().map(|s| s.to_string()).collect(),
                beyond_loopback: true,
            },
            addr.parse().unwrap(),
        )
    }

    #[test]
    fn loopback_pages_and_named_origins_are_allowed_and_lookalikes_are_not() {
        let p = policy(&["https://Dash.example:8443"], "127.0.0.1:8899").unwrap();
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:5173",
            "http://[::1]:8080",
            "https://dash.example:8443",
        ] {
            assert!(p.allows_origin(ok.as_bytes()), "{ok}");
        }
        for refused in [
            "http://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
            "http://localhost:3000/x",
            "http://localhost:",
            "https://dash.example",
            "https://dash.example:8443.evil",
            "null",
            "file://",
            "ws://localhost:3000",
        ] {
            assert!(!p.allows_origin(refused.as_bytes()), "{refused}");
        }
    }

    #[test]
    fn loopback_nodes_answer_only_to_loopback_host_names() {
        let p = policy(&[], "127.0.0.1:8899").unwrap();
        assert!(p.allows_host(Some(b"127.0.0.1:8899")));
        assert!(p.allows_host(Some(b"LOCALHOST:8899")));
        assert!(p.allows_host(Some(b"[::1]:8899")));
        assert!(!p.allows_host(Some(b"rebound.evil.example:8899")));
        assert!(!p.allows_host(Some(b"127.0.0.1.evil.example")));
        assert!(!p.allows_host(None));
        let wide = policy(&[], "0.0.0.0:8899").unwrap();
        assert!(wide.allows_host(Some(b"10.1.2.3:8899")));
    }

    #[test]
    fn wildcards_null_and_malformed_origins_are_refused_at_start() {
        for (origin, expected) in [
            ("*", "Wildcard"),
            ("null", "Null"),
            ("dash.example", "Malformed"),
            ("https://dash.example/", "Malformed"),
            ("https://dash.example:x", "Malformed"),
            ("https://[nope]:1", "Malformed"),
            ("https://", "Malformed"),
        ] {
            match policy(&[origin], "127.0.0.1:0") {
                Err(LocalnetError::CorsOrigin { origin: o, source }) => {
                    assert_eq!(o, origin);
                    assert_eq!(format!("{source:?}"), expected, "{origin}");
                }
                other => panic!("{origin}: {other:?}"),
            }
        }
        assert!(policy(&["http://[::1]:3000", "https://a-b.example"], "127.0.0.1:0").is_ok());
    }

    #[test]
    fn a_wider_address_needs_the_explicit_flag() {
        let addr: SocketAddr = "0.0.0.0:8899".parse().unwrap();
        match Policy::new(&Access::default(), addr) {
            Err(LocalnetError::NotLoopback { addr: a }) => assert_eq!(a, addr),
            other => panic!("{other:?}"),
        }
        assert!(Policy::new(&Access::default(), "[::1]:8899".parse().unwrap()).is_ok());
    }
}
