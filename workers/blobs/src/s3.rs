//! The S3-compatible backend (AWS S3, MinIO, R2, Ceph RGW, ...): blobs are objects
//! `<prefix>/<hex>` in one bucket, moved by object_store's S3 client (SigV4 signing,
//! retries). Settings come from an explicit [`S3Config`] or from the standard AWS
//! environment variables; any `s3://bucket/key` URI can be fetched through
//! [`crate::fetch`].

use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;

use crate::error::BlobError;
use gpu_market_types::Hash32;

use crate::hash::is_key;
use crate::options::BlobOptions;
use crate::stream::{Connect, Len, Sink};
use crate::{remote, BlobRef, BlobStore};

/// Where an S3-compatible blob store lives and how to sign requests to it.
///
/// Fields left `None` fall back to what object_store reads from the environment
/// (`AWS_*` variables, then the container / instance credential providers), so session
/// tokens and role credentials work without being spelled out here.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// Endpoint URL of a non-AWS service, e.g. `http://127.0.0.1:9000`. Requests are
    /// path-style (`<endpoint>/<bucket>/<key>`) unless the environment says otherwise.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Permit a plain-http endpoint (local MinIO, tests). Off by default: credentials
    /// and blobs would otherwise cross the network in the clear.
    pub allow_http: bool,
}

/// Never print the secret key (configs end up in logs through `{:?}`).
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl S3Config {
    /// A config naming only the bucket and prefix; everything else from the environment.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_string(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
        }
    }

    /// Bucket and prefix, with the standard AWS variables read into the fields:
    /// `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` or `AWS_ENDPOINT`; `AWS_REGION` or
    /// `AWS_DEFAULT_REGION`; `AWS_ACCESS_KEY_ID`; `AWS_SECRET_ACCESS_KEY`;
    /// `AWS_ALLOW_HTTP` (`true`/`1`/`yes`).
    pub fn from_env(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        S3Config {
            endpoint: var(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]),
            region: var(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            access_key_id: var(&["AWS_ACCESS_KEY_ID"]),
            secret_access_key: var(&["AWS_SECRET_ACCESS_KEY"]),
            allow_http: var(&["AWS_ALLOW_HTTP"])
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")),
            ..S3Config::new(bucket, prefix)
        }
    }

    /// `s3://bucket` or `s3://bucket/prefix`, settings from the environment.
    pub fn from_url(location: &str) -> Result<Self, BlobError> {
        let (bucket, key) = split_s3_uri(location)?;
        Ok(S3Config::from_env(bucket, key))
    }

    /// Opens the store with default options.
    pub fn open(&self) -> Result<Arc<dyn BlobStore>, BlobError> {
        self.open_with(&BlobOptions::default())
    }

    /// Opens the store with the given limits and retry behaviour.
    pub fn open_with(&self, options: &BlobOptions) -> Result<Arc<dyn BlobStore>, BlobError> {
        Ok(Arc::new(S3BlobStore::new(self.clone(), options)?))
    }

    pub(crate) fn build(&self, options: &BlobOptions) -> Result<AmazonS3, BlobError> {
        // Start from the environment so credentials it alone knows about (session
        // tokens, web identity, container roles) still apply; explicit fields win.
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_client_options(options.client_options(self.allow_http))
            .with_allow_http(self.allow_http)
            .with_retry(options.retry_config());
        if let Some(endpoint) = &self.endpoint {
            // AWS_ENDPOINT_URL_S3 in the environment would otherwise take precedence
            // over an explicit endpoint at build time.
            builder = builder
                .with_endpoint(endpoint)
                .with_config(AmazonS3ConfigKey::S3Endpoint, endpoint);
        }
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        builder
            .build()
            .map_err(|e| BlobError::invalid(self.location(), crate::error::error_chain(&e)))
    }

    /// `s3://bucket[/prefix]`, as `open` accepts it.
    pub fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A blob store in one bucket of an S3-compatible service.
pub struct S3BlobStore {
    config: S3Config,
    store: AmazonS3,
    options: BlobOptions,
}

impl S3BlobStore {
    pub fn new(config: S3Config, options: &BlobOptions) -> Result<Self, BlobError> {
        if config.bucket.is_empty() {
            return Err(BlobError::invalid(config.location(), "no bucket named"));
        }
        let config = S3Config {
            prefix: config.prefix.trim_matches('/').to_string(),
            ..config
        };
        // Reject a prefix object_store would refuse at the first request.
        Path::parse(&config.prefix)
            .map_err(|e| BlobError::invalid(config.location(), e.to_string()))?;
        let store = config.build(options)?;
        Ok(S3BlobStore {
            config,
            store,
            options: options.clone(),
        })
    }

