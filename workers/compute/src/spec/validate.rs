//! Spec validation: the limits listed in the [module doc](super), checked once here so
//! that executors can size buffers from a validated spec without checks of their own.
//! A parsed [`JobSpec`] or [`Workload`] goes in; `Ok` or the first broken rule comes out.

use super::*;
use std::collections::BTreeSet;

impl Workload {
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

impl JobSpec {
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
        for (index, input) in self.inputs.iter().enumerate() {
            if input.name.is_empty() || input.blob.uri.is_empty() {
                return Err(SpecError::EmptyBlobField { index });
            }
            if !listed.insert(input.name.as_str()) {
                return Err(SpecError::DuplicateInput {
                    name: input.name.clone(),
                });
            }
            check_buffer(&input.name, input.blob.len)?;
        }
        let expected = self.workload.expected_inputs()?;
        for (name, len) in &expected {
            let blob = self
                .input(name)
                .ok_or_else(|| SpecError::MissingInput { name: name.clone() })?;
            // len 0 = any non-empty length (cuda-kernel inputs are sized by their
            // blob; an empty one could not even be allocated on the device).
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
            .try_fold(self.expected_output_len()?, |acc, i| {
                acc.checked_add(i.blob.len)
            })
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
