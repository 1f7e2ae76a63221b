//! Fixed-width unsigned integers as little-endian `u64` limbs: the exact sums of the f32
//! rule and both sides of its comparison flow through here. Only what the rule needs: add
//! a shifted `u64`, add, subtract the smaller from the larger, multiply by a `u64`,
//! compare. Every operation reports a carry out of the top limb instead of dropping it.

use core::cmp::Ordering;

/// Width of the f32 rule's comparison: 640 bits (see [`crate::dot_f32`] for the ranges).
pub const WIDE_LIMBS: usize = 10;
pub type Wide = [u64; WIDE_LIMBS];

/// `acc += value * 2^shift`; `false` if a carry would leave the top limb (then `acc` holds
/// the sum modulo 2^(64 N)).
#[inline]
pub fn add_shifted<const N: usize>(acc: &mut [u64; N], value: u64, shift: u32) -> bool {
    let limb = (shift / 64) as usize;
    let off = shift % 64;
    let lo = value << off;
    let hi = if off == 0 { 0 } else { value >> (64 - off) };
    let Some(w) = acc.get_mut(limb) else {
        return value == 0;
    };
    let (s, c) = w.overflowing_add(lo);
    *w = s;
    // hi < 2^63 (a shift by off >= 1 pushed at least one bit out of it), so hi + 1
    // cannot wrap.
    let mut carry = hi + c as u64;
    let mut i = limb + 1;
    while carry != 0 {
        let Some(w) = acc.get_mut(i) else {
            return false;
        };
        let (s, c) = w.overflowing_add(carry);
        *w = s;
        carry = c as u64;
        i += 1;
    }
    true
}

/// Zero-extends `a` to `M >= N` limbs (limbs past `M` are dropped if `M < N`).
pub fn widen<const N: usize, const M: usize>(a: &[u64; N]) -> [u64; M] {
    let mut out = [0u64; M];
    for (o, x) in out.iter_mut().zip(a) {
        *o = *x;
    }
    out
}

/// `a + b`, `None` on a carry out of the top limb.
pub fn add<const N: usize>(a: &[u64; N], b: &[u64; N]) -> Option<[u64; N]> {
    let mut out = [0u64; N];
    let mut carry = false;
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        let (s, c1) = x.overflowing_add(*y);
        let (s, c2) = s.overflowing_add(carry as u64);
        *o = s;
        carry = c1 | c2;
    }
    (!carry).then_some(out)
}

/// `|a - b|`.
pub fn abs_diff<const N: usize>(a: &[u64; N], b: &[u64; N]) -> [u64; N] {
    let (hi, lo) = match cmp(a, b) {
        Ordering::Less => (b, a),
        _ => (a, b),
    };
    let mut out = [0u64; N];
    let mut borrow = false;
    for ((o, x), y) in out.iter_mut().zip(hi).zip(lo) {
        let (d, b1) = x.overflowing_sub(*y);
        let (d, b2) = d.overflowing_sub(borrow as u64);
        *o = d;
        borrow = b1 | b2;
    }
    out
}

/// The 128-bit product of two u64 as (low, high) words, in u64 arithmetic only: SBF has
/// no 128-bit multiply, and upstream LLVM's BPF backend rejects the `__multi3` libcall.
#[inline]
fn mul_wide(x: u64, y: u64) -> (u64, u64) {
    const LO: u64 = 0xffff_ffff;
    let (x0, x1, y0, y1) = (x & LO, x >> 32, y & LO, y >> 32);
    let (p00, p01, p10, p11) = (x0 * y0, x0 * y1, x1 * y0, x1 * y1);
    // Each term < 2^32, so the sum < 3 * 2^32.
    let mid = (p00 >> 32) + (p01 & LO) + (p10 & LO);
    let lo = (p00 & LO) | (mid << 32);
    let hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    (lo, hi)
}

/// `a * m`, `None` if the product needs more than `N` limbs.
pub fn mul_u64<const N: usize>(a: &[u64; N], m: u64) -> Option<[u64; N]> {
    let mut out = [0u64; N];
    let mut carry = 0u64;
    for (o, x) in out.iter_mut().zip(a) {
        let (lo, hi) = mul_wide(*x, m);
        let (lo, c) = lo.overflowing_add(carry);
        *o = lo;
        // hi <= 2^64 - 2 (the product is at most (2^64 - 1)^2), so hi + 1 cannot wrap.
        carry = hi + c as u64;
    }
    (carry == 0).then_some(out)
}

pub fn cmp<const N: usize>(a: &[u64; N], b: &[u64; N]) -> Ordering {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        match x.cmp(y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_u128(a: &[u64; 3]) -> Option<u128> {
        (a[2] == 0).then(|| a[0] as u128 | (a[1] as u128) << 64)
    }

    #[test]
    fn operations_agree_with_u128() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state
        };
        for _ in 0..5000 {
            // Operands below 2^126 so every exact result fits a u128.
            let x = next() >> (1 + next() % 63);
            let shift = (next() % 63) as u32;
            let y = ((next() as u128) << 64 | next() as u128) >> (2 + next() % 120);
            let mut acc = [y as u64, (y >> 64) as u64, 0];
            assert!(add_shifted(&mut acc, x, shift));
            assert_eq!(to_u128(&acc), Some(y + ((x as u128) << shift)));

            let (a, b) = ([next(), next() >> 2, 0], [next(), next() >> 2, 0]);
            let (ua, ub) = (to_u128(&a).unwrap(), to_u128(&b).unwrap());
            assert_eq!(to_u128(&abs_diff(&a, &b)), Some(ua.abs_diff(ub)));
            assert_eq!(cmp(&a, &b), ua.cmp(&ub));
            assert_eq!(add(&a, &b).and_then(|s| to_u128(&s)), Some(ua + ub));
            let m = next() >> 40;
            let small = [a[0], a[1] >> 30, 0];
            assert_eq!(
                mul_u64(&small, m).and_then(|r| to_u128(&r)),
                Some(to_u128(&small).unwrap() * m as u128)
            );
        }
    }

    #[test]
    fn wide_multiply_agrees_with_u128() {
        let cases = [
            0,
            1,
            2,
            0xffff_ffff,
            1 << 32,
            u64::MAX - 1,
            u64::MAX,
            0x1234_5678_9abc_def0,
        ];
        for x in cases {
            for y in cases {
                let (lo, hi) = mul_wide(x, y);
                assert_eq!((hi as u128) << 64 | lo as u128, x as u128 * y as u128);
            }
        }
        assert_eq!(
            mul_u64(&[u64::MAX, u64::MAX, 0], u64::MAX),
            Some([1, u64::MAX, u64::MAX - 1])
        );
    }

    #[test]
    fn carries_out_of_the_top_limb_are_reported() {
        let mut acc = [u64::MAX; 2];
        assert!(!add_shifted(&mut acc, 1, 0));
        assert!(!add_shifted(&mut [0u64; 2], 1, 128));
        assert!(add_shifted(&mut [0u64; 2], 0, 128));
        assert_eq!(add(&[u64::MAX; 2], &[1, 0]), None);
        assert_eq!(mul_u64(&[0, 1u64 << 63], 2), None);
        assert_eq!(add(&[u64::MAX, 0], &[1, 0]), Some([0, 1]));
    }
}
