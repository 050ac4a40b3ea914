//! Quality gates for enrolment and verification audio: net speech, SNR, clipping, and whether the
//! speech holds more than one voice.

use serde::{Deserialize, Serialize};

use super::diarize::{cut_windows, split_in_two};
use super::{Reason, ReasonCode, checked_embedding};
use crate::engines::{VAD_FRAME_SAMPLES, VoiceActivityDetector};
use crate::error::Result;
use crate::speaker::SpeakerEmbedder;
use crate::types::{PIPELINE_SAMPLE_RATE_HZ, TimeSpan};
use crate::vad::{VadConfig, speech_segments};

const RATE_HZ: f64 = PIPELINE_SAMPLE_RATE_HZ as f64;

/// Quality thresholds. SNR and clipping follow common enrolment practice for telephone audio
/// (NIST SRE-style data rarely goes below ~10 dB); the speaker-split cosine is a model property
/// and should be checked with the eval tool for each embedder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Speech must be at least this far above the background, in dB.
    pub min_snr_db: f64,
    /// At most this fraction of speech samples may be at full scale.
    pub max_clipping_ratio: f64,
    /// A sample at or above this absolute value counts as clipped.
    pub clipping_level: f32,
    /// Embed windows of the speech and refuse audio where they fall into two voices.
    pub check_multiple_speakers: bool,
    pub window_secs: f64,
    pub hop_secs: f64,
    /// Fewer windows than this are too few to tell one voice from two; the check is skipped.
    pub min_windows: usize,
    /// Two window clusters whose centroids are at least this similar are the same voice.
    pub same_speaker_min_cosine: f32,
    /// The smaller cluster must hold at least this fraction of the windows to count as a voice
    /// (a cough or a line click is not a second speaker).
    pub min_second_speaker_share: f64,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            min_snr_db: 10.0,
            max_clipping_ratio: 0.01,
            clipping_level: 0.99,
            check_multiple_speakers: true,
            window_secs: 1.5,
            hop_secs: 0.75,
            min_windows: 6,
            same_speaker_min_cosine: 0.6,
            min_second_speaker_share: 0.2,
        }
    }
}

/// One clip of 16 kHz mono audio with its (unpadded) speech spans, in seconds from the clip start.
#[derive(Debug, Clone)]
pub struct SpeechClip<'a> {
    pub samples_16k: &'a [f32],
    pub speech: Vec<TimeSpan>,
}

impl SpeechClip<'_> {
    /// The samples inside the speech spans, concatenated.
    pub fn speech_samples(&self) -> Vec<f32> {
        let mut samples = Vec::new();
        for span in &self.speech {
            let range = sample_range(span, self.samples_16k.len());
            samples.extend_from_slice(&self.samples_16k[range]);
        }
        samples
    }

    pub fn net_speech_secs(&self) -> f64 {
        self.speech.iter().map(|span| sample_range(span, self.samples_16k.len()).len()).sum::<usize>() as f64 / RATE_HZ
    }
}

/// A [`SpeechClip`] that owns its samples: a stretch of a long call cut out around its speech.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedSpeechClip {
    pub samples_16k: Vec<f32>,
    pub speech: Vec<TimeSpan>,
}

impl OwnedSpeechClip {
    pub fn as_clip(&self) -> SpeechClip<'_> {
        SpeechClip { samples_16k: &self.samples_16k, speech: self.speech.clone() }
    }
}

/// Background kept on each side of a stretch of speech cut out of a call, so the SNR gate still
/// sees the line's noise floor (it needs [`MIN_NOISE_FRAMES`] frames beyond [`NOISE_GUARD_SECS`]).
pub const CALL_CLIP_CONTEXT_SECS: f64 = 1.0;

