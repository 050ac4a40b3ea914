//! The engine traits: what the pipeline needs from a model, implemented in the `models` crate.
//!
//! All audio handed to an engine is mono f32 in -1..1 at [`PIPELINE_SAMPLE_RATE_HZ`].
//!
//! [`PIPELINE_SAMPLE_RATE_HZ`]: crate::types::PIPELINE_SAMPLE_RATE_HZ

use crate::error::Result;
use crate::types::{Sentiment, Word};

/// Samples per Silero VAD frame at 16 kHz (32 ms); probabilities come one per frame.
pub const VAD_FRAME_SAMPLES: usize = 512;

/// Speech probability per frame of [`VAD_FRAME_SAMPLES`].
pub trait VoiceActivityDetector: Send + Sync {
    /// One probability (0..1) per full or final partial frame of `samples_16k`.
    fn speech_probabilities(&self, samples_16k: &[f32]) -> Result<Vec<f32>>;

    /// The same probabilities as [`speech_probabilities`](Self::speech_probabilities) over the
    /// concatenation of the blocks `next_block` returns (until `None`), for calls too long to
    /// hold at 16 kHz in memory at once. Blocks may have any length.
    ///
    /// This default gathers every block first; a detector should override it to carry its state
    /// (recurrent state, frame remainder) across blocks, so memory stays one block whatever the
    /// call length while the result stays the same.
    fn speech_probabilities_of_blocks(
        &self,
        next_block: &mut dyn FnMut() -> Result<Option<Vec<f32>>>,
    ) -> Result<Vec<f32>> {
        let mut samples_16k = Vec::new();
        while let Some(block) = next_block()? {
            samples_16k.extend_from_slice(&block);
        }
        self.speech_probabilities(&samples_16k)
    }
}

/// What a recogniser should do with one piece of speech.
#[derive(Debug, Clone, Default)]
pub struct TranscribeOptions {
    /// ISO 639-1 hint; `None` means detect.
    pub language: Option<String>,
    /// When detecting, choose only among these ISO 639-1 codes (empty: any language). A contact
    /// centre knows which languages it serves; restricting detection stops a short or accented
    /// utterance from being decoded as a third language.
    pub allowed_languages: Vec<String>,
    /// Text of the previous piece of the same party, to carry context over.
    pub initial_prompt: Option<String>,
    /// Encode only as much audio as given (plus a margin) instead of Whisper's fixed 30 s window.
    /// For short live windows, where the fixed encoder dominates the cost; batch analysis keeps
    /// the full window, which is what Whisper was trained on.
    pub fit_encoder_to_audio: bool,
    /// Threads for this call instead of the recogniser's configured number (a live pass takes
    /// the cores no other pass is using).
    pub threads: Option<usize>,
    /// Most tokens a segment may have per second of audio given (plus a fixed allowance);
    /// `None`: Whisper's own limit of half its text context. A repetition loop on a short live
    /// window otherwise decodes for seconds.
    pub max_tokens_per_audio_sec: Option<f32>,
    /// Decode once at temperature 0, without Whisper's re-decoding at higher temperatures when a
    /// result looks poor: live partials are checked by agreement between passes instead.
    pub single_decode: bool,
}

/// One recognised segment, times relative to the start of the audio given.
#[derive(Debug, Clone, PartialEq)]
pub struct RecognisedSegment {
    pub start_secs: f64,
    pub end_secs: f64,
    pub text: String,
    pub words: Vec<Word>,
    pub no_speech_probability: f32,
    pub mean_log_probability: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    pub language: String,
    pub segments: Vec<RecognisedSegment>,
}

/// Speech to text. One loaded model is shared; each call has a decoding state of its own.
pub trait Transcriber: Send + Sync {
    fn transcribe(&self, samples_16k: &[f32], options: &TranscribeOptions) -> Result<Recognition>;
    /// Model name and version for reports, e.g. "whisper-base".
    fn model_name(&self) -> &str;
}

/// Sentence embeddings, L2-normalised, comparable across languages for multilingual models.
pub trait TextEmbedder: Send + Sync {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    fn model_name(&self) -> &str;
}

/// Text sentiment.
pub trait SentimentScorer: Send + Sync {
    fn score(&self, texts: &[&str]) -> Result<Vec<Sentiment>>;
    fn model_name(&self) -> &str;
}
