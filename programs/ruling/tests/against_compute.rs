//! The ruling math against gpu-market-compute, the code providers and auditors run:
//! Merkle paths built by `compute::commit` verify here and tampered ones fail; honest
//! GEMM results (compute's CPU GEMMs and several other summation orders, with and
//! without FMA) are never judged wrong; results moved beyond the bound are.

use gpu_market_compute::commit::{self, ElementProof};
use gpu_market_compute::gemm;
use gpu_market_compute::merkle::{self as cmerkle, MerkleTree};
use gpu_market_compute::spec::{self, SplitMix64, Workload};
use gpu_market_ruling::hash::Sha2;
use gpu_market_ruling::{
    check_element_paths, merkle, ElementPaths, F32Accumulator, F32Verdict, GemmDims, GemmRoots,
    I8Accumulator, I8Verdict, RulingError, Tree, MAX_K,
};

fn roots_of(workload: &Workload, a: &[u8], b: &[u8], c: &[u8]) -> GemmRoots {
    let inputs = commit::gemm_input_roots(workload, a, b).unwrap();
    GemmRoots {
        a_root: inputs.a_root.0,
        b_root: inputs.b_root.0,
        c_root: commit::result_root(workload, c).unwrap().0,
    }
}

fn paths_of(p: &ElementProof) -> ElementPaths<'_> {
    ElementPaths {
        row: p.row,
        col: p.col,
        a_row: &p.a_row,
        a_path: &p.a_proof,
        b_col: &p.b_col,
        b_path: &p.b_proof,
        c_row: &p.c_row,
        c_path: &p.c_proof,
    }
}

/// Random chunk boundaries over 0..k, as a dispute's transactions would cut the row.
fn chunks(rng: &mut SplitMix64, k: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < k {
        let len = 1 + (rng.next_u64() as usize % k.max(1));
        out.push((at, (at + len).min(k)));
        at += len;
    }
    out
}

#[test]
fn max_k_is_the_largest_gemm_dimension() {
    assert_eq!(MAX_K, spec::MAX_DIM);
}

#[test]
fn every_path_of_compute_trees_verifies_and_matches_its_length() {
    for count in 1..=40usize {
        let leaves: Vec<Vec<u8>> = (0..count)
            .map(|i| format!("leaf-{i}").into_bytes())
            .collect();
        let tree = MerkleTree::from_leaves(leaves.iter().map(|l| l.as_slice())).unwrap();
        let root = tree.root();
        for (i, leaf) in leaves.iter().enumerate() {
            let path = tree.proof(i).unwrap();
            assert_eq!(merkle::path_len(count as u64, i as u64), path.len());
            assert_eq!(
                merkle::path_len(count as u64, i as u64),
                cmerkle::proof_len(count as u64, i as u64)
            );
            assert!(merkle::verify::<Sha2>(
                &root,
                count as u64,
                i as u64,
                leaf,
                &path
            ));
            assert!(merkle::verify_hash::<Sha2>(
                &root,
                count as u64,
                i as u64,
                &cmerkle::leaf_hash(leaf),
                &path
            ));
            // Attack: the leaf and path presented as another index of the same tree.
            if count > 1 {
                let other = (i as u64 + 1) % count as u64;
                assert!(!merkle::verify::<Sha2>(
                    &root,
                    count as u64,
                    other,
                    leaf,
                    &path
                ));
            }
            // Attack: a flipped bit in the leaf or in any sibling.
            let mut forged = leaf.clone();
            forged[0] ^= 1;
            assert!(!merkle::verify::<Sha2>(
                &root,
                count as u64,
                i as u64,
                &forged,
                &path
            ));
            for s in 0..path.len() {
                let mut bad = path.clone();
                bad[s][31] ^= 0x80;
                assert!(!merkle::verify::<Sha2>(
                    &root,
                    count as u64,
                    i as u64,
                    leaf,
                    &bad
                ));
            }
            // Attack: a truncated path.
            if let Some((_, shorter)) = path.split_last() {
                assert!(!merkle::verify::<Sha2>(
                    &root,
                    count as u64,
                    i as u64,
                    leaf,
                    shorter
                ));
            }
            // Attack: a path with an extra sibling appended.
            let mut longer = path.clone();
            longer.push([7; 32]);
            assert!(!merkle::verify::<Sha2>(
                &root,
                count as u64,
                i as u64,
                leaf,
                &longer
            ));
        }
    }
}

