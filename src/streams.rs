//! The live-call engine behind `GET /v1/streams`: `pipeline::streaming` sessions on shared
//! models, plus in-call voice verification and watchlist screening through the biometric engine.
//! The received audio goes to the recording file as it arrives; a session keeps only its live
//! window (and the customer's channel until verification is done).

use std::collections::HashSet;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use callsight_api::server::speaker_service::SpeakerServiceError;
use callsight_api::server::streams::{
    FinishedStream, LiveStream, OpenStream, RecordedAudio, StreamMessage, StreamService, StreamServiceError,
};
use callsight_models::fetch::ModelFile;
use callsight_models::text::{E5Embedder, SentimentHead};
use callsight_models::whisper::{WhisperConfig, WhisperTranscriber};
use callsight_pipeline::biometrics::SpeechClip;
use callsight_pipeline::analyze::AnalysisEngines;
use callsight_pipeline::audio::{DecodedAudio, encode_wav_pcm16};
use callsight_pipeline::engines::{SentimentScorer, Transcriber, VoiceActivityDetector};
use callsight_pipeline::error::PipelineError;
use callsight_pipeline::streaming::{
    AlertConfig, RecordingWriter, SampleEncoding, StreamConfig, StreamEngines, StreamSession, StreamSetup,
};
use callsight_pipeline::redaction::RedactionConfig;
use callsight_pipeline::redaction::live::LiveRedactor;
use callsight_pipeline::types::{PIPELINE_SAMPLE_RATE_HZ, Speaker};
use serde::{Deserialize, Serialize};

use callsight_service::biometrics::BiometricsEngine;
use crate::cli::ModelArgs;
use crate::config::Config;
use crate::engines::{WhisperModel, load_vad, model_store};

/// Live verification runs within this much of a call: the customer's whole channel is kept in
/// memory (at 16 kHz) for it until then, so it must end even if the customer hardly speaks.
const VERIFY_WITHIN_CALL_SECS: f64 = 600.0;

/// The `[streams]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamsConfig {
    /// Serve `GET /v1/streams` (loads a Whisper model for live use at start).
    pub enabled: bool,
    /// Streams served at once; more are refused with 503. Measure with `scripts/stream_bench.sh`.
    pub capacity: usize,
    /// Streams open at once across every API process on the database (kept there); more are
    /// refused with 503. Unset: each process only keeps to its own `capacity`.
    pub max_total: Option<usize>,
    /// Whisper model for live transcription ("base" or "tiny.en"); `analysis.model` when absent.
    pub model: Option<String>,
    /// Pieces of stream inference run at once [default: the cores]; each uses
    /// `threads_per_inference` threads, and slots × threads never exceeds the cores.
    pub inference_slots: Option<usize>,
    pub threads_per_inference: usize,
    /// A segment is final this long after its speaker stops.
    pub endpoint_silence_secs: f64,
    /// Longest window re-transcribed while someone talks without pausing.
    pub max_window_secs: f64,
    /// Committed words stay in the re-transcribed window until it is this long.
    pub keep_committed_secs: f64,
    /// Least new audio between two partials of one speaker.
    pub partial_interval_secs: f64,
    /// A word is committed once it ended this long ago, agreed on or not (0: agreement only).
    pub commit_after_secs: f64,
    /// Nobody speaking this long raises a `long_silence` alert.
    pub silence_alert_secs: f64,
    /// Verification is repeated each time this much more customer speech has arrived...
    pub verify_every_secs: f64,
    /// ...until the customer has spoken this long (net); the decision then stands.
    pub verify_until_secs: f64,
    /// Streams one API key may have open at once [default: half of `capacity`, at least 1], so
    /// one key cannot take every slot; over it the upgrade gets 429 `stream_quota`.
    pub max_per_key: Option<usize>,
    /// A stream that receives no audio for this long is ended (pings do not count).
    pub idle_timeout_secs: u64,
    /// Largest WebSocket message; a bigger one ends the stream with close code 1009.
    pub max_message_bytes: usize,
}

impl StreamsConfig {
    /// The per-client limits the API enforces.
    pub fn limits(&self) -> callsight_api::server::streams::StreamLimits {
        callsight_api::server::streams::StreamLimits {
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
            max_per_key: Some(self.max_per_key.unwrap_or((self.capacity / 2).max(1))),
            max_message_bytes: self.max_message_bytes,
        }
    }
}

