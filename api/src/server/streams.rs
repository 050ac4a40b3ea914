//! `GET /v1/streams`: live calls over a WebSocket (RFC 6455). The client sends a JSON `start`,
//! then binary frames of raw samples of any size, then `stop` (or just closes); the server sends
//! JSON events back: `started`, `partial`, `final`, `turn`, `alert`, `verification`,
//! `watchlist_hit`, `error` and, at the end, `summary`. The protocol is documented in
//! `docs/streaming.md`.
//!
//! The API only moves bytes and events: the binary implements [`StreamService`] over
//! `pipeline::streaming` with the shared models, so this crate never depends on `models`.
//!
//! Scheduling: every stream's work runs on the blocking pool, and at most
//! [`StreamService::inference_slots`] pieces of work (one per core) run at once; the semaphore
//! is fair, so streams take turns. A stream that falls behind gets its waiting audio in one piece
//! next time (the session then skips partials, never finals). Beyond
//! [`StreamService::capacity`] streams, new ones are refused with 503 before the upgrade.
//!
//! When a stream ends, by `stop`, by a dropped connection or because the server shuts down
//! ([`LiveStreams::shut_down`]), the audio received so far is stored as a call with its
//! transcript next to it, and queued for the post-call analysis like an upload. The audio goes to
//! disk as it arrives (`<call id>.wav.partial` in the audio directory, renamed at the end), never
//! into memory. Live alerts and watchlist hits are also queued as webhook events
//! (`stream.alert`, `watchlist.hit`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use callsight_pipeline::streaming::{LiveAlert, StreamEvent};
use callsight_pipeline::types::Turn;
use callsight_workers::store::{NewAuditEntry, NewCall};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::AppState;
use super::auth::{Action, Caller};
use super::error::{ApiError, ApiResult, ErrorBody, ErrorDetail};
use super::metrics::Metrics;
use super::util;
use super::webhooks::{WebhookEvent, emit_event};

/// How long a client has to send `start` after the upgrade.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the closing handshake may take once the `summary` is sent.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// `start`: what the stream is. Sample rate and encoding describe the binary frames that follow.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamStart {
    /// `pcm_s16le`, `mulaw`, `alaw` or `f32le`; interleaved when there are two channels.
    pub encoding: String,
    /// Samples per second per channel (4000..=192000).
    pub sample_rate: u32,
    /// The party on each channel: `["agent", "customer"]`, `["customer", "agent"]`, or one
    /// channel `["mixed"]` (both parties on one line; speakers are then `unknown`).
    pub channels: Vec<String>,
    /// A stored compliance script for live alerts and the post-call report.
    #[serde(default)]
    pub script_id: Option<String>,
    /// Who the caller claims to be: their voice is verified against this customer's voiceprint.
    #[serde(default)]
    pub claimed_customer_id: Option<String>,
    /// The recorder's or telephony platform's id; must be unique per tenant.
    #[serde(default)]
    pub external_call_id: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    /// ISO 639-1 hint; detected when absent.
    #[serde(default)]
    pub language: Option<String>,
}

/// What the binary needs to open a stream, resolved by the API (tenant, script body).
#[derive(Debug, Clone)]
pub struct OpenStream {
    pub tenant: String,
    pub start: StreamStart,
    /// `(script id, version, body)` of the script named in `start`.
    pub script: Option<(String, i64, serde_json::Value)>,
    /// Where the received audio is written as it arrives (a 16-bit PCM WAV at the client's rate
    /// and channels); the API renames it when the call is stored.
    pub recording_path: PathBuf,
}

/// A recognised word of a `final`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamWord {
    pub text: String,
    pub start_secs: f64,
    pub end_secs: f64,
    pub confidence: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamSentiment {
    /// `positive`, `neutral` or `negative`.
    pub label: String,
    /// -1 (negative) .. +1 (positive).
    pub score: f32,
}

/// Every message the server sends, as JSON text with a `type`. Times are seconds of audio from
/// the start of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamMessage {
    /// The stream is open; audio frames may follow.
    Started { sample_rate: u32, channels: Vec<String> },
    /// The current, unstable guess for what `speaker` is saying; the next partial or final replaces it.
    Partial { speaker: String, start_secs: f64, end_secs: f64, text: String },
    /// Committed words, never revised.
    Final { speaker: String, start_secs: f64, end_secs: f64, text: String, words: Vec<StreamWord> },
    /// A finished turn of one speaker with its sentiment.
    Turn { speaker: String, start_secs: f64, end_secs: f64, text: String, sentiment: Option<StreamSentiment> },
    /// `forbidden_phrase`, `required_phrase_missing`, `long_silence` or `customer_negative`.
    Alert {
        kind: String,
        rule_id: Option<String>,
        severity: String,
        message: String,
        /// When the server noticed (audio time).
        detected_at_secs: f64,
        start_secs: f64,
        end_secs: f64,
        text: Option<String>,
    },
    /// Voice verification of the claimed customer on the customer's speech so far; sent again as
    /// more speech arrives.
    Verification {
        speaker_id: String,
        /// `accept`, `reject` or `inconclusive`.
        decision: String,
        score: Option<f64>,
        threshold: f64,
        net_speech_secs: f64,
        reasons: Vec<String>,
    },
    /// The caller's voice matches a watchlisted (fraudster) voice.
    WatchlistHit { speaker_id: String, score: f64, net_speech_secs: f64 },
    /// Something went wrong; `fatal` errors end the stream.
    Error { code: String, message: String, fatal: bool },
    /// Answer to `{"type":"pause"}` (PCI pause): audio from `at_secs` on is replaced by silence,
    /// never stored or transcribed, until `{"type":"resume"}`.
    Paused { at_secs: f64 },
    /// Answer to `{"type":"resume"}`: audio is recorded and transcribed again.
    Resumed { at_secs: f64, paused_secs: f64 },
    /// The last message: the stored call (if any audio arrived) and its post-call analysis job.
    Summary {
        call_id: Option<String>,
        job_id: Option<String>,
        duration_secs: f64,
        n_finals: usize,
        n_alerts: usize,
        /// The last verification decision, if any.
        verification: Option<String>,
    },
}

