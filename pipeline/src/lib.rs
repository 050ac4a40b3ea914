//! Callsight's core: domain types, DSP, scoring logic and the engine traits that `models` implements.
//!
//! Invariant: this crate performs no network I/O and knows nothing of HTTP, SQL or async runtimes.

pub mod audio;
pub mod compliance;
pub mod engines;
pub mod error;
pub mod types;

pub use error::PipelineError;
