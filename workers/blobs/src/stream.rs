//! Streaming reads: a blob's bytes go from the store to a caller's writer (a file in a
//! worker's job directory) one chunk at a time, hashed as they pass, and the read stops
//! at the first byte past the length the caller allows. So a hostile store that sends an
//! endless body, or more than a job declared, costs the reader one chunk of memory and
//! at most the declared bytes of disk; only a read whose length and SHA-256 both match
//! ends `Ok`. Every backend's `get_to` and [`crate::fetch_to`] go through [`Bounded`].
//!
//! [`Connect`] says where an HTTP(S) read may connect: wherever the URI's host resolves
//! to, or only to addresses the caller resolved and checked itself (a worker's URI
//! policy), so that a DNS server answering differently the second time cannot steer the
//! download to an address the check refused.

use std::net::IpAddr;

use gpu_market_types::Hash32;
use sha2::Digest;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::BlobError;
use crate::hash::check;

/// Where a streamed blob's bytes go. A `tokio::fs::File`, or a `Vec<u8>` for small blobs.
pub type Sink<'a> = dyn AsyncWrite + Unpin + Send + 'a;

/// How long a streamed blob may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    /// Exactly this many bytes (an input whose length its job declares): the first byte
    /// past it ends the read with [`BlobError::LongerThanDeclared`], and a body that ends
    /// early is [`BlobError::ShorterThanDeclared`].
    Exactly(u64),
    /// At most this many (a spec, whose length the chain does not record): more is
    /// [`BlobError::TooLarge`].
    AtMost(u64),
}

/// Which addresses an HTTP(S) read may connect to. `file://` reads ignore it, and so do
/// `s3://` reads, whose endpoint is the operator's configuration, not the URI's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Connect {
    /// Wherever the URI's host resolves to, following redirects.
    #[default]
    Resolve,
    /// Only these addresses for the URI's host, which is never resolved again; no
    /// redirect is followed ([`BlobError::Redirected`]) and no proxy is used, since a
    /// redirect or a proxy would connect somewhere these addresses do not say.
    Pinned(Vec<IpAddr>),
}

/// Most bytes handed to a sink in one write when a whole buffer is streamed: keeps each
/// hash update short on an async thread.
pub(crate) const CHUNK: usize = 1 << 20;

/// A read in progress: counts, hashes and forwards chunks, refusing the first one that
/// would take the blob past its allowed length (none of that chunk is written).
pub(crate) struct Bounded<'s, 'w> {
    uri: &'s str,
    len: Len,
    /// Most bytes accepted: the declared length, or the smaller of the caller's and the
    /// store's limits.
    limit: u64,
    max: u64,
    received: u64,
    hasher: sha2::Sha256,
    sink: &'s mut Sink<'w>,
}

impl<'s, 'w> Bounded<'s, 'w> {
    /// A read of `uri` allowed `len`, under a store whose largest blob is `max`. A declared
    /// length over `max` is refused here, before any request.
    pub(crate) fn new(
        uri: &'s str,
        len: Len,
        max: u64,
        sink: &'s mut Sink<'w>,
    ) -> Result<Self, BlobError> {
        let limit = match len {
            Len::Exactly(n) if n > max => {
                return Err(BlobError::TooLarge {
                    uri: uri.to_string(),
                    len: n,
                    max,
                })
            }
            Len::Exactly(n) => n,
            Len::AtMost(n) => n.min(max),
        };
        Ok(Bounded {
            uri,
            len,
            limit,
            max,
            received: 0,
            hasher: sha2::Sha256::new(),
            sink,
        })
    }

    /// The error for a blob found to be at least `received` bytes, over the limit.
    fn over(&self, received: u64) -> BlobError {
        match self.len {
            Len::Exactly(declared) => BlobError::LongerThanDeclared {
                uri: self.uri.to_string(),
                declared,
                received,
            },
            Len::AtMost(_) => BlobError::TooLarge {
                uri: self.uri.to_string(),
                len: received,
                max: self.limit.min(self.max),
            },
        }
    }

    /// The length the store announced (Content-Length, a file's or an object's size):
    /// over the limit is refused before any of the body is read.
    pub(crate) fn announce(&self, announced: u64) -> Result<(), BlobError> {
        if announced > self.limit {
            return Err(self.over(announced));
        }
        Ok(())
    }