impl StreamMessage {
    /// The wire form of a pipeline event.
    pub fn from_event(event: &StreamEvent) -> Self {
        match event {
            StreamEvent::Partial { speaker, start_secs, end_secs, text } => StreamMessage::Partial {
                speaker: speaker.as_str().to_string(),
                start_secs: *start_secs,
                end_secs: *end_secs,
                text: text.clone(),
            },
            StreamEvent::Final(segment) => StreamMessage::Final {
                speaker: segment.speaker.as_str().to_string(),
                start_secs: segment.start_secs,
                end_secs: segment.end_secs,
                text: segment.text.clone(),
                words: segment
                    .words
                    .iter()
                    .map(|w| StreamWord {
                        text: w.text.trim().to_string(),
                        start_secs: w.start_secs,
                        end_secs: w.end_secs,
                        confidence: w.confidence,
                    })
                    .collect(),
            },
            StreamEvent::Turn(turn) => turn_message(turn),
            StreamEvent::Alert(alert) => alert_message(alert),
        }
    }

    fn error(code: &str, message: impl Into<String>, fatal: bool) -> Self {
        StreamMessage::Error { code: code.to_string(), message: message.into(), fatal }
    }
}

fn turn_message(turn: &Turn) -> StreamMessage {
    StreamMessage::Turn {
        speaker: turn.speaker.as_str().to_string(),
        start_secs: turn.start_secs,
        end_secs: turn.end_secs,
        text: turn.text.clone(),
        sentiment: turn.sentiment.map(|s| StreamSentiment {
            label: serde_json::to_value(s.label).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            score: s.score,
        }),
    }
}

fn alert_message(alert: &LiveAlert) -> StreamMessage {
    StreamMessage::Alert {
        kind: alert.kind.as_str().to_string(),
        rule_id: alert.rule_id.clone(),
        severity: alert.severity.as_str().to_string(),
        message: alert.message.clone(),
        detected_at_secs: alert.detected_at_secs,
        start_secs: alert.start_secs,
        end_secs: alert.end_secs,
        text: alert.text.clone(),
    }
}

/// The recording of an ended stream: [`OpenStream::recording_path`], complete and synced.
#[derive(Debug, Clone)]
pub struct RecordedAudio {
    pub path: PathBuf,
    pub n_bytes: u64,
}

/// What an ended stream leaves behind.
pub struct FinishedStream {
    /// Events of the last words (finals, turns, alerts, a last verification).
    pub messages: Vec<StreamMessage>,
    /// The audio received; `None` when no whole sample arrived (the file is then removed).
    pub recording: Option<RecordedAudio>,
    /// The transcript the post-call analysis uses instead of transcribing again (JSON).
    pub transcript_json: Vec<u8>,
    pub duration_secs: f64,
    pub n_channels: usize,
}

/// Failures of the streaming engine. `BadRequest` is the client's fault; `Internal` is logged.
#[derive(Debug, thiserror::Error)]
pub enum StreamServiceError {
    #[error("{0}")]
    BadRequest(String),
    #[error("streaming engine failed: {0}")]
    Internal(String),
}

/// One open stream. Every method blocks (inference); the API calls them on the blocking pool.
pub trait LiveStream: Send + 'static {
    /// Takes the next audio bytes (any length, any framing) and returns the events they produced.
    /// `slots`: the inference slots held for this piece of work (at least 1; more when other
    /// slots were idle), so a lone stream's pass uses every core and a busy server's one each.
    fn push(&mut self, audio: &[u8], slots: usize) -> Result<Vec<StreamMessage>, StreamServiceError>;
    /// Ends the stream: finalises the recording and the transcript.
    fn finish(&mut self) -> Result<FinishedStream, StreamServiceError>;
}

/// The streaming engine, implemented by the binary.
pub trait StreamService: Send + Sync + 'static {
    /// Most streams served at once; more are refused with 503.
    fn capacity(&self) -> usize;
    /// Pieces of stream work (inference) run at once: at most the number of cores.
    fn inference_slots(&self) -> usize;
    /// Opens a stream (blocking: allocates per-stream state). Bad settings are `BadRequest`.
    fn open(&self, request: OpenStream) -> Result<Box<dyn LiveStream>, StreamServiceError>;
}

/// What one client may hold: how long a stream may go without audio, how many streams one API
/// key may have open, and the largest WebSocket message.
#[derive(Debug, Clone)]
pub struct StreamLimits {
    /// A stream that receives no audio (a non-empty binary message) for this long is ended;
    /// pings, pongs and other messages do not count, so they cannot hold a slot.
    pub idle_timeout: Duration,
    /// Streams one API key may have open at once (`None`: only the server's capacity limits).
    /// Over it, the upgrade is refused with 429 `stream_quota` and `Retry-After`.
    pub max_per_key: Option<usize>,
    /// Largest WebSocket message (and frame) accepted; a bigger one ends the stream with an
    /// `error` `frame_too_large` and close code 1009 (message too big).
    pub max_message_bytes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits { idle_timeout: Duration::from_secs(60), max_per_key: None, max_message_bytes: 1024 * 1024 }
    }
}

/// Why a stream was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    AtCapacity,
    KeyQuota,
}

/// The streaming engine with its admission counters and the inference slots, shared by handlers.
pub struct LiveStreams {
    service: Arc<dyn StreamService>,
    inference: Arc<Semaphore>,
    active: AtomicUsize,
    /// Open streams per API key id (only keys with at least one).
    per_key: Mutex<HashMap<String, usize>>,
    limits: StreamLimits,
    /// Cancelled when the server shuts down: every open stream ends as on `stop`.
    shutdown: CancellationToken,
}

impl LiveStreams {
    pub fn new(service: Arc<dyn StreamService>) -> Self {
        Self::with_limits(service, StreamLimits::default())
    }

