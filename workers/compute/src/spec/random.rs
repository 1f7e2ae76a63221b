//! Deterministic pseudo-random data: seeds go in, demo matrices and Freivalds challenge
//! vectors come out, the same on every machine.

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
