//! Speech to text with whisper.cpp through `whisper-rs`: one loaded model; decoding states are
//! kept between calls and reused.

use std::path::Path;
use std::sync::Mutex;

use callsight_pipeline::engines::{RecognisedSegment, Recognition, TranscribeOptions, Transcriber};
use callsight_pipeline::types::Word;
use callsight_pipeline::PipelineError;
use whisper_rs::{
    DtwMode, DtwModelPreset, DtwParameters, FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::ModelError;

/// Decoding settings; the defaults follow OpenAI's `transcribe()` guards against hallucination.
#[derive(Debug, Clone)]
pub struct WhisperConfig {
    pub threads: usize,
    /// 1 = greedy decoding; more = beam search with that many beams.
    pub beam_size: usize,
    /// A segment whose no-speech probability exceeds this and whose mean log-probability is below
    /// `logprob_threshold` is treated as silence by whisper.cpp.
    pub no_speech_threshold: f32,
    pub logprob_threshold: f32,
    /// whisper.cpp's stand-in for the compression-ratio check: re-decode at a higher temperature
    /// when the token entropy is this low (repetitive output).
    pub entropy_threshold: f32,
}

impl Default for WhisperConfig {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            beam_size: 1,
            no_speech_threshold: 0.6,
            logprob_threshold: -1.0,
            entropy_threshold: 2.4,
        }
    }
}

/// Tokens a segment may have beside the per-second allowance: room for timestamps and
/// punctuation, and more than the 32 tokens whisper.cpp's loop check (token entropy) needs
/// before it looks at a result, so a limited pass still re-decodes out of a loop.
const TOKENS_BESIDE_SPEECH: f32 = 33.0;

/// The suffixes of quantised model names (`whisper-base-q8_0`), as of the ggml file names.
pub const QUANTIZED_SUFFIXES: [&str; 2] = ["-q8_0", "-q5_1"];

pub struct WhisperTranscriber {
    context: WhisperContext,
    model_name: String,
    english_only: bool,
    config: WhisperConfig,
    /// Decoding states of finished calls, reused by the next ones: a new state allocates and
    /// first touches its key-value caches and compute buffers, which costs a live pass more than
    /// encoding a short window. At most one per call that ever ran at the same time.
    idle_states: Mutex<Vec<WhisperState>>,
}

impl WhisperTranscriber {
    /// Loads a ggml Whisper model; `model_name` is what reports show (e.g. "whisper-base").
    pub fn load(model_path: &Path, model_name: &str, config: WhisperConfig) -> Result<Self, ModelError> {
        if !model_path.is_file() {
            return Err(ModelError::Missing { path: model_path.to_path_buf() });
        }
        whisper_rs::install_logging_hooks();
        let path_text = model_path.to_str().ok_or_else(|| ModelError::Load {
            what: model_path.display().to_string(),
            reason: "path is not valid UTF-8".into(),
        })?;
        // Word times from dynamic time warping over the alignment heads are far closer to the audio
        // than whisper's timestamp-token heuristic (which drifts across packed speech pieces).
        let mut context_params = WhisperContextParameters::default();
        // Quantised weights (`whisper-base-q8_0`) keep the architecture, so the alignment heads of
        // the f16 model apply.
        let architecture = QUANTIZED_SUFFIXES
            .iter()
            .find_map(|suffix| model_name.strip_suffix(suffix))
            .unwrap_or(model_name);
        let dtw_preset = match architecture {
            "whisper-base" => Some(DtwModelPreset::Base),
            "whisper-tiny.en" => Some(DtwModelPreset::TinyEn),
            _ => None,
        };
        if let Some(model_preset) = dtw_preset {
            context_params.dtw_parameters(DtwParameters { mode: DtwMode::ModelPreset { model_preset }, ..DtwParameters::default() });
        }
        let context = WhisperContext::new_with_params(path_text, context_params)
            .map_err(|e| ModelError::Load { what: model_path.display().to_string(), reason: e.to_string() })?;
        let english_only = !context.is_multilingual();
        Ok(Self { context, model_name: model_name.to_string(), english_only, config, idle_states: Mutex::new(Vec::new()) })
    }

    fn take_state(&self) -> Result<WhisperState, PipelineError> {
        let idle = self.idle_states.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        match idle {
            Some(state) => Ok(state),
            None => self.context.create_state().map_err(Self::engine_error),
        }
    }

