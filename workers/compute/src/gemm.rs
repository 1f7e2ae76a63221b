//! CPU GEMM kernels: row-major matrices go in, the product comes out. These are the
//! CPU executor's workhorses and the reference the CUDA executor must match byte for
//! byte on gemm-i8. Both are safe Rust (the crate keeps `unsafe` in the CUDA module),
//! cache-blocked, parallel over row blocks with rayon, and written so that LLVM
//! vectorizes the inner loop for the baseline x86-64 target (SSE2), which is what a
//! binary built here and carried to another machine can assume.
//!
//! - [`gemm_i8`]: exact, computed with the f32 kernel on k slices of at most 1024 (all
//!   partial sums are then integers below 2^24, exact in f32) and summed in i32; see
//!   its doc for the argument.
//! - [`gemm_f32`]: our own tiling (not matrixmultiply: its entry points are `unsafe`).
//!   B is packed into panels of 8 columns and each 4 x 8 tile of C is accumulated as a
//!   sum of outer products, vectorized along n (no reassociation of float sums needed).
//!   Rounding differs from the naive loop only by blocking over k.

use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GemmError {
    #[error("matrix {name} has {found} elements, {rows} x {cols} needs {expected}")]
    Shape {
        name: &'static str,
        rows: usize,
        cols: usize,
        expected: usize,
        found: usize,
    },
    #[error("shape {m} x {n} x {k} overflows the address space")]
    Overflow { m: usize, n: usize, k: usize },
}

fn check_shape(
    m: usize,
    n: usize,
    k: usize,
    a_len: usize,
    b_len: usize,
) -> Result<usize, GemmError> {
    let overflow = GemmError::Overflow { m, n, k };
    let c_len = m.checked_mul(n).ok_or(overflow.clone())?;
    for (name, rows, cols, found) in [("a", m, k, a_len), ("b", k, n, b_len)] {
        let expected = rows.checked_mul(cols).ok_or(overflow.clone())?;
        if expected != found {
            return Err(GemmError::Shape {
                name,
                rows,
                cols,
                expected,
                found,
            });
        }
    }
    Ok(c_len)
}

/// Rows of C per rayon task: enough work to amortize packing, small enough to balance.
const ROW_BLOCK: usize = 32;
/// Largest k slice whose i8 dot products are exact in f32: every partial sum of at most
/// 1024 products of magnitude <= 2^14 is an integer of magnitude <= 2^24.
const I8_EXACT_K: usize = 1024;
/// Columns per packed B slice of gemm-i8 (1024 x 4096 f32 = 16 MiB, bounding the extra
/// memory whatever n is).
const I8_NC: usize = 4096;

/// Exact C (m x n, i32) = A (m x k, i8) · B (k x n, i8), all row-major.
///
/// Computed with the f32 kernel on slices of at most [`I8_EXACT_K`] values of k: the
/// i8 values, their products and every partial sum of a slice are integers of
/// magnitude <= 2^24, which f32 represents exactly, so the f32 result of a slice is the
/// exact integer whatever the summation order; slices are then added in i32. (SSE2,
/// the portable x86-64 baseline, has no cheap i8 or i32 multiply; a `pmaddwd`-shaped
/// integer kernel measured half this speed here.)
pub fn gemm_i8(m: usize, n: usize, k: usize, a: &[i8], b: &[i8]) -> Result<Vec<i32>, GemmError> {
    let c_len = check_shape(m, n, k, a.len(), b.len())?;
    let mut c = vec![0i32; c_len];
    if c_len == 0 || k == 0 {
        return Ok(c);
    }
    for k0 in (0..k).step_by(I8_EXACT_K) {
        let kc = I8_EXACT_K.min(k - k0);
        for j0 in (0..n).step_by(I8_NC) {
            let nc = I8_NC.min(n - j0);
            let bp = pack_b(kc, nc, |kk, jj| b[(k0 + kk) * n + j0 + jj] as f32);
            c.par_chunks_mut(ROW_BLOCK * n)
                .enumerate()
                .for_each(|(blk, c_blk)| {
                    let rows = c_blk.len() / n;
                    let r0 = blk * ROW_BLOCK;
                    let mut af = Vec::with_capacity(rows * kc);
                    for r in r0..r0 + rows {
                        af.extend(a[r * k + k0..r * k + k0 + kc].iter().map(|&x| x as f32));
                    }
                    let mut part = vec![0f32; rows * nc];
                    f32_row_block(&af, &bp, &mut part, rows, nc, kc);
                    for (dst, src) in c_blk.chunks_exact_mut(n).zip(part.chunks_exact(nc)) {
                        for (d, &s) in dst[j0..j0 + nc].iter_mut().zip(src) {
                            // Exact: an integer of magnitude <= 2^24.
                            *d += s as i32;
                        }
                    }
                });
        }
    }
    Ok(c)
}

/// f32 register tile: 4 rows x 8 columns of C.
const MR_F32: usize = 4;
const NR_F32: usize = 8;
/// k per cache block for f32 (a KC x 8 panel of B is 8 KiB).
const KC_F32: usize = 256;

