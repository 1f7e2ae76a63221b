//! The HTTP(S) backend: blobs stored with `PUT <base>/<hex>` and read with
//! `GET <base>/<hex>`, through object_store's WebDAV-style `HttpStore` (`HEAD` answers
//! existence). Any `http(s)://` URI, ours or not, can be fetched and verified through
//! [`crate::fetch`].

use object_store::http::{HttpBuilder, HttpStore};
use object_store::path::Path;
use url::Url;

use crate::error::BlobError;
use gpu_market_types::Hash32;

use crate::hash::is_key;
use crate::options::BlobOptions;
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

fn parse_http_url(s: &str) -> Result<Url, BlobError> {
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

fn build(url: &Url, options: &BlobOptions) -> Result<HttpStore, BlobError> {
    HttpBuilder::new()
        .with_url(url.as_str())
        // Plain http is allowed only because the caller wrote an http:// URL.
        .with_client_options(options.client_options(url.scheme() == "http"))
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| BlobError::invalid(url.as_str(), crate::error::error_chain(&e)))
}
