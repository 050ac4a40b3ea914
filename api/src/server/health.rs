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
    Json(HealthStatus { status: "ok".into(), reason: None })
}

/// The database and the voiceprint index answer (the service can accept work). Checked afresh on
/// every probe, so it recovers by itself when they come back.
#[utoipa::path(
    get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready", body = HealthStatus),
        (status = 503, description = "Database or voiceprint index unreachable; `reason` says which", body = HealthStatus),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match check_dependencies(&state).await {
        Ok(()) => Json(HealthStatus { status: "ready".into(), reason: None }).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(HealthStatus { status: "unavailable".into(), reason: Some(reason) }))
                .into_response()
        }
    }
}

/// How long a readiness probe waits for each dependency (probes typically time out after 1-5 s).
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The first dependency that does not answer, as the probe's `reason` (no internal detail: the
/// detail goes to the log).
async fn check_dependencies(state: &AppState) -> Result<(), String> {
    match tokio::time::timeout(READINESS_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the database does not answer");
            return Err("database unreachable".into());
        }
        Err(_) => return Err(format!("database did not answer within {} s", READINESS_TIMEOUT.as_secs())),
    }
    let speakers = state.speakers.clone();
    let index = tokio::task::spawn_blocking(move || speakers.check_ready());
    match tokio::time::timeout(READINESS_TIMEOUT, index).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => {
            tracing::warn!(%error, "readiness: the voiceprint index does not answer");
            Err("voiceprint index unreachable".into())
        }
        Ok(Err(join_error)) => Err(format!("voiceprint index check failed: {join_error}")),
        Err(_) => Err(format!("voiceprint index did not answer within {} s", READINESS_TIMEOUT.as_secs())),
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
