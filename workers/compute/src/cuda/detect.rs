//! Probing for CUDA without a context: `dlopen` the driver (and, for the executor,
//! cuBLAS and NVRTC) under cudarc's own candidate names, check every symbol the
//! executor will reach, then ask the driver for its devices. Names and symbols go in;
//! a [`Detection`] (devices, or the sentence saying why not) comes out. Never panics.

use crate::exec::{DeviceInfo, DeviceKind};
use cudarc::driver;
use std::ffi::c_void;

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
    "cuDevicePrimaryCtxReset_v2",
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
pub(super) const CUBLAS_SYMBOLS: &[&str] = &[
    "cublasCreate_v2",
    "cublasDestroy_v2",
    "cublasSetStream_v2",
    "cublasSgemm_v2",
    "cublasGemmEx",
];
pub(crate) const NVRTC_SYMBOLS: &[&str] = &[
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
pub(crate) fn probe_library(lib: &str, symbols: &[&str]) -> Result<String, String> {
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
