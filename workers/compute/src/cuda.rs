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

use crate::commit::gemm_b_columns;
use crate::exec::{check_inputs, DeviceInfo, DeviceKind, ExecError, ExecOutput, Executor, Inputs};
use crate::spec::{KernelArg, Workload, WorkloadKind};
use cudarc::cublas::{self, CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{
    self, CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DevicePtrMut, LaunchConfig,
    PushKernelArg,
};
use cudarc::nvrtc;
use std::ffi::{c_void, CString};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every driver entry point the executor reaches through cudarc. Checked at detection so
/// an old driver is reported instead of making cudarc panic ("Missing symbol").
const DRIVER_SYMBOLS: &[&str] = &[
    "cuInit",
    "cuDriverGetVersion",
    "cuDeviceGetCount",
    "cuDeviceGet",
    "cuDeviceGetName",
    "cuDeviceTotalMem_v2",
    "cuDeviceGetAttribute",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxSetCurrent",
    "cuCtxGetCurrent",
    "cuCtxSynchronize",
    "cuStreamCreate",
    "cuStreamSynchronize",
    "cuStreamWaitEvent",
    "cuStreamDestroy_v2",
    "cuMemAllocAsync",
    "cuMemFreeAsync",
    "cuMemAlloc_v2",
    "cuMemFree_v2",
    "cuMemsetD8Async",
    "cuMemcpyHtoDAsync_v2",
    "cuMemcpyDtoHAsync_v2",
    "cuMemGetInfo_v2",
    "cuModuleLoadData",
    "cuModuleGetFunction",
    "cuModuleUnload",
    "cuFuncSetAttribute",
    "cuLaunchKernel",
    "cuEventCreate",
    "cuEventRecord",
    "cuEventSynchronize",
    // Added in CUDA 12.8 (driver 570); cudarc's cuda-13000 bindings use it for timing.
    "cuEventElapsedTime_v2",
    "cuEventDestroy_v2",
    "cuGetErrorString",
    "cuGetErrorName",
];
const CUBLAS_SYMBOLS: &[&str] = &[
    "cublasCreate_v2",
    "cublasDestroy_v2",
    "cublasSetStream_v2",
    "cublasSgemm_v2",
    "cublasGemmEx",
];
const NVRTC_SYMBOLS: &[&str] = &[
    "nvrtcCreateProgram",
    "nvrtcCompileProgram",
    "nvrtcGetCUBINSize",
    "nvrtcGetCUBIN",
    "nvrtcGetProgramLogSize",
    "nvrtcGetProgramLog",
    "nvrtcDestroyProgram",
];

/// Finds the first of cudarc's candidate names for `lib` that loads and exports every
/// symbol in `symbols`; returns the file name cudarc will also pick.
fn probe_library(lib: &str, symbols: &[&str]) -> Result<String, String> {
    let candidates = cudarc::get_lib_name_candidates(lib);
    for name in &candidates {
        // SAFETY: dlopen runs the library's initializers. We only open NVIDIA's CUDA
        // libraries under the names cudarc itself will open moments later, so this adds
        // no code that would not run anyway.
        let Ok(handle) = (unsafe { libloading::Library::new(name) }) else {
            continue;
        };
        for sym in symbols {
            // SAFETY: the symbol is looked up, never called; `*const c_void` makes no
            // claim about its signature.
            if unsafe { handle.get::<*const c_void>(sym.as_bytes()) }.is_err() {
                return Err(format!(
                    "{name} lacks {sym} (too old for these bindings: needs CUDA 12.8+ / driver 570+)"
                ));
            }
        }
        return Ok(name.clone());
    }
    let first = candidates.last().cloned().unwrap_or_else(|| lib.into());
    Err(format!(
        "no {first} found (tried {} names; set LD_LIBRARY_PATH to the directory holding it)",
        candidates.len()
    ))
}

/// What the machine offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detection {
    Available {
        /// The driver library file that was loaded, e.g. "libcuda.so.1".
        driver_library: String,
        /// cuDriverGetVersion: 1000·major + 10·minor (13000 = CUDA 13.0).
        driver_version: i32,
        devices: Vec<DeviceInfo>,
    },
    Unavailable {
        /// Human-readable: "no libcuda.so.1 found (...)", "driver reported 0 devices", ...
        reason: String,
    },
}

