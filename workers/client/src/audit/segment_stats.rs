//! The auditor's figures for segmented jobs, segment by segment: which provider ran
//! each segment, the GPU time it metered and what it earned. A segmented job's
//! `Segments` account is read with the rest of the snapshot while the job lives (it
//! closes with the job once every segment is settled; the market's totals keep the sums
//! afterwards). Nothing is restated here: GPU time is the program's
//! `Segment::gpu_ms` (`math::segment_gpu_ms`) and a paid segment's revenue is the
//! program's `math::payout_for` over the job's frozen fee, the same call
//! `Segments::finalize` pays with.

use anchor_lang::prelude::Pubkey;
use gpu_market::math;
use gpu_market::state::{Job, Segment, SegmentState, Segments};
use serde::Serialize;

/// The name a segment's state has in JSON and on the dashboard.
pub fn segment_state_name(s: SegmentState) -> &'static str {
    match s {
        SegmentState::Pending => "pending",
        SegmentState::Running => "running",
        SegmentState::Committed => "committed",
        SegmentState::Paid => "paid",
        SegmentState::Disputed => "disputed",
    }
}

/// One segment as the auditor counts it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SegmentStats {
    pub index: u8,
    pub state: &'static str,
    /// The provider account running or having run it; none while pending.
    pub provider: Option<String>,
    /// Payment-mint base units the buyer pays for it.
    pub price: u64,
    /// Metered GPU time, milliseconds: zero until its checkpoint is committed.
    pub gpu_ms: u64,
    /// The same, in GPU-seconds.
    pub gpu_seconds: f64,
    /// Payment-mint base units its provider received: price minus the fee once paid,
    /// zero before.
    pub revenue: u64,
    /// Payment-mint base units the treasury took from it once paid, zero before.
    pub fee: u64,
    /// Whether it was paid (its challenge window passed and it was finalized).
    pub paid: bool,
    /// Hex SHA-256 of the checkpoint it committed; none before its commit.
    pub state_root: Option<String>,
    /// Unix seconds; zero while pending.
    pub started_at: i64,
    /// Last second its checkpoint may be committed; zero while pending.
    pub deadline: i64,
    /// Unix seconds of its commit; zero before.
    pub committed_at: i64,
}

/// A live segmented job and its segments.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SegmentedJobStats {
    pub job: String,
    /// No segment starts or is added any more.
    pub ended: bool,
    /// The segment whose checkpoint the next one resumes from.
    pub last_checkpoint_index: Option<u8>,
    pub last_checkpoint_uri: String,
    /// Sums over the segments below.
    pub gpu_ms: u64,
    pub gpu_seconds: f64,
    pub revenue: u64,
    pub fees: u64,
    pub segments_paid: u64,
    pub segments: Vec<SegmentStats>,
}

/// Whether `s` has committed a checkpoint (and so metered GPU time).
fn committed(s: &Segment) -> bool {
    matches!(
        s.state,
        SegmentState::Committed | SegmentState::Paid | SegmentState::Disputed
    )
}

