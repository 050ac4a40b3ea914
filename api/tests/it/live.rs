//! The API on a real TCP port: signed webhook deliveries to a real receiver, and (when
//! `CALLSIGHT_SCHEMATHESIS` names a `schemathesis`/`st` executable) a schemathesis run against
//! `/v1/openapi.json` that must find no 5xx and no response outside the documented schema.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use callsight_api::server::webhooks::signature;
use callsight_api::server::{
    ApiConfig, AppState, EnrolInput, EnrolResponse, EnrolStatus, IdentifyResponse, Metrics, SpeakerKind, SpeakerService,
    SpeakerServiceError, VerifyDecision, VerifyResponse, WebhookDeliveryConfig, WebhookEvent, app, emit_event,
    run_webhook_deliveries_with,
};
use callsight_workers::Store;
use tokio_util::sync::CancellationToken;

/// Accepts audio that starts like a WAV file, refuses anything else as bad audio.
struct FakeSpeakers;

fn check_audio(audio: &[u8]) -> Result<(), SpeakerServiceError> {
    if audio.starts_with(b"RIFF") { Ok(()) } else { Err(SpeakerServiceError::BadAudio("not a recording".into())) }
}

impl SpeakerService for FakeSpeakers {
    fn enrol(&self, input: EnrolInput) -> Result<EnrolResponse, SpeakerServiceError> {
        for clip in &input.clips {
            check_audio(clip)?;
        }
        Ok(EnrolResponse {
            speaker_id: input.speaker_id,
            kind: input.kind,
            status: EnrolStatus::Rejected,
            voiceprint_ids: vec![],
            net_speech_secs: 1.0,
            missing_speech_secs: 9.0,
            reasons: vec![],
        })
    }
    fn verify(&self, _tenant: &str, speaker_id: &str, audio: &[u8]) -> Result<VerifyResponse, SpeakerServiceError> {
        check_audio(audio)?;
        Ok(VerifyResponse {
            speaker_id: speaker_id.into(),
            decision: VerifyDecision::Inconclusive,
            score: None,
            threshold: 2.0,
            net_speech_secs: 0.0,
            reasons: vec![],
            watchlist_hits: vec![],
        })
    }
    fn identify(&self, _tenant: &str, audio: &[u8]) -> Result<IdentifyResponse, SpeakerServiceError> {
        check_audio(audio)?;
        Ok(IdentifyResponse { candidates: vec![], threshold: 2.0, net_speech_secs: 0.0, reasons: vec![], watchlist_hits: vec![] })
    }
    fn watchlist_add(
        &self,
        _tenant: &str,
        speaker_id: &str,
        clips: Vec<Vec<u8>>,
        _min: Option<f64>,
    ) -> Result<EnrolResponse, SpeakerServiceError> {
        for clip in &clips {
            check_audio(clip)?;
        }
        Ok(EnrolResponse {
            speaker_id: speaker_id.into(),
            kind: SpeakerKind::Fraudster,
            status: EnrolStatus::Rejected,
            voiceprint_ids: vec![],
            net_speech_secs: 1.0,
            missing_speech_secs: 9.0,
            reasons: vec![],
        })
    }
    fn delete(&self, _tenant: &str, speaker_id: &str) -> Result<(), SpeakerServiceError> {
        Err(SpeakerServiceError::UnknownSpeaker(speaker_id.into()))
    }
}

struct Server {
    base_url: String,
    store: Store,
    admin_key: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn start_server(configure: impl FnOnce(&mut ApiConfig)) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::connect(&format!("sqlite://{}/callsight.db", dir.path().display())).await.expect("store");
    let mut config = ApiConfig::with_audio_dir(dir.path().join("audio"));
    configure(&mut config);
    let state = AppState::new(store.clone(), Arc::new(FakeSpeakers), config, Metrics::default());
    let admin_key = store.create_key("t1", "admin", "live test").await.expect("key").plaintext;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app(state)).with_graceful_shutdown(async move { stop.cancelled().await }).await;
    });
    Server { base_url, store, admin_key, shutdown, _dir: dir }
}

