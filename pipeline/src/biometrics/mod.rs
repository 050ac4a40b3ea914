//! Voice-biometrics decisions on top of the [`crate::speaker`] engines: quality gates, enrolment,
//! calibrated 1:1 verification, watchlist screening and voice reuse, and diarization of mono calls.
//!
//! Everything here is pure logic over the `SpeakerEmbedder`, `VoiceActivityDetector` and
//! `VoiceprintIndex` traits; the caller owns the engines and the calibration file.

pub mod calibration;
pub mod diarize;
pub mod enrol;
pub mod quality;
pub mod screen;
pub mod verify;

pub use calibration::{Calibration, CalibrationSet, FarPoint, fit_linear_calibration, probit, threshold_at_far};
pub use diarize::{Diarization, DiarizeConfig, diarize, diarize_clusters, diarize_ranges, label_parties};
pub use enrol::{EnrolConfig, EnrolMode, EnrolOutcome, EnrolRequest, EnrolStatus, enrol, enrol_speech};
pub use quality::{OwnedSpeechClip, QualityConfig, QualityReport, SpeechClip, analyse_speech, call_speech_clips, check_quality, detect_speech};
pub use screen::{Candidate, ScreenConfig, VoiceMatch, VoiceReuse, WatchlistHit, find_voice_reuse, identify, screen_watchlist};
pub use verify::{Decision, Probe, Verification, VerifyConfig, VerifyRequest, analyse_probe, verify, verify_probe};

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::speaker::{SpeakerEmbedder, VoiceprintFilter, VoiceprintKind};

/// Why a biometric request was refused or left inconclusive; `code` is for machines, `message`
/// for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// Less net speech than the operation needs.
    TooLittleSpeech,
    /// Speech is not far enough above the background.
    LowSnr,
    /// Too many samples at full scale.
    Clipping,
    /// The speech sounds like more than one voice.
    MultipleSpeakers,
}

impl Reason {
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// The model a voiceprint or score belongs to; scores of different models are never compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelId {
    pub model_name: String,
    pub model_version: String,
}

impl ModelId {
    pub fn of(embedder: &dyn SpeakerEmbedder) -> Self {
        Self { model_name: embedder.model_name().to_owned(), model_version: embedder.model_version().to_owned() }
    }

    pub(crate) fn filter(
        &self,
        tenant: &str,
        kind: Option<VoiceprintKind>,
        speaker_id: Option<&str>,
    ) -> VoiceprintFilter {
        VoiceprintFilter {
            tenant: tenant.to_owned(),
            model_name: self.model_name.clone(),
            model_version: self.model_version.clone(),
            kind,
            speaker_id: speaker_id.map(str::to_owned),
        }
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.model_name, self.model_version)
    }
}

/// Dot product; for L2-normalised vectors this is the cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scales `vector` to unit length in place; a zero vector stays zero.
pub fn l2_normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Weighted mean of embeddings, renormalised. Weights are usually seconds of speech.
pub fn weighted_mean_embedding(embeddings: &[(&[f32], f64)]) -> Option<Vec<f32>> {
    let dimension = embeddings.first()?.0.len();
    let mut mean = vec![0.0f32; dimension];
    let mut total_weight = 0.0f64;
    for (embedding, weight) in embeddings {
        if embedding.len() != dimension || *weight <= 0.0 {
            continue;
        }
        total_weight += weight;
        for (m, x) in mean.iter_mut().zip(embedding.iter()) {
            *m += x * *weight as f32;
        }
    }
    if total_weight <= 0.0 {
        return None;
    }
    l2_normalise(&mut mean);
    Some(mean)
}

/// Checks an embedding the engine returned before it is stored or compared.
pub(crate) fn checked_embedding(embedder: &dyn SpeakerEmbedder, embedding: Vec<f32>) -> Result<Vec<f32>> {
    if embedding.len() != embedder.dimension() || embedding.iter().any(|x| !x.is_finite()) {
        return Err(PipelineError::Engine {
            engine: "speaker embedder",
            reason: format!(
                "{} returned a {}-dimensional or non-finite embedding, expected {} dimensions",
                embedder.model_name(),
                embedding.len(),
                embedder.dimension()
            ),
        });
    }
    Ok(embedding)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test fakes
pub(crate) mod testing;
