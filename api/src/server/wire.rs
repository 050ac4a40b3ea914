//! Request and response bodies of the HTTP API (the OpenAPI schemas), converted explicitly from
//! the store's records so a schema change in the database never silently changes the wire.

use std::collections::BTreeMap;

use callsight_workers::store::{AuditEntry, CallRecord, Review, ScriptVersion, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::util::rfc3339;

/// For optional request fields that the document marks non-nullable: absent is `None`, an
/// explicit `null` is an error (as the schema says).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// The optional `metadata` part of an upload. The free-text ids are 1 to 128 bytes of printable
/// text (no control characters).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallMetadata {
    /// The recorder's id for the call; unique per tenant (a second upload with it gets 409).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, min_length = 1, max_length = 128)]
    pub external_call_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, min_length = 1, max_length = 128)]
    pub agent_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, min_length = 1, max_length = 128)]
    pub team: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, min_length = 1, max_length = 128)]
    pub customer_id: Option<String>,
    /// Which party is on which channel: `agent,customer`, `customer,agent` or `mixed` (default).
    /// A two-party layout needs a two-channel recording.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, pattern = r"^(agent,customer|customer,agent|mixed)$")]
    pub channels: Option<String>,
    /// Compliance script to evaluate; must exist for the tenant (else 422).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub script_id: Option<String>,
    /// A specific version of `script_id` (default: the latest).
    #[schema(nullable = false, minimum = 1)]
    pub script_version: Option<i64>,
    /// Expected language, e.g. `en`.
    #[schema(nullable = false, min_length = 1, max_length = 128)]
    pub language: Option<String>,
    /// Passive enrolment: add the customer channel's speech to `customer_id`'s voiceprint. Set
    /// it only for calls whose caller was authenticated, or an impostor's voice is enrolled.
    #[schema(nullable = false)]
    pub enroll_customer_voice: Option<bool>,
}

/// `multipart/form-data` body of `POST /v1/calls` (for the OpenAPI document; parts other than
/// these are ignored). `Deserialize` only so the schema is closed (`additionalProperties: false`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadCallForm {
    /// The recording: WAV (PCM, µ-law, A-law), FLAC, Ogg/Vorbis or MP3. It must decode (else 422).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub audio: String,
    /// JSON text of [`CallMetadata`].
    #[schema(nullable = false)]
    pub metadata: Option<CallMetadata>,
}

/// `multipart/form-data` body of verification and identification.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SpeakerProbeForm {
    /// One recording; it must decode and hold speech (else 422).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub audio: String,
}

/// Who an enrolment is for.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrolKindParam {
    Customer,
    Agent,
}

/// Whether an enrolment replaces the voiceprint or adds to it.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrolModeParam {
    /// A fresh voiceprint from these clips alone (the default).
    Replace,
    /// These clips are averaged into the stored voiceprint, weighted by net speech; the stored
    /// speech counts towards the minimum.
    Add,
}

/// `multipart/form-data` body of a watchlist enrolment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct WatchlistForm {
    /// A recording; repeat the part for several clips (at most 10).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub audio: String,
    /// Overrides the minimum net speech (seconds).
    #[schema(nullable = false, exclusive_minimum = 0.0, maximum = 600.0)]
    pub min_net_speech_secs: Option<f64>,
}

/// `multipart/form-data` body of enrolment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EnrolForm {
    /// A recording; repeat the part for several clips (at most 10).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    pub audio: String,
    /// `customer` (default) or `agent`.
    #[schema(nullable = false)]
    pub kind: Option<EnrolKindParam>,
    /// Overrides the minimum net speech (seconds).
    #[schema(nullable = false, exclusive_minimum = 0.0, maximum = 600.0)]
    pub min_net_speech_secs: Option<f64>,
    /// `replace` (default) or `add`.
    #[schema(nullable = false)]
    pub mode: Option<EnrolModeParam>,
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
    /// Start date (inclusive): `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or Unix seconds.
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub from: Option<String>,
    /// End date (a bare date includes that whole day).
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub to: Option<String>,
    pub flagged: Option<bool>,
    /// Only calls where this script rule failed.
    pub rule_failed: Option<String>,
    /// Customer sentiment label.
    pub sentiment: Option<SentimentParam>,
    pub status: Option<StatusParam>,
    /// `date` (newest first, default), `date_asc` or `severity` (flagged, most failed rules first).
    pub sort: Option<SortParam>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,15}$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SentimentParam {
    Positive,
    Neutral,
    Negative,
}