/// The speech of one party of a call (`samples` at `sample_rate_hz`, `speech` in call time) as
/// 16 kHz clips: each stretch of speech with [`CALL_CLIP_CONTEXT_SECS`] of background either
/// side (overlapping stretches merged), at most `max_speech_secs` of speech in all.
///
/// Why not the whole party at 16 kHz: a four-hour call would be 922 MB of floats for a
/// voiceprint that stops improving after a minute or two of speech. Memory follows the speech
/// used, not the call.
pub fn call_speech_clips(
    samples: &(impl crate::audio::SampleSource + ?Sized),
    sample_rate_hz: u32,
    speech: &[TimeSpan],
    max_speech_secs: f64,
) -> crate::error::Result<Vec<OwnedSpeechClip>> {
    let mut windows: Vec<(TimeSpan, Vec<TimeSpan>)> = Vec::new();
    let mut speech_secs = 0.0;
    for span in speech {
        if speech_secs >= max_speech_secs {
            break;
        }
        let span = TimeSpan { start_secs: span.start_secs, end_secs: span.end_secs.min(span.start_secs + max_speech_secs - speech_secs) };
        speech_secs += span.duration_secs();
        let window = TimeSpan { start_secs: (span.start_secs - CALL_CLIP_CONTEXT_SECS).max(0.0), end_secs: span.end_secs + CALL_CLIP_CONTEXT_SECS };
        match windows.last_mut() {
            Some((last, spans)) if window.start_secs <= last.end_secs => {
                last.end_secs = last.end_secs.max(window.end_secs);
                spans.push(span);
            }
            _ => windows.push((window, vec![span])),
        }
    }
    let mut ranges = crate::audio::ResampledRanges::new(samples, sample_rate_hz, RATE_HZ as u32, 240_000)?;
    windows
        .into_iter()
        .map(|(window, spans)| {
            let mut samples_16k = Vec::new();
            ranges.copy_range((window.start_secs * RATE_HZ) as usize, (window.end_secs * RATE_HZ).ceil() as usize, &mut samples_16k)?;
            let speech = spans
                .iter()
                .map(|span| TimeSpan { start_secs: span.start_secs - window.start_secs, end_secs: span.end_secs - window.start_secs })
                .collect();
            Ok(OwnedSpeechClip { samples_16k, speech })
        })
        .collect()
}

fn sample_range(span: &TimeSpan, n_samples: usize) -> std::ops::Range<usize> {
    let to_index = |secs: f64| ((secs.max(0.0) * RATE_HZ).round() as usize).min(n_samples);
    let start = to_index(span.start_secs);
    start..to_index(span.end_secs).max(start)
}

/// Runs the VAD over a clip and returns its unpadded speech spans: padding would add silence,
/// which dilutes an embedding and inflates net speech.
pub fn detect_speech(
    samples_16k: &[f32],
    vad: &dyn VoiceActivityDetector,
    vad_config: &VadConfig,
) -> Result<Vec<TimeSpan>> {
    let probabilities = vad.speech_probabilities(samples_16k)?;
    Ok(speech_segments(&probabilities, samples_16k.len() as f64 / RATE_HZ, vad_config))
}

/// Signal measurements of some clips, before any decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechStats {
    pub net_speech_secs: f64,
    /// `None` when there is too little non-speech to measure the background.
    pub snr_db: Option<f64>,
    /// Fraction of speech samples at or above the clipping level.
    pub clipping_ratio: f64,
}

/// Frames this close to speech are neither speech nor background: word onsets and tails leak in.
const NOISE_GUARD_SECS: f64 = 0.2;
/// Less background than this (in frames of 32 ms, ~0.3 s) gives no trustworthy noise floor.
const MIN_NOISE_FRAMES: usize = 10;
/// Reported SNR is capped here; digitally silent background would otherwise give infinity.
const MAX_SNR_DB: f64 = 90.0;

