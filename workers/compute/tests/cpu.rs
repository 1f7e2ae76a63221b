//! CPU-side tests: spec parsing and validation, Merkle trees and their fixed vectors,
//! commitments and element proofs, the CPU GEMM kernels against naive references,
//! Freivalds, and executor selection on a machine without a GPU.

use gpu_market_compute::commit::{self, CommitError, ElementVerdict, GemmCommitments};
use gpu_market_compute::cuda::{self, Detection};
use gpu_market_compute::exec::{self, CpuExecutor, DeviceKind, ExecError, Executor, Inputs};
use gpu_market_compute::gemm;
use gpu_market_compute::merkle::{self, MerkleTree};
use gpu_market_compute::spec::{
    self, random_f32_matrix, random_i8_matrix, BlobRef, Hash32, JobSpec, KernelArg, NamedBlob,
    SpecError, SplitMix64, Workload, WorkloadKind,
};
use gpu_market_compute::verify::{self, VerifyError};

// ---------------------------------------------------------------- helpers

fn blob(name: &str, len: u64) -> NamedBlob {
    NamedBlob {
        name: name.into(),
        blob: BlobRef {
            uri: format!("blob://{name}"),
            sha256: spec::sha256(name.as_bytes()),
            len,
        },
    }
}

fn gemm_i8_spec(m: u32, n: u32, k: u32) -> JobSpec {
    JobSpec {
        version: 1,
        workload: Workload::GemmI8 { m, n, k },
        inputs: vec![blob("a", (m * k) as u64), blob("b", (k * n) as u64)],
    }
}

fn kernel_workload(args: Vec<KernelArg>) -> Workload {
    Workload::CudaKernel {
        source: "extern \"C\" __global__ void add(const float* x, float* y) {}".into(),
        entry: "add".into(),
        grid: [1, 1, 1],
        block: [256, 1, 1],
        shared_mem_bytes: 0,
        args,
    }
}

fn kernel_spec() -> JobSpec {
    JobSpec {
        version: 1,
        workload: kernel_workload(vec![
            KernelArg::Input { name: "x".into() },
            KernelArg::Output {
                name: "y".into(),
                len: 1024,
            },
            KernelArg::U32(256),
            KernelArg::F32(0.5),
        ]),
        inputs: vec![blob("x", 1024)],
    }
}

fn i8s(seed: u64, r: usize, c: usize) -> Vec<i8> {
    gemm::i8s_from_bytes(&random_i8_matrix(seed, r as u32, c as u32))
}

fn f32s(seed: u64, r: usize, c: usize) -> Vec<f32> {
    gemm::f32s_from_le_bytes(&random_f32_matrix(seed, r as u32, c as u32))
}

// ---------------------------------------------------------------- spec

#[test]
fn spec_json_round_trip_and_hash() {
    for spec in [
        gemm_i8_spec(3, 5, 7),
        JobSpec {
            version: 1,
            workload: Workload::GemmF32 {
                m: 2,
                n: 2,
                k: 2,
                rel_tolerance: 1e-4,
            },
            inputs: vec![blob("a", 16), blob("b", 16)],
        },
        kernel_spec(),
    ] {
        spec.validate().unwrap();
        let bytes = spec.to_bytes().unwrap();
        let back = JobSpec::from_bytes(&bytes).unwrap();
        assert_eq!(back, spec);
        assert_eq!(
            back.to_bytes().unwrap(),
            bytes,
            "canonical bytes are stable"
        );
        assert_eq!(spec.hash().unwrap(), spec::spec_hash(&bytes));
    }
}

