//! The dashboard's JSON API (docs/design.md, "Dashboard"): requests
//! come in through axum's router, figures are computed by the SDK from chain state
//! (`audit::Snapshot` and `audit::stats`, the code behind `gpumkt audit stats`, so the
//! numbers are equal by construction), history and series are read from the [`Store`],
//! and result checks run the auditor's `verify_committed` (the code behind `gpumkt audit
//! verify`). Parameters are parsed here, each refused with a named 400 error.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use gpu_market::state::{Job, JobState};
use gpu_market_blobs::BlobStore;
use gpu_market_client::audit::segment_stats::{self, SegmentedJobStats};
use gpu_market_client::auditor::{self, AuditorError, Verdict};
use gpu_market_client::buyer::BuyerError;
use gpu_market_client::chain::SharedChain;
use gpu_market_client::send::Sender;
use gpu_market_client::{accounts, audit, segments, views, Pubkey};
use gpu_market_compute::spec::JobSpec;
use gpu_market_compute::Hash32;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::follow::Follower;
use crate::idl::Idl;
use crate::jobs::{self, JobSummary};
use crate::store::{Store, MAX_POINTS};

/// Everything a request needs.
pub struct AppState {
    pub chain: SharedChain,
    pub sender: Sender,
    pub market: Pubkey,
    pub store: Arc<Store>,
    pub follower: Arc<Follower>,
    pub idl: Arc<Idl>,
    pub blobs: Option<Arc<dyn BlobStore>>,
    pub blob_location: Option<String>,
    pub rpc_url: String,
    pub ws_url: String,
    pub cluster: String,
    pub max_upload_bytes: usize,
}

pub(crate) type S = State<Arc<AppState>>;
type Params = Query<HashMap<String, String>>;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/config", get(config))
        .route("/api/idl", get(idl))
        .route("/api/stats", get(stats))
        .route("/api/providers", get(providers))
        .route("/api/providers/{pubkey}", get(provider))
        .route("/api/jobs", get(jobs_list))
        .route("/api/jobs/prepare", post(crate::prepare::prepare))
        .route("/api/jobs/{pubkey}", get(job))
        .route("/api/jobs/{pubkey}/verify", post(verify))
        .route("/api/jobs/{pubkey}/result", get(result))
        .route("/api/series/utilization", get(series_utilization))
        .route("/api/series/earnings", get(series_earnings))
        .route("/api/series/jobs", get(series_jobs))
        .route("/api/events", get(events))
        .route("/api/history", get(history))
        .route("/api/blobs", post(blob_put))
        .route("/api/blobs/{sha256}", get(blob_get))
        .route("/api", any(no_route))
        .route("/api/{*rest}", any(no_route))
        .with_state(state)
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::UnknownRoute(uri.path().to_string())
}

pub(crate) fn pubkey(name: &'static str, value: &str) -> ApiResult<Pubkey> {
    value.parse().map_err(|_| ApiError::BadParam {
        name,
        value: value.to_string(),
        expected: "a base58 public key",
    })
}

/// Parameter `name` as an integer in `lo..=hi`, or `default` when absent.
fn int_param(
    q: &HashMap<String, String>,
    name: &'static str,
    default: i64,
    lo: i64,
    hi: i64,
    expected: &'static str,
) -> ApiResult<i64> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|x| (lo..=hi).contains(x))
            .ok_or_else(|| ApiError::BadParam {
                name,
                value: v.clone(),
                expected,
            }),
    }
}

async fn snapshot(s: &AppState) -> ApiResult<audit::Snapshot> {
    Ok(audit::Snapshot::load(&*s.chain, &s.market).await?)
}

async fn config(State(s): S) -> ApiResult<Json<Value>> {
    let m = accounts::fetch_market(&*s.chain, &s.market).await?;
    let mints = s
        .chain
        .get_multiple_accounts(&[m.payment_mint, m.stake_mint])
        .await?;
    // An SPL mint's decimals are its byte 44 (after the authority option and supply).
    let decimals = |i: usize| mints[i].as_ref().and_then(|a| a.data.get(44).copied());
    Ok(Json(json!({
        "rpc_url": s.rpc_url,
        "ws_url": s.ws_url,
        "program_id": gpu_market::ID.to_string(),
        "market": s.market.to_string(),
        "payment_mint": m.payment_mint.to_string(),
        "stake_mint": m.stake_mint.to_string(),
        "payment_decimals": decimals(0),
        "stake_decimals": decimals(1),
        "cluster": s.cluster,
        "blob_store": s.blob_location,
        "idl_url": "/api/idl",
    })))
}

async fn idl(State(s): S) -> Json<Value> {
    Json(s.idl.raw().clone())
}

