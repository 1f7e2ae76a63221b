//! A job as the API lists it ([`JobSummary`]): read from its account while the job is
//! live, and rebuilt from the history once it is settled and its account closed (its
//! events in chain order, plus the spec and result URIs from its `job_post` and
//! `job_submit` instructions, which no event carries). Both give the same fields, and
//! [`committed`] gives the terms a result check needs from either. A settled segmented
//! job's segments are rebuilt the same way ([`segments_from_history`]): their prices from
//! its `job_post_segmented` and `job_extend` instructions, the rest from its `Segment*`
//! events, into the entry `audit stats` gives a live one.

use gpu_market::state::Job;
use gpu_market_client::audit::segment_stats::{self, SegmentStats, SegmentedJobStats};
use gpu_market_client::buyer::Committed;
use gpu_market_client::views::{state_name, workload_name};
use gpu_market_client::Pubkey;
use serde::Serialize;
use serde_json::Value;

use crate::store::Event;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct JobSummary {
    pub job: String,
    pub buyer: String,
    pub provider: Option<String>,
    pub state: String,
    pub workload: String,
    pub price: u64,
    pub posted_at: i64,
    pub deadline: i64,
    pub submitted_at: Option<i64>,
    /// Hex.
    pub result_root: Option<String>,
    pub gpu_ms: u64,
    pub spec_uri: String,
    pub result_uri: Option<String>,
    /// The account is closed: the job is finished and this summary is from history.
    pub settled: bool,
    /// Kept for result checks, not shown.
    #[serde(skip)]
    pub(crate) workload_code: u8,
    #[serde(skip)]
    pub(crate) spec_hash: [u8; 32],
}

/// The states a job can be listed in (`?state=`).
pub const STATES: [&str; 8] = [
    "open",
    "claimed",
    "submitted",
    "disputed",
    "finalized",
    "cancelled",
    "refunded",
    "slashed",
];

pub fn from_account(key: &Pubkey, j: &Job) -> JobSummary {
    JobSummary {
        job: key.to_string(),
        buyer: j.buyer.to_string(),
        provider: (j.provider != Pubkey::default()).then(|| j.provider.to_string()),
        state: state_name(j.state).to_string(),
        workload: workload_name(j.workload).to_string(),
        price: j.price,
        posted_at: j.posted_at,
        deadline: j.deadline,
        submitted_at: (j.submitted_at != 0).then_some(j.submitted_at),
        result_root: (j.result_root != [0; 32]).then(|| hex::encode(j.result_root)),
        gpu_ms: j.gpu_ms,
        spec_uri: j.spec_uri.clone(),
        result_uri: (!j.result_uri.is_empty()).then(|| j.result_uri.clone()),
        settled: false,
        workload_code: j.workload,
        spec_hash: j.spec_hash,
    }
}

