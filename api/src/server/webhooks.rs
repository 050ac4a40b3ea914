//! Webhooks: subscriptions (admin API), events queued durably in the store ([`emit_event`], also
//! for the worker side), and the sender loop ([`run_webhook_deliveries`]) that POSTs signed JSON
//! and retries with exponential backoff through the store's delivery queue.
//!
//! Each request carries `X-Callsight-Signature: sha256=<hex HMAC-SHA256 of the body>` keyed with
//! the webhook's secret, `X-Callsight-Timestamp` (Unix seconds of the send), `X-Callsight-Event`
//! and `X-Callsight-Delivery` (unique per delivery, for de-duplication by the receiver).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use callsight_workers::store::DeliveryState;
use callsight_workers::{Store, WorkersError};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::egress;
use super::auth::{Action, Caller};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::metrics::Metrics;
use super::util;
use super::wire::{NewWebhook, WebhookList, WebhookView};

/// The events a webhook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    CallAnalyzed,
    CallFlagged,
    VerificationDecided,
    WatchlistHit,
    /// A live alert on an open stream (`api::server::streams`).
    StreamAlert,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 5] = [
        WebhookEvent::CallAnalyzed,
        WebhookEvent::CallFlagged,
        WebhookEvent::VerificationDecided,
        WebhookEvent::WatchlistHit,
        WebhookEvent::StreamAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::CallAnalyzed => "call.analyzed",
            WebhookEvent::CallFlagged => "call.flagged",
            WebhookEvent::VerificationDecided => "verification.decided",
            WebhookEvent::WatchlistHit => "watchlist.hit",
            WebhookEvent::StreamAlert => "stream.alert",
        }
    }
}

/// Queues `event` with `data` for every subscribed webhook of `tenant`; returns how many
/// deliveries were queued. Stored in the database, so events survive a restart. The body sent is
/// `{"id", "event", "created_at", "data"}`.
pub async fn emit_event(
    store: &Store,
    tenant: &str,
    event: WebhookEvent,
    data: serde_json::Value,
) -> Result<usize, WorkersError> {
    let payload = serde_json::json!({
        "id": callsight_workers::new_id(),
        "event": event.as_str(),
        "created_at": util::rfc3339(callsight_workers::now_secs()),
        "data": data,
    });
    store.enqueue_webhook_event(tenant, event.as_str(), &payload).await
}

/// Like [`emit_event`], with the envelope id `event_id` fixed by the caller and queued at most
/// once: for events raised by a job, which runs again from the start when its worker dies.
pub async fn emit_event_once(
    store: &Store,
    tenant: &str,
    event: WebhookEvent,
    event_id: &str,
    data: serde_json::Value,
) -> Result<usize, WorkersError> {
    let payload = serde_json::json!({
        "id": event_id,
        "event": event.as_str(),
        "created_at": util::rfc3339(callsight_workers::now_secs()),
        "data": data,
    });
    store.enqueue_webhook_event_once(tenant, event.as_str(), event_id, &payload).await
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body).
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", util::hex(&mac.finalize().into_bytes()))
}

/// How the sender behaves.
#[derive(Debug, Clone)]
pub struct WebhookDeliveryConfig {
    /// Attempts before a delivery is dead.
    pub max_attempts: i64,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Deliveries claimed per round.
    pub batch_size: i64,
    /// Sleep when nothing is due.
    pub idle_poll: Duration,
    /// How long a claimed delivery is held before another sender may take it.
    pub lease_secs: i64,
    /// Deliver to loopback and private-network addresses (a receiver on the same machine or
    /// network); off by default so a tenant cannot reach internal services (see [`super::egress`]).
    pub allow_private_targets: bool,
}

impl Default for WebhookDeliveryConfig {
    fn default() -> Self {
        WebhookDeliveryConfig {
            max_attempts: 8,
            request_timeout: Duration::from_secs(10),
            batch_size: 16,
            idle_poll: Duration::from_secs(1),
            lease_secs: 60,
            allow_private_targets: false,
        }
    }
}

/// The sender loop with default settings; returns when `shutdown` is cancelled.
pub async fn run_webhook_deliveries(store: Store, shutdown: CancellationToken) {
    run_webhook_deliveries_with(store, WebhookDeliveryConfig::default(), None, shutdown).await;
}

