//! The HTTP service: a versioned JSON API under `/v1` (axum), API-key auth with roles and
//! tenants, uploads into the durable job queue, reports, scripts, reviews, voice biometrics,
//! aggregates, webhooks, health and Prometheus metrics, and the OpenAPI document.
//!
//! The binary builds an [`AppState`] (store, biometric engine, config, metrics) and serves
//! [`app`]; the worker side records timings through [`Metrics`] and emits events with
//! [`webhooks::emit_event`].

mod aggregates;
pub mod auth;
mod calls;
pub mod egress;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod health;
pub mod listener;
mod limits;
pub mod metrics;
pub mod openapi;
mod reviews;
mod scripts;
pub mod speaker_service;
mod speakers;
pub mod streams;
pub(crate) mod util;
pub mod webhooks;
pub mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use callsight_workers::Store;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use auth::{Action, Caller, Role, role_allows};
pub use error::ApiError;
pub use metrics::{Gauge, Metrics};
pub use speaker_service::{
    BiometricReason, EnrolInput, EnrolResponse, EnrolStatus, IdentifyCandidate, IdentifyResponse, SpeakerKind,
    SpeakerService, SpeakerServiceError, VerifyDecision, VerifyResponse, WatchlistHit,
};
pub use webhooks::{WebhookDeliveryConfig, WebhookEvent, emit_event, emit_event_once, run_webhook_deliveries, run_webhook_deliveries_with};

/// The API's own settings; the binary fills them from its configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted audio file (bytes); bigger uploads get 413.
    pub max_upload_bytes: u64,
    /// Uploads are refused with 503 + `Retry-After` while this many jobs wait. The store's
    /// `QueueConfig::max_queued_jobs` enforces the same limit inside the insert transaction;
    /// this earlier check avoids storing audio that would be refused anyway.
    pub max_queued_jobs: Option<i64>,
    /// `Retry-After` seconds suggested when the queue is full.
    pub queue_retry_after_secs: u64,
    /// Whole-request limit (408 after it).
    pub request_timeout: Duration,
    /// Requests per API key per minute (token bucket, burst = the same number); 0 = unlimited.
    /// Kept in the database, so it holds across every API process on it.
    pub rate_limit_per_minute: u32,
    /// Audio hours a tenant may upload per hour (token bucket, burst = the same amount); `None`
    /// = unlimited. Over it uploads get 429 + `Retry-After`. Shared across API processes.
    pub upload_quota_audio_hours_per_hour: Option<f64>,
    /// Live streams open at once across every API process on the database (each process also
    /// keeps to its own real-time capacity); `None` = no shared limit.
    pub max_live_streams_total: Option<usize>,
    /// Where uploaded audio is stored, one file per call.
    pub audio_dir: PathBuf,
    /// Longest recording accepted (seconds of audio).
    pub max_audio_duration_secs: f64,
    /// Uploads decoded at once to check them (each holds the whole recording as samples in
    /// memory); further uploads wait for a permit.
    pub max_concurrent_upload_checks: usize,
    /// Enrol/verify/identify requests computed at once (set it to the cores given to the
    /// embedder); the rest wait in arrival order. First come, first served keeps the IVR's
    /// latency at "queue position × one request" instead of every request slowing down together.
    pub max_concurrent_biometrics: usize,
    /// The operator's bearer token for `/metrics` (server-wide figures of every tenant, so no
    /// tenant's API key reads them). `None`: `/metrics` answers 404 `metrics_disabled`.
    pub metrics_token: Option<String>,
    /// Accept webhook URLs on loopback or private networks (see [`egress`]).
    pub allow_private_webhook_targets: bool,
}

/// Defaults shared with the service's configuration file (`server.*`): one value per setting.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 200 * 1024 * 1024;
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 600;

impl ApiConfig {
    /// Defaults for a given audio directory.
    pub fn with_audio_dir(audio_dir: impl Into<PathBuf>) -> Self {
        ApiConfig {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_queued_jobs: None,
            queue_retry_after_secs: 30,
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            upload_quota_audio_hours_per_hour: None,
            max_live_streams_total: None,
            audio_dir: audio_dir.into(),
            max_audio_duration_secs: callsight_pipeline::audio::DecodeLimits::default().max_duration_secs,
            max_concurrent_upload_checks: 2,
            max_concurrent_biometrics: 2,
            metrics_token: None,
            allow_private_webhook_targets: false,
        }
    }
}