fn u64_of(d: &Value, k: &str) -> u64 {
    d.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn i64_of(d: &Value, k: &str) -> i64 {
    d.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn str_of(d: &Value, k: &str) -> Option<String> {
    d.get(k).and_then(Value::as_str).map(str::to_string)
}

/// Job `key` rebuilt from its events (chain order) and the args of its `job_post` and
/// `job_submit` instructions; `None` if the history never saw it posted.
pub fn from_history(
    key: &str,
    events: &[Event],
    posts: &[Value],
    submits: &[Value],
) -> Option<JobSummary> {
    let posted = events.iter().find(|e| e.name == "JobPosted")?;
    let d = &posted.data;
    let workload_code = u64_of(d, "workload") as u8;
    let mut s = JobSummary {
        job: key.to_string(),
        buyer: str_of(d, "buyer").unwrap_or_default(),
        provider: None,
        state: "open".into(),
        workload: workload_name(workload_code).to_string(),
        price: u64_of(d, "price"),
        posted_at: i64_of(d, "timestamp"),
        deadline: i64_of(d, "deadline"),
        submitted_at: None,
        result_root: None,
        gpu_ms: 0,
        spec_uri: posts
            .first()
            .and_then(|p| str_of(&p["args"]["args"], "spec_uri"))
            .unwrap_or_default(),
        result_uri: submits
            .last()
            .and_then(|p| str_of(&p["args"]["args"], "result_uri")),
        settled: true,
        workload_code,
        spec_hash: str_of(d, "spec_hash")
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 32]),
    };
    for e in events {
        let d = &e.data;
        match e.name.as_str() {
            "JobClaimed" => {
                s.provider = str_of(d, "provider");
                s.state = "claimed".into();
            }
            "JobSubmitted" => {
                s.submitted_at = Some(i64_of(d, "timestamp"));
                s.result_root = str_of(d, "result_root");
                s.gpu_ms = u64_of(d, "gpu_ms");
                s.state = "submitted".into();
            }
            "JobChallenged" => s.state = "disputed".into(),
            // DisputeOutcome's order: ProviderWrong and ProviderSilent lose the provider
            // the job; any other outcome lets its result stand.
            "DisputeSettled" => {
                s.state = if u64_of(d, "outcome") <= 1 {
                    "slashed"
                } else {
                    "submitted"
                }
                .into()
            }
            "JobFinalized" => {
                s.state = "finalized".into();
                s.gpu_ms = u64_of(d, "gpu_ms");
            }
            // A segmented job: "segmented" while it lives, as its account says; closed
            // by its last payment, or by a refund of the rest (`job_end`, an expiry
            // past its deadline).
            "SegmentStarted" | "SegmentCommitted" | "JobExtended" => {
                s.state = "segmented".into();
                if e.name == "SegmentStarted" {
                    s.provider = str_of(d, "provider");
                }
            }
            "SegmentPaid" | "SegmentExpired" | "JobEnded" => {
                let closed = d.get("closed").and_then(Value::as_bool) == Some(true);
                s.state = match (closed, e.name.as_str()) {
                    (false, _) => "segmented",
                    (true, "SegmentPaid") => "finalized",
                    (true, _) => "refunded",
                }
                .into();
            }
            "JobCancelled" => s.state = "cancelled".into(),
            "JobRefunded" => s.state = "refunded".into(),
            "JobExpired" => {
                if d.get("reopened").and_then(Value::as_bool) == Some(true) {
                    s.state = "open".into();
                    s.provider = None;
                } else {
                    s.state = "refunded".into();
                }
            }
            _ => {}
        }
    }
    Some(s)
}

/// The terms a result check needs; `None` before a result is submitted.
pub fn committed(s: &JobSummary) -> Option<Committed> {
    let root: [u8; 32] = hex::decode(s.result_root.as_deref()?)
        .ok()?
        .try_into()
        .ok()?;
    Some(Committed {
        workload: s.workload_code,
        spec_uri: s.spec_uri.clone(),
        spec_hash: s.spec_hash,
        result_uri: s.result_uri.clone()?,
        result_root: root,
    })
}

