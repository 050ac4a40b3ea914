//! Voice biometrics for the IVR: enrol, verify, identify, watchlist, delete, and the audit trail.
//! The engine ([`SpeakerService`](super::SpeakerService)) runs on the blocking pool; every
//! operation, successful or not, is written to the tenant's audit trail with the caller's key id.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use callsight_workers::store::{AuditFilter, NewAuditEntry, Page};
use serde_json::json;

use super::AppState;
use super::auth::{Action, Caller};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::speaker_service::{
    EnrolInput, EnrolResponse, EnrolStatus, IdentifyResponse, SpeakerKind, SpeakerService, SpeakerServiceError,
    VerifyResponse, WatchlistHit,
};
use super::util::{self, blocking};
use super::webhooks::{WebhookEvent, emit_event};
use super::wire::{
    AuditEntryView, AuditList, AuditQuery, CallBiometricEntry, CallBiometrics, EnrolForm, SpeakerProbeForm, WatchlistForm,
};

/// Most clips one enrolment accepts.
const MAX_ENROL_CLIPS: usize = 10;

/// Which optional parts a speaker form has besides `audio` (as the OpenAPI forms say).
#[derive(Clone, Copy)]
enum FormFields {
    Enrol,
    Watchlist,
    Probe,
}

/// A short text part; anything long is an invalid value (422), not a too-large upload.
async fn read_small_field(field: axum::extract::multipart::Field<'_>, what: &str) -> ApiResult<Vec<u8>> {
    match util::read_field(field, 1024, what).await {
        Err(ApiError::PayloadTooLarge(_)) => Err(ApiError::Unprocessable(format!("invalid {what}: value too long"))),
        other => other,
    }
}

struct SpeakerForm {
    clips: Vec<Vec<u8>>,
    kind: Option<String>,
    min_net_speech_secs: Option<f64>,
    /// `mode=add`: add to the existing voiceprint instead of replacing it.
    add: bool,
}

/// Reads `audio` part(s) and, for enrolment, the `kind` and `min_net_speech_secs` fields.
async fn read_form(
    state: &AppState,
    multipart: Result<Multipart, MultipartRejection>,
    max_clips: usize,
    fields: FormFields,
) -> ApiResult<SpeakerForm> {
    let (allow_kind, allow_min_speech) = match fields {
        FormFields::Enrol => (true, true),
        FormFields::Watchlist => (false, true),
        FormFields::Probe => (false, false),
    };
    let max_bytes = state.config.max_upload_bytes;
    let mut multipart = multipart.map_err(util::multipart_rejection)?;
    let mut form = SpeakerForm { clips: Vec::new(), kind: None, min_net_speech_secs: None, add: false };
    while let Some(field) = multipart.next_field().await.map_err(|e| util::multipart_error(e, max_bytes))? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "audio" => {
                if form.clips.len() >= max_clips {
                    return Err(ApiError::BadRequest(format!("at most {max_clips} `audio` part(s) allowed here")));
                }
                util::check_audio_part_type(field.content_type())?;
                let clip = util::read_field(field, max_bytes, "audio").await?;
                if clip.is_empty() {
                    return Err(ApiError::Unprocessable("an `audio` part is empty (0 bytes)".into()));
                }
                form.clips.push(clip);
            }
            "mode" if allow_kind => {
                let text = read_small_field(field, "mode").await?;
                form.add = match String::from_utf8_lossy(&text).trim() {
                    "replace" => false,
                    "add" => true,
                    other => {
                        return Err(ApiError::Unprocessable(format!("invalid mode {other:?}: expected \"replace\" or \"add\"")));
                    }
                };
            }
            "kind" if allow_kind => {
                let text = read_small_field(field, "kind").await?;
                form.kind = Some(String::from_utf8_lossy(&text).to_string());
            }
            "min_net_speech_secs" if allow_min_speech => {
                let text = read_small_field(field, "min_net_speech_secs").await?;
                let text = String::from_utf8_lossy(&text).to_string();
                let secs = text
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s <= 600.0)
                    .ok_or_else(|| ApiError::Unprocessable(format!("invalid min_net_speech_secs {text:?}: expected seconds in (0, 600]")))?;
                form.min_net_speech_secs = Some(secs);
            }
            other => {
                return Err(ApiError::BadRequest(format!("unexpected multipart part {other:?}")));
            }
        }
    }
    if form.clips.is_empty() {
        return Err(ApiError::BadRequest("missing file part `audio` in the multipart body".into()));
    }
    Ok(form)
}

