//! The biometric engine as the API sees it. The binary implements [`SpeakerService`] over
//! `pipeline::biometrics` and the model crate; the API only moves bytes in and wire types out,
//! so it never depends on `models`.
//!
//! Every method is synchronous and CPU-bound (decode, VAD, embedding): the handlers call them
//! through `tokio::task::spawn_blocking`, never on the async runtime.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which kind of voice an enrolment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpeakerKind {
    Customer,
    Agent,
    /// Known fraudster voice, screened on every verification and identification.
    Fraudster,
}

impl SpeakerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpeakerKind::Customer => "customer",
            SpeakerKind::Agent => "agent",
            SpeakerKind::Fraudster => "fraudster",
        }
    }

    pub fn parse(text: &str) -> Option<SpeakerKind> {
        match text {
            "customer" => Some(SpeakerKind::Customer),
            "agent" => Some(SpeakerKind::Agent),
            "fraudster" => Some(SpeakerKind::Fraudster),
            _ => None,
        }
    }
}

/// Why a biometric request was refused or left inconclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BiometricReason {
    /// `too_little_speech`, `low_snr`, `clipping`, `multiple_speakers`, ...
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrolStatus {
    Enrolled,
    /// A quality gate failed (see `reasons`); nothing was stored.
    Rejected,
}

/// What one enrolment did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnrolResponse {
    pub speaker_id: String,
    pub kind: SpeakerKind,
    pub status: EnrolStatus,
    /// Voiceprints written (empty when rejected).
    pub voiceprint_ids: Vec<String>,
    /// Net speech in the audio given.
    pub net_speech_secs: f64,
    /// Net speech still needed for an enrolment; 0 when enough.
    pub missing_speech_secs: f64,
    pub reasons: Vec<BiometricReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifyDecision {
    Accept,
    Reject,
    /// Not enough or not good enough audio to decide; see `reasons`.
    Inconclusive,
}

impl VerifyDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyDecision::Accept => "accept",
            VerifyDecision::Reject => "reject",
            VerifyDecision::Inconclusive => "inconclusive",
        }
    }
}

/// A watchlisted (fraudster) voice that matched the probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WatchlistHit {
    pub speaker_id: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    pub speaker_id: String,
    pub decision: VerifyDecision,
    /// Calibrated score (log-likelihood ratio); `null` when no decision could be scored.
    pub score: Option<f64>,
    pub threshold: f64,
    pub net_speech_secs: f64,
    pub reasons: Vec<BiometricReason>,
    pub watchlist_hits: Vec<WatchlistHit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdentifyCandidate {
    pub speaker_id: String,
    pub kind: SpeakerKind,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdentifyResponse {
    /// Enrolled speakers above the decision threshold, best first (empty: nobody known).
    pub candidates: Vec<IdentifyCandidate>,
    pub threshold: f64,
    pub net_speech_secs: f64,
    pub reasons: Vec<BiometricReason>,
    pub watchlist_hits: Vec<WatchlistHit>,
}

/// An enrolment request as the handler passes it on.
#[derive(Debug, Clone)]
pub struct EnrolInput {
    pub tenant: String,
    pub speaker_id: String,
    pub kind: SpeakerKind,
    /// Encoded audio files as uploaded (WAV, FLAC, ...), one per clip.
    pub clips: Vec<Vec<u8>>,
    /// Overrides the configured minimum net speech for this enrolment.
    pub min_net_speech_secs: Option<f64>,
}

/// Failures of the biometric engine. User-caused ones become 4xx; `Internal` is a 500 whose
/// detail is only logged.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerServiceError {
    #[error("audio cannot be used: {0}")]
    BadAudio(String),
    #[error("speaker {0} is not enrolled")]
    UnknownSpeaker(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("biometric engine failed: {0}")]
    Internal(String),
    /// The voiceprint index cannot be reached right now (an outage, not a bad request).
    #[error("voiceprint index unreachable: {0}")]
    Unavailable(String),
}

impl From<callsight_pipeline::error::PipelineError> for SpeakerServiceError {
    fn from(error: callsight_pipeline::error::PipelineError) -> Self {
        use callsight_pipeline::error::PipelineError;
        match error {
            PipelineError::Audio { reason, .. } => SpeakerServiceError::BadAudio(reason),
            PipelineError::UnknownSpeaker { speaker_id } => SpeakerServiceError::UnknownSpeaker(speaker_id),
            PipelineError::InvalidOption(reason) => SpeakerServiceError::InvalidRequest(reason),
            error @ PipelineError::IndexUnavailable { .. } => SpeakerServiceError::Unavailable(error.to_string()),
            other => SpeakerServiceError::Internal(other.to_string()),
        }
    }
}

/// The voice-biometrics engine, implemented by the binary. All methods block (CPU-bound).
pub trait SpeakerService: Send + Sync + 'static {
    /// Enrols (or re-enrols, replacing) `speaker_id` of `tenant` from one or more clips.
    fn enrol(&self, input: EnrolInput) -> Result<EnrolResponse, SpeakerServiceError>;
    /// Whether the engine's stores answer now (readiness probe); blocks for at most a network
    /// round trip. Engines without remote stores are always ready.
    fn check_ready(&self) -> Result<(), SpeakerServiceError> {
        Ok(())
    }
    /// Adds clips to the speaker's voiceprint (weighted by net speech) instead of replacing it;
    /// the stored speech counts towards the minimum, so a voiceprint can be built up call by call.
    fn enrol_more(&self, input: EnrolInput) -> Result<EnrolResponse, SpeakerServiceError> {
        let _ = input;
        Err(SpeakerServiceError::InvalidRequest("this biometric engine cannot add to a voiceprint".into()))
    }
    /// 1:1 verification of a claimed identity, with watchlist screening.
    fn verify(&self, tenant: &str, speaker_id: &str, audio: &[u8]) -> Result<VerifyResponse, SpeakerServiceError>;
    /// 1:N identification among the tenant's enrolled speakers, with watchlist screening.
    fn identify(&self, tenant: &str, audio: &[u8]) -> Result<IdentifyResponse, SpeakerServiceError>;
    /// Enrols a fraudster voice on the tenant's watchlist.
    fn watchlist_add(
        &self,
        tenant: &str,
        speaker_id: &str,
        clips: Vec<Vec<u8>>,
        min_net_speech_secs: Option<f64>,
    ) -> Result<EnrolResponse, SpeakerServiceError>;
    /// Removes every voiceprint of the speaker; `UnknownSpeaker` if there is none.
    fn delete(&self, tenant: &str, speaker_id: &str) -> Result<(), SpeakerServiceError>;
}
