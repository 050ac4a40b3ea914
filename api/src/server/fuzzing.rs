//! Entry points for the coverage-guided fuzz targets in `fuzz/` and for the tests that replay
//! their committed corpora (`api/tests/it/fuzz_corpus.rs`): the request parsers that need no
//! database, called exactly as the handlers call them. Not an API: every function takes raw
//! bytes and panics only when a parser breaks a promise (a panic is what the fuzzer reports):
//! bad input must be refused with a 4xx, never a 5xx or a panic.

use axum::extract::Query;
use axum::http::Uri;
use axum::response::IntoResponse;

use super::error::ApiError;
use super::wire::{AuditQuery, ComplianceQuery, ListCallsQuery, SearchQuery};
use super::{calls, streams, util};

/// Panics unless `error` is answered with a 4xx (and the answer can be built at all).
fn assert_client_error(error: ApiError, what: &str) {
    let message = error.to_string();
    let status = error.into_response().status();
    assert!(status.is_client_error(), "{what}: bad input answered {status}: {message}");
}

/// The `metadata` part of an upload (JSON), then its channel layout.
pub fn upload_metadata(bytes: &[u8]) {
    match calls::parse_metadata(Some(bytes)) {
        Ok(metadata) => {
            if let Some(channels) = metadata.channels.as_deref()
                && let Err(error) = calls::parse_channel_layout(channels)
            {
                assert_client_error(error, "metadata channels");
            }
        }
        Err(error) => assert_client_error(error, "metadata"),
    }
}

/// A `Range` header against a file length: the first 8 bytes are the length (little-endian),
/// the rest the header text. A range served must lie inside the file.
pub fn range_header(bytes: &[u8]) {
    let Some((length_bytes, header)) = bytes.split_first_chunk::<8>() else { return };
    let file_len = u64::from_le_bytes(*length_bytes);
    let Ok(header) = std::str::from_utf8(header) else { return };
    match calls::parse_range_header(header, file_len) {
        Ok(Some((start, end))) => {
            assert!(start <= end && end < file_len, "range {start}-{end} served from a file of {file_len} bytes");
        }
        Ok(None) => {}
        Err(error) => assert_client_error(error, "Range"),
    }
}

/// A query string as the list, audit, aggregate and search endpoints parse it: axum's `Query`
/// extraction, then the date range, page size and cursor checks.
pub fn query_string(bytes: &[u8]) {
    let Ok(query) = std::str::from_utf8(bytes) else { return };
    let Ok(uri) = format!("/v1/calls?{query}").parse::<Uri>() else { return };
    let check = |result: Result<(), ApiError>, what: &str| {
        if let Err(error) = result {
            assert_client_error(error, what);
        }
    };
    let list_calls = |uri: &Uri| -> Result<(), ApiError> {
        let query = util::query(Query::<ListCallsQuery>::try_from_uri(uri))?;
        util::parse_range(query.from.as_deref(), query.to.as_deref())?;
        util::page_limit(query.limit, 50, 200)?;
        util::parse_cursor(query.cursor.as_deref())?;
        Ok(())
    };
    check(list_calls(&uri), "list calls query");
    let audit = |uri: &Uri| -> Result<(), ApiError> {
        let query = util::query(Query::<AuditQuery>::try_from_uri(uri))?;
        util::parse_range(query.from.as_deref(), query.to.as_deref())?;
        util::page_limit(query.limit, 100, 1000)?;
        util::parse_cursor(query.cursor.as_deref())?;
        Ok(())
    };
    check(audit(&uri), "audit query");
    let compliance = |uri: &Uri| -> Result<(), ApiError> {
        let query = util::query(Query::<ComplianceQuery>::try_from_uri(uri))?;
        util::parse_range(query.from.as_deref(), query.to.as_deref())?;
        Ok(())
    };
    check(compliance(&uri), "aggregate query");
    let search = |uri: &Uri| -> Result<(), ApiError> {
        let query = util::query(Query::<SearchQuery>::try_from_uri(uri))?;
        util::page_limit(query.limit, 20, 200)?;
        Ok(())
    };
    check(search(&uri), "search query");
}

/// A text message on a live stream: the `start` message's checks, then (as every later text
/// message is) its `type`, and the encoding it names as the stream service parses it.
pub fn stream_message(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(start) = streams::parse_start_message(text) {
        if let Some(customer_id) = &start.claimed_customer_id {
            assert!(util::check_client_id("claimed_customer_id", customer_id).is_ok(), "unchecked customer id");
        }
        let _ = callsight_pipeline::streaming::SampleEncoding::parse(&start.encoding);
    }
    let _ = streams::client_message_type(text);
}
