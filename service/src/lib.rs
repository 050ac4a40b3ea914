//! The service layer: what Callsight does with a call or a voice once the API or the queue has
//! handed it over, independent of how it arrived (HTTP, CLI, a worker process) and of how the
//! models were loaded (the binary does that).
//!
//! - [`jobs`]: the analysis job a worker runs — analyse (or re-score), screen the caller against
//!   the watchlist, enrol the customer's voice passively, redact what is stored, record results.
//! - [`biometrics`]: the voice-biometrics engine behind `callsight speakers` and the speaker
//!   endpoints — calibrated enrol / verify / identify / screen decisions on the voiceprint index.
//! - [`config`]: the settings of both, as the binary's configuration file spells them.

pub mod biometrics;
pub mod config;
pub mod error;
pub mod jobs;

pub use error::ServiceError;