/// The sender loop: claims due deliveries, POSTs them, records delivered / retry / dead.
pub async fn run_webhook_deliveries_with(
    store: Store,
    config: WebhookDeliveryConfig,
    metrics: Option<Metrics>,
    shutdown: CancellationToken,
) {
    let client = match egress::webhook_client(config.request_timeout, config.allow_private_targets) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the webhook HTTP client; webhooks are not delivered");
            return;
        }
    };
    while !shutdown.is_cancelled() {
        let due = match store.claim_webhook_deliveries(config.batch_size, config.lease_secs).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "cannot claim webhook deliveries");
                Vec::new()
            }
        };
        if due.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(config.idle_poll) => {}
            }
            continue;
        }
        for delivery in due {
            let body = delivery.payload.clone().into_bytes();
            // The same check as at creation (a webhook stored before it, or written around the
            // API, is held to it too); the client's connector checks the address connected to.
            let checked = egress::check_webhook_url(&delivery.url, config.allow_private_targets);
            let sent = if let Err(reason) = checked {
                Err(format!("refused: {reason}"))
            } else {
                client
                .post(&delivery.url)
                .header("content-type", "application/json")
                .header("x-callsight-event", &delivery.event)
                .header("x-callsight-delivery", &delivery.id)
                .header("x-callsight-timestamp", callsight_workers::now_secs().to_string())
                .header("x-callsight-signature", signature(&delivery.secret, &body))
                .body(body)
                .send()
                .await
                .map_err(|error| format!("request failed: {error}"))
            };
            let result = match sent {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("receiver answered {}", response.status())),
                Err(error) => Err(error),
            };
            match store.record_webhook_attempt(&delivery.id, result.clone(), config.max_attempts).await {
                Ok(state) => {
                    let outcome = match state {
                        DeliveryState::Delivered => "delivered",
                        DeliveryState::Dead => "dead",
                        DeliveryState::Pending | DeliveryState::Sending => "retry",
                    };
                    if let Err(error) = &result {
                        tracing::info!(delivery_id = %delivery.id, webhook_id = %delivery.webhook_id, %error, outcome, "webhook delivery failed");
                    }
                    if let Some(metrics) = &metrics {
                        metrics.record_webhook_delivery(outcome);
                    }
                }
                Err(error) => tracing::warn!(delivery_id = %delivery.id, %error, "cannot record webhook attempt"),
            }
        }
    }
}

fn generate_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", util::hex(&bytes))
}

/// Subscribe a URL to events. The secret (given or generated) is returned only here.
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Created", body = WebhookView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid URL or event", body = ErrorBody),
    )
)]
pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    caller.require(Action::ManageWebhooks)?;
    let request: NewWebhook = util::json_body(&headers, body, 64 * 1024)?;
    // Exactly the document's pattern `^https?://[^/\s]+[^\s]*$` and length limit, then the
    // sender's own URL parser and the target check (see `egress`).
    let url = request.url.as_str();
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if host.is_none_or(|rest| rest.is_empty() || rest.starts_with('/'))
        || url.chars().count() > 2048
        || url.chars().any(util::is_ecma_whitespace)
    {
        return Err(ApiError::Unprocessable(format!(
            "invalid webhook url {:?}: expected http(s)://host/path",
            util::clip_for_message(url)
        )));
    }
    if let Err(reason) = egress::check_webhook_url(url, state.config.allow_private_webhook_targets) {
        let advice = if state.config.allow_private_webhook_targets { "" } else { "; webhooks may only reach public addresses" };
        return Err(ApiError::Unprocessable(format!("invalid webhook url: {reason}{advice}")));
    }
    if request.events.is_empty() {
        return Err(ApiError::Unprocessable("events must name at least one event (or \"*\")".into()));
    }
    let mut events: Vec<String> = request.events.iter().map(|e| e.as_str().to_string()).collect();
    events.dedup();
    let secret = match request.secret {
        Some(secret) if !(16..=256).contains(&secret.chars().count()) => {
            return Err(ApiError::Unprocessable("secret must be 16 to 256 characters".into()));
        }
        Some(secret) => secret,
        None => generate_secret(),
    };
    let webhook = state.store.create_webhook(&caller.tenant, url, &secret, &events).await?;
    Ok((StatusCode::CREATED, Json(WebhookView::from_webhook(webhook, true))))
}

/// The tenant's webhooks (secrets are not shown).
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "Webhooks", body = WebhookList))
)]
pub(crate) async fn list_webhooks(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<WebhookList>> {
    caller.require(Action::ManageWebhooks)?;
    let webhooks = state.store.list_webhooks(&caller.tenant).await?;
    Ok(Json(WebhookList { webhooks: webhooks.into_iter().map(|w| WebhookView::from_webhook(w, false)).collect() }))
}

/// Remove a webhook; its pending deliveries are dropped.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    caller.require(Action::ManageWebhooks)?;
    let id = util::path_param(id)?;
    state.store.delete_webhook(&caller.tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
