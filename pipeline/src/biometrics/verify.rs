//! 1:1 verification: does this audio come from the claimed speaker? A calibrated score against
//! the threshold that gives the configured false-accept rate, or "inconclusive" with the reasons.

use serde::{Deserialize, Serialize};

use super::calibration::Calibration;
use super::enrol::embed_speech;
use super::quality::{QualityConfig, QualityReport, SpeechClip, check_quality, detect_speech};
use super::{ModelId, Reason, cosine};
use crate::engines::VoiceActivityDetector;
use crate::error::{PipelineError, Result};
use crate::speaker::{SpeakerEmbedder, VoiceprintIndex, VoiceprintKind};
use crate::vad::VadConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyConfig {
    /// Operating point: the share of impostors that would be accepted (0.01 = 1 %).
    pub target_far: f64,
    /// Below this much net speech the decision is inconclusive: error rates of short-utterance
    /// verification rise steeply under ~3 s.
    pub min_net_speech_secs: f64,
    pub max_chunk_secs: f64,
    pub quality: QualityConfig,
    pub vad: VadConfig,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            target_far: 0.01,
            min_net_speech_secs: 3.0,
            max_chunk_secs: 30.0,
            quality: QualityConfig::default(),
            vad: VadConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Reject,
    /// Not enough or not good enough audio to decide; see the reasons.
    Inconclusive,
}

/// Audio prepared once for verification, screening and identification: its quality and, when
/// there was enough speech to embed, its embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub model: ModelId,
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
    pub quality: QualityReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub decision: Decision,
    pub claimed_speaker_id: String,
    /// Calibrated score (natural-log likelihood ratio); `None` when the audio could not be embedded.
    pub score: Option<f64>,
    pub cosine: Option<f64>,
    /// Score threshold of the operating point; accept when `score ≥ threshold`.
    pub threshold: f64,
    pub target_far: f64,
    pub net_speech_secs: f64,
    /// The voiceprint that scored best.
    pub voiceprint_id: Option<String>,
    pub reasons: Vec<Reason>,
}

/// Measures quality (with the verification speech minimum) and embeds the speech when there is
/// enough of it for the embedder, even if a gate failed, so the score can still be shown.
pub fn analyse_probe(clips: &[SpeechClip<'_>], embedder: &dyn SpeakerEmbedder, config: &VerifyConfig) -> Result<Probe> {
    let quality = check_quality(clips, config.min_net_speech_secs, Some(embedder), &config.quality)?;
    let embedding = embed_speech(clips, embedder, config.max_chunk_secs)?;
    Ok(Probe { model: ModelId::of(embedder), embedding, quality })
}

/// Who the caller claims to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRequest {
    pub tenant: String,
    pub claimed_speaker_id: String,
    pub kind: VoiceprintKind,
}

/// Verifies a prepared probe against the claimed speaker's voiceprints (the best one counts).
/// [`PipelineError::UnknownSpeaker`] when the speaker has no voiceprint of this model.
pub fn verify_probe(
    probe: &Probe,
    request: &VerifyRequest,
    index: &dyn VoiceprintIndex,
    calibration: &Calibration,
    config: &VerifyConfig,
) -> Result<Verification> {
    calibration.ensure_model(&probe.model)?;
    let voiceprints =
        index.list(&probe.model.filter(&request.tenant, Some(request.kind), Some(&request.claimed_speaker_id)))?;
    if voiceprints.is_empty() {
        return Err(PipelineError::UnknownSpeaker { speaker_id: request.claimed_speaker_id.clone() });
    }
    let threshold = calibration.threshold_for_far(config.target_far);
    let best = probe.embedding.as_ref().and_then(|embedding| {
        voiceprints
            .iter()
            .filter(|v| v.vector.len() == embedding.len())
            .map(|v| (v, f64::from(cosine(embedding, &v.vector))))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    });
    let score = best.map(|(_, cos)| calibration.llr(cos));
    let decision = match score {
        _ if !probe.quality.passed() => Decision::Inconclusive,
        None => Decision::Inconclusive,
        Some(score) if score >= threshold => Decision::Accept,
        Some(_) => Decision::Reject,
    };
    Ok(Verification {
        decision,
        claimed_speaker_id: request.claimed_speaker_id.clone(),
        score,
        cosine: best.map(|(_, cos)| cos),
        threshold,
        target_far: config.target_far,
        net_speech_secs: probe.quality.net_speech_secs,
        voiceprint_id: best.map(|(v, _)| v.id.clone()),
        reasons: probe.quality.reasons.clone(),
    })
}

