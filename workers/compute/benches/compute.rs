//! gpu-market-compute benchmark (`cargo bench -p gpu-market-compute`): every figure is
//! printed next to a baseline measured in the same run, with the ratio.
//!
//! CPU: gemm-i8 vs the textbook triple loop and vs matrixmultiply's sgemm on the same
//! values as f32 (exact for k <= 1024); gemm-f32 vs matrixmultiply sgemm single-threaded
//! (one call) and multi-threaded (one single-threaded call per band of rows, one band
//! per hardware thread: this workspace builds matrixmultiply without its own
//! `threading` feature); commitment hashing (parallel Merkle over rows) vs one plain
//! SHA-256 pass over the same bytes.
//!
//! GPU (only when a usable GPU is detected, else one line saying why it was skipped):
//! our gemm-i8 (cuBLAS path on an aligned shape, NVRTC kernel on an odd one) and
//! gemm-f32 as fractions of raw cuBLAS measured on the aligned shape in the same run,
//! and of the chip's datasheet peak.
//!
//! Options (flags or environment): `--size N` / GPU_MARKET_BENCH_SIZE (CPU GEMM side,
//! default 512), `--hash-mib N` / GPU_MARKET_BENCH_HASH_MIB (default 64), `--gpu-size
//! N` / GPU_MARKET_BENCH_GPU_SIZE (default 8192), `--reps N` / GPU_MARKET_BENCH_REPS
//! (best of, default 5), `--output json` / GPU_MARKET_BENCH_OUTPUT=json.

use gpu_market_compute::cuda::{self, CudaExecutor, Detection};
use gpu_market_compute::exec::{Executor, Inputs};
use gpu_market_compute::merkle::MerkleTree;
use gpu_market_compute::spec::{self, random_f32_matrix, random_i8_matrix, Workload, WorkloadKind};
use gpu_market_compute::{commit, gemm};
use serde::Serialize;
use std::time::{Duration, Instant};

struct Options {
    size: usize,
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
    Options {
        size: num("--size", "GPU_MARKET_BENCH_SIZE", 512),
        hash_mib: num("--hash-mib", "GPU_MARKET_BENCH_HASH_MIB", 64),
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

/// Best wall times of `f` and `g` over `reps` rounds, alternating them so that load
/// from other processes hits both alike.
fn best_pair<T, U>(
    reps: u32,
    mut f: impl FnMut() -> T,
    mut g: impl FnMut() -> U,
) -> (Duration, Duration) {
    let (mut tf, mut tg) = (Duration::MAX, Duration::MAX);
    for _ in 0..reps.max(1) {
        tf = tf.min(best(1, &mut f));
        tg = tg.min(best(1, &mut g));
    }
    (tf, tg)
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
    let s = o.size;
    let ops = 2.0 * (s * s * s) as f64;
    rep.note(format!(
        "CPU: {threads} hardware threads, {} ({}); GEMM {s}x{s}x{s}, best of {}",
        std::env::consts::ARCH,
        if cfg!(target_feature = "avx2") {
            "AVX2 build"
        } else {
            "baseline x86-64 build: SSE2"
        },
        o.reps
    ));

    let a8 = gemm::i8s_from_bytes(&random_i8_matrix(1, s as u32, s as u32));
    let b8 = gemm::i8s_from_bytes(&random_i8_matrix(2, s as u32, s as u32));
    let (ours, naive) = best_pair(
        o.reps.min(2),
        || gemm::gemm_i8(s, s, s, &a8, &b8),
        || gemm::gemm_i8_naive(s, s, s, &a8, &b8),
    );
    rep.figure(
        "gemm-i8 ours GOP/s",
        rate(ops, ours),
        "GOP/s",
        "textbook i-j-k loop, 1 thread",
        rate(ops, naive),
    );
    let (af8, bf8): (Vec<f32>, Vec<f32>) = (
        a8.iter().map(|&x| x as f32).collect(),
        b8.iter().map(|&x| x as f32).collect(),
    );
    let mut c = vec![0f32; s * s];
    let (ours, mm_mt) = best_pair(
        o.reps,
        || gemm::gemm_i8(s, s, s, &a8, &b8),
        || mm_sgemm_bands(s, s, s, &af8, &bf8, &mut c, threads),
    );
    rep.figure(
        "gemm-i8 ours GOP/s",
        rate(ops, ours),
        "GOP/s",
        &format!("matrixmultiply sgemm, same values, {threads} bands"),
        rate(ops, mm_mt),
    );

    let af = gemm::f32s_from_le_bytes(&random_f32_matrix(3, s as u32, s as u32));
    let bf = gemm::f32s_from_le_bytes(&random_f32_matrix(4, s as u32, s as u32));
    let (ours, mm_st) = best_pair(
        o.reps,
        || gemm::gemm_f32(s, s, s, &af, &bf),
        || mm_sgemm(s, s, s, &af, &bf, &mut c),
    );
    rep.figure(
        "gemm-f32 ours GFLOP/s",
        rate(ops, ours),
        "GFLOP/s",
        "matrixmultiply sgemm, 1 thread",
        rate(ops, mm_st),
    );
    let (ours, mm_mt) = best_pair(
        o.reps,
        || gemm::gemm_f32(s, s, s, &af, &bf),
        || mm_sgemm_bands(s, s, s, &af, &bf, &mut c, threads),
    );
    rep.figure(
        "gemm-f32 ours GFLOP/s",
        rate(ops, ours),
        "GFLOP/s",
        &format!("matrixmultiply sgemm, {threads} thread bands"),
        rate(ops, mm_mt),
    );

    // Commitment hashing: a C of 4 KiB rows (n = 1024 i32 columns).
    let bytes = random_i8_matrix(5, (o.hash_mib * 256) as u32, 4096);
    let w = Workload::GemmI8 {
        m: (o.hash_mib * 256) as u32,
        n: 1024,
        k: 1,
    };
    let (merkle, plain) = best_pair(
        o.reps,
        || commit::result_root(&w, &bytes),
        || spec::sha256(&bytes),
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
