//! The HTTP API through `app(...).oneshot(...)` against a real store: SQLite in a temporary
//! directory and a throwaway PostgreSQL cluster (every test runs on both). The biometric engine
//! is a fake here; the real one is tested end to end by the binary's tests.

use crate::common;
use crate::pg;

use common::{analyse, wav};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use callsight_api::server::{
    ApiConfig, AppState, EnrolInput, EnrolResponse, EnrolStatus, IdentifyResponse, Metrics, Role, SpeakerKind,
    SpeakerService, SpeakerServiceError, VerifyDecision, VerifyResponse, WatchlistHit, app,
};
use callsight_workers::{JobKind, JobState, QueueConfig, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name(super::Db::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name(super::Db::Postgres).await } )*
        }
    };
}

both_backends!(
    missing_or_invalid_key_is_401,
    public_endpoints_need_no_key,
    metrics_are_for_the_operator_only,
    oversized_ids_and_impossible_dates_are_422,
    role_matrix,
    cross_tenant_access_is_404,
    bad_uploads_get_clear_4xx,
    valid_upload_is_queued_and_served,
    duplicate_external_id_is_409,
    full_queue_is_503_with_retry_after,
    rate_limit_is_429,
    scripts_lifecycle_and_line_numbers,
    reviews_validate_rule_ids,
    speakers_are_audited,
    aggregates_and_search,
    webhooks_admin,
    openapi_document_lists_paths,
    metrics_exposes_queue_and_requests,
    deleted_call_is_gone_with_its_files_and_audited,
    reanalysis_shows_the_call_as_queued,
);

struct FakeSpeakers;

impl SpeakerService for FakeSpeakers {
    fn enrol_more(&self, input: EnrolInput) -> Result<EnrolResponse, SpeakerServiceError> {
        let mut response = self.enrol(input)?;
        response.voiceprint_ids = vec!["vp-added".into()];
        Ok(response)
    }

    fn enrol(&self, input: EnrolInput) -> Result<EnrolResponse, SpeakerServiceError> {
        Ok(EnrolResponse {
            speaker_id: input.speaker_id,
            kind: input.kind,
            status: EnrolStatus::Enrolled,
            voiceprint_ids: vec!["vp-1".into()],
            net_speech_secs: 12.0,
            missing_speech_secs: 0.0,
            reasons: vec![],
        })
    }

    fn verify(&self, _tenant: &str, speaker_id: &str, audio: &[u8]) -> Result<VerifyResponse, SpeakerServiceError> {
        if speaker_id == "nobody" {
            return Err(SpeakerServiceError::UnknownSpeaker(speaker_id.into()));
        }
        if !audio.starts_with(b"RIFF") {
            return Err(SpeakerServiceError::BadAudio("not a WAV file".into()));
        }
        Ok(VerifyResponse {
            speaker_id: speaker_id.into(),
            decision: VerifyDecision::Accept,
            score: Some(4.2),
            threshold: 2.0,
            net_speech_secs: 3.5,
            reasons: vec![],
            watchlist_hits: vec![WatchlistHit { speaker_id: "fraud-1".into(), score: 3.0 }],
        })
    }

    fn identify(&self, _tenant: &str, _audio: &[u8]) -> Result<IdentifyResponse, SpeakerServiceError> {
        Ok(IdentifyResponse { candidates: vec![], threshold: 2.0, net_speech_secs: 3.0, reasons: vec![], watchlist_hits: vec![] })
    }

    fn watchlist_add(
        &self,
        _tenant: &str,
        speaker_id: &str,
        _clips: Vec<Vec<u8>>,
        _min: Option<f64>,
    ) -> Result<EnrolResponse, SpeakerServiceError> {
        Ok(EnrolResponse {
            speaker_id: speaker_id.into(),
            kind: SpeakerKind::Fraudster,
            status: EnrolStatus::Enrolled,
            voiceprint_ids: vec!["vp-f".into()],
            net_speech_secs: 10.0,
            missing_speech_secs: 0.0,
            reasons: vec![],
        })
    }

    fn delete(&self, _tenant: &str, speaker_id: &str) -> Result<(), SpeakerServiceError> {
        if speaker_id == "nobody" { Err(SpeakerServiceError::UnknownSpeaker(speaker_id.into())) } else { Ok(()) }
    }
}

/// A running API over a fresh store, with one key per role for tenants `t1` and `t2`.
struct Harness {
    app: Router,
    store: Store,
    keys: std::collections::HashMap<(String, Role), String>,
    audio_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new(db: Db) -> Harness {
        Harness::with(db, |_| {}, QueueConfig::default()).await
    }

    async fn with(db: Db, configure: impl FnOnce(&mut ApiConfig), queue: QueueConfig) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match db {
            Db::Sqlite => format!("sqlite://{}/callsight.db", dir.path().display()),
            Db::Postgres => pg::PgCluster::shared().create_database(),
        };
        let store = Store::connect_with(&url, queue).await.expect("open store");
        let mut config = ApiConfig::with_audio_dir(dir.path().join("audio"));
        config.max_upload_bytes = 256 * 1024;
        configure(&mut config);
        let state = AppState::new(store.clone(), Arc::new(FakeSpeakers), config, Metrics::default());
        let mut keys = std::collections::HashMap::new();
        for tenant in ["t1", "t2"] {
            for role in Role::ALL {
                let created = store.create_key(tenant, role.as_str(), "test").await.expect("create key");
                keys.insert((tenant.to_string(), role), created.plaintext);
            }
        }
        Harness { app: app(state), store, keys, audio_dir: dir.path().join("audio"), _dir: dir }
    }

    fn key(&self, tenant: &str, role: Role) -> &str {
        &self.keys[&(tenant.to_string(), role)]
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let response = self.app.clone().oneshot(request).await.expect("infallible router");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024).await.expect("read body");
        (status, headers, body.to_vec())
    }

    async fn call(&self, method: &str, uri: &str, key: Option<&str>, body: Option<(&str, Vec<u8>)>) -> (StatusCode, Value) {
        let (status, _, bytes) = self.raw(method, uri, key, body).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn raw(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some((content_type, bytes)) => {
                builder.header(header::CONTENT_TYPE, content_type).body(Body::from(bytes)).expect("request")
            }
            None => builder.body(Body::empty()).expect("request"),
        };
        self.send(request).await
    }

    /// Uploads `audio` with `metadata` as tenant `tenant`'s admin.
    async fn upload(&self, tenant: &str, audio: &[u8], metadata: Option<&str>) -> (StatusCode, Value) {
        let (content_type, body) = multipart(&[Part::file("audio", "call.wav", "audio/wav", audio)], metadata);
        self.call("POST", "/v1/calls", Some(self.key(tenant, Role::Admin)), Some((&content_type, body))).await
    }
}

