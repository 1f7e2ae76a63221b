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

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;

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

/// A SHA-256 digest; serializes as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 64 lowercase hex characters (uppercase is refused so that a hash
    /// has one spelling inside hashed spec bytes).
    pub fn from_hex(s: &str) -> Result<Self, SpecError> {
        let bad = || SpecError::BadHash(s.chars().take(80).collect());
        if s.len() != 64 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| bad())?;
        Ok(Hash32(out))
    }
}

impl From<[u8; 32]> for Hash32 {
    fn from(b: [u8; 32]) -> Self {
        Hash32(b)
    }
}

impl From<Hash32> for [u8; 32] {
    fn from(h: Hash32) -> Self {
        h.0
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_hex())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash32::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

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
    pub inputs: Vec<BlobRef>,
}

/// A content-addressed input blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// The name the workload refers to ("a", "b", or a cuda-kernel input name).
    pub name: String,
    /// Where to fetch it; the blob store verifies `sha256` on every fetch.
    pub uri: String,
    pub sha256: Hash32,
    /// Length in bytes.
    pub len: u64,
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

/// Workload kind as stored on chain (`Job::workload_kind`, one byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum WorkloadKind {
    GemmI8 = 0,
    GemmF32 = 1,
    /// Reserved; no executor implements it yet.
    GemmBf16 = 2,
    CudaKernel = 3,
}

impl WorkloadKind {
    /// Every kind, in protocol-number order.
    pub const ALL: [WorkloadKind; 4] = [
        Self::GemmI8,
        Self::GemmF32,
        Self::GemmBf16,
        Self::CudaKernel,
    ];

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::GemmI8),
            1 => Some(Self::GemmF32),
            2 => Some(Self::GemmBf16),
            3 => Some(Self::CudaKernel),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// The `kind` tag used in spec JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::GemmI8 => "gemm-i8",
            Self::GemmF32 => "gemm-f32",
            Self::GemmBf16 => "gemm-bf16",
            Self::CudaKernel => "cuda-kernel",
        }
    }
}

/// Every way a spec can be rejected.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("malformed job spec JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("spec version {found} is not supported (expected {SPEC_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("bad sha256 {0:?}: expected 64 lowercase hex characters")]
    BadHash(String),
    #[error("dimension {dim} must be at least 1")]
    ZeroDimension { dim: &'static str },
    #[error("dimension {dim} = {value} exceeds the maximum {max}")]
    DimensionTooLarge {
        dim: &'static str,
        value: u32,
        max: u32,
    },
    #[error("gemm-i8 k = {k} exceeds {MAX_GEMM_I8_K}: i32 accumulation could overflow")]
    GemmI8KTooLarge { k: u32 },
    #[error("rel_tolerance {0} must be finite, > 0 and < 1")]
    BadTolerance(f32),
    #[error("buffer {name:?} is {bytes} bytes, more than the {max}-byte limit")]
    BufferTooLarge { name: String, bytes: u64, max: u64 },
    #[error("the job's buffers total {bytes} bytes, more than the {max}-byte limit")]
    JobTooLarge { bytes: u64, max: u64 },
    #[error("size computation overflowed")]
    Overflow,
    #[error("input {name:?} is required by the workload but not listed")]
    MissingInput { name: String },
    #[error("input {name:?} is listed but the workload does not use it")]
    UnexpectedInput { name: String },
    #[error("input {name:?} is listed twice")]
    DuplicateInput { name: String },
    #[error("input {name:?} must be {expected} bytes, spec says {found}")]
    InputLength {
        name: String,
        expected: u64,
        found: u64,
    },
    #[error("input {index} has an empty name or uri")]
    EmptyBlobField { index: usize },
    #[error("cuda-kernel source is empty")]
    EmptySource,
    #[error("cuda-kernel source is {0} bytes, more than {MAX_SOURCE_BYTES}")]
    SourceTooLarge(usize),
    #[error("cuda-kernel source contains a NUL byte")]
    SourceContainsNul,
    #[error("cuda-kernel entry {0:?} is not a C identifier")]
    BadEntry(String),
    #[error("{what}[{axis}] = {value} is out of range 1..={max}")]
    LaunchDim {
        what: &'static str,
        axis: usize,
        value: u32,
        max: u32,
    },
    #[error("block has {threads} threads, more than {MAX_THREADS_PER_BLOCK}")]
    BlockTooLarge { threads: u64 },
    #[error("shared_mem_bytes {0} exceeds {MAX_SHARED_MEM_BYTES}")]
    SharedMemTooLarge(u32),
    #[error("{0} kernel arguments, more than {MAX_KERNEL_ARGS}")]
    TooManyArgs(usize),
    #[error("cuda-kernel has no output argument")]
    NoOutputs,
    #[error("output {name:?} has length 0")]
    EmptyOutput { name: String },
    #[error("argument name {name:?} is used twice (inputs and outputs share one namespace)")]
    DuplicateArgName { name: String },
    #[error("f32 argument {index} is not finite (JSON cannot carry it)")]
    NonFiniteArg { index: usize },
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
            // Kernel inputs take their lengths from the BlobRefs; the workload only
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

    /// Checks the workload on its own (inputs are checked by [`JobSpec::validate`]).
    pub fn validate(&self) -> Result<(), SpecError> {
        match self {
            Workload::GemmI8 { m, n, k } => {
                check_dims(*m, *n, *k)?;
                if *k > MAX_GEMM_I8_K {
                    return Err(SpecError::GemmI8KTooLarge { k: *k });
                }
            }
            Workload::GemmF32 {
                m,
                n,
                k,
                rel_tolerance,
            } => {
                check_dims(*m, *n, *k)?;
                let t = *rel_tolerance;
                if !(t.is_finite() && t > 0.0 && t < 1.0) {
                    return Err(SpecError::BadTolerance(t));
                }
            }
            Workload::CudaKernel {
                source,
                entry,
                grid,
                block,
                shared_mem_bytes,
                args,
            } => {
                check_kernel_source(source, entry)?;
                check_launch(grid, block, *shared_mem_bytes)?;
                check_kernel_args(args)?;
            }
        }
        let out = self.expected_output_len()?;
        check_buffer("output", out)?;
        Ok(())
    }
}