/// One request the receiver got: headers and body.
type ReceivedRequest = (HeaderMap, Vec<u8>);

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<ReceivedRequest>>>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_signed_and_retried() {
    // A receiver that records requests; `/fail` always answers 500.
    let received = Received::default();
    let sink = received.clone();
    let receiver = Router::new()
        .route(
            "/hook",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    sink.0.lock().expect("lock").push((headers, body.to_vec()));
                    "ok"
                }
            }),
        )
        .route("/fail", post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let receiver_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });

    // A private-network target is refused unless the operator allows it.
    let guarded = start_server(|_| {}).await;
    let refused = reqwest::Client::new()
        .post(format!("{}/v1/webhooks", guarded.base_url))
        .bearer_auth(&guarded.admin_key)
        .json(&serde_json::json!({ "url": format!("{receiver_url}/hook"), "events": ["call.analyzed"] }))
        .send()
        .await
        .expect("create webhook");
    assert_eq!(refused.status(), 422, "a loopback webhook target is refused by default");
    guarded.shutdown.cancel();

    let server = start_server(|config| config.allow_private_webhook_targets = true).await;
    let client = reqwest::Client::new();
    let mut secrets = Vec::new();
    for path in ["/hook", "/fail"] {
        let response = client
            .post(format!("{}/v1/webhooks", server.base_url))
            .bearer_auth(&server.admin_key)
            .json(&serde_json::json!({ "url": format!("{receiver_url}{path}"), "events": ["call.analyzed"] }))
            .send()
            .await
            .expect("create webhook");
        assert_eq!(response.status(), 201);
        let created: serde_json::Value = response.json().await.expect("json");
        secrets.push(created["secret"].as_str().expect("secret").to_string());
    }
    let queued = emit_event(&server.store, "t1", WebhookEvent::CallAnalyzed, serde_json::json!({ "call_id": "c-1" }))
        .await
        .expect("emit");
    assert_eq!(queued, 2);

    let stop = CancellationToken::new();
    let config = WebhookDeliveryConfig {
        idle_poll: Duration::from_millis(50),
        allow_private_targets: true,
        ..WebhookDeliveryConfig::default()
    };
    let sender = tokio::spawn(run_webhook_deliveries_with(server.store.clone(), config, None, stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while received.0.lock().expect("lock").is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give the failing delivery its first attempt too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    sender.await.expect("sender stops on shutdown");

    let requests = received.0.lock().expect("lock").clone();
    assert_eq!(requests.len(), 1, "one delivery to the working receiver");
    let (headers, body) = &requests[0];
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert_eq!(header("x-callsight-signature"), signature(&secrets[0], body));
    assert_eq!(header("x-callsight-event"), "call.analyzed");
    assert!(header("x-callsight-timestamp").parse::<i64>().is_ok());
    let payload: serde_json::Value = serde_json::from_slice(body).expect("json body");
    assert_eq!(payload["event"], "call.analyzed");
    assert_eq!(payload["data"]["call_id"], "c-1");

    let webhooks = server.store.list_webhooks("t1").await.expect("webhooks");
    let failing = webhooks.iter().find(|w| w.url.ends_with("/fail")).expect("failing webhook");
    let deliveries = server.store.list_webhook_deliveries("t1", &failing.id, 10).await.expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].state, "pending", "a failed delivery waits for its retry");
    assert_eq!(deliveries[0].attempts, 1);
    assert!(deliveries[0].last_error.as_deref().unwrap_or("").contains("500"));
    server.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors() {
    let Ok(schemathesis) = std::env::var("CALLSIGHT_SCHEMATHESIS") else {
        eprintln!("skipped: set CALLSIGHT_SCHEMATHESIS to a schemathesis `st` executable to fuzz the API");
        return;
    };
    let server = start_server(|config| {
        config.rate_limit_per_minute = 0;
        config.max_upload_bytes = 1024 * 1024;
    })
    .await;
    let max_examples = std::env::var("CALLSIGHT_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let base_url = server.base_url.clone();
    let admin_key = server.admin_key.clone();

    // Seed an analysed call and a script, and point the operations on `{id}` at them so the
    // fuzzer gets past the 404s into the handlers' logic.
    let script = r#"{"id": "seeded", "rules": [{"id": "greeting", "kind": "required", "phrases": ["hello"]}]}"#;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base_url}/v1/scripts"))
        .bearer_auth(&admin_key)
        .header("content-type", "application/json")
        .body(script)
        .send()
        .await
        .expect("create script");
    assert_eq!(created.status(), 201);
    let boundary = "seed-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&common::wav(1, 0.5));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let uploaded = client
        .post(format!("{base_url}/v1/calls"))
        .bearer_auth(&admin_key)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), 202);
    let call: serde_json::Value = uploaded.json().await.expect("json");
    let call_id = call["call_id"].as_str().expect("call id").to_string();
    common::analyse(&server.store, true).await;
    let mut config = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml"))
        .expect("schemathesis.toml");
    for operation in [
        "GET /v1/calls/{id}",
        "GET /v1/calls/{id}/report",
        "GET /v1/calls/{id}/transcript",
        "GET /v1/calls/{id}/audio",
        "GET /v1/calls/{id}/reviews",
        "POST /v1/calls/{id}/reanalyze",
    ] {
        config.push_str(&format!("\n[[operations]]\ninclude-name = \"{operation}\"\nparameters = {{ id = \"{call_id}\" }}\n"));
    }
    // Reviews of the seeded call may still name unknown rules (422), so keep that allowance.
    config.push_str(&format!(
        "\n[[operations]]\ninclude-name = \"POST /v1/calls/{{id}}/reviews\"\nparameters = {{ id = \"{call_id}\" }}\n"
    ));
    for operation in ["GET /v1/scripts/{id}", "POST /v1/scripts/{id}/rescore"] {
        config.push_str(&format!("\n[[operations]]\ninclude-name = \"{operation}\"\nparameters = {{ id = \"seeded\" }}\n"));
    }
    let config_path = server._dir.path().join("schemathesis.toml");
    std::fs::write(&config_path, config).expect("write config");
    let config_file = config_path.display().to_string();
    let output = tokio::process::Command::new(&schemathesis)
        .arg("--config-file")
        .arg(config_file)
        .arg("run")
        .arg(format!("{base_url}/v1/openapi.json"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {admin_key}"))
        .arg("--max-examples")
        .arg(&max_examples)
        .arg("--workers")
        .arg("1")
        .arg("--no-color")
        .output()
        .await
        .expect("run schemathesis");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{report}");
    server.shutdown.cancel();
    assert!(output.status.success(), "schemathesis found problems:\n{report}");
}
