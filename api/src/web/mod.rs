//! The web pages for QA reviewers and managers, served by `callsight serve` itself: sign-in with
//! an API key into a cookie session, and a small single-page app (HTML, CSS and vanilla JS
//! embedded in the binary) that reads and writes everything through the `/v1` JSON API.
//!
//! Routes: `GET /` (sign-in page), `POST /web/session` (sign in), `GET /web/me` (who am I + CSRF
//! token), `POST /web/sign-out`, `GET /app/...` (the app shell), `GET /assets/{file}`, and
//! `GET /web/calls/{id}/waveform` (peaks for the review page). Roles and tenants apply exactly as
//! on the API: the cookie resolves to the same [`Caller`] as the key it was opened with.

mod assets;
pub mod session;
pub mod waveform;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::server::AppState;
use crate::server::auth::{Caller, Role};
use crate::server::error::{ApiError, ApiResult};
pub use session::{SessionCredentials, resolve_session};
use session::{SESSION_COOKIE, SESSION_TTL_SECS, error_response, role_has_pages, session_token};

/// The routes anyone may reach: the pages themselves (static, no data; the shell redirects to
/// sign-in without a session) and the sign-in form's target. Merged into [`crate::server::app`]
/// outside its auth layer: being public is a property of the router, not of a path list.
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/", get(sign_in_page))
        .route("/app", get(app_shell))
        .route("/app/", get(app_shell))
        .route("/app/{*rest}", get(app_shell))
        .route("/assets/{file}", get(asset))
        .route("/web/session", post(sign_in))
}

/// The web routes that need a signed-in caller (the API's auth layer wraps them).
pub fn protected_router() -> Router<AppState> {
    Router::new()
        .route("/web/me", get(me))
        .route("/web/sign-out", post(sign_out))
        .route("/web/calls/{id}/waveform", get(waveform::waveform))
}

/// Headers every page carries: nothing from elsewhere may load, nothing may frame the page.
fn page_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn sign_in_html(message: Option<&str>) -> String {
    let message_html = match message {
        Some(text) => format!(r#"<p class="error" role="alert" id="sign-in-error">{}</p>"#, escape_html(text)),
        None => String::new(),
    };
    assets::SIGN_IN_HTML.replace("<!--MESSAGE-->", &message_html)
}

/// Whether the request carries a live session whose role has pages.
async fn has_page_session(state: &AppState, headers: &HeaderMap) -> ApiResult<bool> {
    let Some(token) = session_token(headers) else { return Ok(false) };
    Ok(state
        .store
        .web_session(&token)
        .await?
        .and_then(|session| Role::parse(&session.role))
        .is_some_and(role_has_pages))
}

/// `GET /`: the sign-in form, or straight into the app for a signed-in browser.
async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if has_page_session(&state, &headers).await? {
        return Ok(redirect("/app/"));
    }
    Ok(page_response(StatusCode::OK, sign_in_html(None)))
}

/// `GET /app/...`: the single-page app's shell (it routes on the path itself).
async fn app_shell(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if !has_page_session(&state, &headers).await? {
        return Ok(redirect("/"));
    }
    Ok(page_response(StatusCode::OK, assets::APP_HTML.to_string()))
}

async fn asset(Path(file): Path<String>) -> Response {
    match assets::find(&file) {
        Some((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        None => ApiError::NotFound("asset").into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    pub api_key: String,
}

/// The sign-in form must come from one of our own pages: a browser always sends `Origin` on a
/// cross-site POST, and it must then name this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

fn session_cookie(headers: &HeaderMap, token: &str, max_age_secs: i64) -> String {
    // Behind a TLS-terminating proxy the cookie must never travel over plain HTTP.
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
    format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// `POST /web/session` (form `api_key`): checks the key exactly as the API does, refuses roles
/// without pages, opens a server-side session and sets its cookie.
async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> ApiResult<Response> {
    if !same_origin(&headers) {
        return Ok(page_response(StatusCode::FORBIDDEN, sign_in_html(Some("sign-in from another site is refused"))));
    }
    let Ok(Form(form)) = form else {
        return Ok(page_response(StatusCode::BAD_REQUEST, sign_in_html(Some("enter an API key"))));
    };
    let key = form.api_key.trim();
    if key.is_empty() {
        return Ok(page_response(StatusCode::BAD_REQUEST, sign_in_html(Some("enter an API key"))));
    }
    let Some(info) = state.store.authenticate(key).await? else {
        return Ok(page_response(StatusCode::UNAUTHORIZED, sign_in_html(Some("unknown or revoked API key"))));
    };
    let Some(role) = Role::parse(&info.role) else {
        return Ok(page_response(StatusCode::UNAUTHORIZED, sign_in_html(Some("this API key has an unknown role"))));
    };
    if !role_has_pages(role) {
        let message = format!(
            "{} keys have no web pages: they are for machines (the IVR, call recorders). Sign in with a qa, manager or admin key.",
            role.as_str()
        );
        return Ok(page_response(StatusCode::FORBIDDEN, sign_in_html(Some(&message))));
    }
    let created = state.store.create_web_session(&info, SESSION_TTL_SECS).await?;
    tracing::info!(key_id = %info.id, tenant = %info.tenant, role = %info.role, "web sign-in");
    let cookie = session_cookie(&headers, &created.token, SESSION_TTL_SECS);
    let mut response = redirect("/app/");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Debug, Serialize)]
pub struct Me {
    pub key_id: String,
    pub tenant: String,
    pub role: String,
    /// Send back as `X-CSRF-Token` on every POST/PUT/DELETE.
    pub csrf_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// `GET /web/me`: the signed-in key's identity and the session's CSRF token.
async fn me(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult<Response> {
    let session = match session_token(&headers) {
        Some(token) => state.store.web_session(&token).await?,
        None => None,
    };
    let Some(session) = session else {
        return Ok(error_response(StatusCode::UNAUTHORIZED, "unauthorized", "no web session: sign in at /"));
    };
    let body = Me {
        key_id: caller.key_id,
        tenant: caller.tenant,
        role: caller.role.as_str().to_string(),
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response())
}

/// `POST /web/sign-out` (CSRF-checked like every unsafe request): ends the session.
async fn sign_out(State(state): State<AppState>, _caller: Caller, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = session_token(&headers) {
        state.store.delete_web_session(&token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&session_cookie(&headers, "", 0)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_sign_in_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().expect("header"));
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().expect("header"));
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().expect("header"));
        assert!(!same_origin(&headers));
    }

    #[test]
    fn messages_are_escaped() {
        assert_eq!(escape_html("<b>\"x\" & 'y'"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;");
    }
}
