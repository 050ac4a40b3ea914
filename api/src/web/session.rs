//! Cookie sessions for the web pages: reading the `callsight_session` cookie, turning it into the
//! same [`Caller`] an API key gives, and the CSRF check for unsafe methods.
//!
//! A signed-in browser sends its cookie on every same-site request; `SameSite=Strict` keeps other
//! sites from sending it, and the `X-CSRF-Token` header (which only the pages can read, from
//! `GET /web/me`) is required on every request that could change something.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::server::AppState;
use crate::server::auth::{Caller, Role};
use crate::server::error::{ApiError, ErrorBody, ErrorDetail};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "callsight_session";
/// Header that must carry the session's CSRF token on unsafe methods.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a sign-in lasts: one working shift.
pub const SESSION_TTL_SECS: i64 = 8 * 3600;

/// What a request offers to be authenticated by cookie; taken before any `.await` so the request
/// itself (whose body is not `Sync`) is not held across the database lookup.
#[derive(Debug, Clone)]
pub struct SessionCredentials {
    token: String,
    csrf_header: Option<String>,
    unsafe_method: bool,
}

impl SessionCredentials {
    /// `Some` when the request carries the session cookie.
    pub fn from_request(request: &Request) -> Option<SessionCredentials> {
        let token = session_token(request.headers())?;
        let csrf_header = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        Some(SessionCredentials { token, csrf_header, unsafe_method: !is_safe_method(request.method()) })
    }
}

fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session token from the `Cookie` header(s), if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// The roles that get web pages; `ivr` and `ingest` keys are machine credentials.
pub fn role_has_pages(role: Role) -> bool {
    match role {
        Role::Admin | Role::Qa | Role::Manager => true,
        Role::Ivr | Role::Ingest => false,
    }
}

/// Resolves a session cookie to its caller with exactly the key's tenant and role; refuses an
/// unknown or expired session (401) and an unsafe request without the matching CSRF token (403).
pub async fn resolve_session(state: &AppState, credentials: SessionCredentials) -> Result<Caller, Response> {
    let session = state
        .store
        .web_session(&credentials.token)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(|| {
            error_response(StatusCode::UNAUTHORIZED, "unauthorized", "the web session has expired or was signed out; sign in again")
        })?;
    let role = Role::parse(&session.role).filter(|role| role_has_pages(*role)).ok_or_else(|| {
        tracing::warn!(key_id = %session.key_id, role = %session.role, "web session with a role that has no pages");
        ApiError::InvalidCredentials.into_response()
    })?;
    if credentials.unsafe_method && !constant_time_eq(credentials.csrf_header.as_deref().unwrap_or(""), &session.csrf_token) {
        return Err(error_response(
            StatusCode::FORBIDDEN,
            "csrf",
            "missing or wrong X-CSRF-Token header: a request authenticated by the session cookie must carry the token from GET /web/me",
        ));
    }
    Ok(Caller { key_id: session.key_id, tenant: session.tenant, role })
}

/// Compares secrets without stopping at the first difference.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The API's JSON error envelope for the web module's own refusals.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody { error: ErrorDetail { code: code.to_string(), message: message.to_string(), line: None } };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "theme=dark; callsight_session=abc123 ; other=1".parse().expect("header"));
        assert_eq!(session_token(&headers).as_deref(), Some("abc123"));
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, "callsight_session=; x=1".parse().expect("header"));
        assert_eq!(session_token(&empty), None);
    }

    #[test]
    fn csrf_comparison_needs_equal_tokens() {
        assert!(constant_time_eq("abcd", "abcd"));
        assert!(!constant_time_eq("abcd", "abce"));
        assert!(!constant_time_eq("", "abcd"));
    }
}