impl Default for StreamsConfig {
    fn default() -> Self {
        let policy = StreamConfig::default();
        Self {
            enabled: true,
            capacity: 4,
            max_total: None,
            model: None,
            inference_slots: None,
            threads_per_inference: 1,
            endpoint_silence_secs: policy.endpoint_silence_secs,
            max_window_secs: policy.max_window_secs,
            keep_committed_secs: policy.keep_committed_secs,
            partial_interval_secs: policy.partial_interval_secs,
            commit_after_secs: policy.commit_after_secs,
            silence_alert_secs: AlertConfig::default().silence_alert_secs,
            verify_every_secs: 4.0,
            verify_until_secs: 30.0,
            max_per_key: None,
            idle_timeout_secs: 60,
            max_message_bytes: 1024 * 1024,
        }
    }
}

/// The shared models and settings of every live stream.
struct Shared {
    vad: Arc<dyn VoiceActivityDetector>,
    transcriber: Arc<dyn Transcriber>,
    sentiment: Arc<dyn SentimentScorer>,
    biometrics: Arc<BiometricsEngine>,
    policy: StreamConfig,
    allowed_languages: Vec<String>,
    min_verify_secs: f64,
    verify_every_secs: f64,
    verify_until_secs: f64,
    /// Whisper threads per inference slot a piece of work holds.
    threads_per_inference: usize,
    /// Finals, turns, alerts and partials are redacted before they are sent.
    redaction: RedactionConfig,
}

pub struct StreamEngine {
    shared: Arc<Shared>,
    capacity: usize,
    inference_slots: usize,
}

/// Loads the live engine: its own Whisper (one context, decoding states reused across passes),
/// Silero with one session per slot, and the sentiment model of `analysis` when it is already
/// loaded.
pub fn load_stream_engine(
    models: &ModelArgs,
    config: &Config,
    biometrics: Arc<BiometricsEngine>,
    analysis: Option<&AnalysisEngines>,
) -> anyhow::Result<StreamEngine> {
    let streams = &config.streams;
    let cores = models.threads.unwrap_or_else(crate::cli::default_threads).max(1);
    let threads = streams.threads_per_inference.clamp(1, cores);
    let inference_slots = streams.inference_slots.unwrap_or(cores / threads).clamp(1, (cores / threads).max(1));
    let store = model_store(models);
    let model_name = streams.model.as_deref().unwrap_or(&config.analysis.model);
    let (whisper_file, whisper_name) = WhisperModel::from_config(model_name)?.store_file();
    let vad = load_vad(models, inference_slots)?;
    let transcriber: Arc<dyn Transcriber> = Arc::new(
        WhisperTranscriber::load(&store.require(whisper_file)?, whisper_name, WhisperConfig { threads, ..WhisperConfig::default() })
            .context("loading the Whisper model for live streams")?,
    );
    let sentiment: Arc<dyn SentimentScorer> = match analysis {
        Some(engines) => engines.sentiment.clone(),
        None => {
            let embedder = Arc::new(
                E5Embedder::load(&store.require(ModelFile::Me5Onnx)?, &store.require(ModelFile::Me5Tokenizer)?, threads)
                    .context("loading the multilingual-e5 text model")?,
            );
            Arc::new(SentimentHead::bundled(embedder).context("loading the sentiment head")?)
        }
    };
    let policy = StreamConfig {
        vad: config.analysis.vad.clone(),
        endpoint_silence_secs: streams.endpoint_silence_secs,
        max_window_secs: streams.max_window_secs,
        keep_committed_secs: streams.keep_committed_secs,
        partial_interval_secs: streams.partial_interval_secs,
        commit_after_secs: streams.commit_after_secs,
        hallucination: config.analysis.hallucination.clone(),
        alerts: AlertConfig { silence_alert_secs: streams.silence_alert_secs, ..AlertConfig::default() },
        matching: config.analysis.matching.clone(),
    };
    policy.validate().context("invalid [streams] configuration")?;
    tracing::info!(model = whisper_name, inference_slots, threads, capacity = streams.capacity, "live streams enabled");
    Ok(StreamEngine {
        shared: Arc::new(Shared {
            vad,
            transcriber,
            sentiment,
            biometrics,
            policy,
            allowed_languages: config.analysis.languages.clone(),
            min_verify_secs: config.biometrics.min_verify_net_speech_secs,
            verify_every_secs: streams.verify_every_secs.max(0.5),
            verify_until_secs: streams.verify_until_secs,
            threads_per_inference: threads,
            redaction: config.redaction.clone(),
        }),
        capacity: streams.capacity.max(1),
        inference_slots,
    })
}

impl StreamService for StreamEngine {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn inference_slots(&self) -> usize {
        self.inference_slots
    }

