//! Calls: upload into the durable queue, status, report, transcript, audio (with Range), list,
//! full-text search, re-analysis and deletion.

use std::io::SeekFrom;
use std::path::{Path as FsPath, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callsight_pipeline::audio::{DecodeLimits, probe_bytes_with_limits};
use callsight_workers::JobKind;
use callsight_workers::store::{CallFilter, CallSort, CallStatus, NewCall, Page};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::AppState;
use super::auth::{Action, Caller};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::util::{self, blocking};
use super::wire::{
    CallAccepted, CallList, CallMetadata, CallView, ListCallsQuery, SearchHitView, SearchQuery, SearchResults,
    SortParam, StatusParam, Transcript, TranscriptFormat, TranscriptQuery, TranscriptTurn, TranscriptWord,
    UploadCallForm,
};
use crate::report::CallReport;

const MAX_METADATA_BYTES: u64 = 64 * 1024;

/// Upload a call recording for analysis.
///
/// The audio is checked (it must decode), stored with its SHA-256 and recorded with its analysis
/// job before `202` is returned, so an accepted upload is never lost. A second upload with the
/// same `external_call_id` is refused with `409` naming the existing call id.
#[utoipa::path(
    post, path = "/v1/calls", tag = "calls",
    request_body(content = UploadCallForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Accepted and queued", body = CallAccepted,
            headers(("Location" = String, description = "URL of the new call"))),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 409, description = "Duplicate external_call_id", body = ErrorBody),
        (status = 413, description = "Upload over the size limit", body = ErrorBody),
        (status = 415, description = "Not multipart/form-data, or not an audio part", body = ErrorBody),
        (status = 422, description = "Not decodable audio, bad metadata, unknown script", body = ErrorBody),
        (status = 429, description = "Rate limit, or the tenant's upload quota (audio hours per hour) used up; see Retry-After", body = ErrorBody),
        (status = 503, description = "Queue full; see Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn upload_call(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    caller.require(Action::UploadCall)?;
    let max_bytes = state.config.max_upload_bytes;
    if let Some(length) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && length > max_bytes + super::MULTIPART_OVERHEAD_BYTES
    {
        return Err(ApiError::PayloadTooLarge(format!("upload is larger than the limit of {max_bytes} bytes")));
    }
    let mut multipart = multipart.map_err(util::multipart_rejection)?;
    let mut audio: Option<(Vec<u8>, String)> = None;
    let mut metadata_text: Option<Vec<u8>> = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| util::multipart_error(e, max_bytes))? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "audio" => {
                if audio.is_some() {
                    return Err(ApiError::BadRequest("more than one `audio` part; upload one recording per call".into()));
                }
                util::check_audio_part_type(field.content_type())?;
                let file_name = field.file_name().unwrap_or("upload").to_string();
                audio = Some((util::read_field(field, max_bytes, "audio").await?, file_name));
            }
            "metadata" => {
                if metadata_text.is_some() {
                    return Err(ApiError::BadRequest("more than one `metadata` part".into()));
                }
                metadata_text = Some(util::read_field(field, MAX_METADATA_BYTES, "metadata").await?);
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unexpected multipart part {other:?}: expected `audio` and optionally `metadata`"
                )));
            }
        }
    }
    let (audio_bytes, file_name) =
        audio.ok_or_else(|| ApiError::BadRequest("missing file part `audio` in the multipart body".into()))?;
    if audio_bytes.is_empty() {
        return Err(ApiError::Unprocessable("the `audio` part is empty (0 bytes)".into()));
    }
    let metadata = parse_metadata(metadata_text.as_deref())?;
    let channel_layout = metadata.channels.as_deref().map(parse_channel_layout).transpose()?;

    // The script must exist now; pin the version so a later edit does not change this call.
    let script_version = match &metadata.script_id {
        Some(script_id) => {
            util::check_client_id("script_id", script_id)?;
            let script = state.store.get_script(&caller.tenant, script_id, metadata.script_version).await?;
            let script = script.ok_or_else(|| match metadata.script_version {
                Some(version) => ApiError::Unprocessable(format!("unknown script {script_id:?} version {version}")),
                None => ApiError::Unprocessable(format!("unknown script {script_id:?}")),
            })?;
            Some(script.version)
        }
        None if metadata.script_version.is_some() => {
            return Err(ApiError::Unprocessable("script_version given without script_id".into()));
        }
        None => None,
    };

    if let Some(limit) = state.config.max_queued_jobs {
        let queued = state.store.queue_depth().await?;
        if queued >= limit {
            return Err(ApiError::QueueFull { queued, retry_after_secs: state.config.queue_retry_after_secs });
        }
    }

    // Decode the whole file once (blocking pool), keeping no samples: truncated or corrupt audio
    // is refused now, not discovered by a worker later, and the check costs the file's bytes,
    // not the decoded call's.
    let limits = DecodeLimits::with_max_duration_secs(state.config.max_audio_duration_secs);
    let permit = state
        .upload_checks
        .acquire()
        .await
        .map_err(|_| ApiError::Internal("upload check semaphore closed".into()))?;
    let (audio_bytes, probe) = blocking(move || {
        let probe = probe_bytes_with_limits(&audio_bytes, "audio", &limits).map(|shape| (shape.n_channels, shape.duration_secs()));
        (audio_bytes, probe)
    })
    .await?;
    drop(permit);
    let (n_channels, duration_secs) = probe.map_err(|error| match error {
        callsight_pipeline::error::PipelineError::Audio { reason, .. } => {
            ApiError::Unprocessable(format!("`audio` is not a usable recording: {reason}"))
        }
        other => ApiError::Internal(other.to_string()),
    })?;
    if duration_secs <= 0.0 {
        return Err(ApiError::Unprocessable("`audio` holds no samples".into()));
    }
    if matches!(channel_layout, Some("agent_customer" | "customer_agent")) && n_channels < 2 {
        return Err(ApiError::Unprocessable(format!(
            "channels {:?} needs a recording with 2 channels; this one has {n_channels}",
            metadata.channels.as_deref().unwrap_or("")
        )));
    }

    // Counted against the tenant's quota now; given back below if the upload is not accepted.
    let quota_charge = super::limits::charge_upload(&state, &caller.tenant, duration_secs).await?;
    let call_id = callsight_workers::new_id();
    let extension = audio_extension(&audio_bytes);
    let path = state.config.audio_dir.join(format!("{call_id}.{extension}"));
    let audio_len = audio_bytes.len() as i64;
    let write_path = path.clone();
    let stored = match blocking(move || store_audio_file(&write_path, &audio_bytes)).await {
        Ok(Ok(sha256)) => Ok(sha256),
        Ok(Err(e)) => Err(ApiError::Internal(format!("cannot store audio at {}: {e}", path.display()))),
        Err(error) => Err(error),
    };
    let sha256 = match stored {
        Ok(sha256) => sha256,
        Err(error) => {
            super::limits::refund_upload(&state, quota_charge).await;
            return Err(error);
        }
    };

    let new_call = NewCall {
        id: call_id.clone(),
        external_call_id: metadata.external_call_id.clone(),
        agent_id: metadata.agent_id.clone(),
        team: metadata.team.clone(),
        customer_id: metadata.customer_id.clone(),
        script_id: metadata.script_id.clone(),
        script_version,
        language_hint: metadata.language.clone(),
        channel_layout: channel_layout.map(str::to_string),
        metadata: serde_json::json!({
            "file_name": file_name,
            "duration_secs": duration_secs,
            "n_channels": n_channels,
            "enroll_customer_voice": metadata.enroll_customer_voice.unwrap_or(false),
        }),
        audio_path: path.display().to_string(),
        audio_bytes: audio_len,
        audio_sha256: sha256,
    };
    let enqueued = match state.store.insert_call_and_enqueue(&caller.tenant, &new_call).await {
        Ok(enqueued) => enqueued,
        Err(error) => {
            // Not recorded, so not accepted: the file must not linger.
            if let Err(io_error) = tokio::fs::remove_file(&path).await {
                tracing::warn!(path = %path.display(), error = %io_error, "cannot remove audio of a refused upload");
            }
            super::limits::refund_upload(&state, quota_charge).await;
            return Err(error.into());
        }
    };
    tracing::info!(call_id = %enqueued.call_id, job_id = %enqueued.job_id, tenant = %caller.tenant, "call accepted");
    let location = format!("/v1/calls/{}", enqueued.call_id);
    let mut response = (
        StatusCode::ACCEPTED,
        Json(CallAccepted { call_id: enqueued.call_id, job_id: enqueued.job_id, status: "queued".into() }),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

pub(super) fn parse_metadata(bytes: Option<&[u8]>) -> ApiResult<CallMetadata> {
    let Some(bytes) = bytes else { return Ok(CallMetadata::default()) };
    let text = std::str::from_utf8(bytes).map_err(|_| ApiError::BadRequest("`metadata` is not UTF-8 text".into()))?;
    if text.trim().is_empty() {
        return Ok(CallMetadata::default());
    }
    let metadata: CallMetadata = serde_json::from_str(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::BadRequest(format!("`metadata` is not valid JSON: {e}"))
        } else {
            ApiError::Unprocessable(format!("invalid `metadata`: {e}"))
        }
    })?;
    let texts = [
        ("external_call_id", &metadata.external_call_id),
        ("agent_id", &metadata.agent_id),
        ("team", &metadata.team),
        ("customer_id", &metadata.customer_id),
        ("language", &metadata.language),
    ];
    for (field, value) in texts {
        if let Some(value) = value {
            util::check_client_text(&format!("metadata {field}"), value)?;
        }
    }
    if let Some(version) = metadata.script_version
        && version < 1
    {
        return Err(ApiError::Unprocessable("metadata script_version must be at least 1".into()));
    }
    Ok(metadata)
}

