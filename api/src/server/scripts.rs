//! Compliance scripts: create, new version, list, get, delete, and re-score stored calls.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use callsight_pipeline::compliance::parse_script;
use callsight_pipeline::error::PipelineError;
use callsight_workers::JobKind;
use callsight_workers::store::{CallFilter, CallSort, CallStatus, Page};

use super::AppState;
use super::auth::{Action, Caller};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::util;
use super::wire::{RescoreAccepted, ScriptList, ScriptVersionQuery, ScriptView};

const MAX_SCRIPT_BYTES: u64 = 1024 * 1024;

/// Parses and validates a script body (JSON or YAML) into its stored JSON form and id.
fn parse_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult<(String, serde_json::Value)> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let essence = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let accepted = matches!(
            essence.as_str(),
            "" | "application/json" | "application/yaml" | "application/x-yaml" | "text/yaml"
        );
        if !accepted {
            return Err(ApiError::UnsupportedMediaType(format!(
                "script content type {essence:?}: expected application/json or application/yaml"
            )));
        }
    }
    let body = util::body_bytes(body, MAX_SCRIPT_BYTES)?;
    if body.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(ApiError::PayloadTooLarge(format!("a script is limited to {MAX_SCRIPT_BYTES} bytes")));
    }
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("script body is not UTF-8 text".into()))?;
    if text.trim().is_empty() {
        return Err(ApiError::Unprocessable("script body is empty".into()));
    }
    let script = parse_script(text, "request body").map_err(|error| match error {
        PipelineError::Script { line, reason, .. } => ApiError::InvalidScript { line, reason },
        other => ApiError::Internal(other.to_string()),
    })?;
    util::check_client_id("script id", &script.id)?;
    let json = serde_json::to_value(&script).map_err(|e| ApiError::Internal(format!("script to JSON: {e}")))?;
    Ok((script.id, json))
}

/// Create a script (JSON or YAML body); its `id` names it. `409` if the id exists (use PUT).
#[utoipa::path(
    post, path = "/v1/scripts", tag = "scripts",
    request_body(description = "Script file (JSON or YAML)",
        content((Object = "application/json"), (String = "application/yaml"), (String = "application/x-yaml"), (String = "text/yaml"))),
    responses(
        (status = 201, description = "Created as version 1 (or the next version after a delete)", body = ScriptView),
        (status = 409, description = "A live script with this id exists", body = ErrorBody),
        (status = 415, description = "Not JSON or YAML", body = ErrorBody),
        (status = 422, description = "Invalid script; `line` names the line", body = ErrorBody),
    )
)]
pub(crate) async fn create_script(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<ScriptView>)> {
    caller.require(Action::WriteScripts)?;
    let (script_id, json) = parse_body(&headers, body)?;
    if state.store.get_script(&caller.tenant, &script_id, None).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "script {script_id:?} already exists; PUT /v1/scripts/{script_id} creates a new version"
        )));
    }
    let created = state.store.create_script_version(&caller.tenant, &script_id, &json).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Store a new version of an existing script; the body's `id` must match the path.
