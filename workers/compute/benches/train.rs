//! train-mlp benchmark (`cargo bench -p gpu-market-compute --bench train`): every figure
//! is printed next to a baseline measured in the same run, with the ratio.
//!
//! - Training steps per second on the CPU: the engine (`train::CpuTrainer`) against the
//!   plain reference loop (`train::ReferenceTrainer`, the step's definition written one
//!   output element at a time), both from the same checkpoint on the bundled digits
//!   (64-32-10, batch 32). The two runs' checkpoints are asserted byte-identical first,
//!   so the comparison is between two ways of computing the same bits.
//! - Checkpoint overhead, as fractions of the engine's time for one segment of `--every`
//!   steps (the baseline, timed in the same alternating rounds): serializing a
//!   checkpoint with its SHA-256 state root; that plus a plain write and fsync of a file;
//!   that plus `gpu_market_blobs::CheckpointStore::put` into a local directory (the
//!   framing hash, temp file, fsync, rename, directory fsync: what a worker does with
//!   every segment's checkpoint); and that plus a `put` to an HTTP store on the
//!   in-process test server (`gpu_market_blobs::testing`: one PUT, then the read-back
//!   GET and hash check), the upload a buyer's HTTP or S3 store costs before loopback's
//!   network latency is added.
//! - On a machine with a usable GPU, the CUDA trainer's steps per second against the
//!   CPU engine's (else one line saying why it was skipped).
//!
//! Pairs are timed alternately, `--reps` rounds, and the medians compared, so that load
//! from other processes hits both alike. Options (flags or environment): `--steps N` /
//! GPU_MARKET_BENCH_TRAIN_STEPS (steps per timed run, default 500), `--every S` /
//! GPU_MARKET_BENCH_TRAIN_EVERY (segment length, default 100), `--reps N` /
//! GPU_MARKET_BENCH_REPS (default 5), `--output json` / GPU_MARKET_BENCH_OUTPUT=json.

use gpu_market_blobs::testing::ObjectServer;
use gpu_market_blobs::CheckpointStore;
use gpu_market_compute::cuda::{self, Detection};
use gpu_market_compute::train::{
    Checkpoint, Config, CpuTrainer, CudaTrainer, Digits, ReferenceTrainer, Trainer,
};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

