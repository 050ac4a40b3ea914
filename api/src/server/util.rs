//! Small pieces the handlers share: extractor rejections as `ApiError`s, id checks, dates,
//! pagination cursors and bounded reading of multipart fields.

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use callsight_pipeline::calendar::{days_from_civil, days_in_month};
pub(crate) use callsight_pipeline::calendar::rfc3339;

use super::error::{ApiError, ApiResult};

pub(crate) async fn no_route() -> ApiError {
    ApiError::NoRoute
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

pub(crate) fn path_param(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    path.map(|Path(id)| id).map_err(|rejection| ApiError::BadRequest(format!("invalid path: {}", rejection.body_text())))
}

pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    query.map(|Query(q)| q).map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

pub(crate) fn body_bytes(body: Result<axum::body::Bytes, BytesRejection>, limit_bytes: u64) -> ApiResult<axum::body::Bytes> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!("request body is larger than the limit of {limit_bytes} bytes"))
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })
}

/// A JSON request body: `application/json` (or no content type), at most `limit_bytes`.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    body: Result<axum::body::Bytes, BytesRejection>,
    limit_bytes: u64,
) -> ApiResult<T> {
    if let Some(content_type) = headers.get(axum::http::header::CONTENT_TYPE) {
        let essence = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !(essence.is_empty() || essence == "application/json" || essence.ends_with("+json")) {
            return Err(ApiError::UnsupportedMediaType(format!("content type {essence:?}: expected application/json")));
        }
    }
    let body = body_bytes(body, limit_bytes)?;
    if body.len() as u64 > limit_bytes {
        return Err(ApiError::PayloadTooLarge(format!("request body is larger than the limit of {limit_bytes} bytes")));
    }
    serde_json::from_slice(&body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::BadRequest(format!("request body is not valid JSON: {e}"))
        } else {
            ApiError::Unprocessable(format!("invalid request body: {e}"))
        }
    })
}

pub(crate) fn multipart_rejection(rejection: MultipartRejection) -> ApiError {
    ApiError::UnsupportedMediaType(format!(
        "expected a multipart/form-data body with a file field `audio` ({})",
        rejection.body_text()
    ))
}

pub(crate) fn multipart_error(error: MultipartError, limit_bytes: u64) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!("upload is larger than the limit of {limit_bytes} bytes"))
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", error.body_text()))
    }
}

/// Reads one multipart field into memory, refusing more than `limit_bytes` (413).
pub(crate) async fn read_field(mut field: Field<'_>, limit_bytes: u64, what: &str) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if (bytes.len() + chunk.len()) as u64 > limit_bytes {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "{what} is larger than the limit of {limit_bytes} bytes"
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(error) => return Err(multipart_error(error, limit_bytes)),
        }
    }
}

/// Content types accepted on an audio file part: none, `application/octet-stream`, or audio.
pub(crate) fn check_audio_part_type(content_type: Option<&str>) -> ApiResult<()> {
    let Some(content_type) = content_type else { return Ok(()) };
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let accepted = essence.is_empty()
        || essence.starts_with("audio/")
        || matches!(essence.as_str(), "application/octet-stream" | "application/ogg" | "video/ogg");
    if accepted {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "the `audio` part has content type {essence:?}; expected an audio type (audio/wav, audio/mpeg, audio/flac, audio/ogg) or application/octet-stream"
        )))
    }
}

/// Longest client-chosen identifier (speaker, script, agent, team, external call ids), in bytes.
pub(crate) const MAX_CLIENT_ID_BYTES: usize = 128;

/// Ids chosen by clients (scripts, speakers): 1–128 of `A-Z a-z 0-9 . _ -`, so they are safe in
/// paths, logs and file names. The error quotes at most the start of a long id.
pub(crate) fn check_client_id(what: &str, id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_BYTES
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(format!(
            "invalid {what} {:?}: use 1 to {MAX_CLIENT_ID_BYTES} characters from A-Z, a-z, 0-9, '.', '_', '-'",
            clip_for_message(id)
        )))
    }
}