/// `agent,customer` → `agent_customer` (the report's spelling), etc.
pub(super) fn parse_channel_layout(text: &str) -> ApiResult<&'static str> {
    match text {
        "agent,customer" => Ok("agent_customer"),
        "customer,agent" => Ok("customer_agent"),
        "mixed" => Ok("mixed"),
        _ => Err(ApiError::Unprocessable(format!(
            "invalid metadata channels {text:?}: expected \"agent,customer\", \"customer,agent\" or \"mixed\""
        ))),
    }
}

/// File extension from the content (the decoder already accepted it).
fn audio_extension(bytes: &[u8]) -> &'static str {
    if bytes.len() >= 12 && (&bytes[..4] == b"RIFF" || &bytes[..4] == b"RF64") && &bytes[8..12] == b"WAVE" {
        "wav"
    } else if bytes.starts_with(b"fLaC") {
        "flac"
    } else if bytes.starts_with(b"OggS") {
        "ogg"
    } else {
        "mp3"
    }
}

/// A recording that redaction replaced is WAV whatever the upload's extension was.
async fn redacted_wav(path: &FsPath) -> bool {
    let Ok(mut file) = tokio::fs::File::open(path).await else { return false };
    let mut head = [0_u8; 12];
    file.read_exact(&mut head).await.is_ok() && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE"
}

