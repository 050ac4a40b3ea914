//! Engine implementations for the pipeline's traits, on real model files: whisper-rs, ONNX Runtime
//! (through `ort`), and the setup step that fetches, converts and verifies those files.

pub mod error;
pub mod fetch;
pub mod onnx;
pub mod silero;
pub mod speaker;
pub mod text;
pub mod voiceprints;
pub mod whisper;

pub use error::ModelError;
