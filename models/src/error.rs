//! The one error type of the models crate.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {path} is missing; run `callsight models fetch` to fetch it")]
    Missing { path: PathBuf },
    #[error("model file {path} is corrupt ({reason}); run `callsight models fetch --force` to fetch it again")]
    Corrupt { path: PathBuf, reason: String },
    #[error("fetching {what} failed: {reason}")]
    Fetch { what: String, reason: String },
    #[error("loading {what} failed: {reason}")]
    Load { what: String, reason: String },
    #[error("running {what} failed: {reason}")]
    Inference { what: String, reason: String },
    #[error("converting {path} failed: {reason}")]
    Conversion { path: PathBuf, reason: String },
    #[error("unknown model {name}; the catalogue has: {known}")]
    UnknownModel { name: String, known: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<ModelError> for callsight_pipeline::PipelineError {
    fn from(error: ModelError) -> Self {
        callsight_pipeline::PipelineError::Engine { engine: "model", reason: error.to_string() }
    }
}