/// `Retry-After` while the voiceprint index is unreachable (a server restart takes seconds).
const INDEX_RETRY_AFTER_SECS: u64 = 10;

fn service_error(error: SpeakerServiceError) -> ApiError {
    match error {
        SpeakerServiceError::BadAudio(reason) => ApiError::Unprocessable(format!("audio cannot be used: {reason}")),
        SpeakerServiceError::UnknownSpeaker(_) => ApiError::NotFound("speaker"),
        SpeakerServiceError::InvalidRequest(reason) => ApiError::Unprocessable(reason),
        SpeakerServiceError::Internal(reason) => ApiError::Internal(format!("speaker service: {reason}")),
        SpeakerServiceError::Unavailable(reason) => {
            tracing::warn!(%reason, "voiceprint index unreachable answering a request");
            ApiError::IndexUnavailable { retry_after_secs: INDEX_RETRY_AFTER_SECS }
        }
    }
}

/// Short machine outcome of a failed operation, for the audit trail.
fn error_outcome(error: &SpeakerServiceError) -> &'static str {
    match error {
        SpeakerServiceError::BadAudio(_) => "error_bad_audio",
        SpeakerServiceError::UnknownSpeaker(_) => "error_unknown_speaker",
        SpeakerServiceError::InvalidRequest(_) => "error_invalid_request",
        SpeakerServiceError::Internal(_) => "error_internal",
        SpeakerServiceError::Unavailable(_) => "error_unavailable",
    }
}

async fn audit(state: &AppState, caller: &Caller, entry: NewAuditEntry) -> ApiResult<()> {
    let entry = NewAuditEntry { actor_key_id: Some(caller.key_id.clone()), ..entry };
    state.store.append_audit(&caller.tenant, &entry).await?;
    Ok(())
}

async fn emit_watchlist_hits(state: &AppState, caller: &Caller, operation: &str, claimed: Option<&str>, hits: &[WatchlistHit]) {
    if hits.is_empty() {
        return;
    }
    let data = json!({ "operation": operation, "claimed_speaker_id": claimed, "hits": hits });
    if let Err(error) = emit_event(&state.store, &caller.tenant, WebhookEvent::WatchlistHit, data).await {
        tracing::error!(%error, "cannot queue watchlist.hit event");
    }
}

/// Runs an enrolment (plain or watchlist), then records the speaker and the audit entry.
async fn run_enrolment(
    state: AppState,
    caller: Caller,
    speaker_id: String,
    kind: SpeakerKind,
    form: SpeakerForm,
    action: &'static str,
) -> ApiResult<Json<EnrolResponse>> {
    let service: Arc<dyn SpeakerService> = state.speakers.clone();
    let (tenant, id) = (caller.tenant.clone(), speaker_id.clone());
    let min_net_speech_secs = form.min_net_speech_secs;
    let clips = form.clips;
    let n_clips = clips.len();
    let add = form.add;
    let result = biometric_work(&state, move || match kind {
        SpeakerKind::Fraudster => service.watchlist_add(&tenant, &id, clips, min_net_speech_secs),
        SpeakerKind::Customer | SpeakerKind::Agent => {
            let input = EnrolInput { tenant, speaker_id: id, kind, clips, min_net_speech_secs };
            if add { service.enrol_more(input) } else { service.enrol(input) }
        }
    })
    .await?;
    match result {
        Ok(outcome) => {
            let status = match outcome.status {
                EnrolStatus::Enrolled => "enrolled",
                EnrolStatus::Rejected => "rejected",
            };
            audit(&state, &caller, NewAuditEntry {
                action: action.into(),
                speaker_id: Some(speaker_id.clone()),
                outcome: status.into(),
                score: None,
                details: json!({
                    "kind": kind.as_str(),
                    "mode": if add { "add" } else { "replace" },
                    "n_clips": n_clips,
                    "net_speech_secs": outcome.net_speech_secs,
                    "reasons": outcome.reasons.iter().map(|r| r.code.clone()).collect::<Vec<_>>(),
                }),
                ..NewAuditEntry::default()
            })
            .await?;
            if outcome.status == EnrolStatus::Enrolled {
                state.store.upsert_speaker(&caller.tenant, &speaker_id, kind.as_str(), &outcome.voiceprint_ids).await?;
            }
            Ok(Json(outcome))
        }
        Err(error) => {
            audit(&state, &caller, NewAuditEntry {
                action: action.into(),
                speaker_id: Some(speaker_id),
                outcome: error_outcome(&error).into(),
                details: json!({ "kind": kind.as_str(), "n_clips": n_clips }),
                ..NewAuditEntry::default()
            })
            .await?;
            Err(service_error(error))
        }
    }
}