impl Detection {
    pub fn devices(&self) -> &[DeviceInfo] {
        match self {
            Detection::Available { devices, .. } => devices,
            Detection::Unavailable { .. } => &[],
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Detection::Available { .. } => None,
            Detection::Unavailable { reason } => Some(reason),
        }
    }
}

/// Probes libcuda, then asks the driver for its devices. Never panics.
pub fn detect() -> Detection {
    detect_inner().unwrap_or_else(|reason| Detection::Unavailable { reason })
}

fn detect_inner() -> Result<Detection, String> {
    let driver_library = probe_library("cuda", DRIVER_SYMBOLS)?;
    driver::result::init().map_err(|e| format!("cuInit failed: {e:?}"))?;
    let mut driver_version = 0;
    // SAFETY: cuInit succeeded; the out-pointer is a live local.
    unsafe { driver::sys::cuDriverGetVersion(&mut driver_version) }
        .result()
        .map_err(|e| format!("cuDriverGetVersion failed: {e:?}"))?;
    let count = driver::result::device::get_count()
        .map_err(|e| format!("cuDeviceGetCount failed: {e:?}"))?;
    if count <= 0 {
        return Err("driver reported 0 devices".into());
    }
    let devices = (0..count)
        .map(device_info)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("could not query a device: {e:?}"))?;
    Ok(Detection::Available {
        driver_library,
        driver_version,
        devices,
    })
}

fn device_info(ordinal: i32) -> Result<DeviceInfo, driver::DriverError> {
    use driver::sys::CUdevice_attribute as A;
    let dev = driver::result::device::get(ordinal)?;
    let name = driver::result::device::get_name(dev)?;
    // SAFETY: `dev` was just returned by cuDeviceGet.
    let memory = unsafe { driver::result::device::total_mem(dev) }?;
    // SAFETY: as above; attributes are plain integer queries.
    let attr = |a| unsafe { driver::result::device::get_attribute(dev, a) };
    let sm = attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
    let major = attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
    let minor = attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
    Ok(DeviceInfo {
        kind: DeviceKind::Cuda,
        name,
        memory_bytes: memory as u64,
        sm_count: sm.max(0) as u32,
        compute_capability: (major.max(0) * 10 + minor.max(0)) as u16,
        count: 1,
    })
}