    pub fn with_limits(service: Arc<dyn StreamService>, limits: StreamLimits) -> Self {
        let inference = Arc::new(Semaphore::new(service.inference_slots().max(1)));
        LiveStreams {
            service,
            inference,
            active: AtomicUsize::new(0),
            per_key: Mutex::new(HashMap::new()),
            limits,
            shutdown: CancellationToken::new(),
        }
    }

    /// Streams open now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Ends every open stream as a `stop` would (the client gets an `error` `shutting_down` and
    /// its `summary`; the audio received is stored and queued) and refuses new ones. WebSocket
    /// connections are upgraded, so the HTTP server's graceful shutdown does not wait for them:
    /// the caller waits with [`LiveStreams::wait_until_ended`].
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// Waits until no stream is open (each has stored its call), at most `limit`; `false` when
    /// some were still open then.
    pub async fn wait_until_ended(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.active() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Streams `key_id` has open now.
    fn open_for_key(&self, key_id: &str) -> usize {
        self.per_key.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key_id).copied().unwrap_or(0)
    }

    /// A place for one more stream of `key_id`: the server's capacity first (503), then the
    /// key's quota (429).
    fn try_admit(self: &Arc<Self>, key_id: &str, metrics: &Metrics) -> Result<Admission, Refusal> {
        let capacity = self.service.capacity();
        // The per-key map's lock is held across both checks so two upgrades of one key cannot
        // both take its last place.
        let mut per_key = self.per_key.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let open_for_key = per_key.get(key_id).copied().unwrap_or(0);
        if self.limits.max_per_key.is_some_and(|quota| open_for_key >= quota) && self.active() < capacity {
            return Err(Refusal::KeyQuota);
        }
        self.active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < capacity).then_some(n + 1))
            .map_err(|_| Refusal::AtCapacity)?;
        *per_key.entry(key_id.to_string()).or_insert(0) += 1;
        metrics.set_active_streams(self.active());
        Ok(Admission { streams: self.clone(), key_id: key_id.to_string(), metrics: metrics.clone() })
    }
}

/// A place among the open streams (and in its key's quota), given back when dropped (however
/// the stream ends).
struct Admission {
    streams: Arc<LiveStreams>,
    key_id: String,
    metrics: Metrics,
}

impl Drop for Admission {
    fn drop(&mut self) {
        {
            let mut per_key = self.streams.per_key.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(open) = per_key.get_mut(&self.key_id) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    per_key.remove(&self.key_id);
                }
            }
        }
        self.streams.active.fetch_sub(1, Ordering::SeqCst);
        self.metrics.set_active_streams(self.streams.active());
    }
}

/// Stream a live call.
///
/// A WebSocket (RFC 6455) endpoint: connect with `Authorization: Bearer KEY` (roles `ingest` or
/// `admin`). Send a JSON text message `{"type": "start", "encoding": "pcm_s16le", "sample_rate":
/// 8000, "channels": ["agent", "customer"], "script_id": ..., "claimed_customer_id": ...,
/// "external_call_id": ...}`, then binary messages of interleaved samples of any size, then
/// `{"type": "stop"}` (or close). The server answers with JSON text messages, each with a
/// `type`: `started`, `partial`, `final`, `turn`, `alert`, `verification`, `watchlist_hit`,
/// `error` and finally `summary`, which names the stored call whose post-call report follows as
/// for an upload. Full protocol: docs/streaming.md. Refused with 503 when the server already
/// serves as many streams as it can in real time, or is shutting down. When the server shuts
/// down, open streams get an `error` `shutting_down` and their `summary`: the audio received is
/// stored and analysed. Live alerts and watchlist hits are also sent to the tenant's webhooks
/// (`stream.alert`, `watchlist.hit`).
#[utoipa::path(
    get, path = "/v1/streams", tag = "streams",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; messages are StreamMessage JSON", body = StreamMessage),
        (status = 400, description = "Not a WebSocket upgrade request", body = ErrorBody),
        (status = 429, description = "This API key already has streams.max_per_key streams open; see Retry-After", body = ErrorBody),
        (status = 503, description = "At capacity, streaming is off, or the server is shutting down; see Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn open_stream(
    State(state): State<AppState>,
    caller: Caller,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    caller.require(Action::StreamCalls)?;
    let upgrade = upgrade.map_err(|rejection| ApiError::BadRequest(format!("not a WebSocket upgrade: {rejection}")))?;
    let Some(streams) = state.streams.clone() else {
        return Ok(unavailable("streaming_disabled", "live streaming is not enabled on this server"));
    };
    if streams.shutdown.is_cancelled() {
        return Ok(unavailable("shutting_down", "the server is shutting down"));
    }
    let admission = match streams.try_admit(&caller.key_id, &state.metrics) {
        Ok(admission) => admission,
        Err(Refusal::AtCapacity) => {
            state.metrics.stream_refused();
            tracing::warn!(active = streams.active(), "stream refused: at capacity");
            return Ok(unavailable(
                "at_capacity",
                &format!("this server already serves {} live streams, its real-time capacity", streams.active()),
            ));
        }
        Err(Refusal::KeyQuota) => {
            state.metrics.stream_refused();
            let open = streams.open_for_key(&caller.key_id);
            tracing::warn!(key_id = %caller.key_id, open, "stream refused: the key's stream quota is used up");
            return Ok(refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "stream_quota",
                &format!("this api key already has {open} live streams open, its quota (streams.max_per_key)"),
            ));
        }
    };
    // Across every API process on the database (`max_live_streams_total`).
    let shared_slot = match super::limits::admit_stream_cluster_wide(&state).await? {
        Ok(slot) => slot,
        Err(limit) => {
            state.metrics.stream_refused();
            return Ok(unavailable("at_capacity", &format!("the service already serves {limit} live streams, its configured total")));
        }
    };
    // Explicit message and frame limits: tungstenite reports a bigger one as soon as its header
    // arrives, and the stream answers it with close code 1009 (see `run_stream`).
    let upgrade = upgrade
        .max_message_size(streams.limits.max_message_bytes)
        .max_frame_size(streams.limits.max_message_bytes);
    let span = tracing::info_span!("stream", tenant = %caller.tenant);
    Ok(upgrade.on_upgrade(move |socket| {
        async move {
            let _shared_slot = shared_slot;
            run_stream(socket, state, streams, caller, admission).await;
        }
        .instrument(span)
    }))
}