/// What segment `index` of `job` counts.
pub fn segment_stats(job: &Job, index: u8, s: &Segment) -> SegmentStats {
    let paid = s.state == SegmentState::Paid;
    let gpu_ms = if committed(s) { s.gpu_ms() } else { 0 };
    // The program paid this segment with these same calls: on a paid segment they
    // succeeded on chain (the market caps fee_bps well below 10_000).
    let (revenue, fee) = if paid {
        (
            math::payout_for(s.price, job.terms.fee_bps).unwrap_or(0),
            math::fee_for(s.price, job.terms.fee_bps).unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    SegmentStats {
        index,
        state: segment_state_name(s.state),
        provider: (s.provider != Pubkey::default()).then(|| s.provider.to_string()),
        price: s.price,
        gpu_ms,
        gpu_seconds: gpu_ms as f64 / 1_000.0,
        revenue,
        fee,
        paid,
        state_root: committed(s).then(|| hex::encode(s.state_root)),
        started_at: s.started_at,
        deadline: s.deadline,
        committed_at: s.committed_at,
    }
}

/// What one segmented job counts, segment by segment and in all.
pub fn segmented_job_stats(key: &Pubkey, job: &Job, segs: &Segments) -> SegmentedJobStats {
    let segments: Vec<SegmentStats> = segs
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| segment_stats(job, u8::try_from(i).unwrap_or(u8::MAX), s))
        .collect();
    with_sums(
        key.to_string(),
        segs.ended,
        segs.last_checkpoint_index,
        segs.last_checkpoint_uri.clone(),
        segments,
    )
}

/// A job's entry from its segments' figures, with the job's sums over them (also for
/// a settled job's segments rebuilt from its events, once its accounts are closed).
pub fn with_sums(
    job: String,
    ended: bool,
    last_checkpoint_index: Option<u8>,
    last_checkpoint_uri: String,
    segments: Vec<SegmentStats>,
) -> SegmentedJobStats {
    let gpu_ms = segments
        .iter()
        .map(|s| s.gpu_ms)
        .fold(0u64, u64::saturating_add);
    SegmentedJobStats {
        job,
        ended,
        last_checkpoint_index,
        last_checkpoint_uri,
        gpu_ms,
        gpu_seconds: gpu_ms as f64 / 1_000.0,
        revenue: segments
            .iter()
            .map(|s| s.revenue)
            .fold(0, u64::saturating_add),
        fees: segments.iter().map(|s| s.fee).fold(0, u64::saturating_add),
        segments_paid: segments.iter().filter(|s| s.paid).count() as u64,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use gpu_market::state::{JobState, SegmentTerms};

    use super::*;

    const TERMS: [SegmentTerms; 3] = [
        SegmentTerms {
            price: 12_345,
            duration: 100,
        },
        SegmentTerms {
            price: 1_000,
            duration: 100,
        },
        SegmentTerms {
            price: 1_000,
            duration: 100,
        },
    ];

    /// A job of three segments at fee 2.5% (the fixture's terms): segment 0 run by
    /// `a` on 2 GPUs from t=10, committed at t=40 and paid; segment 1 run by `b` on 4
    /// GPUs from t=41, committed at t=50, inside its challenge window; segment 2
    /// running on `a` since t=51.
    fn job_with_history(a: Pubkey, b: Pubkey) -> (Job, Segments) {
        let mut job = Job {
            state: JobState::Segmented,
            price: TERMS.iter().map(|t| t.price).sum(),
            ..Job::fixture()
        };
        let mut s = Segments::posted(Pubkey::new_unique(), 255, &TERMS);
        s.start(&mut job, a, 100, 2, 1, 10).unwrap();
        s.commit(&mut job, 0, &a, [1; 32], "blob://c0".into(), 40)
            .unwrap();
        s.start(&mut job, b, 100, 4, 1, 41).unwrap();
        s.commit(&mut job, 1, &b, [2; 32], "blob://c1".into(), 50)
            .unwrap();
        let window = job.terms.challenge_window;
        job.escrow = u64::MAX / 2;
        s.finalize(&mut job, 0, 40 + window + 1).unwrap();
        s.start(&mut job, a, 100, 2, 1, 51).unwrap();
        (job, s)
    }

    #[test]
    fn each_segment_counts_its_own_gpu_time_and_only_a_paid_one_earns() {
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        let (job, segs) = job_with_history(a, b);
        let key = Pubkey::new_unique();
        let st = segmented_job_stats(&key, &job, &segs);
        assert_eq!(st.job, key.to_string());
        let [s0, s1, s2] = &st.segments[..] else {
            panic!("three segments: {:?}", st.segments)
        };
        // 30 s on 2 GPUs, paid 12_345 - ceil(12_345 * 2.5%) = 12_345 - 309.
        assert_eq!((s0.state, s0.paid), ("paid", true));
        assert_eq!(s0.provider.as_deref(), Some(a.to_string().as_str()));
        assert_eq!(s0.gpu_ms, 60_000);
        assert_eq!(s0.gpu_seconds, 60.0);
        assert_eq!((s0.revenue, s0.fee), (12_036, 309));
        assert_eq!(s0.revenue + s0.fee, s0.price);
        assert_eq!(
            s0.state_root.as_deref(),
            Some(hex::encode([1u8; 32]).as_str())
        );
        // 9 s on 4 GPUs, committed but still inside its window: no revenue yet.
        assert_eq!((s1.state, s1.paid), ("committed", false));
        assert_eq!(s1.provider.as_deref(), Some(b.to_string().as_str()));
        assert_eq!(s1.gpu_ms, 36_000);
        assert_eq!((s1.revenue, s1.fee), (0, 0));
        // Running: no commit, so no metered time and no root, whatever the clock says.
        assert_eq!(s2.state, "running");
        assert_eq!((s2.gpu_ms, s2.revenue, s2.state_root.clone()), (0, 0, None));
        assert_eq!(s2.started_at, 51);
        assert_eq!(s2.deadline, 151);
        // The job's sums are the segments'.
        assert_eq!(st.gpu_ms, 96_000);
        assert_eq!(st.gpu_seconds, 96.0);
        assert_eq!((st.revenue, st.fees, st.segments_paid), (12_036, 309, 1));
        assert_eq!(st.last_checkpoint_index, Some(1));
        assert_eq!(st.last_checkpoint_uri, "blob://c1");
    }

    /// The attack on the books: a provider whose segment expired (its deadline missed,
    /// the segment pending again) must not keep the GPU time or the revenue of work it
    /// never checkpointed; the provider field goes with it.
    #[test]
    fn an_expired_segment_counts_nothing_for_the_provider_that_missed_it() {
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        let (mut job, mut segs) = job_with_history(a, b);
        let deadline = segs.segments[2].deadline;
        segs.expire(&mut job, 2, deadline + 1).unwrap();
        let st = segmented_job_stats(&Pubkey::new_unique(), &job, &segs);
        let s2 = &st.segments[2];
        assert_eq!(s2.state, "pending");
        assert_eq!(s2.provider, None);
        assert_eq!((s2.gpu_ms, s2.revenue, s2.fee), (0, 0, 0));
        // The segments before it keep what they counted.
        assert_eq!(st.gpu_ms, 96_000);
        assert_eq!(st.revenue, 12_036);
    }

    #[test]
    fn a_fresh_job_counts_nothing() {
        let job = Job {
            state: JobState::Segmented,
            ..Job::fixture()
        };
        let segs = Segments::posted(Pubkey::new_unique(), 255, &TERMS);
        let st = segmented_job_stats(&Pubkey::new_unique(), &job, &segs);
        assert_eq!(st.segments.len(), 3);
        assert!(st
            .segments
            .iter()
            .all(|s| s.state == "pending" && s.provider.is_none() && s.gpu_ms == 0));
        assert_eq!((st.gpu_ms, st.revenue, st.segments_paid), (0, 0, 0));
        assert_eq!(st.last_checkpoint_index, None);
    }
}
