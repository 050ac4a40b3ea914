//! Voiceprint index backends: Qdrant in-process ([`EdgeVoiceprintIndex`], the embedded default)
//! and a Qdrant server over gRPC ([`ServerVoiceprintIndex`], for scale-out).
//!
//! Both store one collection per embedding model (name + version), so models of different
//! dimensions coexist and never get compared. Each point carries the voiceprint's payload
//! (tenant, speaker, kind, model, enrolment facts and the original id string); every search and
//! listing filters by tenant + model name + model version, optionally kind and speaker.

pub mod edge;
pub mod server;
pub mod transfer;

pub use edge::{EdgeIndexConfig, EdgeVoiceprintIndex};
pub use server::ServerVoiceprintIndex;

use callsight_pipeline::PipelineError;
use callsight_pipeline::error::Result;
use callsight_pipeline::speaker::{Voiceprint, VoiceprintFilter, VoiceprintKind};
use sha2::{Digest, Sha256};

/// Payload keys stored with every point. Keyword fields are indexed; the tenant index is the
/// multitenancy index (Qdrant's `is_tenant`), so a search never scans other tenants' points.
pub(crate) mod field {
    pub const VOICEPRINT_ID: &str = "voiceprint_id";
    pub const TENANT: &str = "tenant";
    pub const SPEAKER_ID: &str = "speaker_id";
    pub const KIND: &str = "kind";
    pub const MODEL_NAME: &str = "model_name";
    pub const MODEL_VERSION: &str = "model_version";
    pub const ENROLLED_AT_UNIX_SECS: &str = "enrolled_at_unix_secs";
    pub const NET_SPEECH_SECS: &str = "net_speech_secs";
    /// The calls passively enrolled into the voiceprint (a list of ids; absent on older points).
    pub const SOURCE_CALL_IDS: &str = "source_call_ids";

    /// Keyword fields with a plain (non-tenant) payload index.
    pub const KEYWORD_INDEXED: [&str; 4] = [SPEAKER_ID, KIND, MODEL_NAME, MODEL_VERSION];
}

/// Builds the `PipelineError` of a backend.
pub(crate) fn index_error(backend: &'static str, reason: impl Into<String>) -> PipelineError {
    PipelineError::Index {
        backend,
        reason: reason.into(),
    }
}

/// Name of the collection (server) or shard directory (edge) of one embedding model: readable,
/// restricted to `[a-z0-9_-]`, and made unique by a hash of the exact name and version (two names
/// that sanitise alike still get different collections).
pub(crate) fn model_slug(model_name: &str, model_version: &str) -> String {
    fn sanitise(text: &str) -> String {
        let cleaned: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        if cleaned.is_empty() {
            "_".to_string()
        } else {
            cleaned
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(model_name.as_bytes());
    hasher.update([0u8]);
    hasher.update(model_version.as_bytes());
    let digest = hasher.finalize();
    let hash: String = digest
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(
        "{}-{}-{hash}",
        sanitise(model_name),
        sanitise(model_version)
    )
}

/// Qdrant accepts only UUIDs or u64 as point ids; `Voiceprint.id` is a UUID string.
pub(crate) fn point_uuid(backend: &'static str, id: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id).map_err(|error| {
        index_error(
            backend,
            format!("voiceprint id {id:?} is not a uuid: {error}"),
        )
    })
}

/// Rejects vectors a collection of `dimension` cannot hold, or that would poison cosine scores.
pub(crate) fn check_vector(
    backend: &'static str,
    vector: &[f32],
    dimension: usize,
    what: &str,
) -> Result<()> {
    if vector.len() != dimension {
        return Err(index_error(
            backend,
            format!(
                "{what} has dimension {}, but the model's voiceprints have dimension {dimension}",
                vector.len()
            ),
        ));
    }
    if vector.iter().any(|value| !value.is_finite()) {
        return Err(index_error(
            backend,
            format!("{what} contains a non-finite value"),
        ));
    }
    if vector.iter().all(|value| *value == 0.0) {
        return Err(index_error(
            backend,
            format!("{what} is all zeros; cosine similarity is undefined"),
        ));
    }
    Ok(())
}

/// One embedding model: the unit of collection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(crate) struct ModelKey {
    pub model_name: String,
    pub model_version: String,
}

impl ModelKey {
    pub fn of(voiceprint: &Voiceprint) -> Self {
        ModelKey {
            model_name: voiceprint.model_name.clone(),
            model_version: voiceprint.model_version.clone(),
        }
    }

    pub fn of_filter(filter: &VoiceprintFilter) -> Self {
        ModelKey {
            model_name: filter.model_name.clone(),
            model_version: filter.model_version.clone(),
        }
    }
}

