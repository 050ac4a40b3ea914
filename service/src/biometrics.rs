//! The voice-biometrics engine behind both `callsight speakers ...` and the HTTP speaker
//! endpoints: decode → 16 kHz → VAD → embed → calibrated decisions on the voiceprint index.

use std::path::Path;
use std::sync::Arc;

use callsight_api::server::speaker_service::{
    BiometricReason, EnrolInput, EnrolResponse, EnrolStatus, IdentifyCandidate, IdentifyResponse, SpeakerKind,
    SpeakerService, SpeakerServiceError, VerifyDecision, VerifyResponse, WatchlistHit,
};
use callsight_models::voiceprints::{EdgeVoiceprintIndex, ServerVoiceprintIndex};
use callsight_pipeline::audio::{decode_bytes, resample};
use callsight_pipeline::biometrics::{
    self, Calibration, CalibrationSet, Decision, EnrolConfig, EnrolMode, EnrolRequest, ModelId, Reason, ScreenConfig,
    SpeechClip, VerifyConfig, VerifyRequest,
};
use callsight_pipeline::engines::VoiceActivityDetector;
use callsight_pipeline::speaker::{SpeakerEmbedder, VoiceprintIndex, VoiceprintKind};
use callsight_pipeline::types::PIPELINE_SAMPLE_RATE_HZ;

use crate::ServiceError;
use crate::config::{BiometricsConfig, VoiceprintsConfig};

/// How many identification candidates an answer lists at most.
const MAX_CANDIDATES: usize = 5;

/// What a passive enrolment did: the enrolment, and whether the voiceprint already held the
/// call's speech (a retried job), in which case nothing was written.
#[derive(Debug, Clone)]
pub struct PassiveEnrolment {
    pub response: EnrolResponse,
    pub already_included: bool,
}

pub struct BiometricsEngine {
    embedder: Arc<dyn SpeakerEmbedder>,
    vad: Arc<dyn VoiceActivityDetector>,
    index: Arc<dyn VoiceprintIndex>,
    calibration: Calibration,
    enrol: EnrolConfig,
    verify: VerifyConfig,
    screen: ScreenConfig,
}

/// Whether opening a Qdrant server index waits for the server to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerReachability {
    /// Fail now if the server does not answer (one-shot commands: the user is waiting).
    Required,
    /// Start anyway and say so loudly; the service is not ready (and its jobs wait) until the
    /// server answers, and recovers by itself when it does (`serve`, `worker`).
    AwaitedLater,
}

/// Opens the configured voiceprint index: Qdrant in-process under `data_dir/voiceprints`, or a
/// Qdrant server. Never blocks on a runtime, so it may be called from inside one.
pub fn open_voiceprint_index(config: &VoiceprintsConfig, data_dir: &Path) -> Result<Arc<dyn VoiceprintIndex>, ServiceError> {
    open_voiceprint_index_with(config, data_dir, ServerReachability::Required)
}

pub fn open_voiceprint_index_with(
    config: &VoiceprintsConfig,
    data_dir: &Path,
    reachability: ServerReachability,
) -> Result<Arc<dyn VoiceprintIndex>, ServiceError> {
    match (config.backend.as_str(), &config.url) {
        ("server", Some(url)) => {
            let api_key = match &config.api_key_env {
                Some(name) => Some(
                    std::env::var(name)
                        .map_err(|_| ServiceError::Config(format!("environment variable {name} (voiceprints.api_key_env) is not set")))?,
                ),
                None => None,
            };
            let index = ServerVoiceprintIndex::connect_lazily(url, api_key, &config.collection_prefix)
                .map_err(|source| ServiceError::Pipeline { context: format!("voiceprints.url {url}"), source })?;
            if let Err(error) = index.check_reachable() {
                match reachability {
                    ServerReachability::Required => {
                        return Err(ServiceError::Pipeline {
                            context: format!("the Qdrant server at {url} (voiceprints.url) does not answer"),
                            source: error,
                        });
                    }
                    ServerReachability::AwaitedLater => {
                        tracing::error!(%url, %error, "the Qdrant server (voiceprints.url) does not answer; /readyz answers 503 and jobs wait until it does");
                        eprintln!("warning: the Qdrant server at {url} (voiceprints.url) does not answer: {error}; not ready until it does");
                    }
                }
            }
            Ok(Arc::new(index))
        }
        _ => {
            let dir = data_dir.join("voiceprints");
            std::fs::create_dir_all(&dir).map_err(|source| ServiceError::Io { context: format!("creating {}", dir.display()), source })?;
            let index = EdgeVoiceprintIndex::open(&dir).map_err(|source| ServiceError::Pipeline {
                context: format!(
                    "opening the voiceprint index in {}. Processes that share a data directory need a shared \
                     index: set voiceprints.backend = \"server\" (Qdrant), run the workers inside `callsight serve \
                     --workers N`, use the HTTP API instead of the CLI while the server runs, or start a standalone \
                     worker with --without-biometrics",
                    dir.display()
                ),
                source,
            })?;
            Ok(Arc::new(index))
        }
    }
}

