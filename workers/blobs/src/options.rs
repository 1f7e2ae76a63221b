//! Limits and network behaviour shared by every backend: the largest blob we will
//! buffer, and how hard the HTTP and S3 clients retry before a fetch is reported as
//! unreachable. Turned into object_store's client and retry settings here, so no other
//! module needs to know those types' defaults.

use std::time::Duration;

use object_store::{BackoffConfig, ClientOptions, RetryConfig};

/// Default largest blob: 4 GiB, enough for a 32k x 32k f32 matrix, and small enough that
/// a hostile URI cannot make a worker buffer without bound.
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 4 << 30;

/// Settings for [`crate::open_with`] and [`crate::fetch_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobOptions {
    /// Largest blob `put` accepts and `get`/`fetch` will buffer. Checked against the
    /// length the store announces before any body is read, and again while reading.
    pub max_blob_size: u64,
    /// Retries of a failed HTTP/S3 request (connection refused, timeout, 5xx, 429).
    /// 0 disables retries.
    pub max_retries: usize,
    /// First backoff; each later one doubles, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    /// Time allowed to open a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, body included. Generous because a multi-GiB
    /// input over a slow link is a normal request, not a hung one.
    pub request_timeout: Duration,
}

impl Default for BlobOptions {
    fn default() -> Self {
        BlobOptions {
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            retry_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
        }
    }
}

impl BlobOptions {
    pub(crate) fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.initial_backoff,
                max_backoff: self.max_backoff,
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }

    pub(crate) fn client_options(&self, allow_http: bool) -> ClientOptions {
        ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(self.connect_timeout)
            .with_timeout(self.request_timeout)
    }
}