fn unavailable(code: &str, message: &str) -> Response {
    refusal(StatusCode::SERVICE_UNAVAILABLE, code, message)
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody { error: ErrorDetail { code: code.to_string(), message: message.to_string(), line: None } };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// Whether a WebSocket receive error is a message over the size limit (the connection itself is
/// still usable for the error event and the close frame).
fn is_message_too_big(error: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(tungstenite::Error::Capacity(_)) = current.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// How the client side of a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Stop,
    Disconnected,
    TooLong,
    /// A WebSocket message over [`StreamLimits::max_message_bytes`].
    MessageTooBig,
    ShuttingDown,
}

async fn send(socket: &mut WebSocket, message: &StreamMessage) -> bool {
    let Ok(text) = serde_json::to_string(message) else { return false };
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn fail_and_close(socket: &mut WebSocket, code: &str, message: String) {
    let _ = send(socket, &StreamMessage::error(code, message, true)).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame { code: close_code::POLICY, reason: "stream refused".into() })))
        .await;
}

/// The checks of a `start` message that need no database: JSON object, `"type": "start"`, the
/// fields and their lengths, the claimed customer id's characters. The message says what is wrong.
pub(crate) fn parse_start_message(text: &str) -> Result<StreamStart, String> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("start is not valid JSON: {e}"))?;
    let kind = value.as_object_mut().and_then(|o| o.remove("type"));
    if kind.as_ref().and_then(serde_json::Value::as_str) != Some("start") {
        return Err("the first message must be {\"type\": \"start\", ...}".into());
    }
    let start: StreamStart = serde_json::from_value(value).map_err(|e| format!("invalid start: {e}"))?;
    for (field, text) in [
        ("claimed_customer_id", &start.claimed_customer_id),
        ("external_call_id", &start.external_call_id),
        ("agent_id", &start.agent_id),
        ("language", &start.language),
    ] {
        if let Some(text) = text {
            util::check_client_text(field, text).map_err(|e| e.to_string())?;
        }
    }
    if let Some(customer_id) = &start.claimed_customer_id {
        util::check_client_id("claimed_customer_id", customer_id).map_err(|e| e.to_string())?;
    }
    Ok(start)
}

/// Waits for `start` and checks it; the error is sent to the client.
async fn receive_start(
    socket: &mut WebSocket,
    state: &AppState,
    caller: &Caller,
    recording_path: PathBuf,
) -> Result<OpenStream, (String, String)> {
    let bad = |message: String| ("bad_start".to_string(), message);
    let text = loop {
        match tokio::time::timeout(START_TIMEOUT, socket.recv()).await {
            Err(_) => return Err(bad(format!("no start message within {} s", START_TIMEOUT.as_secs()))),
            Ok(None | Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                return Err(("disconnected".into(), "closed before start".into()));
            }
            Ok(Some(Ok(Message::Text(text)))) => break text.to_string(),
            Ok(Some(Ok(Message::Binary(_)))) => return Err(bad("audio before the start message".into())),
            Ok(Some(Ok(_))) => {}
        }
    };
    let start = parse_start_message(&text).map_err(bad)?;
    if let Some(external_id) = &start.external_call_id {
        match state.store.find_call_by_external_id(&caller.tenant, external_id).await {
            Ok(Some(existing)) => {
                return Err(("duplicate".into(), format!("external_call_id {external_id:?} is already call {}", existing.id)));
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "checking external_call_id failed");
                return Err(("internal".into(), "internal error".into()));
            }
        }
    }
    let script = match &start.script_id {
        Some(script_id) => {
            util::check_client_id("script_id", script_id).map_err(|e| bad(e.to_string()))?;
            match state.store.get_script(&caller.tenant, script_id, None).await {
                Ok(Some(script)) => Some((script_id.clone(), script.version, script.body)),
                Ok(None) => return Err(bad(format!("unknown script {script_id:?}"))),
                Err(error) => {
                    tracing::error!(%error, "loading the stream's script failed");
                    return Err(("internal".into(), "internal error".into()));
                }
            }
        }
        None => None,
    };
    Ok(OpenStream { tenant: caller.tenant.clone(), start, script, recording_path })
}

type PushResult = (Box<dyn LiveStream>, Result<Vec<StreamMessage>, StreamServiceError>);

