//! gpu-market-compute benchmark (`cargo bench -p gpu-market-compute`): every figure is
//! printed next to a baseline measured in the same run, with the ratio.
//!
//! CPU: gemm-f32 and gemm-i8 (`gemm::gemm_f32`, `gemm::gemm_i8`, the CPU executor's
//! kernels) at each size in `--sizes` against matrixmultiply's sgemm over one band of
//! rows per hardware thread (one single-threaded call per band; this workspace builds
//! matrixmultiply without its own `threading` feature), gemm-i8 counted in int ops
//! against the baseline's flops; Freivalds' check (one round, exact gemm-i8 and f32) as
//! a fraction of our GEMM's time at each size in `--freivalds-sizes`; commitment hashing
//! (parallel Merkle over rows) vs one plain SHA-256 pass over the same bytes. Each pair
//! is timed alternately, `reps` rounds, and the medians are compared, so that load from
//! other processes hits both alike.
//!
//! GPU (only when a usable GPU is detected, else one line saying why it was skipped):
//! our gemm-i8 (cuBLAS path on an aligned shape, NVRTC kernel on an odd one) and
//! gemm-f32 as fractions of raw cuBLAS measured on the aligned shape in the same run,
//! and of the chip's datasheet peak.
//!
//! Options (flags or environment): `--sizes 512,1024,2048` / GPU_MARKET_BENCH_SIZES
//! (CPU GEMM sides), `--freivalds-sizes 1024,2048,4096` /
//! GPU_MARKET_BENCH_FREIVALDS_SIZES, `--hash-mib N` / GPU_MARKET_BENCH_HASH_MIB (default
//! 64), `--gpu-size N` / GPU_MARKET_BENCH_GPU_SIZE (default 8192), `--reps N` /
//! GPU_MARKET_BENCH_REPS (rounds, default 5; fewer above 2048), `--output json` /
//! GPU_MARKET_BENCH_OUTPUT=json. An empty list skips that part.

use gpu_market_compute::cuda::{self, CudaExecutor, Detection};
use gpu_market_compute::exec::{Executor, Inputs};
use gpu_market_compute::merkle::MerkleTree;
use gpu_market_compute::spec::{self, random_f32_matrix, random_i8_matrix, Workload, WorkloadKind};
use gpu_market_compute::{commit, gemm, verify};
use serde::Serialize;
use std::time::{Duration, Instant};

struct Options {
    sizes: Vec<usize>,
    freivalds_sizes: Vec<usize>,
    hash_mib: usize,
    gpu_size: u32,
    reps: u32,
    json: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str, env: &str| -> Option<String> {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
            .or_else(|| std::env::var(env).ok())
    };
    let num = |flag: &str, env: &str, default: usize| {
        get(flag, env)
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or(default)
    };
    let list = |flag: &str, env: &str, default: &[usize]| -> Vec<usize> {
        match get(flag, env) {
            Some(v) => v
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .filter(|&x| x > 0)
                .collect(),
            None => default.to_vec(),
        }
    };
    Options {
        sizes: list("--sizes", "GPU_MARKET_BENCH_SIZES", &[512, 1024, 2048]),
        freivalds_sizes: list(
            "--freivalds-sizes",
            "GPU_MARKET_BENCH_FREIVALDS_SIZES",
            &[1024, 2048, 4096],
        ),
        // 0 skips the hashing figures.
        hash_mib: get("--hash-mib", "GPU_MARKET_BENCH_HASH_MIB")
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        gpu_size: num("--gpu-size", "GPU_MARKET_BENCH_GPU_SIZE", 8192) as u32,
        reps: num("--reps", "GPU_MARKET_BENCH_REPS", 5) as u32,
        json: get("--output", "GPU_MARKET_BENCH_OUTPUT").as_deref() == Some("json"),
    }
}

#[derive(Serialize)]
struct Figure {
    what: String,
    value: f64,
    unit: &'static str,
    baseline: String,
    baseline_value: f64,
    ratio: f64,
}

struct Report {
    json: bool,
    figures: Vec<Figure>,
    notes: Vec<String>,
}

impl Report {
    fn note(&mut self, line: String) {
        if !self.json {
            println!("{line}");
        }
        self.notes.push(line);
    }

    fn figure(&mut self, what: &str, value: f64, unit: &'static str, baseline: &str, base: f64) {
        let ratio = value / base;
        if !self.json {
            println!(
                "  {what:<44} {value:>9.2} {unit:<7} | {baseline:<46} {base:>9.2} {unit:<7} | x{ratio:.2}"
            );
        }
        self.figures.push(Figure {
            what: what.into(),
            value,
            unit,
            baseline: baseline.into(),
            baseline_value: base,
            ratio,
        });
    }
}

