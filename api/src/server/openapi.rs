//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! wire types. Errors every protected operation can answer (401, 403, 429, ...) are added here
//! once instead of on each handler.

use axum::Json;
use utoipa::openapi::content::Content;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};
use super::speaker_service::{
    BiometricReason, EnrolResponse, EnrolStatus, IdentifyCandidate, IdentifyResponse, SpeakerKind, VerifyDecision,
    VerifyResponse, WatchlistHit,
};
use super::wire::*;
use super::{aggregates, calls, health, reviews, scripts, speakers, streams, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Callsight API",
        description = "Speech analytics and voice biometrics for contact centres. Authenticate with `Authorization: Bearer <api key>`.",
        version = "1"
    ),
    paths(
        calls::upload_call, calls::list_calls, calls::get_call, calls::get_report, calls::get_transcript,
        calls::get_audio, calls::reanalyze_call, calls::delete_call, calls::search,
        scripts::create_script, scripts::list_scripts, scripts::get_script, scripts::update_script,
        scripts::delete_script, scripts::rescore_script,
        reviews::add_review, reviews::list_reviews,
        speakers::enrol, speakers::verify, speakers::identify, speakers::watchlist_add, speakers::delete_speaker,
        speakers::list_audit, speakers::call_biometrics,
        aggregates::compliance, aggregates::sentiment, aggregates::handling,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::delete_webhook,
        streams::open_stream,
        health::healthz, health::readyz, health::metrics, serve_openapi,
    ),
    components(schemas(
        ErrorBody, ErrorDetail,
        CallMetadata, UploadCallForm, SpeakerProbeForm, EnrolForm, WatchlistForm, EnrolKindParam, EnrolModeParam, SentimentParam, StatusParam,
        SortParam, TranscriptFormat, GroupByParam, EventName, CallAccepted, CallView, CallSummaryView, CustomerSentiment,
        CallList, Transcript, TranscriptTurn, TranscriptWord, SearchResults, SearchHitView,
        ScriptView, ScriptList, RescoreAccepted, Verdict, NewReview, ReviewView, ReviewList,
        AuditEntryView, AuditList, CallBiometrics, CallBiometricEntry, ComplianceAggregate, ComplianceBucketView, RuleFailureView,
        SentimentAggregate, SentimentDay, aggregates::HandlingAggregate, aggregates::HandlingBucketView, NewWebhook, WebhookView, WebhookList, HealthStatus,
        SpeakerKind, BiometricReason, EnrolStatus, EnrolResponse, VerifyDecision, WatchlistHit, VerifyResponse,
        IdentifyCandidate, IdentifyResponse,
        streams::StreamStart, streams::StreamMessage, streams::StreamWord, streams::StreamSentiment,
    )),
    modifiers(&CommonResponses),
    security(("api_key" = [])),
    tags(
        (name = "calls", description = "Upload, status, reports, transcripts, audio, search"),
        (name = "scripts", description = "Compliance scripts and re-scoring"),
        (name = "reviews", description = "QA verdicts on rule results"),
        (name = "speakers", description = "Voice biometrics for the IVR, and its audit trail"),
        (name = "aggregates", description = "Dashboard numbers"),
        (name = "webhooks", description = "Event subscriptions"),
        (name = "streams", description = "Live calls over a WebSocket: partial and final transcripts, alerts, verification"),
        (name = "health", description = "Liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// Paths reachable without an API key.
const PUBLIC_PATHS: &[&str] = &["/healthz", "/readyz", "/v1/openapi.json"];

struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("API key").build()),
        );
        // The operator's credential for `/metrics` (server.metrics_token); not an API key.
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("metrics token").build()),
        );
        let error = || Content::new(Some(Ref::from_schema_name("ErrorBody")));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = PUBLIC_PATHS.contains(&path.as_str());
            let operations = [
                (&mut item.get, false),
                (&mut item.delete, false),
                (&mut item.post, true),
                (&mut item.put, true),
            ];
            for (operation, has_body) in operations {
                let Some(operation) = operation.as_mut() else { continue };
                let mut add = |code: &str, description: &str, with_body: bool| {
                    operation.responses.responses.entry(code.to_string()).or_insert_with(|| {
                        let mut response = ResponseBuilder::new().description(description);
                        if with_body {
                            response = response.content("application/json", error());
                        }
                        RefOr::T(response.build())
                    });
                };
                add("408", "Request timed out", false);
                if public {
                    continue;
                }
                add("400", "Malformed request", true);
                add("401", "Missing, malformed or unknown API key", true);
                add("403", "The key's role may not do this", true);
                add("429", "Rate limit of the key exceeded; see Retry-After", true);
                add("503", "Database unavailable; see Retry-After", true);
                if has_body {
                    add("413", "Body over the size limit", true);
                    add("415", "Unsupported content type", true);
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object))
)]
pub(crate) async fn serve_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The OpenAPI document as JSON text (for tests and `callsight openapi`).
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