async fn run_stream(mut socket: WebSocket, state: AppState, streams: Arc<LiveStreams>, caller: Caller, admission: Admission) {
    // The call's id is chosen now: the recording is written under it as the audio arrives, and
    // live webhook events name it.
    let call_id = callsight_workers::new_id();
    let recording_path = state.config.audio_dir.join(format!("{call_id}.wav.partial"));
    let received_start = tokio::select! {
        received = receive_start(&mut socket, &state, &caller, recording_path.clone()) => received,
        () = streams.shutdown.cancelled() => Err(("shutting_down".into(), "the server is shutting down".into())),
    };
    let request = match received_start {
        Ok(request) => request,
        Err((code, message)) => {
            tracing::info!(%code, %message, "stream start refused");
            fail_and_close(&mut socket, &code, message).await;
            return;
        }
    };
    let start = request.start.clone();
    let script_version = request.script.as_ref().map(|(_, version, _)| *version);
    let manifest_path = recording_manifest_path(&recording_path);
    let manifest = RecordingManifest { tenant: caller.tenant.clone(), start: start.clone(), script_version };
    if let Err(error) = write_manifest(&manifest_path, &manifest).await {
        tracing::error!(%error, "writing a stream's recording manifest failed");
        fail_and_close(&mut socket, "internal", "internal error".into()).await;
        return;
    }
    let service = streams.service.clone();
    let opened = tokio::task::spawn_blocking(move || service.open(request)).await;
    let failed_open = match opened {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(StreamServiceError::BadRequest(message))) => Err(("bad_start", message)),
        Ok(Err(StreamServiceError::Internal(message))) => {
            tracing::error!(%message, "opening a stream failed");
            Err(("internal", "internal error".to_string()))
        }
        Err(error) => {
            tracing::error!(%error, "opening a stream panicked");
            Err(("internal", "internal error".to_string()))
        }
    };
    let stream = match failed_open {
        Ok(stream) => stream,
        Err((code, message)) => {
            for leftover in [&recording_path, &manifest_path] {
                let _ = tokio::fs::remove_file(leftover).await;
            }
            fail_and_close(&mut socket, code, message).await;
            return;
        }
    };
    let started = StreamMessage::Started { sample_rate: start.sample_rate, channels: start.channels.clone() };
    let mut connected = send(&mut socket, &started).await;
    tracing::info!(channels = ?start.channels, sample_rate = start.sample_rate, "stream started");

    let bytes_per_sample = match start.encoding.as_str() {
        "pcm_s16le" => 2,
        "f32le" => 4,
        _ => 1,
    };
    let max_bytes = (state.config.max_audio_duration_secs
        * f64::from(start.sample_rate)
        * start.channels.len() as f64
        * f64::from(bytes_per_sample)) as u64;
    let mut n_bytes_received: u64 = 0;
    // Audio the stream has processed (for the audio time of live webhook events).
    let bytes_per_second = f64::from(start.sample_rate) * start.channels.len() as f64 * f64::from(bytes_per_sample);
    let mut n_bytes_processed: u64 = 0;
    let mut n_bytes_in_flight: u64 = 0;
    let live = LiveContext { call_id: &call_id, start: &start };
    let mut n_finals = 0usize;
    let mut n_alerts = 0usize;
    let mut last_verification: Option<String> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut in_flight: Option<tokio::task::JoinHandle<Option<PushResult>>> = None;
    // The stream's state: here between pieces of work, on the blocking pool during one.
    let mut idle_stream: Option<Box<dyn LiveStream>> = Some(stream);
    let mut ending: Option<Ending> = None;
    let mut last_activity = tokio::time::Instant::now();
    // PCI pause: (start, end) in audio seconds; audio in between is replaced by silence.
    let mut paused_since: Option<f64> = None;
    let mut pauses: Vec<(f64, f64)> = Vec::new();
    let silence_byte: u8 = match start.encoding.as_str() {
        "mulaw" => 0xFF,
        "alaw" => 0xD5,
        _ => 0,
    };

    let mut note = |message: &StreamMessage| match message {
        StreamMessage::Final { .. } => n_finals += 1,
        StreamMessage::Alert { .. } => n_alerts += 1,
        StreamMessage::Verification { decision, .. } => last_verification = Some(decision.clone()),
        _ => {}
    };

    loop {
        // Start the next piece of work when the stream is idle and audio is waiting.
        if in_flight.is_none() && !pending.is_empty()
            && let Some(mut owned) = idle_stream.take()
        {
            let audio = std::mem::take(&mut pending);
            n_bytes_in_flight = audio.len() as u64;
            let inference = streams.inference.clone();
            in_flight = Some(tokio::spawn(async move {
                // The permits are held for the whole piece of work: inference never oversubscribes
                // cores. One slot is waited for; slots nobody uses are taken too, not waited for.
                let mut permit = inference.clone().acquire_owned().await.ok()?;
                while let Ok(idle_slot) = inference.clone().try_acquire_owned() {
                    permit.merge(idle_slot);
                }
                let result = tokio::task::spawn_blocking(move || {
                    let result = owned.push(&audio, permit.num_permits());
                    drop(permit);
                    (owned, result)
                })
                .await
                .ok()?;
                Some(result)
            }));
        }
        if in_flight.is_none() && ending.is_some() {
            break;
        }
        tokio::select! {
            received = socket.recv(), if ending.is_none() => {
                match received {
                    Some(Ok(Message::Binary(bytes))) => {
                        // Only audio is activity: pings and other messages cannot hold a slot.
                        if !bytes.is_empty() {
                            last_activity = tokio::time::Instant::now();
                        }
                        n_bytes_received += bytes.len() as u64;
                        if n_bytes_received > max_bytes {
                            let message = format!(
                                "the stream is longer than the limit of {:.0} s of audio; ending it",
                                state.config.max_audio_duration_secs
                            );
                            connected = connected && send(&mut socket, &StreamMessage::error("too_long", message, true)).await;
                            ending = Some(Ending::TooLong);
                        } else if paused_since.is_some() {
                            pending.resize(pending.len() + bytes.len(), silence_byte);
                        } else {
                            pending.extend_from_slice(&bytes);
                        }
                    }
                    Some(Ok(Message::Text(text))) => match client_message_type(&text).as_deref() {
                        Some("stop") => ending = Some(Ending::Stop),
                        Some("pause") => {
                            let at_secs = n_bytes_received as f64 / bytes_per_second;
                            paused_since.get_or_insert(at_secs);
                            connected = connected && send(&mut socket, &StreamMessage::Paused { at_secs }).await;
                        }
                        Some("resume") => {
                            let at_secs = n_bytes_received as f64 / bytes_per_second;
                            let since = paused_since.take().unwrap_or(at_secs);
                            if at_secs > since {
                                pauses.push((since, at_secs));
                            }
                            let resumed = StreamMessage::Resumed { at_secs, paused_secs: at_secs - since };
                            connected = connected && send(&mut socket, &resumed).await;
                        }
                        other => {
                            let message = format!("expected binary audio or {{\"type\": \"stop\" | \"pause\" | \"resume\"}}, got a text message of type {other:?}");
                            connected = connected && send(&mut socket, &StreamMessage::error("bad_message", message, false)).await;
                        }
                    },
                    Some(Err(error)) if is_message_too_big(&error) => {
                        let limit = streams.limits.max_message_bytes;
                        tracing::info!(limit, "stream message over the size limit; ending the stream");
                        let message = format!(
                            "a WebSocket message was larger than the limit of {limit} bytes; send audio in smaller messages"
                        );
                        connected = connected && send(&mut socket, &StreamMessage::error("frame_too_large", message, true)).await;
                        ending = Some(Ending::MessageTooBig);
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        connected = false;
                        ending = Some(Ending::Disconnected);
                    }
                    Some(Ok(_)) => {}
                }
            }
            done = async { in_flight.as_mut().expect("guarded by the select condition").await }, if in_flight.is_some() => {
                in_flight = None;
                n_bytes_processed += std::mem::take(&mut n_bytes_in_flight);
                match done {
                    Ok(Some((owned, result))) => {
                        idle_stream = Some(owned);
                        match result {
                            Ok(messages) => {
                                let audio_secs = n_bytes_processed as f64 / bytes_per_second;
                                for message in &messages {
                                    note(message);
                                    connected = connected && send(&mut socket, message).await;
                                    audit_biometrics(&state, &caller, &call_id, message).await;
                                    emit_live_event(&state, &caller, &live, message, audio_secs).await;
                                }
                            }
                            Err(error) => {
                                let (code, text) = describe(&error);
                                connected = connected && send(&mut socket, &StreamMessage::error(code, text, true)).await;
                                ending.get_or_insert(Ending::Stop);
                                pending.clear();
                            }
                        }
                    }
                    _ => {
                        tracing::error!("stream work panicked or was cancelled");
                        // The stream's state went with the failed task: its recording stays on disk
                        // with its manifest and becomes a call at the next start.
                        if connected {
                            let _ = send(&mut socket, &StreamMessage::error("internal", "internal error", true)).await;
                            let summary = StreamMessage::Summary {
                                call_id: None, job_id: None, duration_secs: 0.0, n_finals, n_alerts, verification: last_verification.clone(),
                            };
                            let _ = send(&mut socket, &summary).await;
                        }
                        drop(admission);
                        return;
                    }
                }
            }
            _ = tokio::time::sleep_until(last_activity + streams.limits.idle_timeout), if ending.is_none() => {
                let idle_secs = streams.limits.idle_timeout.as_secs_f64();
                tracing::info!(idle_secs, "stream received no audio for the idle timeout; ending it");
                let message = format!("no audio for {idle_secs} s; ending the stream");
                connected = connected && send(&mut socket, &StreamMessage::error("idle", message, true)).await;
                ending = Some(Ending::Disconnected);
            }
            () = streams.shutdown.cancelled(), if ending.is_none() => {
                tracing::info!("server shutting down: ending the stream and storing its audio");
                let message = "the server is shutting down; the audio received so far is stored and analysed";
                connected = connected && send(&mut socket, &StreamMessage::error("shutting_down", message, true)).await;
                ending = Some(Ending::ShuttingDown);
            }
        }
    }
    let ending = ending.unwrap_or(Ending::Disconnected);
    let Some(mut owned) = idle_stream.take() else {
        tracing::error!("stream state missing at the end");
        return;
    };
    let finished = tokio::task::spawn_blocking(move || owned.finish()).await;
    let summary = match finished {
        Ok(Ok(finished)) => {
            for message in &finished.messages {
                note(message);
                connected = connected && send(&mut socket, message).await;
                audit_biometrics(&state, &caller, &call_id, message).await;
                emit_live_event(&state, &caller, &live, message, finished.duration_secs).await;
            }
            let stored = match &finished.recording {
                Some(recording) => {
                    if let Some(since) = paused_since.take() {
                        pauses.push((since, n_bytes_received as f64 / bytes_per_second));
                    }
                    store_stream_call(&state, &caller, &call_id, &start, script_version, recording, &finished, &pauses).await
                }
                None => {
                    let _ = tokio::fs::remove_file(&manifest_path).await;
                    Ok(None)
                }
            };
            let (call_id, job_id) = match stored {
                Ok(Some((call_id, job_id))) => (Some(call_id), Some(job_id)),
                Ok(None) => (None, None),
                Err(error) => {
                    tracing::error!(%error, "storing a streamed call failed");
                    connected = connected
                        && send(&mut socket, &StreamMessage::error("not_stored", "the call could not be stored", false)).await;
                    (None, None)
                }
            };
            tracing::info!(?ending, call_id = ?call_id, duration_secs = finished.duration_secs, "stream ended");
            StreamMessage::Summary { call_id, job_id, duration_secs: finished.duration_secs, n_finals, n_alerts, verification: last_verification }
        }
        Ok(Err(error)) => {
            tracing::error!(recording = %recording_path.display(), "the stream could not be finished; its recording is left as it is");
            let (code, text) = describe(&error);
            connected = connected && send(&mut socket, &StreamMessage::error(code, text, true)).await;
            StreamMessage::Summary { call_id: None, job_id: None, duration_secs: 0.0, n_finals, n_alerts, verification: last_verification }
        }
        Err(error) => {
            tracing::error!(%error, "finishing a stream panicked");
            StreamMessage::Summary { call_id: None, job_id: None, duration_secs: 0.0, n_finals, n_alerts, verification: last_verification }
        }
    };
    if connected && send(&mut socket, &summary).await {
        let close = match ending {
            Ending::MessageTooBig => CloseFrame { code: close_code::SIZE, reason: "message too big".into() },
            Ending::Stop | Ending::Disconnected | Ending::TooLong | Ending::ShuttingDown => {
                CloseFrame { code: close_code::NORMAL, reason: "stream ended".into() }
            }
        };
        let _ = socket.send(Message::Close(Some(close))).await;
        // Read (and drop) what the client still sends until its close: a socket closed with
        // unread audio in it is reset, and the reset can destroy the summary before the client
        // reads it (a client still sending when the server ended the stream, e.g. at shutdown).
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    drop(admission);
}

