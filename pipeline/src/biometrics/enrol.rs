//! Enrolment: turn enough clean speech of one speaker into a stored voiceprint, add audio to an
//! existing one, or replace it; say exactly what is missing when the audio is not good enough.
//!
//! One voiceprint per (tenant, speaker, kind, model): enrolling again reuses its id, so a model
//! upgrade creates a new one next to it instead of mixing embedding spaces.

use serde::{Deserialize, Serialize};

use super::diarize::cut_windows;
use super::quality::{QualityConfig, QualityReport, SpeechClip, check_quality, detect_speech};
use super::{ModelId, Reason, checked_embedding, weighted_mean_embedding};
use crate::engines::VoiceActivityDetector;
use crate::error::{PipelineError, Result};
use crate::speaker::{MAX_SOURCE_CALL_IDS, SpeakerEmbedder, Voiceprint, VoiceprintIndex, VoiceprintKind};
use crate::types::PIPELINE_SAMPLE_RATE_HZ;
use crate::vad::VadConfig;

const RATE_HZ: f64 = PIPELINE_SAMPLE_RATE_HZ as f64;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrolConfig {
    /// Net speech (VAD speech, pauses excluded) a voiceprint needs; 20 s is where x-vector /
    /// CAM++ verification error stops falling quickly on telephone speech.
    pub min_net_speech_secs: f64,
    /// Speech is embedded in pieces of at most this length and the embeddings averaged by
    /// duration, which bounds the memory of one embedder call.
    pub max_chunk_secs: f64,
    pub quality: QualityConfig,
    pub vad: VadConfig,
}

impl Default for EnrolConfig {
    fn default() -> Self {
        Self {
            min_net_speech_secs: 20.0,
            max_chunk_secs: 30.0,
            quality: QualityConfig::default(),
            vad: VadConfig::default(),
        }
    }
}

/// What to do with a voiceprint the speaker already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrolMode {
    /// Enrol from this audio alone (first enrolment, or re-enrolment replacing the old voiceprint).
    Replace,
    /// Combine this audio with the stored voiceprint, weighted by net speech; the speech gate
    /// counts the stored speech too. Passive enrolment from calls uses this.
    Add,
}

/// Who is being enrolled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub tenant: String,
    pub speaker_id: String,
    pub kind: VoiceprintKind,
    pub mode: EnrolMode,
    /// Stored as the enrolment time; passed in so the pipeline does not read the clock.
    pub enrolled_at_unix_secs: i64,
    /// The call the audio comes from (passive enrolment). With [`EnrolMode::Add`], a call whose
    /// speech the voiceprint already holds is not added again (a job retried after a crash).
    pub source_call_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrolStatus {
    Enrolled,
    /// A quality gate failed; nothing was stored.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolOutcome {
    pub status: EnrolStatus,
    pub speaker_id: String,
    pub kind: VoiceprintKind,
    pub model: ModelId,
    /// The voiceprints written (one, or none when rejected).
    pub voiceprint_ids: Vec<String>,
    /// Net speech in the audio given.
    pub net_speech_secs: f64,
    /// Net speech behind the stored voiceprint after this request (stored + new when adding).
    pub total_net_speech_secs: f64,
    /// Net speech still needed; 0 when enough.
    pub missing_speech_secs: f64,
    pub quality: QualityReport,
    /// Every failed gate; empty when enrolled.
    pub reasons: Vec<Reason>,
    /// The voiceprint already held `source_call_id`'s speech: nothing was written.
    pub already_included: bool,
}

/// Enrols from whole clips (16 kHz mono): runs the VAD on each, then [`enrol_speech`].
pub fn enrol(
    clips_16k: &[&[f32]],
    request: &EnrolRequest,
    embedder: &dyn SpeakerEmbedder,
    vad: &dyn VoiceActivityDetector,
    index: &dyn VoiceprintIndex,
    config: &EnrolConfig,
) -> Result<EnrolOutcome> {
    let mut clips = Vec::with_capacity(clips_16k.len());
    for samples_16k in clips_16k {
        clips.push(SpeechClip { samples_16k, speech: detect_speech(samples_16k, vad, &config.vad)? });
    }
    enrol_speech(&clips, request, embedder, index, config)
}