impl BiometricsEngine {
    pub fn new(
        embedder: Arc<dyn SpeakerEmbedder>,
        vad: Arc<dyn VoiceActivityDetector>,
        index: Arc<dyn VoiceprintIndex>,
        config: &BiometricsConfig,
    ) -> Result<Self, ServiceError> {
        let model = ModelId::of(embedder.as_ref());
        let calibration = CalibrationSet::builtin()
            .require(&model)
            .map_err(|source| ServiceError::Pipeline { context: "speaker verification".into(), source })?
            .clone();
        let enrol = EnrolConfig { min_net_speech_secs: config.min_enrol_net_speech_secs, ..EnrolConfig::default() };
        let verify = VerifyConfig {
            target_far: config.target_false_accept_rate,
            min_net_speech_secs: config.min_verify_net_speech_secs,
            ..VerifyConfig::default()
        };
        let screen = ScreenConfig {
            watchlist_far: config.watchlist_false_accept_rate,
            reuse_far: config.target_false_accept_rate.min(config.watchlist_false_accept_rate),
            ..ScreenConfig::default()
        };
        Ok(BiometricsEngine { embedder, vad, index, calibration, enrol, verify, screen })
    }

    pub fn model(&self) -> ModelId {
        ModelId::of(self.embedder.as_ref())
    }

    /// The agent's voiceprint, to name the agent on diarized mono calls.
    pub fn agent_voiceprint(&self, tenant: &str, agent_id: &str) -> Option<Vec<f32>> {
        let model = self.model();
        let filter = callsight_pipeline::speaker::VoiceprintFilter {
            tenant: tenant.to_string(),
            model_name: model.model_name,
            model_version: model.model_version,
            kind: Some(VoiceprintKind::Agent),
            speaker_id: Some(agent_id.to_string()),
        };
        self.index.list(&filter).ok()?.into_iter().next().map(|v| v.vector)
    }

    fn decode_16k(bytes: &[u8], name: &str) -> Result<Vec<f32>, SpeakerServiceError> {
        let audio = decode_bytes(bytes, name).map_err(|e| SpeakerServiceError::BadAudio(e.to_string()))?;
        resample(&audio.mixed_to_mono(), audio.sample_rate_hz, PIPELINE_SAMPLE_RATE_HZ).map_err(SpeakerServiceError::from)
    }

    fn enrol_clips(
        &self,
        tenant: &str,
        speaker_id: &str,
        kind: VoiceprintKind,
        clips: &[Vec<u8>],
        min_net_speech_secs: Option<f64>,
        mode: EnrolMode,
    ) -> Result<EnrolResponse, SpeakerServiceError> {
        let mut decoded = Vec::with_capacity(clips.len());
        for (idx, clip) in clips.iter().enumerate() {
            decoded.push(Self::decode_16k(clip, &format!("audio part {}", idx + 1))?);
        }
        let slices: Vec<&[f32]> = decoded.iter().map(Vec::as_slice).collect();
        let config = EnrolConfig {
            min_net_speech_secs: min_net_speech_secs.unwrap_or(self.enrol.min_net_speech_secs),
            ..self.enrol.clone()
        };
        let request = EnrolRequest {
            tenant: tenant.to_string(),
            speaker_id: speaker_id.to_string(),
            kind,
            mode,
            enrolled_at_unix_secs: now_unix_secs(),
            source_call_id: None,
        };
        let outcome =
            biometrics::enrol(&slices, &request, self.embedder.as_ref(), self.vad.as_ref(), self.index.as_ref(), &config)?;
        Ok(wire_enrolment(outcome))
    }