/// Live verifications and watchlist hits go into the audit trail like the HTTP ones (never
/// audio); the trail must not depend on the client staying connected.
/// The details carry the id the call is stored under, so the call's page finds them.
async fn audit_biometrics(state: &AppState, caller: &Caller, call_id: &str, message: &StreamMessage) {
    let entry = match message {
        StreamMessage::Verification { speaker_id, decision, score, net_speech_secs, .. } => NewAuditEntry {
            actor_key_id: Some(caller.key_id.clone()),
            action: "verify".into(),
            speaker_id: Some(speaker_id.clone()),
            outcome: decision.clone(),
            score: *score,
            details: serde_json::json!({"source": "stream", "call_id": call_id, "net_speech_secs": net_speech_secs}),
        },
        StreamMessage::WatchlistHit { speaker_id, score, net_speech_secs } => NewAuditEntry {
            actor_key_id: Some(caller.key_id.clone()),
            action: "screen".into(),
            speaker_id: Some(speaker_id.clone()),
            outcome: "watchlist_hit".into(),
            score: Some(*score),
            details: serde_json::json!({"source": "stream", "call_id": call_id, "net_speech_secs": net_speech_secs}),
        },
        _ => return,
    };
    if let Err(error) = state.store.append_audit(&caller.tenant, &entry).await {
        tracing::error!(%error, "audit of a live verification failed");
    }
}

