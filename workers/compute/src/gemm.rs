//! CPU GEMM kernels: row-major matrices go in, the product comes out. These are the
//! CPU executor's workhorses and the reference the CUDA executor must match byte for
//! byte on gemm-i8. Both are safe Rust (the crate keeps `unsafe` in the CUDA module),
//! cache-blocked, parallel over row blocks with rayon, and written so that LLVM
//! vectorizes the inner loop for the baseline x86-64 target (SSE2), which is what a
//! binary built here and carried to another machine can assume.
//!
//! - [`gemm_i8`]: B is packed once into panels of 8 columns, widened to i16, with
//!   each pair of consecutive k values of a column side by side; A's rows are widened
//!   to i16. The inner step `acc[j] += a[2p]·B[2p][j] + a[2p+1]·B[2p+1][j]` over 8
//!   contiguous columns is SSE2's `pmaddwd`. (A plain dot product per output over
//!   transposed B measured no faster: LLVM vectorizes it at half width.) Integer
//!   addition is associative, so the blocking cannot change the exact i32 result.
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
/// i8 register tile: 4 rows x 8 columns of C.
const MR_I8: usize = 4;
const NR_I8: usize = 8;
/// k pairs per cache block: a 256-pair slice of one packed B panel is 8 KiB (L1).
const KP_BLOCK: usize = 256;

/// Exact C (m x n, i32) = A (m x k, i8) · B (k x n, i8), all row-major.
///
/// Packing: B goes into panels of 8 columns; within a panel, step `p` of k holds the 16
/// i16 values `B[2p][j], B[2p+1][j]` for j = 0..8 (zero past n or k). A's rows are
/// widened to i16 and padded to even k. Then one output pair step is
/// `acc[j] += a[2p]·B[2p][j] + a[2p+1]·B[2p+1][j]`, which is SSE2's `pmaddwd`
/// (8 multiply-adds per instruction) against a broadcast pair of A.
pub fn gemm_i8(m: usize, n: usize, k: usize, a: &[i8], b: &[i8]) -> Result<Vec<i32>, GemmError> {
    let c_len = check_shape(m, n, k, a.len(), b.len())?;
    let mut c = vec![0i32; c_len];
    if c_len == 0 || k == 0 {
        return Ok(c);
    }
    let kp = k.div_ceil(2);
    let panels = n.div_ceil(NR_I8);
    let mut bp = vec![0i16; panels * kp * 2 * NR_I8];
    bp.par_chunks_mut(kp * 2 * NR_I8)
        .enumerate()
        .for_each(|(p, panel)| {
            let j0 = p * NR_I8;
            let w = NR_I8.min(n - j0);
            for (pair, dst) in panel.chunks_exact_mut(2 * NR_I8).enumerate() {
                for kk in [2 * pair, 2 * pair + 1] {
                    if kk < k {
                        for jj in 0..w {
                            dst[2 * jj + kk % 2] = b[kk * n + j0 + jj] as i16;
                        }
                    }
                }
            }
        });
    c.par_chunks_mut(ROW_BLOCK * n)
        .enumerate()
        .for_each(|(blk, c_blk)| {
            let rows = c_blk.len() / n;
            let r0 = blk * ROW_BLOCK;
            // Rows of A widened to i16, each padded to 2·kp.
            let mut a16 = vec![0i16; rows * 2 * kp];
            for (dst, src) in a16
                .chunks_exact_mut(2 * kp)
                .zip(a[r0 * k..(r0 + rows) * k].chunks_exact(k))
            {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = s as i16;
                }
            }
            i8_row_block(&a16, &bp, c_blk, rows, n, kp);
        });
    Ok(c)
}

