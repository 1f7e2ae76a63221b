//! Deterministic elementary functions: an f32 goes in, an f32 comes out with the same
//! bits on every machine. The platform's `expf`/`logf` (libm on the CPU, `expf` or
//! `__expf` in CUDA) differ from each other in the last bits, so the engine never calls
//! them: [`exp`] and [`ln`] are written out here with IEEE add, multiply and divide
//! only (each correctly rounded on both sides, none fused: Rust does not contract
//! `a * b + c` and the CUDA kernels spell every operation as an `_rn` intrinsic), a
//! `floor`, and bit manipulation. [`cuda_exp_source`] emits the same routine as CUDA C
//! with the constants written as bit patterns taken from the Rust constants, so the two
//! cannot drift apart.
//!
//! Accuracy (not needed for reproducibility, only for training to work): [`exp`] is
//! within a few ulp on its range, inputs clamped to [-80, 80] so `2^k` and the result
//! stay normal; [`ln`] is within a few ulp for positive normal and subnormal inputs.

/// Inputs below this give `exp(-80)`: keeps `2^k` normal (no subnormal handling
/// differences between devices) and is far below anything softmax distinguishes.
pub const EXP_MIN: f32 = -80.0;
/// Inputs above this give `exp(80)`, well inside f32's range.
pub const EXP_MAX: f32 = 80.0;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `k · LN2_HI` is exact for |k| < 2^9 (Cody and Waite).
const LN2_HI: f32 = f32::from_bits(0x3f31_7200); // 0.693145751953125
const LN2_LO: f32 = f32::from_bits(0x35bf_be8e); // 1.4286068e-6
/// Taylor coefficients 1/n! for n = 2..=7 (1/0! and 1/1! are 1), rounded once at
/// compile time; on |r| <= ln2/2 the truncation error is below 2^-26.
const EXP_C: [f32; 6] = [
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
];

/// e^x, deterministic (see the module doc). NaN in, NaN out.
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let x = x.clamp(EXP_MIN, EXP_MAX);
    // x = k·ln2 + r, |r| <= ln2/2; e^x = 2^k · e^r.
    let kf = (x * LOG2E + 0.5).floor();
    let k = kf as i32;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let mut p = EXP_C[5];
    for &c in EXP_C[..5].iter().rev() {
        p = p * r + c;
    }
    // 1 + r + r²·p
    let p = (p * r) * r + r + 1.0;
    p * f32::from_bits(((k + 127) as u32) << 23)
}

/// The natural logarithm, deterministic (see the module doc): `ln(0) = -inf`, negative
/// or NaN inputs give NaN, `ln(inf) = inf`.
pub fn ln(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return x;
    }
    // Subnormals are scaled into the normal range first (exact).
    let (x, bias) = if x < f32::MIN_POSITIVE {
        (x * f32::from_bits(0x4b00_0000), 23) // 2^23
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127 - bias;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // [1, 2)
    if m > std::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln m = 2·atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut t = 1.0 / 11.0;
    for c in [1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0f32] {
        t = t * s2 + c;
    }
    let ln_m = 2.0 * s * t;
    let ef = e as f32;
    ef * LN2_HI + (ef * LN2_LO + ln_m)
}

fn hex(v: f32) -> String {
    format!("__int_as_float(0x{:08x})", v.to_bits())
}

/// [`exp`] as a CUDA device function `gm_exp`, operation for operation.
pub fn cuda_exp_source() -> String {
    format!(
        r#"
__device__ __forceinline__ float gm_exp(float x) {{
    if (x != x) return x;
    x = x < {min} ? {min} : (x > {max} ? {max} : x);
    const float kf = floorf(__fadd_rn(__fmul_rn(x, {log2e}), 0.5f));
    const int k = (int)kf;
    const float r = __fsub_rn(__fsub_rn(x, __fmul_rn(kf, {hi})), __fmul_rn(kf, {lo}));
    float p = {c5};
    p = __fadd_rn(__fmul_rn(p, r), {c4});
    p = __fadd_rn(__fmul_rn(p, r), {c3});
    p = __fadd_rn(__fmul_rn(p, r), {c2});
    p = __fadd_rn(__fmul_rn(p, r), {c1});
    p = __fadd_rn(__fmul_rn(p, r), {c0});
    p = __fadd_rn(__fadd_rn(__fmul_rn(__fmul_rn(p, r), r), r), 1.0f);
    return __fmul_rn(p, __int_as_float((k + 127) << 23));
}}
"#,
        min = hex(EXP_MIN),
        max = hex(EXP_MAX),
        log2e = hex(LOG2E),
        hi = hex(LN2_HI),
        lo = hex(LN2_LO),
        c0 = hex(EXP_C[0]),
        c1 = hex(EXP_C[1]),
        c2 = hex(EXP_C[2]),
        c3 = hex(EXP_C[3]),
        c4 = hex(EXP_C[4]),
        c5 = hex(EXP_C[5]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error against f64's exp/ln over a sweep: proves the routines are
    /// accurate enough to train with (bit-reproducibility is what the tests in
    /// tests/train.rs prove).
    #[test]
    fn exp_and_ln_are_within_a_few_ulp() {
        let mut worst_exp = 0f64;
        let mut x = -80.0f32;
        while x <= 80.0 {
            let want = (x as f64).exp();
            worst_exp = worst_exp.max(((exp(x) as f64) - want).abs() / want);
            x += 0.0137;
        }
        assert!(worst_exp < 4.0 * f32::EPSILON as f64, "exp: {worst_exp:e}");
        let mut worst_ln = 0f64;
        for i in 1..20_000u32 {
            let x = i as f32 * 0.001 + 1e-30 * i as f32;
            let want = (x as f64).ln();
            let err = ((ln(x) as f64) - want).abs() / want.abs().max(1.0);
            worst_ln = worst_ln.max(err);
        }
        assert!(worst_ln < 4.0 * f32::EPSILON as f64, "ln: {worst_ln:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(exp(-1000.0), exp(EXP_MIN));
        assert!(exp(f32::NAN).is_nan() && ln(-1.0).is_nan());
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        let tiny = f32::from_bits(1); // the smallest subnormal, 2^-149
        assert!(((ln(tiny) as f64) - (-149.0 * std::f64::consts::LN_2)).abs() < 1e-4);
    }
}
