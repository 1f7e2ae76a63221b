//! The HTTP(S) backend: blobs stored with `PUT <base>/<hex>` and read with
//! `GET <base>/<hex>`, through object_store's WebDAV-style `HttpStore` (`HEAD` answers
//! existence). Any `http(s)://` URI, ours or not, can be fetched and verified through
//! [`crate::fetch`].
//!
//! Streamed reads ([`crate::fetch_to`]) go through reqwest directly rather than
//! object_store: the body is consumed chunk by chunk even when the server announces no
//! length (an endless chunked body is cut at the first byte past the allowed length),
//! and a read can be pinned to checked addresses with a resolver that answers only for
//! the URI's host and a client that follows no redirect. Failures before the body starts
//! (connection errors, timeouts, 5xx, 429) are retried with the store's backoff; once
//! bytes have reached the sink a failure ends the read, since they cannot be taken back.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use object_store::http::{HttpBuilder, HttpStore};
use object_store::path::Path;
use url::Url;

use crate::error::BlobError;
use gpu_market_types::Hash32;

use crate::hash::is_key;
use crate::options::BlobOptions;
use crate::stream::{Bounded, Connect, Len, Sink};
use crate::{remote, BlobRef, BlobStore};

/// A blob store on an HTTP server that accepts `PUT` (WebDAV, or any server that stores
/// a request body under its path). Keys are flat (`<base>/<hex>`), so on a WebDAV
/// server that wants collections created with MKCOL, the base collection must exist
/// already: object_store only creates collections below the base.
pub struct HttpBlobStore {
    /// Base URL without a trailing slash, so that `<base>/<hex>` is exactly what
    /// object_store requests.
    base: Url,
    store: HttpStore,
    options: BlobOptions,
}

impl HttpBlobStore {
    /// A store rooted at `base_url` (`http://` or `https://`, no query or fragment).
    pub fn new(base_url: &str, options: &BlobOptions) -> Result<Self, BlobError> {
        let mut base = parse_http_url(base_url)?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(BlobError::invalid(
                base_url,
                "an HTTP blob store's base URL cannot carry a query or fragment",
            ));
        }
        // "http://h/blobs/" would otherwise become "http://h/blobs//<hex>": url's segment
        // push keeps the empty segment a trailing slash leaves.
        if let Ok(mut segments) = base.path_segments_mut() {
            segments.pop_if_empty();
        }
        let store = build(&base, options)?;
        Ok(HttpBlobStore {
            base,
            store,
            options: options.clone(),
        })
    }

    /// The URL a blob with this hex key lives at.
    fn uri_for(&self, key: &str) -> String {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(key);
        }
        url.into()
    }

    /// The key of `uri` if it is one of this store's own blob URLs.
    fn own_key<'a>(&self, uri: &'a str) -> Option<&'a str> {
        let (_, last) = uri.rsplit_once('/')?;
        (is_key(last) && self.uri_for(last) == uri).then_some(last)
    }
}

#[async_trait::async_trait]
impl BlobStore for HttpBlobStore {
    fn describe(&self) -> String {
        format!("HTTP blob store at {}", self.base)
    }

    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        let (hash, key) = crate::hash_for_put(bytes, &self.options, &self.base)?;
        let uri = self.uri_for(&key);
        remote::put(&self.store, Path::from(key), uri, hash, bytes).await
    }

    async fn get(&self, uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
        match self.own_key(uri) {
            Some(key) => {
                let path = Path::from(key);
                remote::get_verified(&self.store, &path, uri, sha256, self.options.max_blob_size)
                    .await
            }
            // A blob stored elsewhere: fetch it with this store's limits.
            None => crate::fetch_with(uri, sha256, &self.options).await,
        }
    }

    /// Streams any URI, this store's own included (they are plain GETs), under this
    /// store's limits.
    async fn get_to(
        &self,
        uri: &str,
        sha256: &Hash32,
        len: Len,
        connect: &Connect,
        sink: &mut Sink<'_>,
    ) -> Result<u64, BlobError> {
        crate::fetch_to(uri, sha256, len, connect, &self.options, sink).await
    }

    async fn exists(&self, sha256: &Hash32) -> Result<bool, BlobError> {
        let key = crate::to_hex(sha256);
        let uri = self.uri_for(&key);
        remote::exists(&self.store, &Path::from(key), &uri).await
    }
}

/// Fetches any `http(s)://` URI and verifies it.
pub(crate) async fn fetch(
    uri: &str,
    sha256: &Hash32,
    options: &BlobOptions,
) -> Result<Vec<u8>, BlobError> {
    let url = parse_http_url(uri)?;
    // The whole URL is the store's base and the object path is empty, so object_store
    // requests exactly `uri`: path escapes and query (a presigned URL's signature) pass
    // through untouched instead of being decoded and re-encoded as a path.
    let store = build(&url, options)?;
    remote::get_verified(&store, &Path::default(), uri, sha256, options.max_blob_size).await
}