    /// Adds a party's speech from analysed call `call_id` to their voiceprint (speech spans
    /// already known from the analysis); a call the voiceprint already holds is not added again.
    pub fn enrol_passively(
        &self,
        tenant: &str,
        customer_id: &str,
        call_id: &str,
        clips: &[SpeechClip<'_>],
    ) -> Result<PassiveEnrolment, SpeakerServiceError> {
        let request = EnrolRequest {
            tenant: tenant.to_string(),
            speaker_id: customer_id.to_string(),
            kind: VoiceprintKind::Customer,
            mode: EnrolMode::Add,
            enrolled_at_unix_secs: now_unix_secs(),
            source_call_id: Some(call_id.to_string()),
        };
        let outcome = biometrics::enrol_speech(clips, &request, self.embedder.as_ref(), self.index.as_ref(), &self.enrol)?;
        let already_included = outcome.already_included;
        Ok(PassiveEnrolment { response: wire_enrolment(outcome), already_included })
    }

    /// Screens one party's speech of an analysed call against the tenant's watchlist.
    pub fn screen_speech(
        &self,
        tenant: &str,
        clips: &[SpeechClip<'_>],
    ) -> Result<Vec<WatchlistHit>, SpeakerServiceError> {
        let probe = biometrics::analyse_probe(clips, self.embedder.as_ref(), &self.verify)?;
        if probe.embedding.is_none() {
            return Ok(Vec::new());
        }
        let hits = biometrics::screen_watchlist(&probe, tenant, self.index.as_ref(), &self.calibration, &self.screen)?;
        Ok(wire_hits(hits))
    }

    /// VAD + embedding of one probe, shared by verify and identify.
    fn probe(&self, audio: &[u8]) -> Result<biometrics::verify::Probe, SpeakerServiceError> {
        let samples = Self::decode_16k(audio, "audio")?;
        let speech = biometrics::detect_speech(&samples, self.vad.as_ref(), &self.verify.vad)?;
        let clips = [SpeechClip { samples_16k: &samples, speech }];
        Ok(biometrics::analyse_probe(&clips, self.embedder.as_ref(), &self.verify)?)
    }

    fn watchlist_hits(&self, tenant: &str, probe: &biometrics::verify::Probe) -> Result<Vec<WatchlistHit>, SpeakerServiceError> {
        if !probe.quality.passed() {
            return Ok(Vec::new());
        }
        let hits = biometrics::screen_watchlist(probe, tenant, self.index.as_ref(), &self.calibration, &self.screen)?;
        Ok(wire_hits(hits))
    }

    /// Verification with screening; also reports other customer ids this voice is enrolled
    /// under (voice reuse), as reasons so the IVR sees them with the decision.
    pub fn verify_samples(&self, tenant: &str, speaker_id: &str, audio: &[u8]) -> Result<VerifyResponse, SpeakerServiceError> {
        let probe = self.probe(audio)?;
        let request =
            VerifyRequest { tenant: tenant.to_string(), claimed_speaker_id: speaker_id.to_string(), kind: VoiceprintKind::Customer };
        let verification = biometrics::verify_probe(&probe, &request, self.index.as_ref(), &self.calibration, &self.verify)?;
        let watchlist_hits = self.watchlist_hits(tenant, &probe)?;
        let mut reasons: Vec<BiometricReason> = verification.reasons.iter().map(wire_reason).collect();
        if probe.quality.passed() {
            let reuse = biometrics::find_voice_reuse(&probe, tenant, speaker_id, self.index.as_ref(), &self.calibration, &self.screen)?;
            for other in reuse {
                reasons.push(BiometricReason {
                    code: "voice_reuse".into(),
                    message: format!(
                        "this voice also matches customer {} (score {:.2}, threshold {:.2})",
                        other.speaker_id, other.score, other.threshold
                    ),
                });
            }
        }
        Ok(VerifyResponse {
            speaker_id: speaker_id.to_string(),
            decision: match verification.decision {
                Decision::Accept => VerifyDecision::Accept,
                Decision::Reject => VerifyDecision::Reject,
                Decision::Inconclusive => VerifyDecision::Inconclusive,
            },
            score: verification.score,
            threshold: verification.threshold,
            net_speech_secs: verification.net_speech_secs,
            reasons,
            watchlist_hits,
        })
    }
}

impl SpeakerService for BiometricsEngine {
    fn check_ready(&self) -> Result<(), SpeakerServiceError> {
        Ok(self.index.check_reachable()?)
    }

    fn enrol(&self, input: EnrolInput) -> Result<EnrolResponse, SpeakerServiceError> {
        self.enrol_clips(&input.tenant, &input.speaker_id, pipeline_kind(input.kind), &input.clips, input.min_net_speech_secs, EnrolMode::Replace)
    }

    fn enrol_more(&self, input: EnrolInput) -> Result<EnrolResponse, SpeakerServiceError> {
        self.enrol_clips(&input.tenant, &input.speaker_id, pipeline_kind(input.kind), &input.clips, input.min_net_speech_secs, EnrolMode::Add)
    }

    fn verify(&self, tenant: &str, speaker_id: &str, audio: &[u8]) -> Result<VerifyResponse, SpeakerServiceError> {
        self.verify_samples(tenant, speaker_id, audio)
    }

    fn identify(&self, tenant: &str, audio: &[u8]) -> Result<IdentifyResponse, SpeakerServiceError> {
        let probe = self.probe(audio)?;
        let threshold = self.calibration.threshold_for_far(self.verify.target_far);
        let candidates = if probe.quality.passed() {
            biometrics::identify(&probe, tenant, self.index.as_ref(), &self.calibration, self.verify.target_far, MAX_CANDIDATES)?
        } else {
            Vec::new()
        };
        Ok(IdentifyResponse {
            candidates: candidates
                .into_iter()
                .filter(|c| c.above_threshold)
                .map(|c| IdentifyCandidate { speaker_id: c.speaker_id, kind: SpeakerKind::Customer, score: c.score })
                .collect(),
            threshold,
            net_speech_secs: probe.quality.net_speech_secs,
            reasons: probe.quality.reasons.iter().map(wire_reason).collect(),
            watchlist_hits: self.watchlist_hits(tenant, &probe)?,
        })
    }

    fn watchlist_add(
        &self,
        tenant: &str,
        speaker_id: &str,
        clips: Vec<Vec<u8>>,
        min_net_speech_secs: Option<f64>,
    ) -> Result<EnrolResponse, SpeakerServiceError> {
        self.enrol_clips(tenant, speaker_id, VoiceprintKind::Fraudster, &clips, min_net_speech_secs, EnrolMode::Replace)
    }

    fn delete(&self, tenant: &str, speaker_id: &str) -> Result<(), SpeakerServiceError> {
        match self.index.delete_speaker(tenant, speaker_id)? {
            0 => Err(SpeakerServiceError::UnknownSpeaker(speaker_id.to_string())),
            _ => Ok(()),
        }
    }
}

fn wire_hits(hits: Vec<biometrics::WatchlistHit>) -> Vec<WatchlistHit> {
    hits.into_iter().map(|hit| WatchlistHit { speaker_id: hit.speaker_id, score: hit.score }).collect()
}

fn wire_enrolment(outcome: biometrics::EnrolOutcome) -> EnrolResponse {
    EnrolResponse {
        speaker_id: outcome.speaker_id,
        kind: wire_kind(outcome.kind),
        status: match outcome.status {
            biometrics::EnrolStatus::Enrolled => EnrolStatus::Enrolled,
            biometrics::EnrolStatus::Rejected => EnrolStatus::Rejected,
        },
        voiceprint_ids: outcome.voiceprint_ids,
        net_speech_secs: outcome.net_speech_secs,
        missing_speech_secs: outcome.missing_speech_secs,
        reasons: outcome.reasons.iter().map(wire_reason).collect(),
    }
}

fn now_unix_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn wire_reason(reason: &Reason) -> BiometricReason {
    let code = serde_json::to_value(reason.code).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    BiometricReason { code, message: reason.message.clone() }
}

pub fn pipeline_kind(kind: SpeakerKind) -> VoiceprintKind {
    match kind {
        SpeakerKind::Customer => VoiceprintKind::Customer,
        SpeakerKind::Agent => VoiceprintKind::Agent,
        SpeakerKind::Fraudster => VoiceprintKind::Fraudster,
    }
}

fn wire_kind(kind: VoiceprintKind) -> SpeakerKind {
    match kind {
        VoiceprintKind::Customer => SpeakerKind::Customer,
        VoiceprintKind::Agent => SpeakerKind::Agent,
        VoiceprintKind::Fraudster => SpeakerKind::Fraudster,
    }
}
