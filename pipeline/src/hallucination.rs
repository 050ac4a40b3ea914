//! Guards against recogniser hallucination: text with no speech behind it, loops, and gibberish.
//!
//! The thresholds are those of OpenAI's `transcribe()` (no-speech 0.6 with log-probability −1,
//! gzip compression ratio 2.4), applied after decoding so every engine gets the same guards.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::engines::RecognisedSegment;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HallucinationConfig {
    pub no_speech_threshold: f32,
    pub logprob_threshold: f32,
    pub compression_ratio_threshold: f64,
    /// An n-gram said this many times in a row is a decoding loop; the repeats are cut.
    pub max_repeats: usize,
}

impl Default for HallucinationConfig {
    fn default() -> Self {
        Self { no_speech_threshold: 0.6, logprob_threshold: -1.0, compression_ratio_threshold: 2.4, max_repeats: 3 }
    }
}

/// Why a segment was dropped, for the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    NoSpeech { probability: f32 },
    Repetitive { compression_ratio: f64 },
}

/// gzip-compressed size relative to the text: loops compress far better than speech.
pub fn compression_ratio(text: &str) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    if encoder.write_all(text.as_bytes()).is_err() {
        return 0.0;
    }
    match encoder.finish() {
        Ok(compressed) if !compressed.is_empty() => text.len() as f64 / compressed.len() as f64,
        _ => 0.0,
    }
}

/// Cleans one segment in place (cutting repeated n-grams) or says why it must be dropped.
pub fn screen_segment(segment: &mut RecognisedSegment, config: &HallucinationConfig) -> Result<(), Rejection> {
    if segment.no_speech_probability > config.no_speech_threshold
        && segment.mean_log_probability < config.logprob_threshold
    {
        return Err(Rejection::NoSpeech { probability: segment.no_speech_probability });
    }
    cut_repeats(segment, config.max_repeats);
    let ratio = compression_ratio(&segment.text);
    if ratio > config.compression_ratio_threshold {
        return Err(Rejection::Repetitive { compression_ratio: ratio });
    }
    Ok(())
}

fn normalised(word: &str) -> String {
    word.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Removes consecutive repeats of any 1..=4-word n-gram beyond `max_repeats`.
fn cut_repeats(segment: &mut RecognisedSegment, max_repeats: usize) {
    let keys: Vec<String> = segment.words.iter().map(|w| normalised(&w.text)).collect();
    let mut keep = vec![true; keys.len()];
    for n in 1..=4 {
        let mut start = 0;
        while start + n <= keys.len() {
            let mut repeats = 1;
            while start + (repeats + 1) * n <= keys.len()
                && keys[start + repeats * n..start + (repeats + 1) * n] == keys[start..start + n]
            {
                repeats += 1;
            }
            if repeats > max_repeats {
                for flag in &mut keep[start + max_repeats * n..start + repeats * n] {
                    *flag = false;
                }
                start += repeats * n;
            } else {
                start += 1;
            }
        }
    }
    if keep.iter().all(|&k| k) {
        return;
    }
    let mut idx = 0;
    segment.words.retain(|_| {
        idx += 1;
        keep[idx - 1]
    });
    segment.text = segment.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Word;

    fn segment(text: &str) -> RecognisedSegment {
        let words = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| Word { text: w.into(), start_secs: i as f64, end_secs: i as f64 + 0.5, confidence: 0.9 })
            .collect();
        RecognisedSegment {
            start_secs: 0.0,
            end_secs: 10.0,
            text: text.into(),
            words,
            no_speech_probability: 0.0,
            mean_log_probability: -0.2,
        }
    }

    #[test]
    fn loops_are_cut_to_max_repeats() {
        let mut s = segment("thank you thank you thank you thank you thank you for calling");
        assert!(screen_segment(&mut s, &HallucinationConfig::default()).is_ok());
        assert_eq!(s.text, "thank you thank you thank you for calling");
    }

    #[test]
    fn silence_with_text_is_rejected() {
        let mut s = segment("thanks for watching");
        s.no_speech_probability = 0.9;
        s.mean_log_probability = -1.5;
        assert!(matches!(screen_segment(&mut s, &HallucinationConfig::default()), Err(Rejection::NoSpeech { .. })));
    }

    #[test]
    fn normal_speech_passes_and_compression_ratio_is_low() {
        let mut s = segment("hello my card was charged twice and I would like a refund please");
        assert!(screen_segment(&mut s, &HallucinationConfig::default()).is_ok());
        assert!(compression_ratio(&s.text) < 2.4);
        assert!(compression_ratio(&"la la la la la la la la la la la la la la la la la la la la la la".repeat(3)) > 2.4);
    }
}
