//! SHA-256 behind a trait: byte slices go in, a 32-byte digest comes out. The Merkle
//! checks are generic over it so the same code hashes with Solana's `sol_sha256` syscall
//! on chain (which takes a list of slices, hence [`Sha256::hashv`]) and with the `sha2`
//! crate off chain ([`Sha2`], feature `sha2`).

/// A SHA-256 implementation.
pub trait Sha256 {
    /// SHA-256 of the concatenation of `parts`.
    fn hashv(parts: &[&[u8]]) -> [u8; 32];
}

/// Off-chain SHA-256 (the `sha2` crate).
#[cfg(feature = "sha2")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Sha2;

#[cfg(feature = "sha2")]
impl Sha256 for Sha2 {
    fn hashv(parts: &[&[u8]]) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }
}