/// A settled segmented job's segments from its history: the segments its
/// `job_post_segmented` (`posts`) and `job_extend` (`extends`) instructions offered, each
/// carried through its events in chain order (started, committed, paid, expired; the
/// unstarted ones refunded by an expiry past the deadline or by `job_end` drop out, as
/// they do from the account). `None` when the job was not posted segmented.
pub fn segments_from_history(
    key: &str,
    events: &[Event],
    posts: &[Value],
    extends: &[Value],
) -> Option<SegmentedJobStats> {
    let terms = |ix: &Value| -> Vec<u64> {
        ix["args"]["segments"]
            .as_array()
            .map(|t| t.iter().map(|x| u64_of(x, "price")).collect())
            .unwrap_or_default()
    };
    let mut prices = terms(posts.first()?);
    for e in extends {
        prices.extend(terms(e));
    }
    let pending = |index: usize, price: u64| SegmentStats {
        index: u8::try_from(index).unwrap_or(u8::MAX),
        state: segment_stats::segment_state_name(gpu_market::state::SegmentState::Pending),
        provider: None,
        price,
        gpu_ms: 0,
        gpu_seconds: 0.0,
        revenue: 0,
        fee: 0,
        paid: false,
        state_root: None,
        started_at: 0,
        deadline: 0,
        committed_at: 0,
    };
    let mut rows: Vec<SegmentStats> = prices
        .iter()
        .enumerate()
        .map(|(i, p)| pending(i, *p))
        .collect();
    let (mut ended, mut last_index, mut last_uri) = (false, None, String::new());
    // Refunds remove the last unstarted segments, as `Segments::refund_from` does.
    let drop_last = |rows: &mut Vec<SegmentStats>, n: u64| {
        for _ in 0..n {
            if rows.last().is_some_and(|r| r.provider.is_none()) {
                rows.pop();
            }
        }
    };
    use gpu_market::state::SegmentState as St;
    for e in events {
        let d = &e.data;
        let index = u64_of(d, "index") as usize;
        match e.name.as_str() {
            "SegmentStarted" => {
                if let Some(r) = rows.get_mut(index) {
                    r.state = segment_stats::segment_state_name(St::Running);
                    r.provider = str_of(d, "provider");
                    r.started_at = i64_of(d, "timestamp");
                    r.deadline = i64_of(d, "deadline");
                }
            }
            "SegmentCommitted" => {
                if let Some(r) = rows.get_mut(index) {
                    r.state = segment_stats::segment_state_name(St::Committed);
                    r.state_root = str_of(d, "state_root");
                    r.committed_at = i64_of(d, "committed_at");
                    r.gpu_ms = u64_of(d, "gpu_ms");
                    r.gpu_seconds = r.gpu_ms as f64 / 1_000.0;
                }
                last_index = u8::try_from(index).ok();
                last_uri = str_of(d, "uri").unwrap_or_default();
            }
            "SegmentPaid" => {
                if let Some(r) = rows.get_mut(index) {
                    r.state = segment_stats::segment_state_name(St::Paid);
                    r.paid = true;
                    r.revenue = u64_of(d, "amount");
                    r.fee = u64_of(d, "fee");
                }
            }
            "SegmentExpired" => {
                if let Some(r) = rows.get_mut(index) {
                    *r = pending(index, r.price);
                }
                if d.get("reopened").and_then(Value::as_bool) != Some(true) {
                    ended = true;
                }
                drop_last(&mut rows, u64_of(d, "segments_refunded"));
            }
            "JobEnded" => {
                ended = true;
                drop_last(&mut rows, u64_of(d, "segments_refunded"));
            }
            _ => {}
        }
    }
    Some(segment_stats::with_sums(
        key.to_string(),
        ended,
        last_index,
        last_uri,
        rows,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(name: &str, data: Value) -> Event {
        Event {
            id: 0,
            signature: String::new(),
            slot: 0,
            block_time: None,
            name: name.into(),
            data,
        }
    }

    fn post(prices: &[u64]) -> Value {
        let segs: Vec<Value> = prices
            .iter()
            .map(|p| json!({"price": p, "duration": 60}))
            .collect();
        json!({"args": {"args": {}, "segments": segs}})
    }

    const A: &str = "Prov1111111111111111111111111111111111111111";
    const B: &str = "Prov2222222222222222222222222222222222222222";

    /// The hand-off, as the history tells it: A's segment 1 expires and reopens, B runs
    /// it; the buyer ends the job with segment 3 unstarted. A must keep segment 0 and
    /// nothing of segment 1; B gets segment 1; segment 3 is gone, as from the account.
    #[test]
    fn a_missed_segment_goes_to_the_provider_that_ran_it_and_refunds_drop_out() {
        let root = |b: u8| hex::encode([b; 32]);
        let events = vec![
            ev(
                "SegmentStarted",
                json!({"index": 0, "provider": A, "deadline": 70, "timestamp": 10}),
            ),
            ev(
                "SegmentCommitted",
                json!({"index": 0, "state_root": root(1), "uri": "c0", "committed_at": 20, "gpu_ms": 10_000}),
            ),
            ev(
                "SegmentStarted",
                json!({"index": 1, "provider": A, "deadline": 80, "timestamp": 20}),
            ),
            ev(
                "SegmentPaid",
                json!({"index": 0, "amount": 975, "fee": 25, "closed": false}),
            ),
            ev(
                "SegmentExpired",
                json!({"index": 1, "reopened": true, "segments_refunded": 0, "closed": false}),
            ),
            ev(
                "SegmentStarted",
                json!({"index": 1, "provider": B, "deadline": 150, "timestamp": 90}),
            ),
            ev(
                "SegmentCommitted",
                json!({"index": 1, "state_root": root(2), "uri": "c1", "committed_at": 100, "gpu_ms": 20_000}),
            ),
            ev("JobEnded", json!({"segments_refunded": 2, "closed": false})),
            ev(
                "SegmentPaid",
                json!({"index": 1, "amount": 975, "fee": 25, "closed": true}),
            ),
        ];
        let extend = json!({"args": {"segments": [{"price": 1_000, "duration": 60}]}});
        let st = segments_from_history("J", &events, &[post(&[1_000, 1_000, 1_000])], &[extend])
            .expect("a segmented job");
        assert_eq!(st.segments.len(), 2, "{:?}", st.segments);
        let [s0, s1] = &st.segments[..] else {
            unreachable!()
        };
        assert_eq!(
            (s0.state, s0.provider.as_deref(), s0.revenue),
            ("paid", Some(A), 975)
        );
        assert_eq!(
            (s1.state, s1.provider.as_deref(), s1.revenue),
            ("paid", Some(B), 975)
        );
        assert_eq!(
            (s1.started_at, s1.gpu_ms, s1.state_root.clone()),
            (90, 20_000, Some(root(2)))
        );
        assert!(st.ended);
        assert_eq!(
            (st.gpu_ms, st.revenue, st.fees, st.segments_paid),
            (30_000, 1_950, 50, 2)
        );
        assert_eq!(
            (st.last_checkpoint_index, st.last_checkpoint_uri.as_str()),
            (Some(1), "c1")
        );

        // Its summary says how it closed.
        let posted = ev(
            "JobPosted",
            json!({"buyer": "b", "price": 4_000, "timestamp": 1, "deadline": 500}),
        );
        let all: Vec<Event> = std::iter::once(posted).chain(events).collect();
        let s = from_history("J", &all, &[], &[]).unwrap();
        assert_eq!(
            (s.state.as_str(), s.provider.as_deref()),
            ("finalized", Some(B))
        );
    }

    /// A segment missed past the job's deadline: it and the unstarted rest go back to
    /// the buyer, and the job closes refunded.
    #[test]
    fn an_expiry_past_the_deadline_refunds_the_rest_and_closes_the_job_refunded() {
        let events = vec![
            ev(
                "JobPosted",
                json!({"buyer": "b", "price": 2_000, "timestamp": 1, "deadline": 50}),
            ),
            ev(
                "SegmentStarted",
                json!({"index": 0, "provider": A, "deadline": 70, "timestamp": 10}),
            ),
            ev(
                "SegmentExpired",
                json!({"index": 0, "reopened": false, "segments_refunded": 2, "closed": true}),
            ),
        ];
        let st = segments_from_history("J", &events, &[post(&[1_000, 1_000])], &[]).unwrap();
        assert!(st.segments.is_empty(), "{:?}", st.segments);
        assert!(st.ended);
        assert_eq!(
            from_history("J", &events, &[], &[]).unwrap().state,
            "refunded"
        );
        // A job posted as a single job has no segments.
        assert_eq!(segments_from_history("J", &events, &[], &[]), None);
    }
}
