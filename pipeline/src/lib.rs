//! Callsight's core: domain types, DSP, scoring logic and the engine traits that `models` implements.
//!
//! Invariant: this crate performs no network I/O and knows nothing of HTTP, SQL or async runtimes.

pub mod analyze;
pub mod audio;
pub mod biometrics;
pub mod calendar;
pub mod chunking;
pub mod compliance;
pub mod engines;
pub mod error;
pub mod fbank;
#[doc(hidden)]
pub mod fuzzing;
pub mod hallucination;
pub mod logmel;
pub mod metrics;
pub mod redaction;
pub mod sentiment;
pub mod speaker;
pub mod streaming;
pub mod turns;
pub mod types;
pub mod vad;

pub use error::PipelineError;