#[test]
fn spec_json_shape_is_the_documented_one() {
    let json = String::from_utf8(kernel_spec().to_bytes().unwrap()).unwrap();
    assert!(json.contains(r#""kind":"cuda-kernel""#), "{json}");
    assert!(json.contains(r#"{"input":{"name":"x"}}"#), "{json}");
    assert!(
        json.contains(r#"{"output":{"name":"y","len":1024}}"#),
        "{json}"
    );
    assert!(json.contains(r#"{"u32":256}"#), "{json}");
    let gemm = String::from_utf8(gemm_i8_spec(1, 1, 1).to_bytes().unwrap()).unwrap();
    assert!(gemm.starts_with(r#"{"version":1,"workload":{"kind":"gemm-i8","m":1,"n":1,"k":1}"#));
    // Hashes are lowercase hex.
    let h = spec::sha256(b"a").to_hex();
    assert!(gemm.contains(&h));
    assert_eq!(Hash32::from_hex(&h).unwrap(), spec::sha256(b"a"));
    assert!(Hash32::from_hex(&h.to_uppercase()).is_err());
    assert!(Hash32::from_hex("abc").is_err());
}

/// A spec as buyers have published it since format version 1 (inputs as flat
/// `{name, uri, sha256, len}` objects): it must keep parsing to the same inputs and
/// re-serialize to the same bytes, so its on-chain `spec_hash` still names it; and an
/// input with a field the format does not have is still refused, not ignored.
#[test]
fn published_spec_bytes_parse_and_reserialize_identically() {
    let ha = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
    let hb = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
    let published = format!(
        concat!(
            r#"{{"version":1,"workload":{{"kind":"gemm-i8","m":1,"n":2,"k":3}},"inputs":["#,
            r#"{{"name":"a","uri":"file:///srv/blobs/{ha}","sha256":"{ha}","len":3}},"#,
            r#"{{"name":"b","uri":"https://blobs.example/{hb}","sha256":"{hb}","len":6}}]}}"#,
        ),
        ha = ha,
        hb = hb
    );
    let spec = JobSpec::from_bytes(published.as_bytes()).unwrap();
    assert_eq!(spec.inputs.len(), 2);
    assert_eq!(spec.inputs[0].name, "a");
    assert_eq!(
        spec.inputs[0].blob,
        BlobRef {
            uri: format!("file:///srv/blobs/{ha}"),
            sha256: spec::sha256(b"a"),
            len: 3,
        }
    );
    assert_eq!(spec.input("b").unwrap().sha256, spec::sha256(b"b"));
    assert_eq!(spec.input("b").unwrap().len, 6);
    assert_eq!(spec.to_bytes().unwrap(), published.as_bytes());
    assert_eq!(spec.hash().unwrap(), spec::spec_hash(published.as_bytes()));

    // A field smuggled into an input (say, a second URI a lax parser might prefer).
    let smuggled = published.replace(r#""len":3}"#, r#""len":3,"mirror":"http://evil/x"}"#);
    assert_ne!(smuggled, published);
    let err = JobSpec::from_bytes(smuggled.as_bytes()).expect_err("unknown input field");
    assert!(matches!(err, SpecError::Json(_)), "{err:?}");
    assert!(err.to_string().contains("mirror"), "{err}");
    // And a field missing from one is refused too.
    let short = published.replace(r#","len":6"#, "");
    assert!(JobSpec::from_bytes(short.as_bytes()).is_err());
}

#[test]
fn spec_hash_is_sha256_of_exact_bytes() {
    // SHA-256("abc"), FIPS 180-2 test vector.
    assert_eq!(
        spec::spec_hash(b"abc").to_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let spaced = b"{ \"version\": 1 }";
    assert_ne!(spec::spec_hash(spaced), spec::spec_hash(b"{\"version\":1}"));
}

#[test]
fn workload_kind_codes() {
    assert_eq!(gemm_i8_spec(1, 1, 1).workload.kind_code(), 0);
    assert_eq!(kernel_spec().workload.kind_code(), 3);
    assert_eq!(kernel_spec().workload.kind_name(), "cuda-kernel");
    for code in 0..=4u8 {
        let kind = WorkloadKind::from_u8(code).unwrap();
        assert_eq!(kind.code(), code);
    }
    assert_eq!(WorkloadKind::from_u8(2), Some(WorkloadKind::GemmBf16));
    assert_eq!(WorkloadKind::from_u8(4), Some(WorkloadKind::TrainMlp));
    assert_eq!(WorkloadKind::from_u8(5), None);
    let f32w = Workload::GemmF32 {
        m: 1,
        n: 1,
        k: 1,
        rel_tolerance: 0.1,
    };
    assert_eq!((f32w.kind_code(), f32w.kind_name()), (1, "gemm-f32"));
}

#[test]
fn flops_and_output_lengths() {
    let w = Workload::GemmI8 { m: 3, n: 5, k: 7 };
    assert_eq!(w.flops(), 2 * 3 * 5 * 7);
    assert_eq!(w.expected_output_len().unwrap(), 3 * 5 * 4);
    assert_eq!(kernel_spec().expected_output_len().unwrap(), 1024);
    let huge = Workload::GemmI8 {
        m: u32::MAX,
        n: u32::MAX,
        k: u32::MAX,
    };
    assert_eq!(huge.flops(), u64::MAX, "saturates");
    assert!(huge.validate().is_err());
}

fn assert_rejects(spec: &JobSpec, check: impl Fn(&SpecError) -> bool) {
    let err = spec.validate().expect_err("spec must be rejected");
    assert!(check(&err), "unexpected error: {err}");
    // And through the byte path too.
    let bytes = serde_json::to_vec(spec).unwrap();
    let err = JobSpec::from_bytes(&bytes).expect_err("from_bytes must reject");
    assert!(check(&err), "unexpected error: {err}");
}

#[test]
fn spec_validation_errors() {
    let mut s = gemm_i8_spec(2, 2, 2);
    s.version = 2;
    assert_rejects(&s, |e| {
        matches!(e, SpecError::UnsupportedVersion { found: 2 })
    });

    assert_rejects(&gemm_i8_spec(0, 2, 2), |e| {
        matches!(e, SpecError::ZeroDimension { dim: "m" })
    });
    let mut s = gemm_i8_spec(1, 1, 1);
    s.workload = Workload::GemmI8 {
        m: spec::MAX_DIM + 1,
        n: 1,
        k: 1,
    };
    assert_rejects(&s, |e| {
        matches!(e, SpecError::DimensionTooLarge { dim: "m", .. })
    });
    let mut s = gemm_i8_spec(1, 1, 1);
    s.workload = Workload::GemmI8 {
        m: 1,
        n: 1,
        k: spec::MAX_GEMM_I8_K + 1,
    };
    assert_rejects(&s, |e| matches!(e, SpecError::GemmI8KTooLarge { .. }));
    // Within MAX_DIM but C would exceed the 4 GiB buffer limit.
    let mut s = gemm_i8_spec(1, 1, 1);
    s.workload = Workload::GemmI8 {
        m: spec::MAX_DIM,
        n: spec::MAX_DIM,
        k: 1,
    };
    assert_rejects(&s, |e| matches!(e, SpecError::BufferTooLarge { .. }));

    for t in [0.0, -1.0, 1.0, f32::INFINITY] {
        let s = JobSpec {
            version: 1,
            workload: Workload::GemmF32 {
                m: 1,
                n: 1,
                k: 1,
                rel_tolerance: t,
            },
            inputs: vec![blob("a", 4), blob("b", 4)],
        };
        assert!(matches!(s.validate(), Err(SpecError::BadTolerance(_))));
    }

    let mut s = gemm_i8_spec(2, 3, 4);
    s.inputs.pop();
    assert_rejects(
        &s,
        |e| matches!(e, SpecError::MissingInput { name } if name == "b"),
    );
    let mut s = gemm_i8_spec(2, 3, 4);
    s.inputs.push(blob("c", 1));
    assert_rejects(
        &s,
        |e| matches!(e, SpecError::UnexpectedInput { name } if name == "c"),
    );
    let mut s = gemm_i8_spec(2, 3, 4);
    s.inputs.push(blob("a", 8));
    assert_rejects(&s, |e| matches!(e, SpecError::DuplicateInput { .. }));
    let mut s = gemm_i8_spec(2, 3, 4);
    s.inputs[1].blob.len = 11;
    assert_rejects(&s, |e| {
        matches!(
            e,
            SpecError::InputLength {
                expected: 12,
                found: 11,
                ..
            }
        )
    });
    let mut s = gemm_i8_spec(2, 3, 4);
    s.inputs[0].blob.uri.clear();
    assert_rejects(&s, |e| matches!(e, SpecError::EmptyBlobField { index: 0 }));
}

#[test]
fn spec_kernel_validation_errors() {
    let with = |f: &dyn Fn(&mut Workload)| {
        let mut s = kernel_spec();
        f(&mut s.workload);
        s
    };
    fn fields(
        w: &mut Workload,
    ) -> (
        &mut String,
        &mut String,
        &mut [u32; 3],
        &mut [u32; 3],
        &mut u32,
        &mut Vec<KernelArg>,
    ) {
        match w {
            Workload::CudaKernel {
                source,
                entry,
                grid,
                block,
                shared_mem_bytes,
                args,
            } => (source, entry, grid, block, shared_mem_bytes, args),
            _ => unreachable!(),
        }
    }
    assert_rejects(&with(&|w| fields(w).0.clear()), |e| {
        matches!(e, SpecError::EmptySource)
    });
    assert_rejects(&with(&|w| fields(w).0.push('\0')), |e| {
        matches!(e, SpecError::SourceContainsNul)
    });
    assert_rejects(&with(&|w| *fields(w).1 = "1bad".into()), |e| {
        matches!(e, SpecError::BadEntry(_))
    });
    assert_rejects(&with(&|w| fields(w).2[0] = 0), |e| {
        matches!(
            e,
            SpecError::LaunchDim {
                what: "grid",
                axis: 0,
                ..
            }
        )
    });
    assert_rejects(&with(&|w| fields(w).2[1] = 70_000), |e| {
        matches!(
            e,
            SpecError::LaunchDim {
                what: "grid",
                axis: 1,
                ..
            }
        )
    });
    assert_rejects(&with(&|w| fields(w).3[2] = 65), |e| {
        matches!(
            e,
            SpecError::LaunchDim {
                what: "block",
                axis: 2,
                ..
            }
        )
    });
    assert_rejects(&with(&|w| *fields(w).3 = [64, 32, 1]), |e| {
        matches!(e, SpecError::BlockTooLarge { threads: 2048 })
    });
    assert_rejects(&with(&|w| *fields(w).4 = 300 * 1024), |e| {
        matches!(e, SpecError::SharedMemTooLarge(_))
    });
    assert_rejects(
        &with(&|w| {
            fields(w)
                .5
                .retain(|a| !matches!(a, KernelArg::Output { .. }))
        }),
        |e| matches!(e, SpecError::NoOutputs),
    );
    assert_rejects(
        &with(&|w| {
            fields(w).5.push(KernelArg::Output {
                name: "z".into(),
                len: 0,
            })
        }),
        |e| matches!(e, SpecError::EmptyOutput { .. }),
    );
    assert_rejects(
        &with(&|w| {
            fields(w).5.push(KernelArg::Output {
                name: "x".into(),
                len: 4,
            })
        }),
        |e| matches!(e, SpecError::DuplicateArgName { .. }),
    );
    assert_rejects(
        &with(&|w| fields(w).5.extend((0..300).map(KernelArg::U32))),
        |e| matches!(e, SpecError::TooManyArgs(_)),
    );
    // NaN cannot be carried by JSON, so validate() refuses it before serialization.
    let s = with(&|w| fields(w).5.push(KernelArg::F32(f32::NAN)));
    assert!(matches!(
        s.validate(),
        Err(SpecError::NonFiniteArg { index: 4 })
    ));
    // Kernel inputs: listed exactly as referenced, non-empty.
    let mut s = kernel_spec();
    s.inputs.clear();
    assert_rejects(&s, |e| matches!(e, SpecError::MissingInput { .. }));
    let mut s = kernel_spec();
    s.inputs[0].blob.len = 0;
    assert_rejects(&s, |e| matches!(e, SpecError::InputLength { .. }));
}

#[test]
fn malformed_spec_bytes_are_errors_not_panics() {
    let cases: &[&[u8]] = &[
        b"",
        b"{",
        b"null",
        b"[]",
        br#"{"version":1}"#,
        br#"{"version":1,"workload":{"kind":"gemm-i9","m":1,"n":1,"k":1},"inputs":[]}"#,
        br#"{"version":1,"workload":{"kind":"gemm-i8","m":-1,"n":1,"k":1},"inputs":[]}"#,
        br#"{"version":1,"workload":{"kind":"gemm-i8","m":1,"n":1,"k":1,"x":2},"inputs":[]}"#,
        br#"{"version":1,"workload":{"kind":"gemm-i8","m":1,"n":1,"k":1},"inputs":[{"name":"a","uri":"u","sha256":"zz","len":1}]}"#,
        &[0xff, 0xfe, 0x00],
    ];
    for bytes in cases {
        assert!(JobSpec::from_bytes(bytes).is_err(), "{bytes:?}");
    }
}

#[test]
fn demo_generators_are_deterministic() {
    assert_eq!(random_i8_matrix(7, 3, 5), random_i8_matrix(7, 3, 5));
    assert_ne!(random_i8_matrix(7, 3, 5), random_i8_matrix(8, 3, 5));
    assert_eq!(random_i8_matrix(1, 3, 5).len(), 15);
    let f = f32s(3, 10, 10);
    assert_eq!(f.len(), 100);
    assert!(f.iter().all(|x| (-1.0..1.0).contains(x)));
    // Pinned: demo data must not change under other engineers' feet.
    assert_eq!(SplitMix64::new(0).next_u64(), 0xe220a8397b1dcdaf);
}

// ---------------------------------------------------------------- merkle

/// Straightforward recursive reference: split at the largest power of two below n is
/// NOT our scheme; ours pairs left to right and promotes the odd last node, which
/// recursively means: root(level) = root(pairs(level)).
fn reference_root(hashes: Vec<[u8; 32]>) -> [u8; 32] {
    if hashes.len() == 1 {
        return hashes[0];
    }
    let mut next = Vec::new();
    let mut i = 0;
    while i < hashes.len() {
        if i + 1 < hashes.len() {
            next.push(merkle::node_hash(&hashes[i], &hashes[i + 1]));
        } else {
            next.push(hashes[i]);
        }
        i += 2;
    }
    reference_root(next)
}

fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i as u8; 1 + i % 7]).collect()
}

/// Fixed vectors for the on-chain implementation: leaf i is the single byte i.
/// Computed independently (Python hashlib) from the scheme in the merkle module doc.
const VECTORS: &[(usize, &str)] = &[
    (
        1,
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    ),
    (
        2,
        "a20bf9a7cc2dc8a08f5f415a71b19f6ac427bab54d24eec868b5d3103449953a",
    ),
    (
        3,
        "3b6cccd7e3e023ff393006f030315ee7ad9eb111b022b41fba7e5b7a3973f688",
    ),
    (
        5,
        "b855b42d6c30f5b087e05266783fbd6e394f7b926013ccaa67700a8b0c5a596f",
    ),
    (
        8,
        "ef7f49b620f6c7ea9b963a214da34b5021c6ded8ed57734380a311ab726aa907",
    ),
];

#[test]
fn merkle_fixed_vectors() {
    for &(n, hex_root) in VECTORS {
        let data: Vec<[u8; 1]> = (0..n).map(|i| [i as u8]).collect();
        let tree = MerkleTree::from_leaves(data.iter().map(|d| &d[..])).unwrap();
        assert_eq!(hex::encode(tree.root()), hex_root, "{n} leaves");
    }
    // The empty leaf is a leaf like any other.
    let t = MerkleTree::from_leaves([&b""[..]]).unwrap();
    assert_eq!(
        hex::encode(t.root()),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    assert_eq!(
        MerkleTree::from_leaves(std::iter::empty()).unwrap_err(),
        merkle::MerkleError::Empty
    );
    assert_eq!(merkle::root_of_leaf_hashes(&[]), None);
}

/// Which side each non-promoted step's sibling is on: two (count, index) pairs with
/// the same sequence hash the same way, so a proof for one verifies for the other.
fn path_shape(count: u64, index: u64) -> Vec<bool> {
    let (mut i, mut n, mut out) = (index, count, Vec::new());
    while n > 1 {
        if i % 2 == 1 {
            out.push(true);
        } else if i + 1 < n {
            out.push(false);
        }
        i /= 2;
        n = n.div_ceil(2);
    }
    out
}

#[test]
fn merkle_roots_and_proofs_1_to_33() {
    for n in 1..=33usize {
        let data = leaves(n);
        let tree = MerkleTree::from_leaves(data.iter().map(|d| d.as_slice())).unwrap();
        let hashes: Vec<[u8; 32]> = data.iter().map(|d| merkle::leaf_hash(d)).collect();
        let root = tree.root();
        assert_eq!(root, reference_root(hashes.clone()), "n = {n}");
        assert_eq!(merkle::root_of_leaf_hashes(&hashes), Some(root));
        assert_eq!(tree.leaf_count(), n);
        for (i, leaf) in data.iter().enumerate() {
            let proof = tree.proof(i).unwrap();
            assert_eq!(proof.len(), merkle::proof_len(n as u64, i as u64));
            assert!(merkle::verify_proof(
                &root, n as u64, i as u64, leaf, &proof
            ));

            // Tampered leaf.
            let mut bad = leaf.clone();
            bad[0] ^= 1;
            assert!(!merkle::verify_proof(
                &root, n as u64, i as u64, &bad, &proof
            ));
            // Tampered sibling, each one.
            for s in 0..proof.len() {
                let mut p = proof.clone();
                p[s][7] ^= 0x80;
                assert!(!merkle::verify_proof(&root, n as u64, i as u64, leaf, &p));
            }
            // Extra or missing proof elements.
            let mut longer = proof.clone();
            longer.push([0; 32]);
            assert!(!merkle::verify_proof(
                &root, n as u64, i as u64, leaf, &longer
            ));
            if !proof.is_empty() {
                let shorter = &proof[..proof.len() - 1];
                assert!(!merkle::verify_proof(
                    &root, n as u64, i as u64, leaf, shorter
                ));
            }
            // Wrong index (the leaves differ, so every other index must fail).
            for j in 0..n + 2 {
                if j != i {
                    assert!(!merkle::verify_proof(
                        &root, n as u64, j as u64, leaf, &proof
                    ));
                }
            }
            // Wrong leaf count: rejected unless the path hashes identically (the
            // root does not commit to the count; see the merkle module doc).
            for m in 0..=40u64 {
                if m == n as u64 {
                    continue;
                }
                let ok = merkle::verify_proof(&root, m, i as u64, leaf, &proof);
                let same_path =
                    (i as u64) < m && path_shape(m, i as u64) == path_shape(n as u64, i as u64);
                assert_eq!(ok, same_path, "n = {n}, i = {i}, m = {m}");
            }
        }
        assert!(tree.proof(n).is_err());
        // Root of another leaf set differs.
        let mut other = data.clone();
        other[n / 2].push(0);
        let other_tree = MerkleTree::from_leaves(other.iter().map(|d| d.as_slice())).unwrap();
        assert_ne!(other_tree.root(), root);
    }
}

#[test]
fn merkle_parallel_path_matches_serial() {
    // Enough leaves and bytes to take the rayon paths.
    let data: Vec<Vec<u8>> = (0..5000u32).map(|i| i.to_le_bytes().repeat(60)).collect();
    let tree = MerkleTree::from_leaves(data.iter().map(|d| d.as_slice())).unwrap();
    let hashes: Vec<[u8; 32]> = data.iter().map(|d| merkle::leaf_hash(d)).collect();
    assert_eq!(tree.root(), reference_root(hashes));
    let proof = tree.proof(4321).unwrap();
    assert!(merkle::verify_proof(
        &tree.root(),
        5000,
        4321,
        &data[4321],
        &proof
    ));
}

// ---------------------------------------------------------------- commitments

struct GemmCase {
    w: Workload,
    a: Vec<u8>,
    b: Vec<u8>,
    c: Vec<u8>,
}

fn i8_case(m: u32, n: u32, k: u32) -> GemmCase {
    let a = random_i8_matrix(11, m, k);
    let b = random_i8_matrix(12, k, n);
    let c = gemm::gemm_i8(
        m as usize,
        n as usize,
        k as usize,
        &gemm::i8s_from_bytes(&a),
        &gemm::i8s_from_bytes(&b),
    )
    .unwrap();
    GemmCase {
        w: Workload::GemmI8 { m, n, k },
        a,
        b,
        c: gemm::i32s_to_le_bytes(&c),
    }
}

fn roots(case: &GemmCase) -> GemmCommitments {
    let inputs = commit::gemm_input_roots(&case.w, &case.a, &case.b).unwrap();
    GemmCommitments {
        a_root: inputs.a_root,
        b_root: inputs.b_root,
        c_root: commit::result_root(&case.w, &case.c).unwrap(),
    }
}

#[test]
fn result_root_leaves_are_rows_or_chunks() {
    let case = i8_case(5, 3, 4);
    let rows: Vec<&[u8]> = case.c.chunks(12).collect();
    assert_eq!(rows.len(), 5);
    let expected = MerkleTree::from_leaves(rows).unwrap().root();
    assert_eq!(commit::result_root(&case.w, &case.c).unwrap().0, expected);
    assert_eq!(commit::result_leaf_count(&case.w).unwrap(), 5);

    // cuda-kernel: 4096-byte chunks, last shorter.
    let w = kernel_workload(vec![
        KernelArg::Output {
            name: "y".into(),
            len: 5000,
        },
        KernelArg::Output {
            name: "z".into(),
            len: 4000,
        },
    ]);
    let out: Vec<u8> = (0..9000u32).map(|i| (i * 7) as u8).collect();
    let expected = MerkleTree::from_leaves([&out[..4096], &out[4096..8192], &out[8192..]])
        .unwrap()
        .root();
    assert_eq!(commit::result_root(&w, &out).unwrap().0, expected);
    assert_eq!(commit::result_leaf_count(&w).unwrap(), 3);

    assert!(matches!(
        commit::result_root(&case.w, &case.c[1..]),
        Err(CommitError::Length { .. })
    ));
}

#[test]
fn input_roots_are_rows_of_a_and_columns_of_b() {
    let case = i8_case(3, 4, 5);
    let r = commit::gemm_input_roots(&case.w, &case.a, &case.b).unwrap();
    let a_rows = MerkleTree::from_leaves(case.a.chunks(5)).unwrap().root();
    let cols: Vec<Vec<u8>> = (0..4)
        .map(|j| (0..5).map(|t| case.b[t * 4 + j]).collect())
        .collect();
    let b_cols = MerkleTree::from_leaves(cols.iter().map(|c| c.as_slice()))
        .unwrap()
        .root();
    assert_eq!((r.a_root.0, r.b_root.0), (a_rows, b_cols));
    assert!(commit::gemm_input_roots(&case.w, &case.a, &case.b[1..]).is_err());
    assert!(matches!(
        commit::gemm_input_roots(&kernel_spec().workload, &case.a, &case.b),
        Err(CommitError::NotGemm("cuda-kernel"))
    ));
}

#[test]
fn element_proofs_round_trip_and_catch_lies() {
    let case = i8_case(7, 6, 9);
    let roots = roots(&case);
    for (row, col) in [(0, 0), (6, 5), (3, 2)] {
        let p = commit::proof_for_element(&case.w, &case.a, &case.b, &case.c, row, col).unwrap();
        assert_eq!(
            commit::check_element_proof(&case.w, &roots, &p).unwrap(),
            ElementVerdict::Correct
        );
        // Tampering with any staged piece breaks its proof.
        let mut t = p.clone();
        t.a_row[0] ^= 1;
        assert!(matches!(
            commit::check_element_proof(&case.w, &roots, &t),
            Err(CommitError::BadProof("A"))
        ));
        let mut t = p.clone();
        t.b_col[1] ^= 1;
        assert!(matches!(
            commit::check_element_proof(&case.w, &roots, &t),
            Err(CommitError::BadProof("B"))
        ));
        let mut t = p.clone();
        t.c_row[0] ^= 1;
        assert!(matches!(
            commit::check_element_proof(&case.w, &roots, &t),
            Err(CommitError::BadProof("C"))
        ));
        let mut t = p.clone();
        t.c_proof[0][0] ^= 1;
        assert!(commit::check_element_proof(&case.w, &roots, &t).is_err());
        let mut t = p.clone();
        t.col = (col + 1) % 6;
        assert!(matches!(
            commit::check_element_proof(&case.w, &roots, &t),
            Err(CommitError::BadProof("B"))
        ));
    }
    assert!(matches!(
        commit::proof_for_element(&case.w, &case.a, &case.b, &case.c, 7, 0),
        Err(CommitError::ElementOutOfRange { .. })
    ));

    // A provider that committed a wrong C loses on the element it got wrong.
    let mut lie = case.c.clone();
    let at = (4 * 6 + 1) * 4;
    let claimed = i32::from_le_bytes(lie[at..at + 4].try_into().unwrap()) + 1;
    lie[at..at + 4].copy_from_slice(&claimed.to_le_bytes());
    let lie_roots = GemmCommitments {
        c_root: commit::result_root(&case.w, &lie).unwrap(),
        ..roots
    };
    let p = commit::proof_for_element(&case.w, &case.a, &case.b, &lie, 4, 1).unwrap();
    assert_eq!(
        commit::check_element_proof(&case.w, &lie_roots, &p).unwrap(),
        ElementVerdict::WrongI8 {
            claimed,
            recomputed: claimed - 1
        }
    );
}

#[test]
fn f32_element_proof_uses_tolerance() {
    let (m, n, k) = (4u32, 3u32, 8u32);
    let a = random_f32_matrix(1, m, k);
    let b = random_f32_matrix(2, k, n);
    let w = Workload::GemmF32 {
        m,
        n,
        k,
        rel_tolerance: 1e-5,
    };
    let c = gemm::gemm_f32(
        4,
        3,
        8,
        &gemm::f32s_from_le_bytes(&a),
        &gemm::f32s_from_le_bytes(&b),
    )
    .unwrap();
    let mut c = gemm::f32s_to_le_bytes(&c);
    let p = commit::proof_for_element(&w, &a, &b, &c, 1, 2).unwrap();
    let inputs = commit::gemm_input_roots(&w, &a, &b).unwrap();
    let r = GemmCommitments {
        a_root: inputs.a_root,
        b_root: inputs.b_root,
        c_root: commit::result_root(&w, &c).unwrap(),
    };
    assert_eq!(
        commit::check_element_proof(&w, &r, &p).unwrap(),
        ElementVerdict::Correct
    );
    let at = (n as usize + 2) * 4;
    let v = f32::from_le_bytes(c[at..at + 4].try_into().unwrap()) + 0.5;
    c[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let r = GemmCommitments {
        c_root: commit::result_root(&w, &c).unwrap(),
        ..r
    };
    let p = commit::proof_for_element(&w, &a, &b, &c, 1, 2).unwrap();
    assert!(matches!(
        commit::check_element_proof(&w, &r, &p).unwrap(),
        ElementVerdict::WrongF32 { .. }
    ));
}

// ---------------------------------------------------------------- gemm

fn gemm_shapes() -> Vec<(usize, usize, usize)> {
    let mut shapes = vec![
        (1, 1, 1),
        (1, 1, 7),
        (2, 3, 1),
        (7, 11, 13),
        (17, 19, 23),
        (31, 37, 41),
        (32, 32, 32),
        (33, 9, 65),
        (64, 64, 300),
        (5, 130, 257),
        (97, 3, 2049), // k crosses the k-block boundary
        (129, 67, 129),
        (3, 1, 1024),   // exactly one exact-f32 k slice
        (3, 2, 1025),   // one value past it
        (2, 4100, 3),   // n crosses the packed-B column slice
        (40, 1500, 30), // C computed in column blocks
    ];
    let mut rng = SplitMix64::new(99);
    for _ in 0..10 {
        let d = |r: &mut SplitMix64, max: u64| 1 + (r.next_u64() % max) as usize;
        shapes.push((d(&mut rng, 70), d(&mut rng, 70), d(&mut rng, 400)));
    }
    shapes
}

#[test]
fn gemm_i8_matches_naive() {
    for (m, n, k) in gemm_shapes() {
        let (a, b) = (i8s(m as u64, m, k), i8s(n as u64 + 1000, k, n));
        let fast = gemm::gemm_i8(m, n, k, &a, &b).unwrap();
        let naive = gemm::gemm_i8_naive(m, n, k, &a, &b).unwrap();
        assert_eq!(fast, naive, "{m} x {n} x {k}");
    }
}

#[test]
fn gemm_i8_extreme_values_are_exact() {
    // All -128: every product is 2^14, the largest magnitude; k = 4096 gives 2^26.
    let (m, n, k) = (5, 9, 4096);
    let a = vec![-128i8; m * k];
    let b = vec![-128i8; k * n];
    let c = gemm::gemm_i8(m, n, k, &a, &b).unwrap();
    assert!(c.iter().all(|&x| x == 4096 * 16384));
    let b = vec![127i8; k * n];
    let c = gemm::gemm_i8(m, n, k, &a, &b).unwrap();
    assert!(c.iter().all(|&x| x == -128 * 127 * 4096));
    // The largest gemm-i8 a spec allows: k = 65536, |C| = 2^30.
    let k = 65536;
    let (a, b) = (vec![-128i8; 2 * k], vec![-128i8; k]);
    assert_eq!(gemm::gemm_i8(2, 1, k, &a, &b).unwrap(), vec![1 << 30; 2]);
    // Exactly 2^24 within one k slice, then one more product.
    for k in [1024, 1025] {
        let (a, b) = (vec![-128i8; k], vec![-128i8; k]);
        assert_eq!(
            gemm::gemm_i8(1, 1, k, &a, &b).unwrap(),
            vec![16384 * k as i32]
        );
    }
}

/// Several exact-f32 k slices (k = 2100: two full slices of 1024 and a part), bands on
/// every thread and C wide enough to be computed in column blocks, with values at the
/// ends of the i8 range (-128, -127, 127) so that every slice's partial sums come
/// close to 2^24: a slice one value too long, or a block or band boundary that drops
/// or double-counts a product, changes the result.
#[test]
fn gemm_i8_is_exact_across_slices_bands_and_column_blocks() {
    let (m, n, k) = (24, 1100, 2100);
    let a: Vec<i8> = (0..m * k)
        .map(|x| if (x / k + x % k) % 7 == 0 { 127 } else { -128 })
        .collect();
    let b: Vec<i8> = (0..k * n)
        .map(|x| {
            let (t, j) = (x / n, x % n);
            if (3 * t + j) % 5 == 0 {
                127
            } else if (t + j) % 11 == 0 {
                -127
            } else {
                -128
            }
        })
        .collect();
    let fast = gemm::gemm_i8(m, n, k, &a, &b).unwrap();
    let naive = gemm::gemm_i8_naive(m, n, k, &a, &b).unwrap();
    assert_eq!(fast, naive);
    // All -128 on this shape: each slice of 1024 sums to exactly 2^24.
    let (a, b) = (vec![-128i8; m * k], vec![-128i8; k * n]);
    let c = gemm::gemm_i8(m, n, k, &a, &b).unwrap();
    assert!(c.iter().all(|&x| x == 16384 * k as i32));
}

#[test]
fn gemm_f32_within_tolerance_of_naive() {
    for (m, n, k) in gemm_shapes() {
        let (a, b) = (f32s(m as u64, m, k), f32s(n as u64 + 1000, k, n));
        let fast = gemm::gemm_f32(m, n, k, &a, &b).unwrap();
        let naive = gemm::gemm_f32_naive(m, n, k, &a, &b).unwrap();
        for i in 0..m {
            for j in 0..n {
                let scale: f32 = (0..k).map(|t| (a[i * k + t] * b[t * n + j]).abs()).sum();
                let diff = (fast[i * n + j] - naive[i * n + j]).abs();
                assert!(
                    diff <= 2.0 * k as f32 * f32::EPSILON * scale + f32::MIN_POSITIVE,
                    "{m} x {n} x {k} at ({i}, {j}): {diff} vs scale {scale}"
                );
            }
        }
    }
}

#[test]
fn gemm_rejects_wrong_lengths() {
    assert!(matches!(
        gemm::gemm_i8(2, 2, 2, &[0; 3], &[0; 4]),
        Err(gemm::GemmError::Shape { name: "a", .. })
    ));
    assert!(matches!(
        gemm::gemm_f32(2, 2, 2, &[0.0; 4], &[0.0; 5]),
        Err(gemm::GemmError::Shape { name: "b", .. })
    ));
    assert!(matches!(
        gemm::gemm_i8(usize::MAX, 2, 2, &[], &[]),
        Err(gemm::GemmError::Overflow { .. })
    ));
    assert_eq!(
        gemm::gemm_i8(0, 3, 2, &[], &[0; 6]).unwrap(),
        Vec::<i32>::new()
    );
}

// ---------------------------------------------------------------- verify

#[test]
fn freivalds_i8_accepts_correct_rejects_flipped() {
    for (m, n, k) in [(1, 1, 1), (13, 7, 29), (64, 48, 200), (3, 100, 5)] {
        let (a, b) = (i8s(1, m, k), i8s(2, k, n));
        let c = gemm::gemm_i8(m, n, k, &a, &b).unwrap();
        verify::freivalds_i8(m, n, k, &a, &b, &c, 2, 42).unwrap();
        for (row, col) in [(0, 0), (m - 1, n - 1), (m / 2, n / 3)] {
            let mut bad = c.clone();
            bad[row * n + col] ^= 1;
            let err = verify::freivalds_i8(m, n, k, &a, &b, &bad, 1, 7).unwrap_err();
            assert_eq!(err, VerifyError::Mismatch { row, round: 0 });
            assert_eq!(
                verify::locate_i8_error(m, n, k, &a, &b, &bad, row).unwrap(),
                Some(col)
            );
        }
    }
    // Extreme values: exercise the signed and large-magnitude paths.
    let (m, n, k) = (4, 5, 65536);
    let a = vec![-128i8; m * k];
    let b = vec![-128i8; k * n];
    let c = vec![65536 * 16384i32; m * n];
    verify::freivalds_i8(m, n, k, &a, &b, &c, 1, 1).unwrap();
    let mut bad = c.clone();
    bad[7] = i32::MIN;
    assert!(verify::freivalds_i8(m, n, k, &a, &b, &bad, 1, 1).is_err());
    assert!(matches!(
        verify::freivalds_i8(2, 2, 2, &[0; 4], &[0; 4], &[0; 3], 1, 1),
        Err(VerifyError::Shape { name: "c", .. })
    ));
}

#[test]
fn freivalds_f32_accepts_correct_rejects_flipped() {
    for (m, n, k) in [(1, 1, 1), (16, 9, 64), (40, 33, 257)] {
        let (a, b) = (f32s(1, m, k), f32s(2, k, n));
        let c = gemm::gemm_f32(m, n, k, &a, &b).unwrap();
        verify::freivalds_f32(m, n, k, &a, &b, &c, 1e-5, 3, 5).unwrap();
        let naive = gemm::gemm_f32_naive(m, n, k, &a, &b).unwrap();
        verify::freivalds_f32(m, n, k, &a, &b, &naive, 1e-5, 3, 5).unwrap();
        let mut bad = c.clone();
        let row = m / 2;
        bad[row * n + n - 1] += 1.0 + k as f32; // far beyond the row's allowance
        assert_eq!(
            verify::freivalds_f32(m, n, k, &a, &b, &bad, 1e-5, 1, 5).unwrap_err(),
            VerifyError::Mismatch { row, round: 0 }
        );
        let mut nan = c.clone();
        nan[0] = f32::NAN;
        assert!(verify::freivalds_f32(m, n, k, &a, &b, &nan, 1e-5, 1, 5).is_err());
    }
    assert!(matches!(
        verify::freivalds_f32(1, 1, 1, &[1.0], &[1.0], &[1.0], f32::NAN, 1, 1),
        Err(VerifyError::BadTolerance(_))
    ));
}

// ---------------------------------------------------------------- executors

fn gemm_inputs(a: Vec<u8>, b: Vec<u8>) -> Inputs {
    Inputs::from([("a".to_string(), a), ("b".to_string(), b)])
}

#[test]
fn cpu_executor_runs_gemm_and_rejects_kernels() {
    let cpu = CpuExecutor::with_threads(2);
    assert_eq!(cpu.device().kind, DeviceKind::Cpu);
    assert_eq!(cpu.device().compute_capability, 0);

    let case = i8_case(9, 10, 11);
    let out = cpu
        .execute(&case.w, &gemm_inputs(case.a.clone(), case.b.clone()))
        .unwrap();
    assert_eq!(out.bytes, case.c);

    let w = Workload::GemmF32 {
        m: 3,
        n: 4,
        k: 5,
        rel_tolerance: 1e-5,
    };
    let (a, b) = (random_f32_matrix(1, 3, 5), random_f32_matrix(2, 5, 4));
    let out = cpu.execute(&w, &gemm_inputs(a.clone(), b.clone())).unwrap();
    assert_eq!(out.bytes.len(), 3 * 4 * 4);
    verify::freivalds_f32(
        3,
        4,
        5,
        &gemm::f32s_from_le_bytes(&a),
        &gemm::f32s_from_le_bytes(&b),
        &gemm::f32s_from_le_bytes(&out.bytes),
        1e-5,
        2,
        9,
    )
    .unwrap();

    let kernel = kernel_spec().workload;
    assert!(!cpu.supports(&kernel));
    let err = cpu
        .execute(&kernel, &Inputs::from([("x".to_string(), vec![0; 1024])]))
        .unwrap_err();
    assert!(matches!(
        err,
        ExecError::Unsupported {
            executor: "CPU",
            kind: "cuda-kernel"
        }
    ));
    assert!(err.to_string().contains("cuda-kernel"));
}

#[test]
fn supported_kinds_follow_supports() {
    // Each kind's smallest workload is itself valid, so `supports` is asked about a
    // workload an executor could actually be handed.
    for kind in WorkloadKind::ALL {
        match Workload::smallest_of(kind) {
            Some(w) => {
                w.validate().unwrap();
                assert_eq!(w.kind(), kind);
            }
            // bf16 has no executor; segmented training has its own spec.
            None => assert!(matches!(
                kind,
                WorkloadKind::GemmBf16 | WorkloadKind::TrainMlp
            )),
        }
    }
    let cpu = CpuExecutor::with_threads(1);
    assert_eq!(
        cpu.supported_kinds(),
        vec![WorkloadKind::GemmI8, WorkloadKind::GemmF32]
    );
    // An executor that runs only kernels advertises only that kind.
    struct KernelsOnly(CpuExecutor);
    impl Executor for KernelsOnly {
        fn device(&self) -> &exec::DeviceInfo {
            self.0.device()
        }
        fn supports(&self, w: &Workload) -> bool {
            matches!(w, Workload::CudaKernel { .. })
        }
        fn execute(&self, w: &Workload, i: &Inputs) -> Result<exec::ExecOutput, ExecError> {
            self.0.execute(w, i)
        }
    }
    assert_eq!(
        KernelsOnly(CpuExecutor::with_threads(1)).supported_kinds(),
        vec![WorkloadKind::CudaKernel]
    );
}

#[test]
fn executors_check_inputs() {
    let cpu = CpuExecutor::with_threads(1);
    let w = Workload::GemmI8 { m: 2, n: 2, k: 2 };
    let err = cpu
        .execute(&w, &gemm_inputs(vec![0; 4], vec![0; 3]))
        .unwrap_err();
    assert!(matches!(
        err,
        ExecError::InputLength {
            expected: 4,
            found: 3,
            ..
        }
    ));
    let err = cpu
        .execute(&w, &Inputs::from([("a".to_string(), vec![0; 4])]))
        .unwrap_err();
    assert!(matches!(err, ExecError::MissingInput { .. }));
    let mut extra = gemm_inputs(vec![0; 4], vec![0; 4]);
    extra.insert("c".into(), vec![]);
    assert!(matches!(
        cpu.execute(&w, &extra).unwrap_err(),
        ExecError::UnexpectedInput { .. }
    ));
    let bad = Workload::GemmI8 { m: 0, n: 2, k: 2 };
    assert!(matches!(
        cpu.execute(&bad, &gemm_inputs(vec![], vec![0; 4]))
            .unwrap_err(),
        ExecError::Spec(SpecError::ZeroDimension { .. })
    ));
    let kernel = kernel_spec().workload;
    assert!(matches!(
        exec::check_inputs(&kernel, &Inputs::from([("x".to_string(), vec![])])),
        Err(ExecError::InputLength { .. })
    ));
    exec::check_inputs(&kernel, &Inputs::from([("x".to_string(), vec![1])])).unwrap();
}

#[test]
fn detection_without_gpu_falls_back_to_cpu() {
    // This machine has no GPU (and usually no libcuda): detection must say so, not panic.
    match cuda::detect() {
        Detection::Unavailable { reason } => {
            assert!(!reason.is_empty());
            let best = gpu_market_compute::best_executor();
            assert_eq!(best.executor.device().kind, DeviceKind::Cpu);
            let why = best.fallback_reason.expect("a fallback reason");
            assert!(!why.is_empty());
            eprintln!("fell back to CPU: {why}");
            assert!(cuda::CudaExecutor::new(0).is_err());
        }
        Detection::Available { devices, .. } => {
            // Running on a GPU machine: then best_executor must pick CUDA.
            assert!(!devices.is_empty());
            let best = gpu_market_compute::best_executor();
            assert_eq!(best.executor.device().kind, DeviceKind::Cuda);
        }
    }
}