    fn open(&self, request: OpenStream) -> Result<Box<dyn LiveStream>, StreamServiceError> {
        let start = &request.start;
        let encoding = SampleEncoding::parse(&start.encoding).map_err(bad_request)?;
        let channels = start
            .channels
            .iter()
            .map(|role| match role.as_str() {
                "agent" => Ok(Speaker::Agent),
                "customer" => Ok(Speaker::Customer),
                "mixed" | "unknown" => Ok(Speaker::Unknown),
                other => Err(StreamServiceError::BadRequest(format!(
                    "channel role {other:?}: expected \"agent\", \"customer\" or (one channel) \"mixed\""
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if channels.len() == 2 && channels.contains(&Speaker::Unknown) {
            return Err(StreamServiceError::BadRequest("two channels must be \"agent\" and \"customer\"".into()));
        }
        let script = match &request.script {
            Some((script_id, version, body)) => Some(callsight_service::jobs::script_from_body(body, script_id, *version).map_err(|e| {
                StreamServiceError::Internal(format!("stored script {script_id} v{version} is unreadable: {e:?}"))
            })?),
            None => None,
        };
        let setup = StreamSetup {
            encoding,
            sample_rate_hz: start.sample_rate,
            channels,
            script,
            language: start.language.clone(),
            allowed_languages: self.shared.allowed_languages.clone(),
        };
        let n_channels = setup.channels.len();
        let mut session = StreamSession::new(setup, self.shared.policy.clone()).map_err(bad_request)?;
        session.keep_party_audio(Speaker::Customer, true);
        let file = File::create(&request.recording_path).map_err(|e| {
            StreamServiceError::Internal(format!("creating {}: {e}", request.recording_path.display()))
        })?;
        // Held while the stream lives (and released by the kernel if the process dies): start-up
        // recovery of cut-short recordings leaves a locked one alone.
        file.try_lock().map_err(|e| {
            StreamServiceError::Internal(format!("locking {}: {e}", request.recording_path.display()))
        })?;
        let recording = RecordingWriter::new(file, start.sample_rate, n_channels).map_err(internal)?;
        Ok(Box::new(LiveCall {
            shared: self.shared.clone(),
            session,
            recording: Some(recording),
            recording_path: request.recording_path,
            tenant: request.tenant,
            claimed_customer_id: start.claimed_customer_id.clone(),
            next_check_secs: self.shared.min_verify_secs,
            verification_stopped: false,
            watchlist_seen: HashSet::new(),
            redactor: LiveRedactor::new(self.shared.redaction.clone()),
        }))
    }
}

fn bad_request(error: PipelineError) -> StreamServiceError {
    match error {
        PipelineError::InvalidOption(message) | PipelineError::Audio { reason: message, .. } => {
            StreamServiceError::BadRequest(message)
        }
        other => StreamServiceError::Internal(other.to_string()),
    }
}

fn internal(error: PipelineError) -> StreamServiceError {
    StreamServiceError::Internal(error.to_string())
}

/// One live call.
struct LiveCall {
    shared: Arc<Shared>,
    session: StreamSession,
    /// The received audio, written as it arrives (one write per piece of work, unbuffered, so a
    /// crash loses only the audio not yet processed); taken by `finish`.
    recording: Option<RecordingWriter<File>>,
    recording_path: PathBuf,
    tenant: String,
    claimed_customer_id: Option<String>,
    /// Net customer speech at which verification (or screening) runs next.
    next_check_secs: f64,
    verification_stopped: bool,
    watchlist_seen: HashSet<String>,
    redactor: LiveRedactor,
}

impl LiveCall {
    /// Verifies the claimed customer (or screens an anonymous caller against the watchlist)
    /// once enough net customer speech has arrived, and again as more arrives.
    fn check_voice(&mut self, at_end: bool, messages: &mut Vec<StreamMessage>) {
        if self.verification_stopped {
            return;
        }
        if self.session.received_secs() > VERIFY_WITHIN_CALL_SECS {
            tracing::info!("no more live verification past {VERIFY_WITHIN_CALL_SECS} s of call");
            self.stop_verification();
            return;
        }
        let net_speech_secs = self.session.net_speech_secs(Speaker::Customer);
        let due = net_speech_secs >= self.next_check_secs
            || (at_end && net_speech_secs >= self.shared.min_verify_secs && self.next_check_secs > self.shared.min_verify_secs);
        if !due {
            return;
        }
        let Some((samples_16k, speech)) = self.session.party_audio_16k(Speaker::Customer) else { return };
        self.next_check_secs = net_speech_secs + self.shared.verify_every_secs;
        let last_check = net_speech_secs >= self.shared.verify_until_secs;
        let hits = match &self.claimed_customer_id {
            Some(customer_id) => {
                let wav = encode_wav_pcm16(&DecodedAudio::from_f32_channels(PIPELINE_SAMPLE_RATE_HZ, &[samples_16k.to_vec()]));
                match self.shared.biometrics.verify_samples(&self.tenant, customer_id, &wav) {
                    Ok(verified) => {
                        messages.push(StreamMessage::Verification {
                            speaker_id: verified.speaker_id,
                            decision: verified.decision.as_str().to_string(),
                            score: verified.score,
                            threshold: verified.threshold,
                            net_speech_secs: verified.net_speech_secs,
                            reasons: verified.reasons.iter().map(|r| r.message.clone()).collect(),
                        });
                        verified.watchlist_hits
                    }
                    Err(SpeakerServiceError::UnknownSpeaker(id)) => {
                        self.stop_verification();
                        messages.push(StreamMessage::Error {
                            code: "unknown_speaker".into(),
                            message: format!("customer {id} has no enrolled voiceprint; the call is not verified"),
                            fatal: false,
                        });
                        Vec::new()
                    }
                    Err(error) => {
                        tracing::warn!(%error, "live verification failed");
                        Vec::new()
                    }
                }
            }
            None => match self.shared.biometrics.screen_speech(&self.tenant, &[SpeechClip { samples_16k, speech: speech.to_vec() }]) {
                Ok(hits) => hits,
                Err(error) => {
                    tracing::warn!(%error, "live watchlist screening failed");
                    Vec::new()
                }
            },
        };
        for hit in hits {
            if self.watchlist_seen.insert(hit.speaker_id.clone()) {
                messages.push(StreamMessage::WatchlistHit { speaker_id: hit.speaker_id, score: hit.score, net_speech_secs });
            }
        }
        if last_check || self.verification_stopped {
            self.stop_verification();
        }
    }

    /// The decision stands from now on: the customer's audio is no longer kept for it.
    fn stop_verification(&mut self) {
        self.verification_stopped = true;
        self.session.keep_party_audio(Speaker::Customer, false);
    }
}

impl LiveStream for LiveCall {
    fn push(&mut self, audio: &[u8], slots: usize) -> Result<Vec<StreamMessage>, StreamServiceError> {
        let shared = self.shared.clone();
        let engines = StreamEngines {
            vad: shared.vad.as_ref(),
            transcriber: shared.transcriber.as_ref(),
            sentiment: shared.sentiment.as_ref(),
            whisper_threads: Some(slots.max(1) * shared.threads_per_inference),
        };
        let decoded = self.session.decode(audio);
        if let Some(recording) = &mut self.recording {
            recording.write(&decoded).map_err(internal)?;
        }
        let mut events = self.session.push_decoded(&decoded, engines).map_err(internal)?;
        self.redactor.redact(&mut events);
        let mut messages: Vec<StreamMessage> = events.iter().map(StreamMessage::from_event).collect();
        self.check_voice(false, &mut messages);
        Ok(messages)
    }

    fn finish(&mut self) -> Result<FinishedStream, StreamServiceError> {
        let mut events = {
            let shared = self.shared.clone();
            let engines = StreamEngines {
                vad: shared.vad.as_ref(),
                transcriber: shared.transcriber.as_ref(),
                sentiment: shared.sentiment.as_ref(),
                whisper_threads: None,
            };
            self.session.finish(engines).map_err(internal)?
        };
        self.redactor.redact(&mut events);
        let mut messages: Vec<StreamMessage> = events.iter().map(StreamMessage::from_event).collect();
        self.check_voice(true, &mut messages);
        let recording = match self.recording.take() {
            Some(writer) if writer.n_frames() > 0 => {
                let n_bytes = writer.n_bytes();
                let file = writer.finish().map_err(internal)?;
                file.sync_all().map_err(|e| StreamServiceError::Internal(format!("syncing the recording: {e}")))?;
                Some(RecordedAudio { path: self.recording_path.clone(), n_bytes })
            }
            _ => {
                if let Err(error) = std::fs::remove_file(&self.recording_path) {
                    tracing::warn!(%error, path = %self.recording_path.display(), "removing an empty recording failed");
                }
                None
            }
        };
        let mut transcript = self.session.known_transcript(self.shared.transcriber.model_name());
        // The transcript goes to disk for the post-call analysis: only redacted words are stored.
        callsight_pipeline::redaction::redact_segments(&mut transcript.segments, &self.shared.redaction);
        let transcript_json = serde_json::to_vec(&transcript).map_err(|e| StreamServiceError::Internal(e.to_string()))?;
        Ok(FinishedStream {
            messages,
            recording,
            transcript_json,
            duration_secs: self.session.received_secs(),
            n_channels: self.session.n_channels(),
        })
    }
}
