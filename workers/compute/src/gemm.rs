//! CPU GEMM: row-major matrices go in, the product comes out. These are the CPU
//! executor's workhorses and the reference the CUDA executor must match byte for byte
//! on gemm-i8. The arithmetic is faer's `matmul` (safe API; it picks AVX2/FMA or
//! AVX-512 kernels at run time), one single-threaded call per band of rows, one band
//! per thread of the current rayon pool (see [`for_each_band`] for why not faer's own
//! parallelism), each call shaped the way faer runs fastest (see [`sgemm_seq`]). Chosen by measurement against ndarray's `general_mat_mul` (over
//! matrixmultiply) and our former hand-written kernels; figures in `docs/benchmarks.md`.
//!
//! - [`gemm_i8`]: exact, computed as f32 GEMMs on k slices of at most 1024 (all partial
//!   sums are then integers below 2^24, exact in f32) and summed in i32; see its doc
//!   for the argument.
//! - [`gemm_f32`]: rounding differs from the naive loop by the library's blocking and
//!   FMA, within the spec's `rel_tolerance` rule.

use rayon::prelude::*;
use std::cell::RefCell;

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

/// Largest k slice whose i8 dot products are exact in f32: every partial sum of at most
/// 1024 products of magnitude <= 2^14 is an integer of magnitude <= 2^24.
const I8_EXACT_K: usize = 1024;
/// Rows and columns of C per gemm-i8 block: the f32 copies of one A block (1024 x 1024),
/// one B slice (1024 x 2048) and one partial C (1024 x 2048) take 20 MiB per thread
/// whatever the shape, instead of four times the job's inputs.
const I8_MB: usize = 1024;
const I8_NB: usize = 2048;

/// Exact C (m x n, i32) = A (m x k, i8) · B (k x n, i8), all row-major.
///
/// Computed as f32 GEMMs on slices of at most [`I8_EXACT_K`] values of k: the i8
/// values, their products and every partial sum of a slice are integers of magnitude
/// <= 2^24, which f32 represents exactly, so the f32 result of a slice is the exact
/// integer whatever the library's summation order or its use of FMA (a fused
/// multiply-add of exact integers below 2^24 rounds nothing); slices are then added
/// in i32.
pub fn gemm_i8(m: usize, n: usize, k: usize, a: &[i8], b: &[i8]) -> Result<Vec<i32>, GemmError> {
    let c_len = check_shape(m, n, k, a.len(), b.len())?;
    let mut c = vec![0i32; c_len];
    if c_len == 0 || k == 0 {
        return Ok(c);
    }
    for_each_band(m, n, k, a, &mut c, |rows, a, c| {
        gemm_i8_band(rows, n, k, a, b, c)
    });
    Ok(c)
}

