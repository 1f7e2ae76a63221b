//! The gemm-f32 ruling: equal-length chunks of a row of A and a column of B (f32,
//! little-endian) go in over as many transactions as the compute budget needs; the exact
//! dot product lives in a program account between them ([`F32Accumulator::to_bytes`]);
//! at the end [`F32Accumulator::finish`] decides, in integers only, whether the claimed
//! f32 element can be the result of an honest f32 computation.
//!
//! ## Exact accumulation
//! Every finite f32 is `±M · 2^(s − 149)` with integers `M < 2^24` and `0 <= s <= 253`
//! (`s = max(E, 1) − 1` for the biased exponent `E`), so every product `a_t b_t` is an
//! integer `< 2^48` times `2^(s_a + s_b − 298)`, `s_a + s_b <= 506`. The accumulator adds
//! these integers exactly in units of `2^−298`, positive and negative products in two
//! unsigned 576-bit sums `P` and `N` (9 limbs): at most `MAX_K = 2^21` products below
//! `2^554` each stay below `2^575`. Then the exact dot product is `X = P − N` and
//! `S = sum_t |a_t b_t| = P + N`, both exact. No float is ever computed.
//!
//! ## The rule
//! With `u = 2^−24` (binary32's unit roundoff) and `gamma_k = k u / (1 − k u)`, the claim
//! `c` is **wrong** iff
//!
//! ```text
//!     |c − X| > gamma_k · S + k · 2^−124
//! ```
//!
//! decided exactly as `|c − X| · (2^24 − k) > k · S + k (2^24 − k) · 2^−124` over 640-bit
//! integers in units of `2^−298` (`c` and `X` are exact there; `k <= 2^21 < 2^24`).
//!
//! Why an honest result always meets it: an honest f32 dot product forms each product
//! and then sums them in *some* order (sequential, pairwise, blocked, split-k: any binary
//! tree over the k products), rounding each operation to nearest, with or without fusing
//! a product into an addition (FMA). In the standard model each operation returns
//! `op(x, y)(1 + delta) + eta` with `|delta| <= u`, and `eta` nonzero only when the result
//! is below `2^−126` (the normal range), where `|eta| < 2^−126` whether the hardware
//! rounds into subnormals or flushes the result to zero. Along the path from product t to
//! the root there are at most k roundings (its product and at most k − 1 additions), so
//! the computed value is `sum_t a_t b_t (1 + theta_t) + sum_ops eta_op (1 + theta'_op)`
//! with `|theta| <= gamma_k` (Higham, *Accuracy and Stability of Numerical Algorithms*,
//! Lemma 3.1 and section 3.1). There are at most `2k − 1` operations and, for
//! `k u <= 1/2`, `1 + gamma_k <= 2`, so the error is at most
//! `gamma_k S + (2k − 1) · 2^−126 · 2 < gamma_k S + k · 2^−124`. Summing in a wider type and
//! rounding once (f64, then f32) is more accurate still and also inside the bound. The
//! rule therefore never calls an honest IEEE binary32 result wrong; results of *other*
//! arithmetic (TF32 tensor cores, inputs flushed to zero on load, Strassen-like
//! schemes) are not honest f32 GEMM and may be.
//!
//! ## NaN and infinity
//! - A NaN or ±Inf input makes every honest result NaN or ±Inf (any product with it is
//!   non-finite, and so is any sum that includes one), so a *finite* claim is wrong and
//!   a non-finite one is upheld: the sign or NaN-ness can depend on the order when finite
//!   products also overflow, and the rule errs on the provider's side.
//! - With finite inputs, every intermediate of an honest computation is below
//!   `(1 + gamma_k) S + k · 2^−124` in magnitude (same model), and round-to-nearest
//!   overflows only at `T = 2^128 − 2^103`. If that bound is below `T` no honest order can
//!   overflow and a NaN/Inf claim is wrong; otherwise some order might, and a non-finite
//!   claim is upheld. A finite claim is always judged by the bound (an honest finite
//!   result had no overflow, so the model holds for it).

use crate::dot_i8::check_chunk;
use crate::error::RulingError;
use crate::wide::{self, Wide, WIDE_LIMBS};
use crate::MAX_K;
use core::cmp::Ordering;

/// Limbs of each exact sum: 576 bits, enough for `MAX_K` products below `2^554`.
pub const ACC_LIMBS: usize = 9;

