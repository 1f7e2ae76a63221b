//! CUDA: probing for a driver, describing the GPUs, and the CUDA executor. Workloads and
//! input bytes go in; output bytes and CUDA-event device times come out. This is the
//! only module with `unsafe` code: cudarc's raw cuBLAS call, kernel launches, device
//! memory reinterpretation and `dlopen` probes.
//!
//! cudarc is built with `dynamic-loading`, so nothing here links against CUDA; but
//! cudarc *panics* on its first call when a library or symbol is missing. Hence:
//! [`detect`] `dlopen`s the driver itself (the same names, in the same order, that
//! cudarc would try: libcuda.so, ..., libcuda.so.1) and checks every driver symbol
//! the executor uses before calling into cudarc, and [`CudaExecutor::new`] does the same
//! for libcublas and libnvrtc. Nothing in this module panics when CUDA is absent.
//!
//! Paths:
//! - gemm-f32: cuBLAS `sgemm` (default math mode: true FP32, no TF32). Row-major C = A·B
//!   is column-major Cᵀ = Bᵀ·Aᵀ, so cuBLAS gets (B, A) with m and n swapped and no
//!   transposes.
//! - gemm-i8: `cublasGemmEx` with int8 inputs, int32 output and `CUBLAS_COMPUTE_32I` in
//!   the "TN" layout int8 tensor-core kernels want (A' = Bᵀ stored n x k, op T; B' = A,
//!   op N; leading dimensions k, k, n) when k and n are multiples of 4; otherwise, or if
//!   cuBLAS rejects the call, an NVRTC-compiled 64 x 64-tiled kernel ([`I8_KERNEL`]).
//!   Integer arithmetic is exact, so both are byte-identical to [`crate::gemm::gemm_i8`].
//! - cuda-kernel: NVRTC compiles the buyer's source to a CUBIN for the device's exact
//!   architecture (`sm_XY`, not PTX: a PTX image needs a JIT at least as new as the
//!   NVRTC that emitted it, and CUDA's minor-version compatibility, e.g. a 13.x NVRTC
//!   wheel on a 13.0 driver, covers SASS but not PTX JIT); inputs are uploaded, outputs
//!   zeroed, the kernel launched once with the spec's grid, block, dynamic shared memory
//!   and arguments in order, and the outputs downloaded and concatenated in argument
//!   order. Dynamic shared memory above 48 KiB is opted into per function. A buyer kernel runs with the
//!   provider's privileges on the GPU: it can fault (the context is then unusable and
//!   every later job fails until the executor is rebuilt) or loop forever (there is no
//!   watchdog here; the worker must enforce a deadline).
//!
//! One job at a time per executor (a mutex): jobs are large, and one stream keeps the
//! device-time measurement honest. Host buffers are ordinary pageable memory: every
//! transfer is one-shot, and staging through pinned memory would add a host copy per
//! byte to save a driver-side one; pinned buffers pay off only once the worker streams
//! jobs back to back and reuses them.
//!
//! # Running the GPU tests and benchmark on a GPU machine
//!
//! The GPU machine needs no Rust toolchain: build here (release, stripped, no Solana
//! dependencies: about 1 MB each), carry `.gpu/compute/` over, run one script there:
//!
//! ```text
//! bash workers/compute/gpu-run.sh   # here: builds .gpu/compute/{gpu-tests,compute-bench,run.sh}
//! bash .gpu/compute/run.sh          # there: GPU tests with --ignored, then the benchmark
//! ```
//!
//! `run.sh` prepends the lib directories of the NVIDIA pip wheels (nvidia-cublas,
//! nvidia-cuda-nvrtc; CUDA 12 or 13) to `LD_LIBRARY_PATH` when python3 can import them,
//! then runs `gpu-tests --ignored --test-threads=1` and `compute-bench`. By hand that is
//! `LD_LIBRARY_PATH=<dirs holding libcublas.so.*, libnvrtc.so.*> ./gpu-tests --ignored
//! --test-threads=1 && ./compute-bench`; libcuda.so.1 comes from the driver.
//!
//! Files: [`detect`] (probing libraries and devices, no CUDA context), [`executor`]
//! (the executor, its stream and its timing), [`gemm`] (cuBLAS and the int8 fallback
//! kernel), [`kernel`] (NVRTC compilation and buyer kernels), [`error`] (driver and
//! cuBLAS errors into [`ExecError`](crate::exec::ExecError)).

mod detect;
mod error;
mod executor;
mod gemm;
mod kernel;

pub use detect::{detect, Detection};
pub use executor::CudaExecutor;
pub use gemm::{i8_uses_cublas, I8_KERNEL};
// For the training engine's CUDA trainer (crate::train::cuda).
pub(crate) use detect::{probe_library, NVRTC_SYMBOLS};
pub(crate) use error::drv;
pub(crate) use kernel::compile_cubin;
