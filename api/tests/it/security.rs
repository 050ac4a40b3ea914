//! The holes an outside probe found (issue 15), each closed and held by a test on real sockets:
//! webhook SSRF in every spelling against a real listener, slow and greedy HTTP clients, live
//! streams held by pings, one key's stream quota and oversized WebSocket messages, and CSV
//! formula injection through the web pages' export code (run with `node` when installed).

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use callsight_api::server::egress::PublicPeerLayer;
use callsight_api::server::listener::{ConnectionLimits, serve};
use callsight_api::server::streams::{
    FinishedStream, LiveStream, OpenStream, StreamLimits, StreamMessage, StreamService, StreamServiceError,
};
use callsight_api::server::{
    ApiConfig, AppState, EnrolInput, EnrolResponse, IdentifyResponse, Metrics, SpeakerService, SpeakerServiceError,
    VerifyResponse, WebhookDeliveryConfig, WebhookEvent, app, emit_event, run_webhook_deliveries_with,
};
use callsight_workers::Store;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

/// The API never gets this far in these tests: every biometric call is refused.
struct NoSpeakers;

impl SpeakerService for NoSpeakers {
    fn enrol(&self, _input: EnrolInput) -> Result<EnrolResponse, SpeakerServiceError> {
        Err(SpeakerServiceError::Internal("no biometrics in this test".into()))
    }
    fn verify(&self, _tenant: &str, _speaker_id: &str, _audio: &[u8]) -> Result<VerifyResponse, SpeakerServiceError> {
        Err(SpeakerServiceError::Internal("no biometrics in this test".into()))
    }
    fn identify(&self, _tenant: &str, _audio: &[u8]) -> Result<IdentifyResponse, SpeakerServiceError> {
        Err(SpeakerServiceError::Internal("no biometrics in this test".into()))
    }
    fn watchlist_add(
        &self,
        _tenant: &str,
        _speaker_id: &str,
        _clips: Vec<Vec<u8>>,
        _min: Option<f64>,
    ) -> Result<EnrolResponse, SpeakerServiceError> {
        Err(SpeakerServiceError::Internal("no biometrics in this test".into()))
    }
    fn delete(&self, _tenant: &str, speaker_id: &str) -> Result<(), SpeakerServiceError> {
        Err(SpeakerServiceError::UnknownSpeaker(speaker_id.into()))
    }
}

/// A streaming engine that transcribes nothing: the protocol and its limits are what is tested.
struct SilentStreams;

struct SilentStream {
    n_bytes: usize,
}

impl LiveStream for SilentStream {
    fn push(&mut self, audio: &[u8], _slots: usize) -> Result<Vec<StreamMessage>, StreamServiceError> {
        self.n_bytes += audio.len();
        Ok(Vec::new())
    }
    fn finish(&mut self) -> Result<FinishedStream, StreamServiceError> {
        Ok(FinishedStream {
            messages: Vec::new(),
            recording: None,
            transcript_json: Vec::new(),
            duration_secs: self.n_bytes as f64 / 16_000.0,
            n_channels: 1,
        })
    }
}

impl StreamService for SilentStreams {
    fn capacity(&self) -> usize {
        4
    }
    fn inference_slots(&self) -> usize {
        1
    }
    fn open(&self, _request: OpenStream) -> Result<Box<dyn LiveStream>, StreamServiceError> {
        Ok(Box::new(SilentStream { n_bytes: 0 }))
    }
}

struct Server {
    addr: SocketAddr,
    store: Store,
    admin_key: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start_server(
    configure: impl FnOnce(&mut ApiConfig),
    limits: ConnectionLimits,
    streams: Option<StreamLimits>,
) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::connect(&format!("sqlite://{}/callsight.db", dir.path().display())).await.expect("store");
    let mut config = ApiConfig::with_audio_dir(dir.path().join("audio"));
    std::fs::create_dir_all(&config.audio_dir).expect("audio dir");
    config.rate_limit_per_minute = 0;
    configure(&mut config);
    let mut state = AppState::new(store.clone(), Arc::new(NoSpeakers), config, Metrics::default());
    if let Some(stream_limits) = streams {
        state = state.with_limited_streams(Arc::new(SilentStreams), stream_limits);
    }
    let admin_key = store.create_key("t1", "admin", "security test").await.expect("key").plaintext;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(serve(listener, app(state), limits, async move { stop.cancelled().await }));
    Server { addr, store, admin_key, shutdown, _dir: dir }
}

