//! The 32-byte hash: bytes in, lowercase hex out (the form used in spec JSON, blob keys
//! and URIs), and back.

use alloc::string::String;
use core::fmt;

/// A SHA-256 digest. Displays and serializes as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash32(pub [u8; 32]);

/// Why a string is not a hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HexError {
    /// Not 64 characters long.
    Length { found: usize },
    /// A character that is not a hex digit (or, for [`Hash32::from_hex`], not a
    /// lowercase one), at byte offset `index`.
    Digit { index: usize },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::Length { found } => {
                write!(f, "expected 64 hex digits, found {found} characters")
            }
            // True in both parsing modes: a character any-case parsing refuses is not a
            // lowercase digit either.
            HexError::Digit { index } => {
                write!(f, "character {index} is not a lowercase hex digit")
            }
        }
    }
}

impl core::error::Error for HexError {}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

impl Hash32 {
    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(DIGITS[(b >> 4) as usize] as char);
            s.push(DIGITS[(b & 15) as usize] as char);
        }
        s
    }

    /// Parses exactly 64 lowercase hex characters. Uppercase is refused so that a hash
    /// has one spelling inside hashed spec bytes.
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        parse(s, false)
    }

    /// Parses 64 hex characters of either case, for hashes typed by people or taken
    /// from places that do not promise lowercase.
    pub fn from_hex_any_case(s: &str) -> Result<Self, HexError> {
        parse(s, true)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn parse(s: &str, any_case: bool) -> Result<Hash32, HexError> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return Err(HexError::Length { found: s.len() });
    }
    let digit = |index: usize| -> Result<u8, HexError> {
        match bytes[index] {
            c @ b'0'..=b'9' => Ok(c - b'0'),
            c @ b'a'..=b'f' => Ok(c - b'a' + 10),
            c @ b'A'..=b'F' if any_case => Ok(c - b'A' + 10),
            _ => Err(HexError::Digit { index }),
        }
    };
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = digit(2 * i)? << 4 | digit(2 * i + 1)?;
    }
    Ok(Hash32(out))
}

impl From<[u8; 32]> for Hash32 {
    fn from(b: [u8; 32]) -> Self {
        Hash32(b)
    }
}

impl From<&[u8; 32]> for Hash32 {
    fn from(b: &[u8; 32]) -> Self {
        Hash32(*b)
    }
}

impl From<Hash32> for [u8; 32] {
    fn from(h: Hash32) -> Self {
        h.0
    }
}

impl AsRef<[u8]> for Hash32 {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<[u8; 32]> for Hash32 {
    fn eq(&self, other: &[u8; 32]) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({self})")
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::Hash32;
    use core::fmt;
    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for Hash32 {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            // On the stack: this crate does not ask serde for `alloc`.
            let mut buf = [0u8; 64];
            for (pair, b) in buf.chunks_exact_mut(2).zip(self.0) {
                pair[0] = super::DIGITS[(b >> 4) as usize];
                pair[1] = super::DIGITS[(b & 15) as usize];
            }
            let hex = core::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?;
            s.serialize_str(hex)
        }
    }

    struct HexVisitor;

    impl Visitor<'_> for HexVisitor {
        type Value = Hash32;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("64 lowercase hex characters")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Hash32, E> {
            Hash32::from_hex(s).map_err(E::custom)
        }
    }

    impl<'de> Deserialize<'de> for Hash32 {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(HexVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hex_round_trips_in_one_spelling() {
        let h = Hash32::from_hex(ABC).unwrap();
        assert_eq!(h.0[0], 0xba);
        assert_eq!(h.0[31], 0xad);
        assert_eq!(h.to_hex(), ABC);
        assert_eq!(alloc::format!("{h}"), ABC);
        assert_eq!(alloc::format!("{h:?}"), alloc::format!("Hash32({ABC})"));
        let upper = ABC.to_uppercase();
        assert_eq!(Hash32::from_hex(&upper), Err(HexError::Digit { index: 0 }));
        assert_eq!(Hash32::from_hex_any_case(&upper), Ok(h));
    }

    #[test]
    fn bad_strings_name_what_is_wrong() {
        assert_eq!(Hash32::from_hex(""), Err(HexError::Length { found: 0 }));
        assert_eq!(
            Hash32::from_hex(&ABC[..63]),
            Err(HexError::Length { found: 63 })
        );
        let mut s = String::from(ABC);
        s.replace_range(10..11, "g");
        assert_eq!(Hash32::from_hex(&s), Err(HexError::Digit { index: 10 }));
        assert_eq!(
            Hash32::from_hex_any_case(&s),
            Err(HexError::Digit { index: 10 })
        );
        // A multi-byte character of the right byte length is still refused.
        let s = alloc::format!("é{}", &ABC[2..]);
        assert!(Hash32::from_hex_any_case(&s).is_err());
    }

    #[test]
    fn conversions_keep_the_bytes() {
        let b = [7u8; 32];
        let h = Hash32::from(b);
        assert_eq!(h, b);
        assert_eq!(Hash32::from(&b), h);
        assert_eq!(<[u8; 32]>::from(h), b);
        assert_eq!(h.as_ref(), &b[..]);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_lowercase_hex() {
        let h = Hash32::from_hex(ABC).unwrap();
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, alloc::format!("\"{ABC}\""));
        assert_eq!(serde_json::from_str::<Hash32>(&json).unwrap(), h);
        let upper = alloc::format!("\"{}\"", ABC.to_uppercase());
        assert!(serde_json::from_str::<Hash32>(&upper).is_err());
    }
}
