//! Workload kinds: the protocol number a job carries on chain (`Job::workload`, one
//! byte) and the `kind` name its spec carries, both ways.

use core::fmt;

/// What a job computes. The numbers are part of the protocol: they are stored on chain
/// and must never be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum WorkloadKind {
    GemmI8 = 0,
    GemmF32 = 1,
    /// Reserved; no executor implements it yet.
    GemmBf16 = 2,
    CudaKernel = 3,
    /// SGD training of a small multilayer perceptron, run as a segmented job: each
    /// segment's checkpoint (weights, optimizer state, step, data-order seed) is
    /// committed on chain by its SHA-256 root.
    TrainMlp = 4,
}

impl WorkloadKind {
    /// Every kind, in protocol-number order.
    pub const ALL: [WorkloadKind; 5] = [
        Self::GemmI8,
        Self::GemmF32,
        Self::GemmBf16,
        Self::CudaKernel,
        Self::TrainMlp,
    ];

    /// The kind with protocol number `v`, if there is one.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::GemmI8,
            1 => Self::GemmF32,
            2 => Self::GemmBf16,
            3 => Self::CudaKernel,
            4 => Self::TrainMlp,
            _ => return None,
        })
    }

    /// The protocol number.
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
            Self::TrainMlp => "train-mlp",
        }
    }

    /// The kind whose spec name is `name` (exact, lowercase).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::WorkloadKind;
    use core::fmt;
    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for WorkloadKind {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(self.name())
        }
    }

    struct NameVisitor;

    impl Visitor<'_> for NameVisitor {
        type Value = WorkloadKind;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a workload kind name such as \"gemm-i8\"")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<WorkloadKind, E> {
            WorkloadKind::from_name(s).ok_or_else(|| E::unknown_variant(s, NAMES))
        }
    }

    const NAMES: &[&str] = &[
        "gemm-i8",
        "gemm-f32",
        "gemm-bf16",
        "cuda-kernel",
        "train-mlp",
    ];

    impl<'de> Deserialize<'de> for WorkloadKind {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(NameVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_the_protocol_ones() {
        let expected = [
            (0, "gemm-i8", WorkloadKind::GemmI8),
            (1, "gemm-f32", WorkloadKind::GemmF32),
            (2, "gemm-bf16", WorkloadKind::GemmBf16),
            (3, "cuda-kernel", WorkloadKind::CudaKernel),
            (4, "train-mlp", WorkloadKind::TrainMlp),
        ];
        for (code, name, kind) in expected {
            assert_eq!(WorkloadKind::from_u8(code), Some(kind));
            assert_eq!(kind.code(), code);
            assert_eq!(kind.name(), name);
            assert_eq!(WorkloadKind::from_name(name), Some(kind));
            assert_eq!(WorkloadKind::ALL[code as usize], kind);
        }
        for code in 5..=u8::MAX {
            assert_eq!(WorkloadKind::from_u8(code), None);
        }
        assert_eq!(WorkloadKind::from_name("GEMM-I8"), None);
        assert_eq!(WorkloadKind::from_name(""), None);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_spec_names() {
        for kind in WorkloadKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, alloc::format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<WorkloadKind>(&json).unwrap(), kind);
        }
        assert!(serde_json::from_str::<WorkloadKind>("\"gemm-i4\"").is_err());
    }
}
