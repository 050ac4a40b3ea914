//! Request and response bodies of the HTTP API (the OpenAPI schemas), converted explicitly from
//! the store's records so a schema change in the database never silently changes the wire.

use std::collections::BTreeMap;

use callsight_workers::store::{AuditEntry, CallRecord, Review, ScriptVersion, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::util::rfc3339;

/// The optional `metadata` part of an upload.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallMetadata {
    /// The recorder's id for the call; unique per tenant (a second upload with it gets 409).
    pub external_call_id: Option<String>,
    pub agent_id: Option<String>,
    pub team: Option<String>,
    pub customer_id: Option<String>,
    /// Which party is on which channel: `agent,customer`, `customer,agent` or `mixed` (default).
    pub channels: Option<String>,
    /// Compliance script to evaluate; must exist for the tenant.
    pub script_id: Option<String>,
    /// A specific version of `script_id` (default: the latest).
    pub script_version: Option<i64>,
    /// Expected language, e.g. `en`.
    pub language: Option<String>,
}

/// `multipart/form-data` body of `POST /v1/calls` (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadCallForm {
    /// The recording: WAV (PCM, µ-law, A-law), FLAC, Ogg/Vorbis or MP3.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub audio: String,
    /// JSON text of [`CallMetadata`].
    pub metadata: Option<CallMetadata>,
}

