//! The one error type of the pipeline crate.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{path}: {reason}")]
    Audio { path: PathBuf, reason: String },
    #[error("script {source_name}, line {line}: {reason}")]
    Script { source_name: String, line: usize, reason: String },
    #[error("{engine} failed: {reason}")]
    Engine { engine: &'static str, reason: String },
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("no voiceprint is enrolled for speaker {speaker_id}")]
    UnknownSpeaker { speaker_id: String },
    #[error("voiceprint index ({backend}) failed: {reason}")]
    Index { backend: &'static str, reason: String },
    /// The index cannot be reached right now (a server down or restarting): an outage to wait
    /// out, not a failed operation.
    #[error("voiceprint index ({backend}) is unreachable: {reason}")]
    IndexUnavailable { backend: &'static str, reason: String },
    /// A local file the pipeline writes for itself (a long call spilled to disk, a redacted
    /// copy) could not be written or read back: the input may be fine, so trying again may work.
    #[error("local storage: {0}")]
    Storage(String),
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
