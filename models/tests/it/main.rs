//! The models integration tests, one binary: each file is a module, so the shared helpers and
//! the heavy dependencies are compiled and linked once instead of once per file.

mod fetch_corrupt;
mod fetch_ct2_to_ggml;
mod fetch_store;
mod speaker_embedding;
mod text_e5;
mod text_sentiment;
mod voiceprint_index;
mod whisper_quantized;
mod silero_blocks;
