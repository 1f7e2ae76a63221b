//! GEMM on the GPU: cuBLAS `sgemm` for gemm-f32, `cublasGemmEx` int8 for gemm-i8 on
//! the shapes it takes, and the NVRTC-compiled tiled kernel ([`I8_KERNEL`]) for the
//! rest (module doc of [`super`] for the layouts). Host matrices go in, the product's
//! bytes and device time come out.

use super::error::{blas_err, drv};
use super::executor::{CudaExecutor, State};
use crate::commit::gemm_b_columns;
use crate::exec::{ExecError, ExecOutput};
use crate::spec::WorkloadKind;
use cudarc::cublas::{self, Gemm, GemmConfig};
use cudarc::driver::{
    CudaFunction, CudaSlice, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg,
};
use std::ffi::c_void;
use std::time::Duration;

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

impl CudaExecutor {
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
        let mut guard = self.lock();
        let st = Self::live(&mut guard)?;
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
    pub(super) fn gemm_i8(
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

    pub(super) fn gemm_f32(
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
}

impl State {
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