/// Fallback int8 GEMM for shapes cuBLAS will not take: C (M x N, int32) = A (M x K) ·
/// Btᵀ with Bt = Bᵀ stored N x K, both row-major int8. 16 x 16 threads per block, each
/// computing a 4 x 4 patch of a 64 x 64 tile of C; K is walked 16 at a time through
/// shared memory (rows padded to 65 ints so both fills and reads avoid bank conflicts).
/// Every index is bounds-checked, so any M, N, K works; int arithmetic is exact.
pub const I8_KERNEL: &str = r#"
extern "C" __global__ void gemm_i8_tiled(const signed char* __restrict__ A,
                                         const signed char* __restrict__ Bt,
                                         int* __restrict__ C,
                                         unsigned int M, unsigned int N, unsigned int K) {
    __shared__ int As[16][65];
    __shared__ int Bs[16][65];
    const unsigned int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const size_t row0 = (size_t)blockIdx.x * 64, col0 = (size_t)blockIdx.y * 64;
    int acc[4][4];
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = 0;
    for (size_t k0 = 0; k0 < K; k0 += 16) {
        for (int l = 0; l < 4; ++l) {
            const unsigned int e = tid + l * 256;   /* 0..1023 = 64 rows x 16 k */
            const unsigned int r = e / 16, kk = e % 16;
            const size_t gk = k0 + kk, gr = row0 + r, gc = col0 + r;
            As[kk][r] = (gr < M && gk < K) ? (int)A[gr * K + gk] : 0;
            Bs[kk][r] = (gc < N && gk < K) ? (int)Bt[gc * K + gk] : 0;
        }
        __syncthreads();
        for (int kk = 0; kk < 16; ++kk) {
            int a[4], b[4];
            for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
            for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
    for (int i = 0; i < 4; ++i) {
        const size_t r = row0 + ty + 16 * i;
        for (int j = 0; j < 4; ++j) {
            const size_t c = col0 + tx + 16 * j;
            if (r < M && c < N) C[r * N + c] = acc[i][j];
        }
    }
}
"#;

/// Whether gemm-i8 of this shape is first offered to cuBLAS (leading dimensions k and n
/// multiples of 4, as int8 tensor-core kernels require); otherwise the NVRTC kernel runs.
pub fn i8_uses_cublas(n: u32, k: u32) -> bool {
    n.is_multiple_of(4) && k.is_multiple_of(4)
}

fn drv(during: &'static str) -> impl Fn(driver::DriverError) -> ExecError {
    move |e| ExecError::Driver {
        during,
        message: format!("{e:?}"),
    }
}

fn blas_err(during: &'static str) -> impl Fn(cublas::result::CublasError) -> ExecError {
    move |e| ExecError::Cublas {
        during,
        message: format!("{e:?}"),
    }
}

/// Executor for one CUDA device.
pub struct CudaExecutor {
    info: DeviceInfo,
    /// Compute capability (major, minor), for NVRTC's --gpu-architecture.
    cc: (i32, i32),
    state: Mutex<State>,
}

/// Destroys an NVRTC program on every exit path (errors ignored: nothing to do).
struct Program(nvrtc::sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: the program was created by nvrtcCreateProgram and is destroyed once.
        let _ = unsafe { nvrtc::result::destroy_program(self.0) };
    }
}

struct State {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    /// The fallback int8 kernel, compiled on first use.
    i8_kernel: Option<CudaFunction>,
}

impl CudaExecutor {
    /// Opens device `ordinal`. Fails (never panics) when the driver, cuBLAS or NVRTC is
    /// missing or the device cannot be opened.
    pub fn new(ordinal: usize) -> Result<Self, ExecError> {
        let devices = match detect() {
            Detection::Available { devices, .. } => devices,
            Detection::Unavailable { reason } => return Err(ExecError::CudaUnavailable(reason)),
        };
        let info = devices.get(ordinal).cloned().ok_or_else(|| {
            ExecError::CudaUnavailable(format!(
                "device {ordinal} requested, driver reports {}",
                devices.len()
            ))
        })?;
        probe_library("cublas", CUBLAS_SYMBOLS).map_err(ExecError::CudaUnavailable)?;
        probe_library("nvrtc", NVRTC_SYMBOLS).map_err(ExecError::CudaUnavailable)?;
        let ctx = CudaContext::new(ordinal).map_err(drv("opening the device"))?;
        let cc = ctx
            .compute_capability()
            .map_err(drv("compute capability"))?;
        let stream = ctx.new_stream().map_err(drv("creating a stream"))?;
        let blas = CudaBlas::new(stream.clone()).map_err(blas_err("creating a handle"))?;
        Ok(CudaExecutor {
            info,
            cc,
            state: Mutex::new(State {
                ctx,
                stream,
                blas,
                i8_kernel: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means an earlier job panicked mid-way; the CUDA objects
        // themselves are still valid (or report their own errors).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Compiles CUDA C to a CUBIN for this device's exact architecture (`sm_XY`).
    /// Not PTX: a PTX image needs a JIT at least as new as the NVRTC that emitted it,
    /// and CUDA's minor-version compatibility (a 13.x NVRTC wheel on a 13.0 driver)
    /// covers SASS but not PTX JIT.
    fn compile(&self, source: &str, name: &str) -> Result<nvrtc::Ptx, ExecError> {
        let nvrtc_err = |e: nvrtc::result::NvrtcError| ExecError::Compile {
            log: format!("{e:?}"),
        };
        let (src, name) = match (CString::new(source), CString::new(name)) {
            (Ok(s), Ok(n)) => (s, n),
            // Spec validation refuses NUL bytes; this keeps it an error regardless.
            _ => {
                return Err(ExecError::Compile {
                    log: "source contains a NUL byte".into(),
                })
            }
        };
        let prog = Program(nvrtc::result::create_program(&src, Some(&name)).map_err(nvrtc_err)?);
        let arch = format!("--gpu-architecture=sm_{}{}", self.cc.0, self.cc.1);
        // SAFETY: `prog` is a live program created above; the option is a NUL-free
        // string (cudarc converts it to a C string for the call).
        if let Err(e) = unsafe { nvrtc::result::compile_program(prog.0, &[arch]) } {
            // SAFETY: as above; the log is a NUL-terminated buffer NVRTC sized itself.
            let log = unsafe { nvrtc::result::get_program_log(prog.0) }
                .map(|raw| {
                    let bytes: Vec<u8> = raw
                        .iter()
                        .take_while(|&&c| c != 0)
                        .map(|&c| c as u8)
                        .collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .unwrap_or_else(|_| format!("{e:?} (no log)"));
            return Err(ExecError::Compile { log });
        }
        let mut size = 0usize;
        // SAFETY: `prog` compiled successfully; `size` is a live out-parameter.
        unsafe { nvrtc::sys::nvrtcGetCUBINSize(prog.0, &mut size) }
            .result()
            .map_err(nvrtc_err)?;
        let mut cubin = vec![0u8; size];
        // SAFETY: `cubin` has exactly the size NVRTC just reported.
        unsafe { nvrtc::sys::nvrtcGetCUBIN(prog.0, cubin.as_mut_ptr().cast()) }
            .result()
            .map_err(nvrtc_err)?;
        Ok(nvrtc::Ptx::from_binary(cubin))
    }

    /// Best-of-`reps` device time of one raw cuBLAS GEMM (sgemm for gemm-f32,
    /// GemmEx int8 TN for gemm-i8) on random device-resident data, no transfers: the
    /// reference our executor paths are compared against in the benchmark.
    pub fn cublas_reference(
        &self,
        kind: WorkloadKind,
        m: u32,
        n: u32,
        k: u32,
        reps: u32,
    ) -> Result<Duration, ExecError> {
        let st = self.lock();
        st.ctx
            .bind_to_thread()
            .map_err(drv("binding the context"))?;
        let (m, n, k) = (m as usize, n as usize, k as usize);
        // For int8 the second operand stands in for Bᵀ (n x k): same size, and the
        // values do not matter for timing.
        let (a, b) = match kind {
            WorkloadKind::GemmI8 => (
                crate::spec::random_i8_matrix(1, m as u32, k as u32),
                crate::spec::random_i8_matrix(2, n as u32, k as u32),
            ),
            _ => (
                crate::spec::random_f32_matrix(1, m as u32, k as u32),
                crate::spec::random_f32_matrix(2, k as u32, n as u32),
            ),
        };
        let d_a = st.stream.clone_htod(&a).map_err(drv("upload"))?;
        let d_b = st.stream.clone_htod(&b).map_err(drv("upload"))?;
        let mut d_c = st
            .stream
            .alloc_zeros::<u8>(m * n * 4)
            .map_err(drv("allocation"))?;
        let mut best = Duration::MAX;
        for _ in 0..reps.max(1) {
            let (r, t) = st.timed(|st| match kind {
                WorkloadKind::GemmI8 => st
                    .gemm_ex_i8(m, n, k, &d_a, &d_b, &mut d_c)
                    .map_err(blas_err("cublasGemmEx")),
                _ => st.sgemm(m, n, k, &d_a, &d_b, &mut d_c),
            })?;
            r?;
            best = best.min(t);
        }
        Ok(best)
    }
}

impl State {
    /// Runs `f` between two CUDA events on the stream and returns its result with the
    /// elapsed device time.
    fn timed<T>(&self, f: impl FnOnce(&Self) -> T) -> Result<(T, Duration), ExecError> {
        let flags = Some(driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
        let start = self
            .ctx
            .new_event(flags)
            .map_err(drv("creating an event"))?;
        let end = self
            .ctx
            .new_event(flags)
            .map_err(drv("creating an event"))?;
        start
            .record(&self.stream)
            .map_err(drv("recording an event"))?;
        let value = f(self);
        end.record(&self.stream)
            .map_err(drv("recording an event"))?;
        let ms = start.elapsed_ms(&end).map_err(drv("device execution"))?;
        Ok((value, Duration::from_secs_f64(ms.max(0.0) as f64 / 1e3)))
    }

    /// Row-major C (m x n) = A (m x k) · B (k x n) as column-major Cᵀ = Bᵀ·Aᵀ.
    /// Buffers hold f32 bytes.
    fn sgemm(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &CudaSlice<u8>,
        b: &CudaSlice<u8>,
        c: &mut CudaSlice<u8>,
    ) -> Result<(), ExecError> {
        let shape = || ExecError::Launch("buffer smaller than the GEMM shape".into());
        // SAFETY: the buffers hold little-endian f32s (their lengths were checked against
        // m, n, k), device allocations are at least 256-byte aligned, and every bit
        // pattern is a valid f32.
        let (a_v, b_v) = unsafe { (a.transmute::<f32>(m * k), b.transmute::<f32>(k * n)) };
        let (a_v, b_v) = (a_v.ok_or_else(shape)?, b_v.ok_or_else(shape)?);
        // SAFETY: as above, for the m·n output floats.
        let mut c_v = unsafe { c.transmute_mut::<f32>(m * n) }.ok_or_else(shape)?;
        let cfg = GemmConfig {
            transa: cublas::sys::cublasOperation_t::CUBLAS_OP_N,
            transb: cublas::sys::cublasOperation_t::CUBLAS_OP_N,
            m: n as i32,
            n: m as i32,
            k: k as i32,
            alpha: 1.0f32,
            lda: n as i32,
            ldb: k as i32,
            beta: 0.0f32,
            ldc: n as i32,
        };
        // SAFETY: spec validation bounds m, n, k by MAX_DIM (< i32::MAX); the views
        // hold exactly k·n (first operand, ld n), m·k (second, ld k) and m·n (output,
        // ld n) floats, which is what column-major n x k, k x m and n x m need.
        unsafe { self.blas.gemm(cfg, &b_v, &a_v, &mut c_v) }.map_err(blas_err("sgemm"))
    }

    /// cublasGemmEx int8 "TN": `bt` is Bᵀ (n x k row-major = column-major k x n).
    fn gemm_ex_i8(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &CudaSlice<u8>,
        bt: &CudaSlice<u8>,
        c: &mut CudaSlice<u8>,
    ) -> Result<(), cublas::result::CublasError> {
        use cublas::sys::{
            cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType_t,
        };
        let (alpha, beta) = (1i32, 0i32);
        let (a_ptr, _ra) = a.device_ptr(&self.stream);
        let (bt_ptr, _rb) = bt.device_ptr(&self.stream);
        let (c_ptr, _rc) = c.device_ptr_mut(&self.stream);
        // SAFETY: the handle is bound to `self.stream`, on which the pointers' pending
        // writes were ordered by device_ptr; bt holds n·k int8 (lda = k), a holds m·k
        // int8 (ldb = k), c holds m·n int32 (ldc = n); alpha/beta are int32 host scalars
        // as CUBLAS_COMPUTE_32I requires, alive across the (synchronous-to-enqueue) call.
        unsafe {
            cublas::result::gemm_ex(
                *self.blas.handle(),
                cublasOperation_t::CUBLAS_OP_T,
                cublasOperation_t::CUBLAS_OP_N,
                n as i32,
                m as i32,
                k as i32,
                (&alpha) as *const i32 as *const c_void,
                bt_ptr as *const c_void,
                cudaDataType_t::CUDA_R_8I,
                k as i32,
                a_ptr as *const c_void,
                cudaDataType_t::CUDA_R_8I,
                k as i32,
                (&beta) as *const i32 as *const c_void,
                c_ptr as *mut c_void,
                cudaDataType_t::CUDA_R_32I,
                n as i32,
                cublasComputeType_t::CUBLAS_COMPUTE_32I,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_i8_kernel(
        &self,
        func: &CudaFunction,
        m: usize,
        n: usize,
        k: usize,
        a: &CudaSlice<u8>,
        bt: &CudaSlice<u8>,
        c: &mut CudaSlice<u8>,
    ) -> Result<(), ExecError> {
        let cfg = LaunchConfig {
            grid_dim: (m.div_ceil(64) as u32, n.div_ceil(64) as u32, 1),
            block_dim: (16, 16, 1),
            shared_mem_bytes: 0,
        };
        let (m32, n32, k32) = (m as u32, n as u32, k as u32);
        let mut launch = self.stream.launch_builder(func);
        launch.arg(a).arg(bt).arg(c).arg(&m32).arg(&n32).arg(&k32);
        // SAFETY: the argument list matches gemm_i8_tiled's signature (two int8
        // pointers, an int32 pointer, three unsigned ints); a holds m·k bytes, bt n·k,
        // c 4·m·n; the kernel bounds-checks every access; grid.y = ceil(n/64) <= 32768
        // because n <= MAX_DIM.
        unsafe { launch.launch(cfg) }
            .map(|_| ())
            .map_err(drv("launching the int8 kernel"))
    }
}

impl CudaExecutor {
    fn gemm_i8(
        &self,
        st: &mut State,
        m: usize,
        n: usize,
        k: usize,
        a: &[u8],
        b: &[u8],
    ) -> Result<ExecOutput, ExecError> {
        let bt = gemm_b_columns(b, k, n, 1);
        let d_a = st.stream.clone_htod(a).map_err(drv("upload"))?;
        let d_bt = st.stream.clone_htod(&bt).map_err(drv("upload"))?;
        let mut d_c = st
            .stream
            .alloc_zeros::<u8>(m * n * 4)
            .map_err(drv("allocation"))?;
        let mut device_time = None;
        if i8_uses_cublas(n as u32, k as u32) {
            let (r, t) = st.timed(|st| st.gemm_ex_i8(m, n, k, &d_a, &d_bt, &mut d_c))?;
            use cublas::sys::cublasStatus_t;
            match r {
                Ok(()) => device_time = Some(t),
                // Shapes or devices cuBLAS declines: fall through to our kernel.
                Err(cublas::result::CublasError(
                    cublasStatus_t::CUBLAS_STATUS_NOT_SUPPORTED
                    | cublasStatus_t::CUBLAS_STATUS_INVALID_VALUE
                    | cublasStatus_t::CUBLAS_STATUS_ARCH_MISMATCH,
                )) => {}
                Err(e) => return Err(blas_err("cublasGemmEx")(e)),
            }
        }
        let device_time = match device_time {
            Some(t) => t,
            None => {
                let func = match &st.i8_kernel {
                    Some(f) => f.clone(),
                    None => {
                        let ptx = self.compile(I8_KERNEL, "gemm_i8_tiled.cu")?;
                        let module = st
                            .ctx
                            .load_module(ptx)
                            .map_err(drv("loading the int8 kernel"))?;
                        let f = module
                            .load_function("gemm_i8_tiled")
                            .map_err(drv("loading the int8 kernel"))?;
                        st.i8_kernel = Some(f.clone());
                        f
                    }
                };
                let (r, t) =
                    st.timed(|st| st.launch_i8_kernel(&func, m, n, k, &d_a, &d_bt, &mut d_c))?;
                r?;
                t
            }
        };
        let bytes = st.stream.clone_dtoh(&d_c).map_err(drv("download"))?;
        Ok(ExecOutput { bytes, device_time })
    }

    fn gemm_f32(
        &self,
        st: &State,
        m: usize,
        n: usize,
        k: usize,
        a: &[u8],
        b: &[u8],
    ) -> Result<ExecOutput, ExecError> {
        let d_a = st.stream.clone_htod(a).map_err(drv("upload"))?;
        let d_b = st.stream.clone_htod(b).map_err(drv("upload"))?;
        let mut d_c = st
            .stream
            .alloc_zeros::<u8>(m * n * 4)
            .map_err(drv("allocation"))?;
        let (r, device_time) = st.timed(|st| st.sgemm(m, n, k, &d_a, &d_b, &mut d_c))?;
        r?;
        let bytes = st.stream.clone_dtoh(&d_c).map_err(drv("download"))?;
        Ok(ExecOutput { bytes, device_time })
    }

    #[allow(clippy::too_many_arguments)]
    fn cuda_kernel(
        &self,
        st: &State,
        source: &str,
        entry: &str,
        grid: [u32; 3],
        block: [u32; 3],
        shared_mem_bytes: u32,
        args: &[KernelArg],
        inputs: &Inputs,
    ) -> Result<ExecOutput, ExecError> {
        let ptx = self.compile(source, "job.cu")?;
        let module = st
            .ctx
            .load_module(ptx)
            .map_err(drv("loading the compiled module"))?;
        let func = module
            .load_function(entry)
            .map_err(|_| ExecError::MissingEntry {
                entry: entry.into(),
            })?;
        if shared_mem_bytes > 48 * 1024 {
            // Above 48 KiB dynamic shared memory must be opted into per function.
            func.set_attribute(
                driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                shared_mem_bytes as i32,
            )
            .map_err(|e| {
                ExecError::Launch(format!(
                    "{shared_mem_bytes} bytes of shared memory refused: {e:?}"
                ))
            })?;
        }
        // Buffers and scalars live in their own vectors, filled before the launch
        // builder borrows them, and are handed out in argument order.
        let mut ins = Vec::new();
        let mut outs = Vec::new();
        let (mut u32s, mut i32s, mut f32s, mut u64s) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for arg in args {
            match arg {
                KernelArg::Input { name } => {
                    let bytes = inputs
                        .get(name)
                        .ok_or_else(|| ExecError::MissingInput { name: name.clone() })?;
                    ins.push(st.stream.clone_htod(bytes).map_err(drv("upload"))?);
                }
                KernelArg::Output { len, .. } => {
                    outs.push(
                        st.stream
                            .alloc_zeros::<u8>(*len as usize)
                            .map_err(drv("allocation"))?,
                    );
                }
                KernelArg::U32(v) => u32s.push(*v),
                KernelArg::I32(v) => i32s.push(*v),
                KernelArg::F32(v) => f32s.push(*v),
                KernelArg::U64(v) => u64s.push(*v),
            }
        }
        let cfg = LaunchConfig {
            grid_dim: (grid[0], grid[1], grid[2]),
            block_dim: (block[0], block[1], block[2]),
            shared_mem_bytes,
        };
        let (r, device_time) = st.timed(|st| {
            let mut launch = st.stream.launch_builder(&func);
            let (mut i, mut o) = (ins.iter(), outs.iter_mut());
            let (mut su, mut si, mut sf, mut sl) =
                (u32s.iter(), i32s.iter(), f32s.iter(), u64s.iter());
            let missing = || ExecError::Launch("argument bookkeeping mismatch".into());
            for arg in args {
                match arg {
                    KernelArg::Input { .. } => launch.arg(i.next().ok_or_else(missing)?),
                    KernelArg::Output { .. } => launch.arg(o.next().ok_or_else(missing)?),
                    KernelArg::U32(_) => launch.arg(su.next().ok_or_else(missing)?),
                    KernelArg::I32(_) => launch.arg(si.next().ok_or_else(missing)?),
                    KernelArg::F32(_) => launch.arg(sf.next().ok_or_else(missing)?),
                    KernelArg::U64(_) => launch.arg(sl.next().ok_or_else(missing)?),
                };
            }
            // SAFETY: the buyer declares the kernel's signature through `args`; a
            // mismatch or an out-of-bounds access can corrupt only this job's buffers or
            // fault this context (reported below, see module doc). Every argument
            // outlives the launch: the vectors are dropped after the stream is synced.
            unsafe { launch.launch(cfg) }
                .map(|_| ())
                .map_err(|e| ExecError::Launch(format!("{e:?}")))
        })?;
        r?;
        st.stream.synchronize().map_err(drv("kernel execution"))?;
        let mut bytes = Vec::new();
        for out in &outs {
            bytes.extend(st.stream.clone_dtoh(out).map_err(drv("download"))?);
        }
        Ok(ExecOutput { bytes, device_time })
    }
}

impl Executor for CudaExecutor {
    fn device(&self) -> &DeviceInfo {
        &self.info
    }

    fn supports(&self, w: &Workload) -> bool {
        matches!(
            w,
            Workload::GemmI8 { .. } | Workload::GemmF32 { .. } | Workload::CudaKernel { .. }
        )
    }

    fn execute(&self, w: &Workload, inputs: &Inputs) -> Result<ExecOutput, ExecError> {
        check_inputs(w, inputs)?;
        let mut st = self.lock();
        st.ctx
            .bind_to_thread()
            .map_err(drv("binding the context"))?;
        let needed = inputs.values().map(|v| v.len() as u64).sum::<u64>()
            + w.expected_output_len()?
            // gemm-i8 also uploads Bᵀ (n·k bytes) next to B.
            + if let Workload::GemmI8 { n, k, .. } = w { *n as u64 * *k as u64 } else { 0 };
        let (free, _) = st.ctx.mem_get_info().map_err(drv("memory query"))?;
        if needed > free as u64 {
            return Err(ExecError::OutOfMemory {
                needed,
                free: free as u64,
            });
        }
        let input = |name: &str| {
            inputs
                .get(name)
                .map(Vec::as_slice)
                .ok_or_else(|| ExecError::MissingInput { name: name.into() })
        };
        match w {
            Workload::GemmI8 { m, n, k } => self.gemm_i8(
                &mut st,
                *m as usize,
                *n as usize,
                *k as usize,
                input("a")?,
                input("b")?,
            ),
            Workload::GemmF32 { m, n, k, .. } => self.gemm_f32(
                &st,
                *m as usize,
                *n as usize,
                *k as usize,
                input("a")?,
                input("b")?,
            ),
            Workload::CudaKernel {
                source,
                entry,
                grid,
                block,
                shared_mem_bytes,
                args,
            } => self.cuda_kernel(
                &st,
                source,
                entry,
                *grid,
                *block,
                *shared_mem_bytes,
                args,
                inputs,
            ),
        }
    }
}
