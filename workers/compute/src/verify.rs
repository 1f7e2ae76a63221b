//! Freivalds' test: A, B and a claimed C go in, "consistent" or the index of a row of
//! C that is wrong comes out, in O(m·k + k·n + m·n) per round instead of the O(m·n·k)
//! of recomputing. Auditors run it on every result they fetch; a failing row is then
//! recomputed ([`locate_i8_error`]) to name the exact element for an on-chain challenge.
//!
//! - [`freivalds_i8`] is exact: it checks A(Br) = Cr over the prime field
//!   p = 2^61 − 1 with r uniform in [0, p)^n. If C ≠ AB, some row i of AB − C is a
//!   nonzero polynomial of degree 1 in r, so it vanishes with probability at most 1/p
//!   (Schwartz–Zippel; entries are far smaller than p, so "nonzero mod p" = "nonzero").
//!   A wrong C is therefore accepted with probability at most p^-rounds (< 2^-60 for one
//!   round).
//! - [`freivalds_f32`] works in f64 with r_j uniform in {−1, +1} and accepts row i iff
//!   |(A(Br))_i − (Cr)_i| <= rel_tolerance · Σ_j (|A||B|)_ij, the right-hand side
//!   computed exactly as Σ_t |A_it| (|B||r|)_t. Any C whose every element is within
//!   rel_tolerance · (|A||B|)_ij of the exact product passes (triangle inequality), so
//!   honest f32 results pass; an error in one element of row i is caught when it exceeds
//!   the whole row's allowance rel_tolerance · Σ_j (|A||B|)_ij, so this is weaker than an
//!   element-wise check by up to a factor n: use it to screen, and recompute flagged or
//!   sampled rows exactly.
//!
//! The random vectors come from a seed: the seed must be chosen (by the auditor) after
//! the result is committed, or a cheating provider could tailor C to it.

use crate::spec::SplitMix64;
use rayon::prelude::*;

/// The Mersenne prime 2^61 − 1.
pub const P61: u64 = (1 << 61) - 1;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// The claimed product is wrong in (at least) this row.
    #[error("row {row} of C is inconsistent with A·B (round {round})")]
    Mismatch { row: usize, round: u32 },
    #[error("matrix {name} has {found} elements, expected {expected}")]
    Shape {
        name: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("rel_tolerance {0} must be finite and >= 0")]
    BadTolerance(f32),
    /// The operating system's random number generator failed.
    #[error("no randomness from the operating system for a Freivalds seed: {0}")]
    NoRandomness(String),
}

/// A Freivalds seed from the operating system's random number generator, drawn fresh
/// by the verifier after the result is committed: a provider cannot know it in
/// advance, as it could a fixed seed, the clock or a process id.
pub fn os_seed() -> Result<u64, VerifyError> {
    use rand::TryRngCore;
    rand::rngs::OsRng
        .try_next_u64()
        .map_err(|e| VerifyError::NoRandomness(e.to_string()))
}

fn check(name: &'static str, found: usize, rows: usize, cols: usize) -> Result<(), VerifyError> {
    let expected = rows.checked_mul(cols).ok_or(VerifyError::Shape {
        name,
        expected: usize::MAX,
        found,
    })?;
    if expected != found {
        return Err(VerifyError::Shape {
            name,
            expected,
            found,
        });
    }
    Ok(())
}

/// x mod p for any u128, by folding the high bits (2^61 ≡ 1 mod p).
fn reduce(x: u128) -> u64 {
    let p = P61 as u128;
    let x = (x & p) + (x >> 61); // < 2^68
    let x = (x & p) + (x >> 61); // < 2^61 + 2^7
    let x = x as u64;
    if x >= P61 {
        x - P61
    } else {
        x
    }
}

/// Added to every v of a dot product so that all terms are non-negative: any i32 plus
/// 2^31 lies in [0, 2^32).
const OFFSET: u64 = 1 << 31;
/// Terms per u128 partial sum: each shifted term is below 2^32 · 2^61 = 2^93, so 2^30 of
/// them stay below 2^123.
const DOT_CHUNK: usize = 1 << 30;

/// Σ v_t·w_t mod p for i8 or i32 v and w in [0, p), given `w_sum` = Σ w_t mod p.
/// Computed as Σ (v_t + 2^31)·w_t − 2^31·Σ w_t: the shifted terms are non-negative,
/// so the loop has no branch on the sign (random signs mispredict half the time and
/// made a sign-split version several times slower).
fn signed_dot_mod_p<T: Copy + Into<i64>>(v: &[T], w: &[u64], w_sum: u64) -> u64 {
    let mut acc = 0u64;
    for (v, w) in v.chunks(DOT_CHUNK).zip(w.chunks(DOT_CHUNK)) {
        let s: u128 = v
            .iter()
            .zip(w)
            .map(|(&x, &y)| (x.into() + OFFSET as i64) as u64 as u128 * y as u128)
            .sum();
        acc = reduce(acc as u128 + reduce(s) as u128);
    }
    let shift = reduce(OFFSET as u128 * w_sum as u128);
    reduce(acc as u128 + (P61 - shift) as u128)
}