fn mul3(a: u64, b: u64, c: u64) -> Result<u64, SpecError> {
    a.checked_mul(b)
        .and_then(|x| x.checked_mul(c))
        .ok_or(SpecError::Overflow)
}

fn check_buffer(name: &str, bytes: u64) -> Result<(), SpecError> {
    if bytes > MAX_BUFFER_BYTES {
        return Err(SpecError::BufferTooLarge {
            name: name.into(),
            bytes,
            max: MAX_BUFFER_BYTES,
        });
    }
    Ok(())
}

fn check_dims(m: u32, n: u32, k: u32) -> Result<(), SpecError> {
    for (dim, v) in [("m", m), ("n", n), ("k", k)] {
        if v == 0 {
            return Err(SpecError::ZeroDimension { dim });
        }
        if v > MAX_DIM {
            return Err(SpecError::DimensionTooLarge {
                dim,
                value: v,
                max: MAX_DIM,
            });
        }
    }
    Ok(())
}

fn is_c_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && s.len() <= 255
}

fn check_kernel_source(source: &str, entry: &str) -> Result<(), SpecError> {
    if source.trim().is_empty() {
        return Err(SpecError::EmptySource);
    }
    if source.len() > MAX_SOURCE_BYTES {
        return Err(SpecError::SourceTooLarge(source.len()));
    }
    // NVRTC takes a C string; cudarc would panic on an interior NUL.
    if source.contains('\0') {
        return Err(SpecError::SourceContainsNul);
    }
    if !is_c_identifier(entry) {
        return Err(SpecError::BadEntry(entry.chars().take(80).collect()));
    }
    Ok(())
}

fn check_launch(grid: &[u32; 3], block: &[u32; 3], shared: u32) -> Result<(), SpecError> {
    const GRID_MAX: [u32; 3] = [i32::MAX as u32, 65535, 65535];
    const BLOCK_MAX: [u32; 3] = [1024, 1024, 64];
    for (what, dims, maxes) in [("grid", grid, GRID_MAX), ("block", block, BLOCK_MAX)] {
        for axis in 0..3 {
            let (value, max) = (dims[axis], maxes[axis]);
            if value == 0 || value > max {
                return Err(SpecError::LaunchDim {
                    what,
                    axis,
                    value,
                    max,
                });
            }
        }
    }
    let threads = block.iter().map(|&b| b as u64).product::<u64>();
    if threads > MAX_THREADS_PER_BLOCK {
        return Err(SpecError::BlockTooLarge { threads });
    }
    if shared > MAX_SHARED_MEM_BYTES {
        return Err(SpecError::SharedMemTooLarge(shared));
    }
    Ok(())
}