/// Verifies whole clips (16 kHz mono): VAD, quality, embedding, score, decision.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    clips_16k: &[&[f32]],
    request: &VerifyRequest,
    embedder: &dyn SpeakerEmbedder,
    vad: &dyn VoiceActivityDetector,
    index: &dyn VoiceprintIndex,
    calibration: &Calibration,
    config: &VerifyConfig,
) -> Result<Verification> {
    let model = ModelId::of(embedder);
    calibration.ensure_model(&model)?;
    // Cheap check first: an unknown speaker is an error whatever the audio.
    if index.list(&model.filter(&request.tenant, Some(request.kind), Some(&request.claimed_speaker_id)))?.is_empty() {
        return Err(PipelineError::UnknownSpeaker { speaker_id: request.claimed_speaker_id.clone() });
    }
    let mut clips = Vec::with_capacity(clips_16k.len());
    for samples_16k in clips_16k {
        clips.push(SpeechClip { samples_16k, speech: detect_speech(samples_16k, vad, &config.vad)? });
    }
    let probe = analyse_probe(&clips, embedder, config)?;
    verify_probe(&probe, request, index, calibration, config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;
    use crate::biometrics::ReasonCode;
    use crate::biometrics::enrol::{EnrolConfig, EnrolMode, EnrolRequest, enrol};
    use crate::biometrics::testing::{EnergyVad, MemoryIndex, Rng, ToneEmbedder, noise, tone, tone_calibration};

    fn clip(hz: f64, speech_secs: f64, rng: &mut Rng) -> Vec<f32> {
        let mut samples = noise(0.5, 0.001, rng);
        samples.extend(tone(hz, speech_secs, 0.3, rng));
        samples.extend(noise(0.5, 0.001, rng));
        samples
    }

    fn enrolled_index(rng: &mut Rng) -> MemoryIndex {
        let index = MemoryIndex::default();
        let request = EnrolRequest {
            tenant: "bank".into(),
            speaker_id: "alice".into(),
            kind: VoiceprintKind::Customer,
            mode: EnrolMode::Replace,
            enrolled_at_unix_secs: 0,
            source_call_id: None,
        };
        let audio = clip(300.0, 21.0, rng);
        enrol(&[&audio], &request, &ToneEmbedder, &EnergyVad, &index, &EnrolConfig::default()).unwrap();
        index
    }

    fn claim(speaker: &str) -> VerifyRequest {
        VerifyRequest { tenant: "bank".into(), claimed_speaker_id: speaker.into(), kind: VoiceprintKind::Customer }
    }

    #[test]
    fn accepts_the_same_voice_and_rejects_another() {
        let mut rng = Rng::new(1);
        let index = enrolled_index(&mut rng);
        let calibration = tone_calibration();
        let config = VerifyConfig::default();
        let same = clip(300.0, 5.0, &mut rng);
        let verification =
            verify(&[&same], &claim("alice"), &ToneEmbedder, &EnergyVad, &index, &calibration, &config).unwrap();
        assert_eq!(verification.decision, Decision::Accept, "{verification:?}");
        assert!(verification.score.unwrap() > verification.threshold);
        assert!(verification.reasons.is_empty());
        let other = clip(800.0, 5.0, &mut rng);
        let verification =
            verify(&[&other], &claim("alice"), &ToneEmbedder, &EnergyVad, &index, &calibration, &config).unwrap();
        assert_eq!(verification.decision, Decision::Reject, "{verification:?}");
        // The threshold is the calibrated one for 1 % FAR.
        assert!((verification.threshold - calibration.threshold_for_far(0.01)).abs() < 1e-12);
        // Every index call was restricted to the request's tenant and the embedder's model.
        assert!(index.seen_filters.lock().unwrap().iter().all(|f| f.tenant == "bank" && f.model_name == "tone"));
    }

    #[test]
    fn inconclusive_below_three_seconds_of_speech_but_still_scored() {
        let mut rng = Rng::new(2);
        let index = enrolled_index(&mut rng);
        let short = clip(300.0, 2.5, &mut rng);
        let verification = verify(
            &[&short],
            &claim("alice"),
            &ToneEmbedder,
            &EnergyVad,
            &index,
            &tone_calibration(),
            &VerifyConfig::default(),
        )
        .unwrap();
        assert_eq!(verification.decision, Decision::Inconclusive);
        assert_eq!(verification.reasons[0].code, ReasonCode::TooLittleSpeech);
        assert!(verification.score.is_some());
        let json = serde_json::to_value(&verification).unwrap();
        assert_eq!(json["decision"], "inconclusive");
    }

    #[test]
    fn unknown_speaker_other_tenant_and_wrong_calibration_are_errors() {
        let mut rng = Rng::new(3);
        let index = enrolled_index(&mut rng);
        let audio = clip(300.0, 5.0, &mut rng);
        let calibration = tone_calibration();
        let config = VerifyConfig::default();
        let error =
            verify(&[&audio], &claim("bob"), &ToneEmbedder, &EnergyVad, &index, &calibration, &config).unwrap_err();
        assert!(matches!(error, PipelineError::UnknownSpeaker { ref speaker_id } if speaker_id == "bob"));
        let other_tenant = VerifyRequest { tenant: "other-bank".into(), ..claim("alice") };
        let error =
            verify(&[&audio], &other_tenant, &ToneEmbedder, &EnergyVad, &index, &calibration, &config).unwrap_err();
        assert!(matches!(error, PipelineError::UnknownSpeaker { .. }));
        let wrong = Calibration { model_version: "2".into(), ..calibration };
        let error = verify(&[&audio], &claim("alice"), &ToneEmbedder, &EnergyVad, &index, &wrong, &config).unwrap_err();
        assert!(matches!(error, PipelineError::InvalidOption(_)));
    }
}
