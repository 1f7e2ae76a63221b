//! JSON views of the program's accounts (jobs, providers, market parameters, a
//! segmented job's segments), with pubkeys in base58, hashes in hex and states and
//! workloads by name: what `gpumkt` prints with `--output json` and what the dashboard's
//! API returns as `account`, so both show the same fields under the same names.

use gpu_market::state::{Job, MarketParams, Provider, Segment, SegmentState, Segments};
use gpu_market_compute::Hash32;
use serde_json::{json, Value};

use crate::Pubkey;

pub fn params_json(p: &MarketParams) -> Value {
    json!({
        "fee_bps": p.fee_bps,
        "min_stake": p.min_stake,
        "bond_bps": p.bond_bps,
        "bond_min": p.bond_min,
        "claim_timeout": p.claim_timeout,
        "challenge_window": p.challenge_window,
        "dispute_timeout": p.dispute_timeout,
        "unstake_cooldown": p.unstake_cooldown,
        "challenger_bond": p.challenger_bond,
        "slash_buyer_bps": p.slash_buyer_bps,
        "slash_reporter_bps": p.slash_reporter_bps,
        "crank_bounty": p.crank_bounty,
        "score_fee_scale": p.score_fee_scale,
    })
}

pub fn state_name(s: gpu_market::state::JobState) -> &'static str {
    use gpu_market::state::JobState::*;
    match s {
        Open => "open",
        Claimed => "claimed",
        Submitted => "submitted",
        Disputed => "disputed",
        Finalized => "finalized",
        Cancelled => "cancelled",
        Refunded => "refunded",
        Slashed => "slashed",
        Segmented => "segmented",
    }
}

pub fn workload_name(code: u8) -> &'static str {
    gpu_market_compute::spec::WorkloadKind::from_u8(code)
        .map(|k| k.name())
        .unwrap_or("unknown")
}

pub fn job_json(key: &Pubkey, j: &Job) -> Value {
    json!({
        "job": key.to_string(),
        "market": j.market.to_string(),
        "buyer": j.buyer.to_string(),
        "nonce": j.nonce,
        "state": state_name(j.state),
        "workload": workload_name(j.workload),
        "price": j.price,
        "escrow": j.escrow,
        "provider": (j.provider != Pubkey::default()).then(|| j.provider.to_string()),
        "bond": j.bond,
        "attempts": j.attempts,
        "posted_at": j.posted_at,
        "deadline": j.deadline,
        "claimed_at": j.claimed_at,
        "submit_deadline": j.submit_deadline,
        "submitted_at": j.submitted_at,
        "challenge_deadline": j.challenge_deadline,
        "spec_uri": j.spec_uri,
        "spec_hash": Hash32(j.spec_hash),
        "result_uri": (!j.result_uri.is_empty()).then(|| j.result_uri.clone()),
        "result_root": (j.result_root != [0; 32]).then_some(Hash32(j.result_root)),
        "gpu_ms": j.gpu_ms,
        "requirements": {
            "min_vram_mb": j.requirements.min_vram_mb,
            "min_compute_capability": j.requirements.min_compute_capability,
            "min_gpu_count": j.requirements.min_gpu_count,
        },
    })
}

pub fn provider_json(key: &Pubkey, p: &Provider, now: i64) -> Value {
    json!({
        "provider": key.to_string(),
        "market": p.market.to_string(),
        "owner": p.owner.to_string(),
        "worker": p.worker.to_string(),
        "payout_account": p.payout_account.to_string(),
        "stake": p.stake,
        "locked": p.locked,
        "pending_unstake": p.pending_unstake,
        "referee_stake": p.referee_stake,
        "free_stake": p.free_stake(),
        "unstake_release_at": p.unstake_release_at,
        "gpu": {
            "model": p.gpu.model_name(),
            "vram_mb": p.gpu.vram_mb,
            "count": p.gpu.count,
            "compute_capability": p.gpu.compute_capability,
            "benchmark_gflops": p.gpu.benchmark_gflops,
        },
        "price_floor": p.price_floor,
        "max_concurrent": p.max_concurrent,
        "active_jobs": p.active_jobs,
        "registered_at": p.registered_at,
        "last_heartbeat": p.last_heartbeat,
        "seconds_since_heartbeat": now - p.last_heartbeat,
        "reputation": {
            "completed": p.reputation.completed,
            "expired": p.reputation.expired,
            "disputes_lost": p.reputation.disputes_lost,
            "gpu_ms": p.reputation.gpu_ms,
            "earnings": p.reputation.earnings,
            "fees_paid": p.reputation.fees_paid,
            "slashed": p.reputation.slashed,
            "score": p.reputation.score,
        },
        "utilization": crate::audit::utilization(p, now),
    })
}

pub fn segment_state_name(s: SegmentState) -> &'static str {
    match s {
        SegmentState::Pending => "pending",
        SegmentState::Running => "running",
        SegmentState::Committed => "committed",
        SegmentState::Paid => "paid",
        SegmentState::Disputed => "disputed",
    }
}

/// How far a segmented job is: segments delivered (committed or paid: a checkpoint is
/// on chain), paid, running and pending, out of `count`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SegmentTally {
    pub count: u8,
    pub done: u8,
    pub paid: u8,
    pub running: u8,
    pub pending: u8,
}