/// `2^24`, i.e. `1 / u`.
const INV_U: u64 = 1 << 24;
/// The absolute term `2^−124` in units of `2^−298`.
const ETA_SHIFT: u32 = 298 - 124;
/// Round-to-nearest overflows at `T = 2^128 − 2^103 = (2^25 − 1) · 2^103`, i.e.
/// `(2^25 − 1) · 2^401` in units of `2^−298`.
const OVERFLOW_MANTISSA: u64 = (1 << 25) - 1;
const OVERFLOW_SHIFT: u32 = 103 + 298;

/// A finite f32 as `(negative, M, s)` with value `±M · 2^(s − 149)`; `None` for NaN/Inf.
#[inline]
fn decode(bits: u32) -> Option<(bool, u32, u32)> {
    let negative = bits >> 31 != 0;
    let biased = (bits >> 23) & 0xff;
    let fraction = bits & 0x7f_ffff;
    match biased {
        0xff => None,
        0 => Some((negative, fraction, 0)),
        e => Some((negative, fraction | 1 << 23, e - 1)),
    }
}

/// State of a dot product in progress: elements absorbed, whether any was NaN/Inf, and
/// the exact sums of the positive and the negative products.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct F32Accumulator {
    /// Index of the next element to absorb (= elements absorbed).
    pub next_index: u32,
    /// Some absorbed element of A or B was NaN or ±Inf.
    pub nonfinite: bool,
    /// Sum of |a_t b_t| over the positive products, in units of 2^−298.
    pub pos: [u64; ACC_LIMBS],
    /// Sum of |a_t b_t| over the negative products, in units of 2^−298.
    pub neg: [u64; ACC_LIMBS],
}

/// Outcome of [`F32Accumulator::finish`]; [`F32Verdict::is_wrong`] is the ruling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F32Verdict {
    /// Finite claim within the bound of the exact value.
    WithinBound,
    /// Finite claim farther from the exact value than any honest order can be.
    BeyondBound,
    /// NaN/Inf claimed where an honest result may be non-finite (a NaN/Inf input, or
    /// magnitudes at which some summation order overflows).
    NonFiniteAllowed,
    /// NaN/Inf claimed where every honest order gives a finite value.
    NonFiniteClaimed,
    /// Finite claim although an input is NaN/Inf, which makes every honest result
    /// non-finite.
    FiniteWithNonFiniteInput,
}

impl F32Verdict {
    pub fn is_wrong(self) -> bool {
        matches!(
            self,
            F32Verdict::BeyondBound
                | F32Verdict::NonFiniteClaimed
                | F32Verdict::FiniteWithNonFiniteInput
        )
    }
}

impl F32Accumulator {
    /// Bytes of [`Self::to_bytes`]: next_index (u32 LE), nonfinite (u8), pos and neg
    /// (9 u64 LE limbs each, least significant first).
    pub const ENCODED_LEN: usize = 4 + 1 + 2 * 8 * ACC_LIMBS;

    pub const fn new() -> Self {
        F32Accumulator {
            next_index: 0,
            nonfinite: false,
            pos: [0; ACC_LIMBS],
            neg: [0; ACC_LIMBS],
        }
    }