/// Free-text identifiers a client attaches to a call (agent id, team, customer id, external call
/// id): 1 to 128 bytes of printable text (no control characters). The value is not quoted back.
pub(crate) fn check_client_text(what: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() {
        return Err(ApiError::Unprocessable(format!("{what} must not be empty")));
    }
    if value.len() > MAX_CLIENT_ID_BYTES {
        return Err(ApiError::Unprocessable(format!(
            "{what} is {} bytes long; at most {MAX_CLIENT_ID_BYTES} bytes are allowed",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(format!("{what} must be printable text (no control characters)")));
    }
    Ok(())
}

/// Client text quoted in an error message: at most 64 characters, then how long it really was,
/// so a 10 KB value is not echoed back (or logged) whole.
pub(crate) fn clip_for_message(text: &str) -> String {
    const SHOWN_CHARS: usize = 64;
    match text.char_indices().nth(SHOWN_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
    }
}

/// A pagination cursor: the offset of the next page, as an opaque string.
pub(crate) fn parse_cursor(cursor: Option<&str>) -> ApiResult<i64> {
    match cursor {
        None => Ok(0),
        Some(text) if is_digits(text, 1, 15) => {
            text.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("invalid cursor {text:?}")))
        }
        Some(text) => Err(ApiError::BadRequest(format!("invalid cursor {text:?}"))),
    }
}

/// ASCII digits only, `min..=max` of them (the OpenAPI patterns use `[0-9]{m,n}`).
fn is_digits(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// White space as ECMAScript regular expressions (`\s`, used by the OpenAPI patterns) define it,
/// so the server accepts exactly what the document allows.
pub(crate) fn is_ecma_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}'
            | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

pub(crate) fn page_limit(limit: Option<i64>, default: i64, max: i64) -> ApiResult<i64> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(limit) => Err(ApiError::BadRequest(format!("limit must be between 1 and {max}, got {limit}"))),
    }
}

/// Which end of a day a bare date stands for in a range filter.
#[derive(Clone, Copy)]
pub(crate) enum DateBound {
    /// `from=2026-11-01` means from the start of that day.
    Start,
    /// `to=2026-11-30` includes that whole day: the exclusive bound is the next midnight.
    EndExclusive,
}

/// Parses a range bound: `YYYY-MM-DD`, RFC 3339 `YYYY-MM-DDTHH:MM:SSZ`, or Unix seconds.
pub(crate) fn parse_time_bound(name: &str, text: &str, bound: DateBound) -> ApiResult<i64> {
    let invalid = || {
        ApiError::BadRequest(format!(
            "invalid {name} {:?}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix seconds",
            clip_for_message(text)
        ))
    };
    if is_digits(text, 1, 12) {
        return text.parse::<i64>().map_err(|_| invalid());
    }
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let (Ok(year), Ok(month), Ok(day)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(invalid());
    };
    if !is_digits(y, 4, 4) || !is_digits(m, 2, 2) || !is_digits(d, 2, 2) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(invalid());
    }
    // Well formed but not a real day (2026-02-30): the request is understood and cannot be
    // served, so 422 rather than 400, and never silently the next month's day.
    if day > days_in_month(year, month) {
        return Err(ApiError::Unprocessable(format!(
            "invalid {name} {date:?}: {year:04}-{month:02} has {} days",
            days_in_month(year, month)
        )));
    }
    let day_start = days_from_civil(year, month, day) * 86_400;
    match time {
        None => Ok(match bound {
            DateBound::Start => day_start,
            DateBound::EndExclusive => day_start + 86_400,
        }),
        Some(time) => {
            let time = time.strip_suffix('Z').ok_or_else(invalid)?;
            let mut hms = time.split(':');
            let (Some(h), Some(mi), Some(s), None) = (hms.next(), hms.next(), hms.next(), hms.next()) else {
                return Err(invalid());
            };
            if !is_digits(h, 2, 2) || !is_digits(mi, 2, 2) || !is_digits(s, 2, 2) {
                return Err(invalid());
            }
            let (Ok(h), Ok(mi), Ok(s)) = (h.parse::<i64>(), mi.parse::<i64>(), s.parse::<i64>()) else {
                return Err(invalid());
            };
            if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60).contains(&s) {
                return Err(invalid());
            }
            Ok(day_start + h * 3600 + mi * 60 + s)
        }
    }
}