async fn stats(State(s): S) -> ApiResult<Json<audit::MarketStats>> {
    Ok(Json(audit::stats(&snapshot(&s).await?)))
}

async fn providers(State(s): S) -> ApiResult<Json<Value>> {
    let st = audit::stats(&snapshot(&s).await?);
    Ok(Json(
        json!({"unix_timestamp": st.unix_timestamp, "providers": st.providers}),
    ))
}

async fn provider(State(s): S, Path(pk): Path<String>) -> ApiResult<Json<Value>> {
    let key = pubkey("pubkey", &pk)?;
    let snap = snapshot(&s).await?;
    let Some((_, account)) = snap.providers.iter().find(|(k, _)| *k == key) else {
        return Err(ApiError::UnknownProvider(pk));
    };
    let st = audit::stats(&snap);
    let stats = st
        .providers
        .iter()
        .find(|p| p.provider == pk)
        .cloned()
        .ok_or_else(|| ApiError::UnknownProvider(pk.clone()))?;
    let jobs: Vec<JobSummary> = all_jobs(&s, &snap)?
        .into_iter()
        .filter(|j| j.provider.as_deref() == Some(pk.as_str()))
        .collect();
    Ok(Json(json!({
        "provider": stats,
        "account": views::provider_json(&key, account, snap.unix_timestamp),
        "jobs": jobs,
        "events": s.store.events_of_provider(&pk, 500)?,
    })))
}

/// Live jobs from the snapshot, then settled ones from the history, newest first.
fn all_jobs(s: &AppState, snap: &audit::Snapshot) -> ApiResult<Vec<JobSummary>> {
    let mut out: Vec<JobSummary> = snap
        .jobs
        .iter()
        .map(|(k, j)| jobs::from_account(k, j))
        .collect();
    let live: std::collections::HashSet<String> = out.iter().map(|j| j.job.clone()).collect();
    for key in s.store.posted_jobs(&s.market.to_string())? {
        if live.contains(&key) {
            continue;
        }
        if let Some(j) = history_summary(s, &key)? {
            out.push(j);
        }
    }
    out.sort_by(|a, b| b.posted_at.cmp(&a.posted_at).then(a.job.cmp(&b.job)));
    Ok(out)
}

fn history_summary(s: &AppState, key: &str) -> ApiResult<Option<JobSummary>> {
    let events = s.store.events_of_job(key)?;
    let posts = s.store.instructions_of_job(key, "job_post")?;
    let submits = s.store.instructions_of_job(key, "job_submit")?;
    Ok(jobs::from_history(key, &events, &posts, &submits))
}

async fn jobs_list(State(s): S, Query(q): Params) -> ApiResult<Json<Value>> {
    let state = match q.get("state") {
        Some(v) if !jobs::STATES.contains(&v.as_str()) => return Err(ApiError::BadParam {
            name: "state",
            value: v.clone(),
            expected:
                "one of open, claimed, submitted, disputed, finalized, cancelled, refunded, slashed",
        }),
        v => v.cloned(),
    };
    let provider = q
        .get("provider")
        .map(|v| pubkey("provider", v))
        .transpose()?;
    let buyer = q.get("buyer").map(|v| pubkey("buyer", v)).transpose()?;
    let limit = int_param(&q, "limit", 100, 1, 1_000, "an integer from 1 to 1000")? as usize;
    let snap = snapshot(&s).await?;
    let list: Vec<JobSummary> = all_jobs(&s, &snap)?
        .into_iter()
        .filter(|j| state.as_deref().is_none_or(|st| j.state == st))
        .filter(|j| provider.is_none_or(|p| j.provider.as_deref() == Some(p.to_string().as_str())))
        .filter(|j| buyer.is_none_or(|b| j.buyer == b.to_string()))
        .take(limit)
        .collect();
    Ok(Json(json!({ "jobs": list })))
}

/// Job `key` from its account (while it lives), else from history.
async fn find_job(s: &AppState, pk: &str) -> ApiResult<(Pubkey, JobSummary, Option<Job>)> {
    let key = pubkey("pubkey", pk)?;
    match accounts::fetch_job_opt(&*s.chain, &key).await? {
        Some(j) if j.market == s.market => Ok((key, jobs::from_account(&key, &j), Some(j))),
        Some(_) => Err(ApiError::UnknownJob(pk.to_string())),
        None => match history_summary(s, pk)? {
            Some(j) => Ok((key, j, None)),
            None => Err(ApiError::UnknownJob(pk.to_string())),
        },
    }
}

