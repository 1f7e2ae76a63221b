//! The API's errors: each a named variant carrying the offending value, answered as
//! `{"error": "<name>", "message": "<what was wrong>"}` with the status API.md gives
//! it (400 malformed parameter, 404 unknown job, provider, blob or route, 413 too
//! large, 502 the RPC node or a blob store unreachable, 500 otherwise).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gpu_market_client::auditor::AuditorError;
use gpu_market_client::error::ClientError;
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("parameter {name}: {value:?} is not {expected}")]
    BadParam {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("the request body is not valid: {0}")]
    BadBody(String),
    #[error("no job {0} in this market's accounts or history")]
    UnknownJob(String),
    #[error("no provider {0} in this market")]
    UnknownProvider(String),
    #[error("no blob {0} known to this dashboard")]
    UnknownBlob(String),
    #[error("no API route {0}")]
    UnknownRoute(String),
    #[error("job {0} has no submitted result")]
    NoResult(String),
    #[error("the body is over the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("this dashboard has no blob store (pass --blob-store)")]
    NoBlobStore,
    #[error(
        "the history covers {points} buckets of {bucket} s, more than {max}: use a larger bucket"
    )]
    TooManyPoints { bucket: i64, points: i64, max: i64 },
    #[error("the chain: {0}")]
    Chain(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("blob {uri}: {source}")]
    Blob {
        uri: String,
        #[source]
        source: gpu_market_blobs::BlobError,
    },
    #[error("the result at {uri} is not job {job}'s committed output (its Merkle root differs)")]
    ResultMismatch { job: String, uri: String },
    #[error(transparent)]
    Verify(#[from] AuditorError),
    #[error("preparing the job: {0}")]
    Prepare(String),
}

impl ApiError {
    pub fn name(&self) -> &'static str {
        match self {
            ApiError::BadParam { .. } => "bad_param",
            ApiError::BadBody(_) => "bad_body",
            ApiError::UnknownJob(_) => "unknown_job",
            ApiError::UnknownProvider(_) => "unknown_provider",
            ApiError::UnknownBlob(_) => "unknown_blob",
            ApiError::UnknownRoute(_) => "unknown_route",
            ApiError::NoResult(_) => "no_result",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::NoBlobStore => "no_blob_store",
            ApiError::TooManyPoints { .. } => "too_many_points",
            ApiError::Chain(ClientError::Unreachable { .. } | ClientError::Rpc { .. }) => {
                "rpc_unreachable"
            }
            ApiError::Chain(_) => "chain",
            ApiError::Store(_) => "history_database",
            ApiError::Blob { .. } => "blob_unavailable",
            ApiError::ResultMismatch { .. } => "result_mismatch",
            ApiError::Verify(_) => "verify_failed",
            ApiError::Prepare(_) => "prepare_failed",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParam { .. }
            | ApiError::BadBody(_)
            | ApiError::NoBlobStore
            | ApiError::TooManyPoints { .. }
            | ApiError::Prepare(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownJob(_)
            | ApiError::UnknownProvider(_)
            | ApiError::UnknownBlob(_)
            | ApiError::UnknownRoute(_)
            | ApiError::NoResult(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Chain(ClientError::Unreachable { .. } | ClientError::Rpc { .. })
            | ApiError::Blob { .. }
            | ApiError::ResultMismatch { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.name(), "message": self.to_string()});
        (self.status(), axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
