//! Acoustic facts of a call: talk, silence, hold, talk-over, interruptions, speaking rate, loudness.

use serde::{Deserialize, Serialize};

use crate::audio::SampleSource;
use crate::types::{CallMetrics, PartyMetrics, Speaker, TimeSpan};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A silence at least this long counts as a hold.
    pub hold_min_secs: f64,
    /// Overlaps shorter than this (backchannels, "mm-hm") are not talk-over.
    pub talk_over_min_secs: f64,
    /// Samples at or above this absolute value count as clipped.
    pub clipping_level: f32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { hold_min_secs: 15.0, talk_over_min_secs: 0.5, clipping_level: 0.99 }
    }
}

/// What the metrics need to know about one party.
pub struct PartyActivity<'a> {
    pub speaker: Speaker,
    /// Unpadded speech spans, sorted.
    pub speech: &'a [TimeSpan],
    pub n_words: usize,
    /// Loudness and clipping of the party's signal.
    pub levels: SignalLevels,
}

/// What loudness and clipping need from a party's signal, gathered in one pass over it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SignalLevels {
    /// Sum of squared samples (floats in -1..1) inside the speech spans.
    pub speech_sum_squares: f64,
    pub n_speech_samples: usize,
    pub n_clipped: usize,
    pub n_samples: usize,
}

/// Frames read at once by [`measure_levels`].
const LEVELS_BLOCK_FRAMES: usize = 1 << 20;

/// Measures a party's signal (at `sample_rate_hz`, its original rate) block by block: the
/// energy of its speech (`speech`, sorted) and its clipped samples (at or above `clipping_level`).
pub fn measure_levels(
    signal: &(impl SampleSource + ?Sized),
    sample_rate_hz: u32,
    speech: &[TimeSpan],
    clipping_level: f32,
) -> crate::error::Result<SignalLevels> {
    let rate = f64::from(sample_rate_hz);
    let n_samples = signal.n_samples();
    let sample_spans: Vec<(usize, usize)> = speech
        .iter()
        .map(|span| {
            let start = ((span.start_secs * rate) as usize).min(n_samples);
            (start, ((span.end_secs * rate) as usize).clamp(start, n_samples))
        })
        .collect();
    let mut levels = SignalLevels { n_samples, ..SignalLevels::default() };
    let mut block = Vec::with_capacity(LEVELS_BLOCK_FRAMES.min(n_samples));
    for block_start in (0..n_samples).step_by(LEVELS_BLOCK_FRAMES) {
        let block_end = (block_start + LEVELS_BLOCK_FRAMES).min(n_samples);
        block.clear();
        signal.append_f32(block_start, block_end, &mut block)?;
        levels.n_clipped += block.iter().filter(|sample| sample.abs() >= clipping_level).count();
        for &(start, end) in &sample_spans {
            let (start, end) = (start.max(block_start), end.min(block_end));
            if start < end {
                levels.speech_sum_squares += block[start - block_start..end - block_start].iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
                levels.n_speech_samples += end - start;
            }
        }
    }
    Ok(levels)
}

pub fn compute_metrics(duration_secs: f64, parties: &[PartyActivity<'_>], config: &MetricsConfig) -> CallMetrics {
    let mut metrics = CallMetrics { duration_secs, ..CallMetrics::default() };
    for party in parties {
        let party_metrics = party_metrics(party, parties, config);
        match party.speaker {
            Speaker::Agent => metrics.agent = party_metrics,
            Speaker::Customer => metrics.customer = party_metrics,
            Speaker::Unknown => metrics.unknown = party_metrics,
        }
    }
    let all_speech = union(parties.iter().flat_map(|p| p.speech.iter().copied()).collect());
    let talk_secs: f64 = all_speech.iter().map(TimeSpan::duration_secs).sum();
    metrics.non_talk_secs = (duration_secs - talk_secs).max(0.0);
    // Silences between speech; leading and trailing silence (ringing, hang-up) is not the parties'.
    for pair in all_speech.windows(2) {
        let gap = TimeSpan { start_secs: pair[0].end_secs, end_secs: pair[1].start_secs };
        if gap.duration_secs() > metrics.longest_silence_secs {
            metrics.longest_silence_secs = gap.duration_secs();
            metrics.longest_silence = Some(gap);
        }
        if gap.duration_secs() >= config.hold_min_secs {
            metrics.holds.push(gap);
        }
    }
    if let [first, second] = parties {
        for a in first.speech {
            for b in second.speech {
                let overlap = a.overlap_secs(b);
                if overlap >= config.talk_over_min_secs {
                    metrics.talk_over_secs += overlap;
                    metrics.talk_over_count += 1;
                }
            }
        }
    }
    metrics
}

fn party_metrics(party: &PartyActivity<'_>, all: &[PartyActivity<'_>], config: &MetricsConfig) -> PartyMetrics {
    let talk_secs: f64 = party.speech.iter().map(TimeSpan::duration_secs).sum();
    let words_per_minute = if talk_secs > 0.0 { party.n_words as f64 / (talk_secs / 60.0) } else { 0.0 };
    // An interruption: this party starts while another is talking, and they overlap long enough.
    let mut interruptions = 0;
    for other in all.iter().filter(|o| o.speaker != party.speaker) {
        for mine in party.speech {
            let interrupts = other.speech.iter().any(|theirs| {
                theirs.start_secs < mine.start_secs
                    && mine.start_secs < theirs.end_secs
                    && mine.overlap_secs(theirs) >= config.talk_over_min_secs
            });
            if interrupts {
                interruptions += 1;
            }
        }
    }
    let levels = &party.levels;
    let loudness_dbfs = if levels.n_speech_samples > 0 && levels.speech_sum_squares > 0.0 {
        10.0 * (levels.speech_sum_squares / levels.n_speech_samples as f64).log10()
    } else {
        f64::NEG_INFINITY.max(-120.0)
    };
    PartyMetrics {
        talk_secs,
        words_per_minute,
        interruptions,
        loudness_dbfs,
        clipping_ratio: if levels.n_samples == 0 { 0.0 } else { levels.n_clipped as f64 / levels.n_samples as f64 },
    }
}

