//! The API's one error type and its single mapping to HTTP: status, machine code, message.
//! Internal details (database, file system, engines) are logged here and never sent to clients.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callsight_workers::WorkersError;
use serde::Serialize;
use utoipa::ToSchema;

/// Everything a request can fail with. Each variant is one row of the `into_response` table.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed Authorization header: expected `Bearer <api key>`")]
    MissingCredentials,
    #[error("unknown or revoked api key")]
    InvalidCredentials,
    #[error("this api key's role ({role}) may not {action}")]
    Forbidden { role: String, action: &'static str },
    /// Also the answer for another tenant's resources, so their existence does not leak.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no route for this method and path")]
    NoRoute,
    /// `/metrics` on a server without `server.metrics_token`.
    #[error("metrics are disabled on this server: the operator sets server.metrics_token and scrapes with that bearer token")]
    MetricsDisabled,
    /// `/metrics` without the operator's metrics token (tenant API keys never read metrics).
    #[error("metrics need the operator's metrics token: `Authorization: Bearer <server.metrics_token>`")]
    MetricsTokenRequired,
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Well-formed but unacceptable input: bad audio, malformed script, unknown rule id, ...
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Conflict(String),
    /// The resource exists but has nothing to show yet (a report before analysis).
    #[error("{0}")]
    NotReady(String),
    /// A compliance script that does not parse or validate, with the line at fault.
    #[error("script line {line}: {reason}")]
    InvalidScript { line: usize, reason: String },
    #[error("requested range not satisfiable (file is {file_len} bytes)")]
    RangeNotSatisfiable { file_len: u64 },
    #[error("rate limit exceeded for this api key; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A tenant's quota (audio hours uploaded per hour) is used up.
    #[error("{message}")]
    QuotaExceeded { message: String, retry_after_secs: u64 },
    #[error("the analysis queue is full ({queued} jobs waiting); retry in {retry_after_secs} s")]
    QueueFull { queued: i64, retry_after_secs: u64 },
    #[error("database unavailable")]
    Unavailable { retry_after_secs: u64 },
    #[error("voiceprint index unavailable")]
    IndexUnavailable { retry_after_secs: u64 },
    /// Logged with its detail; the client sees only "internal error".
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON error envelope: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `unauthorized`, `not_found`, `invalid_audio`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// For `invalid_script`: the 1-based line of the script at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl ApiError {
    /// Status, code and whether a `Retry-After` applies. The one table of the mapping.
    fn parts(&self) -> (StatusCode, &'static str, Option<u64>) {
        match self {
            ApiError::MissingCredentials => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, "no_route", None),
            ApiError::MetricsDisabled => (StatusCode::NOT_FOUND, "metrics_disabled", None),
            ApiError::MetricsTokenRequired => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", None),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            ApiError::NotReady(_) => (StatusCode::NOT_FOUND, "not_ready", None),
            ApiError::InvalidScript { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_script", None),
            ApiError::RangeNotSatisfiable { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", None),
            ApiError::RateLimited { retry_after_secs } => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(*retry_after_secs))
            }
            ApiError::QuotaExceeded { retry_after_secs, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", Some(*retry_after_secs))
            }
            ApiError::QueueFull { retry_after_secs, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "queue_full", Some(*retry_after_secs))
            }
            ApiError::Unavailable { retry_after_secs } | ApiError::IndexUnavailable { retry_after_secs } => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(*retry_after_secs))
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, retry_after_secs) = self.parts();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error answering a request");
                "internal error".to_string()
            }
            ApiError::Unavailable { .. } => {
                tracing::warn!("database unavailable answering a request");
                self.to_string()
            }
            other => other.to_string(),
        };
        let line = match &self {
            ApiError::InvalidScript { line, .. } => Some(*line),
            _ => None,
        };
        let body = ErrorBody { error: ErrorDetail { code: code.to_string(), message, line } };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if let ApiError::RangeNotSatisfiable { file_len } = self
            && let Ok(value) = HeaderValue::from_str(&format!("bytes */{file_len}"))
        {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        if matches!(status, StatusCode::UNAUTHORIZED) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<WorkersError> for ApiError {
    fn from(error: WorkersError) -> Self {
        match error {
            WorkersError::NotFound { what } => ApiError::NotFound(what),
            WorkersError::QueueFull { queued, retry_after_secs, .. } => ApiError::QueueFull { queued, retry_after_secs },
            WorkersError::DuplicateCall { external_call_id, existing_call_id } => ApiError::Conflict(format!(
                "a call with external_call_id {external_call_id:?} already exists: {existing_call_id}"
            )),
            WorkersError::Invalid { field, reason } => ApiError::Unprocessable(format!("invalid {field}: {reason}")),
            WorkersError::Conflict { what } => {
                ApiError::Conflict(format!("conflicting concurrent write to {what}, retry"))
            }
            WorkersError::Database(sqlx_error) => {
                let pool_down = matches!(
                    sqlx_error,
                    sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
                );
                if pool_down {
                    tracing::warn!(error = %sqlx_error, "database unreachable");
                    ApiError::Unavailable { retry_after_secs: 5 }
                } else {
                    ApiError::Internal(sqlx_error.to_string())
                }
            }
            other @ (WorkersError::Migrate(_)
            | WorkersError::UnsupportedUrl(_)
            | WorkersError::DataDir { .. }
            | WorkersError::LeaseLost { .. }
            | WorkersError::Corrupt { .. }) => ApiError::Internal(other.to_string()),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