struct Options {
    steps: u64,
    every: u64,
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
    let num = |flag: &str, env: &str, default: u64| {
        get(flag, env)
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or(default)
    };
    Options {
        steps: num("--steps", "GPU_MARKET_BENCH_TRAIN_STEPS", 500),
        every: num("--every", "GPU_MARKET_BENCH_TRAIN_EVERY", 100),
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

    #[allow(clippy::too_many_arguments)]
    fn figure(
        &mut self,
        what: &str,
        value: f64,
        unit: &'static str,
        baseline: &str,
        base: f64,
        base_unit: &'static str,
    ) {
        let ratio = value / base;
        if !self.json {
            println!(
                "  {what:<40} {value:>10.3} {unit:<7} | {baseline:<36} {base:>10.3} {base_unit:<7} | x{ratio:.4}"
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

/// Median wall times of each closure over `reps` rounds, run alternately.
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

fn per_s(steps: u64, t: Duration) -> f64 {
    steps as f64 / t.as_secs_f64()
}

fn main() {
    let o = options();
    let mut rep = Report {
        json: o.json,
        figures: Vec::new(),
        notes: Vec::new(),
    };
    let digits = Digits::load(&Digits::bundled_path()).expect("bundled digits");
    let (train, _) = digits.split();
    let config = Config::digits();
    let c0 = Checkpoint::init(config, &train, 1, 2).expect("init");
    rep.note(format!(
        "train-mlp {}-{}-{}, batch {}, {} training digits; {} steps per timed run, segment {} steps, {} rounds",
        config.input, config.hidden, config.classes, config.batch, train.len(), o.steps, o.every, o.reps
    ));

    // Same bits first: the speed comparison is between two ways of computing them.
    let engine_end = CpuTrainer.train(&c0, &train, o.steps).unwrap();
    let reference_end = ReferenceTrainer.train(&c0, &train, o.steps).unwrap();
    assert_eq!(engine_end.to_bytes(), reference_end.to_bytes());

    let [engine, reference] = medians(
        o.reps,
        &mut [
            &mut || {
                std::hint::black_box(CpuTrainer.train(&c0, &train, o.steps).unwrap());
            },
            &mut || {
                std::hint::black_box(ReferenceTrainer.train(&c0, &train, o.steps).unwrap());
            },
        ],
    );
    rep.figure(
        "CPU engine, steps/s",
        per_s(o.steps, engine),
        "steps/s",
        "plain reference loop",
        per_s(o.steps, reference),
        "steps/s",
    );

    // A segment of `every` steps, then what storing its checkpoint costs.
    let dir = std::env::temp_dir().join(format!("gpu-market-train-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("checkpoint.bin");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = rt.block_on(ObjectServer::start()).expect("test server");
    let local = CheckpointStore::open(dir.join("store").to_str().unwrap()).unwrap();
    let http = CheckpointStore::open(&server.url("/ckpt")).unwrap();
    const JOB: &str = "bench";
    let mut bytes_len = 0;
    let (mut local_index, mut http_index) = (0u32, 0u32);
    let [segment, serialize, write, local_put, http_put] = medians(
        o.reps,
        &mut [
            &mut || {
                std::hint::black_box(CpuTrainer.train(&engine_end, &train, o.every).unwrap());
            },
            &mut || {
                let b = engine_end.to_bytes();
                bytes_len = b.len();
                std::hint::black_box(b);
            },
            &mut || {
                let b = engine_end.to_bytes();
                let mut f = std::fs::File::create(&path).unwrap();
                f.write_all(&b).unwrap();
                f.sync_all().unwrap();
            },
            &mut || {
                let b = engine_end.to_bytes();
                local_index += 1;
                rt.block_on(local.put(JOB, local_index, &b)).unwrap();
            },
            &mut || {
                let b = engine_end.to_bytes();
                http_index += 1;
                rt.block_on(http.put(JOB, http_index, &b)).unwrap();
            },
        ],
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let ms = |t: Duration| t.as_secs_f64() * 1e3;
    rep.note(format!(
        "checkpoint: {bytes_len} bytes; segment of {} steps {:.3} ms",
        o.every,
        ms(segment)
    ));
    for (what, t) in [
        ("serialize + SHA-256, ms", serialize),
        ("serialize + SHA-256 + write + fsync, ms", write),
        ("+ atomic local store put, ms", local_put),
        ("+ HTTP store put + read-back, ms", http_put),
    ] {
        rep.figure(
            what,
            ms(t),
            "ms",
            "one segment of training",
            ms(segment),
            "ms",
        );
    }
    rep.note(format!(
        "checkpoint overhead per segment: local store {:.2} %, HTTP store {:.2} % of the segment's training time",
        100.0 * local_put.as_secs_f64() / segment.as_secs_f64(),
        100.0 * http_put.as_secs_f64() / segment.as_secs_f64(),
    ));

    match cuda::detect() {
        Detection::Unavailable { reason } => {
            rep.note(format!("GPU part skipped: {reason}"));
        }
        Detection::Available { .. } => match CudaTrainer::new(0) {
            Err(e) => rep.note(format!("GPU part skipped: {e}")),
            Ok(gpu) => {
                let cuda_end = gpu.train(&c0, &train, o.steps).unwrap();
                assert_eq!(cuda_end.to_bytes(), engine_end.to_bytes());
                let [g, c] = medians(
                    o.reps,
                    &mut [
                        &mut || {
                            std::hint::black_box(gpu.train(&c0, &train, o.steps).unwrap());
                        },
                        &mut || {
                            std::hint::black_box(CpuTrainer.train(&c0, &train, o.steps).unwrap());
                        },
                    ],
                );
                rep.figure(
                    &format!("CUDA trainer ({}), steps/s", gpu.device().name),
                    per_s(o.steps, g),
                    "steps/s",
                    "CPU engine",
                    per_s(o.steps, c),
                    "steps/s",
                );
            }
        },
    }
    if o.json {
        let doc = serde_json::json!({ "figures": rep.figures, "notes": rep.notes });
        println!("{doc}");
    }
}