impl SegmentTally {
    pub fn of(s: &Segments) -> SegmentTally {
        let mut t = SegmentTally {
            count: s.count,
            ..Default::default()
        };
        for seg in &s.segments {
            let n = match seg.state {
                SegmentState::Pending => &mut t.pending,
                SegmentState::Running => &mut t.running,
                SegmentState::Paid => {
                    t.done = t.done.saturating_add(1);
                    &mut t.paid
                }
                SegmentState::Committed | SegmentState::Disputed => &mut t.done,
            };
            *n = n.saturating_add(1);
        }
        t
    }
}

/// One segment. `paid` is what its provider received (price minus the job's fee, by
/// `math::payout_for`, the rule `segment_finalize` pays by) once it is paid.
/// `checkpoint_uri` is known on chain for the job's last checkpoint only
/// (`Segments::last_checkpoint_uri`); an earlier segment's is in its `SegmentCommitted`
/// event, so it is `null` here.
pub fn segment_json(s: &Segments, index: u8, seg: &Segment, job: &Job) -> Value {
    let started = seg.state != SegmentState::Pending;
    let committed = matches!(
        seg.state,
        SegmentState::Committed | SegmentState::Paid | SegmentState::Disputed
    );
    let paid = (seg.state == SegmentState::Paid)
        .then(|| gpu_market::math::payout_for(seg.price, job.terms.fee_bps).ok())
        .flatten();
    json!({
        "index": index,
        "state": segment_state_name(seg.state),
        "price": seg.price,
        "duration": seg.duration,
        "provider": started.then(|| seg.provider.to_string()),
        "started_at": started.then_some(seg.started_at),
        "deadline": started.then_some(seg.deadline),
        "committed_at": committed.then_some(seg.committed_at),
        "challenge_deadline": committed.then_some(seg.challenge_deadline),
        "state_root": committed.then_some(Hash32(seg.state_root)),
        "checkpoint_uri": (s.last_checkpoint_index == Some(index))
            .then(|| s.last_checkpoint_uri.clone()),
        "bond": started.then_some(seg.bond),
        "gpu_ms": committed.then(|| seg.gpu_ms()),
        "paid": paid,
    })
}

/// A segmented job's `Segments` with its tally and current provider (the running
/// segment's, `null` between segments), each segment by [`segment_json`].
pub fn segments_json(s: &Segments, job: &Job) -> Value {
    let tally = SegmentTally::of(s);
    let current = s.running().map(|(_, seg)| seg.provider.to_string());
    json!({
        "count": s.count,
        "done": tally.done,
        "paid": tally.paid,
        "running": tally.running,
        "pending": tally.pending,
        "next": s.next,
        "ended": s.ended,
        "current_provider": current,
        "last_checkpoint_index": s.last_checkpoint_index,
        "last_checkpoint_uri": (!s.last_checkpoint_uri.is_empty())
            .then(|| s.last_checkpoint_uri.clone()),
        "segments": s
            .segments
            .iter()
            .enumerate()
            .map(|(i, seg)| segment_json(s, i as u8, seg, job))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market::state::SegmentTerms;

    fn posted(n: usize) -> (Job, Segments) {
        let terms: Vec<SegmentTerms> = (0..n)
            .map(|_| SegmentTerms {
                price: 1_000,
                duration: 100,
            })
            .collect();
        Segments::fixture(&terms)
    }

    #[test]
    fn segments_show_their_tally_provider_root_and_payout() {
        let (mut job, mut s) = posted(3);
        let p = Pubkey::new_unique();
        s.start(&mut job, p, 50, 1, 1_000, 0).unwrap();
        s.commit(&mut job, 0, &p, [7; 32], "file:///c/0.ckpt".into(), 10)
            .unwrap();
        s.start(&mut job, p, 50, 1, 1_000, 10).unwrap();
        let due = s.segments[0].challenge_deadline + 1;
        s.finalize(&mut job, 0, due).unwrap();
        let v = segments_json(&s, &job);
        assert_eq!(
            (
                &v["count"],
                &v["done"],
                &v["paid"],
                &v["running"],
                &v["pending"]
            ),
            (&json!(3), &json!(1), &json!(1), &json!(1), &json!(1))
        );
        assert_eq!(v["current_provider"], p.to_string());
        let seg0 = &v["segments"][0];
        assert_eq!(seg0["state"], "paid");
        assert_eq!(seg0["state_root"], hex::encode([7; 32]));
        assert_eq!(seg0["checkpoint_uri"], "file:///c/0.ckpt");
        // The fixture's fee is what `segment_finalize` keeps back.
        let fee = gpu_market::math::fee_for(1_000, job.terms.fee_bps).unwrap();
        assert_eq!(seg0["paid"], 1_000 - fee);
        let seg1 = &v["segments"][1];
        assert_eq!(
            (
                seg1["state"].as_str(),
                seg1["paid"].is_null(),
                seg1["state_root"].is_null()
            ),
            (Some("running"), true, true)
        );
        assert!(v["segments"][2]["provider"].is_null());
        assert_eq!(
            SegmentTally::of(&s),
            SegmentTally {
                count: 3,
                done: 1,
                paid: 1,
                running: 1,
                pending: 1
            }
        );
    }
}