/// Enrols from clips whose speech spans are already known. Passive enrolment from an analysed
/// call passes the customer channel's 16 kHz samples with that party's VAD segments here, with
/// [`EnrolMode::Add`]; the caller decides when a call may enrol (e.g. after the caller passed
/// verification), since adding a fraudster's call would poison the voiceprint.
pub fn enrol_speech(
    clips: &[SpeechClip<'_>],
    request: &EnrolRequest,
    embedder: &dyn SpeakerEmbedder,
    index: &dyn VoiceprintIndex,
    config: &EnrolConfig,
) -> Result<EnrolOutcome> {
    if request.tenant.is_empty() || request.speaker_id.is_empty() {
        return Err(PipelineError::InvalidOption("enrolment needs a tenant and a speaker id".to_owned()));
    }
    let model = ModelId::of(embedder);
    let mut existing = index.list(&model.filter(&request.tenant, Some(request.kind), Some(&request.speaker_id)))?;
    existing.sort_by(|a, b| a.id.cmp(&b.id));
    let stored_secs = match request.mode {
        EnrolMode::Add => existing.iter().map(|v| v.net_speech_secs.max(0.0)).sum(),
        EnrolMode::Replace => 0.0,
    };
    let min_embeddable_secs = embedder.min_samples() as f64 / RATE_HZ;
    let required_secs = (config.min_net_speech_secs - stored_secs).max(min_embeddable_secs);
    let quality = check_quality(clips, required_secs, Some(embedder), &config.quality)?;
    let net_speech_secs = quality.net_speech_secs;
    if !quality.passed() {
        return Ok(EnrolOutcome {
            status: EnrolStatus::Rejected,
            speaker_id: request.speaker_id.clone(),
            kind: request.kind,
            model,
            voiceprint_ids: Vec::new(),
            net_speech_secs,
            total_net_speech_secs: stored_secs,
            missing_speech_secs: quality.missing_speech_secs,
            reasons: quality.reasons.clone(),
            quality,
            already_included: false,
        });
    }
    if request.mode == EnrolMode::Add
        && let Some(call_id) = &request.source_call_id
        && existing.iter().any(|v| v.source_call_ids.iter().any(|stored| stored == call_id))
    {
        tracing::info!(tenant = %request.tenant, speaker_id = %request.speaker_id, %call_id, "the voiceprint already holds this call's speech");
        return Ok(EnrolOutcome {
            status: EnrolStatus::Enrolled,
            speaker_id: request.speaker_id.clone(),
            kind: request.kind,
            model,
            voiceprint_ids: existing.iter().take(1).map(|v| v.id.clone()).collect(),
            net_speech_secs,
            total_net_speech_secs: stored_secs,
            missing_speech_secs: 0.0,
            quality,
            reasons: Vec::new(),
            already_included: true,
        });
    }

    let new_embedding = embed_speech(clips, embedder, config.max_chunk_secs)?.ok_or_else(|| PipelineError::Engine {
        engine: "speaker embedder",
        reason: "no speech piece was long enough to embed".to_owned(),
    })?;
    let mut parts: Vec<(&[f32], f64)> = vec![(&new_embedding, net_speech_secs)];
    if request.mode == EnrolMode::Add {
        parts.extend(
            existing
                .iter()
                .filter(|v| v.vector.len() == new_embedding.len())
                .map(|v| (v.vector.as_slice(), v.net_speech_secs)),
        );
    }
    let vector = weighted_mean_embedding(&parts).unwrap_or(new_embedding.clone());
    let total_net_speech_secs = stored_secs + net_speech_secs;
    let id = existing.first().map_or_else(|| uuid::Uuid::new_v4().to_string(), |v| v.id.clone());
    let mut source_call_ids = match (request.mode, existing.first()) {
        (EnrolMode::Add, Some(stored)) => stored.source_call_ids.clone(),
        _ => Vec::new(),
    };
    source_call_ids.extend(request.source_call_id.iter().cloned());
    let excess = source_call_ids.len().saturating_sub(MAX_SOURCE_CALL_IDS);
    source_call_ids.drain(..excess);
    let voiceprint = Voiceprint {
        id: id.clone(),
        tenant: request.tenant.clone(),
        speaker_id: request.speaker_id.clone(),
        kind: request.kind,
        model_name: model.model_name.clone(),
        model_version: model.model_version.clone(),
        enrolled_at_unix_secs: request.enrolled_at_unix_secs,
        net_speech_secs: total_net_speech_secs,
        source_call_ids,
        vector,
    };
    index.upsert(std::slice::from_ref(&voiceprint))?;
    tracing::info!(
        tenant = %request.tenant,
        speaker_id = %request.speaker_id,
        kind = request.kind.as_str(),
        voiceprint_id = %id,
        net_speech_secs,
        total_net_speech_secs,
        "enrolled voiceprint"
    );
    Ok(EnrolOutcome {
        status: EnrolStatus::Enrolled,
        speaker_id: request.speaker_id.clone(),
        kind: request.kind,
        model,
        voiceprint_ids: vec![id],
        net_speech_secs,
        total_net_speech_secs,
        missing_speech_secs: 0.0,
        quality,
        reasons: Vec::new(),
        already_included: false,
    })
}

/// One embedding for all the speech of `clips`: pieces of at most `max_chunk_secs` embedded and
/// averaged by duration, renormalised. `None` when no piece reaches the embedder's minimum.
pub fn embed_speech(
    clips: &[SpeechClip<'_>],
    embedder: &dyn SpeakerEmbedder,
    max_chunk_secs: f64,
) -> Result<Option<Vec<f32>>> {
    let chunk = ((max_chunk_secs * RATE_HZ) as usize).max(embedder.min_samples()).max(1);
    let mut embeddings: Vec<(Vec<f32>, f64)> = Vec::new();
    for clip in clips {
        let speech = clip.speech_samples();
        for range in cut_windows(speech.len(), chunk, chunk, embedder.min_samples()) {
            let weight = range.len() as f64;
            embeddings.push((checked_embedding(embedder, embedder.embed(&speech[range])?)?, weight));
        }
    }
    let parts: Vec<(&[f32], f64)> = embeddings.iter().map(|(e, w)| (e.as_slice(), *w)).collect();
    Ok(weighted_mean_embedding(&parts))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;
    use crate::biometrics::ReasonCode;
    use crate::biometrics::cosine;
    use crate::biometrics::testing::{EnergyVad, MemoryIndex, Rng, ToneEmbedder, noise, tone};

    fn request(mode: EnrolMode) -> EnrolRequest {
        EnrolRequest {
            tenant: "bank".into(),
            speaker_id: "cust-1".into(),
            kind: VoiceprintKind::Customer,
            mode,
            enrolled_at_unix_secs: 1_700_000_000,
            source_call_id: None,
        }
    }

    /// `speech_secs` of a voice between 0.5 s of background on both sides.
    fn clip(hz: f64, speech_secs: f64, rng: &mut Rng) -> Vec<f32> {
        let mut samples = noise(0.5, 0.001, rng);
        samples.extend(tone(hz, speech_secs, 0.3, rng));
        samples.extend(noise(0.5, 0.001, rng));
        samples
    }

    #[test]
    fn says_exactly_how_much_speech_is_missing_and_stores_nothing() {
        let mut rng = Rng::new(1);
        let audio = clip(300.0, 12.4, &mut rng);
        let index = MemoryIndex::default();
        let outcome =
            enrol(&[&audio], &request(EnrolMode::Replace), &ToneEmbedder, &EnergyVad, &index, &EnrolConfig::default())
                .unwrap();
        assert_eq!(outcome.status, EnrolStatus::Rejected);
        assert_eq!(outcome.reasons.len(), 1, "{:?}", outcome.reasons);
        assert_eq!(outcome.reasons[0].code, ReasonCode::TooLittleSpeech);
        // VAD frames are 32 ms, so 12.4 s of tone measures as 12.4 ± 0.064 s.
        assert!((outcome.net_speech_secs - 12.4).abs() < 0.07, "{}", outcome.net_speech_secs);
        let shown = (outcome.net_speech_secs * 10.0).floor() / 10.0;
        assert!((outcome.missing_speech_secs - (20.0 - shown)).abs() < 1e-9);
        assert_eq!(
            outcome.reasons[0].message,
            format!("{shown:.1} s of net speech, 20.0 s needed ({:.1} s missing)", 20.0 - shown)
        );
        assert!(index.voiceprints.lock().unwrap().is_empty());
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["reasons"][0]["code"], "too_little_speech");
        assert_eq!(json["status"], "rejected");
    }

    #[test]
    fn enrols_from_several_clips_and_adding_audio_weights_by_speech() {
        let mut rng = Rng::new(2);
        let (first, second) = (clip(300.0, 12.0, &mut rng), clip(300.0, 10.0, &mut rng));
        let index = MemoryIndex::default();
        let config = EnrolConfig::default();
        let outcome =
            enrol(&[&first, &second], &request(EnrolMode::Replace), &ToneEmbedder, &EnergyVad, &index, &config)
                .unwrap();
        assert_eq!(outcome.status, EnrolStatus::Enrolled, "{:?}", outcome.reasons);
        assert_eq!(outcome.voiceprint_ids.len(), 1);
        let stored = index.voiceprints.lock().unwrap()[0].clone();
        assert_eq!((stored.tenant.as_str(), stored.model_name.as_str()), ("bank", "tone"));
        assert!((stored.net_speech_secs - 22.0).abs() < 0.2);

        // Adding 5 s of a (slightly different) voice: a short top-up passes the speech gate
        // because the stored 22 s count, and moves the voiceprint by about 5/27 of the way.
        let top_up = clip(400.0, 5.0, &mut rng);
        let mut add_config = config.clone();
        add_config.quality.check_multiple_speakers = false;
        let added =
            enrol(&[&top_up], &request(EnrolMode::Add), &ToneEmbedder, &EnergyVad, &index, &add_config).unwrap();
        assert_eq!(added.status, EnrolStatus::Enrolled, "{:?}", added.reasons);
        assert_eq!(added.voiceprint_ids, outcome.voiceprint_ids, "adding keeps the voiceprint id");
        assert!((added.total_net_speech_secs - 27.0).abs() < 0.3);
        let voiceprints = index.voiceprints.lock().unwrap().clone();
        assert_eq!(voiceprints.len(), 1);
        let new_voice = ToneEmbedder.embed(&tone(400.0, 2.0, 0.3, &mut rng)).unwrap();
        let old_voice = ToneEmbedder.embed(&tone(300.0, 2.0, 0.3, &mut rng)).unwrap();
        let combined = &voiceprints[0].vector;
        assert!(cosine(combined, &old_voice) > cosine(combined, &new_voice));
        assert!(cosine(combined, &new_voice) > 0.1);

        // Re-enrolment replaces: same id, only the new voice.
        let fresh = clip(400.0, 21.0, &mut rng);
        let replaced =
            enrol(&[&fresh], &request(EnrolMode::Replace), &ToneEmbedder, &EnergyVad, &index, &config).unwrap();
        assert_eq!(replaced.voiceprint_ids, outcome.voiceprint_ids);
        let voiceprints = index.voiceprints.lock().unwrap().clone();
        assert_eq!(voiceprints.len(), 1);
        assert!(cosine(&voiceprints[0].vector, &new_voice) > 0.99);
        assert!((voiceprints[0].net_speech_secs - 21.0).abs() < 0.2);
    }

    #[test]
    fn a_call_already_in_the_voiceprint_is_not_added_twice() {
        let mut rng = Rng::new(4);
        let index = MemoryIndex::default();
        let config = EnrolConfig::default();
        let passive = |call_id: &str| EnrolRequest { source_call_id: Some(call_id.into()), ..request(EnrolMode::Add) };
        let first_call = clip(300.0, 21.0, &mut rng);
        let first = enrol(&[&first_call], &passive("call-1"), &ToneEmbedder, &EnergyVad, &index, &config).unwrap();
        assert_eq!(first.status, EnrolStatus::Enrolled, "{:?}", first.reasons);
        assert!(!first.already_included);
        let stored = index.voiceprints.lock().unwrap()[0].clone();
        assert_eq!(stored.source_call_ids, vec!["call-1".to_string()]);

        // The same call's job retried after a crash: the voiceprint does not change.
        let retried = enrol(&[&first_call], &passive("call-1"), &ToneEmbedder, &EnergyVad, &index, &config).unwrap();
        assert_eq!(retried.status, EnrolStatus::Enrolled);
        assert!(retried.already_included, "the retry is recognised");
        assert_eq!(retried.voiceprint_ids, first.voiceprint_ids);
        let after_retry = index.voiceprints.lock().unwrap().clone();
        assert_eq!(after_retry.len(), 1);
        assert_eq!(after_retry[0].net_speech_secs, stored.net_speech_secs, "no speech counted twice");
        assert_eq!(after_retry[0].vector, stored.vector);
        assert_eq!(after_retry[0].source_call_ids, stored.source_call_ids);

        // Another call of the same customer is added and remembered.
        let mut add_config = config.clone();
        add_config.quality.check_multiple_speakers = false;
        let second_call = clip(300.0, 5.0, &mut rng);
        let second = enrol(&[&second_call], &passive("call-2"), &ToneEmbedder, &EnergyVad, &index, &add_config).unwrap();
        assert!(!second.already_included);
        let voiceprints = index.voiceprints.lock().unwrap().clone();
        assert!((voiceprints[0].net_speech_secs - stored.net_speech_secs - 5.0).abs() < 0.2);
        assert_eq!(voiceprints[0].source_call_ids, vec!["call-1".to_string(), "call-2".to_string()]);

        // Replacing (an explicit re-enrolment) starts the list afresh.
        let fresh = clip(300.0, 21.0, &mut rng);
        enrol(&[&fresh], &request(EnrolMode::Replace), &ToneEmbedder, &EnergyVad, &index, &config).unwrap();
        assert!(index.voiceprints.lock().unwrap()[0].source_call_ids.is_empty());
    }

    #[test]
    fn quality_gates_refuse_noise_clipping_and_two_voices() {
        let mut rng = Rng::new(3);
        let index = MemoryIndex::default();
        let config = EnrolConfig::default();

        // Loud background: 0.3 amplitude tone (power 0.045) over noise of RMS 0.1 (power 0.01).
        let mut noisy = noise(1.0, 0.1, &mut rng);
        noisy.extend(tone(300.0, 21.0, 0.3, &mut rng).iter().zip(noise(21.0, 0.1, &mut rng)).map(|(s, n)| s + n));
        noisy.extend(noise(1.0, 0.1, &mut rng));
        // The energy VAD calls the noise speech too (RMS 0.1 > 0.01): give the segments by hand.
        let speech = vec![crate::types::TimeSpan { start_secs: 1.0, end_secs: 22.0 }];
        let clips = [SpeechClip { samples_16k: &noisy, speech }];
        let outcome = enrol_speech(&clips, &request(EnrolMode::Replace), &ToneEmbedder, &index, &config).unwrap();
        let codes: Vec<ReasonCode> = outcome.reasons.iter().map(|r| r.code).collect();
        assert_eq!(codes, vec![ReasonCode::LowSnr], "{:?}", outcome.reasons);

        let clipped: Vec<f32> = clip(300.0, 21.0, &mut rng).iter().map(|s| (s * 5.0).clamp(-1.0, 1.0)).collect();
        let outcome =
            enrol(&[&clipped], &request(EnrolMode::Replace), &ToneEmbedder, &EnergyVad, &index, &config).unwrap();
        assert_eq!(outcome.reasons.iter().map(|r| r.code).collect::<Vec<_>>(), vec![ReasonCode::Clipping]);

        let mut two_voices = clip(300.0, 11.0, &mut rng);
        two_voices.extend(clip(800.0, 11.0, &mut rng));
        let outcome =
            enrol(&[&two_voices], &request(EnrolMode::Replace), &ToneEmbedder, &EnergyVad, &index, &config).unwrap();
        assert_eq!(outcome.reasons.iter().map(|r| r.code).collect::<Vec<_>>(), vec![ReasonCode::MultipleSpeakers]);
        assert!(index.voiceprints.lock().unwrap().is_empty());
    }
}
