//! NVRTC: CUDA C source goes in, a CUBIN for this device's exact architecture comes
//! out ([`CudaExecutor::compile`], used for the int8 fallback kernel and for buyer
//! kernels), and a buyer's cuda-kernel job is uploaded, launched once with its declared
//! arguments and downloaded ([`CudaExecutor::cuda_kernel`]).

use super::error::drv;
use super::executor::{CudaExecutor, State};
use crate::exec::{ExecError, ExecOutput, Inputs};
use crate::spec::KernelArg;
use cudarc::driver::{self, LaunchConfig, PushKernelArg};
use cudarc::nvrtc;
use std::ffi::CString;

/// Destroys an NVRTC program on every exit path (errors ignored: nothing to do).
struct Program(nvrtc::sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: the program was created by nvrtcCreateProgram and is destroyed once.
        let _ = unsafe { nvrtc::result::destroy_program(self.0) };
    }
}

impl CudaExecutor {
    /// Compiles CUDA C to a CUBIN for this device's exact architecture (`sm_XY`).
    /// Not PTX: a PTX image needs a JIT at least as new as the NVRTC that emitted it,
    /// and CUDA's minor-version compatibility (a 13.x NVRTC wheel on a 13.0 driver)
    /// covers SASS but not PTX JIT.
    pub(super) fn compile(&self, source: &str, name: &str) -> Result<nvrtc::Ptx, ExecError> {
        compile_cubin(source, name, self.cc, &[])
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn cuda_kernel(
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

/// Compiles CUDA C to a CUBIN for compute capability `cc` (`sm_XY`, see
/// [`CudaExecutor::compile`]) with extra NVRTC `options` (the training kernels pass
/// `--fmad=false`). Shared with [`crate::train::cuda`].
pub(crate) fn compile_cubin(
    source: &str,
    name: &str,
    cc: (i32, i32),
    options: &[&str],
) -> Result<nvrtc::Ptx, ExecError> {
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
    let mut opts = vec![format!("--gpu-architecture=sm_{}{}", cc.0, cc.1)];
    opts.extend(options.iter().map(|o| o.to_string()));
    // SAFETY: `prog` is a live program created above; the options are NUL-free
    // strings (cudarc converts them to C strings for the call).
    if let Err(e) = unsafe { nvrtc::result::compile_program(prog.0, &opts) } {
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