/// What live webhook events say about the stream they come from.
struct LiveContext<'a> {
    /// The id the call is stored under at the end (the `summary`'s `call_id`).
    call_id: &'a str,
    start: &'a StreamStart,
}

/// Live alerts and watchlist hits go to the tenant's webhooks as they happen (through the
/// durable outbox, so a receiver that is down gets them later): `stream.alert` with the alert,
/// `watchlist.hit` as for the HTTP and post-call screenings. `audio_secs` is the audio time the
/// stream had reached.
async fn emit_live_event(state: &AppState, caller: &Caller, live: &LiveContext<'_>, message: &StreamMessage, audio_secs: f64) {
    let (event, data) = match message {
        StreamMessage::Alert { .. } => (
            WebhookEvent::StreamAlert,
            serde_json::json!({
                "call_id": live.call_id,
                "external_call_id": live.start.external_call_id,
                "agent_id": live.start.agent_id,
                "script_id": live.start.script_id,
                "audio_secs": audio_secs,
                "alert": message,
            }),
        ),
        StreamMessage::WatchlistHit { speaker_id, score, net_speech_secs } => (
            WebhookEvent::WatchlistHit,
            serde_json::json!({
                "operation": "stream",
                "call_id": live.call_id,
                "external_call_id": live.start.external_call_id,
                "claimed_speaker_id": live.start.claimed_customer_id,
                "hits": [{"speaker_id": speaker_id, "score": score}],
                "net_speech_secs": net_speech_secs,
                "audio_secs": audio_secs,
            }),
        ),
        _ => return,
    };
    if let Err(error) = emit_event(&state.store, &caller.tenant, event, data).await {
        tracing::error!(%error, event = event.as_str(), "queueing a live webhook event failed");
    }
}

/// The `type` of a client text message, if it is a JSON object with one.
pub(crate) fn client_message_type(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("type")?.as_str().map(str::to_string)
}

fn describe(error: &StreamServiceError) -> (&'static str, String) {
    match error {
        StreamServiceError::BadRequest(message) => ("bad_audio", message.clone()),
        StreamServiceError::Internal(message) => {
            tracing::error!(%message, "stream processing failed");
            ("internal", "internal error".into())
        }
    }
}

/// Stores the transcript next to the recording, renames the recording to its final name, then
/// writes the call row and its job in one transaction, as an upload: the post-call analysis
/// reads the transcript instead of running Whisper again.
// The pauses come from the socket loop, not from the stream engine's result.
#[allow(clippy::too_many_arguments)]
async fn store_stream_call(
    state: &AppState,
    caller: &Caller,
    call_id: &str,
    start: &StreamStart,
    script_version: Option<i64>,
    recording: &RecordedAudio,
    finished: &FinishedStream,
    pauses: &[(f64, f64)],
) -> Result<Option<(String, String)>, String> {
    let path = state.config.audio_dir.join(format!("{call_id}.wav"));
    let transcript_path = callsight_pipeline::streaming::transcript_sidecar_path(&path);
    // Until the call row exists, the manifest lets the next start record a recording that a
    // failure here leaves behind.
    let manifest_path = recording_manifest_path(&recording.path);
    let sha256 = {
        let final_path = path.clone();
        let recording_path = recording.path.clone();
        let transcript = finished.transcript_json.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            // The transcript first: a call row must never point at audio without it.
            util::write_durably(&transcript_path, &transcript)?;
            let sha256 = sha256_of_file(&recording_path)?;
            std::fs::rename(&recording_path, &final_path)?;
            util::sync_parent(&final_path)?;
            Ok(sha256)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("storing {}: {e}", path.display()))?
    };
    let metadata = serde_json::json!({
        "source": "stream",
        "file_name": "stream.wav",
        "duration_secs": finished.duration_secs,
        "n_channels": finished.n_channels,
        "enroll_customer_voice": false,
        "pauses": pauses.iter().map(|(start, end)| serde_json::json!({"start_secs": start, "end_secs": end})).collect::<Vec<_>>(),
    });
    let new_call = new_stream_call(call_id, start, script_version, &path, recording.n_bytes, sha256, metadata);
    match state.store.insert_call_and_enqueue(&caller.tenant, &new_call).await {
        Ok(enqueued) => {
            tracing::info!(call_id = %enqueued.call_id, job_id = %enqueued.job_id, "streamed call stored");
            let _ = tokio::fs::remove_file(&manifest_path).await;
            Ok(Some((enqueued.call_id, enqueued.job_id)))
        }
        Err(error) => {
            // Refused by the database (e.g. a duplicate external_call_id): as for an upload,
            // nothing is kept.
            for leftover in [path.clone(), callsight_pipeline::streaming::transcript_sidecar_path(&path), manifest_path] {
                let _ = tokio::fs::remove_file(&leftover).await;
            }
            Err(error.to_string())
        }
    }
}

