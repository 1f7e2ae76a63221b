//! Job specs: the JSON document a buyer publishes and whose SHA-256 goes on chain as
//! `spec_hash`. Bytes come in (from the blob store), are parsed and validated here, and
//! a [`JobSpec`] goes out to the executors; buyers go the other way with
//! [`JobSpec::to_bytes`]. The hash is always over the exact published bytes
//! ([`spec_hash`]), never over a re-serialization, so whitespace or key order chosen by
//! the buyer cannot make two parties disagree about which spec a job names.
//!
//! Limits (checked by [`JobSpec::validate`], so executors can size buffers without
//! overflow checks of their own):
//! - every GEMM dimension is in `1..=MAX_DIM` (2^21: the CUDA int8 fallback kernel puts
//!   one 64-column tile per `grid.y` block, and `grid.y <= 65535`);
//! - gemm-i8 has `k <= MAX_GEMM_I8_K` (65536): |a·b| <= 2^14 per product, so a dot
//!   product stays within 2^30 and i32 accumulation is exact on every device;
//! - every input and output buffer is at most `MAX_BUFFER_BYTES` (4 GiB) and all buffers
//!   of one job together at most `MAX_JOB_BYTES` (16 GiB), so a job fits a worker with
//!   24 GiB of RAM and an 80 GiB GPU;
//! - cuda-kernel launches respect the CUDA limits that hold on every supported device
//!   (block <= 1024 threads, z <= 64, grid y/z <= 65535, dynamic shared memory <= 227
//!   KiB), have at most `MAX_KERNEL_ARGS` arguments and a source of at most 1 MiB.

//!
//! Submodules: [`validate`] holds every check a spec goes through, [`error`] the ways
//! it can fail, [`random`] the deterministic demo data and challenge generator, [`train`]
//! the train-mlp spec of segmented training jobs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod error;
pub mod random;
pub mod train;
mod validate;

pub use error::SpecError;
pub use gpu_market_types::{BlobRef, Hash32, HexError, WorkloadKind};
pub use random::{random_f32_matrix, random_i8_matrix, SplitMix64};
pub use train::{spec_kind, TrainMlp, TrainMlpSpec, TrainWorkload, TRAIN_MLP_KIND};

/// Current (and only) spec format version.
pub const SPEC_VERSION: u32 = 1;
/// Largest m, n or k of a GEMM.
pub const MAX_DIM: u32 = 1 << 21;
/// Largest k of a gemm-i8 job: keeps every i32 dot product exact (see module doc).
pub const MAX_GEMM_I8_K: u32 = 1 << 16;
/// Largest single input or output buffer, in bytes.
pub const MAX_BUFFER_BYTES: u64 = 4 << 30;
/// Largest sum of all input and output buffers of one job, in bytes.
pub const MAX_JOB_BYTES: u64 = 16 << 30;
/// Largest cuda-kernel source, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// Most arguments a cuda-kernel launch may take: 256 arguments of at most 8 bytes use
/// 2 KiB, within CUDA's 4 KiB kernel parameter space on every driver.
pub const MAX_KERNEL_ARGS: usize = 256;
/// Largest dynamic shared memory per block (H100/H200 opt-in maximum, 227 KiB).
pub const MAX_SHARED_MEM_BYTES: u32 = 227 * 1024;
/// Most threads per block on every supported device.
pub const MAX_THREADS_PER_BLOCK: u64 = 1024;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(bytes).into())
}

/// The on-chain `spec_hash`: SHA-256 of the exact spec bytes as published.
pub fn spec_hash(spec_bytes: &[u8]) -> Hash32 {
    sha256(spec_bytes)
}

/// A job: what to run and which blobs it reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Format version, [`SPEC_VERSION`].
    pub version: u32,
    pub workload: Workload,
    pub inputs: Vec<NamedBlob>,
}

/// One input of a job: the name the workload refers to and the blob it reads (the
/// blob store's own [`BlobRef`], which verifies `sha256` on every fetch).
///
/// JSON keeps the flat form specs have always had,
/// `{"name":"a","uri":"..","sha256":"<64 hex>","len":16}`, unknown fields refused:
/// serde's `flatten` cannot be combined with `deny_unknown_fields`, so the form goes
/// through a private flat struct instead.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "FlatInput")]
pub struct NamedBlob {
    /// "a", "b", or a cuda-kernel input name.
    pub name: String,
    pub blob: BlobRef,
}