/// A live segmented job's segments as `audit stats` counts them (the same function),
/// a settled one's rebuilt from its history into the same entry; `None` for any other
/// job.
async fn segments_of(
    s: &AppState,
    key: &Pubkey,
    job: Option<&Job>,
) -> ApiResult<Option<SegmentedJobStats>> {
    let Some(job) = job else {
        // Settled and closed: rebuilt from its history, if it was segmented.
        let k = key.to_string();
        return Ok(jobs::segments_from_history(
            &k,
            &s.store.events_of_job(&k)?,
            &s.store.instructions_of_job(&k, "job_post_segmented")?,
            &s.store.instructions_of_job(&k, "job_extend")?,
        ));
    };
    if job.state != JobState::Segmented {
        return Ok(None);
    }
    Ok(segments::fetch_segments(&*s.chain, key)
        .await?
        .map(|segs| segment_stats::segmented_job_stats(key, job, &segs)))
}

fn verification_json(s: &AppState, job: &str) -> ApiResult<Value> {
    Ok(match s.store.verification(job)? {
        Some((status, detail)) => json!({"status": status, "detail": detail}),
        None => {
            json!({"status": "unchecked", "detail": "not checked yet: POST /api/jobs/<job>/verify"})
        }
    })
}

async fn job(State(s): S, Path(pk): Path<String>) -> ApiResult<Json<Value>> {
    let (key, summary, live) = find_job(&s, &pk).await?;
    let segments = segments_of(&s, &key, live.as_ref()).await?;
    let account = live.as_ref().map(|j| views::job_json(&key, j));
    let timeline: Vec<Value> = s
        .store
        .events_of_job(&pk)?
        .into_iter()
        .map(|e| {
            json!({"id": e.id, "signature": e.signature, "slot": e.slot,
                   "block_time": e.block_time, "event": e.name, "data": e.data})
        })
        .collect();
    Ok(Json(json!({
        "job": summary,
        "account": account,
        "timeline": timeline,
        "verification": verification_json(&s, &pk)?,
        "segments": segments,
    })))
}

/// The auditor's verdict as the API's verification object.
fn verdict_json(v: &Verdict) -> (&'static str, String) {
    match v {
        Verdict::Correct => (
            "correct",
            "the output is the committed one and passes Freivalds' test".into(),
        ),
        Verdict::Wrong {
            row,
            col,
            claimed,
            exact,
        } => (
            "wrong",
            format!(
                "C[{row}][{col}] is wrong by the chain's ruling: claimed {claimed}{}",
                exact.as_ref().map(|e| format!(", exact {e}")).unwrap_or_default()
            ),
        ),
        Verdict::OutputUnavailable { reason } => ("unavailable", reason.clone()),
        Verdict::Unprovable { row } => (
            "wrong",
            format!("row {row} fails Freivalds' test, but no element of it is beyond the ruling's bound"),
        ),
    }
}

async fn verify(State(s): S, Path(pk): Path<String>) -> ApiResult<Json<Value>> {
    let (key, summary, _) = find_job(&s, &pk).await?;
    let (status, detail) = match jobs::committed(&summary) {
        None => (
            "unavailable",
            format!("job {pk} has no submitted result yet"),
        ),
        Some(c) => match auditor::verify_committed(&key, &c).await {
            Ok(v) => {
                let (st, d) = verdict_json(&v);
                (st, d)
            }
            Err(AuditorError::NotGemm { kind, .. }) => (
                "not-gemm",
                format!("job {pk} is a {kind} job: results are checked for GEMM workloads"),
            ),
            // The spec or an input cannot be had: nothing can be checked.
            Err(e @ AuditorError::Check(BuyerError::Fetch { .. })) => {
                ("unavailable", e.to_string())
            }
            Err(e) => return Err(e.into()),
        },
    };
    let now = s.chain.clock().await.map(|c| c.unix_timestamp).unwrap_or(0);
    s.store.set_verification(&pk, status, &detail, now)?;
    Ok(Json(json!({"status": status, "detail": detail})))
}

async fn result(State(s): S, Path(pk): Path<String>) -> ApiResult<Response> {
    let (key, summary, _) = find_job(&s, &pk).await?;
    let c = jobs::committed(&summary).ok_or_else(|| ApiError::NoResult(pk.clone()))?;
    let blob_err = |uri: &str| {
        let uri = uri.to_string();
        move |source| ApiError::Blob { uri, source }
    };
    let sha =
        gpu_market_blobs::uri_sha256(&c.result_uri).ok_or_else(|| ApiError::ResultMismatch {
            job: pk.clone(),
            uri: c.result_uri.clone(),
        })?;
    let output = gpu_market_blobs::fetch(&c.result_uri, &sha)
        .await
        .map_err(blob_err(&c.result_uri))?;
    let spec_bytes = gpu_market_blobs::fetch(&c.spec_uri, &Hash32(c.spec_hash))
        .await
        .map_err(blob_err(&c.spec_uri))?;
    let spec = JobSpec::from_bytes(&spec_bytes).map_err(|e| ApiError::Prepare(e.to_string()))?;
    let root = gpu_market_compute::commit::result_root(&spec.workload, &output).ok();
    if root.map(|r| r.0) != Some(c.result_root) {
        return Err(ApiError::ResultMismatch {
            job: key.to_string(),
            uri: c.result_uri,
        });
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{pk}.result.bin\""),
            ),
        ],
        output,
    )
        .into_response())
}

