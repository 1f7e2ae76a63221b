//! The one error enum of the ruling math: what a caller passed that the rule cannot be
//! applied to (chunks of different lengths, a dot product not yet complete, a path's leaf
//! of the wrong size). A *wrong claim* is not an error: it is a verdict.

use crate::element::Tree;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RulingError {
    #[error(
        "chunks of A ({a}) and of B ({b}) differ in length: they must cover the same elements"
    )]
    ChunkMismatch { a: usize, b: usize },
    #[error("chunk of {len} bytes is not a whole number of {elem_bytes}-byte elements")]
    ChunkNotWhole { len: usize, elem_bytes: usize },
    #[error("{len} more elements after {absorbed} exceed the largest k, {max}")]
    TooLong { absorbed: u32, len: usize, max: u32 },
    #[error("the dot product has absorbed {absorbed} elements, the job's k is {k}")]
    Incomplete { absorbed: u32, k: u32 },
    #[error("k = {k} exceeds the largest k a ruling accepts, {max}")]
    KTooLarge { k: u32, max: u32 },
    #[error("element ({row}, {col}) is outside the {m} x {n} result")]
    ElementOutOfRange { row: u32, col: u32, m: u32, n: u32 },
    #[error("leaf of tree {tree:?} is {found} bytes, the job's shape needs {expected}")]
    LeafLength {
        tree: Tree,
        expected: u64,
        found: usize,
    },
    #[error("the Merkle path of tree {tree:?} does not lead to the job's root")]
    BadPath { tree: Tree },
    #[error("an intermediate of the f32 bound left its fixed width (a corrupted accumulator)")]
    WideOverflow,
}
