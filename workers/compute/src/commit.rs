//! Commitments: a workload's output bytes (and, for GEMM, its input matrices) go in,
//! Merkle roots and dispute material come out. A provider submits [`result_root`] on
//! chain; a challenger who names an output element (row, col) of a GEMM gets from
//! [`proof_for_element`] what the dispute stages on chain: the row of A, the column of
//! B and the row of C, each with its inclusion proof; [`check_element_proof`] is the
//! off-chain twin of the program's check.
//!
//! Leaves (scheme in [`crate::merkle`]):
//! - GEMM result: one leaf per row of C, `n * 4` bytes (i32 or f32, little-endian).
//! - cuda-kernel result: the concatenated outputs cut into [`RESULT_CHUNK_BYTES`]-byte
//!   chunks, the last one possibly shorter.
//! - GEMM inputs: A's root has one leaf per row of A (`k * e` bytes, e = element size);
//!   B's root has one leaf per *column* of B (`k * e` bytes: B[0][j], B[1][j], ...), so
//!   that an element's column is a single leaf.

use crate::merkle::{self, MerkleError, MerkleTree};
use crate::spec::{Hash32, SpecError, Workload};
use rayon::prelude::*;

/// Leaf size of a cuda-kernel result commitment.
pub const RESULT_CHUNK_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    #[error("{what} is {found} bytes, the workload needs {expected}")]
    Length {
        what: &'static str,
        expected: u64,
        found: u64,
    },
    #[error("{0} workloads have no element proofs (only GEMM does)")]
    NotGemm(&'static str),
    #[error("element ({row}, {col}) is outside the {m} x {n} result")]
    ElementOutOfRange { row: u32, col: u32, m: u32, n: u32 },
    #[error("the {0} proof does not verify against its root")]
    BadProof(&'static str),
}

fn check_len(what: &'static str, bytes: &[u8], expected: u64) -> Result<(), CommitError> {
    if bytes.len() as u64 != expected {
        return Err(CommitError::Length {
            what,
            expected,
            found: bytes.len() as u64,
        });
    }
    Ok(())
}

/// Leaf size in bytes of `workload`'s result tree.
pub fn result_leaf_bytes(workload: &Workload) -> usize {
    match workload.gemm_dims() {
        Some((_, n, _)) => n as usize * 4,
        None => RESULT_CHUNK_BYTES,
    }
}

/// Number of leaves of `workload`'s result tree (m for GEMM, ceil(len / 4096) otherwise).
pub fn result_leaf_count(workload: &Workload) -> Result<u64, CommitError> {
    match workload.gemm_dims() {
        Some((m, _, _)) => Ok(m as u64),
        None => Ok(workload
            .expected_output_len()?
            .div_ceil(RESULT_CHUNK_BYTES as u64)),
    }
}

/// The whole result tree (keep it to answer challenges).
pub fn result_tree(workload: &Workload, output: &[u8]) -> Result<MerkleTree, CommitError> {
    check_len("output", output, workload.expected_output_len()?)?;
    Ok(MerkleTree::from_leaves(
        output.chunks(result_leaf_bytes(workload)),
    )?)
}

/// The result commitment a provider submits on chain.
pub fn result_root(workload: &Workload, output: &[u8]) -> Result<Hash32, CommitError> {
    Ok(result_tree(workload, output)?.root().into())
}

/// Roots of a GEMM's inputs: rows of A and columns of B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmInputRoots {
    pub a_root: Hash32,
    pub b_root: Hash32,
}

/// (m, n, k, element bytes) of a GEMM workload.
fn gemm_shape(workload: &Workload) -> Result<(usize, usize, usize, usize), CommitError> {
    match (workload.gemm_dims(), workload.gemm_input_elem_bytes()) {
        (Some((m, n, k)), Some(e)) => Ok((m as usize, n as usize, k as usize, e as usize)),
        _ => Err(CommitError::NotGemm(workload.kind_name())),
    }
}