fn content_type_for(path: &FsPath) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("wav") => "audio/wav",
        Some("flac") => "audio/flac",
        Some("ogg") => "audio/ogg",
        Some("mp3") => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

/// Writes the audio durably (temp file, fsync, rename, fsync of the directory) and returns its
/// SHA-256, so a `202` is only sent for audio that survives a power cut.
fn store_audio_file(path: &FsPath, bytes: &[u8]) -> std::io::Result<String> {
    std::fs::create_dir_all(path.parent().unwrap_or(FsPath::new(".")))?;
    util::write_durably(path, bytes)?;
    Ok(util::hex(&Sha256::digest(bytes)))
}

async fn load_call(state: &AppState, caller: &Caller, id: &str) -> ApiResult<callsight_workers::store::CallRecord> {
    state.store.get_call(&caller.tenant, id).await?.ok_or(ApiError::NotFound("call"))
}

/// A call's status, metadata and (once analysed) summary.
#[utoipa::path(
    get, path = "/v1/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 200, description = "The call", body = CallView),
        (status = 404, description = "No such call for this tenant", body = ErrorBody),
    )
)]
pub(crate) async fn get_call(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<CallView>> {
    caller.require(Action::ReadCalls)?;
    let id = util::path_param(id)?;
    Ok(Json(load_call(&state, &caller, &id).await?.into()))
}

async fn load_report(state: &AppState, caller: &Caller, id: &str) -> ApiResult<serde_json::Value> {
    let call = load_call(state, caller, id).await?;
    match state.store.get_report(&caller.tenant, id).await? {
        Some(stored) => Ok(stored.report),
        None => Err(ApiError::NotReady(format!("the call has no report yet (status {})", call.status.as_str()))),
    }
}

/// The analysis report (`callsight.report.v1`, as `callsight analyze --format json` prints it).
#[utoipa::path(
    get, path = "/v1/calls/{id}/report", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 200, description = "The report", body = Object),
        (status = 404, description = "No such call, or not analysed yet (code not_ready)", body = ErrorBody),
    )
)]
pub(crate) async fn get_report(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Action::ReadCalls)?;
    let id = util::path_param(id)?;
    Ok(Json(load_report(&state, &caller, &id).await?))
}