    /// One chunk of the body.
    pub(crate) async fn push(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let received = self.received.saturating_add(chunk.len() as u64);
        if received > self.limit {
            return Err(self.over(received));
        }
        self.hasher.update(chunk);
        self.sink
            .write_all(chunk)
            .await
            .map_err(|source| BlobError::Sink {
                uri: self.uri.to_string(),
                source,
            })?;
        self.received = received;
        Ok(())
    }

    /// A whole buffer, in [`CHUNK`]-sized writes.
    pub(crate) async fn push_all(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        self.announce(bytes.len() as u64)?;
        for chunk in bytes.chunks(CHUNK) {
            self.push(chunk).await?;
        }
        Ok(())
    }

    /// The body ended: its length, then its hash, must be what the caller expects.
    /// Returns the bytes written.
    pub(crate) async fn finish(self, expected: &Hash32) -> Result<u64, BlobError> {
        self.sink.flush().await.map_err(|source| BlobError::Sink {
            uri: self.uri.to_string(),
            source,
        })?;
        if let Len::Exactly(declared) = self.len {
            if self.received < declared {
                return Err(BlobError::ShorterThanDeclared {
                    uri: self.uri.to_string(),
                    declared,
                    received: self.received,
                });
            }
        }
        check(expected, Hash32(self.hasher.finalize().into()), self.uri)?;
        tracing::debug!(uri = %self.uri, len = self.received, "blob streamed and verified");
        Ok(self.received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    async fn stream(len: Len, max: u64, chunks: &[&[u8]]) -> (Result<u64, BlobError>, Vec<u8>) {
        let whole: Vec<u8> = chunks.concat();
        let mut out = Vec::new();
        let r = async {
            let mut b = Bounded::new("u", len, max, &mut out)?;
            for c in chunks {
                b.push(c).await?;
            }
            b.finish(&sha256(&whole)).await
        }
        .await;
        (r, out)
    }

    /// Each row is a body a store could send for a blob allowed `len`: only an exact,
    /// matching one passes, and nothing past the limit is ever written.
    #[tokio::test]
    async fn a_read_ends_ok_only_at_its_length_and_writes_nothing_past_it() {
        let (r, out) = stream(Len::Exactly(6), 100, &[b"abc", b"def"]).await;
        assert_eq!((r.unwrap(), out.as_slice()), (6, &b"abcdef"[..]));

        let (r, out) = stream(Len::Exactly(5), 100, &[b"abc", b"def"]).await;
        assert!(
            matches!(
                r,
                Err(BlobError::LongerThanDeclared {
                    declared: 5,
                    received: 6,
                    ..
                })
            ),
            "{r:?}"
        );
        assert_eq!(out, b"abc", "the chunk crossing the limit is not written");

        let (r, _) = stream(Len::Exactly(7), 100, &[b"abc", b"def"]).await;
        assert!(matches!(
            r,
            Err(BlobError::ShorterThanDeclared {
                declared: 7,
                received: 6,
                ..
            })
        ));

        let (r, _) = stream(Len::AtMost(4), 100, &[b"abc", b"def"]).await;
        assert!(
            matches!(r, Err(BlobError::TooLarge { max: 4, .. })),
            "{r:?}"
        );
        let (r, _) = stream(Len::AtMost(100), 4, &[b"abc", b"def"]).await;
        assert!(
            matches!(r, Err(BlobError::TooLarge { max: 4, .. })),
            "{r:?}"
        );
        let (r, _) = stream(Len::AtMost(6), 100, &[b"abc", b"def"]).await;
        assert_eq!(r.unwrap(), 6);

        let mut out = Vec::new();
        let r = Bounded::new("u", Len::Exactly(101), 100, &mut out).map(|_| ());
        assert!(matches!(r, Err(BlobError::TooLarge { len: 101, .. })));

        let mut out = Vec::new();
        let mut b = Bounded::new("u", Len::Exactly(3), 100, &mut out).unwrap();
        b.push(b"abd").await.unwrap();
        assert!(matches!(
            b.finish(&sha256(b"abc")).await,
            Err(BlobError::HashMismatch { .. })
        ));
    }
}
