//! Who may do what: API-key authentication (or a web session cookie, see `crate::web`), the
//! role × action matrix (in one place); the per-key rate limit is applied here (kept in the
//! database, shared by every API process: see `super::limits`). Server-wide metrics are not in
//! the matrix: no tenant role reads them, only the operator's metrics token.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

/// The roles an API key carries (stored as text in the key's row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    /// Quality assurance: calls (upload, read, re-analyse), scripts, reviews.
    Qa,
    /// Dashboards: aggregates and read-only access to calls, scripts and reviews.
    Manager,
    /// The IVR: speaker verification and identification only.
    Ivr,
    /// A call recorder: uploads only.
    Ingest,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "admin" => Role::Admin,
            "qa" => Role::Qa,
            "manager" => Role::Manager,
            "ivr" => Role::Ivr,
            "ingest" => Role::Ingest,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Qa => "qa",
            Role::Manager => "manager",
            Role::Ivr => "ivr",
            Role::Ingest => "ingest",
        }
    }

    pub const ALL: [Role; 5] = [Role::Admin, Role::Qa, Role::Manager, Role::Ivr, Role::Ingest];
}

/// Every protected action of the API; each handler asks for exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    UploadCall,
    ReadCalls,
    ReanalyzeCall,
    /// Erase a call: audio, transcript, report, reviews (a data-subject request).
    DeleteCall,
    ReadScripts,
    WriteScripts,
    ReadReviews,
    WriteReviews,
    EnrolSpeaker,
    VerifySpeaker,
    IdentifySpeaker,
    AddToWatchlist,
    DeleteSpeaker,
    ReadAudit,
    ReadAggregates,
    ManageWebhooks,
    /// Stream a live call over `GET /v1/streams`.
    StreamCalls,
}

impl Action {
    /// For the 403 message: "this api key's role (ivr) may not read calls".
    pub fn describe(self) -> &'static str {
        match self {
            Action::UploadCall => "upload calls",
            Action::ReadCalls => "read calls",
            Action::ReanalyzeCall => "re-analyse calls",
            Action::DeleteCall => "delete calls",
            Action::ReadScripts => "read scripts",
            Action::WriteScripts => "change scripts",
            Action::ReadReviews => "read reviews",
            Action::WriteReviews => "write reviews",
            Action::EnrolSpeaker => "enrol speakers",
            Action::VerifySpeaker => "verify speakers",
            Action::IdentifySpeaker => "identify speakers",
            Action::AddToWatchlist => "add to the watchlist",
            Action::DeleteSpeaker => "delete speakers",
            Action::ReadAudit => "read the audit trail",
            Action::ReadAggregates => "read aggregates",
            Action::ManageWebhooks => "manage webhooks",
            Action::StreamCalls => "stream live calls",
        }
    }
}

/// THE role matrix. Exhaustive over roles and actions: adding either forces a decision here.
pub fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Admin => true,
        Role::Qa => match action {
            UploadCall | ReadCalls | ReanalyzeCall | ReadScripts | WriteScripts | ReadReviews | WriteReviews => true,
            DeleteCall | EnrolSpeaker | VerifySpeaker | IdentifySpeaker | AddToWatchlist | DeleteSpeaker
            | ReadAudit | ReadAggregates | ManageWebhooks | StreamCalls => false,
        },
        Role::Manager => match action {
            ReadCalls | ReadScripts | ReadReviews | ReadAggregates => true,
            UploadCall | ReanalyzeCall | DeleteCall | WriteScripts | WriteReviews | EnrolSpeaker | VerifySpeaker
            | IdentifySpeaker | AddToWatchlist | DeleteSpeaker | ReadAudit | ManageWebhooks | StreamCalls => false,
        },
        Role::Ivr => match action {
            VerifySpeaker | IdentifySpeaker => true,
            UploadCall | ReadCalls | ReanalyzeCall | DeleteCall | ReadScripts | WriteScripts | ReadReviews
            | WriteReviews | EnrolSpeaker | AddToWatchlist | DeleteSpeaker | ReadAudit | ReadAggregates | ManageWebhooks
            | StreamCalls => false,
        },
        Role::Ingest => match action {
            UploadCall | StreamCalls => true,
            ReadCalls | ReanalyzeCall | DeleteCall | ReadScripts | WriteScripts | ReadReviews | WriteReviews
            | EnrolSpeaker | VerifySpeaker | IdentifySpeaker | AddToWatchlist | DeleteSpeaker | ReadAudit | ReadAggregates
            | ManageWebhooks => false,
        },
    }
}

/// The authenticated caller, put into the request's extensions by [`authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub tenant: String,
    pub role: Role,
}

impl Caller {
    /// `Forbidden` unless the caller's role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if role_allows(self.role, action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden { role: self.role.as_str().to_string(), action: action.describe() })
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Present on every route behind `authenticate`; absent means a public route asked for it.
        parts.extensions.get::<Caller>().cloned().ok_or(ApiError::MissingCredentials)
    }
}

/// Middleware: resolves `Authorization: Bearer KEY` (or a web session) to a [`Caller`] and
/// applies the key's rate limit. It wraps the protected routers only (see [`super::app`]).
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // Only the header is held across the database await (a request body is not `Sync`).
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    // Without a key, a browser signed in to the web pages may present its session cookie: the
    // same caller as the key it was opened with, plus the CSRF check on unsafe methods.
    let session = if authorization.is_none() { crate::web::SessionCredentials::from_request(&request) } else { None };
    let resolved = match session {
        Some(credentials) => crate::web::resolve_session(&state, credentials).await,
        None => resolve_caller(&state, authorization).await.map_err(IntoResponse::into_response),
    };
    match resolved {
        Ok(caller) => {
            if let Err(refused) = super::limits::check_request_rate(&state, &caller.key_id).await {
                return refused.into_response();
            }
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(response) => response,
    }
}

async fn resolve_caller(state: &AppState, authorization: Option<header::HeaderValue>) -> Result<Caller, ApiError> {
    let header_value = authorization.ok_or(ApiError::MissingCredentials)?;
    let text = header_value.to_str().map_err(|_| ApiError::MissingCredentials)?;
    let (scheme, key) = text.trim().split_once(' ').ok_or(ApiError::MissingCredentials)?;
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err(ApiError::MissingCredentials);
    }
    let info = state.store.authenticate(key.trim()).await?.ok_or(ApiError::InvalidCredentials)?;
    let role = Role::parse(&info.role).ok_or_else(|| {
        // A key with a role this build does not know grants nothing.
        tracing::warn!(key_id = %info.id, role = %info.role, "api key has an unknown role");
        ApiError::InvalidCredentials
    })?;
    Ok(Caller { key_id: info.id, tenant: info.tenant, role })
}
