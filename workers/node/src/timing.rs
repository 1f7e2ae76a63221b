//! Where a worker's time goes: each phase of each job (preparing, claiming,
//! executing, committing, uploading, submitting) as a span of wall time, kept
//! for the most recent jobs. Utilization reports and the benchmarks read it;
//! [`covered`] turns spans into the fraction of an interval the executor was busy.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use gpu_market_client::Pubkey;

/// Spans kept; older ones are dropped so a long-running daemon stays bounded.
const KEEP: usize = 8_192;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Fetching and checking a spec and its inputs.
    Prepare,
    /// Signing and sending a claim until it landed.
    Claim,
    /// The executor computing (waiting for the executor is not included).
    Execute,
    /// The Merkle commitment to the output.
    Commit,
    /// Storing the output in the blob store.
    Upload,
    /// Signing and sending a submission until it landed.
    Submit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub job: Pubkey,
    pub phase: Phase,
    pub start: Instant,
    pub end: Instant,
}

impl Span {
    pub fn seconds(&self) -> f64 {
        self.end.duration_since(self.start).as_secs_f64()
    }
}

#[derive(Debug, Default)]
pub struct Timeline {
    spans: Mutex<VecDeque<Span>>,
}

impl Timeline {
    /// Records that `phase` of `job` ran from `start` until now.
    pub fn record(&self, job: Pubkey, phase: Phase, start: Instant) {
        let mut spans = self.spans.lock().unwrap();
        if spans.len() == KEEP {
            spans.pop_front();
        }
        spans.push_back(Span {
            job,
            phase,
            start,
            end: Instant::now(),
        });
    }

    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().iter().copied().collect()
    }
}

/// The fraction of `[from, to]` covered by at least one of `spans` (overlaps
/// count once); 0 for an empty interval.
pub fn covered(
    spans: impl IntoIterator<Item = (Instant, Instant)>,
    from: Instant,
    to: Instant,
) -> f64 {
    if to <= from {
        return 0.0;
    }
    let mut clipped: Vec<(Instant, Instant)> = spans
        .into_iter()
        .map(|(s, e)| (s.max(from), e.min(to)))
        .filter(|(s, e)| s < e)
        .collect();
    clipped.sort();
    let mut busy = 0.0;
    let mut current: Option<(Instant, Instant)> = None;
    for (s, e) in clipped {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                busy += ce.duration_since(cs).as_secs_f64();
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = current {
        busy += ce.duration_since(cs).as_secs_f64();
    }
    busy / to.duration_since(from).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn coverage_counts_overlaps_once_and_clips_to_the_interval() {
        let t0 = Instant::now();
        let t = |ms: u64| t0 + Duration::from_millis(ms);
        let (from, to) = (t(0), t(1_000));
        type Row = (&'static str, Vec<(u64, u64)>, f64);
        let table: [Row; 6] = [
            ("nothing", vec![], 0.0),
            ("all of it", vec![(0, 1_000)], 1.0),
            (
                "two disjoint halves of the first half",
                vec![(0, 250), (250, 500)],
                0.5,
            ),
            (
                "overlaps count once",
                vec![(0, 400), (200, 600), (300, 500)],
                0.6,
            ),
            ("clipped at both ends", vec![(0, 100), (900, 2_000)], 0.2),
            (
                "unsorted and nested",
                vec![(700, 800), (100, 300), (150, 200)],
                0.3,
            ),
        ];
        for (name, spans, want) in table {
            let got = covered(spans.iter().map(|&(s, e)| (t(s), t(e))), from, to);
            assert!((got - want).abs() < 1e-9, "{name}: {got} != {want}");
        }
        assert_eq!(covered([(t(0), t(10))], to, from), 0.0, "empty interval");
    }

    #[test]
    fn the_timeline_keeps_the_most_recent_spans() {
        let tl = Timeline::default();
        let job = Pubkey::new_unique();
        for _ in 0..KEEP + 5 {
            tl.record(job, Phase::Execute, Instant::now());
        }
        tl.record(job, Phase::Submit, Instant::now());
        let spans = tl.spans();
        assert_eq!(spans.len(), KEEP);
        assert_eq!(spans.last().unwrap().phase, Phase::Submit);
    }
}
