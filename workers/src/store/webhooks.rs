//! Webhook subscriptions and their delivery queue: an event becomes one delivery row per
//! subscribed webhook, sent by whoever claims it, retried with backoff, dead after max attempts.

use super::{BeginWrite, Store, new_id, now_secs, with_pool};
use crate::error::{Result, WorkersError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub tenant: String,
    pub url: String,
    /// HMAC key for the signature header; shown to the tenant's admins.
    pub secret: String,
    /// Event names (e.g. `call.analyzed`); `*` subscribes to all.
    pub events: Vec<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    /// Claimed by a sender until `next_attempt_at` (a lease; expired means pending again).
    Sending,
    Delivered,
    Dead,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }
}

/// A delivery a sender has claimed, with where to send it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: String,
    pub tenant: String,
    pub webhook_id: String,
    pub url: String,
    pub secret: String,
    pub event: String,
    /// JSON text, sent as the request body.
    pub payload: String,
    /// Including this one.
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub attempts: i64,
    pub state: String,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
}

type WebhookRow = (String, String, String, String, String, i64);

fn webhook_from_row((id, tenant, url, secret, events, created_at): WebhookRow) -> Result<Webhook> {
    let events = serde_json::from_str(&events)
        .map_err(|e| WorkersError::Corrupt { what: "webhook events", reason: e.to_string() })?;
    Ok(Webhook { id, tenant, url, secret, events, created_at })
}

