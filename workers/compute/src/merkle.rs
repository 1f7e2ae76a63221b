//! SHA-256 binary Merkle trees: leaf byte strings go in, a 32-byte root and per-leaf
//! inclusion proofs come out. Result commitments ([`crate::commit`]) are roots of these
//! trees, and the on-chain program re-implements [`verify_proof`] with Solana's sha256
//! syscall, so the scheme below is normative:
//!
//! - leaf hash: `SHA256(0x00 || leaf_bytes)`
//! - node hash: `SHA256(0x01 || left || right)` (the two prefixes keep a leaf from ever
//!   being taken for a node and vice versa)
//! - level 0 is the leaf hashes in order; each next level pairs nodes (0,1), (2,3), ...;
//!   when a level has an odd count, its last node is promoted unchanged to the next
//!   level (it is not duplicated and not re-hashed);
//! - the root is the single node of the last level; a tree has at least one leaf, and a
//!   one-leaf tree's root is that leaf's hash;
//! - a proof lists sibling hashes bottom-up; a level where the node was promoted
//!   contributes nothing.
//!
//! Verifying leaf `index` of `leaf_count`: `h = leaf_hash(data)`, `i = index`,
//! `n = leaf_count`; while `n > 1`: if `i` is odd, `h = node(proof[p], h)` and `p += 1`;
//! else if `i + 1 < n`, `h = node(h, proof[p])` and `p += 1`; else (promoted) nothing;
//! then `i /= 2`, `n = (n + 1) / 2`. Accept iff every proof element was used and
//! `h == root`. The root does not commit to `leaf_count`: a verifier takes the count
//! from the workload (m rows of C, 4096-byte chunks of a kernel's output), never from
//! the prover.

use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// Prefix of a leaf hash's preimage.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an inner node hash's preimage.
pub const NODE_PREFIX: u8 = 0x01;

/// Below this many leaves (or bytes) hashing stays on the calling thread: rayon's
/// fork/join costs more than it saves.
const PAR_MIN_LEAVES: usize = 256;
const PAR_MIN_BYTES: usize = 1 << 20;
const PAR_MIN_NODES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("a Merkle tree needs at least one leaf")]
    Empty,
    #[error("leaf index {index} out of range for {leaf_count} leaves")]
    IndexOutOfRange { index: usize, leaf_count: usize },
}

/// `SHA256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    h.finalize().into()
}

/// `SHA256(0x01 || left || right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn next_level(level: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let pair = |c: &[[u8; 32]]| match c {
        [l, r] => node_hash(l, r),
        // chunks(2) yields one or two items: a lone last node is promoted unchanged.
        _ => c[0],
    };
    if level.len() >= PAR_MIN_NODES {
        level.par_chunks(2).map(pair).collect()
    } else {
        level.chunks(2).map(pair).collect()
    }
}

/// A full tree, every level kept so proofs are O(log n) lookups.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    /// levels[0] = leaf hashes, last = [root].
    levels: Vec<Vec<[u8; 32]>>,
}

impl MerkleTree {
    /// Hashes the leaves (in parallel when there are many or they are large) and builds
    /// the tree.
    pub fn from_leaves<'a, I>(leaves: I) -> Result<Self, MerkleError>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let leaves: Vec<&[u8]> = leaves.into_iter().collect();
        let bytes: usize = leaves.iter().map(|l| l.len()).sum();
        let hashes =
            if leaves.len() >= PAR_MIN_LEAVES || (leaves.len() > 1 && bytes >= PAR_MIN_BYTES) {
                leaves.par_iter().map(|l| leaf_hash(l)).collect()
            } else {
                leaves.iter().map(|l| leaf_hash(l)).collect()
            };
        Self::from_leaf_hashes(hashes)
    }

    /// Builds the tree over already-hashed leaves (`leaf_hash` of each leaf).
    pub fn from_leaf_hashes(leaf_hashes: Vec<[u8; 32]>) -> Result<Self, MerkleError> {
        if leaf_hashes.is_empty() {
            return Err(MerkleError::Empty);
        }
        let mut levels = vec![leaf_hashes];
        while let Some(top) = levels.last().filter(|l| l.len() > 1) {
            let next = next_level(top);
            levels.push(next);
        }
        Ok(MerkleTree { levels })
    }

    pub fn root(&self) -> [u8; 32] {
        // Invariant: construction guarantees a last level of exactly one node.
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    pub fn leaf_count(&self) -> usize {
        self.levels[0].len()
    }

    pub fn leaf_hashes(&self) -> &[[u8; 32]] {
        &self.levels[0]
    }

    /// Sibling hashes for leaf `index`, bottom-up; promoted levels contribute nothing.
    pub fn proof(&self, index: usize) -> Result<Vec<[u8; 32]>, MerkleError> {
        let leaf_count = self.leaf_count();
        if index >= leaf_count {
            return Err(MerkleError::IndexOutOfRange { index, leaf_count });
        }
        let mut proof = Vec::new();
        let mut i = index;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                proof.push(level[sibling]);
            }
            i /= 2;
        }
        Ok(proof)
    }
}

/// Root over already-hashed leaves without keeping the levels; `None` when empty.
pub fn root_of_leaf_hashes(leaf_hashes: &[[u8; 32]]) -> Option<[u8; 32]> {
    let mut level = match leaf_hashes.len() {
        0 => return None,
        1 => return Some(leaf_hashes[0]),
        _ => next_level(leaf_hashes),
    };
    while level.len() > 1 {
        level = next_level(&level);
    }
    level.first().copied()
}

/// Number of proof elements for leaf `index` of `leaf_count` (0 if out of range).
pub fn proof_len(leaf_count: u64, index: u64) -> usize {
    if index >= leaf_count {
        return 0;
    }
    let (mut i, mut n, mut len) = (index, leaf_count, 0);
    while n > 1 {
        if i % 2 == 1 || i + 1 < n {
            len += 1;
        }
        i /= 2;
        n = n.div_ceil(2);
    }
    len
}

/// Checks that `leaf_data` is leaf `index` of a `leaf_count`-leaf tree with `root`.
pub fn verify_proof(
    root: &[u8; 32],
    leaf_count: u64,
    index: u64,
    leaf_data: &[u8],
    proof: &[[u8; 32]],
) -> bool {
    verify_proof_hash(root, leaf_count, index, &leaf_hash(leaf_data), proof)
}

/// [`verify_proof`] for a leaf already hashed with [`leaf_hash`]. The walk up the tree
/// is the on-chain ruling's own (`gpu_market_ruling::merkle::verify_hash`), so an
/// auditor's check and the program's can never disagree.
pub fn verify_proof_hash(
    root: &[u8; 32],
    leaf_count: u64,
    index: u64,
    leaf_hash: &[u8; 32],
    proof: &[[u8; 32]],
) -> bool {
    gpu_market_ruling::merkle::verify_hash::<gpu_market_ruling::hash::Sha2>(
        root, leaf_count, index, leaf_hash, proof,
    )
}
