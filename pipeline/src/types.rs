//! Domain types shared by every stage: parties, segments, words, turns, sentiment.

use serde::{Deserialize, Serialize};

/// Pipeline sample rate: Whisper, Silero VAD and CAM++ all expect 16 kHz mono.
pub const PIPELINE_SAMPLE_RATE_HZ: u32 = 16_000;

/// Who is speaking. Mono calls are `Unknown` until diarization assigns parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Agent,
    Customer,
    Unknown,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Agent => "agent",
            Speaker::Customer => "customer",
            Speaker::Unknown => "unknown",
        }
    }
}

/// A stretch of audio time, in seconds from the start of the call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeSpan {
    pub start_secs: f64,
    pub end_secs: f64,
}

impl TimeSpan {
    pub fn duration_secs(&self) -> f64 {
        (self.end_secs - self.start_secs).max(0.0)
    }
    pub fn overlap_secs(&self, other: &TimeSpan) -> f64 {
        (self.end_secs.min(other.end_secs) - self.start_secs.max(other.start_secs)).max(0.0)
    }
}

/// One recognised word with its timing and the recogniser's confidence (0..1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub text: String,
    pub start_secs: f64,
    pub end_secs: f64,
    pub confidence: f32,
}

/// A transcribed stretch of one party's speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptSegment {
    pub speaker: Speaker,
    pub start_secs: f64,
    pub end_secs: f64,
    pub text: String,
    pub words: Vec<Word>,
    /// ISO 639-1 code detected by the recogniser, e.g. "en", "ru".
    pub language: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    Positive,
    Neutral,
    Negative,
}

/// Sentiment of a text: a label and a score in -1 (negative) .. +1 (positive).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub label: SentimentLabel,
    pub score: f32,
}

/// One uninterrupted contribution by one speaker on the call timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub speaker: Speaker,
    pub start_secs: f64,
    pub end_secs: f64,
    pub text: String,
    pub words: Vec<Word>,
    pub sentiment: Option<Sentiment>,
}

/// Acoustic facts of one party.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartyMetrics {
    pub talk_secs: f64,
    pub words_per_minute: f64,
    /// Interruptions this party made: started talking while the other party was mid-turn.
    pub interruptions: u32,
    /// RMS loudness of the party's speech in dBFS.
    pub loudness_dbfs: f64,
    /// Fraction of the party's samples at or near full scale (0..1).
    pub clipping_ratio: f64,
}

/// Acoustic facts of a whole call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallMetrics {
    pub duration_secs: f64,
    pub agent: PartyMetrics,
    pub customer: PartyMetrics,
    /// Used for mono calls before diarization.
    pub unknown: PartyMetrics,
    /// Time when nobody speaks.
    pub non_talk_secs: f64,
    pub longest_silence_secs: f64,
    /// Where the longest silence is, for evidence.
    pub longest_silence: Option<TimeSpan>,
    pub talk_over_secs: f64,
    pub talk_over_count: u32,
    /// Silences of at least the hold threshold (a party on hold), as time spans.
    pub holds: Vec<TimeSpan>,
}
