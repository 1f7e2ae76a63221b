//! `POST /api/jobs/prepare`: what a browser needs to post a GEMM job with its own wallet.
//! The inputs the page uploaded are hashed into the job's commitment, the spec is written
//! to the dashboard's blob store, and the `job_post` instruction (with the buyer's
//! stake-mint account created first if it lacks one) comes back as accounts, arguments
//! and instructions; the page rebuilds `job_post` from the IDL, compares it byte for byte
//! and has the wallet sign. No key ever reaches the server.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use gpu_market::state::JobRequirements;
use gpu_market::JobPostArgs;
use gpu_market_client::ix::MarketKeys;
use gpu_market_client::{accounts, ix, token};
use gpu_market_compute::spec::{JobSpec, NamedBlob, Workload, SPEC_VERSION};
use serde_json::{json, Value};

use crate::api::{pubkey, S};
use crate::error::{ApiError, ApiResult};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PrepareBody {
    workload: String,
    m: u32,
    n: u32,
    k: u32,
    a: String,
    b: String,
    price: u64,
    deadline_secs: i64,
    buyer: String,
    nonce: Option<u64>,
    /// gemm-f32 only: the relative tolerance Freivalds' test allows.
    rel_tolerance: Option<f32>,
}

fn ix_json(ix: &solana_sdk::instruction::Instruction) -> Value {
    use base64::Engine;
    json!({
        "program_id": ix.program_id.to_string(),
        "accounts": ix.accounts.iter().map(|a| json!({
            "pubkey": a.pubkey.to_string(), "is_signer": a.is_signer, "is_writable": a.is_writable,
        })).collect::<Vec<_>>(),
        "data": base64::engine::general_purpose::STANDARD.encode(&ix.data),
    })
}

