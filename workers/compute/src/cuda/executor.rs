//! The CUDA executor: one device, one stream, one job at a time. A validated workload
//! and its inputs come in, are checked against free device memory and dispatched to
//! [`super::gemm`] or [`super::kernel`]; the output bytes and the CUDA-event device
//! time come out.

use super::detect::{detect, probe_library, Detection, CUBLAS_SYMBOLS, NVRTC_SYMBOLS};
use super::error::{blas_err, drv};
use crate::exec::{check_inputs, DeviceInfo, ExecError, ExecOutput, Executor, Inputs};
use crate::spec::Workload;
use cudarc::cublas::CudaBlas;
use cudarc::driver::{self, CudaContext, CudaFunction, CudaStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Executor for one CUDA device.
pub struct CudaExecutor {
    pub(super) info: DeviceInfo,
    /// Compute capability (major, minor), for NVRTC's --gpu-architecture.
    pub(super) cc: (i32, i32),
    state: Mutex<State>,
}

pub(super) struct State {
    pub(super) ctx: Arc<CudaContext>,
    pub(super) stream: Arc<CudaStream>,
    pub(super) blas: CudaBlas,
    /// The fallback int8 kernel, compiled on first use.
    pub(super) i8_kernel: Option<CudaFunction>,
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

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means an earlier job panicked mid-way; the CUDA objects
        // themselves are still valid (or report their own errors).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Runs `f` between two CUDA events on the stream and returns its result with the
    /// elapsed device time.
    pub(super) fn timed<T>(&self, f: impl FnOnce(&Self) -> T) -> Result<(T, Duration), ExecError> {
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