/// Enrol (or re-enrol, replacing) a speaker from one or more clips (`kind`: customer or agent).
/// A failed quality gate is answered `200` with `status: rejected` and the reasons.
#[utoipa::path(
    post, path = "/v1/speakers/{id}/enroll", tag = "speakers",
    params(("id" = String, Path, description = "Speaker id chosen by the client")),
    request_body(content = EnrolForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Enrolled, or rejected with reasons", body = EnrolResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 413, description = "Upload over the size limit", body = ErrorBody),
        (status = 415, description = "Not multipart/form-data", body = ErrorBody),
        (status = 422, description = "Bad audio, kind or speaker id", body = ErrorBody),
    )
)]
pub(crate) async fn enrol(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<EnrolResponse>> {
    caller.require(Action::EnrolSpeaker)?;
    let speaker_id = util::path_param(id)?;
    util::check_client_id("speaker id", &speaker_id)?;
    let form = read_form(&state, multipart, MAX_ENROL_CLIPS, FormFields::Enrol).await?;
    let kind = match form.kind.as_deref() {
        None => SpeakerKind::Customer,
        Some(text) => match SpeakerKind::parse(text) {
            Some(SpeakerKind::Fraudster) => {
                return Err(ApiError::Unprocessable("fraudster voices are enrolled with POST /v1/watchlist/{id}".into()));
            }
            Some(kind) => kind,
            None => return Err(ApiError::Unprocessable(format!("invalid kind {text:?}: expected customer or agent"))),
        },
    };
    run_enrolment(state, caller, speaker_id, kind, form, "enrol").await
}

/// Enrol a known fraudster's voice on the tenant's watchlist.
#[utoipa::path(
    post, path = "/v1/watchlist/{id}", tag = "speakers",
    params(("id" = String, Path, description = "Watchlist entry id chosen by the client")),
    request_body(content = WatchlistForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Enrolled, or rejected with reasons", body = EnrolResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 413, description = "Upload over the size limit", body = ErrorBody),
        (status = 415, description = "Not multipart/form-data", body = ErrorBody),
        (status = 422, description = "Bad audio or id", body = ErrorBody),
    )
)]
pub(crate) async fn watchlist_add(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<EnrolResponse>> {
    caller.require(Action::AddToWatchlist)?;
    let speaker_id = util::path_param(id)?;
    util::check_client_id("speaker id", &speaker_id)?;
    // Watchlist entries are always kind fraudster.
    let form = read_form(&state, multipart, MAX_ENROL_CLIPS, FormFields::Watchlist).await?;
    run_enrolment(state, caller, speaker_id, SpeakerKind::Fraudster, form, "watchlist_add").await
}

/// Verify a claimed identity (1:1) and screen against the watchlist. On the IVR's critical path.
#[utoipa::path(
    post, path = "/v1/speakers/{id}/verify", tag = "speakers",
    params(("id" = String, Path, description = "Claimed speaker id")),
    request_body(content = SpeakerProbeForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The decision", body = VerifyResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 404, description = "Speaker not enrolled", body = ErrorBody),
        (status = 413, description = "Upload over the size limit", body = ErrorBody),
        (status = 415, description = "Not multipart/form-data", body = ErrorBody),
        (status = 422, description = "Audio cannot be used", body = ErrorBody),
    )
)]
pub(crate) async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<VerifyResponse>> {
    let started = Instant::now();
    caller.require(Action::VerifySpeaker)?;
    let speaker_id = util::path_param(id)?;
    util::check_client_id("speaker id", &speaker_id)?;
    let mut form = read_form(&state, multipart, 1, FormFields::Probe).await?;
    let audio = form.clips.pop().unwrap_or_default();
    let service = state.speakers.clone();
    let (tenant, id) = (caller.tenant.clone(), speaker_id.clone());
    let result = biometric_work(&state, move || service.verify(&tenant, &id, &audio)).await?;
    match result {
        Ok(outcome) => {
            audit(&state, &caller, NewAuditEntry {
                action: "verify".into(),
                speaker_id: Some(speaker_id.clone()),
                outcome: outcome.decision.as_str().into(),
                score: outcome.score,
                details: json!({
                    "threshold": outcome.threshold,
                    "net_speech_secs": outcome.net_speech_secs,
                    "reasons": outcome.reasons.iter().map(|r| r.code.clone()).collect::<Vec<_>>(),
                    "watchlist_hits": outcome.watchlist_hits,
                }),
                ..NewAuditEntry::default()
            })
            .await?;
            let data = json!({
                "speaker_id": speaker_id,
                "decision": outcome.decision,
                "score": outcome.score,
                "threshold": outcome.threshold,
                "watchlist_hit": !outcome.watchlist_hits.is_empty(),
            });
            if let Err(error) = emit_event(&state.store, &caller.tenant, WebhookEvent::VerificationDecided, data).await {
                tracing::error!(%error, "cannot queue verification.decided event");
            }
            emit_watchlist_hits(&state, &caller, "verify", Some(&speaker_id), &outcome.watchlist_hits).await;
            state.metrics.record_verification(outcome.decision.as_str(), started.elapsed().as_secs_f64());
            Ok(Json(outcome))
        }
        Err(error) => {
            audit(&state, &caller, NewAuditEntry {
                action: "verify".into(),
                speaker_id: Some(speaker_id),
                outcome: error_outcome(&error).into(),
                details: json!({}),
                ..NewAuditEntry::default()
            })
            .await?;
            state.metrics.record_verification("error", started.elapsed().as_secs_f64());
            Err(service_error(error))
        }
    }
}