#[utoipa::path(
    put, path = "/v1/scripts/{id}", tag = "scripts",
    params(("id" = String, Path, description = "Script id")),
    request_body(description = "Script file (JSON or YAML)",
        content((Object = "application/json"), (String = "application/yaml"), (String = "application/x-yaml"), (String = "text/yaml"))),
    responses(
        (status = 200, description = "The new version", body = ScriptView),
        (status = 404, description = "No such script", body = ErrorBody),
        (status = 415, description = "Not JSON or YAML", body = ErrorBody),
        (status = 422, description = "Invalid script or id mismatch", body = ErrorBody),
    )
)]
pub(crate) async fn update_script(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ScriptView>> {
    caller.require(Action::WriteScripts)?;
    let path_id = util::path_param(id)?;
    if state.store.get_script(&caller.tenant, &path_id, None).await?.is_none() {
        return Err(ApiError::NotFound("script"));
    }
    let (script_id, json) = parse_body(&headers, body)?;
    if script_id != path_id {
        return Err(ApiError::Unprocessable(format!(
            "the script's id {script_id:?} does not match the path's {path_id:?}"
        )));
    }
    Ok(Json(state.store.create_script_version(&caller.tenant, &script_id, &json).await?.into()))
}

/// The latest version of every live script.
#[utoipa::path(
    get, path = "/v1/scripts", tag = "scripts",
    responses((status = 200, description = "Scripts by id", body = ScriptList))
)]
pub(crate) async fn list_scripts(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ScriptList>> {
    caller.require(Action::ReadScripts)?;
    let scripts = state.store.list_scripts(&caller.tenant).await?;
    Ok(Json(ScriptList { scripts: scripts.into_iter().map(ScriptView::from).collect() }))
}

/// A script: the latest version, or `?version=N` (old versions stay readable after delete).
#[utoipa::path(
    get, path = "/v1/scripts/{id}", tag = "scripts",
    params(("id" = String, Path, description = "Script id"), ScriptVersionQuery),
    responses(
        (status = 200, description = "The script", body = ScriptView),
        (status = 404, description = "No such script or version", body = ErrorBody),
    )
)]
pub(crate) async fn get_script(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<ScriptVersionQuery>, QueryRejection>,
) -> ApiResult<Json<ScriptView>> {
    caller.require(Action::ReadScripts)?;
    let id = util::path_param(id)?;
    let query = util::query(query)?;
    let script = state.store.get_script(&caller.tenant, &id, query.version).await?;
    Ok(Json(script.ok_or(ApiError::NotFound("script"))?.into()))
}

/// Delete a script (all versions stop being current; calls keep their results).
#[utoipa::path(
    delete, path = "/v1/scripts/{id}", tag = "scripts",
    params(("id" = String, Path, description = "Script id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such script", body = ErrorBody),
    )
)]
pub(crate) async fn delete_script(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    caller.require(Action::WriteScripts)?;
    let id = util::path_param(id)?;
    state.store.delete_script(&caller.tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue a `rescore` job for every analysed call of this script: compliance is evaluated again
/// on the stored transcript against the latest version, without transcribing again.
#[utoipa::path(
    post, path = "/v1/scripts/{id}/rescore", tag = "scripts",
    params(("id" = String, Path, description = "Script id")),
    responses(
        (status = 202, description = "Jobs queued", body = RescoreAccepted),
        (status = 404, description = "No such script", body = ErrorBody),
        (status = 503, description = "Queue full; see Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn rescore_script(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<(StatusCode, Json<RescoreAccepted>)> {
    caller.require(Action::WriteScripts)?;
    let id = util::path_param(id)?;
    let script = state.store.get_script(&caller.tenant, &id, None).await?.ok_or(ApiError::NotFound("script"))?;
    let filter = CallFilter { script_id: Some(id.clone()), status: Some(CallStatus::Analyzed), ..CallFilter::default() };
    // Collect the ids first: enqueueing does not change the listed set, but pages must not shift.
    let mut call_ids = Vec::new();
    let mut offset = 0;
    loop {
        let page =
            state.store.list_calls(&caller.tenant, &filter, CallSort::OldestFirst, Page { limit: 500, offset }).await?;
        let n = page.calls.len() as i64;
        call_ids.extend(page.calls.into_iter().map(|c| c.id));
        offset += n;
        if n == 0 || offset >= page.total {
            break;
        }
    }
    // Score against exactly the version that was just read, even if a newer one is saved
    // before the jobs run; the call then records which version its outcomes come from.
    state.store.pin_script_version(&caller.tenant, &call_ids, script.version).await?;
    let mut jobs_enqueued = 0;
    for call_id in &call_ids {
        state.store.enqueue_job(&caller.tenant, call_id, JobKind::Rescore).await?;
        jobs_enqueued += 1;
    }
    tracing::info!(script_id = %id, version = script.version, jobs_enqueued, "rescore queued");
    Ok((StatusCode::ACCEPTED, Json(RescoreAccepted { script_id: id, version: script.version, jobs_enqueued })))
}