/// Splits a batch by model, checking ids, that the tenant/speaker are set, and that one model's
/// vectors agree on their dimension. Keeps the order of first appearance.
pub(crate) fn group_by_model<'a>(
    backend: &'static str,
    voiceprints: &'a [Voiceprint],
) -> Result<Vec<(ModelKey, Vec<&'a Voiceprint>)>> {
    let mut groups: Vec<(ModelKey, Vec<&'a Voiceprint>)> = Vec::new();
    for voiceprint in voiceprints {
        point_uuid(backend, &voiceprint.id)?;
        if voiceprint.tenant.is_empty() || voiceprint.speaker_id.is_empty() {
            return Err(index_error(
                backend,
                format!(
                    "voiceprint {} has an empty tenant or speaker id",
                    voiceprint.id
                ),
            ));
        }
        let key = ModelKey::of(voiceprint);
        match groups.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, members)) => members.push(voiceprint),
            None => groups.push((key, vec![voiceprint])),
        }
    }
    for (key, members) in &groups {
        let dimension = members
            .first()
            .map(|first| first.vector.len())
            .unwrap_or_default();
        for member in members {
            check_vector(
                backend,
                &member.vector,
                dimension,
                &format!(
                    "voiceprint {} of model {} {}",
                    member.id, key.model_name, key.model_version
                ),
            )?;
        }
    }
    Ok(groups)
}

/// The payload stored with a voiceprint, as a JSON object.
pub(crate) fn payload_json(voiceprint: &Voiceprint) -> serde_json::Map<String, serde_json::Value> {
    let mut payload = serde_json::Map::new();
    payload.insert(field::VOICEPRINT_ID.into(), voiceprint.id.clone().into());
    payload.insert(field::TENANT.into(), voiceprint.tenant.clone().into());
    payload.insert(
        field::SPEAKER_ID.into(),
        voiceprint.speaker_id.clone().into(),
    );
    payload.insert(field::KIND.into(), voiceprint.kind.as_str().into());
    payload.insert(
        field::MODEL_NAME.into(),
        voiceprint.model_name.clone().into(),
    );
    payload.insert(
        field::MODEL_VERSION.into(),
        voiceprint.model_version.clone().into(),
    );
    payload.insert(
        field::ENROLLED_AT_UNIX_SECS.into(),
        voiceprint.enrolled_at_unix_secs.into(),
    );
    payload.insert(
        field::NET_SPEECH_SECS.into(),
        voiceprint.net_speech_secs.into(),
    );
    payload.insert(
        field::SOURCE_CALL_IDS.into(),
        voiceprint.source_call_ids.clone().into(),
    );
    payload
}

/// Rebuilds a voiceprint from a stored payload and vector. A point written by something else is
/// an error naming the point, not a panic.
pub(crate) fn voiceprint_from_payload(
    backend: &'static str,
    point: &str,
    payload: &serde_json::Map<String, serde_json::Value>,
    vector: Vec<f32>,
) -> Result<Voiceprint> {
    let text = |key: &str| -> Result<String> {
        payload
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                index_error(
                    backend,
                    format!("stored point {point} lacks the text field {key}"),
                )
            })
    };
    let kind_text = text(field::KIND)?;
    let kind = VoiceprintKind::parse(&kind_text).ok_or_else(|| {
        index_error(
            backend,
            format!("stored point {point} has unknown kind {kind_text:?}"),
        )
    })?;
    let enrolled_at_unix_secs = payload
        .get(field::ENROLLED_AT_UNIX_SECS)
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| {
            index_error(
                backend,
                format!(
                    "stored point {point} lacks {}",
                    field::ENROLLED_AT_UNIX_SECS
                ),
            )
        })?;
    let net_speech_secs = payload
        .get(field::NET_SPEECH_SECS)
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| {
            index_error(
                backend,
                format!("stored point {point} lacks {}", field::NET_SPEECH_SECS),
            )
        })?;
    // Points written before calls were recorded have none; anything but a list of text is damage.
    let source_call_ids = match payload.get(field::SOURCE_CALL_IDS) {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| {
                index_error(
                    backend,
                    format!("stored point {point} has a non-text entry in {}", field::SOURCE_CALL_IDS),
                )
            })?,
        Some(_) => {
            return Err(index_error(
                backend,
                format!("stored point {point} has a malformed {}", field::SOURCE_CALL_IDS),
            ));
        }
    };
    Ok(Voiceprint {
        id: text(field::VOICEPRINT_ID)?,
        tenant: text(field::TENANT)?,
        speaker_id: text(field::SPEAKER_ID)?,
        kind,
        model_name: text(field::MODEL_NAME)?,
        model_version: text(field::MODEL_VERSION)?,
        enrolled_at_unix_secs,
        net_speech_secs,
        source_call_ids,
        vector,
    })
}

/// The keyword equalities a filter stands for, in a backend-neutral form.
pub(crate) fn filter_equalities(filter: &VoiceprintFilter) -> Vec<(&'static str, String)> {
    let mut equalities = vec![
        (field::TENANT, filter.tenant.clone()),
        (field::MODEL_NAME, filter.model_name.clone()),
        (field::MODEL_VERSION, filter.model_version.clone()),
    ];
    if let Some(kind) = filter.kind {
        equalities.push((field::KIND, kind.as_str().to_string()));
    }
    if let Some(speaker_id) = &filter.speaker_id {
        equalities.push((field::SPEAKER_ID, speaker_id.clone()));
    }
    equalities
}
