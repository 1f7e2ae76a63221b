//! The exact gemm-i8 dot product, absorbed chunk by chunk: equal-length chunks of a row
//! of A and a column of B (i8 bytes) go in over as many transactions as the compute
//! budget needs; the partial sum lives in a program account between them
//! ([`I8Accumulator::to_bytes`]); at the end [`I8Accumulator::finish`] compares the exact
//! sum with the provider's claimed i32. Honest i8 GEMM is exact, so any difference is a
//! wrong result.

use crate::error::RulingError;
use crate::MAX_K;

/// State of a dot product in progress: elements absorbed so far and their exact sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct I8Accumulator {
    /// Index of the next element to absorb (= elements absorbed).
    pub next_index: u32,
    /// Sum of a_i * b_i over the absorbed elements.
    pub partial: i64,
}

/// Outcome of [`I8Accumulator::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I8Verdict {
    /// The claimed element is the exact dot product.
    Correct,
    /// The claimed element differs from the exact dot product `exact`.
    Wrong { exact: i64 },
}

impl I8Verdict {
    pub fn is_wrong(self) -> bool {
        matches!(self, I8Verdict::Wrong { .. })
    }
}

/// Checks a pair of chunks of `elem_bytes`-byte elements against the state's progress;
/// returns the chunk's element count. Always inlined (six arguments, see `absorb`).
#[inline(always)]
pub(crate) fn check_chunk(
    absorbed: u32,
    a: &[u8],
    b: &[u8],
    elem_bytes: usize,
) -> Result<u32, RulingError> {
    if a.len() != b.len() {
        return Err(RulingError::ChunkMismatch {
            a: a.len(),
            b: b.len(),
        });
    }
    if !a.len().is_multiple_of(elem_bytes) {
        return Err(RulingError::ChunkNotWhole {
            len: a.len(),
            elem_bytes,
        });
    }
    let len = a.len() / elem_bytes;
    let too_long = RulingError::TooLong {
        absorbed,
        len,
        max: MAX_K,
    };
    let len32 = u32::try_from(len).map_err(|_| too_long)?;
    match absorbed.checked_add(len32) {
        Some(total) if total <= MAX_K => Ok(len32),
        _ => Err(too_long),
    }
}

impl I8Accumulator {
    /// Bytes of [`Self::to_bytes`]: next_index (u32 LE), partial (i64 LE).
    pub const ENCODED_LEN: usize = 12;

    pub const fn new() -> Self {
        I8Accumulator {
            next_index: 0,
            partial: 0,
        }
    }

    /// Adds sum_t a[t] * b[t] (bytes read as i8) for the next `a.len()` elements.
    ///
    /// Always inlined: with `self`, two slices and the returned `Result` it would take six
    /// arguments, and upstream LLVM's BPF backend passes at most five.
    #[inline(always)]
    pub fn absorb(&mut self, a: &[u8], b: &[u8]) -> Result<(), RulingError> {
        let len = check_chunk(self.next_index, a, b, 1)?;
        // |a_t * b_t| <= 2^14 and the chunk has at most MAX_K = 2^21 elements (checked),
        // so the chunk's sum stays within 2^35: plain wrapping arithmetic cannot wrap,
        // and it keeps overflow checks (on in release builds) out of the hot loop.
        let chunk = a.iter().zip(b).fold(0i64, |s, (&x, &y)| {
            s.wrapping_add((x as i8 as i64).wrapping_mul(y as i8 as i64))
        });
        // Both within 2^35 (total elements <= MAX_K): cannot fail; checked all the same.
        self.partial = self
            .partial
            .checked_add(chunk)
            .ok_or(RulingError::WideOverflow)?;
        self.next_index += len;
        Ok(())
    }

    /// Compares the exact dot product of all `k` elements with the claimed element.
    pub fn finish(&self, k: u32, claimed: i32) -> Result<I8Verdict, RulingError> {
        if self.next_index != k {
            return Err(RulingError::Incomplete {
                absorbed: self.next_index,
                k,
            });
        }
        if self.partial == claimed as i64 {
            Ok(I8Verdict::Correct)
        } else {
            Ok(I8Verdict::Wrong {
                exact: self.partial,
            })
        }
    }

    /// The state as a program account stores it.
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..4].copy_from_slice(&self.next_index.to_le_bytes());
        out[4..].copy_from_slice(&self.partial.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::ENCODED_LEN]) -> Self {
        let mut next = [0u8; 4];
        let mut partial = [0u8; 8];
        next.copy_from_slice(&bytes[..4]);
        partial.copy_from_slice(&bytes[4..]);
        I8Accumulator {
            next_index: u32::from_le_bytes(next),
            partial: i64::from_le_bytes(partial),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_absorb_equals_one_pass_and_round_trips_its_bytes() {
        let a: std::vec::Vec<u8> = (0..300u32).map(|i| (i * 37 % 256) as u8).collect();
        let b: std::vec::Vec<u8> = (0..300u32).map(|i| (i * 91 % 256) as u8).collect();
        let exact: i64 = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| x as i8 as i64 * y as i8 as i64)
            .sum();
        let mut acc = I8Accumulator::new();
        for (ca, cb) in
            [(0, 7), (7, 128), (128, 129), (129, 300)].map(|(s, e)| (&a[s..e], &b[s..e]))
        {
            acc = I8Accumulator::from_bytes(&acc.to_bytes());
            acc.absorb(ca, cb).unwrap();
        }
        assert_eq!(acc.partial, exact);
        assert_eq!(acc.finish(300, exact as i32), Ok(I8Verdict::Correct));
        assert_eq!(
            acc.finish(300, exact as i32 + 1),
            Ok(I8Verdict::Wrong { exact })
        );
    }

    #[test]
    fn extremes_of_i8_multiply_exactly() {
        let mut acc = I8Accumulator::new();
        acc.absorb(&[0x80, 0x80, 0x7f], &[0x80, 0x7f, 0x7f])
            .unwrap();
        assert_eq!(acc.partial, 16384 - 16256 + 16129);
    }

    #[test]
    fn malformed_chunks_and_early_finish_are_named() {
        let mut acc = I8Accumulator::new();
        assert_eq!(
            acc.absorb(&[1, 2], &[3]),
            Err(RulingError::ChunkMismatch { a: 2, b: 1 })
        );
        acc.absorb(&[1, 2], &[3, 4]).unwrap();
        assert_eq!(
            acc.finish(3, 11),
            Err(RulingError::Incomplete { absorbed: 2, k: 3 })
        );
        acc.next_index = MAX_K - 1;
        assert_eq!(
            acc.absorb(&[1, 2], &[3, 4]),
            Err(RulingError::TooLong {
                absorbed: MAX_K - 1,
                len: 2,
                max: MAX_K
            })
        );
    }
}