fn bucket(q: &HashMap<String, String>) -> ApiResult<i64> {
    int_param(
        q,
        "bucket",
        60,
        1,
        366 * 86_400,
        "a whole number of seconds from 1 to a year",
    )
}

/// The chain's clock, the end of every series.
async fn now(s: &AppState) -> ApiResult<i64> {
    Ok(s.chain.clock().await?.unix_timestamp)
}

fn check_points(len: usize, bucket: i64) -> ApiResult<()> {
    if len as i64 >= MAX_POINTS {
        return Err(ApiError::TooManyPoints {
            bucket,
            points: len as i64,
            max: MAX_POINTS,
        });
    }
    Ok(())
}

async fn series_utilization(State(s): S, Query(q): Params) -> ApiResult<Json<Value>> {
    let b = bucket(&q)?;
    let points = s
        .store
        .utilization(&s.market.to_string(), b, now(&s).await?)?;
    check_points(points.len(), b)?;
    Ok(Json(json!({"bucket": b, "points": points})))
}

async fn series_earnings(State(s): S) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"providers": s.store.earnings(&s.market.to_string())?}),
    ))
}

async fn series_jobs(State(s): S, Query(q): Params) -> ApiResult<Json<Value>> {
    let b = bucket(&q)?;
    let points = s.store.job_flow(&s.market.to_string(), b, now(&s).await?)?;
    check_points(points.len(), b)?;
    Ok(Json(json!({"bucket": b, "points": points})))
}

async fn events(State(s): S, Query(q): Params) -> ApiResult<Json<Value>> {
    let after = int_param(&q, "after", 0, 0, i64::MAX, "a non-negative event id")?;
    let limit = int_param(&q, "limit", 100, 1, 1_000, "an integer from 1 to 1000")?;
    let events = s
        .store
        .events_after(&s.market.to_string(), after, limit as u32)?;
    let last_id = events.last().map(|e| e.id).unwrap_or(after);
    Ok(Json(json!({"events": events, "last_id": last_id})))
}

async fn history(State(s): S) -> ApiResult<Json<Value>> {
    let st = s.store.sync_state()?;
    Ok(Json(json!({
        "backfilled_until_slot": st.backfilled_until_slot,
        "last_signature": st.last_signature,
        "events_stored": st.events_stored,
        "transactions_stored": st.transactions_stored,
        "following": s.follower.following(),
    })))
}

async fn blob_put(State(s): S, body: Body) -> ApiResult<Json<Value>> {
    let blobs = s.blobs.clone().ok_or(ApiError::NoBlobStore)?;
    let limit = s.max_upload_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TooLarge { limit })?;
    let r = blobs.put(&bytes).await.map_err(|source| ApiError::Blob {
        uri: blobs.describe(),
        source,
    })?;
    s.store.put_blob(&r.sha256.to_string(), &r.uri, r.len)?;
    Ok(Json(
        json!({"uri": r.uri, "sha256": r.sha256.to_string(), "len": r.len}),
    ))
}

async fn blob_get(State(s): S, Path(sha): Path<String>) -> ApiResult<Response> {
    let hash = Hash32::from_hex_any_case(&sha).map_err(|_| ApiError::BadParam {
        name: "sha256",
        value: sha.clone(),
        expected: "64 hex characters",
    })?;
    let key = hash.to_string();
    let uri = s
        .store
        .blob_uri(&key)?
        .ok_or_else(|| ApiError::UnknownBlob(key.clone()))?;
    let bytes = match &s.blobs {
        Some(b) => b.get(&uri, &hash).await,
        None => gpu_market_blobs::fetch(&uri, &hash).await,
    }
    .map_err(|source| ApiError::Blob { uri, source })?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// The page shown at `/` when the web app has not been built.
pub const NOT_BUILT: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>gpu-market dashboard</title></head><body>\
<h1>gpu-market dashboard</h1><p>The web app is not built: run <code>npm ci &amp;&amp; npm run build</code> in <code>app/web</code>, \
or pass <code>--web-dir</code>. The JSON API is served under <a href=\"/api/stats\">/api/</a>.</p></body></html>";

pub async fn not_built() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        NOT_BUILT,
    )
        .into_response()
}