/// The root the SBF bench checks its own tree builder against (bench.mjs GOLDEN_ROOT):
/// compute's tree over the five leaves `leaf-0` .. `leaf-4`.
#[test]
fn golden_root_shared_with_the_sbf_bench() {
    let leaves: Vec<Vec<u8>> = (0..5).map(|i| format!("leaf-{i}").into_bytes()).collect();
    let tree = MerkleTree::from_leaves(leaves.iter().map(|l| l.as_slice())).unwrap();
    assert_eq!(
        hex(&tree.root()),
        "00d21829a5503145348abcf712513eacf2a274211ad83e970202bb5b6d80b286"
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn gemm_case(workload: &Workload, seed: u64) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (m, n, k) = workload.gemm_dims().unwrap();
    match workload {
        Workload::GemmI8 { .. } => {
            let a = spec::random_i8_matrix(seed, m, k);
            let b = spec::random_i8_matrix(seed + 1, k, n);
            let c = gemm::gemm_i8(
                m as usize,
                n as usize,
                k as usize,
                &gemm::i8s_from_bytes(&a),
                &gemm::i8s_from_bytes(&b),
            )
            .unwrap();
            (a, b, gemm::i32s_to_le_bytes(&c))
        }
        _ => {
            let a = spec::random_f32_matrix(seed, m, k);
            let b = spec::random_f32_matrix(seed + 1, k, n);
            let c = gemm::gemm_f32(
                m as usize,
                n as usize,
                k as usize,
                &gemm::f32s_from_le_bytes(&a),
                &gemm::f32s_from_le_bytes(&b),
            )
            .unwrap();
            (a, b, gemm::f32s_to_le_bytes(&c))
        }
    }
}

const SHAPES: [(u32, u32, u32); 6] = [
    (1, 1, 1),
    (3, 5, 7),
    (7, 3, 33),
    (13, 1, 64),
    (5, 17, 9),
    (33, 40, 3),
];

#[test]
fn element_paths_from_compute_verify_for_i8_and_f32() {
    for (seed, &(m, n, k)) in SHAPES.iter().enumerate() {
        for workload in [
            Workload::GemmI8 { m, n, k },
            Workload::GemmF32 {
                m,
                n,
                k,
                rel_tolerance: 1e-5,
            },
        ] {
            let (a, b, c) = gemm_case(&workload, seed as u64 * 10);
            let roots = roots_of(&workload, &a, &b, &c);
            let dims = GemmDims {
                m,
                n,
                k,
                elem_bytes: workload.gemm_input_elem_bytes().unwrap() as u32,
            };
            for (row, col) in [(0, 0), (m - 1, n - 1), (m / 2, n / 3)] {
                let p = commit::proof_for_element(&workload, &a, &b, &c, row, col).unwrap();
                let claimed = check_element_paths::<Sha2>(&roots, &dims, &paths_of(&p)).unwrap();
                assert_eq!(Some(claimed), p.claimed_bytes());
            }
        }
    }
}

#[test]
fn tampered_element_paths_name_the_tree_that_fails() {
    let workload = Workload::GemmI8 { m: 6, n: 5, k: 4 };
    let (a, b, c) = gemm_case(&workload, 77);
    let roots = roots_of(&workload, &a, &b, &c);
    let dims = GemmDims {
        m: 6,
        n: 5,
        k: 4,
        elem_bytes: 1,
    };
    let honest = commit::proof_for_element(&workload, &a, &b, &c, 3, 2).unwrap();
    let check = |p: &ElementProof| check_element_paths::<Sha2>(&roots, &dims, &paths_of(p));

    // Attack: the provider reveals a row of C it never committed to (its claimed
    // element changed to dodge the recomputation).
    let mut p = honest.clone();
    p.c_row[8] ^= 1;
    assert_eq!(check(&p), Err(RulingError::BadPath { tree: Tree::C }));
    // Attack: a challenger stages a row of A that is not the job's input.
    let mut p = honest.clone();
    p.a_row[0] = p.a_row[0].wrapping_add(1);
    assert_eq!(check(&p), Err(RulingError::BadPath { tree: Tree::A }));
    // A column of B with a forged sibling.
    let mut p = honest.clone();
    p.b_proof[0][0] ^= 1;
    assert_eq!(check(&p), Err(RulingError::BadPath { tree: Tree::B }));
    // Row 4's leaves and paths presented as row 3.
    let other = commit::proof_for_element(&workload, &a, &b, &c, 4, 2).unwrap();
    let mut p = other.clone();
    p.row = 3;
    assert_eq!(check(&p), Err(RulingError::BadPath { tree: Tree::A }));
    // A row of C of the wrong size (the claimed element would be read from elsewhere).
    let mut p = honest.clone();
    p.c_row.push(0);
    assert_eq!(
        check(&p),
        Err(RulingError::LeafLength {
            tree: Tree::C,
            expected: 20,
            found: 21
        })
    );
    let mut p = honest.clone();
    p.col = 5;
    assert_eq!(
        check(&p),
        Err(RulingError::ElementOutOfRange {
            row: 3,
            col: 5,
            m: 6,
            n: 5
        })
    );
    // The A root swapped for the B root.
    let swapped = GemmRoots {
        a_root: roots.b_root,
        ..roots
    };
    assert_eq!(
        check_element_paths::<Sha2>(&swapped, &dims, &paths_of(&honest)),
        Err(RulingError::BadPath { tree: Tree::A })
    );
}

#[test]
fn honest_i8_elements_are_correct_and_every_perturbation_is_wrong() {
    let mut rng = SplitMix64::new(5);
    for (seed, &(m, n, k)) in SHAPES
        .iter()
        .chain(&[(2, 3, 4096), (1, 2, 65_536)])
        .enumerate()
    {
        let workload = Workload::GemmI8 { m, n, k };
        let (a, b, c) = gemm_case(&workload, seed as u64);
        let c = gemm::i32s_from_le_bytes(&c);
        let b_cols = commit::gemm_b_columns(&b, k as usize, n as usize, 1);
        let k = k as usize;
        for row in 0..m as usize {
            for col in 0..n as usize {
                let (a_row, b_col) = (&a[row * k..(row + 1) * k], &b_cols[col * k..(col + 1) * k]);
                let mut acc = I8Accumulator::new();
                for (s, e) in chunks(&mut rng, k) {
                    // Through the account encoding, as between transactions.
                    acc = I8Accumulator::from_bytes(&acc.to_bytes());
                    acc.absorb(&a_row[s..e], &b_col[s..e]).unwrap();
                }
                let claimed = c[row * n as usize + col];
                assert_eq!(acc.finish(k as u32, claimed), Ok(I8Verdict::Correct));
                for delta in [1, -1, 1 << 20, i32::MIN] {
                    let wrong = claimed.wrapping_add(delta);
                    assert_eq!(
                        acc.finish(k as u32, wrong),
                        Ok(I8Verdict::Wrong {
                            exact: claimed as i64
                        })
                    );
                }
            }
        }
    }
}

// ---- f32 ----

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn accumulate(rng: &mut SplitMix64, a: &[f32], b: &[f32]) -> F32Accumulator {
    let (a, b) = (f32_bytes(a), f32_bytes(b));
    let mut acc = F32Accumulator::new();
    for (s, e) in chunks(rng, a.len() / 4) {
        acc = F32Accumulator::from_bytes(&acc.to_bytes());
        acc.absorb(&a[s * 4..e * 4], &b[s * 4..e * 4]).unwrap();
    }
    acc
}

fn pairwise(p: &[f32]) -> f32 {
    match p.len() {
        0 => 0.0,
        1 => p[0],
        n => pairwise(&p[..n / 2]) + pairwise(&p[n / 2..]),
    }
}

/// The element computed in several honest orders: sequential, reversed, pairwise, eight
/// interleaved lanes (SIMD/warp style), an FMA chain, FMA over lanes, and f64 then
/// rounded once.
fn honest_orders(a: &[f32], b: &[f32]) -> Vec<(&'static str, f32)> {
    let products: Vec<f32> = a.iter().zip(b).map(|(x, y)| x * y).collect();
    let sequential = products.iter().fold(0f32, |s, p| s + p);
    let reversed = products.iter().rev().fold(0f32, |s, p| s + p);
    let mut lanes = [0f32; 8];
    let mut fma_lanes = [0f32; 8];
    for (t, (x, y)) in a.iter().zip(b).enumerate() {
        lanes[t % 8] += x * y;
        fma_lanes[t % 8] = x.mul_add(*y, fma_lanes[t % 8]);
    }
    let fma = a.iter().zip(b).fold(0f32, |s, (x, y)| x.mul_add(*y, s));
    let wide = a
        .iter()
        .zip(b)
        .map(|(x, y)| *x as f64 * *y as f64)
        .sum::<f64>() as f32;
    vec![
        ("sequential", sequential),
        ("reversed", reversed),
        ("pairwise", pairwise(&products)),
        ("8 lanes", pairwise(&lanes)),
        ("fma chain", fma),
        ("fma 8 lanes", pairwise(&fma_lanes)),
        ("f64 rounded", wide),
    ]
}

/// (exact value, gamma_k S + k 2^-124), both in f64: approximations good to ~1e-15
/// relative, used only to pick claims well inside or well outside the bound.
fn approx_bound(a: &[f32], b: &[f32]) -> (f64, f64) {
    let k = a.len() as f64;
    let u = 2f64.powi(-24);
    let x: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 * *y as f64).abs())
        .sum();
    (x, k * u / (1.0 - k * u) * s + k * 2f64.powi(-124))
}

