//! Liveness, readiness and the Prometheus scrape endpoint.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::metrics::Gauge;
use super::wire::HealthStatus;

/// The process is up.
#[utoipa::path(
    get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "Up", body = HealthStatus))
)]
pub(crate) async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok".into() })
}

/// The database answers (the service can accept work).
#[utoipa::path(
    get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready", body = HealthStatus),
        (status = 503, description = "Database unreachable", body = HealthStatus),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.queue_depth().await {
        Ok(_) => Json(HealthStatus { status: "ready".into() }).into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(HealthStatus { status: "unavailable".into() })).into_response()
        }
    }
}

/// Prometheus metrics (text format 0.0.4): figures of the whole server (every tenant), so an
/// operator concern. Scrape with `Authorization: Bearer <server.metrics_token>`; tenant API keys
/// (admin included) are refused, and without a configured token the route answers 404.
#[utoipa::path(
    get, path = "/metrics", tag = "health", security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"),
        (status = 401, description = "Missing or wrong metrics token", body = ErrorBody),
        (status = 404, description = "Metrics disabled: no server.metrics_token configured", body = ErrorBody),
    )
)]
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let Some(expected) = state.config.metrics_token.as_deref() else {
        return Err(ApiError::MetricsDisabled);
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if !presented.is_some_and(|token| tokens_match(token, expected)) {
        return Err(ApiError::MetricsTokenRequired);
    }
    let mut gauges = Vec::new();
    let queue_depth = state.store.queue_depth().await?;
    gauges.push(Gauge {
        name: "callsight_queue_depth",
        help: "Jobs waiting to be claimed (all tenants).",
        labels: Vec::new(),
        value: queue_depth as f64,
    });
    let counts = state.store.job_counts().await?;
    for (job_state, n) in [("queued", counts.queued), ("running", counts.running), ("done", counts.done), ("dead", counts.dead)] {
        gauges.push(Gauge {
            name: "callsight_jobs",
            help: "Jobs by state (all tenants).",
            labels: vec![("state", job_state.to_string())],
            value: n as f64,
        });
    }
    let text = state.metrics.render(&gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

/// Compares two secrets in time independent of where they differ (and of their lengths): both
/// are hashed and the digests compared byte by byte without an early exit.
fn tokens_match(presented: &str, expected: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    presented.iter().zip(expected.iter()).fold(0u8, |difference, (a, b)| difference | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match("s3cret-token", "s3cret-token"));
        assert!(!tokens_match("s3cret-tokem", "s3cret-token"));
        assert!(!tokens_match("s3cret", "s3cret-token"));
        assert!(!tokens_match("", "s3cret-token"));
    }
}