/// Net speech, SNR (mean speech-frame power over mean background-frame power, both per
/// [`VAD_FRAME_SAMPLES`] frame, background subtracted from speech) and clipping over all clips.
pub fn analyse_speech(clips: &[SpeechClip<'_>], clipping_level: f32) -> SpeechStats {
    let mut net_speech_secs = 0.0;
    let (mut speech_power, mut n_speech_frames) = (0.0f64, 0usize);
    let (mut noise_power, mut n_noise_frames) = (0.0f64, 0usize);
    let (mut n_clipped, mut n_speech_samples) = (0usize, 0usize);
    for clip in clips {
        net_speech_secs += clip.net_speech_secs();
        for span in &clip.speech {
            let range = sample_range(span, clip.samples_16k.len());
            n_speech_samples += range.len();
            n_clipped += clip.samples_16k[range].iter().filter(|s| s.abs() >= clipping_level).count();
        }
        for (frame_idx, frame) in clip.samples_16k.chunks(VAD_FRAME_SAMPLES).enumerate() {
            let start_secs = (frame_idx * VAD_FRAME_SAMPLES) as f64 / RATE_HZ;
            let frame_span = TimeSpan { start_secs, end_secs: start_secs + frame.len() as f64 / RATE_HZ };
            let power = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / frame.len() as f64;
            let speech_overlap: f64 = clip.speech.iter().map(|span| span.overlap_secs(&frame_span)).sum();
            if speech_overlap >= 0.5 * frame_span.duration_secs() {
                speech_power += power;
                n_speech_frames += 1;
                continue;
            }
            let guarded = TimeSpan {
                start_secs: frame_span.start_secs - NOISE_GUARD_SECS,
                end_secs: frame_span.end_secs + NOISE_GUARD_SECS,
            };
            if clip.speech.iter().all(|span| span.overlap_secs(&guarded) == 0.0) {
                noise_power += power;
                n_noise_frames += 1;
            }
        }
    }
    let snr_db = (n_speech_frames > 0 && n_noise_frames >= MIN_NOISE_FRAMES).then(|| {
        let speech = speech_power / n_speech_frames as f64;
        let noise = noise_power / n_noise_frames as f64;
        let signal = (speech - noise).max(1e-12);
        (10.0 * (signal / noise.max(1e-12)).log10()).min(MAX_SNR_DB)
    });
    let clipping_ratio = if n_speech_samples == 0 { 0.0 } else { n_clipped as f64 / n_speech_samples as f64 };
    SpeechStats { net_speech_secs, snr_db, clipping_ratio }
}

/// The quality of some audio as judged for one operation, with every failed gate as a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub net_speech_secs: f64,
    pub required_net_speech_secs: f64,
    pub missing_speech_secs: f64,
    pub snr_db: Option<f64>,
    pub clipping_ratio: f64,
    /// Cosine between the two voices found in the speech windows; `None` when not checked.
    pub speaker_split_cosine: Option<f32>,
    pub reasons: Vec<Reason>,
}