    /// Keeps `state` for the next call (whisper.cpp resets a state's results at the start of
    /// every `full`). A state whose call failed is dropped instead.
    fn return_state(&self, state: WhisperState) {
        self.idle_states.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(state);
    }

    fn engine_error(reason: impl ToString) -> PipelineError {
        PipelineError::Engine { engine: "whisper", reason: reason.to_string() }
    }
}

/// Whisper language codes are 2–3 lowercase ASCII letters; anything else would reach C as garbage.
fn validated_language(language: &str) -> Result<&str, PipelineError> {
    let valid = (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase());
    if valid {
        Ok(language)
    } else {
        Err(PipelineError::InvalidOption(format!("language {language:?} is not an ISO 639-1 code")))
    }
}

impl WhisperTranscriber {
    /// The most probable of `allowed` languages for `samples_16k` (Whisper's detector looks at
    /// the first 30 s).
    fn detect_among(
        &self,
        state: &mut whisper_rs::WhisperState,
        samples_16k: &[f32],
        allowed: &[String],
        threads: usize,
    ) -> Result<&'static str, PipelineError> {
        state.pcm_to_mel(samples_16k, threads).map_err(Self::engine_error)?;
        let (_, probabilities) = state.lang_detect(0, threads).map_err(Self::engine_error)?;
        let mut best: Option<(&'static str, f32)> = None;
        for code in allowed {
            let code = validated_language(code)?;
            let Some(id) = whisper_rs::get_lang_id(code) else {
                return Err(PipelineError::InvalidOption(format!("whisper does not know language {code:?}")));
            };
            let probability = probabilities.get(id as usize).copied().unwrap_or(0.0);
            let name = whisper_rs::get_lang_str(id).unwrap_or("en");
            if best.is_none_or(|(_, p)| probability > p) {
                best = Some((name, probability));
            }
        }
        Ok(best.map_or("en", |(name, _)| name))
    }
}

impl Transcriber for WhisperTranscriber {
    fn transcribe(&self, samples_16k: &[f32], options: &TranscribeOptions) -> Result<Recognition, PipelineError> {
        // whisper.cpp pads anything shorter than 1 s badly; the caller pads speech, so this is rare.
        if samples_16k.len() < 1_600 {
            return Ok(Recognition { language: options.language.clone().unwrap_or_default(), segments: vec![] });
        }
        let mut state = self.take_state()?;
        let recognition = self.transcribe_with(&mut state, samples_16k, options)?;
        self.return_state(state);
        Ok(recognition)
    }

    fn model_name(&self) -> &str {
        &self.model_name
    }
}