thread_local! {
    /// Each thread's f32 scratch for [`gemm_i8_band`] (A block, B slice, partial C),
    /// kept between calls: a fresh allocation of this size is page-faulted in on every
    /// GEMM. At most 20 MiB per thread (see [`I8_MB`]).
    static I8_SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// One band of [`gemm_i8`] on the calling thread: `rows` rows of A and of C.
fn gemm_i8_band(rows: usize, n: usize, k: usize, a: &[i8], b: &[i8], c: &mut [i32]) {
    let (mb, nb, kb) = (I8_MB.min(rows), I8_NB.min(n), I8_EXACT_K.min(k));
    I8_SCRATCH.with_borrow_mut(|scratch| {
        // Nothing on this thread re-enters: the band runs no rayon task of its own.
        scratch.resize(mb * kb + kb * nb + mb * nb, 0.0);
        let (af, rest) = scratch.split_at_mut(mb * kb);
        let (bf, part) = rest.split_at_mut(kb * nb);
        for j0 in (0..n).step_by(nb) {
            let nc = nb.min(n - j0);
            for k0 in (0..k).step_by(kb) {
                let kc = kb.min(k - k0);
                let bf = &mut bf[..kc * nc];
                widen(bf, nc, &b[k0 * n..], n, j0);
                for i0 in (0..rows).step_by(mb) {
                    let mc = mb.min(rows - i0);
                    let af = &mut af[..mc * kc];
                    widen(af, kc, &a[i0 * k..], k, k0);
                    let part = &mut part[..mc * nc];
                    sgemm_seq(mc, nc, kc, af, bf, part);
                    let c_rows = c[i0 * n..(i0 + mc) * n].chunks_exact_mut(n);
                    for (dst, src) in c_rows.zip(part.chunks_exact(nc)) {
                        let dst = &mut dst[j0..j0 + nc];
                        // Exact: integers of magnitude <= 2^24 (see exact_i32), summed in
                        // i32 (within 2^30 for the spec's k <= 2^16). The first slice
                        // stores rather than adds: C is freshly allocated, and reading its
                        // untouched pages before writing them faults each page twice.
                        if k0 == 0 {
                            for (d, &s) in dst.iter_mut().zip(src) {
                                *d = exact_i32(s);
                            }
                        } else {
                            for (d, &s) in dst.iter_mut().zip(src) {
                                *d += exact_i32(s);
                            }
                        }
                    }
                }
            }
        }
    });
}

/// 1.5 · 2^52: added to an f64 of magnitude below 2^51, it leaves the sum in
/// [2^52, 2^53), where one unit of the mantissa is exactly 1.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// `x` as i32, for the integers of magnitude <= 2^24 a k slice produces. `x as i32`
/// would do, but Rust's saturating float-to-int cast compiles to a compare and select
/// per element on the x86-64 baseline and took a sixth of the gemm-i8 time at 512³;
/// this is plain vector arithmetic: widening to f64 is exact, adding [`ROUND_MAGIC`]
/// puts the integer in the low mantissa bits (exactly: |x| < 2^51), and subtracting
/// the magic's own bits takes it out.
#[inline(always)]
fn exact_i32(x: f32) -> i32 {
    ((x as f64 + ROUND_MAGIC).to_bits() as i64 - ROUND_MAGIC.to_bits() as i64) as i32
}

/// Fills `dst` (rows of `width`) with columns [col0, col0 + width) of the i8 matrix
/// `src` (row stride `stride`) as f32.
fn widen(dst: &mut [f32], width: usize, src: &[i8], stride: usize, col0: usize) {
    for (d, row) in dst.chunks_exact_mut(width).zip(src.chunks(stride)) {
        for (d, &x) in d.iter_mut().zip(&row[col0..col0 + width]) {
            *d = x as f32;
        }
    }
}

/// C (m x n) = A (m x k) · B (k x n), f32, row-major.
pub fn gemm_f32(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Result<Vec<f32>, GemmError> {
    let c_len = check_shape(m, n, k, a.len(), b.len())?;
    let mut c = vec![0f32; c_len];
    if c_len == 0 || k == 0 {
        return Ok(c);
    }
    for_each_band(m, n, k, a, &mut c, |rows, a, c| {
        sgemm_seq(rows, n, k, a, b, c)
    });
    Ok(c)
}

/// Runs `f(rows, a_band, c_band)` on one band of rows per thread of the current rayon
/// pool. One fork and one join per GEMM: with finer-grained parallelism (the library's
/// own) every synchronization point waits for the slowest thread, and on a machine
/// shared with other work a thread that lost its core stalls the others for a
/// scheduler time slice; independent bands only lose that thread's share.
fn for_each_band<A: Sync, C: Send>(
    m: usize,
    n: usize,
    k: usize,
    a: &[A],
    c: &mut [C],
    f: impl Fn(usize, &[A], &mut [C]) + Sync,
) {
    let rows = m.div_ceil(rayon::current_num_threads().max(1)).max(1);
    c.par_chunks_mut(rows * n)
        .zip(a.par_chunks(rows * k))
        .for_each(|(c, a)| f(c.len() / n, a, c));
}

/// C = A · B on the calling thread, for row-major slices of exactly m x k, k x n and
/// m x n (faer asserts the shapes; every caller passes slices cut to them).
///
/// faer is column-major at heart, so it is handed the same bytes as column-major
/// views of the transposed product, C^T = B^T · A^T: given the row-major views it does
/// not transpose on its own and runs 20-30 % slower. And a call whose C is much wider
/// than it is tall (a band of rows of a square matrix) takes a path that repacks A on
/// every pass (a fifth of the time in profiles at 1024 x 2048 x 1024), so such a C is
/// computed in column blocks no wider than its height.
fn sgemm_seq(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    use faer::linalg::matmul::matmul;
    use faer::{Accum, MatMut, MatRef, Par};
    let mut ct = MatMut::from_column_major_slice_mut(c, n, m);
    let bt = MatRef::from_column_major_slice(b, n, k);
    let at = MatRef::from_column_major_slice(a, k, m);
    let width = column_block(m, n);
    for j0 in (0..n).step_by(width) {
        let w = width.min(n - j0);
        matmul(
            ct.as_mut().subrows_mut(j0, w),
            Accum::Replace,
            bt.subrows(j0, w),
            at,
            1.0f32,
            Par::Seq,
        );
    }
}

/// Columns of C per faer call for an m x n C: all of them unless C is at least half as
/// wide again as it is tall (faer's "tall" case for the transposed product) and wide
/// enough for that to matter; then equal blocks of about m, but never under 512 (a
/// C of a few rows is cheap to repack and dear to split into many calls).
fn column_block(m: usize, n: usize) -> usize {
    if n < 1024 || 2 * n < 3 * m {
        return n.max(1);
    }
    n.div_ceil(n.div_ceil(m.max(1))).max(512)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_i32_is_the_cast_on_every_integer_a_slice_can_hold() {
        let small = [0, 1, -1, 2, -2, 127, -128, 16_383, -16_384];
        let large = [1 << 23, -(1 << 23), (1 << 24) - 1, -((1 << 24) - 1)];
        let ends = [1 << 24, -(1 << 24)];
        for x in small.into_iter().chain(large).chain(ends) {
            assert_eq!(exact_i32(x as f32), x, "{x}");
        }
        assert_eq!(exact_i32(-0.0), 0);
        // A stride through the whole range, both signs.
        for x in (-(1 << 24)..=(1 << 24)).step_by(9_973) {
            assert_eq!(exact_i32(x as f32), x as f32 as i32, "{x}");
        }
    }
}