/// Best wall time of `reps` runs.
fn best<T>(reps: u32, mut f: impl FnMut() -> T) -> Duration {
    (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Median wall times of each closure over `reps` rounds; within a round the closures
/// run one after another, so that load from other processes hits all of them alike.
fn medians<const N: usize>(reps: u32, fs: &mut [&mut dyn FnMut(); N]) -> [Duration; N] {
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..reps.max(1) {
        for (f, t) in fs.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            f();
            t.push(start.elapsed());
        }
    }
    times.map(|mut t| {
        t.sort();
        t[t.len() / 2]
    })
}

/// Fewer rounds for big shapes: a 4096^3 GEMM takes about a second on two cores.
fn reps_for(reps: u32, size: usize) -> u32 {
    if size > 2048 {
        reps.min(3)
    } else {
        reps
    }
}

fn rate(ops: f64, t: Duration) -> f64 {
    ops / t.as_secs_f64() / 1e9
}

/// matrixmultiply's sgemm on row-major slices, single-threaded.
fn mm_sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: the asserts above bound every access: a is m x k, b k x n, c m x n,
    // row-major (row stride = columns, column stride 1), and c is exclusively borrowed.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// matrixmultiply sgemm over `threads` bands of rows, one scoped thread each.
fn mm_sgemm_bands(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    threads: usize,
) {
    let rows = m.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (band, c_band) in c.chunks_mut(rows * n).enumerate() {
            let r = c_band.len() / n;
            let a_band = &a[band * rows * k..(band * rows + r) * k];
            s.spawn(move || mm_sgemm(r, n, k, a_band, b, c_band));
        }
    });
}

fn cpu_section(o: &Options, rep: &mut Report) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    rep.note(format!(
        "CPU: {threads} hardware threads, {}; medians of {} rounds (fewer above 2048)",
        std::env::consts::ARCH,
        o.reps
    ));
    let bands = format!("matrixmultiply sgemm, {threads} thread bands");
    for &s in &o.sizes {
        let ops = 2.0 * (s * s * s) as f64;
        let af = gemm::f32s_from_le_bytes(&random_f32_matrix(3, s as u32, s as u32));
        let bf = gemm::f32s_from_le_bytes(&random_f32_matrix(4, s as u32, s as u32));
        let a8 = gemm::i8s_from_bytes(&random_i8_matrix(1, s as u32, s as u32));
        let b8 = gemm::i8s_from_bytes(&random_i8_matrix(2, s as u32, s as u32));
        let mut c = vec![0f32; s * s];
        let [base, f32_t, i8_t] = medians(
            reps_for(o.reps, s),
            &mut [
                &mut || mm_sgemm_bands(s, s, s, &af, &bf, &mut c, threads),
                &mut || {
                    std::hint::black_box(gemm::gemm_f32(s, s, s, &af, &bf).ok());
                },
                &mut || {
                    std::hint::black_box(gemm::gemm_i8(s, s, s, &a8, &b8).ok());
                },
            ],
        );
        rep.figure(
            &format!("gemm-f32 {s}^3 GFLOP/s"),
            rate(ops, f32_t),
            "GFLOP/s",
            &bands,
            rate(ops, base),
        );
        rep.figure(
            &format!("gemm-i8 {s}^3 GOP/s (int ops)"),
            rate(ops, i8_t),
            "GOP/s",
            &format!("{bands} (flops)"),
            rate(ops, base),
        );
    }
    for &s in &o.freivalds_sizes {
        freivalds_figures(o, rep, s);
    }

    if o.hash_mib == 0 {
        return;
    }
    // Commitment hashing: a C of 4 KiB rows (n = 1024 i32 columns).
    let bytes = random_i8_matrix(5, (o.hash_mib * 256) as u32, 4096);
    let w = Workload::GemmI8 {
        m: (o.hash_mib * 256) as u32,
        n: 1024,
        k: 1,
    };
    let [merkle, plain] = medians(
        o.reps,
        &mut [
            &mut || {
                std::hint::black_box(commit::result_root(&w, &bytes).ok());
            },
            &mut || {
                std::hint::black_box(spec::sha256(&bytes));
            },
        ],
    );
    let gb = bytes.len() as f64;
    rep.figure(
        &format!("result_root, {} MiB in 4 KiB rows, GB/s", o.hash_mib),
        rate(gb, merkle),
        "GB/s",
        "one SHA-256 pass over the same bytes",
        rate(gb, plain),
    );
    let tree = best(o.reps, || MerkleTree::from_leaves(bytes.chunks(4096)));
    rep.note(format!(
        "  (Merkle tree with all levels kept for proofs: {:.2} GB/s)",
        rate(gb, tree)
    ));
}

