//! Turning per-frame speech probabilities into speech segments (hysteresis, minimum lengths, padding).

use serde::{Deserialize, Serialize};

use crate::engines::VAD_FRAME_SAMPLES;
use crate::types::{PIPELINE_SAMPLE_RATE_HZ, TimeSpan};

/// Segmentation settings; the defaults follow silero-vad's `get_speech_timestamps`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VadConfig {
    /// A frame above this probability starts speech.
    pub speech_threshold: f32,
    /// Speech ends only when the probability falls below this (hysteresis against flicker).
    pub silence_threshold: f32,
    /// Speech shorter than this is dropped (clicks, breaths).
    pub min_speech_secs: f64,
    /// Pauses shorter than this do not end a segment.
    pub min_silence_secs: f64,
    /// Added on both sides of a segment so word onsets and endings are not clipped.
    pub speech_pad_secs: f64,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            speech_threshold: 0.5,
            silence_threshold: 0.35,
            min_speech_secs: 0.25,
            min_silence_secs: 0.4,
            speech_pad_secs: 0.2,
        }
    }
}

const FRAME_SECS: f64 = VAD_FRAME_SAMPLES as f64 / PIPELINE_SAMPLE_RATE_HZ as f64;

/// Speech segments (unpadded) from one probability per [`VAD_FRAME_SAMPLES`] frame.
pub fn speech_segments(probabilities: &[f32], audio_duration_secs: f64, config: &VadConfig) -> Vec<TimeSpan> {
    let mut segments: Vec<TimeSpan> = Vec::new();
    let mut speech_start: Option<f64> = None;
    let mut silence_start: Option<f64> = None;
    for (frame_idx, &probability) in probabilities.iter().enumerate() {
        let frame_start_secs = frame_idx as f64 * FRAME_SECS;
        match speech_start {
            None if probability >= config.speech_threshold => {
                speech_start = Some(frame_start_secs);
                silence_start = None;
            }
            None => {}
            Some(start_secs) => {
                if probability >= config.silence_threshold {
                    silence_start = None;
                    continue;
                }
                let pause_start = *silence_start.get_or_insert(frame_start_secs);
                if frame_start_secs + FRAME_SECS - pause_start >= config.min_silence_secs {
                    segments.push(TimeSpan { start_secs, end_secs: pause_start });
                    speech_start = None;
                    silence_start = None;
                }
            }
        }
    }
    if let Some(start_secs) = speech_start {
        let end_secs = silence_start.unwrap_or(probabilities.len() as f64 * FRAME_SECS);
        segments.push(TimeSpan { start_secs, end_secs: end_secs.min(audio_duration_secs) });
    }
    segments.retain(|segment| segment.duration_secs() >= config.min_speech_secs);
    segments
}

/// Pads segments by `pad_secs` within `0..duration`, merging any that then touch.
pub fn pad_segments(segments: &[TimeSpan], pad_secs: f64, audio_duration_secs: f64) -> Vec<TimeSpan> {
    let mut padded: Vec<TimeSpan> = Vec::with_capacity(segments.len());
    for segment in segments {
        let span = TimeSpan {
            start_secs: (segment.start_secs - pad_secs).max(0.0),
            end_secs: (segment.end_secs + pad_secs).min(audio_duration_secs),
        };
        match padded.last_mut() {
            Some(last) if span.start_secs <= last.end_secs => last.end_secs = last.end_secs.max(span.end_secs),
            _ => padded.push(span),
        }
    }
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(pattern: &[(f32, usize)]) -> Vec<f32> {
        pattern.iter().flat_map(|&(p, n)| std::iter::repeat_n(p, n)).collect()
    }

    #[test]
    fn one_segment_with_short_pause_inside() {
        // 1 s silence, 1 s speech, 0.128 s pause (shorter than min silence), 1 s speech, 1 s silence
        let probabilities = frames(&[(0.0, 31), (0.9, 31), (0.1, 4), (0.9, 31), (0.0, 31)]);
        let segments = speech_segments(&probabilities, 4.0, &VadConfig::default());
        assert_eq!(segments.len(), 1);
        assert!((segments[0].start_secs - 0.992).abs() < 0.04);
        assert!((segments[0].end_secs - 3.1).abs() < 0.05);
    }

    #[test]
    fn long_pause_splits_and_short_blips_are_dropped() {
        let probabilities = frames(&[(0.9, 31), (0.0, 31), (0.9, 3), (0.0, 31), (0.9, 31)]);
        let segments = speech_segments(&probabilities, 4.2, &VadConfig::default());
        assert_eq!(segments.len(), 2, "{segments:?}");
    }

    #[test]
    fn padding_merges_neighbours_and_stays_in_bounds() {
        let segments = [TimeSpan { start_secs: 0.1, end_secs: 1.0 }, TimeSpan { start_secs: 1.3, end_secs: 2.0 }];
        let padded = pad_segments(&segments, 0.2, 2.1);
        assert_eq!(padded, vec![TimeSpan { start_secs: 0.0, end_secs: 2.1 }]);
    }
}