impl Store {
    pub async fn create_webhook(&self, tenant: &str, url: &str, secret: &str, events: &[String]) -> Result<Webhook> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(WorkersError::Invalid { field: "webhook url", reason: "must be http:// or https://".into() });
        }
        let id = new_id();
        let now = now_secs();
        let events_json = serde_json::to_string(events)
            .map_err(|e| WorkersError::Invalid { field: "webhook events", reason: e.to_string() })?;
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO webhooks (id, tenant, url, secret, events, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&id)
                .bind(tenant)
                .bind(url)
                .bind(secret)
                .bind(events_json)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(Webhook {
            id,
            tenant: tenant.to_string(),
            url: url.to_string(),
            secret: secret.to_string(),
            events: events.to_vec(),
            created_at: now,
        })
    }

    /// Live webhooks, oldest first.
    pub async fn list_webhooks(&self, tenant: &str) -> Result<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, tenant, url, secret, events, created_at FROM webhooks \
                 WHERE tenant = $1 AND deleted_at IS NULL ORDER BY id",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(webhook_from_row).collect()
    }

    /// Stops a webhook; its pending deliveries are dropped (marked dead).
    pub async fn delete_webhook(&self, tenant: &str, webhook_id: &str) -> Result<()> {
        let now = now_secs();
        let affected = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let affected = sqlx::query("UPDATE webhooks SET deleted_at = $1 WHERE tenant = $2 AND id = $3 AND deleted_at IS NULL")
                .bind(now)
                .bind(tenant)
                .bind(webhook_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'dead', last_error = 'webhook deleted', updated_at = $1 \
                 WHERE tenant = $2 AND webhook_id = $3 AND state IN ('pending', 'sending')",
            )
            .bind(now)
            .bind(tenant)
            .bind(webhook_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            affected
        });
        if affected == 0 {
            return Err(WorkersError::NotFound { what: "webhook" });
        }
        Ok(())
    }

    /// Queues `payload` for every live webhook of the tenant subscribed to `event`; returns how
    /// many deliveries were queued.
    pub async fn enqueue_webhook_event(&self, tenant: &str, event: &str, payload: &serde_json::Value) -> Result<usize> {
        let subscribed: Vec<Webhook> = self
            .list_webhooks(tenant)
            .await?
            .into_iter()
            .filter(|w| w.events.iter().any(|e| e == event || e == "*"))
            .collect();
        if subscribed.is_empty() {
            return Ok(0);
        }
        let now = now_secs();
        let payload = payload.to_string();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for webhook in &subscribed {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, tenant, webhook_id, event, payload, attempts, next_attempt_at, \
                     state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, $6, 'pending', $6, $6)",
                )
                .bind(new_id())
                .bind(tenant)
                .bind(&webhook.id)
                .bind(event)
                .bind(&payload)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(subscribed.len())
    }

    /// Like [`Store::enqueue_webhook_event`] for an event whose envelope carries the stable id
    /// `event_id` (e.g. made from the job that raised it): queued only if no delivery of that
    /// event id exists yet, so a job run again after its worker died does not announce twice.
    pub async fn enqueue_webhook_event_once(
        &self,
        tenant: &str,
        event: &str,
        event_id: &str,
        payload: &serde_json::Value,
    ) -> Result<usize> {
        // LIKE wildcards in the id could only widen the match; ids made of a job's UUID and an
        // event name have none that matter.
        let marker = format!("%\"id\":{}%", serde_json::Value::String(event_id.to_string()));
        let existing: Option<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM webhook_deliveries WHERE tenant = $1 AND event = $2 AND payload LIKE $3 LIMIT 1")
                .bind(tenant)
                .bind(event)
                .bind(&marker)
                .fetch_optional(pool)
                .await?
        });
        if existing.is_some() {
            return Ok(0);
        }
        self.enqueue_webhook_event(tenant, event, payload).await
    }

    /// Claims up to `limit` due deliveries (any tenant) for `lease_secs`; a sender that dies
    /// leaves them to be claimed again after the lease.
    pub async fn claim_webhook_deliveries(&self, limit: i64, lease_secs: i64) -> Result<Vec<DueDelivery>> {
        let now = now_secs();
        let skip_locked = match self.backend() {
            super::Backend::Sqlite => "",
            super::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let claim_sql = format!(
            "UPDATE webhook_deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_at = $1, updated_at = $2 \
             WHERE id IN (SELECT id FROM webhook_deliveries WHERE state IN ('pending', 'sending') AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, id LIMIT $3{skip_locked}) RETURNING id"
        );
        let deliveries: Vec<DueDelivery> = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(claim_sql))
                .bind(now + lease_secs)
                .bind(now)
                .bind(limit.max(1))
                .fetch_all(&mut *tx)
                .await?;
            let mut deliveries = Vec::with_capacity(ids.len());
            for id in &ids {
                let delivery: DueDelivery = sqlx::query_as(
                    "SELECT d.id, d.tenant, d.webhook_id, w.url, w.secret, d.event, d.payload, d.attempts \
                     FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                deliveries.push(delivery);
            }
            tx.commit().await?;
            deliveries
        });
        Ok(deliveries)
    }

    /// Records a send attempt: delivered, or pending again with exponential backoff, or dead
    /// after `max_attempts`.
    pub async fn record_webhook_attempt(
        &self,
        delivery_id: &str,
        result: std::result::Result<(), String>,
        max_attempts: i64,
    ) -> Result<DeliveryState> {
        let now = now_secs();
        let attempts: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT attempts FROM webhook_deliveries WHERE id = $1 AND state = 'sending'")
                .bind(delivery_id)
                .fetch_optional(pool)
                .await?
        });
        let attempts = attempts.ok_or(WorkersError::NotFound { what: "webhook delivery in flight" })?;
        let (state, next_attempt_at, error) = match result {
            Ok(()) => (DeliveryState::Delivered, now, None),
            Err(error) if attempts >= max_attempts => (DeliveryState::Dead, now, Some(error)),
            Err(error) => (DeliveryState::Pending, now + backoff_secs(attempts, &self.queue), Some(error)),
        };
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, last_error = $3, updated_at = $4 \
                 WHERE id = $5 AND state = 'sending'",
            )
            .bind(state.as_str())
            .bind(next_attempt_at)
            .bind(error)
            .bind(now)
            .bind(delivery_id)
            .execute(pool)
            .await?;
        });
        Ok(state)
    }

    /// The tenant's deliveries of one webhook, newest first.
    pub async fn list_webhook_deliveries(
        &self,
        tenant: &str,
        webhook_id: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, webhook_id, event, attempts, state, last_error, next_attempt_at FROM webhook_deliveries \
                 WHERE tenant = $1 AND webhook_id = $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(tenant)
            .bind(webhook_id)
            .bind(limit.clamp(1, 1000))
            .fetch_all(pool)
            .await?
        }))
    }
}

/// Retry delay after the `attempts`-th failure: base * 2^(attempts-1), capped.
pub(crate) fn backoff_secs(attempts: i64, config: &super::QueueConfig) -> i64 {
    let exponent = (attempts - 1).clamp(0, 30) as u32;
    config.backoff_base_secs.saturating_mul(1i64 << exponent).min(config.backoff_max_secs)
}