/// [`NamedBlob`]'s JSON form, read with unknown fields refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatInput {
    name: String,
    uri: String,
    sha256: Hash32,
    len: u64,
}

impl From<FlatInput> for NamedBlob {
    fn from(f: FlatInput) -> Self {
        NamedBlob {
            name: f.name,
            blob: BlobRef {
                uri: f.uri,
                sha256: f.sha256,
                len: f.len,
            },
        }
    }
}

/// [`NamedBlob`]'s JSON form, written by reference (fields in the order of the form,
/// which is the order hashed spec bytes have always had).
#[derive(Serialize)]
struct FlatInputRef<'a> {
    name: &'a str,
    uri: &'a str,
    sha256: &'a Hash32,
    len: u64,
}

impl Serialize for NamedBlob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FlatInputRef {
            name: &self.name,
            uri: &self.blob.uri,
            sha256: &self.blob.sha256,
            len: self.blob.len,
        }
        .serialize(s)
    }
}

/// What to compute. Matrices are row-major; multi-byte elements little-endian.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Workload {
    /// C (m x n, i32) = A (m x k, i8) . B (k x n, i8); inputs "a" and "b". Exact.
    GemmI8 { m: u32, n: u32, k: u32 },
    /// C (m x n, f32) = A (m x k, f32) . B (k x n, f32); inputs "a" and "b". Checked
    /// by [`crate::verify::freivalds_f32`] with `rel_tolerance`.
    GemmF32 {
        m: u32,
        n: u32,
        k: u32,
        rel_tolerance: f32,
    },
    /// A buyer-supplied CUDA C kernel compiled with NVRTC. `entry` must be declared
    /// `extern "C" __global__`. Arguments are passed in order; outputs are zeroed before
    /// the launch and downloaded afterwards, concatenated in argument order.
    CudaKernel {
        source: String,
        entry: String,
        grid: [u32; 3],
        block: [u32; 3],
        shared_mem_bytes: u32,
        args: Vec<KernelArg>,
    },
}

/// One kernel argument. JSON: `{"input":{"name":"x"}}`, `{"output":{"name":"y","len":4096}}`,
/// `{"u32":7}`, `{"i32":-1}`, `{"f32":0.5}`, `{"u64":12}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelArg {
    /// Device pointer to the named input blob.
    Input {
        name: String,
    },
    /// Device pointer to a zeroed output buffer of `len` bytes.
    Output {
        name: String,
        len: u64,
    },
    U32(u32),
    I32(i32),
    F32(f32),
    U64(u64),
}

impl Workload {
    /// The smallest valid workload of `kind` (1 x 1 x 1 GEMM, a one-thread kernel with
    /// one 4-byte output), for asking an executor whether it runs the kind at all;
    /// `None` for a kind no workload exists for yet (gemm-bf16).
    pub fn smallest_of(kind: WorkloadKind) -> Option<Workload> {
        match kind {
            WorkloadKind::GemmI8 => Some(Workload::GemmI8 { m: 1, n: 1, k: 1 }),
            WorkloadKind::GemmF32 => Some(Workload::GemmF32 {
                m: 1,
                n: 1,
                k: 1,
                rel_tolerance: 1e-3,
            }),
            WorkloadKind::GemmBf16 => None,
            // Segmented training has its own spec (TRAIN's `train` module), not a
            // `Workload` an executor is probed with.
            WorkloadKind::TrainMlp => None,
            WorkloadKind::CudaKernel => Some(Workload::CudaKernel {
                source: "extern \"C\" __global__ void k(int *y) { *y = 1; }".into(),
                entry: "k".into(),
                grid: [1, 1, 1],
                block: [1, 1, 1],
                shared_mem_bytes: 0,
                args: vec![KernelArg::Output {
                    name: "y".into(),
                    len: 4,
                }],
            }),
        }
    }

    pub fn kind(&self) -> WorkloadKind {
        match self {
            Workload::GemmI8 { .. } => WorkloadKind::GemmI8,
            Workload::GemmF32 { .. } => WorkloadKind::GemmF32,
            Workload::CudaKernel { .. } => WorkloadKind::CudaKernel,
        }
    }

