//! JSON views of the program's accounts (jobs, providers, market parameters), with
//! pubkeys in base58, hashes in hex and states and workloads by name: what `gpumkt`
//! prints with `--output json` and what the dashboard's API returns as `account`, so
//! both show the same fields under the same names.

use gpu_market::state::{Job, MarketParams, Provider};
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