fn check_gemm_inputs(workload: &Workload, a: &[u8], b: &[u8]) -> Result<(), CommitError> {
    let (m, n, k, e) = gemm_shape(workload)?;
    check_len("input a", a, (m * k * e) as u64)?;
    check_len("input b", b, (k * n * e) as u64)
}

/// B (k x n, row-major, `e`-byte elements) as its columns concatenated: column j is
/// bytes `[j*k*e, (j+1)*k*e)`.
pub fn gemm_b_columns(b: &[u8], k: usize, n: usize, e: usize) -> Vec<u8> {
    let mut out = vec![0u8; k * n * e];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_exact_mut(k * e)
        .enumerate()
        .for_each(|(j, col)| {
            for (kk, dst) in col.chunks_exact_mut(e).enumerate() {
                let src = (kk * n + j) * e;
                dst.copy_from_slice(&b[src..src + e]);
            }
        });
    out
}

fn gemm_input_trees(
    workload: &Workload,
    a: &[u8],
    b: &[u8],
) -> Result<(MerkleTree, MerkleTree, Vec<u8>), CommitError> {
    check_gemm_inputs(workload, a, b)?;
    let (_, n, k, e) = gemm_shape(workload)?;
    let b_cols = gemm_b_columns(b, k, n, e);
    let a_tree = MerkleTree::from_leaves(a.chunks(k * e))?;
    let b_tree = MerkleTree::from_leaves(b_cols.chunks(k * e))?;
    Ok((a_tree, b_tree, b_cols))
}

/// Input commitments of a GEMM: root over rows of A, root over columns of B.
pub fn gemm_input_roots(
    workload: &Workload,
    a: &[u8],
    b: &[u8],
) -> Result<GemmInputRoots, CommitError> {
    let (a_tree, b_tree, _) = gemm_input_trees(workload, a, b)?;
    Ok(GemmInputRoots {
        a_root: a_tree.root().into(),
        b_root: b_tree.root().into(),
    })
}

/// Everything a dispute over C[row][col] stages on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementProof {
    pub row: u32,
    pub col: u32,
    /// Row `row` of A (k elements) and its proof against the A root (m leaves).
    pub a_row: Vec<u8>,
    pub a_proof: Vec<[u8; 32]>,
    /// Column `col` of B (k elements) and its proof against the B root (n leaves).
    pub b_col: Vec<u8>,
    pub b_proof: Vec<[u8; 32]>,
    /// Row `row` of C (n elements, 4 bytes each) and its proof against the result root.
    pub c_row: Vec<u8>,
    pub c_proof: Vec<[u8; 32]>,
}

impl ElementProof {
    /// The 4 little-endian bytes of the claimed C[row][col], if `c_row` is long enough.
    pub fn claimed_bytes(&self) -> Option<[u8; 4]> {
        let at = self.col as usize * 4;
        self.c_row.get(at..at + 4)?.try_into().ok()
    }
}

/// All three roots of a GEMM job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmCommitments {
    pub a_root: Hash32,
    pub b_root: Hash32,
    pub c_root: Hash32,
}

/// Builds the dispute material for C[row][col] from the full matrices.
pub fn proof_for_element(
    workload: &Workload,
    a: &[u8],
    b: &[u8],
    c: &[u8],
    row: u32,
    col: u32,
) -> Result<ElementProof, CommitError> {
    let (m, n, k, e) = gemm_shape(workload)?;
    if row as usize >= m || col as usize >= n {
        return Err(CommitError::ElementOutOfRange {
            row,
            col,
            m: m as u32,
            n: n as u32,
        });
    }
    let (a_tree, b_tree, b_cols) = gemm_input_trees(workload, a, b)?;
    let c_tree = result_tree(workload, c)?;
    let (r, j) = (row as usize, col as usize);
    Ok(ElementProof {
        row,
        col,
        a_row: a[r * k * e..(r + 1) * k * e].to_vec(),
        a_proof: a_tree.proof(r)?,
        b_col: b_cols[j * k * e..(j + 1) * k * e].to_vec(),
        b_proof: b_tree.proof(j)?,
        c_row: c[r * n * 4..(r + 1) * n * 4].to_vec(),
        c_proof: c_tree.proof(r)?,
    })
}