    /// On-chain code: gemm-i8 = 0, gemm-f32 = 1, (2 reserved for gemm-bf16), cuda-kernel = 3.
    pub fn kind_code(&self) -> u8 {
        self.kind().code()
    }

    /// The `kind` tag used in spec JSON.
    pub fn kind_name(&self) -> &'static str {
        self.kind().name()
    }

    /// (m, n, k) for GEMM workloads.
    pub fn gemm_dims(&self) -> Option<(u32, u32, u32)> {
        match *self {
            Workload::GemmI8 { m, n, k } | Workload::GemmF32 { m, n, k, .. } => Some((m, n, k)),
            Workload::CudaKernel { .. } => None,
        }
    }

    /// Bytes per matrix element of a GEMM's inputs (1 for i8, 4 for f32).
    pub fn gemm_input_elem_bytes(&self) -> Option<u64> {
        match self {
            Workload::GemmI8 { .. } => Some(1),
            Workload::GemmF32 { .. } => Some(4),
            Workload::CudaKernel { .. } => None,
        }
    }

    /// Floating-point (or integer) operations: 2·m·n·k for GEMM, 0 for cuda-kernel (the
    /// market cannot know). Saturates instead of overflowing on unvalidated shapes.
    pub fn flops(&self) -> u64 {
        match self.gemm_dims() {
            Some((m, n, k)) => 2u64
                .saturating_mul(m as u64)
                .saturating_mul(n as u64)
                .saturating_mul(k as u64),
            None => 0,
        }
    }

    /// The inputs the workload reads and their exact lengths in bytes, in the order the
    /// workload uses them.
    pub fn expected_inputs(&self) -> Result<Vec<(String, u64)>, SpecError> {
        match self {
            Workload::GemmI8 { .. } | Workload::GemmF32 { .. } => {
                let (m, n, k) = self.gemm_dims().ok_or(SpecError::Overflow)?;
                let e = self.gemm_input_elem_bytes().ok_or(SpecError::Overflow)?;
                let a = mul3(m as u64, k as u64, e)?;
                let b = mul3(k as u64, n as u64, e)?;
                Ok(vec![("a".into(), a), ("b".into(), b)])
            }
            // Kernel inputs take their lengths from their blobs; the workload only
            // names them. Length 0 here means "any".
            Workload::CudaKernel { .. } => Ok(self
                .kernel_input_names()
                .into_iter()
                .map(|n| (n, 0))
                .collect()),
        }
    }

    fn kernel_input_names(&self) -> Vec<String> {
        match self {
            Workload::CudaKernel { args, .. } => args
                .iter()
                .filter_map(|a| match a {
                    KernelArg::Input { name } => Some(name.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Length in bytes of the result: 4·m·n for GEMM, the sum of output lengths for a
    /// cuda-kernel (outputs are concatenated in argument order).
    pub fn expected_output_len(&self) -> Result<u64, SpecError> {
        match self {
            Workload::GemmI8 { m, n, .. } | Workload::GemmF32 { m, n, .. } => {
                mul3(*m as u64, *n as u64, 4)
            }
            Workload::CudaKernel { args, .. } => args.iter().try_fold(0u64, |acc, a| match a {
                KernelArg::Output { len, .. } => acc.checked_add(*len).ok_or(SpecError::Overflow),
                _ => Ok(acc),
            }),
        }
    }
}

fn mul3(a: u64, b: u64, c: u64) -> Result<u64, SpecError> {
    a.checked_mul(b)
        .and_then(|x| x.checked_mul(c))
        .ok_or(SpecError::Overflow)
}

impl JobSpec {
    /// Canonical bytes: `serde_json::to_vec` of the struct (compact, field order as
    /// declared). Publish these and hash them with [`spec_hash`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, SpecError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Parses and validates.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SpecError> {
        let spec: JobSpec = serde_json::from_slice(bytes)?;
        spec.validate()?;
        Ok(spec)
    }

    /// `spec_hash` of [`Self::to_bytes`].
    pub fn hash(&self) -> Result<Hash32, SpecError> {
        Ok(spec_hash(&self.to_bytes()?))
    }

    pub fn expected_output_len(&self) -> Result<u64, SpecError> {
        self.workload.expected_output_len()
    }

    /// The blob of the input called `name`, if listed.
    pub fn input(&self, name: &str) -> Option<&BlobRef> {
        self.inputs.iter().find(|i| i.name == name).map(|i| &i.blob)
    }
}
