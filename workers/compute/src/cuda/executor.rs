//! The CUDA executor: one device, one stream, one job at a time. A validated workload
//! and its inputs come in, are checked against free device memory and dispatched to
//! [`super::gemm`] or [`super::kernel`]; the output bytes and the CUDA-event device
//! time come out.
//!
//! A fault poisons a CUDA context: after an illegal address or a launch failure every
//! later call on it fails. So when a job fails with a driver or launch error, the
//! executor drops its context, stream, cuBLAS handle and compiled kernel, resets the
//! device's primary context (`cuDevicePrimaryCtxReset`) and opens a fresh one
//! ([`CudaExecutor::rebuild`]): one bad job cannot fail the next. If the rebuild itself
//! fails the executor reports `CudaUnavailable` for every later job (the worker then
//! refuses jobs in its check step rather than claim them). A kernel that never returns
//! is not interrupted here (CUDA offers no per-launch watchdog); the worker stops
//! waiting for it at its execution deadline.

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
    ordinal: usize,
    /// `None` only after a rebuild failed.
    state: Mutex<Option<State>>,
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
        let state = State::open(ordinal)?;
        let cc = state
            .ctx
            .compute_capability()
            .map_err(drv("compute capability"))?;
        Ok(CudaExecutor {
            info,
            cc,
            ordinal,
            state: Mutex::new(Some(state)),
        })
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Option<State>> {
        // A poisoned lock only means an earlier job panicked mid-way; the CUDA objects
        // themselves are still valid (or report their own errors).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live state behind a [`CudaExecutor::lock`] guard.
    pub(super) fn live(guard: &mut Option<State>) -> Result<&mut State, ExecError> {
        guard.as_mut().ok_or_else(|| {
            ExecError::CudaUnavailable(
                "the CUDA context could not be rebuilt after an earlier fault".into(),
            )
        })
    }

    /// Replaces a context an earlier job may have poisoned with a fresh one (see the
    /// module doc). Everything holding the old primary context is dropped first, so the
    /// reset and the new retain see no other user of it.
    fn rebuild(&self, guard: &mut Option<State>) -> Result<(), ExecError> {
        let device = guard.as_ref().map(|st| st.ctx.cu_device());
        *guard = None;
        if let Some(device) = device {
            // SAFETY: this executor held the only references to the device's primary
            // context (its stream, cuBLAS handle, modules and context), all dropped
            // above, and no other thread uses them: the state mutex is held.
            let reset = unsafe { driver::sys::cuDevicePrimaryCtxReset_v2(device) };
            if let Err(e) = reset.result() {
                warn_stderr(&format!("resetting the primary context: {e:?}"));
            }
        }
        *guard = Some(State::open(self.ordinal)?);
        Ok(())
    }
}

/// Errors of the reset are not fatal (opening a context again decides); the compute
/// crate has no logger, so they go to stderr.
fn warn_stderr(msg: &str) {
    eprintln!("gpu-market-compute: CUDA context rebuild: {msg}");
}

/// Whether `e` may have left the context unusable (a fault, a failed launch), as
/// opposed to a refusal before anything ran on the device.
fn poisons_context(e: &ExecError) -> bool {
    matches!(e, ExecError::Driver { .. } | ExecError::Launch(_))
}

impl State {
    /// Opens device `ordinal`'s primary context with a stream and a cuBLAS handle.
    fn open(ordinal: usize) -> Result<State, ExecError> {
        let ctx = CudaContext::new(ordinal).map_err(drv("opening the device"))?;
        let stream = ctx.new_stream().map_err(drv("creating a stream"))?;
        let blas = CudaBlas::new(stream.clone()).map_err(blas_err("creating a handle"))?;
        Ok(State {
            ctx,
            stream,
            blas,
            i8_kernel: None,
        })
    }

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

    /// Checks the inputs and, for cuda-kernel, compiles the source and finds its entry
    /// point in the loaded module, so a kernel that does not build is refused before
    /// a claim.
    fn check(&self, w: &Workload, inputs: &Inputs) -> Result<(), ExecError> {
        check_inputs(w, inputs)?;
        let Workload::CudaKernel { source, entry, .. } = w else {
            return Ok(());
        };
        let ptx = self.compile(source, "job.cu")?;
        let mut guard = self.lock();
        let st = Self::live(&mut guard)?;
        st.ctx
            .bind_to_thread()
            .map_err(drv("binding the context"))?;
        let module = st
            .ctx
            .load_module(ptx)
            .map_err(drv("loading the compiled module"))?;
        module
            .load_function(entry)
            .map_err(|_| ExecError::MissingEntry {
                entry: entry.clone(),
            })?;
        Ok(())
    }

    fn execute(&self, w: &Workload, inputs: &Inputs) -> Result<ExecOutput, ExecError> {
        check_inputs(w, inputs)?;
        let mut guard = self.lock();
        let result = Self::live(&mut guard).and_then(|st| self.execute_on(st, w, inputs));
        if let Err(e) = &result {
            if poisons_context(e) {
                if let Err(rebuild) = self.rebuild(&mut guard) {
                    warn_stderr(&format!("{rebuild}"));
                }
            }
        }
        result
    }
}

impl CudaExecutor {
    fn execute_on(
        &self,
        st: &mut State,
        w: &Workload,
        inputs: &Inputs,
    ) -> Result<ExecOutput, ExecError> {
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
                st,
                *m as usize,
                *n as usize,
                *k as usize,
                input("a")?,
                input("b")?,
            ),
            Workload::GemmF32 { m, n, k, .. } => self.gemm_f32(
                st,
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
                st,
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
