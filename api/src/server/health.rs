//! Liveness, readiness and the Prometheus scrape endpoint.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::{Action, Caller};
use super::error::{ApiError, ApiResult};
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

/// Prometheus metrics (text format 0.0.4). Needs an admin key unless configured public.
#[utoipa::path(
    get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<AppState>, request: axum::extract::Request) -> ApiResult<Response> {
    if !state.config.metrics_public {
        let caller = request.extensions().get::<Caller>().ok_or(ApiError::MissingCredentials)?;
        caller.require(Action::ReadMetrics)?;
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