/// The transcript as JSON, SRT or WebVTT.
#[utoipa::path(
    get, path = "/v1/calls/{id}/transcript", tag = "calls",
    params(("id" = String, Path, description = "Call id"), TranscriptQuery),
    responses(
        (status = 200, description = "The transcript", content(
            (Transcript = "application/json"),
            (String = "application/x-subrip"),
            (String = "text/vtt"),
        )),
        (status = 400, description = "Unknown format", body = ErrorBody),
        (status = 404, description = "No such call, or not analysed yet", body = ErrorBody),
    )
)]
pub(crate) async fn get_transcript(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<TranscriptQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Action::ReadCalls)?;
    let id = util::path_param(id)?;
    let query = util::query(query)?;
    let format = query.format.unwrap_or(TranscriptFormat::Json);
    let stored = load_report(&state, &caller, &id).await?;
    let report: CallReport = serde_json::from_value(stored)
        .map_err(|e| ApiError::Internal(format!("stored report of call {id} does not parse: {e}")))?;
    Ok(match format {
        TranscriptFormat::Srt => ([(header::CONTENT_TYPE, "application/x-subrip; charset=utf-8")], crate::render::to_srt(&report))
            .into_response(),
        TranscriptFormat::Vtt => ([(header::CONTENT_TYPE, "text/vtt; charset=utf-8")], crate::render::to_vtt(&report)).into_response(),
        TranscriptFormat::Json => Json(Transcript {
            call_id: id,
            language: report.language.clone(),
            duration_secs: report.duration_secs,
            turns: report
                .turns
                .iter()
                .map(|turn| TranscriptTurn {
                    speaker: turn.speaker.clone(),
                    start_secs: turn.start_secs,
                    end_secs: turn.end_secs,
                    text: turn.text.clone(),
                    words: turn
                        .words
                        .iter()
                        .map(|w| TranscriptWord {
                            text: w.text.clone(),
                            start_secs: w.start_secs,
                            end_secs: w.end_secs,
                            confidence: w.confidence,
                        })
                        .collect(),
                })
                .collect(),
        })
        .into_response(),
    })
}

/// The stored recording. Supports `Range: bytes=...` (one range) so audio players can seek.
#[utoipa::path(
    get, path = "/v1/calls/{id}/audio", tag = "calls",
    params(("id" = String, Path, description = "Call id"),
        ("Range" = Option<String>, Header, description = "e.g. bytes=0-1023")),
    responses(
        (status = 200, description = "The whole file", content(
            (String = "audio/wav"), (String = "audio/mpeg"), (String = "audio/flac"), (String = "audio/ogg"),
            (String = "application/octet-stream"))),
        (status = 206, description = "The requested range", content(
            (String = "audio/wav"), (String = "audio/mpeg"), (String = "audio/flac"), (String = "audio/ogg"),
            (String = "application/octet-stream"))),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 416, description = "Range outside the file", body = ErrorBody),
    )
)]
pub(crate) async fn get_audio(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(Action::ReadCalls)?;
    let id = util::path_param(id)?;
    let call = load_call(&state, &caller, &id).await?;
    let path = PathBuf::from(&call.audio_path);
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("audio of call {id} at {} cannot be opened: {e}", path.display())))?;
    let file_len = file
        .metadata()
        .await
        .map_err(|e| ApiError::Internal(format!("audio of call {id}: {e}")))?
        .len();
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(text) => parse_range_header(text, file_len)?,
        None => None,
    };
    let content_type = match redacted_wav(&path).await {
        true => "audio/wav",
        false => content_type_for(&path),
    };
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, max-age=3600");
    let body = match range {
        Some((start, end_inclusive)) => {
            file.seek(SeekFrom::Start(start)).await.map_err(|e| ApiError::Internal(format!("seek in audio: {e}")))?;
            let len = end_inclusive - start + 1;
            builder = builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end_inclusive}/{file_len}"))
                .header(header::CONTENT_LENGTH, len);
            Body::from_stream(tokio_util::io::ReaderStream::new(file.take(len)))
        }
        None => {
            builder = builder.status(StatusCode::OK).header(header::CONTENT_LENGTH, file_len);
            Body::from_stream(tokio_util::io::ReaderStream::new(file))
        }
    };
    builder.body(body).map_err(|e| ApiError::Internal(format!("building the audio response: {e}")))
}