/// The call row of a stored stream.
fn new_stream_call(
    call_id: &str,
    start: &StreamStart,
    script_version: Option<i64>,
    path: &Path,
    n_bytes: u64,
    sha256: String,
    metadata: serde_json::Value,
) -> NewCall {
    let channel_layout = match start.channels.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["agent", "customer"] => "agent_customer",
        ["customer", "agent"] => "customer_agent",
        _ => "mixed",
    };
    NewCall {
        id: call_id.to_string(),
        external_call_id: start.external_call_id.clone(),
        agent_id: start.agent_id.clone(),
        team: None,
        customer_id: start.claimed_customer_id.clone(),
        script_id: start.script_id.clone(),
        script_version,
        language_hint: start.language.clone(),
        channel_layout: Some(channel_layout.to_string()),
        metadata,
        audio_path: path.display().to_string(),
        audio_bytes: n_bytes as i64,
        audio_sha256: sha256,
    }
}

/// What a recording needs to become a call if the server dies before its stream ends: written
/// next to `<call id>.wav.partial` when the stream opens, removed when it ends.
#[derive(Debug, Serialize, Deserialize)]
struct RecordingManifest {
    tenant: String,
    start: StreamStart,
    script_version: Option<i64>,
}

const PARTIAL_RECORDING_SUFFIX: &str = ".wav.partial";

/// `<call id>.stream.json` for `<call id>.wav.partial`.
fn recording_manifest_path(recording_path: &Path) -> PathBuf {
    let name = recording_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let call_id = name.strip_suffix(PARTIAL_RECORDING_SUFFIX).unwrap_or(&name);
    recording_path.with_file_name(format!("{call_id}.stream.json"))
}

async fn write_manifest(path: &Path, manifest: &RecordingManifest) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(manifest).map_err(std::io::Error::other)?;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || util::write_durably(&path, &bytes)).await.map_err(std::io::Error::other)?
}

/// Records the streams a crash cut short (the process killed, the machine down, the shutdown
/// grace run out): each `<call id>.wav.partial` in `audio_dir` with its manifest gets its WAV
/// header completed and becomes a call with its analysis job, as if the stream had ended there.
/// Its live transcript is lost, so the post-call analysis transcribes it. A recording still
/// being written (locked by a live stream of another process on the same directory) is left
/// alone. Run at start-up, before streams are served; returns the calls recorded.
pub async fn recover_interrupted_streams(store: &callsight_workers::Store, audio_dir: &Path) -> usize {
    let mut n_recovered = 0;
    let Ok(mut entries) = tokio::fs::read_dir(audio_dir).await else { return 0 };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let recording_path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(call_id) = name.strip_suffix(PARTIAL_RECORDING_SUFFIX).map(str::to_string) else { continue };
        let manifest_path = recording_manifest_path(&recording_path);
        let manifest: RecordingManifest = match tokio::fs::read(&manifest_path).await.map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(manifest)) => manifest,
            Ok(Err(error)) => {
                tracing::warn!(%error, path = %manifest_path.display(), "unreadable stream manifest; recording left as it is");
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, path = %recording_path.display(), "a partial recording without its manifest; left as it is");
                continue;
            }
        };
        let path = audio_dir.join(format!("{call_id}.wav"));
        let n_channels = manifest.start.channels.len().max(1) as u64;
        let repaired = {
            let (recording_path, path) = (recording_path.clone(), path.clone());
            tokio::task::spawn_blocking(move || complete_partial_recording(&recording_path, &path, n_channels)).await
        };
        let (n_bytes, sha256) = match repaired {
            Ok(Ok(Some(done))) => done,
            Ok(Ok(None)) => continue,
            Ok(Err(error)) => {
                tracing::error!(%error, path = %recording_path.display(), "repairing a partial recording failed");
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "repairing a partial recording panicked");
                continue;
            }
        };
        if n_bytes <= 44 {
            // Not one sample arrived: nothing to record.
            for leftover in [&path, &manifest_path] {
                let _ = tokio::fs::remove_file(leftover).await;
            }
            continue;
        }
        let duration_secs = (n_bytes - 44) as f64 / (2 * n_channels) as f64 / f64::from(manifest.start.sample_rate.max(1));
        let metadata = serde_json::json!({
            "source": "stream",
            "file_name": "stream.wav",
            "duration_secs": duration_secs,
            "n_channels": n_channels,
            "enroll_customer_voice": false,
            "recovered": true,
        });
        let new_call = new_stream_call(&call_id, &manifest.start, manifest.script_version, &path, n_bytes, sha256, metadata);
        match store.insert_call_and_enqueue(&manifest.tenant, &new_call).await {
            Ok(enqueued) => {
                tracing::warn!(call_id = %enqueued.call_id, job_id = %enqueued.job_id, duration_secs, "recorded a stream cut short by a crash");
                let _ = tokio::fs::remove_file(&manifest_path).await;
                n_recovered += 1;
            }
            Err(error) => {
                // Back to its partial name: the next start tries again.
                tracing::error!(%error, call_id, "recording a stream cut short by a crash failed");
                let _ = tokio::fs::rename(&path, &recording_path).await;
            }
        }
    }
    n_recovered
}

/// Writes the header sizes of a recording cut short (whole frames only), syncs it and renames
/// it to `path`; its size and SHA-256, or `None` while a live stream holds its lock.
fn complete_partial_recording(recording_path: &Path, path: &Path, n_channels: u64) -> std::io::Result<Option<(u64, String)>> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(recording_path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(error)) => return Err(error),
    }
    let length = file.metadata()?.len();
    let block_align = 2 * n_channels;
    let data_len = length.saturating_sub(44) / block_align * block_align;
    let data_len = data_len.min((u64::from(u32::MAX) - 36) / block_align * block_align);
    if length >= 44 {
        file.set_len(44 + data_len)?;
        file.seek(SeekFrom::Start(4))?;
        file.write_all(&((36 + data_len) as u32).to_le_bytes())?;
        file.seek(SeekFrom::Start(40))?;
        file.write_all(&(data_len as u32).to_le_bytes())?;
    }
    file.sync_all()?;
    let sha256 = sha256_of_file(recording_path)?;
    std::fs::rename(recording_path, path)?;
    util::sync_parent(path)?;
    Ok(Some((length.min(44 + data_len), sha256)))
}

fn sha256_of_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 1 << 16];
    loop {
        let n_read = file.read(&mut buffer)?;
        if n_read == 0 {
            break;
        }
        hasher.update(&buffer[..n_read]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