    fn object_key(&self, key: &str) -> String {
        if self.config.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{}", self.config.prefix, key)
        }
    }

    fn uri_for(&self, key: &str) -> String {
        format!("s3://{}/{}", self.config.bucket, self.object_key(key))
    }

    fn path_for(&self, key: &str) -> Result<Path, BlobError> {
        let object_key = self.object_key(key);
        Path::parse(&object_key).map_err(|e| BlobError::invalid(self.uri_for(key), e.to_string()))
    }

    fn own_key<'a>(&self, uri: &'a str) -> Option<&'a str> {
        let (_, last) = uri.rsplit_once('/')?;
        (is_key(last) && self.uri_for(last) == uri).then_some(last)
    }
}

#[async_trait::async_trait]
impl BlobStore for S3BlobStore {
    fn describe(&self) -> String {
        format!(
            "S3 blob store {} (endpoint {}, region {})",
            self.config.location(),
            self.config.endpoint.as_deref().unwrap_or("AWS default"),
            self.config.region.as_deref().unwrap_or("default"),
        )
    }

    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError> {
        let (hash, key) = crate::hash_for_put(bytes, &self.options, &self.config.location())?;
        let uri = self.uri_for(&key);
        let path = self.path_for(&key)?;
        remote::put(&self.store, path, uri, hash, bytes).await
    }

    async fn get(&self, uri: &str, sha256: &Hash32) -> Result<Vec<u8>, BlobError> {
        match self.own_key(uri) {
            Some(key) => {
                let path = self.path_for(key)?;
                remote::get_verified(&self.store, &path, uri, sha256, self.options.max_blob_size)
                    .await
            }
            None => crate::fetch_with(uri, sha256, &self.options).await,
        }
    }

    async fn get_to(
        &self,
        uri: &str,
        sha256: &Hash32,
        len: Len,
        connect: &Connect,
        sink: &mut Sink<'_>,
    ) -> Result<u64, BlobError> {
        match self.own_key(uri) {
            Some(key) => {
                let path = self.path_for(key)?;
                let max = self.options.max_blob_size;
                remote::get_to(&self.store, &path, uri, sha256, len, max, sink).await
            }
            None => crate::fetch_to(uri, sha256, len, connect, &self.options, sink).await,
        }
    }

    async fn exists(&self, sha256: &Hash32) -> Result<bool, BlobError> {
        let key = crate::to_hex(sha256);
        let uri = self.uri_for(&key);
        remote::exists(&self.store, &self.path_for(&key)?, &uri).await
    }
}

/// Fetches `s3://bucket/key` with settings from the environment, and verifies it.
pub(crate) async fn fetch(
    uri: &str,
    sha256: &Hash32,
    options: &BlobOptions,
) -> Result<Vec<u8>, BlobError> {
    let (bucket, key) = split_s3_uri(uri)?;
    if key.is_empty() {
        return Err(BlobError::invalid(uri, "an s3:// blob URI needs a key"));
    }
    // S3 keys in s3:// URIs are literal (as the AWS CLI writes them), not percent-encoded.
    let path = Path::parse(key).map_err(|e| BlobError::invalid(uri, e.to_string()))?;
    let store = S3Config::from_env(bucket, "").build(options)?;
    remote::get_verified(&store, &path, uri, sha256, options.max_blob_size).await
}

/// Streams `s3://bucket/key` into `sink` ([`crate::fetch_to`]), settings from the
/// environment. The endpoint is the operator's, so there is no chain-supplied host to pin.
pub(crate) async fn fetch_to(
    uri: &str,
    sha256: &Hash32,
    len: Len,
    options: &BlobOptions,
    sink: &mut Sink<'_>,
) -> Result<u64, BlobError> {
    let (bucket, key) = split_s3_uri(uri)?;
    if key.is_empty() {
        return Err(BlobError::invalid(uri, "an s3:// blob URI needs a key"));
    }
    let path = Path::parse(key).map_err(|e| BlobError::invalid(uri, e.to_string()))?;
    let store = S3Config::from_env(bucket, "").build(options)?;
    remote::get_to(&store, &path, uri, sha256, len, options.max_blob_size, sink).await
}

/// `s3://bucket/rest` into `("bucket", "rest")`, `rest` without surrounding slashes.
fn split_s3_uri(uri: &str) -> Result<(&str, &str), BlobError> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| BlobError::UnsupportedScheme {
            uri: uri.to_string(),
        })?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(BlobError::invalid(uri, "no bucket named"));
    }
    Ok((bucket, key.trim_matches('/')))
}