struct Part<'a> {
    name: &'a str,
    file_name: Option<&'a str>,
    content_type: Option<&'a str>,
    bytes: &'a [u8],
}

impl<'a> Part<'a> {
    fn file(name: &'a str, file_name: &'a str, content_type: &'a str, bytes: &'a [u8]) -> Self {
        Part { name, file_name: Some(file_name), content_type: Some(content_type), bytes }
    }
    fn text(name: &'a str, text: &'a str) -> Self {
        Part { name, file_name: None, content_type: None, bytes: text.as_bytes() }
    }
}

const BOUNDARY: &str = "callsight-test-boundary-7d1f";

fn multipart(parts: &[Part<'_>], metadata: Option<&str>) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    let mut all: Vec<&Part<'_>> = parts.iter().collect();
    let metadata_part = metadata.map(|m| Part::text("metadata", m));
    if let Some(part) = &metadata_part {
        all.push(part);
    }
    for part in all {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(file_name) = part.file_name {
            disposition.push_str(&format!("; filename=\"{file_name}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn error_message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or("").to_string()
}

const SCRIPT_JSON: &str = r#"{
  "id": "card-services",
  "name": "Card services",
  "rules": [
    {"id": "greeting", "kind": "required", "speaker": "agent", "phrases": ["thank you for calling"]},
    {"id": "no-guarantees", "kind": "forbidden", "speaker": "agent", "phrases": ["i guarantee"]}
  ]
}"#;

async fn missing_or_invalid_key_is_401(db: Db) {
    let h = Harness::new(db).await;
    let (status, body) = h.call("GET", "/v1/calls", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");
    let (status, _) = h.call("GET", "/v1/calls", Some("cs_0000"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let request = Request::builder()
        .uri("/v1/calls")
        .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .expect("request");
    let (status, headers, _) = h.send(request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()), Some("Bearer"));
    // A revoked key stops working.
    let created = h.store.create_key("t1", "admin", "temp").await.expect("key");
    let (status, _) = h.call("GET", "/v1/calls", Some(&created.plaintext), None).await;
    assert_eq!(status, StatusCode::OK);
    h.store.revoke_key("t1", &created.info.id).await.expect("revoke");
    let (status, _) = h.call("GET", "/v1/calls", Some(&created.plaintext), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Unknown routes answer JSON too; without credentials they say nothing about what exists.
    let (status, body) = h.call("GET", "/v1/nope", Some(h.key("t1", Role::Admin)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "no_route");
    let (status, _) = h.call("GET", "/v1/nope", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Public by being on the public router: health, readiness, the OpenAPI document, the pages'
    // shell and assets. The web routes with data need a caller.
    for path in ["/healthz", "/readyz", "/v1/openapi.json", "/", "/app", "/app/calls/x", "/assets/core.js"] {
        let (status, _) = h.call("GET", path, None, None).await;
        // The app shell redirects to sign-in without a session: public, not refused.
        assert!(status == StatusCode::OK || status == StatusCode::SEE_OTHER, "{path} is public: {status}");
    }
    for (method, path) in [("GET", "/web/me"), ("POST", "/web/sign-out"), ("GET", "/web/calls/x/waveform"), ("GET", "/v1/audit")] {
        let (status, _) = h.call(method, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} needs a caller");
    }
}

async fn public_endpoints_need_no_key(db: Db) {
    let h = Harness::new(db).await;
    for path in ["/healthz", "/readyz", "/v1/openapi.json"] {
        let (status, _) = h.call("GET", path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, body) = h.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no metrics token configured: metrics are off: {body}");
    assert_eq!(error_code(&body), "metrics_disabled");
}

/// `/metrics` shows every tenant's figures: only the operator's token reads it, never a tenant's
/// key (admin included), and with no token configured nobody does.
async fn metrics_are_for_the_operator_only(db: Db) {
    let h = Harness::new(db).await;
    let (status, body) = h.call("GET", "/metrics", Some(h.key("t1", Role::Admin)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_code(&body), "metrics_disabled");
    assert!(error_message(&body).contains("server.metrics_token"), "{body}");

    let token = "operator-metrics-token-0123456789";
    let h = Harness::with(db, |config| config.metrics_token = Some(token.into()), QueueConfig::default()).await;
    for tenant in ["t1", "t2"] {
        for role in Role::ALL {
            let (status, body) = h.call("GET", "/metrics", Some(h.key(tenant, role)), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{tenant} {role:?} must not read metrics: {body}");
            assert_eq!(error_code(&body), "unauthorized");
        }
    }
    for wrong in ["", "operator-metrics-token-012345678", "operator-metrics-token-01234567890", "x"] {
        let (status, _) = h.call("GET", "/metrics", Some(wrong), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong:?}");
    }
    let (status, _) = h.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, text) = h.raw("GET", "/metrics", Some(token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("text/plain"));
    assert!(String::from_utf8_lossy(&text).contains("callsight_queue_depth"));
}

/// Hostile identifiers and dates: a 10 KB id is refused with 422 without being echoed, never
/// reaches the audit trail, and a date that does not exist is a 422.
async fn oversized_ids_and_impossible_dates_are_422(db: Db) {
    let h = Harness::new(db).await;
    let admin = h.key("t1", Role::Admin).to_string();
    let long_id = "s".repeat(10_000);
    let audio = wav(1, 1.0);
    for (method, path) in [
        ("DELETE", format!("/v1/speakers/{long_id}")),
        ("POST", format!("/v1/speakers/{long_id}/enroll")),
        ("POST", format!("/v1/speakers/{long_id}/verify")),
        ("POST", format!("/v1/watchlist/{long_id}")),
    ] {
        let body = (method == "POST").then(|| multipart(&[Part::file("audio", "a.wav", "audio/wav", &audio)], None));
        let (status, response) =
            h.call(method, &path, Some(&admin), body.as_ref().map(|(ct, b)| (ct.as_str(), b.clone()))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} with a 10 KB id: {response}");
        let text = response.to_string();
        assert!(text.len() < 400, "the id is not echoed whole ({} bytes): {}", text.len(), &text[..200]);
    }
    let (status, audit) = h.call("GET", "/v1/audit?limit=1000", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries.iter().all(|entry| entry["speaker_id"].as_str().is_none_or(|id| id.len() <= 128)),
        "nothing oversized is audited: {} entries",
        entries.len()
    );

    // JSON escapes: 100 × "é", 200 bytes.
    let metadata = format!(r#"{{"agent_id": "{}"}}"#, "\\u00e9".repeat(100));
    let (status, body) = h.upload("t1", &audio, Some(&metadata)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a 200-byte agent id: {body}");
    assert!(error_message(&body).contains("agent_id"), "{body}");
    assert!(!error_message(&body).contains('\u{e9}'), "not echoed: {body}");

    for path in [
        "/v1/aggregates/compliance?to=2026-02-30",
        "/v1/aggregates/sentiment?from=2026-04-31",
        "/v1/calls?to=2026-02-29",
        "/v1/audit?from=2026-02-30T00:00:00Z",
    ] {
        let (status, body) = h.call("GET", path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(error_message(&body).contains("days"), "{path}: {body}");
    }
    let (status, body) = h.call("GET", "/v1/calls?to=2024-02-29", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "a real leap day: {body}");
}

async fn role_matrix(db: Db) {
    let h = Harness::new(db).await;
    let (status, accepted) = h.upload("t1", &wav(1, 1.0), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let call_id = accepted["call_id"].as_str().expect("call id").to_string();
    let call = |p: &str| p.replace("{call}", &call_id);
    use Role::*;
    // (method, path, body kind, roles allowed). Written out by hand, independent of the code's matrix.
    let endpoints: Vec<(&str, String, &str, Vec<Role>)> = vec![
        ("POST", "/v1/calls".into(), "upload", vec![Admin, Qa, Ingest]),
        ("GET", "/v1/calls".into(), "", vec![Admin, Qa, Manager]),
        ("GET", call("/v1/calls/{call}"), "", vec![Admin, Qa, Manager]),
        ("GET", call("/v1/calls/{call}/report"), "", vec![Admin, Qa, Manager]),
        ("GET", call("/v1/calls/{call}/transcript"), "", vec![Admin, Qa, Manager]),
        ("GET", call("/v1/calls/{call}/audio"), "", vec![Admin, Qa, Manager]),
        ("POST", call("/v1/calls/{call}/reanalyze"), "", vec![Admin, Qa]),
        ("GET", "/v1/search?q=hello".into(), "", vec![Admin, Qa, Manager]),
        ("POST", "/v1/scripts".into(), "script", vec![Admin, Qa]),
        ("GET", "/v1/scripts".into(), "", vec![Admin, Qa, Manager]),
        ("GET", "/v1/scripts/card-services".into(), "", vec![Admin, Qa, Manager]),
        ("POST", call("/v1/calls/{call}/reviews"), "review", vec![Admin, Qa]),
        ("GET", call("/v1/calls/{call}/reviews"), "", vec![Admin, Qa, Manager]),
        ("GET", call("/v1/calls/{call}/biometrics"), "", vec![Admin, Qa, Manager]),
        ("POST", "/v1/speakers/alice/enroll".into(), "speaker", vec![Admin]),
        ("POST", "/v1/speakers/alice/verify".into(), "speaker", vec![Admin, Ivr]),
        ("POST", "/v1/speakers/identify".into(), "speaker", vec![Admin, Ivr]),
        ("POST", "/v1/watchlist/fraud-1".into(), "speaker", vec![Admin]),
        ("DELETE", "/v1/speakers/nobody".into(), "", vec![Admin]),
        ("GET", "/v1/audit".into(), "", vec![Admin]),
        ("GET", "/v1/aggregates/compliance".into(), "", vec![Admin, Manager]),
        ("GET", "/v1/aggregates/sentiment".into(), "", vec![Admin, Manager]),
        ("GET", "/v1/webhooks".into(), "", vec![Admin]),
        ("POST", "/v1/webhooks".into(), "webhook", vec![Admin]),
        ("DELETE", "/v1/webhooks/none".into(), "", vec![Admin]),
        ("PUT", "/v1/scripts/card-services".into(), "script", vec![Admin, Qa]),
        ("POST", "/v1/scripts/card-services/rescore".into(), "", vec![Admin, Qa]),
        ("DELETE", "/v1/scripts/card-services".into(), "", vec![Admin, Qa]),
        // Last: the admin's request really deletes the call.
        ("DELETE", call("/v1/calls/{call}"), "", vec![Admin]),
    ];
    let audio = wav(1, 1.0);
    for (method, path, body_kind, allowed) in &endpoints {
        for role in Role::ALL {
            let body = match *body_kind {
                "upload" => {
                    let (ct, b) = multipart(&[Part::file("audio", "a.wav", "audio/wav", &audio)], None);
                    Some((ct, b))
                }
                "speaker" => {
                    let (ct, b) = multipart(&[Part::file("audio", "a.wav", "audio/wav", &audio)], None);
                    Some((ct, b))
                }
                "script" => Some(("application/json".to_string(), SCRIPT_JSON.as_bytes().to_vec())),
                "review" => Some(("application/json".to_string(), br#"{"verdicts": {"x": "agree"}}"#.to_vec())),
                "webhook" => Some((
                    "application/json".to_string(),
                    br#"{"url": "https://example.invalid/hook", "events": ["*"]}"#.to_vec(),
                )),
                _ => None,
            };
            let (status, response) = h
                .call(method, path, Some(h.key("t1", role)), body.as_ref().map(|(ct, b)| (ct.as_str(), b.clone())))
                .await;
            if allowed.contains(&role) {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{role:?} should be allowed {method} {path}, got {status} {response}"
                );
                assert!(!status.is_server_error(), "{role:?} {method} {path}: {status} {response}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} must be refused {method} {path}: {response}");
                assert_eq!(error_code(&response), "forbidden");
            }
        }
    }
}

async fn cross_tenant_access_is_404(db: Db) {
    let h = Harness::new(db).await;
    let (status, accepted) = h.upload("t1", &wav(1, 1.0), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let call_id = accepted["call_id"].as_str().expect("call id").to_string();
    analyse(&h.store, true).await;
    let other = h.key("t2", Role::Admin);
    for path in ["", "/report", "/transcript", "/transcript?format=srt", "/audio", "/reviews"] {
        let (status, body) = h.call("GET", &format!("/v1/calls/{call_id}{path}"), Some(other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}: {body}");
    }
    let (status, _) = h.call("POST", &format!("/v1/calls/{call_id}/reanalyze"), Some(other), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let review = br#"{"verdicts": {"greeting": "agree"}}"#.to_vec();
    let (status, _) =
        h.call("POST", &format!("/v1/calls/{call_id}/reviews"), Some(other), Some(("application/json", review))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = h.call("GET", "/v1/calls", Some(other), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 0);
    let (_, hits) = h.call("GET", "/v1/search?q=calling", Some(other), None).await;
    assert_eq!(hits["hits"].as_array().map(Vec::len), Some(0));
    // The owner still sees it.
    let (status, _) = h.call("GET", &format!("/v1/calls/{call_id}"), Some(h.key("t1", Role::Manager)), None).await;
    assert_eq!(status, StatusCode::OK);
}

async fn bad_uploads_get_clear_4xx(db: Db) {
    let h = Harness::new(db).await;
    let admin = h.key("t1", Role::Admin);
    // 0 bytes.
    let (status, body) = h.upload("t1", b"", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("empty"), "{body}");
    // Not audio.
    let (status, body) = h.upload("t1", b"hello, this is a text file and not a recording at all", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("not a usable recording"), "{body}");
    // Truncated WAV: the header promises more data than present.
    let full = wav(1, 1.0);
    let (status, body) = h.upload("t1", &full[..full.len() / 2], None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("truncated"), "{body}");
    // Over the size limit (256 KiB in the harness).
    let (status, body) = h.upload("t1", &wav(1, 20.0), None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(error_message(&body).contains("limit"), "{body}");
    // Not multipart at all.
    let (status, body) =
        h.call("POST", "/v1/calls", Some(admin), Some(("application/json", br#"{"audio": "x"}"#.to_vec()))).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(error_message(&body).contains("multipart/form-data"), "{body}");
    // An audio part that says it is something else.
    let (ct, b) = multipart(&[Part::file("audio", "a.txt", "text/plain", &full)], None);
    let (status, body) = h.call("POST", "/v1/calls", Some(admin), Some((&ct, b))).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    // No audio part.
    let (ct, b) = multipart(&[], Some("{}"));
    let (status, body) = h.call("POST", "/v1/calls", Some(admin), Some((&ct, b))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_message(&body).contains("audio"), "{body}");
    // Malformed metadata JSON.
    let (status, body) = h.upload("t1", &full, Some("{\"agent_id\": ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_message(&body).contains("metadata"), "{body}");
    // Well-formed but wrong metadata.
    let (status, body) = h.upload("t1", &full, Some(r#"{"agent": "a1"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = h.upload("t1", &full, Some(r#"{"channels": "left,right"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A stereo layout on a mono file.
    let (status, body) = h.upload("t1", &full, Some(r#"{"channels": "agent,customer"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("2 channels"), "{body}");
    // Unknown script.
    let (status, body) = h.upload("t1", &full, Some(r#"{"script_id": "nope"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("unknown script"), "{body}");
    // Nothing was queued or stored by any of these, and the service still answers.
    assert_eq!(h.store.queue_depth().await.expect("depth"), 0);
    let (status, list) = h.call("GET", "/v1/calls", Some(admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 0);
    let stored = std::fs::read_dir(h._dir.path().join("audio")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(stored, 0, "refused uploads leave no files");
}

async fn valid_upload_is_queued_and_served(db: Db) {
    let h = Harness::new(db).await;
    let admin = h.key("t1", Role::Admin);
    let (status, body) = h.call("POST", "/v1/scripts", Some(admin), Some(("application/json", SCRIPT_JSON.into()))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let audio = wav(2, 1.0);
    let metadata = r#"{"external_call_id": "rec-1", "agent_id": "a1", "team": "blue", "customer_id": "c9",
        "channels": "agent,customer", "script_id": "card-services", "language": "en"}"#;
    let (content_type, request_body) = multipart(&[Part::file("audio", "call.wav", "audio/wav", &audio)], Some(metadata));
    let request = Request::builder()
        .method("POST")
        .uri("/v1/calls")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.key("t1", Role::Ingest)))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(request_body))
        .expect("request");
    let (status, headers, bytes) = h.send(request).await;
    let accepted: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["status"], "queued");
    let call_id = accepted["call_id"].as_str().expect("call id").to_string();
    assert_eq!(headers.get(header::LOCATION).and_then(|v| v.to_str().ok()), Some(format!("/v1/calls/{call_id}").as_str()));

    // The job is in the store, queued, for this tenant.
    let jobs = h.store.list_jobs_for_call("t1", &call_id).await.expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, JobKind::Analyze);
    assert_eq!(jobs[0].state, JobState::Queued);
    let record = h.store.get_call("t1", &call_id).await.expect("get").expect("call");
    assert_eq!(record.script_version, Some(1));
    assert_eq!(record.channel_layout.as_deref(), Some("agent_customer"));
    assert_eq!(std::fs::read(&record.audio_path).expect("stored audio"), audio);

    let (status, view) = h.call("GET", &format!("/v1/calls/{call_id}"), Some(admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "queued");
    assert_eq!(view["agent_id"], "a1");
    assert!(view["summary"].is_null());
    let (status, body) = h.call("GET", &format!("/v1/calls/{call_id}/report"), Some(admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_ready");

    analyse(&h.store, true).await;
    let (status, view) = h.call("GET", &format!("/v1/calls/{call_id}"), Some(admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "analyzed");
    assert_eq!(view["summary"]["flagged"], true);
    let (status, report) = h.call("GET", &format!("/v1/calls/{call_id}/report"), Some(admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["schema"], "callsight.report.v1");
    let (status, transcript) = h.call("GET", &format!("/v1/calls/{call_id}/transcript"), Some(admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(transcript["turns"][0]["text"], "thank you for calling acme");
    let (status, headers, srt) = h.raw("GET", &format!("/v1/calls/{call_id}/transcript?format=srt"), Some(admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&srt).contains("00:00:00,250 --> 00:00:01,500"));
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("application/x-subrip"));
    let (_, headers, vtt) = h.raw("GET", &format!("/v1/calls/{call_id}/transcript?format=vtt"), Some(admin), None).await;
    assert!(String::from_utf8_lossy(&vtt).starts_with("WEBVTT"));
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("text/vtt"));
    let (status, _) = h.call("GET", &format!("/v1/calls/{call_id}/transcript?format=doc"), Some(admin), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Audio: whole file, a range, a suffix range, and an unsatisfiable one.
    let (status, headers, whole) = h.raw("GET", &format!("/v1/calls/{call_id}/audio"), Some(admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whole, audio);
    assert_eq!(headers[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    let ranged = |range: &str| {
        Request::builder()
            .uri(format!("/v1/calls/{call_id}/audio"))
            .header(header::AUTHORIZATION, format!("Bearer {admin}"))
            .header(header::RANGE, range)
            .body(Body::empty())
            .expect("request")
    };
    let (status, headers, part) = h.send(ranged("bytes=4-11")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, audio[4..12]);
    assert_eq!(headers[header::CONTENT_RANGE], format!("bytes 4-11/{}", audio.len()).as_str());
    let (status, _, tail) = h.send(ranged("bytes=-10")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail, audio[audio.len() - 10..]);
    let (status, headers, _) = h.send(ranged(&format!("bytes={}-", audio.len()))).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(headers[header::CONTENT_RANGE], format!("bytes */{}", audio.len()).as_str());

    // The list with filters.
    for (query, expected) in [
        ("agent=a1", 1),
        ("agent=zz", 0),
        ("team=blue&flagged=true", 1),
        ("flagged=false", 0),
        ("rule_failed=no-guarantees", 1),
        ("rule_failed=greeting", 0),
        ("script=card-services&sentiment=positive", 1),
        ("sentiment=negative", 0),
        ("from=2000-01-01&to=2999-12-31&sort=severity", 1),
        ("to=2000-01-01", 0),
        ("status=analyzed", 1),
    ] {
        let (status, list) = h.call("GET", &format!("/v1/calls?{query}"), Some(admin), None).await;
        assert_eq!(status, StatusCode::OK, "{query}: {list}");
        assert_eq!(list["total"], expected, "{query}: {list}");
    }
    for bad in ["sort=loudest", "from=yesterday", "limit=0", "cursor=x", "flagged=maybe", "sentiment=angry", "status=x"] {
        let (status, body) = h.call("GET", &format!("/v1/calls?{bad}"), Some(admin), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // Re-analysis queues a second job.
    let (status, body) = h.call("POST", &format!("/v1/calls/{call_id}/reanalyze"), Some(admin), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(h.store.list_jobs_for_call("t1", &call_id).await.expect("jobs").len(), 2);
}

async fn duplicate_external_id_is_409(db: Db) {
    let h = Harness::new(db).await;
    let audio = wav(1, 0.5);
    let (status, first) = h.upload("t1", &audio, Some(r#"{"external_call_id": "rec-7"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = h.upload("t1", &audio, Some(r#"{"external_call_id": "rec-7"}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_message(&body).contains(first["call_id"].as_str().unwrap_or("?")), "{body}");
    // Another tenant may use the same external id.
    let (status, _) = h.upload("t2", &audio, Some(r#"{"external_call_id": "rec-7"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

async fn full_queue_is_503_with_retry_after(db: Db) {
    let queue = QueueConfig { max_queued_jobs: Some(1), retry_after_secs: 17, ..QueueConfig::default() };
    let h = Harness::with(db, |_| {}, queue).await;
    let audio = wav(1, 0.5);
    let (status, _) = h.upload("t1", &audio, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (content_type, body) = multipart(&[Part::file("audio", "a.wav", "audio/wav", &audio)], None);
    let (status, headers, bytes) = h.raw("POST", "/v1/calls", Some(h.key("t1", Role::Admin)), Some((&content_type, body))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers[header::RETRY_AFTER], "17");
    // The API's own early check answers the same way, before storing anything.
    let h = Harness::with(db, |c| {
        c.max_queued_jobs = Some(1);
        c.queue_retry_after_secs = 5;
    }, QueueConfig::default())
    .await;
    let (status, _) = h.upload("t1", &audio, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (content_type, body) = multipart(&[Part::file("audio", "a.wav", "audio/wav", &audio)], None);
    let (status, headers, _) = h.raw("POST", "/v1/calls", Some(h.key("t1", Role::Admin)), Some((&content_type, body))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "5");
}

async fn rate_limit_is_429(db: Db) {
    let h = Harness::with(db, |c| c.rate_limit_per_minute = 3, QueueConfig::default()).await;
    let key = h.key("t1", Role::Manager);
    for _ in 0..3 {
        let (status, _) = h.call("GET", "/v1/calls", Some(key), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, bytes) = h.raw("GET", "/v1/calls", Some(key), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{}", String::from_utf8_lossy(&bytes));
    assert!(headers.contains_key(header::RETRY_AFTER));
    // Another key has its own bucket.
    let (status, _) = h.call("GET", "/v1/calls", Some(h.key("t1", Role::Qa)), None).await;
    assert_eq!(status, StatusCode::OK);
}

async fn scripts_lifecycle_and_line_numbers(db: Db) {
    let h = Harness::new(db).await;
    let qa = h.key("t1", Role::Qa);
    // Line 4 has an unknown rule kind.
    let bad = "id: s1\nrules:\n  - id: greet\n    kind: requird\n    phrases: [hello]\n";
    let (status, body) = h.call("POST", "/v1/scripts", Some(qa), Some(("application/yaml", bad.into()))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "invalid_script");
    let line = body["error"]["line"].as_u64().expect("line");
    assert!((3..=4).contains(&line), "{body}");
    assert!(error_message(&body).contains(&format!("line {line}")), "{body}");
    // JSON syntax error names its line.
    let broken = "{\n  \"id\": \"s1\",\n  \"rules\": [\n    {\"id\": \"a\",, }\n  ]\n}";
    let (status, body) = h.call("POST", "/v1/scripts", Some(qa), Some(("application/json", broken.into()))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["line"], 4, "{body}");
    let (status, _) = h.call("POST", "/v1/scripts", Some(qa), Some(("image/png", SCRIPT_JSON.into()))).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (status, created) = h.call("POST", "/v1/scripts", Some(qa), Some(("application/json", SCRIPT_JSON.into()))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["version"], 1);
    assert_eq!(created["n_rules"], 2);
    let (status, _) = h.call("POST", "/v1/scripts", Some(qa), Some(("application/json", SCRIPT_JSON.into()))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let v2 = SCRIPT_JSON.replace("Card services", "Card services v2");
    let (status, updated) = h.call("PUT", "/v1/scripts/card-services", Some(qa), Some(("application/json", v2.into_bytes()))).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["version"], 2);
    let (status, _) = h.call("PUT", "/v1/scripts/other", Some(qa), Some(("application/json", SCRIPT_JSON.into()))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, v1) = h.call("GET", "/v1/scripts/card-services?version=1", Some(qa), None).await;
    assert_eq!(v1["name"], "Card services");
    let (_, latest) = h.call("GET", "/v1/scripts/card-services", Some(qa), None).await;
    assert_eq!(latest["version"], 2);
    let (_, list) = h.call("GET", "/v1/scripts", Some(qa), None).await;
    assert_eq!(list["scripts"].as_array().map(Vec::len), Some(1));
    // Uploads pin the script version; rescore queues jobs for analysed calls of the script.
    let (status, accepted) = h.upload("t1", &wav(1, 0.5), Some(r#"{"script_id": "card-services", "script_version": 1}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    analyse(&h.store, false).await;
    let (status, rescore) = h.call("POST", "/v1/scripts/card-services/rescore", Some(qa), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{rescore}");
    assert_eq!(rescore["jobs_enqueued"], 1);
    let call_id = accepted["call_id"].as_str().unwrap_or("");
    let jobs = h.store.list_jobs_for_call("t1", call_id).await.expect("jobs");
    assert!(jobs.iter().any(|j| j.kind == JobKind::Rescore && j.state == JobState::Queued));
    let call = h.store.get_call("t1", call_id).await.expect("get call").expect("call");
    assert_eq!(call.script_version, Some(2), "the rescore scores the call against the new version");
    // Another tenant sees none of it.
    let (status, _) = h.call("GET", "/v1/scripts/card-services", Some(h.key("t2", Role::Admin)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call("DELETE", "/v1/scripts/card-services", Some(qa), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.call("GET", "/v1/scripts/card-services", Some(qa), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call("DELETE", "/v1/scripts/card-services", Some(qa), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn reviews_validate_rule_ids(db: Db) {
    let h = Harness::new(db).await;
    let qa = h.key("t1", Role::Qa);
    let (_, accepted) = h.upload("t1", &wav(1, 0.5), None).await;
    let call_id = accepted["call_id"].as_str().expect("call id").to_string();
    analyse(&h.store, true).await;
    let path = format!("/v1/calls/{call_id}/reviews");
    let post = |body: &str| ("application/json", body.as_bytes().to_vec());
    let (status, body) = h.call("POST", &path, Some(qa), Some(post(r#"{"verdicts": {"made-up": "agree"}}"#))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("made-up"), "{body}");
    let (status, _) = h.call("POST", &path, Some(qa), Some(post(r#"{"verdicts": {"greeting": "maybe"}}"#))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = h.call("POST", &path, Some(qa), Some(post(r#"{"verdicts": "#))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, review) = h
        .call("POST", &path, Some(qa), Some(post(r#"{"verdicts": {"no-guarantees": "disagree"}, "note": "misheard"}"#)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{review}");
    let (status, list) = h.call("GET", &path, Some(h.key("t1", Role::Manager)), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["reviews"][0]["verdicts"]["no-guarantees"], "disagree");
    assert_eq!(list["reviews"][0]["note"], "misheard");
}

async fn speakers_are_audited(db: Db) {
    let h = Harness::new(db).await;
    let ivr = h.key("t1", Role::Ivr);
    let admin = h.key("t1", Role::Admin);
    let audio = wav(1, 1.0);
    let form = |fields: &[Part<'_>]| multipart(fields, None);
    let (ct, body) = form(&[Part::file("audio", "a.wav", "audio/wav", &audio), Part::text("kind", "agent")]);
    let (status, enrolled) = h.call("POST", "/v1/speakers/alice/enroll", Some(admin), Some((&ct, body))).await;
    assert_eq!(status, StatusCode::OK, "{enrolled}");
    assert_eq!(enrolled["status"], "enrolled");
    assert_eq!(enrolled["kind"], "agent");
    let (ct, body) = form(&[Part::file("audio", "a.wav", "audio/wav", &audio), Part::text("mode", "add")]);
    let (status, added) = h.call("POST", "/v1/speakers/alice/enroll", Some(admin), Some((&ct, body))).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["voiceprint_ids"][0], "vp-added", "mode=add reaches the engine's add path: {added}");
    let (ct, body) = form(&[Part::file("audio", "a.wav", "audio/wav", &audio), Part::text("mode", "merge")]);
    let (status, body) = h.call("POST", "/v1/speakers/alice/enroll", Some(admin), Some((&ct, body))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("mode"), "{body}");
    let (ct, body) = form(&[Part::file("audio", "a.wav", "audio/wav", &audio), Part::text("kind", "boss")]);
    let (status, _) = h.call("POST", "/v1/speakers/alice/enroll", Some(admin), Some((&ct, body))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (ct, body) = form(&[Part::file("audio", "a.wav", "audio/wav", &audio)]);
    let (status, verified) = h.call("POST", "/v1/speakers/alice/verify", Some(ivr), Some((&ct, body))).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["decision"], "accept");
    assert_eq!(verified["watchlist_hits"][0]["speaker_id"], "fraud-1");
    let (ct, body) = form(&[Part::file("audio", "a.wav", "audio/wav", &audio)]);
    let (status, _) = h.call("POST", "/v1/speakers/nobody/verify", Some(ivr), Some((&ct, body))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (ct, body) = form(&[Part::file("audio", "a.bin", "application/octet-stream", b"junk")]);
    let (status, _) = h.call("POST", "/v1/speakers/alice/verify", Some(ivr), Some((&ct, body))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (ct, body) = form(&[Part::file("audio", "a.wav", "audio/wav", &audio)]);
    let (status, _) = h.call("POST", "/v1/speakers/identify", Some(ivr), Some((&ct, body))).await;
    assert_eq!(status, StatusCode::OK);
    let (ct, body) = form(&[Part::file("audio", "a.wav", "audio/wav", &audio)]);
    let (status, _) = h.call("POST", "/v1/watchlist/fraud-1", Some(admin), Some((&ct, body))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.call("DELETE", "/v1/speakers/alice", Some(admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.call("DELETE", "/v1/speakers/nobody", Some(admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, audit) = h.call("GET", "/v1/audit", Some(admin), None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    let actions: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["action"].as_str().unwrap_or(""), e["outcome"].as_str().unwrap_or(""))).collect();
    for expected in [
        ("enrol", "enrolled"),
        ("verify", "accept"),
        ("verify", "error_unknown_speaker"),
        ("verify", "error_bad_audio"),
        ("identify", "no_match"),
        ("watchlist_add", "enrolled"),
        ("delete", "deleted"),
        ("delete", "not_found"),
    ] {
        assert!(actions.contains(&expected), "missing audit {expected:?} in {actions:?}");
    }
    let ivr_key_id = entries
        .iter()
        .find(|e| e["action"] == "verify")
        .and_then(|e| e["actor_key_id"].as_str())
        .expect("actor key id");
    assert!(!ivr_key_id.is_empty());
    let (_, filtered) = h.call("GET", "/v1/audit?action=verify&speaker_id=alice", Some(admin), None).await;
    assert_eq!(filtered["entries"].as_array().map(Vec::len), Some(2), "{filtered}");
    // Another tenant's audit trail is empty.
    let (_, other) = h.call("GET", "/v1/audit", Some(h.key("t2", Role::Admin)), None).await;
    assert_eq!(other["entries"].as_array().map(Vec::len), Some(0));

    // A reviewer (not allowed the audit trail) sees the biometric decisions about a call: the
    // IVR's verifications of its customer before it was stored, and entries naming the call.
    let (_, accepted) = h.upload("t1", &wav(1, 0.5), Some(r#"{"customer_id": "alice"}"#)).await;
    let call_id = accepted["call_id"].as_str().expect("call id").to_string();
    let (_, other_call) = h.upload("t1", &wav(1, 0.5), None).await;
    for (about, outcome) in [(call_id.as_str(), "watchlist_hit"), (other_call["call_id"].as_str().unwrap_or("?"), "other_call")] {
        let entry = callsight_workers::store::NewAuditEntry {
            action: "screen".into(),
            speaker_id: Some("fraud-1".into()),
            outcome: outcome.into(),
            score: Some(4.2),
            details: json!({"source": "call", "call_id": about}),
            ..Default::default()
        };
        h.store.append_audit("t1", &entry).await.expect("audit");
    }
    let qa = h.key("t1", Role::Qa);
    let (status, biometrics) = h.call("GET", &format!("/v1/calls/{call_id}/biometrics"), Some(qa), None).await;
    assert_eq!(status, StatusCode::OK, "{biometrics}");
    let seen: Vec<(&str, &str, &str)> = biometrics["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| (e["action"].as_str().unwrap_or(""), e["outcome"].as_str().unwrap_or(""), e["source"].as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        seen,
        vec![("verify", "accept", "ivr"), ("verify", "error_bad_audio", "ivr"), ("screen", "watchlist_hit", "call")],
        "{biometrics}"
    );
    assert!(biometrics["entries"][0].get("actor_key_id").is_none(), "no key ids for reviewers");
    let (status, _) = h.call("GET", &format!("/v1/calls/{call_id}/biometrics"), Some(h.key("t2", Role::Qa)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn aggregates_and_search(db: Db) {
    let h = Harness::new(db).await;
    let manager = h.key("t1", Role::Manager);
    let (_, _) = h.upload("t1", &wav(1, 0.5), Some(r#"{"agent_id": "a1", "team": "blue"}"#)).await;
    analyse(&h.store, true).await;
    for group in ["agent", "team", "script", "day"] {
        let (status, body) = h.call("GET", &format!("/v1/aggregates/compliance?group_by={group}"), Some(manager), None).await;
        assert_eq!(status, StatusCode::OK, "{group}: {body}");
        assert_eq!(body["buckets"][0]["calls"], 1, "{group}: {body}");
        assert_eq!(body["buckets"][0]["rule_failures"], 1, "{group}: {body}");
    }
    let (_, by_agent) = h.call("GET", "/v1/aggregates/compliance?group_by=agent", Some(manager), None).await;
    assert_eq!(by_agent["buckets"][0]["key"], "a1");
    assert_eq!(by_agent["buckets"][0]["compliance_rate"], 0.5);
    assert_eq!(by_agent["buckets"][0]["rules"].as_array().map(Vec::len), Some(2), "{by_agent}");
    let (_, rates_only) = h.call("GET", "/v1/aggregates/compliance?group_by=agent&rules=false", Some(manager), None).await;
    assert_eq!(rates_only["buckets"][0]["compliance_rate"], 0.5, "{rates_only}");
    assert_eq!(rates_only["buckets"][0]["rules"].as_array().map(Vec::len), Some(0), "{rates_only}");
    // Scoped to one team, agent or script: the team's calls, or none for a team without calls.
    let (_, blue) = h.call("GET", "/v1/aggregates/compliance?group_by=day&team=blue", Some(manager), None).await;
    assert_eq!(blue["buckets"][0]["calls"], 1, "{blue}");
    for scope in ["team=red", "agent=a2", "script=none"] {
        for endpoint in ["compliance", "handling"] {
            let (status, empty) = h.call("GET", &format!("/v1/aggregates/{endpoint}?{scope}"), Some(manager), None).await;
            assert_eq!(status, StatusCode::OK, "{endpoint} {scope}: {empty}");
            assert_eq!(empty["buckets"].as_array().map(Vec::len), Some(0), "{endpoint} {scope}: {empty}");
        }
        let (_, empty) = h.call("GET", &format!("/v1/aggregates/sentiment?{scope}"), Some(manager), None).await;
        assert_eq!(empty["days"].as_array().map(Vec::len), Some(0), "{scope}: {empty}");
    }
    let (status, _) = h.call("GET", "/v1/aggregates/compliance?group_by=moon", Some(manager), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, sentiment) = h.call("GET", "/v1/aggregates/sentiment?from=2000-01-01", Some(manager), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sentiment["days"][0]["by_label"]["positive"], 1, "{sentiment}");
    let (status, hits) = h.call("GET", "/v1/search?q=Calling%20ACME", Some(manager), None).await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    assert_eq!(hits["hits"].as_array().map(Vec::len), Some(1), "{hits}");
    let (_, none) = h.call("GET", "/v1/search?q=refund", Some(manager), None).await;
    assert_eq!(none["hits"].as_array().map(Vec::len), Some(0));
    let (status, _) = h.call("GET", "/v1/search", Some(manager), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn webhooks_admin(db: Db) {
    let h = Harness::new(db).await;
    let admin = h.key("t1", Role::Admin);
    let json_body = |b: &str| ("application/json", b.as_bytes().to_vec());
    let (status, _) = h.call("POST", "/v1/webhooks", Some(admin), Some(json_body(r#"{"url": "ftp://x", "events": ["*"]}"#))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        h.call("POST", "/v1/webhooks", Some(admin), Some(json_body(r#"{"url": "https://x.invalid", "events": ["call.eaten"]}"#))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, created) = h
        .call("POST", "/v1/webhooks", Some(admin), Some(json_body(r#"{"url": "https://x.invalid/hook", "events": ["call.analyzed"]}"#)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["secret"].as_str().is_some_and(|s| s.len() >= 16));
    let (_, list) = h.call("GET", "/v1/webhooks", Some(admin), None).await;
    assert_eq!(list["webhooks"].as_array().map(Vec::len), Some(1));
    assert!(list["webhooks"][0].get("secret").is_none(), "secrets are shown once");
    let queued = callsight_api::server::emit_event(
        &h.store,
        "t1",
        callsight_api::server::WebhookEvent::CallAnalyzed,
        json!({"call_id": "x"}),
    )
    .await
    .expect("emit");
    assert_eq!(queued, 1);
    let queued_other =
        callsight_api::server::emit_event(&h.store, "t2", callsight_api::server::WebhookEvent::CallAnalyzed, json!({}))
            .await
            .expect("emit");
    assert_eq!(queued_other, 0);
    let id = created["webhook_id"].as_str().expect("id");
    let (status, _) = h.call("DELETE", &format!("/v1/webhooks/{id}"), Some(h.key("t2", Role::Admin)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call("DELETE", &format!("/v1/webhooks/{id}"), Some(admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

async fn openapi_document_lists_paths(db: Db) {
    let h = Harness::new(db).await;
    let (status, doc) = h.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/calls",
        "/v1/calls/{id}",
        "/v1/calls/{id}/report",
        "/v1/calls/{id}/transcript",
        "/v1/calls/{id}/audio",
        "/v1/calls/{id}/reanalyze",
        "/v1/calls/{id}/reviews",
        "/v1/search",
        "/v1/scripts",
        "/v1/scripts/{id}",
        "/v1/scripts/{id}/rescore",
        "/v1/speakers/{id}/enroll",
        "/v1/speakers/{id}/verify",
        "/v1/speakers/identify",
        "/v1/speakers/{id}",
        "/v1/watchlist/{id}",
        "/v1/audit",
        "/v1/aggregates/compliance",
        "/v1/aggregates/sentiment",
        "/v1/webhooks",
        "/v1/webhooks/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/openapi.json",
    ] {
        assert!(paths.contains_key(path), "OpenAPI lacks {path}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
    assert!(doc["paths"]["/v1/calls"]["post"]["responses"]["401"].is_object());
    // Every $ref points at a defined schema.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap_or("");
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
}

async fn metrics_exposes_queue_and_requests(db: Db) {
    let token = "operator-metrics-token";
    let h = Harness::with(db, |config| config.metrics_token = Some(token.into()), QueueConfig::default()).await;
    let (_, _) = h.upload("t1", &wav(1, 0.5), None).await;
    let _ = h.call("GET", "/v1/calls", Some(h.key("t1", Role::Manager)), None).await;
    let (status, headers, text) = h.raw("GET", "/metrics", Some(token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("text/plain"));
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("callsight_queue_depth 1"), "{text}");
    assert!(text.contains("callsight_jobs{state=\"queued\"} 1"), "{text}");
    assert!(text.contains("callsight_http_requests_total{method=\"GET\",route=\"/v1/calls\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("callsight_http_request_duration_seconds_bucket"), "{text}");
    let _ = Duration::from_secs(0);
}

async fn deleted_call_is_gone_with_its_files_and_audited(db: Db) {
    let h = Harness::new(db).await;
    let (status, accepted) = h.upload("t1", &wav(1, 1.0), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let call_id = accepted["call_id"].as_str().expect("call id").to_string();
    analyse(&h.store, true).await;
    let stored: Vec<_> = std::fs::read_dir(&h.audio_dir).expect("audio dir").flatten().map(|e| e.path()).collect();
    assert_eq!(stored.len(), 1, "one stored recording");
    // A file the worker keeps beside the audio goes with it.
    let sidecar = std::path::PathBuf::from(format!("{}.analysis.json", stored[0].display()));
    std::fs::write(&sidecar, "{}").expect("sidecar");
    // The review page's waveform is computed once and then served from its cache file.
    let waveform_uri = format!("/web/calls/{call_id}/waveform?columns=40");
    let (status, first) = h.call("GET", &waveform_uri, Some(h.key("t1", Role::Qa)), None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["channels"][0]["max"].as_array().map(Vec::len), Some(40), "{first}");
    let cached = std::path::PathBuf::from(format!("{}.waveform-40.json", stored[0].display()));
    assert!(cached.exists(), "the peaks are kept beside the audio");
    let (_, second) = h.call("GET", &waveform_uri, Some(h.key("t1", Role::Qa)), None).await;
    assert_eq!(first, second, "the cached peaks are the computed ones");

    let path = format!("/v1/calls/{call_id}");
    let (status, _) = h.call("DELETE", &path, Some(h.key("t2", Role::Admin)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant cannot delete it");
    let (status, _) = h.call("DELETE", &path, Some(h.key("t1", Role::Qa)), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = h.call("DELETE", &path, Some(h.key("t1", Role::Admin)), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let manager = h.key("t1", Role::Manager);
    for suffix in ["", "/report", "/transcript", "/audio", "/reviews"] {
        let (status, body) = h.call("GET", &format!("{path}{suffix}"), Some(manager), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {suffix}: {body}");
    }
    assert!(!stored[0].exists() && !sidecar.exists() && !cached.exists(), "the audio, its analysis and its waveform are removed");
    let (_, hits) = h.call("GET", "/v1/search?q=calling", Some(manager), None).await;
    assert_eq!(hits["hits"].as_array().map(Vec::len), Some(0), "the transcript is no longer searchable");
    let (status, _) = h.call("DELETE", &path, Some(h.key("t1", Role::Admin)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice is a 404");
    let (_, audit) = h.call("GET", "/v1/audit", Some(h.key("t1", Role::Admin)), None).await;
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries.iter().any(|e| e["action"] == "call_delete" && e["details"]["call_id"] == call_id.as_str()),
        "the deletion is audited: {audit}"
    );
}

async fn reanalysis_shows_the_call_as_queued(db: Db) {
    let h = Harness::new(db).await;
    let (_, accepted) = h.upload("t1", &wav(1, 1.0), None).await;
    let call_id = accepted["call_id"].as_str().expect("call id").to_string();
    analyse(&h.store, false).await;
    let qa = h.key("t1", Role::Qa);
    let (_, call) = h.call("GET", &format!("/v1/calls/{call_id}"), Some(qa), None).await;
    assert_eq!(call["status"], "analyzed", "{call}");
    let (status, _) = h.call("POST", &format!("/v1/calls/{call_id}/reanalyze"), Some(qa), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, call) = h.call("GET", &format!("/v1/calls/{call_id}"), Some(qa), None).await;
    assert_eq!(call["status"], "queued", "{call}");
    let (status, report) = h.call("GET", &format!("/v1/calls/{call_id}/report"), Some(qa), None).await;
    assert_eq!(status, StatusCode::OK, "the previous report stays readable: {report}");
}