impl SentimentParam {
    pub fn as_str(self) -> &'static str {
        match self {
            SentimentParam::Positive => "positive",
            SentimentParam::Neutral => "neutral",
            SentimentParam::Negative => "negative",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusParam {
    Queued,
    Running,
    Analyzed,
    Failed,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortParam {
    Date,
    DateAsc,
    Severity,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptFormat {
    Json,
    Srt,
    Vtt,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupByParam {
    Agent,
    Team,
    Script,
    Day,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TranscriptQuery {
    /// `json` (default), `srt` or `vtt`.
    pub format: Option<TranscriptFormat>,
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
    /// Punctuation is ignored; a query without any word finds nothing.
    #[param(min_length = 1, max_length = 1000)]
    pub q: String,
    #[param(minimum = 1, maximum = 200)]
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
    #[param(minimum = 1)]
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
    /// At least one; rule ids must be the call's (else 422).
    pub verdicts: BTreeMap<String, Verdict>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, max_length = 10000)]
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
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub from: Option<String>,
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub to: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    #[param(pattern = r"^[0-9]{1,15}$")]
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

/// The biometric results of one call (`GET /v1/calls/{id}/biometrics`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallBiometrics {
    pub call_id: String,
    pub customer_id: Option<String>,
    pub entries: Vec<CallBiometricEntry>,
}

/// One decision about a call's voice, from the audit trail (without the key that asked).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallBiometricEntry {
    /// `verify` (1:1 against the claimed customer), `screen` (watchlist) or `enrol` (passive).
    pub action: String,
    /// The claimed customer, the watchlist entry that matched, or the enrolled customer.
    pub speaker_id: Option<String>,
    /// `accept` / `reject` / `inconclusive`, `watchlist_hit`, `enrolled`, `skipped`, ...
    pub outcome: String,
    /// Calibrated score (log-likelihood ratio) where the decision has one.
    pub score: Option<f64>,
    /// Where it came from: `ivr` (the HTTP API), `stream`, `call` or `passive`.
    pub source: String,
    pub net_speech_secs: Option<f64>,
    /// Reason codes (e.g. `too_little_speech`, `voice_reuse`).
    pub reasons: Vec<String>,
    pub created_at: String,
}

impl From<AuditEntry> for CallBiometricEntry {
    fn from(entry: AuditEntry) -> Self {
        let details = &entry.details;
        CallBiometricEntry {
            source: details.get("source").and_then(|v| v.as_str()).unwrap_or("ivr").to_string(),
            net_speech_secs: details.get("net_speech_secs").and_then(serde_json::Value::as_f64),
            reasons: details
                .get("reasons")
                .and_then(|v| v.as_array())
                .map(|reasons| reasons.iter().filter_map(|r| r.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            created_at: rfc3339(entry.created_at),
            action: entry.action,
            speaker_id: entry.speaker_id,
            outcome: entry.outcome,
            score: entry.score,
        }
    }
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
    pub group_by: Option<GroupByParam>,
    /// Start date (inclusive): `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or Unix seconds.
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub from: Option<String>,
    /// End date (a bare date includes that whole day).
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub to: Option<String>,
    /// Only this agent's calls (e.g. one agent's compliance over time with `group_by=day`).
    pub agent: Option<String>,
    /// Only this team's calls.
    pub team: Option<String>,
    /// Only calls scored against this script.
    pub script: Option<String>,
    /// Include the per-rule checks and failures of each bucket (default `true`). They cost a scan
    /// of every rule outcome in scope; leave them out when only the rates are needed.
    pub rules: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HandlingQuery {
    /// `agent`, `team`, `script` or `day` (default).
    pub group_by: Option<GroupByParam>,
    /// Start date (inclusive): `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or Unix seconds.
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub from: Option<String>,
    /// End date (a bare date includes that whole day).
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub to: Option<String>,
    /// Only this agent's calls (e.g. one agent's compliance over time with `group_by=day`).
    pub agent: Option<String>,
    /// Only this team's calls.
    pub team: Option<String>,
    /// Only calls scored against this script.
    pub script: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SentimentQuery {
    /// Start date (inclusive): `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or Unix seconds.
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub from: Option<String>,
    /// End date (a bare date includes that whole day).
    #[param(pattern = r"^([0-9]{1,12}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?)$")]
    pub to: Option<String>,
    /// Only this agent's calls (e.g. one agent's compliance over time with `group_by=day`).
    pub agent: Option<String>,
    /// Only this team's calls.
    pub team: Option<String>,
    /// Only calls scored against this script.
    pub script: Option<String>,
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
    #[schema(max_length = 2048, pattern = r"^https?://[^/\s]+[^\s]*$")]
    pub url: String,
    /// Events to receive; `*` for all.
    #[schema(min_items = 1)]
    pub events: Vec<EventName>,
    /// HMAC key for `X-Callsight-Signature`; generated when absent (returned once).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, min_length = 16, max_length = 256)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum EventName {
    #[serde(rename = "call.analyzed")]
    CallAnalyzed,
    #[serde(rename = "call.flagged")]
    CallFlagged,
    #[serde(rename = "verification.decided")]
    VerificationDecided,
    #[serde(rename = "watchlist.hit")]
    WatchlistHit,
    /// A live alert from `/v1/streams` (forbidden phrase, missed required phrase, silence, ...).
    #[serde(rename = "stream.alert")]
    StreamAlert,
    #[serde(rename = "*")]
    All,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::CallAnalyzed => "call.analyzed",
            EventName::CallFlagged => "call.flagged",
            EventName::VerificationDecided => "verification.decided",
            EventName::WatchlistHit => "watchlist.hit",
            EventName::StreamAlert => "stream.alert",
            EventName::All => "*",
        }
    }
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
    /// With `unavailable`: which dependency does not answer (`database`, `voiceprint index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