/// What every handler gets. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub speakers: Arc<dyn SpeakerService>,
    pub config: Arc<ApiConfig>,
    pub metrics: Metrics,
    pub(crate) upload_checks: Arc<tokio::sync::Semaphore>,
    /// FIFO gate in front of the biometric engine (tokio's semaphore is fair).
    pub(crate) biometric_slots: Arc<tokio::sync::Semaphore>,
    /// Live calls over `GET /v1/streams`; `None` answers that route with 503.
    pub streams: Option<Arc<streams::LiveStreams>>,
}

impl AppState {
    pub fn new(store: Store, speakers: Arc<dyn SpeakerService>, config: ApiConfig, metrics: Metrics) -> Self {
        let upload_checks = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_upload_checks.max(1)));
        let biometric_slots = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_biometrics.max(1)));
        AppState {
            store,
            speakers,
            config: Arc::new(config),
            metrics,
            upload_checks,
            biometric_slots,
            streams: None,
        }
    }

    /// Serves live streams with `service` (see [`streams`]) and the default [`streams::StreamLimits`].
    pub fn with_streams(self, service: Arc<dyn streams::StreamService>) -> Self {
        self.with_limited_streams(service, streams::StreamLimits::default())
    }

    /// Serves live streams with `service`, each client held to `limits`.
    pub fn with_limited_streams(mut self, service: Arc<dyn streams::StreamService>, limits: streams::StreamLimits) -> Self {
        self.streams = Some(Arc::new(streams::LiveStreams::with_limits(service, limits)));
        self
    }
}

/// Multipart framing and the metadata field on top of the audio itself.
const MULTIPART_OVERHEAD_BYTES: u64 = 1024 * 1024;

/// The whole HTTP API as a router (serve it with [`listener::serve`], which adds the
/// header-read timeout and the per-peer connection cap; `axum::serve` works too, without them).
pub fn app(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.max_upload_bytes.saturating_add(MULTIPART_OVERHEAD_BYTES))
        .unwrap_or(usize::MAX);
    let v1 = Router::new()
        .route("/calls", post(calls::upload_call).get(calls::list_calls))
        .route("/calls/{id}", get(calls::get_call).delete(calls::delete_call))
        .route("/calls/{id}/report", get(calls::get_report))
        .route("/calls/{id}/transcript", get(calls::get_transcript))
        .route("/calls/{id}/audio", get(calls::get_audio))
        .route("/calls/{id}/reanalyze", post(calls::reanalyze_call))
        .route("/calls/{id}/reviews", post(reviews::add_review).get(reviews::list_reviews))
        .route("/calls/{id}/biometrics", get(speakers::call_biometrics))
        .route("/search", get(calls::search))
        .route("/scripts", post(scripts::create_script).get(scripts::list_scripts))
        .route("/scripts/{id}", get(scripts::get_script).put(scripts::update_script).delete(scripts::delete_script))
        .route("/scripts/{id}/rescore", post(scripts::rescore_script))
        .route("/speakers/identify", post(speakers::identify))
        .route("/speakers/{id}", axum::routing::delete(speakers::delete_speaker))
        .route("/speakers/{id}/enroll", post(speakers::enrol))
        .route("/speakers/{id}/verify", post(speakers::verify))
        .route("/watchlist/{id}", post(speakers::watchlist_add))
        .route("/audit", get(speakers::list_audit))
        .route("/aggregates/compliance", get(aggregates::compliance))
        .route("/aggregates/sentiment", get(aggregates::sentiment))
        .route("/aggregates/handling", get(aggregates::handling))
        .route("/webhooks", post(webhooks::create_webhook).get(webhooks::list_webhooks))
        .route("/webhooks/{id}", axum::routing::delete(webhooks::delete_webhook))
        .route("/streams", get(streams::open_stream));
    // Every route needs a caller except those merged after the auth layer: health, readiness,
    // the OpenAPI document, `/metrics` (its handler checks the operator's token) and the web
    // pages' shell and sign-in. Paths that match no route answer 401 without credentials (the
    // fallback is behind the auth layer too), so the API's routes are not listed to strangers.
    let public = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/v1/openapi.json", get(openapi::serve_openapi))
        .merge(crate::web::public_router());
    Router::new()
        .nest("/v1", v1)
        .merge(crate::web::protected_router())
        .fallback(util::no_route)
        .method_not_allowed_fallback(util::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .merge(public)
        // Layers run bottom-up on the way in: trace → metrics → timeout → body limit (→ auth).
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.config.request_timeout))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track_requests))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}