/// Σ w_t mod p for w in [0, p) (at most 2^21 values: the sum stays below 2^82).
fn sum_mod_p(w: &[u64]) -> u64 {
    reduce(w.iter().map(|&x| x as u128).sum())
}

fn random_field_vector(rng: &mut SplitMix64, len: usize) -> Vec<u64> {
    (0..len)
        .map(|_| loop {
            // 61 uniform bits; reject the single value p itself.
            let x = rng.next_u64() >> 3;
            if x < P61 {
                break x;
            }
        })
        .collect()
}

/// Exact Freivalds check of C (m x n, i32) = A (m x k, i8) · B (k x n, i8), row-major,
/// `rounds` independent rounds seeded by `seed`. Returns the first inconsistent row.
#[allow(clippy::too_many_arguments)]
pub fn freivalds_i8(
    m: usize,
    n: usize,
    k: usize,
    a: &[i8],
    b: &[i8],
    c: &[i32],
    rounds: u32,
    seed: u64,
) -> Result<(), VerifyError> {
    check("a", a.len(), m, k)?;
    check("b", b.len(), k, n)?;
    check("c", c.len(), m, n)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let mut rng = SplitMix64::new(seed);
    for round in 0..rounds {
        let r = random_field_vector(&mut rng, n);
        let r_sum = sum_mod_p(&r);
        let br: Vec<u64> = if k == 0 {
            Vec::new()
        } else {
            b.par_chunks(n)
                .map(|row| signed_dot_mod_p(row, &r, r_sum))
                .collect()
        };
        let br_sum = sum_mod_p(&br);
        let bad = (0..m).into_par_iter().find_first(|&i| {
            let abr = signed_dot_mod_p(&a[i * k..(i + 1) * k], &br, br_sum);
            let cr = signed_dot_mod_p(&c[i * n..(i + 1) * n], &r, r_sum);
            abr != cr
        });
        if let Some(row) = bad {
            return Err(VerifyError::Mismatch { row, round });
        }
    }
    Ok(())
}

/// Recomputes row `row` of A·B exactly and returns the first column where C differs.
#[allow(clippy::too_many_arguments)]
pub fn locate_i8_error(
    m: usize,
    n: usize,
    k: usize,
    a: &[i8],
    b: &[i8],
    c: &[i32],
    row: usize,
) -> Result<Option<usize>, VerifyError> {
    check("a", a.len(), m, k)?;
    check("b", b.len(), k, n)?;
    check("c", c.len(), m, n)?;
    if row >= m {
        return Ok(None);
    }
    let a_row = &a[row * k..(row + 1) * k];
    Ok((0..n).find(|&j| {
        let exact: i64 = (0..k).map(|t| a_row[t] as i64 * b[t * n + j] as i64).sum();
        exact != c[row * n + j] as i64
    }))
}

/// Independent partial sums per f64 dot product: one running sum is a single chain of
/// dependent additions (several cycles each); eight let them overlap and vectorize.
const LANES: usize = 8;

/// Σ f(x_t, y_t) in f64 over [`LANES`] partial sums, then added up.
#[inline]
fn lane_sum(x: &[f32], y: &[f64], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let (xs, ys) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (xr, yr) = (xs.remainder(), ys.remainder());
    for (xc, yc) in xs.zip(ys) {
        for ((s, &a), &b) in acc.iter_mut().zip(xc).zip(yc) {
            *s += f(a as f64, b);
        }
    }
    let tail: f64 = xr.iter().zip(yr).map(|(&a, &b)| f(a as f64, b)).sum();
    acc.iter().sum::<f64>() + tail
}

/// Σ x_t·y_t (x and y of equal length).
fn dot(x: &[f32], y: &[f64]) -> f64 {
    lane_sum(x, y, |a, b| a * b)
}

/// Σ |x_t|·y_t.
fn abs_dot(x: &[f32], y: &[f64]) -> f64 {
    lane_sum(x, y, |a, b| a.abs() * b)
}