/// One block of rows of C; `a16` holds the matching rows of A (2·kp i16 each).
fn i8_row_block(a16: &[i16], bp: &[i16], c: &mut [i32], rows: usize, n: usize, kp: usize) {
    let panels = n.div_ceil(NR_I8);
    let row =
        |r: usize, p0: usize, len: usize| &a16[r * 2 * kp + 2 * p0..r * 2 * kp + 2 * (p0 + len)];
    for p0 in (0..kp).step_by(KP_BLOCK) {
        let len = KP_BLOCK.min(kp - p0);
        for p in 0..panels {
            let start = (p * kp + p0) * 2 * NR_I8;
            let panel = &bp[start..start + len * 2 * NR_I8];
            let j0 = p * NR_I8;
            let w = NR_I8.min(n - j0);
            let mut i = 0;
            while i < rows {
                let mr = MR_I8.min(rows - i);
                let mut acc = [[0i32; NR_I8]; MR_I8];
                if mr == MR_I8 {
                    tile_i8_4x8(
                        &mut acc,
                        [
                            row(i, p0, len),
                            row(i + 1, p0, len),
                            row(i + 2, p0, len),
                            row(i + 3, p0, len),
                        ],
                        panel,
                    );
                } else {
                    for (r, acc_row) in acc.iter_mut().enumerate().take(mr) {
                        tile_i8_1x8(acc_row, row(i + r, p0, len), panel);
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

#[inline]
fn tile_i8_4x8(acc: &mut [[i32; NR_I8]; MR_I8], a: [&[i16]; MR_I8], panel: &[i16]) {
    let mut s = *acc;
    for (p, bstep) in panel.chunks_exact(2 * NR_I8).enumerate() {
        for r in 0..MR_I8 {
            let (x0, x1) = (a[r][2 * p] as i32, a[r][2 * p + 1] as i32);
            for c in 0..NR_I8 {
                s[r][c] += x0 * bstep[2 * c] as i32 + x1 * bstep[2 * c + 1] as i32;
            }
        }
    }
    *acc = s;
}

#[inline]
fn tile_i8_1x8(acc: &mut [i32; NR_I8], a: &[i16], panel: &[i16]) {
    for (p, bstep) in panel.chunks_exact(2 * NR_I8).enumerate() {
        let (x0, x1) = (a[2 * p] as i32, a[2 * p + 1] as i32);
        for c in 0..NR_I8 {
            acc[c] += x0 * bstep[2 * c] as i32 + x1 * bstep[2 * c + 1] as i32;
        }
    }
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
    // Packed B: panel p holds columns [8p, 8p+8) as k rows of 8 (zero-padded), so the
    // micro-kernel streams one contiguous 8-float row per step of k.
    let panels = n.div_ceil(NR_F32);
    let mut bp = vec![0f32; panels * k * NR_F32];
    bp.par_chunks_mut(k * NR_F32)
        .enumerate()
        .for_each(|(p, panel)| {
            let j0 = p * NR_F32;
            let w = NR_F32.min(n - j0);
            for (kk, dst) in panel.chunks_exact_mut(NR_F32).enumerate() {
                dst[..w].copy_from_slice(&b[kk * n + j0..kk * n + j0 + w]);
            }
        });
    c.par_chunks_mut(ROW_BLOCK * n)
        .enumerate()
        .for_each(|(blk, c_blk)| {
            let rows = c_blk.len() / n;
            let r0 = blk * ROW_BLOCK;
            f32_row_block(&a[r0 * k..(r0 + rows) * k], &bp, c_blk, rows, n, k);
        });
    Ok(c)
}

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
                    let ar = |r: usize| &a[(i + r) * k + k0..(i + r) * k + k0 + kc];
                    tile_4x8(&mut acc, [ar(0), ar(1), ar(2), ar(3)], panel);
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

#[inline]
fn tile_4x8(acc: &mut [[f32; NR_F32]; MR_F32], a: [&[f32]; MR_F32], panel: &[f32]) {
    let len = a[0].len();
    let (a0, a1, a2, a3) = (&a[0][..len], &a[1][..len], &a[2][..len], &a[3][..len]);
    let mut s = *acc;
    for (t, brow) in panel.chunks_exact(NR_F32).take(len).enumerate() {
        let x = [a0[t], a1[t], a2[t], a3[t]];
        for r in 0..MR_F32 {
            for c in 0..NR_F32 {
                s[r][c] += x[r] * brow[c];
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
