//! The training act's part of the demo's report: per segment who ran it and what it
//! was paid, each provider's payments and the buyer's total against the rule, the
//! missed segment's slash and its split, the final model's held-out accuracy, and the
//! final checkpoint root against an uninterrupted run's.

use std::io::Write;

use serde::Serialize;

use crate::output::{kv, short, table};

/// The held-out accuracy the act's model must reach (600 SGD steps, 4 segments of
/// 150, reach about 0.96 on the 359 held-out digits).
pub const MIN_ACCURACY: f64 = 0.9;

#[derive(Clone, Debug, Serialize)]
pub struct TrainingSegment {
    pub index: u8,
    /// The provider that ran it (and was paid for it).
    pub provider: String,
    /// Its committed checkpoint root (SHA-256 of the checkpoint body), hex.
    pub state_root: String,
    /// Payment-mint units paid to its provider: price less the fee.
    pub paid: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainingReport {
    pub job: String,
    pub segments: Vec<TrainingSegment>,
    pub price_per_segment: u64,
    pub fee_per_segment: u64,
    /// The provider killed mid-run, and the segment it died in.
    pub killed_provider: String,
    pub killed_at: u8,
    /// The provider that took over from the last committed checkpoint.
    pub resumed_by: String,
    /// What each received in its payout account during the act, and the rule's figure
    /// (price less fee for each segment it delivered).
    pub killed_paid: u64,
    pub killed_expected: u64,
    pub resumer_paid: u64,
    pub resumer_expected: u64,
    /// What left the buyer's account, and the job's escrow (each segment's price and
    /// crank bounty): nothing was refunded, nothing paid twice.
    pub buyer_paid: u64,
    pub buyer_expected: u64,
    /// The killed provider's stake slashed, and the missed segment's bond.
    pub slashed: u64,
    pub missed_bond: u64,
    /// The slash's shares, received and by the market's split.
    pub slash_to_buyer: u64,
    pub slash_expected_to_buyer: u64,
    pub slash_to_reporter: u64,
    pub slash_expected_to_reporter: u64,
    /// SGD steps of the whole run, and the final model on the held-out digits.
    pub steps: u64,
    pub accuracy: f64,
    pub held_out: u64,
    /// The last committed checkpoint's root, and an uninterrupted CPU run's.
    pub final_root: String,
    pub reference_root: String,
    /// After the act: the audit's invariants, and token conservation.
    pub invariants_ok: bool,
    pub conservation_ok: bool,
}

impl TrainingReport {
    /// Each provider paid exactly for its segments, the buyer exactly the escrow, the
    /// one missed bond slashed by the split, the hand-off bit for bit, books balanced.
    pub fn ok(&self) -> bool {
        self.killed_paid == self.killed_expected
            && self.resumer_paid == self.resumer_expected
            && self.buyer_paid == self.buyer_expected
            && self.slashed == self.missed_bond
            && self.slash_to_buyer == self.slash_expected_to_buyer
            && self.slash_to_reporter == self.slash_expected_to_reporter
            && self.final_root == self.reference_root
            && self.accuracy >= MIN_ACCURACY
            && self.invariants_ok
            && self.conservation_ok
    }
}

pub fn print_training(o: &mut dyn Write, t: &TrainingReport) -> std::io::Result<()> {
    writeln!(o)?;
    writeln!(
        o,
        "== training job {} ({} segments of train-mlp): provider {} killed in segment {}, {} resumed from the last checkpoint",
        short(&t.job),
        t.segments.len(),
        short(&t.killed_provider),
        t.killed_at,
        short(&t.resumed_by)
    )?;
    let rows: Vec<Vec<String>> = t
        .segments
        .iter()
        .map(|s| {
            vec![
                s.index.to_string(),
                short(&s.provider),
                s.paid.to_string(),
                s.state_root[..16].to_string(),
            ]
        })
        .collect();
    table(o, &["segment", "ran by", "paid", "checkpoint root"], &rows)?;
    let check = |ok: bool| if ok { "ok" } else { "FAIL" };
    kv(
        o,
        &[
            (
                "killed provider paid",
                format!(
                    "{} (rule: {}) {}",
                    t.killed_paid,
                    t.killed_expected,
                    check(t.killed_paid == t.killed_expected)
                ),
            ),
            (
                "resuming provider paid",
                format!(
                    "{} (rule: {}) {}",
                    t.resumer_paid,
                    t.resumer_expected,
                    check(t.resumer_paid == t.resumer_expected)
                ),
            ),
            (
                "buyer paid",
                format!(
                    "{} (escrow: {}) {}",
                    t.buyer_paid,
                    t.buyer_expected,
                    check(t.buyer_paid == t.buyer_expected)
                ),
            ),
            (
                "missed segment slashed",
                format!(
                    "{} (its bond: {}); to the buyer {} (rule: {}), to the reporter {} (rule: {})",
                    t.slashed,
                    t.missed_bond,
                    t.slash_to_buyer,
                    t.slash_expected_to_buyer,
                    t.slash_to_reporter,
                    t.slash_expected_to_reporter
                ),
            ),
            (
                "held-out accuracy",
                format!(
                    "{:.1} % of {} digits after {} steps (at least {:.0} %)",
                    t.accuracy * 100.0,
                    t.held_out,
                    t.steps,
                    MIN_ACCURACY * 100.0
                ),
            ),
            (
                "final checkpoint",
                format!(
                    "{} {} an uninterrupted run's",
                    &t.final_root[..16],
                    if t.final_root == t.reference_root {
                        "equals"
                    } else {
                        "DIFFERS from"
                    }
                ),
            ),
            (
                "books after the act",
                format!(
                    "invariants {}, token conservation {}",
                    check(t.invariants_ok),
                    check(t.conservation_ok)
                ),
            ),
        ],
    )
}