/// Random f32 vectors of length k in one of several shapes of distribution.
fn random_vectors(rng: &mut SplitMix64, k: usize, shape: u32) -> (Vec<f32>, Vec<f32>) {
    let uniform = |rng: &mut SplitMix64| (rng.next_u64() >> 40) as f32 / (1u32 << 23) as f32 - 1.0;
    let any_exponent = |rng: &mut SplitMix64, lo: i32, hi: i32| {
        let r = rng.next_u64();
        let e = lo + (r % (hi - lo + 1) as u64) as i32;
        let m = 1.0 + ((r >> 20) & 0x7f_ffff) as f32 / (1u32 << 23) as f32;
        let v = m * 2f32.powi(e.clamp(-126, 127)) * if e < -126 { 2f32.powi(e + 126) } else { 1.0 };
        if r >> 63 == 1 {
            -v
        } else {
            v
        }
    };
    let (mut a, mut b): (Vec<f32>, Vec<f32>) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for t in 0..k {
        let (x, y) = match shape {
            // Uniform in [-1, 1), like the market's random jobs.
            0 => (uniform(rng), uniform(rng)),
            // Exponents anywhere in [-60, 60]: sums dominated by a few terms.
            1 => (any_exponent(rng, -60, 60), any_exponent(rng, -60, 60)),
            // Heavy cancellation: pairs of opposite products.
            2 => {
                let (x, y) = (uniform(rng), uniform(rng));
                if t % 2 == 0 {
                    (x, y)
                } else {
                    (a[t - 1], -b[t - 1] * (1.0 + uniform(rng) * 1e-6))
                }
            }
            // Products in the subnormal range (below 2^-126).
            3 => (any_exponent(rng, -80, -60), any_exponent(rng, -80, -60)),
            // Large magnitudes: products near 2^100.
            _ => (any_exponent(rng, 40, 55), any_exponent(rng, 40, 55)),
        };
        a.push(x);
        b.push(y);
    }
    (a, b)
}