/// A plain TCP listener on 127.0.0.1 that counts the connections it accepts and the bytes it
/// receives: the target a webhook must never reach.
struct Canary {
    port: u16,
    connections: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    received: Arc<std::sync::Mutex<Vec<u8>>>,
}

async fn canary() -> Canary {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind canary");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (counted, counted_bytes, kept) = (connections.clone(), bytes.clone(), received.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let (counted_bytes, kept) = (counted_bytes.clone(), kept.clone());
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = socket.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    counted_bytes.fetch_add(n, Ordering::SeqCst);
                    kept.lock().expect("lock").extend_from_slice(&buffer[..n]);
                    // Answer like a receiver so an allowed delivery completes.
                    if kept.lock().expect("lock").windows(4).any(|w| w == b"\r\n\r\n") {
                        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                        break;
                    }
                }
            });
        }
    });
    Canary { port, connections, bytes, received }
}

/// Every way of writing a loopback (or other private) address that a URL parser other than the
/// client's might miss. `P` is the canary's port.
fn private_spellings(port: u16) -> Vec<String> {
    [
        "http://127.1:P/",
        "http://2130706433:P/",
        "http://0x7f000001:P/",
        "http://0177.0.0.1:P/",
        "http://0:P/",
        "http://127.0.0.1%2e:P/",
        "http://\u{2460}\u{2461}\u{2466}.0.0.1:P/",
        "http://x@127.0.0.1:P\\@8.8.8.8/k",
        "http://127.0.0.1:P\\@8.8.8.8/k",
        "http://[::1]:P/",
        "http://[::ffff:127.0.0.1]:P/",
        "http://[::ffff:7f00:1]:P/",
        "http://localhost:P/",
        "http://LocalHost.:P/",
        "http://10.0.0.1:P/",
        "http://192.168.1.1:P/",
        "http://172.16.0.1:P/",
        "http://100.64.0.1:P/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]:P/",
        "http://[fd00::1]:P/",
    ]
    .iter()
    .map(|spelling| spelling.replace('P', &port.to_string()))
    .collect()
}