/// A `[from, to)` range from optional query strings; `from` after `to` is a 400.
pub(crate) fn parse_range(from: Option<&str>, to: Option<&str>) -> ApiResult<callsight_workers::store::TimeRange> {
    let from = from.map(|t| parse_time_bound("from", t, DateBound::Start)).transpose()?;
    // `from` after `to` is an empty range, not an error.
    let before = to.map(|t| parse_time_bound("to", t, DateBound::EndExclusive)).transpose()?;
    Ok(callsight_workers::store::TimeRange { from, before })
}

/// Writes a file whole or not at all, and durably: a uniquely named temporary beside it, fsync,
/// rename, fsync of the directory (the temporary is removed on failure). Readers never see half a
/// file, concurrent writers of the same path never share a temporary, and a renamed file survives
/// a power cut.
pub(crate) fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".partial-{}", callsight_workers::new_id()));
    let temporary = std::path::PathBuf::from(temporary);
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Makes a rename in `path`'s directory durable: the directory entry is synced too.
pub(crate) fn sync_parent(path: &std::path::Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs blocking work on the blocking pool; a panic there is an internal error, not a crash.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        let secs = parse_time_bound("from", "2026-11-23T16:40:05Z", DateBound::Start).unwrap_or_default();
        assert_eq!(rfc3339(secs), "2026-11-23T16:40:05Z");
        let start = parse_time_bound("from", "2024-02-29", DateBound::Start).unwrap_or_default();
        let end = parse_time_bound("to", "2024-02-29", DateBound::EndExclusive).unwrap_or_default();
        assert_eq!(end - start, 86_400);
        assert_eq!(rfc3339(start), "2024-02-29T00:00:00Z");
        assert!(parse_time_bound("from", "2024-13-01", DateBound::Start).is_err());
        assert!(parse_time_bound("from", "yesterday", DateBound::Start).is_err());
    }

    #[test]
    fn dates_that_do_not_exist_are_unprocessable() {
        for text in ["2026-02-30", "2026-02-29", "2026-04-31", "1900-02-29", "2026-02-30T10:00:00Z"] {
            let result = parse_time_bound("to", text, DateBound::EndExclusive);
            assert!(matches!(result, Err(ApiError::Unprocessable(_))), "{text}: {result:?}");
        }
        assert!(parse_time_bound("to", "2000-02-29", DateBound::EndExclusive).is_ok());
        assert!(parse_time_bound("to", "2026-12-31", DateBound::EndExclusive).is_ok());
    }

    #[test]
    fn long_client_text_is_not_echoed() {
        let long_id = "a".repeat(10_000);
        let Err(ApiError::Unprocessable(message)) = check_client_id("speaker id", &long_id) else {
            panic!("a 10 KB id is refused");
        };
        assert!(message.len() < 300, "{message}");
        assert!(message.contains("10000 bytes"), "{message}");
        let Err(ApiError::Unprocessable(message)) = check_client_text("metadata agent_id", &"\u{e9}".repeat(100)) else {
            panic!("200 bytes of text is refused");
        };
        assert!(!message.contains('\u{e9}'), "{message}");
        assert!(check_client_text("team", "line\nbreak").is_err());
        assert!(check_client_text("team", "=HYPERLINK(\"x\")").is_ok(), "printable text is allowed (CSV export neutralises it)");
        assert!(check_client_id("speaker id", &"a".repeat(128)).is_ok());
    }
}
