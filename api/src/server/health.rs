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