async fn create_webhook(server: &Server, url: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/v1/webhooks"))
        .bearer_auth(&server.admin_key)
        .json(&serde_json::json!({ "url": url, "events": ["call.analyzed"] }))
        .send()
        .await
        .expect("create webhook");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Runs the sender until every delivery of every webhook of `t1` has been attempted.
async fn deliver_everything(store: &Store, allow_private_targets: bool) {
    let stop = CancellationToken::new();
    let config = WebhookDeliveryConfig {
        idle_poll: Duration::from_millis(50),
        request_timeout: Duration::from_secs(3),
        allow_private_targets,
        ..WebhookDeliveryConfig::default()
    };
    let sender = tokio::spawn(run_webhook_deliveries_with(store.clone(), config, None, stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut pending = 0;
        for webhook in store.list_webhooks("t1").await.expect("webhooks") {
            let deliveries = store.list_webhook_deliveries("t1", &webhook.id, 10).await.expect("deliveries");
            pending += deliveries.iter().filter(|d| d.attempts == 0).count();
        }
        if pending == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pending} deliveries never attempted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    sender.await.expect("the sender stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_never_reach_a_private_address_in_any_spelling() {
    let canary = canary().await;
    let server = start_server(|_| {}, ConnectionLimits::default(), None).await;

    // At creation: 422 with a clear reason, for every spelling.
    for url in private_spellings(canary.port) {
        let (status, body) = create_webhook(&server, &url).await;
        assert_eq!(status, 422, "{url} must be refused: {body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.starts_with("invalid webhook url"), "{url}: {message}");
    }
    assert!(server.store.list_webhooks("t1").await.expect("webhooks").is_empty());

    // Defence in depth: webhooks written around the API (an old row, a restored backup) are
    // attempted and refused; the canary sees no connection at all.
    for url in private_spellings(canary.port) {
        server.store.create_webhook("t1", &url, "0123456789abcdef", &["call.analyzed".to_string()]).await.expect("row");
    }
    let queued = emit_event(&server.store, "t1", WebhookEvent::CallAnalyzed, serde_json::json!({ "call_id": "c-1" }))
        .await
        .expect("emit");
    assert_eq!(queued, private_spellings(canary.port).len());
    deliver_everything(&server.store, false).await;
    for webhook in server.store.list_webhooks("t1").await.expect("webhooks") {
        let deliveries = server.store.list_webhook_deliveries("t1", &webhook.id, 10).await.expect("deliveries");
        let delivery = deliveries.first().expect("one delivery");
        assert_ne!(delivery.state, "delivered", "{}: {delivery:?}", webhook.url);
        let error = delivery.last_error.as_deref().unwrap_or("");
        assert!(error.contains("refused") || error.contains("no public address"), "{}: {error}", webhook.url);
    }
    assert_eq!(canary.connections.load(Ordering::SeqCst), 0, "the canary on 127.0.0.1 was connected to");
    assert_eq!(canary.bytes.load(Ordering::SeqCst), 0);
}

/// The last guard alone: a client with only the connector layer (no URL check, no resolver
/// filter) connects to 127.0.0.1 and drops the connection before writing a byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_judges_the_address_actually_connected_to() {
    let canary = canary().await;
    let client = reqwest::Client::builder().no_proxy().connector_layer(PublicPeerLayer).build().expect("client");
    for url in [format!("http://127.0.0.1:{}/", canary.port), format!("http://2130706433:{}/", canary.port)] {
        let result = client.post(&url).body("secret payload").send().await;
        let error = result.expect_err("a loopback peer is refused");
        assert!(format!("{error:?}").contains("not a public address"), "{url}: {error:?}");
    }
    // Give the canary's reader time to see anything that might have been sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(canary.bytes.load(Ordering::SeqCst), 0, "no request byte reached the canary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_delivered_when_the_operator_allows_them() {
    let canary = canary().await;
    let server = start_server(|config| config.allow_private_webhook_targets = true, ConnectionLimits::default(), None).await;
    let (status, body) = create_webhook(&server, &format!("http://127.1:{}/hook", canary.port)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = create_webhook(&server, &format!("http://user@127.0.0.1:{}/hook", canary.port)).await;
    assert_eq!(status, 422, "user info is refused even when private targets are allowed: {body}");
    emit_event(&server.store, "t1", WebhookEvent::CallAnalyzed, serde_json::json!({ "call_id": "c-2" })).await.expect("emit");
    deliver_everything(&server.store, true).await;
    let received = String::from_utf8_lossy(&canary.received.lock().expect("lock")).to_string();
    assert!(received.starts_with("POST /hook HTTP/1.1"), "the delivery reached the loopback receiver: {received:?}");
    assert!(received.contains("x-callsight-signature"), "{received}");
}

/// A client that sends one header line at a time, slower than the header-read timeout allows,
/// is disconnected; a normal request on another connection is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_clients_are_disconnected() {
    let limits = ConnectionLimits { header_read_timeout: Duration::from_secs(1), max_connections_per_peer: 16 };
    let server = start_server(|_| {}, limits, None).await;
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n").await.expect("request line");
    let mut lines_sent = 0;
    let mut closed = false;
    let mut buffer = [0u8; 1024];
    // One header line every 300 ms, for at most 60 lines (18 s): the server must hang up first.
    while lines_sent < 60 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if slow.write_all(format!("X-Slow-{lines_sent}: 1\r\n").as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        lines_sent += 1;
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buffer)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a client trickling header lines kept its connection for {lines_sent} lines");

    let response = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(response.status(), 200);
}

/// One address may hold `max_connections_per_peer` connections; the next gets 503 and is
/// closed, and a slot comes back when a connection ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_peer_are_capped() {
    let limits = ConnectionLimits { header_read_timeout: Duration::from_secs(30), max_connections_per_peer: 3 };
    let server = start_server(|_| {}, limits, None).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut socket = TcpStream::connect(server.addr).await.expect("connect");
        // A complete request proves the connection is being served (and keeps it open).
        socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await.expect("request");
        let mut buffer = [0u8; 1024];
        let n = socket.read(&mut buffer).await.expect("response");
        assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buffer[..n]));
        held.push(socket);
    }
    let mut extra = TcpStream::connect(server.addr).await.expect("the TCP handshake itself completes");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), extra.read_to_end(&mut answer)).await.expect("closed by the server");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 5") && answer.contains("too_many_connections"), "{answer}");

    drop(held.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut socket = TcpStream::connect(server.addr).await.expect("connect");
        socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await.expect("request");
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed connection's slot never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn open_stream(server: &Server, key: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{}/v1/streams", server.addr).into_client_request().expect("request");
    request.headers_mut().insert("authorization", format!("Bearer {key}").parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let start = r#"{"type": "start", "encoding": "pcm_s16le", "sample_rate": 8000, "channels": ["mixed"]}"#;
    socket.send(Message::Text(start.into())).await.expect("send start");
    let started = next_event(&mut socket).await.expect("started");
    assert_eq!(started["type"], "started", "{started}");
    Ok(socket)
}

/// The next JSON event, skipping control frames; `None` at the close or the end.
async fn next_event(socket: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next()).await.expect("an event within 20 s") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).ok(),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

