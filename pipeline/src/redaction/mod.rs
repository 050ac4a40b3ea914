//! PCI and PII redaction: payment cards, security codes, expiry dates, bank accounts, dates of
//! birth, phone numbers, e-mail addresses, national ids and street addresses found in a call's
//! words (English and Russian, spoken or written as digits) and replaced by placeholders such as
//! `[card number]` in everything that is stored or leaves the process; the audio of each span is
//! silenced or covered by a tone on the channel of the party who said it.
//!
//! Analysis (compliance, sentiment) runs on the original words in memory; [`redact_analysis`]
//! is applied to the finished [`CallAnalysis`] before it is stored, rendered or sent, so every
//! output (report, search index, subtitles, webhooks, web pages) is built from redacted words.
//! Spans carry type, party and times, never the value.
//!
//! - [`tokens`]: words to classified pieces and composed number runs.
//! - [`detect`]: the entity rules (shape, Luhn, cues, decoys).
//! - [`live`]: a stream's finals, turns, alerts and partials before they are sent.
//!
//! Pure: no I/O.

pub mod detect;
pub mod live;
pub mod tokens;

use serde::{Deserialize, Serialize};

use crate::analyze::CallAnalysis;
use crate::audio::DecodedAudio;
use crate::error::{PipelineError, Result};
use crate::types::{Speaker, TranscriptSegment, Turn, Word};

/// The kinds of data that can be redacted; each can be switched on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A payment card number, whole or in part ("ends in 5502").
    #[serde(rename = "card")]
    CardNumber,
    /// CVV/CVC after a cue.
    #[serde(rename = "cvv")]
    SecurityCode,
    #[serde(rename = "expiry")]
    ExpiryDate,
    /// Bank account number, IBAN, sort code.
    #[serde(rename = "account")]
    BankAccount,
    #[serde(rename = "dob")]
    DateOfBirth,
    #[serde(rename = "phone")]
    PhoneNumber,
    Email,
    /// Social security number, SNILS, passport number.
    NationalId,
    /// A street address (number and street; Russian "улица …, дом …").
    Address,
}

impl EntityKind {
    pub const ALL: [EntityKind; 9] = [
        EntityKind::CardNumber,
        EntityKind::SecurityCode,
        EntityKind::ExpiryDate,
        EntityKind::BankAccount,
        EntityKind::DateOfBirth,
        EntityKind::PhoneNumber,
        EntityKind::Email,
        EntityKind::NationalId,
        EntityKind::Address,
    ];

    /// The name used in configuration, on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::CardNumber => "card",
            EntityKind::SecurityCode => "cvv",
            EntityKind::ExpiryDate => "expiry",
            EntityKind::BankAccount => "account",
            EntityKind::DateOfBirth => "dob",
            EntityKind::PhoneNumber => "phone",
            EntityKind::Email => "email",
            EntityKind::NationalId => "national_id",
            EntityKind::Address => "address",
        }
    }

    /// What replaces the words in text.
    pub fn placeholder(self) -> &'static str {
        match self {
            EntityKind::CardNumber => "[card number]",
            EntityKind::SecurityCode => "[security code]",
            EntityKind::ExpiryDate => "[expiry date]",
            EntityKind::BankAccount => "[account number]",
            EntityKind::DateOfBirth => "[date of birth]",
            EntityKind::PhoneNumber => "[phone number]",
            EntityKind::Email => "[email]",
            EntityKind::NationalId => "[national id]",
            EntityKind::Address => "[address]",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        let name = name.trim().to_ascii_lowercase();
        EntityKind::ALL.into_iter().find(|kind| kind.as_str() == name).ok_or_else(|| {
            PipelineError::InvalidOption(format!(
                "redaction type {name:?}: expected one of {}",
                EntityKind::ALL.map(EntityKind::as_str).join(", ")
            ))
        })
    }

    /// A comma-separated list ("card,dob,phone"); "all" or an empty list is every type.
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        let names: Vec<&str> = list.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
        if names.is_empty() || names == ["all"] {
            return Ok(EntityKind::ALL.to_vec());
        }
        names.into_iter().map(EntityKind::parse).collect()
    }
}

/// What replaces a redacted span in the stored recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioMask {
    #[default]
    Silence,
    /// A 1 kHz tone at -12 dBFS, so a listener hears that something was removed.
    Tone,
}

/// Settings of redaction (`redaction.*` in the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionConfig {
    pub enabled: bool,
    /// The kinds redacted; empty means all.
    pub types: Vec<EntityKind>,
    pub audio: AudioMask,
    /// Audio kept masked before and after each span's word times, for word timing error.
    pub margin_secs: f64,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig { enabled: false, types: Vec::new(), audio: AudioMask::Silence, margin_secs: 0.3 }
    }
}

