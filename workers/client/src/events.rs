//! Reads gpu-market events back out of transaction logs ("Program data:"
//! lines, base64 of discriminator + Borsh).

use anchor_lang::{AnchorDeserialize, Discriminator, Event};

/// Every event of type `E` in `logs`, in order.
pub fn parse<E: Event + AnchorDeserialize + Discriminator>(logs: &[String]) -> Vec<E> {
    use base64_decode as b64;
    logs.iter()
        .filter_map(|l| l.strip_prefix("Program data: "))
        .filter_map(b64)
        .filter(|bytes| bytes.starts_with(E::DISCRIMINATOR))
        .filter_map(|bytes| E::deserialize(&mut &bytes[E::DISCRIMINATOR.len()..]).ok())
        .collect()
}

/// Standard base64 with padding, as the runtime logs it.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    STANDARD.decode(s.trim()).ok()
}