fn check_kernel_args(args: &[KernelArg]) -> Result<(), SpecError> {
    if args.len() > MAX_KERNEL_ARGS {
        return Err(SpecError::TooManyArgs(args.len()));
    }
    let mut names = BTreeSet::new();
    let mut outputs = 0usize;
    for (index, arg) in args.iter().enumerate() {
        match arg {
            KernelArg::Input { name } | KernelArg::Output { name, .. } => {
                if name.is_empty() {
                    return Err(SpecError::EmptyBlobField { index });
                }
                if !names.insert(name.as_str()) {
                    return Err(SpecError::DuplicateArgName { name: name.clone() });
                }
                if let KernelArg::Output { len, .. } = arg {
                    outputs += 1;
                    if *len == 0 {
                        return Err(SpecError::EmptyOutput { name: name.clone() });
                    }
                    check_buffer(name, *len)?;
                }
            }
            KernelArg::F32(v) if !v.is_finite() => return Err(SpecError::NonFiniteArg { index }),
            _ => {}
        }
    }
    if outputs == 0 {
        return Err(SpecError::NoOutputs);
    }
    Ok(())
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

    /// The named input, if listed.
    pub fn input(&self, name: &str) -> Option<&BlobRef> {
        self.inputs.iter().find(|b| b.name == name)
    }

    /// Version, workload limits, and that `inputs` lists exactly the blobs the workload
    /// reads, each once, with the lengths it needs.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.version != SPEC_VERSION {
            return Err(SpecError::UnsupportedVersion {
                found: self.version,
            });
        }
        self.workload.validate()?;

        let mut listed = BTreeSet::new();
        for (index, blob) in self.inputs.iter().enumerate() {
            if blob.name.is_empty() || blob.uri.is_empty() {
                return Err(SpecError::EmptyBlobField { index });
            }
            if !listed.insert(blob.name.as_str()) {
                return Err(SpecError::DuplicateInput {
                    name: blob.name.clone(),
                });
            }
            check_buffer(&blob.name, blob.len)?;
        }
        let expected = self.workload.expected_inputs()?;
        for (name, len) in &expected {
            let blob = self
                .input(name)
                .ok_or_else(|| SpecError::MissingInput { name: name.clone() })?;
            // len 0 = any non-empty length (cuda-kernel inputs are sized by their
            // BlobRef; an empty one could not even be allocated on the device).
            if (*len != 0 && blob.len != *len) || blob.len == 0 {
                return Err(SpecError::InputLength {
                    name: name.clone(),
                    expected: *len,
                    found: blob.len,
                });
            }
        }
        if let Some(extra) = self
            .inputs
            .iter()
            .find(|b| !expected.iter().any(|(n, _)| *n == b.name))
        {
            return Err(SpecError::UnexpectedInput {
                name: extra.name.clone(),
            });
        }

        let total = self
            .inputs
            .iter()
            .try_fold(self.expected_output_len()?, |acc, b| acc.checked_add(b.len))
            .ok_or(SpecError::Overflow)?;
        if total > MAX_JOB_BYTES {
            return Err(SpecError::JobTooLarge {
                bytes: total,
                max: MAX_JOB_BYTES,
            });
        }
        Ok(())
    }
}

/// splitmix64: a tiny, well-known generator; good enough for demo data and for
/// Freivalds challenge vectors derived from a seed (it is not a CSPRNG: a challenger
/// must choose the seed after the result is committed).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `rows x cols` i8 values (as bytes), uniform over all 256 values, deterministic in
/// `seed`.
pub fn random_i8_matrix(seed: u64, rows: u32, cols: u32) -> Vec<u8> {
    let len = rows as usize * cols as usize;
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let word = rng.next_u64().to_le_bytes();
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&word[..take]);
    }
    out
}

/// `rows x cols` f32 values, little-endian, uniform in [-1, 1), deterministic in `seed`.
pub fn random_f32_matrix(seed: u64, rows: u32, cols: u32) -> Vec<u8> {
    let len = rows as usize * cols as usize;
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(len * 4);
    for _ in 0..len {
        // 24 random bits -> exactly representable in f32.
        let v = (rng.next_u64() >> 40) as f32 / (1u32 << 23) as f32 - 1.0;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
