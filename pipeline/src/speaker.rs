//! Voice biometrics contract: speaker embeddings, voiceprints and the index that stores them.
//!
//! The engines (`SpeakerEmbedder`, `VoiceprintIndex`) are implemented in the `models` crate; the
//! decision logic on top of them (enrolment gates, calibrated verification, screening,
//! diarization) lives in [`crate::biometrics`].

use crate::error::Result;

/// Turns speech into a fixed-length voice embedding.
///
/// Input is mono f32 in -1..1 at 16 kHz and should already be speech only (VAD applied): silence
/// dilutes the embedding. Output is L2-normalised, so the dot product of two embeddings is their
/// cosine similarity.
pub trait SpeakerEmbedder: Send + Sync {
    fn embed(&self, samples_16k: &[f32]) -> Result<Vec<f32>>;
    /// Stable model name stored with every voiceprint, e.g. "campplus-cn-en-common".
    fn model_name(&self) -> &str;
    /// Version of the weights and front end; voiceprints of other versions are never compared.
    fn model_version(&self) -> &str;
    fn dimension(&self) -> usize;
    /// The shortest input, in samples at 16 kHz, the model can embed at all.
    fn min_samples(&self) -> usize;
}

/// Who a voiceprint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceprintKind {
    Customer,
    Agent,
    Fraudster,
}

impl VoiceprintKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceprintKind::Customer => "customer",
            VoiceprintKind::Agent => "agent",
            VoiceprintKind::Fraudster => "fraudster",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "customer" => Some(VoiceprintKind::Customer),
            "agent" => Some(VoiceprintKind::Agent),
            "fraudster" => Some(VoiceprintKind::Fraudster),
            _ => None,
        }
    }
}

/// One stored embedding with the payload every search filters on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Voiceprint {
    /// Unique id of this voiceprint (a UUID string); one speaker may own several.
    pub id: String,
    pub tenant: String,
    pub speaker_id: String,
    pub kind: VoiceprintKind,
    pub model_name: String,
    pub model_version: String,
    /// Seconds since the Unix epoch.
    pub enrolled_at_unix_secs: i64,
    pub net_speech_secs: f64,
    /// The calls whose speech is in this voiceprint (passive enrolment), oldest first, at most
    /// [`MAX_SOURCE_CALL_IDS`]: a retried job finds its call here and adds nothing twice.
    pub source_call_ids: Vec<String>,
    /// L2-normalised embedding.
    pub vector: Vec<f32>,
}

/// Most call ids a voiceprint remembers (the newest); a retry comes within minutes of the first
/// attempt, long before its call id would be pushed out.
pub const MAX_SOURCE_CALL_IDS: usize = 256;

/// What a search or listing is restricted to. Tenant and model version are always required:
/// voiceprints of another tenant or another model are never compared.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceprintFilter {
    pub tenant: String,
    pub model_name: String,
    pub model_version: String,
    pub kind: Option<VoiceprintKind>,
    pub speaker_id: Option<String>,
}

/// A search result: the stored voiceprint and its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceprintHit {
    pub voiceprint: Voiceprint,
    pub cosine: f32,
}

/// Stores voiceprints and finds the nearest ones. Implementations: Qdrant in-process (embedded
/// default) and a Qdrant server (scale-out).
pub trait VoiceprintIndex: Send + Sync {
    /// Insert or replace (by `id`).
    fn upsert(&self, voiceprints: &[Voiceprint]) -> Result<()>;
    /// The `limit` most similar voiceprints matching `filter`, best first.
    fn search(&self, query: &[f32], filter: &VoiceprintFilter, limit: usize) -> Result<Vec<VoiceprintHit>>;
    /// Every voiceprint matching `filter`, vectors included.
    fn list(&self, filter: &VoiceprintFilter) -> Result<Vec<Voiceprint>>;
    /// Remove every voiceprint of `speaker_id` in `tenant`, of every model and kind; returns how
    /// many were removed.
    fn delete_speaker(&self, tenant: &str, speaker_id: &str) -> Result<usize>;
    /// Backend name for logs and reports, e.g. "qdrant-edge".
    fn backend_name(&self) -> &str;
    /// Whether the index answers now (readiness). In-process indexes always do; a server that
    /// cannot be reached is `PipelineError::IndexUnavailable`.
    fn check_reachable(&self) -> Result<()> {
        Ok(())
    }
    /// Every voiceprint of every tenant and model, handed to `visit` a page at a time (for
    /// copying an index to another backend, and for verifying such a copy). Order is the
    /// backend's; pages are bounded so memory stays bounded.
    fn for_each_page(&self, visit: &mut dyn FnMut(Vec<Voiceprint>) -> Result<()>) -> Result<()> {
        let _ = visit;
        Err(crate::PipelineError::Index {
            backend: "voiceprint index",
            reason: format!("{} cannot list every voiceprint", self.backend_name()),
        })
    }
}