/// One round of each Freivalds check next to the GEMM it verifies, at side `s`.
fn freivalds_figures(o: &Options, rep: &mut Report, s: usize) {
    let reps = reps_for(o.reps, s);
    let a8 = gemm::i8s_from_bytes(&random_i8_matrix(1, s as u32, s as u32));
    let b8 = gemm::i8s_from_bytes(&random_i8_matrix(2, s as u32, s as u32));
    let Ok(c8) = gemm::gemm_i8(s, s, s, &a8, &b8) else {
        return;
    };
    let [check, product] = medians(
        reps,
        &mut [
            &mut || {
                let ok = verify::freivalds_i8(s, s, s, &a8, &b8, &c8, 1, 7);
                assert!(ok.is_ok(), "an honest product must pass");
            },
            &mut || {
                std::hint::black_box(gemm::gemm_i8(s, s, s, &a8, &b8).ok());
            },
        ],
    );
    rep.figure(
        &format!("freivalds_i8 1 round, {s}^3, ms"),
        ms(check),
        "ms",
        "gemm::gemm_i8 of the same shape",
        ms(product),
    );
    let af = gemm::f32s_from_le_bytes(&random_f32_matrix(3, s as u32, s as u32));
    let bf = gemm::f32s_from_le_bytes(&random_f32_matrix(4, s as u32, s as u32));
    let Ok(cf) = gemm::gemm_f32(s, s, s, &af, &bf) else {
        return;
    };
    let [check, product] = medians(
        reps,
        &mut [
            &mut || {
                let ok = verify::freivalds_f32(s, s, s, &af, &bf, &cf, 1e-5, 1, 7);
                assert!(ok.is_ok(), "an honest product must pass");
            },
            &mut || {
                std::hint::black_box(gemm::gemm_f32(s, s, s, &af, &bf).ok());
            },
        ],
    );
    rep.figure(
        &format!("freivalds_f32 1 round, {s}^3, ms"),
        ms(check),
        "ms",
        "gemm::gemm_f32 of the same shape",
        ms(product),
    );
}

fn ms(t: Duration) -> f64 {
    t.as_secs_f64() * 1e3
}

/// Datasheet peaks, dense (NVIDIA quotes int8 "with sparsity": halved here).
/// (FP32 TFLOPS, INT8 tensor TOPS, source). Matched in order against the device name.
const PEAKS: &[(&[&str], f64, f64, &str)] = &[
    (
        &["H200 NVL"],
        60.0,
        1670.5,
        "NVIDIA H200 datasheet (NVL column)",
    ),
    (
        &["H200"],
        67.0,
        1979.0,
        "NVIDIA H200 datasheet (SXM column)",
    ),
    (
        &["H100 PCIe"],
        51.0,
        1513.0,
        "NVIDIA H100 datasheet (PCIe column)",
    ),
    (
        &["H100 NVL"],
        60.0,
        1670.5,
        "NVIDIA H100 datasheet (NVL column)",
    ),
    (
        &["H100"],
        67.0,
        1979.0,
        "NVIDIA H100 datasheet (SXM column)",
    ),
    (&["A100"], 19.5, 624.0, "NVIDIA A100 datasheet"),
    (&["L4"], 30.3, 242.5, "NVIDIA L4 datasheet"),
    (
        &["RTX 4090"],
        82.6,
        660.6,
        "NVIDIA Ada Lovelace architecture whitepaper, RTX 4090",
    ),
];