impl RedactionConfig {
    /// Every kind on.
    pub fn all() -> Self {
        RedactionConfig { enabled: true, ..Self::default() }
    }

    pub fn enables(&self, kind: EntityKind) -> bool {
        self.types.is_empty() || self.types.contains(&kind)
    }

    pub fn validate(&self) -> Result<()> {
        if !(0.0..=2.0).contains(&self.margin_secs) {
            return Err(PipelineError::InvalidOption(format!(
                "redaction.margin_secs {} must be between 0 and 2 seconds",
                self.margin_secs
            )));
        }
        Ok(())
    }
}

/// One redacted stretch of a call: what kind, who said it, when. Never the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactionSpan {
    #[serde(rename = "type")]
    pub kind: EntityKind,
    pub speaker: Speaker,
    pub start_secs: f64,
    pub end_secs: f64,
    /// The turn it is in and the index of its placeholder word in the redacted turn.
    pub turn_index: usize,
    pub word_index: usize,
}

/// An entity in the original words: turn and word range (inclusive), before any replacement.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityInWords {
    pub kind: EntityKind,
    pub speaker: Speaker,
    pub turn_index: usize,
    pub first_word: usize,
    pub last_word: usize,
    pub start_secs: f64,
    pub end_secs: f64,
}

/// Finds the entities of the enabled kinds in the turns' words, in call order; overlapping
/// finds are merged (the earlier kind wins).
pub fn find_entities(turns: &[Turn], config: &RedactionConfig) -> Vec<EntityInWords> {
    let tokens = tokens::tokenize(turns);
    let detections = detect::detect(&tokens, config);
    let mut entities: Vec<EntityInWords> = Vec::new();
    for detection in detections {
        let first = &tokens[detection.first_token];
        let last = &tokens[detection.last_token];
        if first.turn_index != last.turn_index {
            continue;
        }
        let turn = &turns[first.turn_index];
        let entity = EntityInWords {
            kind: detection.kind,
            speaker: turn.speaker,
            turn_index: first.turn_index,
            first_word: first.word_index,
            last_word: last.word_index,
            start_secs: turn.words[first.word_index].start_secs,
            end_secs: turn.words[last.word_index].end_secs,
        };
        match entities.iter_mut().find(|e| {
            e.turn_index == entity.turn_index && e.first_word <= entity.last_word && entity.first_word <= e.last_word
        }) {
            Some(existing) => {
                existing.first_word = existing.first_word.min(entity.first_word);
                existing.last_word = existing.last_word.max(entity.last_word);
                existing.start_secs = turn.words[existing.first_word].start_secs;
                existing.end_secs = turn.words[existing.last_word].end_secs;
            }
            None => entities.push(entity),
        }
    }
    entities.sort_by_key(|e| (e.turn_index, e.first_word));
    entities
}

/// Replaces each entity's words by one placeholder word spanning their times and rebuilds the
/// turn text from the words. Returns the spans, with the placeholder's position.
pub fn redact_turns(turns: &mut [Turn], entities: &[EntityInWords]) -> Vec<RedactionSpan> {
    let mut spans = Vec::new();
    for (turn_index, turn) in turns.iter_mut().enumerate() {
        let mut in_turn: Vec<&EntityInWords> = entities.iter().filter(|e| e.turn_index == turn_index).collect();
        if in_turn.is_empty() {
            continue;
        }
        in_turn.sort_by_key(|e| e.first_word);
        let mut words: Vec<Word> = Vec::with_capacity(turn.words.len());
        let mut word_idx = 0;
        for entity in in_turn {
            if entity.first_word < word_idx || entity.last_word >= turn.words.len() {
                continue;
            }
            words.extend(turn.words[word_idx..entity.first_word].iter().cloned());
            let covered = &turn.words[entity.first_word..=entity.last_word];
            spans.push(RedactionSpan {
                kind: entity.kind,
                speaker: entity.speaker,
                start_secs: entity.start_secs,
                end_secs: entity.end_secs,
                turn_index,
                word_index: words.len(),
            });
            words.push(Word {
                text: entity.kind.placeholder().to_string(),
                start_secs: entity.start_secs,
                end_secs: entity.end_secs,
                confidence: covered.iter().map(|w| w.confidence).fold(1.0, f32::min),
            });
            word_idx = entity.last_word + 1;
        }
        words.extend(turn.words[word_idx..].iter().cloned());
        turn.text = words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
        turn.words = words;
    }
    spans
}