fn stream_limits() -> StreamLimits {
    StreamLimits { idle_timeout: Duration::from_secs(1), max_per_key: Some(1), max_message_bytes: 64 * 1024 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_do_not_keep_a_stream_open() {
    let server = start_server(|_| {}, ConnectionLimits::default(), Some(stream_limits())).await;
    let key = server.store.create_key("t1", "ingest", "recorder").await.expect("key").plaintext;
    let mut socket = open_stream(&server, &key).await.expect("open");
    let mut pings = 0;
    // Pings and stray text messages every 200 ms, for up to 20 s, until the stream ends; each
    // text message gets a non-fatal `bad_message`, which is skipped.
    let event = loop {
        // Reading is cancel-safe: a timed-out wait loses no message.
        match tokio::time::timeout(Duration::from_millis(200), next_event(&mut socket)).await {
            Ok(Some(event)) if event["code"] == "bad_message" => {}
            Ok(event) => break event.expect("an event before the end"),
            Err(_) => {
                socket.send(Message::Ping(vec![1, 2, 3].into())).await.expect("ping");
                socket.send(Message::Text(r#"{"type": "keepalive"}"#.into())).await.expect("text");
                pings += 1;
                assert!(pings < 100, "20 s of pings kept the stream open");
            }
        }
    };
    assert_eq!(event["type"], "error", "{event}");
    assert_eq!(event["code"], "idle", "{event}");
    assert_eq!(event["fatal"], true, "{event}");
    let summary = next_event(&mut socket).await.expect("summary");
    assert_eq!(summary["type"], "summary", "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_keeps_a_stream_open() {
    let limits = StreamLimits { idle_timeout: Duration::from_secs(2), ..stream_limits() };
    let server = start_server(|_| {}, ConnectionLimits::default(), Some(limits)).await;
    let key = server.store.create_key("t1", "ingest", "recorder").await.expect("key").plaintext;
    let mut socket = open_stream(&server, &key).await.expect("open");
    // 20 ms of silence every 100 ms for 4 s: twice the idle timeout, with audio throughout.
    for _ in 0..40 {
        socket.send(Message::Binary(vec![0u8; 320].into())).await.expect("audio");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    socket.send(Message::Text(r#"{"type": "stop"}"#.into())).await.expect("stop");
    let mut events = Vec::new();
    while let Some(event) = next_event(&mut socket).await {
        events.push(event);
    }
    assert!(events.iter().all(|e| e["type"] != "error"), "{events:?}");
    assert_eq!(events.last().map(|e| e["type"].clone()), Some("summary".into()), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_holds_at_most_its_quota_of_streams() {
    let server = start_server(|_| {}, ConnectionLimits::default(), Some(stream_limits())).await;
    let first_key = server.store.create_key("t1", "ingest", "recorder 1").await.expect("key").plaintext;
    let second_key = server.store.create_key("t1", "ingest", "recorder 2").await.expect("key").plaintext;
    let mut first = open_stream(&server, &first_key).await.expect("the key's first stream");
    match open_stream(&server, &first_key).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).expect("json");
            assert_eq!(body["error"]["code"], "stream_quota", "{body}");
        }
        Err(other) => panic!("expected 429, got {other}"),
        Ok(_) => panic!("a second stream of the same key was admitted"),
    }
    let mut other = open_stream(&server, &second_key).await.expect("another key has its own quota");

    first.send(Message::Text(r#"{"type": "stop"}"#.into())).await.expect("stop");
    while next_event(&mut first).await.is_some() {}
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut again = loop {
        match open_stream(&server, &first_key).await {
            Ok(socket) => break socket,
            Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(error) => panic!("the ended stream's place never came back: {error}"),
        }
    };
    for socket in [&mut again, &mut other] {
        socket.send(Message::Text(r#"{"type": "stop"}"#.into())).await.expect("stop");
        while next_event(socket).await.is_some() {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_gets_an_error_and_close_code_1009() {
    let server = start_server(|_| {}, ConnectionLimits::default(), Some(stream_limits())).await;
    let key = server.store.create_key("t1", "ingest", "recorder").await.expect("key").plaintext;
    let mut socket = open_stream(&server, &key).await.expect("open");
    socket.send(Message::Binary(vec![0u8; 1600].into())).await.expect("small audio is fine");
    socket.send(Message::Binary(vec![0u8; 200 * 1024].into())).await.expect("send a 200 KiB message");
    let mut events = Vec::new();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next()).await.expect("an answer within 20 s") {
            Some(Ok(Message::Text(text))) => events.push(serde_json::from_str::<Value>(&text).expect("json")),
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!("the connection broke without a close frame: {error}; events {events:?}"),
            None => panic!("the connection ended without a close frame; events {events:?}"),
        }
    };
    let error = events.iter().find(|e| e["type"] == "error").unwrap_or_else(|| panic!("an error event: {events:?}"));
    assert_eq!(error["code"], "frame_too_large", "{error}");
    assert!(error["message"].as_str().unwrap_or("").contains("65536"), "{error}");
    assert_eq!(events.last().map(|e| e["type"].clone()), Some("summary".into()), "{events:?}");
    assert_eq!(close.map(|frame| frame.code), Some(CloseCode::Size), "close code 1009");
}

/// Agent and team names come from uploads; the pages' CSV export must not hand a spreadsheet a
/// formula. The export code is the web app's own `core.js`, fetched from the server and run with
/// `node` on the call list the API returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_neutralise_formulas_from_uploads() {
    let server = start_server(|_| {}, ConnectionLimits::default(), None).await;
    let agent = r#"=HYPERLINK("http://evil.example/x","click")"#;
    let metadata = serde_json::json!({ "agent_id": agent, "team": "@SUM(1+1)", "external_call_id": "-2+3" }).to_string();
    let boundary = "callsight-security-test-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"call.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&common::wav(1, 1.0));
    body.extend_from_slice(
        format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{metadata}\r\n--{boundary}--\r\n")
            .as_bytes(),
    );
    let response = reqwest::Client::new()
        .post(server.url("/v1/calls"))
        .bearer_auth(&server.admin_key)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap_or_default());
    let calls: Value = reqwest::Client::new()
        .get(server.url("/v1/calls"))
        .bearer_auth(&server.admin_key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let call = &calls["calls"][0];
    assert_eq!(call["agent_id"], agent, "{calls}");
    let core_js = reqwest::get(server.url("/assets/core.js")).await.expect("core.js").text().await.expect("text");

    let Some(node) = which_node() else {
        eprintln!("SKIPPED csv_exports_neutralise_formulas_from_uploads: `node` is not installed (Debian package nodejs)");
        return;
    };
    let rows = serde_json::json!([
        ["agent", "team", "external id", "score", "note"],
        [call["agent_id"], call["team"], call["external_call_id"], -0.35, "fine, \"quoted\""],
        ["\tTAB", "\rCR", "+1+1", "-12.5", "plain"],
    ]);
    let script = format!(
        "globalThis.document = {{ addEventListener() {{}} }};\nglobalThis.window = {{ addEventListener() {{}} }};\n{core_js}\n\
         ;process.stdout.write(CS.csvText({rows}));\n"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("csv.js");
    std::fs::write(&path, script).expect("write script");
    let output = std::process::Command::new(node).arg(&path).output().expect("run node");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let csv = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[1],
        r#""'=HYPERLINK(""http://evil.example/x"",""click"")","'@SUM(1+1)","'-2+3",-0.35,"fine, ""quoted""""#,
        "{csv}"
    );
    assert_eq!(lines[2], "\"'\tTAB\",\"'\rCR\",\"'+1+1\",-12.5,plain", "{csv}");
}

fn which_node() -> Option<std::path::PathBuf> {
    ["/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"].into_iter().map(std::path::PathBuf::from).find(|path| path.exists())
}