/// Identify the speaker (1:N among the tenant's enrolled speakers) and screen the watchlist.
#[utoipa::path(
    post, path = "/v1/speakers/identify", tag = "speakers",
    request_body(content = SpeakerProbeForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Candidates, best first", body = IdentifyResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 413, description = "Upload over the size limit", body = ErrorBody),
        (status = 415, description = "Not multipart/form-data", body = ErrorBody),
        (status = 422, description = "Audio cannot be used", body = ErrorBody),
    )
)]
pub(crate) async fn identify(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<IdentifyResponse>> {
    caller.require(Action::IdentifySpeaker)?;
    let mut form = read_form(&state, multipart, 1, FormFields::Probe).await?;
    let audio = form.clips.pop().unwrap_or_default();
    let service = state.speakers.clone();
    let tenant = caller.tenant.clone();
    let result = biometric_work(&state, move || service.identify(&tenant, &audio)).await?;
    match result {
        Ok(outcome) => {
            let best = outcome.candidates.first();
            audit(&state, &caller, NewAuditEntry {
                action: "identify".into(),
                speaker_id: best.map(|c| c.speaker_id.clone()),
                outcome: if best.is_some() { "match" } else { "no_match" }.into(),
                score: best.map(|c| c.score),
                details: json!({
                    "n_candidates": outcome.candidates.len(),
                    "threshold": outcome.threshold,
                    "net_speech_secs": outcome.net_speech_secs,
                    "reasons": outcome.reasons.iter().map(|r| r.code.clone()).collect::<Vec<_>>(),
                    "watchlist_hits": outcome.watchlist_hits,
                }),
                ..NewAuditEntry::default()
            })
            .await?;
            emit_watchlist_hits(&state, &caller, "identify", None, &outcome.watchlist_hits).await;
            Ok(Json(outcome))
        }
        Err(error) => {
            audit(&state, &caller, NewAuditEntry {
                action: "identify".into(),
                outcome: error_outcome(&error).into(),
                details: json!({}),
                ..NewAuditEntry::default()
            })
            .await?;
            Err(service_error(error))
        }
    }
}

/// Delete a speaker (or watchlist entry) and all its voiceprints.
#[utoipa::path(
    delete, path = "/v1/speakers/{id}", tag = "speakers",
    params(("id" = String, Path, description = "Speaker id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such speaker", body = ErrorBody),
        (status = 422, description = "Invalid speaker id", body = ErrorBody),
    )
)]
pub(crate) async fn delete_speaker(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    caller.require(Action::DeleteSpeaker)?;
    let speaker_id = util::path_param(id)?;
    // Checked before anything is written to the audit trail, like every other speaker route.
    util::check_client_id("speaker id", &speaker_id)?;
    let service = state.speakers.clone();
    let (tenant, id) = (caller.tenant.clone(), speaker_id.clone());
    let engine_result = blocking(move || service.delete(&tenant, &id)).await?;
    let store_result = state.store.delete_speaker(&caller.tenant, &speaker_id).await;
    let engine_found = match engine_result {
        Ok(()) => true,
        Err(SpeakerServiceError::UnknownSpeaker(_)) => false,
        Err(error) => return Err(service_error(error)),
    };
    let store_found = match store_result {
        Ok(_) => true,
        Err(callsight_workers::WorkersError::NotFound { .. }) => false,
        Err(error) => return Err(error.into()),
    };
    let found = engine_found || store_found;
    audit(&state, &caller, NewAuditEntry {
        action: "delete".into(),
        speaker_id: Some(speaker_id),
        outcome: if found { "deleted" } else { "not_found" }.into(),
        details: json!({}),
        ..NewAuditEntry::default()
    })
    .await?;
    if found { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound("speaker")) }
}