/// C (m x n) = A (m x k) · B (k x n), f32, row-major.
pub fn gemm_f32(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Result<Vec<f32>, GemmError> {
    let c_len = check_shape(m, n, k, a.len(), b.len())?;
    let mut c = vec![0f32; c_len];
    if c_len == 0 || k == 0 {
        return Ok(c);
    }
    let bp = pack_b(k, n, |kk, j| b[kk * n + j]);
    c.par_chunks_mut(ROW_BLOCK * n)
        .enumerate()
        .for_each(|(blk, c_blk)| {
            let rows = c_blk.len() / n;
            let r0 = blk * ROW_BLOCK;
            f32_row_block(&a[r0 * k..(r0 + rows) * k], &bp, c_blk, rows, n, k);
        });
    Ok(c)
}

/// Packs a k x n matrix (element (kk, j) from `get`) into panels of [`NR_F32`]
/// columns: panel p holds columns [8p, 8p+8) as k rows of 8 (zero-padded past n), so
/// the micro-kernel streams one contiguous 8-float row per step of k.
fn pack_b(k: usize, n: usize, get: impl Fn(usize, usize) -> f32 + Sync) -> Vec<f32> {
    let panels = n.div_ceil(NR_F32);
    let mut bp = vec![0f32; panels * k * NR_F32];
    bp.par_chunks_mut(k * NR_F32)
        .enumerate()
        .for_each(|(p, panel)| {
            let j0 = p * NR_F32;
            let w = NR_F32.min(n - j0);
            for (kk, dst) in panel.chunks_exact_mut(NR_F32).enumerate() {
                for (jj, d) in dst[..w].iter_mut().enumerate() {
                    *d = get(kk, j0 + jj);
                }
            }
        });
    bp
}

/// Rows of C (row stride n) += rows of A (row stride k) · packed B (k x n).
fn f32_row_block(a: &[f32], bp: &[f32], c: &mut [f32], rows: usize, n: usize, k: usize) {
    let panels = n.div_ceil(NR_F32);
    for k0 in (0..k).step_by(KC_F32) {
        let kc = KC_F32.min(k - k0);
        for p in 0..panels {
            let panel = &bp[(p * k + k0) * NR_F32..(p * k + k0 + kc) * NR_F32];
            let j0 = p * NR_F32;
            let w = NR_F32.min(n - j0);
            let mut i = 0;
            while i < rows {
                let mr = MR_F32.min(rows - i);
                let mut acc = [[0f32; NR_F32]; MR_F32];
                if mr == MR_F32 {
                    let ar: [&[f32]; MR_F32] =
                        std::array::from_fn(|r| &a[(i + r) * k + k0..(i + r) * k + k0 + kc]);
                    tile_f32(&mut acc, ar, panel);
                } else {
                    for (r, acc_row) in acc.iter_mut().enumerate().take(mr) {
                        let ar = &a[(i + r) * k + k0..(i + r) * k + k0 + kc];
                        for (x, brow) in ar.iter().zip(panel.chunks_exact(NR_F32)) {
                            for (s, y) in acc_row.iter_mut().zip(brow) {
                                *s += x * y;
                            }
                        }
                    }
                }
                for (r, acc_row) in acc.iter().enumerate().take(mr) {
                    let dst = &mut c[(i + r) * n + j0..(i + r) * n + j0 + w];
                    for (d, s) in dst.iter_mut().zip(acc_row) {
                        *d += s;
                    }
                }
                i += mr;
            }
        }
    }
}

/// MR x NR outer-product accumulation over one k block: per step, NR contiguous
/// floats of the packed B panel times one broadcast element of each A row.
#[inline]
fn tile_f32<const MR: usize, const NR: usize>(
    acc: &mut [[f32; NR]; MR],
    a: [&[f32]; MR],
    panel: &[f32],
) {
    let len = panel.len() / NR;
    let a = a.map(|row| &row[..len]);
    let mut s = *acc;
    for (t, brow) in panel.chunks_exact(NR).enumerate() {
        for r in 0..MR {
            let x = a[r][t];
            for c in 0..NR {
                s[r][c] += x * brow[c];
            }
        }
    }
    *acc = s;
}

/// Textbook triple loop, i32 accumulation; the reference the tests compare against.
pub fn gemm_i8_naive(
    m: usize,
    n: usize,
    k: usize,
    a: &[i8],
    b: &[i8],
) -> Result<Vec<i32>, GemmError> {
    let c_len = check_shape(m, n, k, a.len(), b.len())?;
    let mut c = vec![0i32; c_len];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|t| a[i * k + t] as i32 * b[t * n + j] as i32)
                .sum();
        }
    }
    Ok(c)
}

/// Textbook triple loop in f32, summing over k in order.
pub fn gemm_f32_naive(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
) -> Result<Vec<f32>, GemmError> {
    let c_len = check_shape(m, n, k, a.len(), b.len())?;
    let mut c = vec![0f32; c_len];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|t| a[i * k + t] * b[t * n + j]).sum();
        }
    }
    Ok(c)
}

/// Reinterprets bytes as i8 (a copy; same bits).
pub fn i8s_from_bytes(bytes: &[u8]) -> Vec<i8> {
    bytes.iter().map(|&x| x as i8).collect()
}

/// Little-endian f32s; a trailing partial element is ignored (callers check lengths).
pub fn f32s_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn i32s_from_le_bytes(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn i32s_to_le_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn f32s_to_le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
