//! Training data: a digits file's bytes come in (format in `data/digits/README.md`:
//! header, u8 pixels, u8 labels), are checked field by field, split into a fixed
//! training and held-out part, and go out as [`Examples`]: f32 inputs ready for either
//! executor, the labels, and the SHA-256 that a checkpoint records so it is never
//! resumed on other data.

use super::error::DataError;
use crate::spec::{sha256, Hash32};
use std::path::{Path, PathBuf};

/// The first 8 bytes of a digits file.
pub const DIGITS_MAGIC: &[u8; 8] = b"GMDIGITS";
/// The only format version.
pub const DIGITS_VERSION: u32 = 1;
/// Magic, version, count, rows, cols, max value, classes.
pub const DIGITS_HEADER_LEN: usize = 20;
/// SHA-256 of the bundled `data/digits/digits.bin` (scikit-learn's digits, converted).
pub const BUNDLED_DIGITS_SHA256: &str =
    "a1b18c995f98bed6b9b1080569df9c59d5f1c348c59ef3be2bf4e195f4cf1e31";
/// Every `HELD_OUT_EVERY`-th image (index % 5 == 4) is held out by [`Digits::split`].
pub const HELD_OUT_EVERY: usize = 5;

/// A parsed digits file: `count` images of `rows x cols` u8 pixels in `0..=max_value`,
/// each with a label in `0..classes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digits {
    pub rows: u8,
    pub cols: u8,
    pub max_value: u8,
    pub classes: u8,
    /// `count · rows · cols` bytes, image after image, row-major.
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Digits {
    /// The bundled file's path (this crate's `data/digits/digits.bin`), for tests,
    /// benchmarks and demos run from a checkout.
    pub fn bundled_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits/digits.bin")
    }

    /// Reads and parses a digits file.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DataError> {
        if bytes.len() < DIGITS_HEADER_LEN {
            return Err(DataError::TooShort { found: bytes.len() });
        }
        if &bytes[..8] != DIGITS_MAGIC {
            return Err(DataError::BadMagic);
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let version = u32_at(8);
        if version != DIGITS_VERSION {
            return Err(DataError::UnsupportedVersion { found: version });
        }
        let count = u32_at(12);
        let (rows, cols, max_value, classes) = (bytes[16], bytes[17], bytes[18], bytes[19]);
        if count == 0 || rows == 0 || cols == 0 || classes == 0 {
            return Err(DataError::EmptyShape {
                count,
                rows,
                cols,
                classes,
            });
        }
        let pixels_len = count as usize * rows as usize * cols as usize;
        let expected = DIGITS_HEADER_LEN + pixels_len + count as usize;
        if bytes.len() != expected {
            return Err(DataError::Length {
                expected,
                found: bytes.len(),
            });
        }
        let pixels = bytes[DIGITS_HEADER_LEN..DIGITS_HEADER_LEN + pixels_len].to_vec();
        let labels = bytes[DIGITS_HEADER_LEN + pixels_len..].to_vec();
        let per_image = rows as usize * cols as usize;
        if let Some(at) = pixels.iter().position(|&p| p > max_value) {
            return Err(DataError::PixelRange {
                index: at / per_image,
                value: pixels[at],
                max: max_value,
            });
        }
        if let Some(index) = labels.iter().position(|&l| l >= classes) {
            return Err(DataError::LabelRange {
                index,
                label: labels[index],
                classes,
            });
        }
        Ok(Digits {
            rows,
            cols,
            max_value,
            classes,
            pixels,
            labels,
        })
    }

    /// The canonical bytes of this file (what [`Digits::from_bytes`] reads).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DIGITS_HEADER_LEN + self.pixels.len() + self.len());
        out.extend_from_slice(DIGITS_MAGIC);
        out.extend_from_slice(&DIGITS_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        out.extend_from_slice(&[self.rows, self.cols, self.max_value, self.classes]);
        out.extend_from_slice(&self.pixels);
        out.extend_from_slice(&self.labels);
        out
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn inputs(&self) -> usize {
        self.rows as usize * self.cols as usize
    }

    /// The images whose index satisfies `keep`, in their original order.
    fn subset(&self, keep: impl Fn(usize) -> bool) -> Digits {
        let per = self.inputs();
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for (i, &label) in self.labels.iter().enumerate() {
            if keep(i) {
                pixels.extend_from_slice(&self.pixels[i * per..(i + 1) * per]);
                labels.push(label);
            }
        }
        Digits {
            pixels,
            labels,
            ..*self
        }
    }

    /// The fixed split: (training, held-out), every [`HELD_OUT_EVERY`]-th image held
    /// out. No random numbers, so every party derives the same two sets.
    pub fn split(&self) -> (Examples, Examples) {
        let held_out = |i: usize| i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1;
        (
            Examples::new(&self.subset(|i| !held_out(i))),
            Examples::new(&self.subset(held_out)),
        )
    }
}

/// Examples as the executors use them: inputs scaled to `[0, 1]` as f32 (computed
/// once, here, so both executors start from the same bits), labels, and the hash of
/// the digits bytes they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Examples {
    /// Pixels per example.
    pub inputs: u32,
    pub classes: u32,
    /// `len · inputs` values, `pixel · (1 / max_value)`.
    pub x: Vec<f32>,
    pub labels: Vec<u8>,
    /// SHA-256 of the [`Digits::to_bytes`] these examples were made from.
    pub hash: Hash32,
}

impl Examples {
    pub fn new(digits: &Digits) -> Self {
        // One rounding per pixel (exact for max_value 16, a power of two).
        let scale = 1.0f32 / digits.max_value.max(1) as f32;
        Examples {
            inputs: digits.inputs() as u32,
            classes: digits.classes as u32,
            x: digits.pixels.iter().map(|&p| p as f32 * scale).collect(),
            labels: digits.labels.clone(),
            hash: sha256(&digits.to_bytes()),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Whether the fields agree with each other, as [`Examples::new`] makes them: `x`
    /// holds `len · inputs` finite values and every label is below `classes`. Checked
    /// before every training call: the CUDA kernels index `x` by example and the CPU
    /// engine's skipping of zero gradients relies on finite inputs.
    pub fn check(&self) -> Result<(), DataError> {
        let expected = self.len() * self.inputs as usize;
        if self.x.len() != expected {
            return Err(DataError::ExamplesShape {
                labels: self.len(),
                inputs: self.inputs,
                expected,
                found: self.x.len(),
            });
        }
        if let Some(at) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(DataError::NonFiniteInput {
                index: at / self.inputs.max(1) as usize,
            });
        }
        if let Some(index) = self.labels.iter().position(|&l| l as u32 >= self.classes) {
            return Err(DataError::ExampleLabel {
                index,
                label: self.labels[index],
                classes: self.classes,
            });
        }
        Ok(())
    }

    /// Example `i`'s inputs.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.inputs as usize;
        &self.x[i * n..(i + 1) * n]
    }
}
