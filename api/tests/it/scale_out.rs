//! Several API processes on one PostgreSQL database, and readiness that tells the truth: the
//! request rate and the upload quota hold across processes (two `AppState`s over two `Store`s on
//! one database stand for two `callsight serve` processes), and `/readyz` fails while the database
//! or the voiceprint index does not answer and recovers by itself.

use crate::common;
use crate::pg;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use callsight_api::server::{
    ApiConfig, AppState, EnrolInput, EnrolResponse, IdentifyResponse, Metrics, SpeakerService, SpeakerServiceError,
    VerifyResponse, app,
};
use callsight_workers::{QueueConfig, Store};
use serde_json::Value;
use tower::ServiceExt;

/// No biometrics in these tests, except the readiness of its index, switchable.
#[derive(Default)]
struct IndexProbe {
    unreachable: AtomicBool,
}

impl SpeakerService for IndexProbe {
    fn check_ready(&self) -> Result<(), SpeakerServiceError> {
        if self.unreachable.load(Ordering::SeqCst) {
            Err(SpeakerServiceError::Unavailable("qdrant at http://127.0.0.1:6334 does not answer".into()))
        } else {
            Ok(())
        }
    }
    fn enrol(&self, _input: EnrolInput) -> Result<EnrolResponse, SpeakerServiceError> {
        Err(SpeakerServiceError::Internal("not in this test".into()))
    }
    fn verify(&self, _tenant: &str, _speaker_id: &str, _audio: &[u8]) -> Result<VerifyResponse, SpeakerServiceError> {
        Err(SpeakerServiceError::Internal("not in this test".into()))
    }
    fn identify(&self, _tenant: &str, _audio: &[u8]) -> Result<IdentifyResponse, SpeakerServiceError> {
        Err(SpeakerServiceError::Internal("not in this test".into()))
    }
    fn watchlist_add(
        &self,
        _tenant: &str,
        _speaker_id: &str,
        _clips: Vec<Vec<u8>>,
        _min: Option<f64>,
    ) -> Result<EnrolResponse, SpeakerServiceError> {
        Err(SpeakerServiceError::Internal("not in this test".into()))
    }
    fn delete(&self, _tenant: &str, _speaker_id: &str) -> Result<(), SpeakerServiceError> {
        Err(SpeakerServiceError::Internal("not in this test".into()))
    }
}

/// One "API process": its own store (connection pool) and app on the shared database.
struct ApiProcess {
    app: Router,
    _audio: tempfile::TempDir,
}