impl WhisperTranscriber {
    fn transcribe_with(
        &self,
        state: &mut WhisperState,
        samples_16k: &[f32],
        options: &TranscribeOptions,
    ) -> Result<Recognition, PipelineError> {
        let threads = options.threads.unwrap_or(self.config.threads).max(1);
        let strategy = if self.config.beam_size > 1 {
            SamplingStrategy::BeamSearch { beam_size: self.config.beam_size as i32, patience: -1.0 }
        } else {
            SamplingStrategy::Greedy { best_of: 1 }
        };
        let mut params = FullParams::new(strategy);
        params.set_n_threads(threads as i32);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        params.set_token_timestamps(true);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        params.set_no_speech_thold(self.config.no_speech_threshold);
        params.set_logprob_thold(self.config.logprob_threshold);
        params.set_entropy_thold(self.config.entropy_threshold);
        params.set_temperature(0.0);
        params.set_temperature_inc(0.2);
        if options.fit_encoder_to_audio {
            params.set_audio_ctx(encoder_frames_for(samples_16k.len()));
        }
        if let Some(tokens_per_sec) = options.max_tokens_per_audio_sec {
            let audio_secs = samples_16k.len() as f32 / 16_000.0;
            params.set_max_tokens((TOKENS_BESIDE_SPEECH + tokens_per_sec * audio_secs).ceil() as i32);
        }
        if options.single_decode {
            params.set_temperature_inc(0.0);
        }
        let language = match (&options.language, self.english_only) {
            (_, true) => Some("en"),
            (Some(language), false) => Some(validated_language(language)?),
            (None, false) if options.allowed_languages.is_empty() => Some("auto"),
            (None, false) => Some(self.detect_among(state, samples_16k, &options.allowed_languages, threads)?),
        };
        params.set_language(language);
        if let Some(prompt) = &options.initial_prompt
            && !prompt.contains('\0')
        {
            params.set_initial_prompt(prompt);
        }
        state.full(params, samples_16k).map_err(Self::engine_error)?;

        let detected_language = whisper_rs::get_lang_str(state.full_lang_id_from_state())
            .unwrap_or("en")
            .to_string();
        let end_of_text_token = self.context.token_eot();
        let mut segments = Vec::new();
        for segment in state.as_iter() {
            let mut words: Vec<Word> = Vec::new();
            let mut word_bytes: Vec<u8> = Vec::new();
            let mut word_probabilities: Vec<f32> = Vec::new();
            let mut word_start_centisecs = 0_i64;
            let mut word_end_centisecs = 0_i64;
            let mut sum_log_probability = 0.0_f32;
            let mut n_text_tokens = 0_usize;
            for token_index in 0..segment.n_tokens() {
                let Some(token) = segment.get_token(token_index) else { continue };
                let data = token.token_data();
                if data.id >= end_of_text_token {
                    continue; // special tokens: timestamps, language, task
                }
                let bytes = token.to_bytes().map_err(Self::engine_error)?;
                sum_log_probability += data.plog;
                n_text_tokens += 1;
                // A token that begins with a space starts a new word; multi-byte characters may be
                // split across tokens, so words are assembled from bytes and decoded at the end.
                if bytes.first() == Some(&b' ') && !word_bytes.is_empty() {
                    push_word(&mut words, &word_bytes, &word_probabilities, word_start_centisecs, word_end_centisecs);
                    word_bytes.clear();
                    word_probabilities.clear();
                }
                let (token_start, token_end) = if data.t_dtw >= 0 { (data.t_dtw, data.t_dtw) } else { (data.t0, data.t1) };
                if word_bytes.is_empty() {
                    word_start_centisecs = token_start;
                }
                word_bytes.extend_from_slice(bytes);
                word_probabilities.push(data.p);
                word_end_centisecs = token_end.max(word_start_centisecs);
            }
            if !word_bytes.is_empty() {
                push_word(&mut words, &word_bytes, &word_probabilities, word_start_centisecs, word_end_centisecs);
            }
            // DTW gives onsets; a word ends where the next begins (or at the segment end).
            let segment_end_secs = segment.end_timestamp() as f64 / 100.0;
            for idx in 0..words.len() {
                let next_start = words.get(idx + 1).map_or(segment_end_secs, |w| w.start_secs);
                let word = &mut words[idx];
                word.end_secs = word.end_secs.max(next_start.min(word.start_secs + 0.8)).max(word.start_secs);
            }
            let text = words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
            segments.push(RecognisedSegment {
                start_secs: segment.start_timestamp() as f64 / 100.0,
                end_secs: segment.end_timestamp() as f64 / 100.0,
                text,
                words,
                no_speech_probability: segment.no_speech_probability(),
                mean_log_probability: if n_text_tokens == 0 { 0.0 } else { sum_log_probability / n_text_tokens as f32 },
            });
        }
        Ok(Recognition { language: detected_language, segments })
    }
}

fn push_word(words: &mut Vec<Word>, bytes: &[u8], probabilities: &[f32], start_centisecs: i64, end_centisecs: i64) {
    let text = String::from_utf8_lossy(bytes).trim().to_string();
    if text.is_empty() {
        return;
    }
    // The geometric mean punishes one doubtful sub-word token more than an average would.
    let mean_log = probabilities.iter().map(|p| p.max(1e-6).ln()).sum::<f32>() / probabilities.len().max(1) as f32;
    words.push(Word {
        text,
        start_secs: start_centisecs as f64 / 100.0,
        end_secs: end_centisecs as f64 / 100.0,
        confidence: mean_log.exp(),
    });
}

/// Encoder frames (Whisper: 1500 for 30 s, one per 20 ms) for `n_samples` of 16 kHz audio, with
/// 2 s of margin so the last words are not cut, never more than the full window. (A fixed
/// minimum of 8 s was cheaper on short windows but transcribed the live test call worse.)
fn encoder_frames_for(n_samples: usize) -> i32 {
    const FRAMES_PER_SEC: usize = 50;
    const FULL_WINDOW_FRAMES: usize = 1500;
    let secs = n_samples.div_ceil(16_000) + 2;
    (secs * FRAMES_PER_SEC).min(FULL_WINDOW_FRAMES) as i32
}