/// Σ |x_t|.
fn abs_sum(x: &[f32]) -> f64 {
    let mut acc = [0f64; LANES];
    let xs = x.chunks_exact(LANES);
    let tail: f64 = xs.remainder().iter().map(|&a| (a as f64).abs()).sum();
    for xc in xs {
        for (s, &a) in acc.iter_mut().zip(xc) {
            *s += (a as f64).abs();
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Tolerance-based Freivalds check of an f32 product (rule in the module doc).
#[allow(clippy::too_many_arguments)]
pub fn freivalds_f32(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &[f32],
    rel_tolerance: f32,
    rounds: u32,
    seed: u64,
) -> Result<(), VerifyError> {
    check("a", a.len(), m, k)?;
    check("b", b.len(), k, n)?;
    check("c", c.len(), m, n)?;
    if !(rel_tolerance.is_finite() && rel_tolerance >= 0.0) {
        return Err(VerifyError::BadTolerance(rel_tolerance));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let tol = rel_tolerance as f64;
    let mut rng = SplitMix64::new(seed);
    for round in 0..rounds {
        let r: Vec<f64> = (0..n)
            .map(|_| if rng.next_u64() >> 63 == 0 { 1.0 } else { -1.0 })
            .collect();
        // (B r)_t and (|B| |r|)_t = Σ_j |B_tj| since |r_j| = 1.
        let (br, babs): (Vec<f64>, Vec<f64>) = b
            .par_chunks(n.max(1))
            .take(k)
            .map(|row| (dot(row, &r), abs_sum(row)))
            .unzip();
        let bad = (0..m).into_par_iter().find_first(|&i| {
            let a_row = &a[i * k..(i + 1) * k];
            let (abr, scale) = (dot(a_row, &br), abs_dot(a_row, &babs));
            let cr = dot(&c[i * n..(i + 1) * n], &r);
            // NaN anywhere makes the comparison false: rejected.
            let ok = (abr - cr).abs() <= tol * scale;
            !ok
        });
        if let Some(row) = bad {
            return Err(VerifyError::Mismatch { row, round });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attack a predictable seed allows: a provider that knows the verifier's
    /// vector tailors a wrong C to it. Seeds come from the OS RNG, so two draws differ
    /// and none is a constant the provider could read from the code.
    #[test]
    fn freivalds_seeds_are_fresh_from_the_os_rng() {
        let seeds: Vec<u64> = (0..4).map(|_| os_seed().unwrap()).collect();
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seeds.len(), "{seeds:?}");
    }

    /// Σ v·w mod p the slow way: i128 products reduced one by one.
    fn reference(v: &[i64], w: &[u64]) -> u64 {
        let p = P61 as i128;
        let s = v
            .iter()
            .zip(w)
            .fold(0i128, |acc, (&x, &y)| (acc + x as i128 * y as i128 % p) % p);
        ((s % p + p) % p) as u64
    }

    #[test]
    fn lane_sums_match_a_plain_loop_at_every_remainder() {
        for len in 0..=19 {
            let x: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
            let y: Vec<f64> = (0..len).map(|i| 1.0 - i as f64 * 0.25).collect();
            let plain: f64 = x.iter().zip(&y).map(|(&a, &b)| a as f64 * b).sum();
            let plain_abs: f64 = x.iter().zip(&y).map(|(&a, &b)| (a as f64).abs() * b).sum();
            let plain_sum: f64 = x.iter().map(|&a| (a as f64).abs()).sum();
            // Exact: every value is a small multiple of 1/8, so no sum rounds.
            assert_eq!(dot(&x, &y), plain, "{len}");
            assert_eq!(abs_dot(&x, &y), plain_abs, "{len}");
            assert_eq!(abs_sum(&x), plain_sum, "{len}");
        }
    }

    #[test]
    fn shifted_dot_matches_reference_at_the_extremes() {
        let w: Vec<u64> = vec![P61 - 1, 0, 1, P61 - 1, 12345, P61 / 2, P61 - 1];
        let cases: [&[i32]; 4] = [
            &[i32::MIN, i32::MAX, -1, i32::MIN, 0, 7, i32::MIN],
            &[i32::MAX; 7],
            &[0; 7],
            &[-5, 3, -1, 2, -128, 127, 1],
        ];
        for v in cases {
            let wide: Vec<i64> = v.iter().map(|&x| x as i64).collect();
            assert_eq!(
                signed_dot_mod_p(v, &w, sum_mod_p(&w)),
                reference(&wide, &w),
                "{v:?}"
            );
        }
        let v8: Vec<i8> = vec![-128, 127, -1, -128, 0, 1, 127];
        let wide: Vec<i64> = v8.iter().map(|&x| x as i64).collect();
        assert_eq!(
            signed_dot_mod_p(&v8, &w, sum_mod_p(&w)),
            reference(&wide, &w)
        );
    }
}