/// One `bytes=` range as inclusive `(start, end)`; `None` to serve the whole file (a header we
/// do not understand, or several ranges, is answered with the whole file as RFC 9110 allows).
pub(super) fn parse_range_header(text: &str, file_len: u64) -> ApiResult<Option<(u64, u64)>> {
    let Some(spec) = text.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start_text, end_text)) = spec.split_once('-') else { return Ok(None) };
    let (start_text, end_text) = (start_text.trim(), end_text.trim());
    let unsatisfiable = ApiError::RangeNotSatisfiable { file_len };
    let (start, end) = if start_text.is_empty() {
        // Suffix range: the last N bytes.
        let Ok(suffix_len) = end_text.parse::<u64>() else { return Ok(None) };
        if suffix_len == 0 || file_len == 0 {
            return Err(unsatisfiable);
        }
        (file_len.saturating_sub(suffix_len), file_len - 1)
    } else {
        let Ok(start) = start_text.parse::<u64>() else { return Ok(None) };
        let end = if end_text.is_empty() {
            file_len.saturating_sub(1)
        } else {
            let Ok(end) = end_text.parse::<u64>() else { return Ok(None) };
            if end < start {
                return Ok(None);
            }
            end.min(file_len.saturating_sub(1))
        };
        if start >= file_len {
            return Err(unsatisfiable);
        }
        (start, end)
    };
    Ok(Some((start, end)))
}

/// The tenant's calls, filtered, sorted and paginated.
#[utoipa::path(
    get, path = "/v1/calls", tag = "calls",
    params(ListCallsQuery),
    responses(
        (status = 200, description = "A page of calls", body = CallList),
        (status = 400, description = "Invalid filter", body = ErrorBody),
        (status = 422, description = "A date that does not exist (e.g. 2026-02-30)", body = ErrorBody),
    )
)]
pub(crate) async fn list_calls(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListCallsQuery>, QueryRejection>,
) -> ApiResult<Json<CallList>> {
    caller.require(Action::ReadCalls)?;
    let query = util::query(query)?;
    let range = util::parse_range(query.from.as_deref(), query.to.as_deref())?;
    let status = query.status.map(|status| match status {
        StatusParam::Queued => CallStatus::Queued,
        StatusParam::Running => CallStatus::Running,
        StatusParam::Analyzed => CallStatus::Analyzed,
        StatusParam::Failed => CallStatus::Failed,
    });
    let sort = match query.sort {
        None | Some(SortParam::Date) => CallSort::NewestFirst,
        Some(SortParam::DateAsc) => CallSort::OldestFirst,
        Some(SortParam::Severity) => CallSort::MostSevereFirst,
    };
    let limit = util::page_limit(query.limit, 50, 200)?;
    let offset = util::parse_cursor(query.cursor.as_deref())?;
    let filter = CallFilter {
        agent_id: query.agent,
        team: query.team,
        script_id: query.script,
        created_from: range.from,
        created_before: range.before,
        flagged: query.flagged,
        failed_rule_id: query.rule_failed,
        customer_sentiment_label: query.sentiment.map(|s| s.as_str().to_string()),
        status,
    };
    let page = state.store.list_calls(&caller.tenant, &filter, sort, Page { limit, offset }).await?;
    let next_offset = offset + page.calls.len() as i64;
    Ok(Json(CallList {
        next_cursor: (next_offset < page.total && !page.calls.is_empty()).then(|| next_offset.to_string()),
        total: page.total,
        calls: page.calls.into_iter().map(CallView::from).collect(),
    }))
}