/// The text of a turn's words between two times (evidence text), joined by spaces.
fn words_between(turn: &Turn, start_secs: f64, end_secs: f64) -> String {
    turn.words
        .iter()
        .filter(|w| w.end_secs > start_secs - 1e-6 && w.start_secs < end_secs + 1e-6)
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Redacts a finished analysis in place: turn words and text, compliance evidence and the
/// reasons quoting it, flag reasons. Returns the spans (also kept in `analysis.redactions`).
/// Idempotent: a redacted analysis has nothing left to find in the placeholders.
pub fn redact_analysis(analysis: &mut CallAnalysis, config: &RedactionConfig) -> Vec<RedactionSpan> {
    if !config.enabled {
        return Vec::new();
    }
    let entities = find_entities(&analysis.turns, config);
    if entities.is_empty() {
        return analysis.redactions.clone();
    }
    let original_turns = analysis.turns.clone();
    let spans = redact_turns(&mut analysis.turns, &entities);
    // Evidence quotes the recognised words: quote the redacted ones instead, and the reasons
    // that repeat the quote follow.
    let mut replacements: Vec<(String, String)> = Vec::new();
    if let Some(compliance) = analysis.compliance.as_mut() {
        for rule in &mut compliance.rules {
            for evidence in &mut rule.evidence {
                let Some(turn_index) = evidence.turn_index else { continue };
                let touched = entities.iter().any(|e| {
                    e.turn_index == turn_index && e.end_secs > evidence.start_secs - 1e-6 && e.start_secs < evidence.end_secs + 1e-6
                });
                if !touched || evidence.text.is_empty() {
                    continue;
                }
                let Some(turn) = analysis.turns.get(turn_index) else { continue };
                let redacted = words_between(turn, evidence.start_secs, evidence.end_secs);
                let original = std::mem::replace(&mut evidence.text, redacted.clone());
                if !original.is_empty() {
                    replacements.push((original, redacted));
                }
            }
            for (original, redacted) in &replacements {
                rule.reason = rule.reason.replace(original.as_str(), redacted);
            }
        }
    }
    for flag in &mut analysis.flags {
        for (original, redacted) in &replacements {
            flag.reason = flag.reason.replace(original.as_str(), redacted);
        }
    }
    // Anything else that quotes a whole turn (a flag reason) gets the redacted turn.
    for (original, redacted) in original_turns.iter().zip(&analysis.turns) {
        if original.text != redacted.text {
            for flag in &mut analysis.flags {
                flag.reason = flag.reason.replace(original.text.as_str(), &redacted.text);
            }
        }
    }
    let mut all = analysis.redactions.clone();
    all.extend(spans);
    all.sort_by(|a, b| a.start_secs.total_cmp(&b.start_secs));
    analysis.redactions = all.clone();
    all
}

/// Redacts transcript segments (a live stream's stored transcript, a final before it is sent):
/// each segment is searched on its own, so cues in earlier segments are not seen; callers that
/// have the whole call use [`redact_analysis`]. Returns the spans found.
pub fn redact_segments(segments: &mut [TranscriptSegment], config: &RedactionConfig) -> Vec<RedactionSpan> {
    if !config.enabled {
        return Vec::new();
    }
    let mut turns: Vec<Turn> = segments
        .iter()
        .map(|segment| Turn {
            speaker: segment.speaker,
            start_secs: segment.start_secs,
            end_secs: segment.end_secs,
            text: segment.text.clone(),
            words: segment.words.clone(),
            sentiment: None,
        })
        .collect();
    let entities = find_entities(&turns, config);
    let spans = redact_turns(&mut turns, &entities);
    for (segment, turn) in segments.iter_mut().zip(turns) {
        if segment.words != turn.words {
            segment.text = turn.text;
            segment.words = turn.words;
        }
    }
    spans
}

/// The channel a party's speech is on, or `None` for every channel (mono and mixed calls).
fn channel_of(speaker: Speaker, layout: crate::analyze::ChannelLayout, n_channels: usize) -> Option<usize> {
    use crate::analyze::ChannelLayout;
    match (layout, speaker, n_channels) {
        (_, _, 0 | 1) => None,
        (ChannelLayout::AgentCustomer, Speaker::Agent, _) | (ChannelLayout::CustomerAgent, Speaker::Customer, _) => Some(0),
        (ChannelLayout::AgentCustomer, Speaker::Customer, _) | (ChannelLayout::CustomerAgent, Speaker::Agent, _) => Some(1),
        _ => None,
    }
}

/// Frequency of the masking tone.
pub const MASK_TONE_HZ: f64 = 1_000.0;
/// Amplitude of the masking tone: -12 dBFS.
pub const MASK_TONE_AMPLITUDE: f32 = 0.25;

/// The samples to mask: `(channel, first, last)` for each span plus the margin on each side, on
/// the channel of the party who said it; on a mono or mixed call on every channel.
fn masked_ranges(
    spans: &[RedactionSpan],
    layout: crate::analyze::ChannelLayout,
    n_channels: usize,
    sample_rate_hz: u32,
    n_frames: usize,
    margin_secs: f64,
) -> Vec<(usize, usize, usize)> {
    let rate = f64::from(sample_rate_hz);
    let mut ranges = Vec::new();
    for span in spans {
        let first = (((span.start_secs - margin_secs).max(0.0) * rate).floor() as usize).min(n_frames);
        let last = (((span.end_secs + margin_secs) * rate).ceil() as usize).min(n_frames);
        match channel_of(span.speaker, layout, n_channels) {
            Some(channel) => ranges.push((channel, first, last)),
            None => ranges.extend((0..n_channels).map(|channel| (channel, first, last))),
        }
    }
    ranges
}

/// Masks `samples`, whose first sample is sample `first_idx` of its channel (the tone's phase
/// follows the channel's clock, so a masked stretch cut across blocks is one continuous tone).
fn mask_samples(samples: &mut [i16], first_idx: usize, sample_rate_hz: u32, mask: AudioMask) {
    let rate = f64::from(sample_rate_hz);
    for (idx, sample) in samples.iter_mut().enumerate() {
        *sample = match mask {
            AudioMask::Silence => 0,
            AudioMask::Tone => {
                let t = (first_idx + idx) as f64 / rate;
                crate::audio::sample_from_f32(MASK_TONE_AMPLITUDE * (2.0 * std::f64::consts::PI * MASK_TONE_HZ * t).sin() as f32)
            }
        };
    }
}

/// Masks each span (plus the margin on each side) on the channel of the party who said it; on a
/// mono or mixed call on every channel. Returns the number of samples changed.
pub fn redact_audio(
    audio: &mut DecodedAudio,
    spans: &[RedactionSpan],
    layout: crate::analyze::ChannelLayout,
    config: &RedactionConfig,
) -> usize {
    let ranges = masked_ranges(spans, layout, audio.channels.len(), audio.sample_rate_hz, audio.n_frames(), config.margin_secs);
    let mut n_changed = 0;
    for (channel, first, last) in ranges {
        let samples = &mut audio.channels[channel];
        let last = last.min(samples.len());
        let first = first.min(last);
        mask_samples(&mut samples[first..last], first, audio.sample_rate_hz, config.audio);
        n_changed += last - first;
    }
    n_changed
}

/// Frames of a redacted copy written at once by [`write_redacted_wav`].
const REDACT_BLOCK_FRAMES: usize = 1 << 18;

/// Writes `audio` as a 16-bit PCM WAV file with the spans masked as [`redact_audio`] masks them,
/// block by block: a four-hour call is copied without being held.
pub fn write_redacted_wav(
    audio: &dyn crate::audio::CallAudio,
    spans: &[RedactionSpan],
    layout: crate::analyze::ChannelLayout,
    config: &RedactionConfig,
    out: &mut dyn std::io::Write,
) -> crate::error::Result<()> {
    let n_channels = audio.n_channels();
    let rate = audio.sample_rate_hz();
    let n_frames = audio.n_frames().min(crate::audio::max_wav_pcm16_frames(n_channels));
    let ranges = masked_ranges(spans, layout, n_channels, rate, n_frames, config.margin_secs);
    let write_error = |error: std::io::Error| crate::error::PipelineError::Storage(format!("cannot write the redacted recording: {error}"));
    out.write_all(&crate::audio::wav_pcm16_header(n_channels, rate, n_frames)).map_err(write_error)?;
    let mut channels = vec![Vec::new(); n_channels];
    let mut bytes = Vec::new();
    for block_start in (0..n_frames).step_by(REDACT_BLOCK_FRAMES) {
        let block_end = (block_start + REDACT_BLOCK_FRAMES).min(n_frames);
        for (channel_idx, samples) in channels.iter_mut().enumerate() {
            samples.resize(block_end - block_start, 0);
            audio.read_frames(channel_idx, block_start, samples)?;
        }
        for &(channel, first, last) in &ranges {
            let (first, last) = (first.max(block_start), last.min(block_end));
            if first < last {
                mask_samples(&mut channels[channel][first - block_start..last - block_start], first, rate, config.audio);
            }
        }
        bytes.clear();
        for frame_idx in 0..block_end - block_start {
            for samples in &channels {
                bytes.extend_from_slice(&samples[frame_idx].to_le_bytes());
            }
        }
        out.write_all(&bytes).map_err(write_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