pub async fn prepare(State(s): S, body: Bytes) -> ApiResult<Json<Value>> {
    let p: PrepareBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadBody(e.to_string()))?;
    let bad = |name: &'static str, value: String, expected: &'static str| ApiError::BadParam {
        name,
        value,
        expected,
    };
    let buyer = pubkey("buyer", &p.buyer)?;
    if p.m == 0 || p.n == 0 || p.k == 0 {
        return Err(bad(
            "m, n, k",
            format!("{}, {}, {}", p.m, p.n, p.k),
            "all positive",
        ));
    }
    if p.deadline_secs <= 0 {
        return Err(bad(
            "deadline_secs",
            p.deadline_secs.to_string(),
            "a positive number of seconds",
        ));
    }
    let workload = match p.workload.as_str() {
        "gemm-i8" => Workload::GemmI8 {
            m: p.m,
            n: p.n,
            k: p.k,
        },
        "gemm-f32" => Workload::GemmF32 {
            m: p.m,
            n: p.n,
            k: p.k,
            rel_tolerance: p.rel_tolerance.unwrap_or(1e-3),
        },
        other => return Err(bad("workload", other.to_string(), "gemm-i8 or gemm-f32")),
    };
    let blobs = s.blobs.clone().ok_or(ApiError::NoBlobStore)?;
    let mut inputs = Vec::new();
    let mut bytes = Vec::new();
    for (name, uri) in [("a", &p.a), ("b", &p.b)] {
        let sha = gpu_market_blobs::uri_sha256(uri).ok_or_else(|| {
            bad(
                if name == "a" { "a" } else { "b" },
                uri.clone(),
                "a blob URI ending in its SHA-256 (as POST /api/blobs returns)",
            )
        })?;
        let data = blobs
            .get(uri, &sha)
            .await
            .map_err(|source| ApiError::Blob {
                uri: uri.clone(),
                source,
            })?;
        inputs.push(NamedBlob {
            name: name.into(),
            blob: gpu_market_blobs::BlobRef {
                uri: uri.clone(),
                sha256: sha,
                len: data.len() as u64,
            },
        });
        bytes.push(data);
    }
    let spec = JobSpec {
        version: SPEC_VERSION,
        workload: workload.clone(),
        inputs,
    };
    spec.validate()
        .map_err(|e| ApiError::Prepare(e.to_string()))?;
    let roots = gpu_market_compute::commit::gemm_input_roots(&workload, &bytes[0], &bytes[1])
        .map_err(|e| ApiError::Prepare(format!("the inputs do not fit {}: {e}", p.workload)))?;
    let spec_bytes = spec
        .to_bytes()
        .map_err(|e| ApiError::Prepare(e.to_string()))?;
    let stored = blobs
        .put(&spec_bytes)
        .await
        .map_err(|source| ApiError::Blob {
            uri: blobs.describe(),
            source,
        })?;
    s.store
        .put_blob(&stored.sha256.to_string(), &stored.uri, stored.len)?;
    let market = accounts::fetch_market(&*s.chain, &s.market).await?;
    let keys = MarketKeys::new(s.market, &market);
    let now = s.chain.clock().await?.unix_timestamp;
    let nonce = p
        .nonce
        .unwrap_or_else(|| default_nonce(std::time::SystemTime::now()));
    let (m, n, k) = workload.gemm_dims().expect("a GEMM workload");
    let max_escrow = gpu_market::math::escrow_for(p.price, market.params.crank_bounty)
        .map_err(|e| ApiError::Prepare(format!("price {}: {e:?}", p.price)))?;
    let args = JobPostArgs {
        nonce,
        workload: workload.kind_code(),
        spec_hash: stored.sha256.0,
        spec_uri: stored.uri.clone(),
        requirements: JobRequirements {
            min_vram_mb: 0,
            min_compute_capability: 0,
            min_gpu_count: 0,
        },
        price: p.price,
        deadline: now.saturating_add(p.deadline_secs),
        gemm: Some(gpu_market::state::GemmCommitment {
            m,
            n,
            k,
            a_root: roots.a_root.0,
            b_root: roots.b_root.0,
        }),
        max_escrow,
    };
    let pay = token::ata(&buyer, &keys.payment_mint);
    let own_stake = token::create_ata_idempotent(&buyer, &buyer, &keys.stake_mint);
    let (post_ix, job) = ix::job_post(&keys, buyer, pay, args.clone());
    let names = s.idl.instruction_accounts("job_post").unwrap_or_default();
    let accounts_json: serde_json::Map<String, Value> = names
        .iter()
        .zip(&post_ix.accounts)
        .map(|(n, a)| (n.clone(), json!(a.pubkey.to_string())))
        .collect();
    Ok(Json(json!({
        "job": job.to_string(),
        "spec_uri": stored.uri,
        "spec_hash": stored.sha256.to_string(),
        "args": {
            "nonce": args.nonce,
            "workload": args.workload,
            "spec_hash": args.spec_hash.to_vec(),
            "spec_uri": args.spec_uri,
            "requirements": {"min_vram_mb": 0, "min_compute_capability": 0, "min_gpu_count": 0},
            "price": args.price,
            "deadline": args.deadline,
            "gemm": {"m": m, "n": n, "k": k, "a_root": roots.a_root.0.to_vec(), "b_root": roots.b_root.0.to_vec()},
            "max_escrow": args.max_escrow,
        },
        "accounts": accounts_json,
        "instructions": [ix_json(&own_stake), ix_json(&post_ix)],
    })))
}

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`,
/// 2^53 - 1): the answer's `nonce` is read by the page as a number.
pub const JS_MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The nonce a prepare without one gets: the wall clock in microseconds, unique
/// enough per buyer (two posts of one buyer in the same microsecond collide on the
/// job's address and the second fails to post, nothing worse), and below 2^53 until
/// the year 2255 so a browser reads it exactly; past that it wraps, still below.
pub fn default_nonce(now: std::time::SystemTime) -> u64 {
    let micros = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    (micros % (JS_MAX_SAFE_INTEGER as u128 + 1)) as u64
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;

    /// What a page does with the answer: JSON.parse turns the nonce into a JS number
    /// (an f64). The nonce it then derives the job's address from must be the one the
    /// instruction carries, or the page refuses the post (its PDA check fails).
    fn as_js_number(n: u64) -> u64 {
        let text = serde_json::json!({ "nonce": n }).to_string();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let js = v["nonce"].as_u64().unwrap() as f64;
        js as u64
    }

    #[test]
    fn a_default_nonce_survives_a_javascript_number_exactly() {
        for now in [
            SystemTime::now(),
            UNIX_EPOCH + Duration::from_secs(4_102_444_800), // 2100-01-01
            UNIX_EPOCH + Duration::from_micros(JS_MAX_SAFE_INTEGER), // the last exact one
            UNIX_EPOCH + Duration::from_micros(JS_MAX_SAFE_INTEGER + 1), // wraps to 0
            UNIX_EPOCH + Duration::from_micros(JS_MAX_SAFE_INTEGER + 2),
        ] {
            let n = default_nonce(now);
            assert!(n <= JS_MAX_SAFE_INTEGER, "{n} is past 2^53 - 1");
            assert_eq!(as_js_number(n), n, "nonce {n} changes as a JS number");
        }
        // The nanosecond clock this replaces did not: today's value rounds.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert_ne!(as_js_number(nanos | 1), nanos | 1);
    }

    #[test]
    fn default_nonces_a_microsecond_apart_differ() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_ne!(
            default_nonce(t),
            default_nonce(t + Duration::from_micros(1))
        );
    }
}