fn gpu_section(o: &Options, rep: &mut Report) {
    let devices = match cuda::detect() {
        Detection::Unavailable { reason } => {
            rep.note(format!("GPU: skipped: {reason}"));
            return;
        }
        Detection::Available { devices, .. } => devices,
    };
    let gpu = match CudaExecutor::new(0) {
        Ok(g) => g,
        Err(e) => {
            rep.note(format!(
                "GPU: skipped: a GPU was found but could not be used: {e}"
            ));
            return;
        }
    };
    let d = &devices[0];
    let peak = PEAKS
        .iter()
        .find(|(keys, ..)| keys.iter().all(|k| d.name.contains(k)));
    let g = o.gpu_size;
    rep.note(format!(
        "GPU: {} ({} GiB, {} SMs, CC {}.{}); aligned shape {g}^3, odd shape {}x{}x{}, best of {}",
        d.name,
        d.memory_bytes >> 30,
        d.sm_count,
        d.compute_capability / 10,
        d.compute_capability % 10,
        g - 1,
        g + 1,
        g - 1,
        o.reps
    ));
    let run = |kind: WorkloadKind, rep: &mut Report| -> Result<(), String> {
        let reference = gpu
            .cublas_reference(kind, g, g, g, o.reps)
            .map_err(|e| e.to_string())?;
        let ops = |m: u32, n: u32, k: u32| 2.0 * m as f64 * n as f64 * k as f64;
        let ref_rate = rate(ops(g, g, g), reference) / 1e3;
        let (label, unit, peak_rate) = match kind {
            WorkloadKind::GemmI8 => ("gemm-i8", "TOPS", peak.map(|p| p.2)),
            _ => ("gemm-f32", "TFLOP/s", peak.map(|p| p.1)),
        };
        let shapes: &[(u32, u32, u32)] = match kind {
            WorkloadKind::GemmI8 => &[(g, g, g), (g - 1, g + 1, g - 1)],
            _ => &[(g, g, g)],
        };
        for &(m, n, k) in shapes {
            let (w, inputs) = if kind == WorkloadKind::GemmI8 {
                let a = random_i8_matrix(1, m, k);
                let b = random_i8_matrix(2, k, n);
                (Workload::GemmI8 { m, n, k }, (a, b))
            } else {
                let a = random_f32_matrix(1, m, k);
                let b = random_f32_matrix(2, k, n);
                (
                    Workload::GemmF32 {
                        m,
                        n,
                        k,
                        rel_tolerance: 1e-4,
                    },
                    (a, b),
                )
            };
            let inputs = Inputs::from([("a".to_string(), inputs.0), ("b".to_string(), inputs.1)]);
            let mut device = Duration::MAX;
            let mut wall = Duration::MAX;
            for _ in 0..o.reps.max(1) {
                let t = Instant::now();
                let out = gpu.execute(&w, &inputs).map_err(|e| e.to_string())?;
                wall = wall.min(t.elapsed());
                device = device.min(out.device_time);
            }
            let path = match kind {
                WorkloadKind::GemmI8 if cuda::i8_uses_cublas(n, k) => "cublasGemmEx",
                WorkloadKind::GemmI8 => "NVRTC kernel",
                _ => "cuBLAS sgemm",
            };
            let ours = rate(ops(m, n, k), device) / 1e3;
            let ours_wall = rate(ops(m, n, k), wall) / 1e3;
            let what = format!("{label} {m}x{n}x{k} via {path}, device time");
            rep.figure(
                &what,
                ours,
                unit,
                &format!("raw cuBLAS {g}^3, same run"),
                ref_rate,
            );
            if let Some(p) = peak_rate {
                rep.figure(
                    &what,
                    ours,
                    unit,
                    &format!("datasheet peak ({})", peak.map(|p| p.3).unwrap_or("")),
                    p,
                );
            }
            rep.figure(
                &format!("{label} {m}x{n}x{k}, incl. copies and packing"),
                ours_wall,
                unit,
                &format!("raw cuBLAS {g}^3, same run"),
                ref_rate,
            );
        }
        if let Some(p) = peak_rate {
            rep.figure(
                &format!("{label} raw cuBLAS {g}^3"),
                ref_rate,
                unit,
                "datasheet peak",
                p,
            );
        }
        Ok(())
    };
    for kind in [WorkloadKind::GemmI8, WorkloadKind::GemmF32] {
        if let Err(e) = run(kind, rep) {
            rep.note(format!("GPU {}: failed: {e}", kind.name()));
        }
    }
    if peak.is_none() {
        rep.note(format!("GPU: no datasheet peak on file for {:?}", d.name));
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse from the harness.
    let o = options();
    let mut rep = Report {
        json: o.json,
        figures: Vec::new(),
        notes: Vec::new(),
    };
    if !o.json {
        println!(
            "  {:<44} {:>9} {:<7} | {:<46} {:>9} {:<7} | ratio",
            "measured", "value", "unit", "baseline (same run)", "value", "unit"
        );
    }
    cpu_section(&o, &mut rep);
    gpu_section(&o, &mut rep);
    if o.json {
        let doc = serde_json::json!({ "figures": rep.figures, "notes": rep.notes });
        println!("{doc}");
    }
}