/// The tenant's biometric audit trail, newest first (admins only).
#[utoipa::path(
    get, path = "/v1/audit", tag = "speakers",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries", body = AuditList),
        (status = 400, description = "Invalid filter", body = ErrorBody),
        (status = 422, description = "A date that does not exist (e.g. 2026-02-30)", body = ErrorBody),
    )
)]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<AuditList>> {
    caller.require(Action::ReadAudit)?;
    let query = util::query(query)?;
    let range = util::parse_range(query.from.as_deref(), query.to.as_deref())?;
    let limit = util::page_limit(query.limit, 100, 1000)?;
    let offset = util::parse_cursor(query.cursor.as_deref())?;
    let filter = AuditFilter {
        speaker_id: query.speaker_id,
        action: query.action,
        call_id: None,
        created_from: range.from,
        created_before: range.before,
    };
    let entries = state.store.list_audit(&caller.tenant, &filter, Page { limit, offset }).await?;
    let next_cursor = (entries.len() as i64 == limit).then(|| (offset + limit).to_string());
    Ok(Json(AuditList { entries: entries.into_iter().map(AuditEntryView::from).collect(), next_cursor }))
}

/// How long before a call is stored an IVR verification of its customer counts as that call's
/// (the IVR verifies before the agent answers; the recording is uploaded after the call).
const VERIFICATION_LOOKBACK_SECS: i64 = 6 * 3600;
/// Slack after the call is stored (clocks of the IVR and of the uploader differ).
const VERIFICATION_GRACE_SECS: i64 = 600;

/// The voice-biometric results of one call, for the people reviewing it (`qa`, `manager`,
/// `admin`): the watchlist screening and passive enrolment of the analysed call, and the
/// verifications of the call's customer from the IVR or the live stream in the hours before the
/// call was stored. Decisions only: no audio, no voiceprints, no key ids.
#[utoipa::path(
    get, path = "/v1/calls/{id}/biometrics", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 200, description = "The call's biometric decisions, oldest first", body = CallBiometrics),
        (status = 404, description = "No such call in this tenant", body = ErrorBody),
    )
)]
pub(crate) async fn call_biometrics(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<CallBiometrics>> {
    caller.require(Action::ReadCalls)?;
    let call_id = util::path_param(id)?;
    let call = state.store.get_call(&caller.tenant, &call_id).await?.ok_or(ApiError::NotFound("call"))?;
    let page = Page { limit: 200, offset: 0 };
    // A live stream audits its decisions before its call row exists (stored at the end).
    let about_call = AuditFilter {
        call_id: Some(call.id.clone()),
        created_from: Some(call.created_at - VERIFICATION_LOOKBACK_SECS),
        ..AuditFilter::default()
    };
    let mut entries = state.store.list_audit(&caller.tenant, &about_call, page).await?;
    if let Some(customer_id) = &call.customer_id {
        let verifications = AuditFilter {
            speaker_id: Some(customer_id.clone()),
            action: Some("verify".into()),
            created_from: Some(call.created_at - VERIFICATION_LOOKBACK_SECS),
            created_before: Some(call.created_at + VERIFICATION_GRACE_SECS),
            ..AuditFilter::default()
        };
        entries.extend(state.store.list_audit(&caller.tenant, &verifications, page).await?);
    }
    entries.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    entries.dedup_by(|a, b| a.id == b.id);
    Ok(Json(CallBiometrics {
        call_id: call.id,
        customer_id: call.customer_id,
        entries: entries.into_iter().map(CallBiometricEntry::from).collect(),
    }))
}

/// Runs CPU-bound biometric work on the blocking pool once a slot is free, in arrival order.
async fn biometric_work<T: Send + 'static>(state: &AppState, work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    let _slot = state
        .biometric_slots
        .acquire()
        .await
        .map_err(|_| ApiError::Internal("the biometric request gate is closed".into()))?;
    blocking(work).await
}
