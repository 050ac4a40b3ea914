//! The one error type of the service crate (setting up its parts; a job's own failures are
//! `callsight_workers::runner::JobError`, a request's `SpeakerServiceError`).

use callsight_pipeline::PipelineError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A setting that cannot work (a missing environment variable, no calibration for a model).
    #[error("{0}")]
    Config(String),
    #[error("{context}: {source}")]
    Pipeline {
        context: String,
        #[source]
        source: PipelineError,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}