/// Union of spans, sorted and merged.
pub fn union(mut spans: Vec<TimeSpan>) -> Vec<TimeSpan> {
    spans.sort_by(|a, b| a.start_secs.total_cmp(&b.start_secs));
    let mut merged: Vec<TimeSpan> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start_secs <= last.end_secs => last.end_secs = last.end_secs.max(span.end_secs),
            _ => merged.push(span),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start_secs: f64, end_secs: f64) -> TimeSpan {
        TimeSpan { start_secs, end_secs }
    }

    #[test]
    fn silence_hold_talk_over_and_interruptions() {
        let agent_speech = [span(0.0, 5.0), span(30.0, 40.0)];
        let customer_speech = [span(6.0, 10.0), span(38.0, 45.0)];
        let samples = vec![crate::audio::sample_from_f32(0.1); 8_000 * 50];
        let levels = |speech: &[TimeSpan]| measure_levels(samples.as_slice(), 8_000, speech, 0.99).expect("measures");
        let parties = [
            PartyActivity { speaker: Speaker::Agent, speech: &agent_speech, n_words: 30, levels: levels(&agent_speech) },
            PartyActivity { speaker: Speaker::Customer, speech: &customer_speech, n_words: 22, levels: levels(&customer_speech) },
        ];
        let m = compute_metrics(50.0, &parties, &MetricsConfig::default());
        assert_eq!(m.agent.talk_secs, 15.0);
        assert_eq!(m.customer.talk_secs, 11.0);
        assert!((m.longest_silence_secs - 20.0).abs() < 1e-9);
        assert_eq!(m.holds, vec![span(10.0, 30.0)]);
        assert!((m.talk_over_secs - 2.0).abs() < 1e-9);
        assert_eq!(m.talk_over_count, 1);
        assert_eq!(m.customer.interruptions, 1);
        assert_eq!(m.agent.interruptions, 0);
        assert!((m.agent.words_per_minute - 120.0).abs() < 1e-9);
        assert!((m.agent.loudness_dbfs - -20.0).abs() < 0.01);
        assert!((m.non_talk_secs - (50.0 - 24.0)).abs() < 1e-9);
    }

    #[test]
    fn levels_measured_in_blocks_match_the_whole_signal() {
        // Longer than one block, with speech spans across block edges and clipped samples.
        let samples: Vec<i16> = (0..LEVELS_BLOCK_FRAMES * 2 + 1_000).map(|idx| if idx % 1_000 == 0 { i16::MAX } else { (idx % 200) as i16 * 50 }).collect();
        let rate = 16_000;
        let speech = [span(10.0, 70.0), span(100.0, 200.0)];
        let levels = measure_levels(samples.as_slice(), rate, &speech, 0.99).expect("measures");
        let mut expected = SignalLevels { n_samples: samples.len(), ..SignalLevels::default() };
        expected.n_clipped = samples.iter().filter(|&&s| crate::audio::sample_to_f32(s).abs() >= 0.99).count();
        for span in speech {
            let start = (span.start_secs * f64::from(rate)) as usize;
            let end = ((span.end_secs * f64::from(rate)) as usize).min(samples.len());
            expected.speech_sum_squares += samples[start..end].iter().map(|&s| f64::from(crate::audio::sample_to_f32(s)).powi(2)).sum::<f64>();
            expected.n_speech_samples += end - start;
        }
        assert_eq!((levels.n_samples, levels.n_clipped, levels.n_speech_samples), (expected.n_samples, expected.n_clipped, expected.n_speech_samples));
        assert!((levels.speech_sum_squares - expected.speech_sum_squares).abs() < 1e-6 * expected.speech_sum_squares);
    }
}