impl QualityReport {
    pub fn passed(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Applies the gates: enough net speech (`required_net_speech_secs`), SNR, clipping and, with an
/// embedder and enough speech, the two-voices check.
pub fn check_quality(
    clips: &[SpeechClip<'_>],
    required_net_speech_secs: f64,
    embedder: Option<&dyn SpeakerEmbedder>,
    config: &QualityConfig,
) -> Result<QualityReport> {
    let stats = analyse_speech(clips, config.clipping_level);
    let mut reasons = Vec::new();
    // Rounded to the tenth shown, so "12.4 needed 20.0 → 7.6 missing" always adds up.
    let net_shown = (stats.net_speech_secs * 10.0).floor() / 10.0;
    let missing_speech_secs = (required_net_speech_secs - net_shown).max(0.0);
    if stats.net_speech_secs < required_net_speech_secs {
        reasons.push(Reason::new(
            ReasonCode::TooLittleSpeech,
            format!(
                "{net_shown:.1} s of net speech, {required_net_speech_secs:.1} s needed ({missing_speech_secs:.1} s missing)"
            ),
        ));
    }
    if let Some(snr_db) = stats.snr_db.filter(|snr| *snr < config.min_snr_db) {
        reasons.push(Reason::new(
            ReasonCode::LowSnr,
            format!("signal-to-noise ratio {snr_db:.1} dB, at least {:.1} dB needed", config.min_snr_db),
        ));
    }
    if stats.clipping_ratio > config.max_clipping_ratio {
        reasons.push(Reason::new(
            ReasonCode::Clipping,
            format!(
                "{:.1} % of speech samples are clipped, at most {:.1} % allowed",
                stats.clipping_ratio * 100.0,
                config.max_clipping_ratio * 100.0
            ),
        ));
    }
    let mut speaker_split_cosine = None;
    if let Some(embedder) = embedder.filter(|_| config.check_multiple_speakers) {
        let mut embeddings = Vec::new();
        for clip in clips {
            let speech = clip.speech_samples();
            let window = (config.window_secs * RATE_HZ) as usize;
            let hop = (config.hop_secs * RATE_HZ) as usize;
            for range in cut_windows(speech.len(), window, hop, window.max(embedder.min_samples())) {
                embeddings.push(checked_embedding(embedder, embedder.embed(&speech[range])?)?);
            }
        }
        if embeddings.len() >= config.min_windows.max(2) {
            let split = split_in_two(&embeddings);
            speaker_split_cosine = Some(split.centroid_cosine);
            if split.is_two_speakers(config.same_speaker_min_cosine, config.min_second_speaker_share) {
                reasons.push(Reason::new(
                    ReasonCode::MultipleSpeakers,
                    format!(
                        "the speech holds two voices ({:.0} % of it from the second, similarity {:.2})",
                        split.minor_share() * 100.0,
                        split.centroid_cosine
                    ),
                ));
            }
        }
    }
    Ok(QualityReport {
        net_speech_secs: stats.net_speech_secs,
        required_net_speech_secs,
        missing_speech_secs: if stats.net_speech_secs < required_net_speech_secs { missing_speech_secs } else { 0.0 },
        snr_db: stats.snr_db,
        clipping_ratio: stats.clipping_ratio,
        speaker_split_cosine,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start_secs: f64, end_secs: f64) -> TimeSpan {
        TimeSpan { start_secs, end_secs }
    }

    #[test]
    fn call_speech_clips_are_the_speech_with_context_cut_from_the_whole_resampled_party() {
        let samples: Vec<i16> = (0..8_000 * 60).map(|idx| ((idx as f32 * 0.05).sin() * 8_000.0) as i16).collect();
        let whole = crate::audio::resample(&samples, 8_000, 16_000).expect("resamples");
        // Two stretches 1.5 s apart merge (their 1 s of context overlaps); the third stands alone.
        let speech = [span(5.0, 8.0), span(9.5, 10.0), span(30.0, 34.0)];
        let clips = call_speech_clips(samples.as_slice(), 8_000, &speech, 600.0).expect("clips");
        assert_eq!(clips.len(), 2);
        assert_eq!(clips[0].speech, vec![span(1.0, 4.0), span(5.5, 6.0)]);
        assert_eq!(clips[0].samples_16k, whole[4 * 16_000..11 * 16_000]);
        assert_eq!(clips[1].speech, vec![span(1.0, 5.0)]);
        assert_eq!(clips[1].samples_16k, whole[29 * 16_000..35 * 16_000]);

        // At most `max_speech_secs` of speech: the third stretch is cut after 1.5 s.
        let capped = call_speech_clips(samples.as_slice(), 8_000, &speech, 5.0).expect("clips");
        let net: f64 = capped.iter().map(|clip| clip.as_clip().net_speech_secs()).sum();
        assert!((net - 5.0).abs() < 1e-3, "net speech {net}");
        assert_eq!(capped[1].speech, vec![span(1.0, 2.5)]);
    }
}