    /// Adds the exact products of the next `a.len() / 4` elements (f32 LE bytes).
    ///
    /// Always inlined: with `self`, two slices and the returned `Result` it would take six
    /// arguments, and upstream LLVM's BPF backend passes at most five.
    #[inline(always)]
    pub fn absorb(&mut self, a: &[u8], b: &[u8]) -> Result<(), RulingError> {
        let len = check_chunk(self.next_index, a, b, 4)?;
        for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
            self.add_product(
                u32::from_le_bytes([x[0], x[1], x[2], x[3]]),
                u32::from_le_bytes([y[0], y[1], y[2], y[3]]),
            );
        }
        self.next_index += len;
        Ok(())
    }

    #[inline(always)]
    fn add_product(&mut self, x: u32, y: u32) {
        let (Some((nx, mx, sx)), Some((ny, my, sy))) = (decode(x), decode(y)) else {
            self.nonfinite = true;
            return;
        };
        if mx == 0 || my == 0 {
            return;
        }
        let sum = if nx != ny {
            &mut self.neg
        } else {
            &mut self.pos
        };
        // Cannot carry out of the top limb: at most MAX_K products below 2^554.
        wide::add_shifted(sum, mx as u64 * my as u64, sx + sy);
    }

    /// The exact dot product: `(negative, |X|)` in units of `2^−298`.
    pub fn exact(&self) -> (bool, Wide) {
        let (p, n): (Wide, Wide) = (wide::widen(&self.pos), wide::widen(&self.neg));
        (wide::cmp(&p, &n) == Ordering::Less, wide::abs_diff(&p, &n))
    }

    /// `S = sum_t |a_t b_t|` in units of `2^−298`.
    pub fn scale(&self) -> Result<Wide, RulingError> {
        wide::add(&wide::widen(&self.pos), &wide::widen(&self.neg)).ok_or(RulingError::WideOverflow)
    }

    /// Judges the claimed element (its f32 bits) against the exact dot product of all
    /// `k` elements, by the rule in the module documentation.
    pub fn finish(&self, k: u32, claimed_bits: u32) -> Result<F32Verdict, RulingError> {
        if k > MAX_K {
            return Err(RulingError::KTooLarge { k, max: MAX_K });
        }
        if self.next_index != k {
            return Err(RulingError::Incomplete {
                absorbed: self.next_index,
                k,
            });
        }
        let k64 = k as u64;
        let one_minus_ku = INV_U - k64; // (1 − k u) · 2^24 > 0 since k < 2^24
                                        // k (2^24 − k) · 2^−124: the absolute term, scaled like the others by (2^24 − k).
        let mut eta: Wide = [0; WIDE_LIMBS];
        wide::add_shifted(&mut eta, k64 * one_minus_ku, ETA_SHIFT);
        let s = self.scale()?;
        let claimed = decode(claimed_bits);
        if self.nonfinite {
            return Ok(match claimed {
                Some(_) => F32Verdict::FiniteWithNonFiniteInput,
                None => F32Verdict::NonFiniteAllowed,
            });
        }
        let Some((c_negative, c_mantissa, c_shift)) = claimed else {
            // Largest honest intermediate, times (2^24 − k): S 2^24 + k (2^24 − k) 2^−124,
            // against T (2^24 − k).
            let reach = wide::mul_u64(&s, INV_U)
                .and_then(|s24| wide::add(&s24, &eta))
                .ok_or(RulingError::WideOverflow)?;
            let mut limit: Wide = [0; WIDE_LIMBS];
            wide::add_shifted(&mut limit, OVERFLOW_MANTISSA * one_minus_ku, OVERFLOW_SHIFT);
            return Ok(if wide::cmp(&reach, &limit) == Ordering::Less {
                F32Verdict::NonFiniteClaimed
            } else {
                F32Verdict::NonFiniteAllowed
            });
        };
        // c in units of 2^−298: M · 2^(s + 149).
        let mut c: Wide = [0; WIDE_LIMBS];
        wide::add_shifted(&mut c, c_mantissa as u64, c_shift + 149);
        // X − c = P − (N + c) if c >= 0, (P + |c|) − N if c < 0.
        let (mut p, mut n): (Wide, Wide) = (wide::widen(&self.pos), wide::widen(&self.neg));
        let side = if c_negative { &mut p } else { &mut n };
        *side = wide::add(side, &c).ok_or(RulingError::WideOverflow)?;
        let distance = wide::abs_diff(&p, &n);
        let lhs = wide::mul_u64(&distance, one_minus_ku).ok_or(RulingError::WideOverflow)?;
        let rhs = wide::mul_u64(&s, k64)
            .and_then(|ks| wide::add(&ks, &eta))
            .ok_or(RulingError::WideOverflow)?;
        Ok(if wide::cmp(&lhs, &rhs) == Ordering::Greater {
            F32Verdict::BeyondBound
        } else {
            F32Verdict::WithinBound
        })
    }

    /// The state as a program account stores it.
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..4].copy_from_slice(&self.next_index.to_le_bytes());
        out[4] = self.nonfinite as u8;
        let limbs = self.pos.iter().chain(&self.neg);
        for (dst, limb) in out[5..].chunks_exact_mut(8).zip(limbs) {
            dst.copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::ENCODED_LEN]) -> Self {
        let mut acc = F32Accumulator::new();
        let mut next = [0u8; 4];
        next.copy_from_slice(&bytes[..4]);
        acc.next_index = u32::from_le_bytes(next);
        acc.nonfinite = bytes[4] != 0;
        let limbs = acc.pos.iter_mut().chain(acc.neg.iter_mut());
        for (limb, src) in limbs.zip(bytes[5..].chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(src);
            *limb = u64::from_le_bytes(w);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[f32]) -> std::vec::Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn acc_of(a: &[f32], b: &[f32]) -> F32Accumulator {
        let mut acc = F32Accumulator::new();
        acc.absorb(&bytes(a), &bytes(b)).unwrap();
        acc
    }

    #[test]
    fn decode_covers_zero_subnormal_normal_and_nonfinite() {
        assert_eq!(decode(0.0f32.to_bits()), Some((false, 0, 0)));
        assert_eq!(decode((-0.0f32).to_bits()), Some((true, 0, 0)));
        // Smallest subnormal 2^−149 = 1 · 2^(0 − 149).
        assert_eq!(decode(1), Some((false, 1, 0)));
        // 1.0 = 2^23 · 2^(126 − 149).
        assert_eq!(decode(1.0f32.to_bits()), Some((false, 1 << 23, 126)));
        assert_eq!(
            decode(f32::MAX.to_bits()),
            Some((false, (1 << 24) - 1, 253))
        );
        assert_eq!(decode(f32::INFINITY.to_bits()), None);
        assert_eq!(decode(f32::NAN.to_bits()), None);
    }

    #[test]
    fn exact_value_of_a_cancelling_sum_is_exact() {
        // 2^100 · 1 + 2^−100 · 1 − 2^100 · 1: f32 and f64 both lose the middle term.
        let (big, tiny) = (2f32.powi(100), 2f32.powi(-100));
        let acc = acc_of(&[big, tiny, big], &[1.0, 1.0, -1.0]);
        let (negative, x) = acc.exact();
        assert!(!negative);
        // 2^−100 in units of 2^−298 is 2^198.
        let mut want: Wide = [0; WIDE_LIMBS];
        wide::add_shifted(&mut want, 1, 198);
        assert_eq!(x, want);
        // The naive f32 result is 0, which is within gamma_3 · S (S ~ 2^101).
        assert_eq!(acc.finish(3, 0.0f32.to_bits()), Ok(F32Verdict::WithinBound));
    }

    #[test]
    fn extreme_magnitudes_fit_the_accumulator() {
        let m = f32::MAX;
        let a = [m; 64];
        let acc = acc_of(&a, &a);
        assert_eq!(acc.next_index, 64);
        assert!(acc.scale().is_ok());
        // The honest result overflows; Inf is upheld, a finite claim is far outside.
        assert_eq!(
            acc.finish(64, f32::INFINITY.to_bits()),
            Ok(F32Verdict::NonFiniteAllowed)
        );
        assert_eq!(acc.finish(64, m.to_bits()), Ok(F32Verdict::BeyondBound));
        let acc = acc_of(&[f32::from_bits(1)], &[f32::from_bits(1)]);
        // 2^−298 exactly: one unit.
        assert_eq!(acc.pos[0], 1);
        assert_eq!(acc.finish(1, 0.0f32.to_bits()), Ok(F32Verdict::WithinBound));
    }

    #[test]
    fn bytes_round_trip() {
        let acc = acc_of(&[1.5, -2.25e-30, f32::NAN], &[3.0e20, 7.0, 1.0]);
        assert!(acc.nonfinite);
        assert_eq!(F32Accumulator::from_bytes(&acc.to_bytes()), acc);
    }

    #[test]
    fn nonfinite_inputs_and_claims() {
        let acc = acc_of(&[1.0, f32::INFINITY], &[2.0, 0.0]);
        assert_eq!(
            acc.finish(2, f32::NAN.to_bits()),
            Ok(F32Verdict::NonFiniteAllowed)
        );
        assert_eq!(
            acc.finish(2, 2.0f32.to_bits()),
            Ok(F32Verdict::FiniteWithNonFiniteInput)
        );
        let acc = acc_of(&[1.0, 3.0], &[2.0, 0.5]);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(
                acc.finish(2, bad.to_bits()),
                Ok(F32Verdict::NonFiniteClaimed)
            );
        }
    }

    #[test]
    fn finish_checks_k() {
        let acc = acc_of(&[1.0], &[1.0]);
        assert_eq!(
            acc.finish(2, 1.0f32.to_bits()),
            Err(RulingError::Incomplete { absorbed: 1, k: 2 })
        );
        assert_eq!(
            acc.finish(MAX_K + 1, 1.0f32.to_bits()),
            Err(RulingError::KTooLarge {
                k: MAX_K + 1,
                max: MAX_K
            })
        );
        let mut acc = F32Accumulator::new();
        assert_eq!(
            acc.absorb(&[0; 6], &[0; 6]),
            Err(RulingError::ChunkNotWhole {
                len: 6,
                elem_bytes: 4
            })
        );
    }
}