#[test]
fn honest_f32_results_in_any_order_are_never_wrong() {
    let mut rng = SplitMix64::new(11);
    for shape in 0..5 {
        for &k in &[1usize, 2, 3, 8, 31, 256, 1000, 4096] {
            for _ in 0..6 {
                let (a, b) = random_vectors(&mut rng, k, shape);
                let acc = accumulate(&mut rng, &a, &b);
                for (order, c) in honest_orders(&a, &b) {
                    let verdict = acc.finish(k as u32, c.to_bits()).unwrap();
                    assert!(
                        !verdict.is_wrong(),
                        "{order} result {c:e} judged {verdict:?} (shape {shape}, k {k})"
                    );
                }
            }
        }
    }
}

#[test]
fn compute_cpu_gemms_are_upheld_element_by_element() {
    for (seed, &(m, n, k)) in SHAPES.iter().chain(&[(9, 12, 1500)]).enumerate() {
        let workload = Workload::GemmF32 {
            m,
            n,
            k,
            rel_tolerance: 1e-5,
        };
        let (a, b, _) = gemm_case(&workload, seed as u64 + 100);
        let (af, bf) = (gemm::f32s_from_le_bytes(&a), gemm::f32s_from_le_bytes(&b));
        let (mu, nu, ku) = (m as usize, n as usize, k as usize);
        let blocked = gemm::gemm_f32(mu, nu, ku, &af, &bf).unwrap();
        let naive = gemm::gemm_f32_naive(mu, nu, ku, &af, &bf).unwrap();
        let b_cols = commit::gemm_b_columns(&b, ku, nu, 4);
        for row in 0..mu {
            for col in 0..nu {
                let mut acc = F32Accumulator::new();
                acc.absorb(
                    &a[row * ku * 4..(row + 1) * ku * 4],
                    &b_cols[col * ku * 4..(col + 1) * ku * 4],
                )
                .unwrap();
                for c in [blocked[row * nu + col], naive[row * nu + col]] {
                    assert_eq!(acc.finish(k, c.to_bits()), Ok(F32Verdict::WithinBound));
                }
            }
        }
    }
}

