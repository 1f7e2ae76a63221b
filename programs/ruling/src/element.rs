//! The three inclusion proofs of a disputed GEMM element: the job's roots and shape, the
//! disputed (row, col), and the staged row of A, column of B and row of C with their
//! paths go in; the claimed element's 4 bytes come out once all three paths hold.
//!
//! Leaves, as `gpu_market_compute::commit` builds them: A's root has one leaf per row of A
//! (`k * e` bytes, e = 1 for i8, 4 for f32 little-endian), B's root one leaf per *column*
//! of B (`k * e` bytes: B[0][j], B[1][j], ...), the result root one leaf per row of C
//! (`n * 4` bytes, i32 or f32 little-endian). A's and C's trees have m leaves, B's n.

use crate::error::RulingError;
use crate::hash::Sha256;
use crate::merkle;

/// Which committed tree a leaf and path belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// Rows of A (the job's input root).
    A,
    /// Columns of B (the job's input root).
    B,
    /// Rows of C (the provider's result root).
    C,
}

/// The roots a ruling checks against: two recorded on the job at post, one submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmRoots {
    pub a_root: [u8; 32],
    pub b_root: [u8; 32],
    pub c_root: [u8; 32],
}

/// A GEMM's shape as recorded on the job, and its input element size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmDims {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    /// 1 for gemm-i8, 4 for gemm-f32.
    pub elem_bytes: u32,
}

/// The staged leaves and paths of one disputed element.
#[derive(Debug, Clone, Copy)]
pub struct ElementPaths<'a> {
    pub row: u32,
    pub col: u32,
    pub a_row: &'a [u8],
    pub a_path: &'a [[u8; 32]],
    pub b_col: &'a [u8],
    pub b_path: &'a [[u8; 32]],
    pub c_row: &'a [u8],
    pub c_path: &'a [[u8; 32]],
}

fn check_leaf(tree: Tree, leaf: &[u8], expected: u64) -> Result<(), RulingError> {
    if leaf.len() as u64 != expected {
        return Err(RulingError::LeafLength {
            tree,
            expected,
            found: leaf.len(),
        });
    }
    Ok(())
}

/// Checks the three leaves' sizes and paths; returns the claimed C[row][col] as its 4
/// little-endian bytes. The first failing check is named.
pub fn check_element_paths<H: Sha256>(
    roots: &GemmRoots,
    dims: &GemmDims,
    paths: &ElementPaths<'_>,
) -> Result<[u8; 4], RulingError> {
    let GemmDims {
        m,
        n,
        k,
        elem_bytes,
    } = *dims;
    if paths.row >= m || paths.col >= n {
        return Err(RulingError::ElementOutOfRange {
            row: paths.row,
            col: paths.col,
            m,
            n,
        });
    }
    let input_leaf = k as u64 * elem_bytes as u64;
    check_leaf(Tree::A, paths.a_row, input_leaf)?;
    check_leaf(Tree::B, paths.b_col, input_leaf)?;
    check_leaf(Tree::C, paths.c_row, n as u64 * 4)?;
    let checks = [
        (
            Tree::A,
            &roots.a_root,
            m,
            paths.row,
            paths.a_row,
            paths.a_path,
        ),
        (
            Tree::B,
            &roots.b_root,
            n,
            paths.col,
            paths.b_col,
            paths.b_path,
        ),
        (
            Tree::C,
            &roots.c_root,
            m,
            paths.row,
            paths.c_row,
            paths.c_path,
        ),
    ];
    for (tree, root, count, index, leaf, path) in checks {
        if !merkle::verify::<H>(root, count as u64, index as u64, leaf, path) {
            return Err(RulingError::BadPath { tree });
        }
    }
    let at = paths.col as usize * 4;
    // In range: c_row is n * 4 bytes (checked above) and col < n.
    let mut claimed = [0u8; 4];
    claimed.copy_from_slice(&paths.c_row[at..at + 4]);
    Ok(claimed)
}