/// Full-text search over the tenant's transcripts.
#[utoipa::path(
    get, path = "/v1/search", tag = "calls",
    params(SearchQuery),
    responses(
        (status = 200, description = "Matching calls, best first", body = SearchResults),
        (status = 400, description = "Missing or empty q", body = ErrorBody),
    )
)]
pub(crate) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Json<SearchResults>> {
    caller.require(Action::ReadCalls)?;
    let query = util::query(query)?;
    let q = query.q;
    if q.is_empty() {
        return Err(ApiError::BadRequest("query parameter q must not be empty".into()));
    }
    if q.chars().count() > 1000 {
        return Err(ApiError::BadRequest("query parameter q is longer than 1000 characters".into()));
    }
    let limit = util::page_limit(query.limit, 20, 200)?;
    let hits = state.store.search_transcripts(&caller.tenant, &q, limit).await?;
    Ok(Json(SearchResults {
        hits: hits.into_iter().map(|h| SearchHitView { call_id: h.call_id, snippet: h.snippet }).collect(),
    }))
}

/// Queue a fresh analysis of a stored call (e.g. after a model upgrade).
#[utoipa::path(
    post, path = "/v1/calls/{id}/reanalyze", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 202, description = "Queued", body = CallAccepted),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 503, description = "Queue full; see Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn reanalyze_call(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<(StatusCode, Json<CallAccepted>)> {
    caller.require(Action::ReanalyzeCall)?;
    let id = util::path_param(id)?;
    let job_id = state.store.enqueue_job(&caller.tenant, &id, JobKind::Analyze).await?;
    Ok((StatusCode::ACCEPTED, Json(CallAccepted { call_id: id, job_id, status: "queued".into() })))
}

/// Erase a call: its audio (and the analysis files kept beside it), transcript, report, rule
/// outcomes, reviews and jobs. Voiceprints enrolled from the call are biometric records of a
/// person and are deleted with `DELETE /v1/speakers/{id}`. The deletion is audited.
#[utoipa::path(
    delete, path = "/v1/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such call", body = ErrorBody),
    )
)]
pub(crate) async fn delete_call(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    caller.require(Action::DeleteCall)?;
    let id = util::path_param(id)?;
    // Rows first: once they are gone nothing serves the files, and a crash before the files
    // are removed leaves only unreferenced files, never a call whose audio is missing.
    let audio_path = state.store.delete_call(&caller.tenant, &id).await?;
    let removed = blocking(move || remove_audio_and_sidecars(FsPath::new(&audio_path))).await?;
    let entry = callsight_workers::store::NewAuditEntry {
        actor_key_id: Some(caller.key_id.clone()),
        action: "call_delete".into(),
        speaker_id: None,
        outcome: "deleted".into(),
        score: None,
        details: serde_json::json!({ "call_id": id, "files_removed": removed }),
    };
    state.store.append_audit(&caller.tenant, &entry).await?;
    tracing::info!(call_id = %id, files_removed = removed, "call deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a stored recording and every file named `<recording>.<suffix>` beside it (the
/// worker's analysis, a live stream's transcript); returns how many files went.
fn remove_audio_and_sidecars(audio_path: &FsPath) -> usize {
    let mut removed = 0;
    match std::fs::remove_file(audio_path) {
        Ok(()) => removed += 1,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(path = %audio_path.display(), %error, "cannot remove call audio"),
    }
    let (Some(dir), Some(name)) = (audio_path.parent(), audio_path.file_name().and_then(|n| n.to_str())) else {
        return removed;
    };
    let prefix = format!("{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else { return removed };
    for entry in entries.flatten() {
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(error) => tracing::warn!(path = %entry.path().display(), %error, "cannot remove call file"),
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range_header("bytes=0-99", 1000).ok().flatten(), Some((0, 99)));
        assert_eq!(parse_range_header("bytes=900-", 1000).ok().flatten(), Some((900, 999)));
        assert_eq!(parse_range_header("bytes=-100", 1000).ok().flatten(), Some((900, 999)));
        assert_eq!(parse_range_header("bytes=0-5000", 1000).ok().flatten(), Some((0, 999)));
        assert!(parse_range_header("bytes=1000-", 1000).is_err());
        assert_eq!(parse_range_header("items=0-1", 1000).ok().flatten(), None);
        assert_eq!(parse_range_header("bytes=0-1,5-6", 1000).ok().flatten(), None);
    }

    #[test]
    fn channel_layouts() {
        assert_eq!(parse_channel_layout("agent,customer").ok(), Some("agent_customer"));
        assert_eq!(parse_channel_layout("customer,agent").ok(), Some("customer_agent"));
        assert!(parse_channel_layout("left,right").is_err());
    }
}