#[test]
fn claims_beyond_the_bound_are_wrong_and_well_inside_it_upheld() {
    let mut rng = SplitMix64::new(23);
    for shape in 0..5 {
        for &k in &[1usize, 2, 5, 64, 777, 4096] {
            for _ in 0..6 {
                let (a, b) = random_vectors(&mut rng, k, shape);
                let acc = accumulate(&mut rng, &a, &b);
                let (x, bound) = approx_bound(&a, &b);
                // Attack: a provider shaving work returns a value off by more than any
                // honest order could be, on either side.
                for factor in [3.0f64, -3.0, 2.0, -2.0, 1e6] {
                    if k == 1 && factor.abs() < 3.0 {
                        continue; // one rounding of c itself can eat a 2x margin at k = 1
                    }
                    let c = (x + factor * bound) as f32;
                    if !c.is_finite() {
                        continue;
                    }
                    assert_eq!(
                        acc.finish(k as u32, c.to_bits()),
                        Ok(F32Verdict::BeyondBound),
                        "claim {c:e} for exact {x:e} bound {bound:e} (shape {shape}, k {k})"
                    );
                }
                if k >= 4 {
                    for factor in [0.25, -0.25] {
                        let c = (x + factor * bound) as f32;
                        assert_eq!(
                            acc.finish(k as u32, c.to_bits()),
                            Ok(F32Verdict::WithinBound)
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_bound_is_decided_exactly_at_its_edge() {
    // a = b = [1 + 2^-12, ...]: products 1 + 2^-11 + 2^-24, exact X = k (1 + 2^-11 + 2^-24).
    // With k = 2^10 the bound is gamma_k S = k/(2^24 - k) X, and X is known exactly, so
    // claims one f32 step either side of X +- bound are judged as the rule says.
    let k = 1024usize;
    let v = 1.0 + 2f32.powi(-12);
    let acc = accumulate(&mut SplitMix64::new(1), &vec![v; k], &vec![v; k]);
    let x = k as f64 * (1.0 + 2f64.powi(-11) + 2f64.powi(-24));
    let bound = k as f64 / (2f64.powi(24) - k as f64) * x + k as f64 * 2f64.powi(-124);
    let edge = x + bound; // ~1024.5626, f32 spacing there is 2^-13
                          // edge = X / (1 - 2^-14) is no f32; lo and hi are the f32s on either side of it.
    let mut lo = edge as f32;
    if lo as f64 > edge {
        lo = f32::from_bits(lo.to_bits() - 1);
    }
    let hi = f32::from_bits(lo.to_bits() + 1);
    assert!((lo as f64) < edge && edge < hi as f64);
    assert_eq!(
        acc.finish(k as u32, lo.to_bits()),
        Ok(F32Verdict::WithinBound)
    );
    assert_eq!(
        acc.finish(k as u32, hi.to_bits()),
        Ok(F32Verdict::BeyondBound)
    );
}

#[test]
fn nonfinite_claims_are_wrong_unless_an_honest_order_can_overflow() {
    let mut rng = SplitMix64::new(3);
    // Finite, modest inputs: NaN or Inf cannot come from honest arithmetic.
    let (a, b) = random_vectors(&mut rng, 100, 0);
    let acc = accumulate(&mut rng, &a, &b);
    for c in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        assert_eq!(
            acc.finish(100, c.to_bits()),
            Ok(F32Verdict::NonFiniteClaimed)
        );
    }
    // Finite inputs whose sequential sum overflows although the exact value is finite:
    // the sequential order gives Inf, which is upheld; so is the exact value.
    let big = 1.5 * 2f32.powi(127);
    let (a, b) = ([big, big, big], [1.0, 1.0, -1.0]);
    let sequential = a.iter().zip(&b).fold(0f32, |s, (x, y)| s + x * y);
    assert_eq!(sequential, f32::INFINITY);
    let acc = accumulate(&mut rng, &a, &b);
    assert_eq!(
        acc.finish(3, sequential.to_bits()),
        Ok(F32Verdict::NonFiniteAllowed)
    );
    assert_eq!(acc.finish(3, big.to_bits()), Ok(F32Verdict::WithinBound));
    // A NaN input: every honest result is non-finite, a finite claim is wrong.
    let acc = accumulate(&mut rng, &[1.0, f32::NAN], &[1.0, 1.0]);
    assert_eq!(
        acc.finish(2, 1.0f32.to_bits()),
        Ok(F32Verdict::FiniteWithNonFiniteInput)
    );
    assert_eq!(
        acc.finish(2, f32::NAN.to_bits()),
        Ok(F32Verdict::NonFiniteAllowed)
    );
}

/// The whole ruling from compute's dispute material: a provider that changed one element
/// of C and committed to the changed C passes the path checks (its root is what it
/// submitted) and loses on the recomputation; the honest element of the same job is
/// upheld. Chunks cross transactions through the account encoding.
#[test]
fn a_cheated_element_is_proven_wrong_end_to_end() {
    let mut rng = SplitMix64::new(99);
    for workload in [
        Workload::GemmI8 { m: 9, n: 6, k: 700 },
        Workload::GemmF32 {
            m: 9,
            n: 6,
            k: 700,
            rel_tolerance: 1e-5,
        },
    ] {
        let (m, n, k) = workload.gemm_dims().unwrap();
        let e = workload.gemm_input_elem_bytes().unwrap() as usize;
        let (a, b, honest) = gemm_case(&workload, 1234);
        let (row, col) = (4u32, 5u32);
        let at = (row * n + col) as usize * 4;
        let mut cheated = honest.clone();
        match workload {
            Workload::GemmI8 { .. } => {
                let v = i32::from_le_bytes(cheated[at..at + 4].try_into().unwrap());
                cheated[at..at + 4].copy_from_slice(&(v + 1).to_le_bytes());
            }
            _ => {
                let v = f32::from_le_bytes(cheated[at..at + 4].try_into().unwrap());
                cheated[at..at + 4].copy_from_slice(&(v + 0.1).to_le_bytes());
            }
        }
        let dims = GemmDims {
            m,
            n,
            k,
            elem_bytes: e as u32,
        };
        for (c, want_wrong) in [(&honest, false), (&cheated, true)] {
            let roots = roots_of(&workload, &a, &b, c);
            let p = commit::proof_for_element(&workload, &a, &b, c, row, col).unwrap();
            let claimed = check_element_paths::<Sha2>(&roots, &dims, &paths_of(&p)).unwrap();
            let wrong = match workload {
                Workload::GemmI8 { .. } => {
                    let mut acc = I8Accumulator::new();
                    for (s, t) in chunks(&mut rng, k as usize) {
                        acc = I8Accumulator::from_bytes(&acc.to_bytes());
                        acc.absorb(&p.a_row[s..t], &p.b_col[s..t]).unwrap();
                    }
                    acc.finish(k, i32::from_le_bytes(claimed))
                        .unwrap()
                        .is_wrong()
                }
                _ => {
                    let mut acc = F32Accumulator::new();
                    for (s, t) in chunks(&mut rng, k as usize) {
                        acc = F32Accumulator::from_bytes(&acc.to_bytes());
                        acc.absorb(&p.a_row[s * 4..t * 4], &p.b_col[s * 4..t * 4])
                            .unwrap();
                    }
                    acc.finish(k, u32::from_le_bytes(claimed))
                        .unwrap()
                        .is_wrong()
                }
            };
            assert_eq!(
                wrong,
                want_wrong,
                "{} cheated={want_wrong}",
                workload.kind_name()
            );
        }
    }
}