async fn api_process(url: &str, speakers: Arc<IndexProbe>, configure: impl FnOnce(&mut ApiConfig)) -> ApiProcess {
    let audio = tempfile::tempdir().expect("temp dir");
    let store = Store::connect_with(url, QueueConfig::default()).await.expect("open store");
    let mut config = ApiConfig::with_audio_dir(audio.path().join("audio"));
    configure(&mut config);
    ApiProcess { app: app(AppState::new(store, speakers, config, Metrics::default())), _audio: audio }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.expect("infallible router");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1024 * 1024).await.expect("read body");
    (status, headers, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn get(app: &Router, uri: &str, key: Option<&str>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut builder = Request::builder().uri(uri);
    if let Some(key) = key {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    send(app, builder.body(Body::empty()).expect("request")).await
}

async fn upload(app: &Router, key: &str, audio: &[u8]) -> (StatusCode, axum::http::HeaderMap, Value) {
    const BOUNDARY: &str = "scale-out-boundary-3c9e";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"call.wav\"\r\n\
             Content-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(audio);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let request = Request::builder()
        .method("POST")
        .uri("/v1/calls")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(body))
        .expect("request");
    send(app, request).await
}

/// Polls `/readyz` until it answers `status` (at most `limit`); the last answer.
async fn readyz_until(app: &Router, status: StatusCode, limit: Duration) -> (StatusCode, Value) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (answered, _, body) = get(app, "/readyz", None).await;
        if answered == status || tokio::time::Instant::now() > deadline {
            return (answered, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_postgresql_is_down_and_recovers_by_itself() {
    let cluster = pg::PgCluster::start();
    let url = cluster.create_database();
    let api = api_process(&url, Arc::new(IndexProbe::default()), |_| {}).await;
    let (status, _, body) = get(&api.app, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    cluster.stop();
    let (status, body) = readyz_until(&api.app, StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(30)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert!(body["reason"].as_str().unwrap_or_default().contains("database"), "{body}");
    // Liveness is not readiness: the process itself is fine.
    assert_eq!(get(&api.app, "/healthz", None).await.0, StatusCode::OK);

    cluster.restart();
    let (status, body) = readyz_until(&api.app, StatusCode::OK, Duration::from_secs(60)).await;
    assert_eq!(status, StatusCode::OK, "readiness did not recover after the restart: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_the_voiceprint_index_is_unreachable() {
    let url = pg::PgCluster::shared().create_database();
    let probe = Arc::new(IndexProbe::default());
    let api = api_process(&url, probe.clone(), |_| {}).await;
    assert_eq!(get(&api.app, "/readyz", None).await.0, StatusCode::OK);
    probe.unreachable.store(true, Ordering::SeqCst);
    let (status, _, body) = get(&api.app, "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["reason"], "voiceprint index unreachable", "{body}");
    // The probe's detail (the URL) goes to the log, not to whoever asks.
    assert!(!body.to_string().contains("6334"), "{body}");
    probe.unreachable.store(false, Ordering::SeqCst);
    assert_eq!(get(&api.app, "/readyz", None).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_processes_share_one_rate_limit_per_key() {
    let url = pg::PgCluster::shared().create_database();
    let probe = Arc::new(IndexProbe::default());
    let first = api_process(&url, probe.clone(), |config| config.rate_limit_per_minute = 4).await;
    let second = api_process(&url, probe, |config| config.rate_limit_per_minute = 4).await;
    let store = Store::connect(&url).await.expect("open store");
    let key = store.create_key("t1", "manager", "rate").await.expect("create key").plaintext;
    let other_key = store.create_key("t1", "manager", "rate 2").await.expect("create key").plaintext;
    for app in [&first.app, &second.app, &first.app, &second.app] {
        let (status, _, body) = get(app, "/v1/calls", Some(&key)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Per process, each would still allow two more; together the key has used its four.
    for app in [&first.app, &second.app] {
        let (status, headers, body) = get(app, "/v1/calls", Some(&key)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "rate_limited");
        let retry_after: u64 = headers[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }
    assert_eq!(get(&second.app, "/v1/calls", Some(&other_key)).await.0, StatusCode::OK, "another key has its own limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_processes_share_one_upload_quota_per_tenant() {
    let url = pg::PgCluster::shared().create_database();
    let probe = Arc::new(IndexProbe::default());
    // 5 seconds of audio per hour (0.5 / 360 h).
    let quota = Some(5.0 / 3600.0);
    let first = api_process(&url, probe.clone(), |config| config.upload_quota_audio_hours_per_hour = quota).await;
    let second = api_process(&url, probe, |config| config.upload_quota_audio_hours_per_hour = quota).await;
    let store = Store::connect(&url).await.expect("open store");
    let t1 = store.create_key("t1", "ingest", "quota").await.expect("create key").plaintext;
    let t2 = store.create_key("t2", "ingest", "quota").await.expect("create key").plaintext;
    let three_secs = common::wav(1, 3.0);

    let (status, _, body) = upload(&first.app, &t1, &three_secs).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // 3 s + 3 s > 5 s, whichever process the second upload reaches.
    let (status, headers, body) = upload(&second.app, &t1, &three_secs).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("audio hours per hour"), "{body}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    // The refused upload was not stored.
    assert_eq!(store.queue_depth().await.expect("queue depth"), 1);
    // Another tenant has its own quota.
    assert_eq!(upload(&first.app, &t2, &three_secs).await.0, StatusCode::ACCEPTED);
    // A recording longer than the whole quota can never fit: 422, not "retry later".
    let (status, _, body) = upload(&first.app, &t2, &common::wav(1, 6.0)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
