//! A segmented job's terms from the command line: `--segments`, `--segment-price` and
//! `--segment-duration` (one value for every segment, or one per segment) become the
//! program's `SegmentTerms`, checked by the program's own `Segments::check_terms`
//! (count, prices, durations against the market's submit window) before anything is
//! sent.

use clap::Args;
use gpu_market::state::{SegmentTerms, Segments};
use serde::Serialize;

use crate::error::SegmentInputError;
use crate::Result;

/// Seconds a segment's provider has to commit when `--segment-duration` is not given.
pub const DEFAULT_SEGMENT_DURATION: i64 = 3_600;

/// The segments of a post (`job post --segments`).
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Segmented jobs (train-mlp)")]
pub struct SegmentedArgs {
    /// Post a train-mlp job paid in N segments (1 to the program's MAX_SEGMENTS, 32):
    /// each is paid to the provider that ran it after its own challenge window, and
    /// another provider resumes from the last checkpoint if one misses its deadline.
    #[arg(long)]
    pub segments: Option<u8>,
    /// Price of each segment, payment-mint base units: one value for every segment, or
    /// a comma-separated list with one per segment. The escrow is each price plus the
    /// market's crank bounty.
    #[arg(long, value_delimiter = ',', requires = "segments")]
    pub segment_price: Vec<u64>,
    /// Seconds a segment's provider has from the segment's start to commit its
    /// checkpoint: one value, or one per segment [default: 3600].
    #[arg(long, value_delimiter = ',', requires = "segments")]
    pub segment_duration: Vec<i64>,
}

/// One value for all `n` segments, or one per segment.
pub fn per_segment<T: Copy>(flag: &'static str, values: &[T], n: u8) -> Result<Vec<T>> {
    match values.len() {
        1 => Ok(vec![values[0]; n as usize]),
        len if len == n as usize => Ok(values.to_vec()),
        given => Err(SegmentInputError::TermsListLength {
            flag,
            given,
            segments: n,
        }
        .into()),
    }
}

/// `n` segments' terms from the flags (`default` where a flag is absent), checked by the
/// program's `Segments::check_terms` for a job that has `have` segments already.
pub fn terms_for(
    n: u8,
    prices: &[u64],
    durations: &[i64],
    default: Option<SegmentTerms>,
    have: usize,
    min_submit_window: i64,
) -> Result<Vec<SegmentTerms>> {
    let prices = match (prices, default) {
        ([], Some(d)) => vec![d.price; n as usize],
        ([], None) => return Err(SegmentInputError::SegmentPriceRequired.into()),
        (p, _) => per_segment("--segment-price", p, n)?,
    };
    let durations = match durations {
        [] => vec![default.map_or(DEFAULT_SEGMENT_DURATION, |d| d.duration); n as usize],
        d => per_segment("--segment-duration", d, n)?,
    };
    let terms: Vec<SegmentTerms> = prices
        .into_iter()
        .zip(durations)
        .map(|(price, duration)| SegmentTerms { price, duration })
        .collect();
    Segments::check_terms(&terms, have, min_submit_window).map_err(SegmentInputError::refused)?;
    Ok(terms)
}

#[derive(Serialize)]
pub struct Term {
    pub price: u64,
    pub duration: i64,
}

pub fn shown(terms: &[SegmentTerms]) -> Vec<Term> {
    terms
        .iter()
        .map(|t| Term {
            price: t.price,
            duration: t.duration,
        })
        .collect()
}
