//! Limits that hold across every API process on one database (see `workers::store::limits`):
//! the per-key request rate and the per-tenant upload quota in audio hours per hour. Over a
//! limit the client gets 429 with `Retry-After`.

use callsight_workers::store::Admission;

use super::AppState;
use super::error::{ApiError, ApiResult};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// Takes one request from `key_id`'s bucket (`rate_limit_per_minute`, burst the same number).
pub(crate) async fn check_request_rate(state: &AppState, key_id: &str) -> ApiResult<()> {
    let per_minute = state.config.rate_limit_per_minute;
    if per_minute == 0 {
        return Ok(());
    }
    let scope = format!("rate:{key_id}");
    match state.store.take_from_bucket(&scope, 1, i64::from(per_minute), MINUTE_MS).await? {
        Admission::Admitted { .. } => Ok(()),
        Admission::Refused { retry_after_secs } => {
            state.metrics.rate_limited();
            Err(ApiError::RateLimited { retry_after_secs: retry_after_secs.unwrap_or(60) })
        }
    }
}

/// Audio counted against a tenant's upload quota; [`refund_upload`] gives it back when the
/// upload is refused after all.
#[derive(Debug)]
pub(crate) struct UploadCharge {
    scope: String,
    cost_ms: i64,
}

/// Counts `duration_secs` of audio against `tenant`'s quota (`upload_quota_audio_hours_per_hour`),
/// or refuses the upload. `None` without a quota.
pub(crate) async fn charge_upload(state: &AppState, tenant: &str, duration_secs: f64) -> ApiResult<Option<UploadCharge>> {
    let Some(hours_per_hour) = state.config.upload_quota_audio_hours_per_hour.filter(|quota| *quota > 0.0) else {
        return Ok(None);
    };
    let capacity_ms = (hours_per_hour * HOUR_MS as f64).round() as i64;
    let amount_ms = (duration_secs * 1000.0).ceil() as i64;
    let scope = format!("upload_audio:{tenant}");
    match state.store.take_from_bucket(&scope, amount_ms, capacity_ms, HOUR_MS).await? {
        Admission::Admitted { cost_ms } => Ok(Some(UploadCharge { scope, cost_ms })),
        Admission::Refused { retry_after_secs: Some(retry_after_secs) } => Err(ApiError::QuotaExceeded {
            message: format!(
                "this tenant's upload quota of {hours_per_hour} audio hours per hour is used up; \
                 this {:.1}-minute recording fits again in {retry_after_secs} s",
                duration_secs / 60.0
            ),
            retry_after_secs,
        }),
        Admission::Refused { retry_after_secs: None } => Err(ApiError::Unprocessable(format!(
            "a {:.1}-hour recording is longer than this tenant's whole upload quota of {hours_per_hour} audio hours per hour",
            duration_secs / 3600.0
        ))),
    }
}

/// Gives back what [`charge_upload`] counted (the upload was not accepted). Best effort: a
/// failure only leaves the quota a little tighter for up to an hour.
pub(crate) async fn refund_upload(state: &AppState, charge: Option<UploadCharge>) {
    let Some(charge) = charge else { return };
    if let Err(error) = state.store.give_back_to_bucket(&charge.scope, charge.cost_ms).await {
        tracing::warn!(%error, scope = charge.scope, "cannot give back the upload quota of a refused upload");
    }
}

/// Scope of the live streams open across every API process on the database.
const LIVE_STREAMS_SCOPE: &str = "live_streams";
/// A stream's slot lease; renewed every third of it while the stream runs, so a process killed
/// mid-stream frees its slots within this long.
const STREAM_SLOT_LEASE_SECS: i64 = 60;

/// One of the `max_live_streams_total` slots shared by every API process, held while a stream
/// runs: renewed in the background, released when dropped (however the stream ends).
pub(crate) struct SharedStreamSlot {
    scope: String,
    holder: String,
    store: callsight_workers::Store,
    renewal: tokio_util::sync::CancellationToken,
}

/// Takes a slot of `scope` (at most `limit` held across processes) for one stream, or `None`
/// when all are taken. Reusable for other stream limits (e.g. per key) with another scope.
pub(crate) async fn acquire_stream_slot(state: &AppState, scope: &str, limit: usize) -> ApiResult<Option<SharedStreamSlot>> {
    let holder = callsight_workers::new_id();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    if !state.store.acquire_slot(scope, &holder, limit, STREAM_SLOT_LEASE_SECS).await? {
        return Ok(None);
    }
    let renewal = tokio_util::sync::CancellationToken::new();
    let (store, scope_owned, holder_owned, stop) = (state.store.clone(), scope.to_string(), holder.clone(), renewal.clone());
    tokio::spawn(async move {
        let every = std::time::Duration::from_secs((STREAM_SLOT_LEASE_SECS / 3).max(1) as u64);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            match store.renew_slot(&scope_owned, &holder_owned, STREAM_SLOT_LEASE_SECS).await {
                Ok(true) => {}
                // Expired during a database outage and taken: the stream keeps running (it is
                // admitted); the next acquisitions see one slot too many until it ends.
                Ok(false) => tracing::warn!(scope = scope_owned, "a live stream's shared slot expired before renewal"),
                Err(error) => tracing::warn!(%error, "renewing a live stream's shared slot failed; retrying"),
            }
        }
    });
    Ok(Some(SharedStreamSlot { scope: scope.to_string(), holder, store: state.store.clone(), renewal }))
}

/// The cluster-wide live-stream slot, when `max_live_streams_total` is set. `Err` is the 503
/// answer for a full cluster.
pub(crate) async fn admit_stream_cluster_wide(state: &AppState) -> ApiResult<Result<Option<SharedStreamSlot>, usize>> {
    let Some(limit) = state.config.max_live_streams_total else { return Ok(Ok(None)) };
    match acquire_stream_slot(state, LIVE_STREAMS_SCOPE, limit).await? {
        Some(slot) => Ok(Ok(Some(slot))),
        None => Ok(Err(limit)),
    }
}

impl Drop for SharedStreamSlot {
    fn drop(&mut self) {
        self.renewal.cancel();
        let (store, scope, holder) = (self.store.clone(), std::mem::take(&mut self.scope), std::mem::take(&mut self.holder));
        // Dropped on the runtime (the stream task); if not, the lease expires on its own.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = store.release_slot(&scope, &holder).await {
                    tracing::warn!(%error, "releasing a live stream's shared slot failed; its lease expires instead");
                }
            });
        }
    }
}