/// Outcome of recomputing one disputed element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ElementVerdict {
    /// The claimed value is the product's (exactly for i8, within tolerance for f32).
    Correct,
    /// gemm-i8: the claimed value differs from the exact dot product.
    WrongI8 { claimed: i32, recomputed: i32 },
    /// gemm-f32: |claimed - recomputed| > rel_tolerance * sum_k |a| |b|.
    WrongF32 {
        claimed: f32,
        recomputed: f64,
        bound: f64,
    },
}

/// Verifies the three inclusion proofs against `roots` and recomputes the element.
/// Errors name the proof that failed; a verdict is returned only when all three hold.
pub fn check_element_proof(
    workload: &Workload,
    roots: &GemmCommitments,
    proof: &ElementProof,
) -> Result<ElementVerdict, CommitError> {
    let (m, n, k, e) = gemm_shape(workload)?;
    if proof.row as usize >= m || proof.col as usize >= n {
        return Err(CommitError::ElementOutOfRange {
            row: proof.row,
            col: proof.col,
            m: m as u32,
            n: n as u32,
        });
    }
    check_len("row of A", &proof.a_row, (k * e) as u64)?;
    check_len("column of B", &proof.b_col, (k * e) as u64)?;
    check_len("row of C", &proof.c_row, (n * 4) as u64)?;
    let checks = [
        (
            "A",
            &roots.a_root,
            m,
            proof.row,
            &proof.a_row,
            &proof.a_proof,
        ),
        (
            "B",
            &roots.b_root,
            n,
            proof.col,
            &proof.b_col,
            &proof.b_proof,
        ),
        (
            "C",
            &roots.c_root,
            m,
            proof.row,
            &proof.c_row,
            &proof.c_proof,
        ),
    ];
    for (what, root, count, index, leaf, siblings) in checks {
        if !merkle::verify_proof(&root.0, count as u64, index as u64, leaf, siblings) {
            return Err(CommitError::BadProof(what));
        }
    }
    let claimed = proof.claimed_bytes().ok_or(CommitError::Length {
        what: "row of C",
        expected: (n * 4) as u64,
        found: proof.c_row.len() as u64,
    })?;
    match workload {
        Workload::GemmI8 { .. } => {
            let claimed = i32::from_le_bytes(claimed);
            // |sum| <= k * 2^14 <= 2^30 for validated k, so i64 is more than enough.
            let recomputed: i64 = proof
                .a_row
                .iter()
                .zip(&proof.b_col)
                .map(|(&x, &y)| x as i8 as i64 * y as i8 as i64)
                .sum();
            if recomputed == claimed as i64 {
                Ok(ElementVerdict::Correct)
            } else {
                Ok(ElementVerdict::WrongI8 {
                    claimed,
                    recomputed: recomputed.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                })
            }
        }
        Workload::GemmF32 { rel_tolerance, .. } => {
            let claimed = f32::from_le_bytes(claimed);
            let f = |c: &[u8]| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64;
            let (mut exact, mut scale) = (0f64, 0f64);
            for (x, y) in proof.a_row.chunks_exact(4).zip(proof.b_col.chunks_exact(4)) {
                exact += f(x) * f(y);
                scale += (f(x) * f(y)).abs();
            }
            let bound = *rel_tolerance as f64 * scale;
            if (claimed as f64 - exact).abs() <= bound {
                Ok(ElementVerdict::Correct)
            } else {
                Ok(ElementVerdict::WrongF32 {
                    claimed,
                    recomputed: exact,
                    bound,
                })
            }
        }
        Workload::CudaKernel { .. } => Err(CommitError::NotGemm(workload.kind_name())),
    }
}
