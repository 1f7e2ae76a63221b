//! The blob reference: where a blob is, what it hashes to and how long it is. The blob
//! store returns one from every `put`; a job spec names each input by one; a worker or
//! auditor hands one back to the store to fetch bytes that are checked against it.

use alloc::string::String;

use crate::Hash32;

/// A stored blob. `uri` can be fetched by any process that reaches the store, and the
/// bytes it returns are accepted only if they hash to `sha256`. No serde form of its
/// own: a job spec writes its inputs as flat `{name, uri, sha256, len}` objects (see
/// the compute crate's `spec::NamedBlob`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobRef {
    pub uri: String,
    pub sha256: Hash32,
    /// Length in bytes.
    pub len: u64,
}
