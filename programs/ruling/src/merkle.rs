//! Merkle path verification: a leaf's bytes (or its hash), its index, the tree's leaf
//! count, a sibling path and a root go in; whether the path leads to the root comes out.
//! Bit-compatible with `gpu_market_compute::merkle` (tests check it against trees built
//! there), whose scheme is normative:
//!
//! - leaf hash `SHA256(0x00 || leaf_bytes)`, node hash `SHA256(0x01 || left || right)`;
//! - levels pair nodes (0,1), (2,3), ...; an odd last node is promoted unchanged;
//! - a path lists sibling hashes bottom-up, a promoted level contributing nothing.
//!
//! The root does not commit to the leaf count: the verifier takes it from the job (m rows
//! of A or C, n columns of B), never from the party presenting the path.

use crate::hash::Sha256;

/// Prefix of a leaf hash's preimage.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an inner node hash's preimage.
pub const NODE_PREFIX: u8 = 0x01;

/// `SHA256(0x00 || data)`.
pub fn leaf_hash<H: Sha256>(data: &[u8]) -> [u8; 32] {
    H::hashv(&[&[LEAF_PREFIX], data])
}

/// `SHA256(0x01 || left || right)`.
pub fn node_hash<H: Sha256>(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    H::hashv(&[&[NODE_PREFIX], left, right])
}

/// Number of siblings on the path of leaf `index` of `leaf_count` (0 if out of range),
/// so a program can size the staged path before reading it.
pub fn path_len(leaf_count: u64, index: u64) -> usize {
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

/// Whether `leaf_data` is leaf `index` of a `leaf_count`-leaf tree with `root`.
///
/// Always inlined, like [`verify_hash`]: seven argument registers, and upstream LLVM's
/// BPF backend passes at most five.
#[inline(always)]
pub fn verify<H: Sha256>(
    root: &[u8; 32],
    leaf_count: u64,
    index: u64,
    leaf_data: &[u8],
    path: &[[u8; 32]],
) -> bool {
    verify_hash::<H>(root, leaf_count, index, &leaf_hash::<H>(leaf_data), path)
}

/// [`verify`] for a leaf already hashed with [`leaf_hash`] (a leaf too large to hash in
/// the transaction that checks the path). Every sibling must be used: a path with extra
/// elements is rejected, so one root admits exactly one path per index.
#[inline(always)]
pub fn verify_hash<H: Sha256>(
    root: &[u8; 32],
    leaf_count: u64,
    index: u64,
    leaf_hash: &[u8; 32],
    path: &[[u8; 32]],
) -> bool {
    if index >= leaf_count {
        return false;
    }
    let (mut h, mut i, mut n) = (*leaf_hash, index, leaf_count);
    let mut siblings = path.iter();
    while n > 1 {
        if i % 2 == 1 {
            match siblings.next() {
                Some(s) => h = node_hash::<H>(s, &h),
                None => return false,
            }
        } else if i + 1 < n {
            match siblings.next() {
                Some(s) => h = node_hash::<H>(&h, s),
                None => return false,
            }
        }
        i /= 2;
        n = n.div_ceil(2);
    }
    siblings.next().is_none() && h == *root
}

#[cfg(all(test, feature = "sha2"))]
mod tests {
    use super::*;
    use crate::hash::Sha2;

    #[test]
    fn one_leaf_tree_root_is_the_leaf_hash() {
        let root = leaf_hash::<Sha2>(b"row");
        assert!(verify::<Sha2>(&root, 1, 0, b"row", &[]));
        assert!(!verify::<Sha2>(&root, 1, 1, b"row", &[]));
        assert!(!verify::<Sha2>(&root, 1, 0, b"row", &[root]));
    }

    #[test]
    fn promoted_node_takes_no_sibling() {
        // Three leaves: leaf 2 is promoted at level 0.
        let l: [[u8; 32]; 3] = [b"a", b"b", b"c"].map(|d| leaf_hash::<Sha2>(d));
        let root = node_hash::<Sha2>(&node_hash::<Sha2>(&l[0], &l[1]), &l[2]);
        assert_eq!(path_len(3, 2), 1);
        assert!(verify::<Sha2>(
            &root,
            3,
            2,
            b"c",
            &[node_hash::<Sha2>(&l[0], &l[1])]
        ));
        assert!(verify::<Sha2>(&root, 3, 1, b"b", &[l[0], l[2]]));
        // The same bytes claimed as a leaf of a 4-leaf tree do not verify.
        assert!(!verify::<Sha2>(
            &root,
            4,
            2,
            b"c",
            &[node_hash::<Sha2>(&l[0], &l[1])]
        ));
    }
}