/// `multipart/form-data` body of the speaker endpoints.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SpeakerAudioForm {
    /// One recording (enrolment accepts several `audio` parts, one per clip).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub audio: String,
    /// Enrolment only: `customer` (default) or `agent`.
    pub kind: Option<String>,
    /// Enrolment only: overrides the minimum net speech (seconds).
    pub min_net_speech_secs: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallAccepted {
    pub call_id: String,
    pub job_id: String,
    /// Always `queued`.
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerSentiment {
    pub label: String,
    pub score: Option<f64>,
}

/// What the analysis concluded, once the call is analysed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallSummaryView {
    pub duration_secs: Option<f64>,
    pub flagged: Option<bool>,
    /// Weighted share of passed script rules, 0..1.
    pub compliance_score: Option<f64>,
    pub failed_rules: Option<i64>,
    pub customer_sentiment: Option<CustomerSentiment>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallView {
    pub call_id: String,
    /// `queued`, `running`, `analyzed` or `failed`.
    pub status: String,
    /// Why the analysis failed (status `failed`).
    pub error: Option<String>,
    pub external_call_id: Option<String>,
    pub agent_id: Option<String>,
    pub team: Option<String>,
    pub customer_id: Option<String>,
    pub script_id: Option<String>,
    pub script_version: Option<i64>,
    pub language: Option<String>,
    /// `agent_customer`, `customer_agent` or `mixed`.
    pub channel_layout: Option<String>,
    pub audio_bytes: i64,
    pub audio_sha256: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub analyzed_at: Option<String>,
    /// `null` until analysed.
    pub summary: Option<CallSummaryView>,
}

impl From<CallRecord> for CallView {
    fn from(call: CallRecord) -> Self {
        let summary = call.analyzed_at.map(|_| CallSummaryView {
            duration_secs: call.duration_secs,
            flagged: call.flagged,
            compliance_score: call.compliance_score,
            failed_rules: call.failed_rules,
            customer_sentiment: call
                .customer_sentiment_label
                .clone()
                .map(|label| CustomerSentiment { label, score: call.customer_sentiment_score }),
        });
        CallView {
            call_id: call.id,
            status: call.status.as_str().to_string(),
            error: call.error,
            external_call_id: call.external_call_id,
            agent_id: call.agent_id,
            team: call.team,
            customer_id: call.customer_id,
            script_id: call.script_id,
            script_version: call.script_version,
            language: call.language_hint,
            channel_layout: call.channel_layout,
            audio_bytes: call.audio_bytes,
            audio_sha256: call.audio_sha256,
            created_at: rfc3339(call.created_at),
            analyzed_at: call.analyzed_at.map(rfc3339),
            summary,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallList {
    pub calls: Vec<CallView>,
    /// Calls matching the filters, over all pages.
    pub total: i64,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListCallsQuery {
    pub agent: Option<String>,
    pub team: Option<String>,
    pub script: Option<String>,
    /// Start date (inclusive): `YYYY-MM-DD`, RFC 3339 or Unix seconds.
    pub from: Option<String>,
    /// End date (a bare date includes that whole day).
    pub to: Option<String>,
    pub flagged: Option<bool>,
    /// Only calls where this script rule failed.
    pub rule_failed: Option<String>,
    /// Customer sentiment label: `positive`, `neutral` or `negative`.
    pub sentiment: Option<String>,
    /// `queued`, `running`, `analyzed` or `failed`.
    pub status: Option<String>,
    /// `date` (newest first, default), `date_asc` or `severity` (flagged, most failed rules first).
    pub sort: Option<String>,
    /// 1..=200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TranscriptQuery {
    /// `json` (default), `srt` or `vtt`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TranscriptWord {
    pub text: String,
    pub start_secs: f64,
    pub end_secs: f64,
    pub confidence: f32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TranscriptTurn {
    /// `agent`, `customer` or `unknown`.
    pub speaker: String,
    pub start_secs: f64,
    pub end_secs: f64,
    pub text: String,
    pub words: Vec<TranscriptWord>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Transcript {
    pub call_id: String,
    pub language: String,
    pub duration_secs: f64,
    pub turns: Vec<TranscriptTurn>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words that must all occur in the transcript (any order).
    pub q: Option<String>,
    /// 1..=200, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchHitView {
    pub call_id: String,
    /// Excerpt with the matched words in `[` `]`.
    pub snippet: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    pub hits: Vec<SearchHitView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScriptView {
    pub script_id: String,
    pub version: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub n_rules: usize,
    pub created_at: String,
    /// The validated script (JSON form of the uploaded JSON or YAML).
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

impl From<ScriptVersion> for ScriptView {
    fn from(script: ScriptVersion) -> Self {
        let text = |key: &str| script.body.get(key).and_then(|v| v.as_str()).map(str::to_string);
        ScriptView {
            name: text("name"),
            description: text("description"),
            n_rules: script.body.get("rules").and_then(|r| r.as_array()).map_or(0, Vec::len),
            script_id: script.script_id,
            version: script.version,
            created_at: rfc3339(script.created_at),
            body: script.body,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScriptList {
    pub scripts: Vec<ScriptView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScriptVersionQuery {
    /// A specific version (default: the latest).
    pub version: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RescoreAccepted {
    pub script_id: String,
    /// The version the calls will be scored against (the latest).
    pub version: i64,
    pub jobs_enqueued: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Agree,
    Disagree,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    /// Per script rule id of the call: does the reviewer agree with the automatic result?
    pub verdicts: BTreeMap<String, Verdict>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewView {
    pub review_id: String,
    pub call_id: String,
    /// Id of the API key that wrote the review.
    pub reviewer_key_id: String,
    #[schema(value_type = Object)]
    pub verdicts: serde_json::Value,
    pub note: Option<String>,
    pub created_at: String,
}

impl From<Review> for ReviewView {
    fn from(review: Review) -> Self {
        ReviewView {
            review_id: review.id,
            call_id: review.call_id,
            reviewer_key_id: review.reviewer_key_id,
            verdicts: review.verdicts,
            note: review.note,
            created_at: rfc3339(review.created_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewList {
    pub reviews: Vec<ReviewView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub speaker_id: Option<String>,
    /// `enrol`, `verify`, `identify`, `watchlist_add`, `delete`.
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    pub actor_key_id: Option<String>,
    pub action: String,
    pub speaker_id: Option<String>,
    pub outcome: String,
    pub score: Option<f64>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: String,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(entry: AuditEntry) -> Self {
        AuditEntryView {
            id: entry.id,
            actor_key_id: entry.actor_key_id,
            action: entry.action,
            speaker_id: entry.speaker_id,
            outcome: entry.outcome,
            score: entry.score,
            details: entry.details,
            created_at: rfc3339(entry.created_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntryView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// `agent`, `team`, `script` or `day` (default).
    pub group_by: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleFailureView {
    pub rule_id: String,
    pub checks: i64,
    pub failures: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ComplianceBucketView {
    /// The agent, team, script or day; `null` for calls without one.
    pub key: Option<String>,
    pub calls: i64,
    pub flagged_calls: i64,
    pub rule_checks: i64,
    pub rule_failures: i64,
    /// Passed checks / all checks; `null` when no rule was evaluated.
    pub compliance_rate: Option<f64>,
    pub mean_compliance_score: Option<f64>,
    pub rules: Vec<RuleFailureView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ComplianceAggregate {
    pub group_by: String,
    pub buckets: Vec<ComplianceBucketView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SentimentDay {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub calls: i64,
    /// Calls per customer sentiment label; `none` for calls without customer speech.
    pub by_label: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SentimentAggregate {
    pub days: Vec<SentimentDay>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `https://` (or `http://`) endpoint receiving JSON POSTs.
    pub url: String,
    /// Any of `call.analyzed`, `call.flagged`, `verification.decided`, `watchlist.hit`, or `*`.
    pub events: Vec<String>,
    /// HMAC key for `X-Callsight-Signature`; generated when absent (returned once).
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
    /// Only in the response to the creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    pub fn from_webhook(webhook: Webhook, with_secret: bool) -> Self {
        WebhookView {
            webhook_id: webhook.id,
            url: webhook.url,
            events: webhook.events,
            created_at: rfc3339(webhook.created_at),
            secret: with_secret.then_some(webhook.secret),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` / `ready`, or `unavailable`.
    pub status: String,
}