/// Streams any `http(s)://` URI into `sink` ([`crate::fetch_to`]).
pub(crate) async fn fetch_to(
    uri: &str,
    sha256: &Hash32,
    len: Len,
    connect: &Connect,
    options: &BlobOptions,
    sink: &mut Sink<'_>,
) -> Result<u64, BlobError> {
    let url = parse_http_url(uri)?;
    let mut out = Bounded::new(uri, len, options.max_blob_size, sink)?;
    let client = stream_client(&url, connect, options)?;
    let mut response = get_with_retries(&client, &url, uri, options).await?;
    // Only a hint (a server can send less, and hyper stops it from sending more than it
    // announced), but enough to refuse an announced oversize before reading anything.
    if let Some(announced) = response.content_length() {
        out.announce(announced)?;
    }
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable_by(uri, &e))?
    {
        out.push(&chunk).await?;
    }
    out.finish(sha256).await
}

/// The client for one streamed read of `url`. Pinned: DNS answers only the URI's host,
/// with the checked addresses; no redirect, no proxy (either would connect elsewhere).
fn stream_client(
    url: &Url,
    connect: &Connect,
    options: &BlobOptions,
) -> Result<reqwest::Client, BlobError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        // An https:// URL is never downgraded by a redirect.
        .https_only(url.scheme() == "https")
        // A compressed body's length is not the blob's.
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_zstd();
    if let Connect::Pinned(addrs) = connect {
        let host = url
            .host_str()
            .ok_or_else(|| BlobError::invalid(url.as_str(), "an HTTP URL needs a host"))?;
        builder = builder
            .dns_resolver(Arc::new(PinnedResolver {
                host: host.trim_end_matches('.').to_ascii_lowercase(),
                addrs: addrs.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
    }
    builder
        .build()
        .map_err(|e| BlobError::invalid(url.as_str(), crate::error::error_chain(&e)))
}

/// Resolves one host name, to the addresses it was pinned to, and nothing else.
struct PinnedResolver {
    host: String,
    addrs: Vec<IpAddr>,
}

/// Asked of a pinned resolver for a name it was not pinned for.
#[derive(Debug, thiserror::Error)]
#[error("{asked} is not the pinned host {pinned}")]
struct NotPinned {
    asked: String,
    pinned: String,
}

impl reqwest::dns::Resolve for PinnedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let asked = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let answer: Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> =
            if asked == self.host {
                // Port 0: the connector puts the URL's port in.
                let addrs: Vec<SocketAddr> = self
                    .addrs
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, 0))
                    .collect();
                Ok(Box::new(addrs.into_iter()))
            } else {
                Err(Box::new(NotPinned {
                    asked,
                    pinned: self.host.clone(),
                }))
            };
        Box::pin(std::future::ready(answer))
    }
}

/// GETs `url` until a response's headers say the body can be read, retrying what may
/// pass (connection failures, timeouts, 408, 429, 5xx) with the store's backoff.
async fn get_with_retries(
    client: &reqwest::Client,
    url: &Url,
    uri: &str,
    options: &BlobOptions,
) -> Result<reqwest::Response, BlobError> {
    let start = Instant::now();
    let mut backoff = options.initial_backoff;
    let mut attempt = 0usize;
    loop {
        let outcome = match client.get(url.clone()).send().await {
            Ok(r) if r.status().is_success() => return Ok(r),
            outcome => outcome,
        };
        let retry = match &outcome {
            Ok(r) => {
                let s = r.status();
                s.is_server_error()
                    || s == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || s == reqwest::StatusCode::REQUEST_TIMEOUT
            }
            Err(e) => e.is_connect() || e.is_timeout(),
        };
        if !retry
            || attempt >= options.max_retries
            || start.elapsed() + backoff > options.retry_timeout
        {
            return Err(match outcome {
                Ok(r) => refused_by(uri, &r),
                Err(e) => unreachable_by(uri, &e),
            });
        }
        tracing::debug!(uri, attempt, ?backoff, "blob read failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(options.max_backoff);
        attempt += 1;
    }
}

/// The named error for an unsuccessful HTTP status.
fn refused_by(uri: &str, response: &reqwest::Response) -> BlobError {
    let status = response.status();
    let uri = uri.to_string();
    match status {
        reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE => BlobError::NotFound { uri },
        reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => BlobError::Denied {
            uri,
            detail: status.to_string(),
        },
        s if s.is_redirection() => BlobError::Redirected {
            uri,
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("")
                .to_string(),
        },
        _ => BlobError::Unreachable {
            uri,
            detail: format!("HTTP {status}"),
        },
    }
}

fn unreachable_by(uri: &str, e: &reqwest::Error) -> BlobError {
    BlobError::Unreachable {
        uri: uri.to_string(),
        detail: crate::error::error_chain(e),
    }
}

pub(crate) fn parse_http_url(s: &str) -> Result<Url, BlobError> {
    let url = Url::parse(s).map_err(|e| BlobError::invalid(s, e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        _ => return Err(BlobError::UnsupportedScheme { uri: s.to_string() }),
    }
    if url.host().is_none() {
        return Err(BlobError::invalid(s, "an HTTP URL needs a host"));
    }
    Ok(url)
}

pub(crate) fn build(url: &Url, options: &BlobOptions) -> Result<HttpStore, BlobError> {
    HttpBuilder::new()
        .with_url(url.as_str())
        // Plain http is allowed only because the caller wrote an http:// URL.
        .with_client_options(options.client_options(url.scheme() == "http"))
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| BlobError::invalid(url.as_str(), crate::error::error_chain(&e)))
}
