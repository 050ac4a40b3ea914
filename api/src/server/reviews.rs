//! QA reviews: a reviewer agrees or disagrees with each automatic rule result of a call.

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::AppState;
use super::auth::{Action, Caller};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::util;
use super::wire::{NewReview, ReviewList, ReviewView};

const MAX_NOTE_CHARS: usize = 10_000;

/// Rule ids a review may name: the call's evaluated rules, or its script's rules.
async fn known_rule_ids(state: &AppState, tenant: &str, call: &callsight_workers::store::CallRecord) -> ApiResult<BTreeSet<String>> {
    let outcomes = state.store.list_rule_outcomes(tenant, &call.id).await?;
    if !outcomes.is_empty() {
        return Ok(outcomes.into_iter().map(|o| o.rule_id).collect());
    }
    let Some(script_id) = &call.script_id else { return Ok(BTreeSet::new()) };
    let script = state.store.get_script(tenant, script_id, call.script_version).await?;
    Ok(script
        .and_then(|s| s.body.get("rules").and_then(|r| r.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|rule| rule.get("id").and_then(|id| id.as_str()).map(str::to_string))
        .collect())
}

/// Record a review of a call's rule results.
#[utoipa::path(
    post, path = "/v1/calls/{id}/reviews", tag = "reviews",
    params(("id" = String, Path, description = "Call id")),
    request_body = NewReview,
    responses(
        (status = 201, description = "Stored", body = ReviewView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Unknown rule id, empty verdicts, note too long", body = ErrorBody),
    )
)]
pub(crate) async fn add_review(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<ReviewView>)> {
    caller.require(Action::WriteReviews)?;
    let id = util::path_param(id)?;
    let review: NewReview = util::json_body(&headers, body, 256 * 1024)?;
    let call = state.store.get_call(&caller.tenant, &id).await?.ok_or(ApiError::NotFound("call"))?;
    if review.verdicts.is_empty() {
        return Err(ApiError::Unprocessable("verdicts must name at least one rule".into()));
    }
    if review.note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(ApiError::Unprocessable(format!("note is longer than {MAX_NOTE_CHARS} characters")));
    }
    let known = known_rule_ids(&state, &caller.tenant, &call).await?;
    let unknown: Vec<&str> = review.verdicts.keys().filter(|k| !known.contains(*k)).map(String::as_str).collect();
    if !unknown.is_empty() {
        let known_list = if known.is_empty() {
            "the call has no script rules".to_string()
        } else {
            format!("known: {}", known.iter().cloned().collect::<Vec<_>>().join(", "))
        };
        return Err(ApiError::Unprocessable(format!("unknown rule ids: {} ({known_list})", unknown.join(", "))));
    }
    let verdicts = serde_json::to_value(&review.verdicts).map_err(|e| ApiError::Internal(e.to_string()))?;
    let stored = state.store.add_review(&caller.tenant, &id, &caller.key_id, &verdicts, review.note.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(stored.into())))
}

/// Reviews of a call, oldest first.
#[utoipa::path(
    get, path = "/v1/calls/{id}/reviews", tag = "reviews",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 200, description = "The reviews", body = ReviewList),
        (status = 404, description = "No such call", body = ErrorBody),
    )
)]
pub(crate) async fn list_reviews(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<ReviewList>> {
    caller.require(Action::ReadReviews)?;
    let id = util::path_param(id)?;
    state.store.get_call(&caller.tenant, &id).await?.ok_or(ApiError::NotFound("call"))?;
    let reviews = state.store.list_reviews(&caller.tenant, &id).await?;
    Ok(Json(ReviewList { reviews: reviews.into_iter().map(ReviewView::from).collect() }))
}
