//! The call report, version 1: the JSON that `callsight analyze --format json` prints and the API
//! serves. Fields are only ever added; see `docs/report-schema.md`.

use callsight_pipeline::analyze::{CallAnalysis, Flag};
use callsight_pipeline::compliance::ComplianceResult;
use callsight_pipeline::sentiment::{PartySentiment, SentimentTrajectory};
use callsight_pipeline::types::{CallMetrics, PartyMetrics, Sentiment, TimeSpan, Turn, Word};
use serde::{Deserialize, Serialize};

pub const REPORT_SCHEMA_VERSION: &str = "callsight.report.v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallReport {
    pub schema: String,
    /// The file or upload name the report is about.
    pub source: String,
    pub duration_secs: f64,
    pub sample_rate_hz: u32,
    pub n_channels: usize,
    /// `agent_customer`, `customer_agent` or `mixed`.
    pub channel_layout: String,
    pub language: String,
    pub models: ModelsUsed,
    pub turns: Vec<TurnReport>,
    pub sentiment: SentimentReport,
    pub compliance: Option<ComplianceResult>,
    pub metrics: MetricsReport,
    pub flags: Vec<FlagReport>,
    pub speech: Vec<PartySpeechReport>,
    pub timings: TimingsReport,
    /// What was redacted (type, party, times; never the value); empty when redaction is off.
    #[serde(default)]
    pub redactions: Vec<RedactionReport>,
    /// PCI pauses of a live stream (`pause` … `resume`): audio replaced by silence, never stored
    /// or transcribed.
    #[serde(default)]
    pub pauses: Vec<SpanReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RedactionReport {
    /// `card`, `cvv`, `expiry`, `account`, `dob`, `phone`, `email`, `national_id`, `address`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `agent`, `customer` or `unknown`.
    pub speaker: String,
    pub start_secs: f64,
    pub end_secs: f64,
    /// The turn of the placeholder and its index in that turn's `words`.
    pub turn_index: usize,
    pub word_index: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelsUsed {
    pub transcriber: String,
    pub sentiment: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SentimentScore {
    /// `positive`, `neutral` or `negative`.
    pub label: String,
    /// -1 (negative) .. +1 (positive).
    pub score: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WordReport {
    pub text: String,
    pub start_secs: f64,
    pub end_secs: f64,
    pub confidence: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TurnReport {
    /// `agent`, `customer` or `unknown`.
    pub speaker: String,
    pub start_secs: f64,
    pub end_secs: f64,
    pub text: String,
    pub sentiment: Option<SentimentScore>,
    pub words: Vec<WordReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartySentimentReport {
    pub label: String,
    pub score: f32,
    pub n_turns: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrajectoryReport {
    pub start: PartySentimentReport,
    pub end: PartySentimentReport,
    pub change: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SentimentReport {
    pub agent: Option<PartySentimentReport>,
    pub customer: Option<PartySentimentReport>,
    pub unknown: Option<PartySentimentReport>,
    pub customer_trajectory: Option<TrajectoryReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpanReport {
    pub start_secs: f64,
    pub end_secs: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartyMetricsReport {
    pub talk_secs: f64,
    pub talk_ratio: f64,
    pub words_per_minute: f64,
    pub interruptions: u32,
    pub loudness_dbfs: f64,
    pub clipping_ratio: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricsReport {
    pub duration_secs: f64,
    pub agent: PartyMetricsReport,
    pub customer: PartyMetricsReport,
    pub unknown: PartyMetricsReport,
    pub non_talk_secs: f64,
    pub longest_silence_secs: f64,
    pub longest_silence: Option<SpanReport>,
    pub talk_over_secs: f64,
    pub talk_over_count: u32,
    pub holds: Vec<SpanReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlagReport {
    pub kind: String,
    pub severity: String,
    pub rule_id: Option<String>,
    pub reason: String,
    pub start_secs: Option<f64>,
    pub end_secs: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartySpeechReport {
    pub speaker: String,
    pub net_speech_secs: f64,
    pub segments: Vec<SpanReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TimingsReport {
    pub decode_secs: f64,
    pub resample_secs: f64,
    pub vad_secs: f64,
    pub transcribe_secs: f64,
    pub sentiment_secs: f64,
    pub compliance_secs: f64,
    pub metrics_secs: f64,
    pub total_secs: f64,
    /// Processing time divided by audio duration: below 1 is faster than real time.
    pub real_time_factor: f64,
}

fn label_text<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn span(span: &TimeSpan) -> SpanReport {
    SpanReport { start_secs: span.start_secs, end_secs: span.end_secs }
}

fn sentiment_score(sentiment: &Sentiment) -> SentimentScore {
    SentimentScore { label: label_text(&sentiment.label), score: sentiment.score }
}

fn party_sentiment(sentiment: &PartySentiment) -> PartySentimentReport {
    PartySentimentReport { label: label_text(&sentiment.label), score: sentiment.score, n_turns: sentiment.n_turns }
}

fn trajectory(trajectory: &SentimentTrajectory) -> TrajectoryReport {
    TrajectoryReport {
        start: party_sentiment(&trajectory.start),
        end: party_sentiment(&trajectory.end),
        change: trajectory.change,
    }
}

fn word(word: &Word) -> WordReport {
    WordReport { text: word.text.clone(), start_secs: word.start_secs, end_secs: word.end_secs, confidence: word.confidence }
}

fn turn(turn: &Turn) -> TurnReport {
    TurnReport {
        speaker: turn.speaker.as_str().to_string(),
        start_secs: turn.start_secs,
        end_secs: turn.end_secs,
        text: turn.text.clone(),
        sentiment: turn.sentiment.as_ref().map(sentiment_score),
        words: turn.words.iter().map(word).collect(),
    }
}

fn party_metrics(metrics: &PartyMetrics, duration_secs: f64) -> PartyMetricsReport {
    PartyMetricsReport {
        talk_secs: metrics.talk_secs,
        talk_ratio: if duration_secs > 0.0 { metrics.talk_secs / duration_secs } else { 0.0 },
        words_per_minute: metrics.words_per_minute,
        interruptions: metrics.interruptions,
        loudness_dbfs: metrics.loudness_dbfs,
        clipping_ratio: metrics.clipping_ratio,
    }
}

fn metrics(metrics: &CallMetrics) -> MetricsReport {
    MetricsReport {
        duration_secs: metrics.duration_secs,
        agent: party_metrics(&metrics.agent, metrics.duration_secs),
        customer: party_metrics(&metrics.customer, metrics.duration_secs),
        unknown: party_metrics(&metrics.unknown, metrics.duration_secs),
        non_talk_secs: metrics.non_talk_secs,
        longest_silence_secs: metrics.longest_silence_secs,
        longest_silence: metrics.longest_silence.as_ref().map(span),
        talk_over_secs: metrics.talk_over_secs,
        talk_over_count: metrics.talk_over_count,
        holds: metrics.holds.iter().map(span).collect(),
    }
}

fn flag(flag: &Flag) -> FlagReport {
    FlagReport {
        kind: flag.kind.clone(),
        severity: label_text(&flag.severity),
        rule_id: flag.rule_id.clone(),
        reason: flag.reason.clone(),
        start_secs: flag.start_secs,
        end_secs: flag.end_secs,
    }
}

impl CallReport {
    /// `decode_secs` is measured by the caller, which owns decoding.
    pub fn from_analysis(source: &str, analysis: &CallAnalysis, decode_secs: f64, total_secs: f64) -> Self {
        let timings = &analysis.timings;
        CallReport {
            schema: REPORT_SCHEMA_VERSION.to_string(),
            source: source.to_string(),
            duration_secs: analysis.duration_secs,
            sample_rate_hz: analysis.sample_rate_hz,
            n_channels: analysis.n_channels,
            channel_layout: label_text(&analysis.channel_layout),
            language: analysis.language.clone(),
            models: ModelsUsed {
                transcriber: analysis.transcriber_model.clone(),
                sentiment: analysis.sentiment_model.clone(),
            },
            turns: analysis.turns.iter().map(turn).collect(),
            sentiment: SentimentReport {
                agent: analysis.sentiment.agent.as_ref().map(party_sentiment),
                customer: analysis.sentiment.customer.as_ref().map(party_sentiment),
                unknown: analysis.sentiment.unknown.as_ref().map(party_sentiment),
                customer_trajectory: analysis.sentiment.customer_trajectory.as_ref().map(trajectory),
            },
            compliance: analysis.compliance.clone(),
            metrics: metrics(&analysis.metrics),
            flags: analysis.flags.iter().map(flag).collect(),
            speech: analysis
                .speech
                .iter()
                .map(|party| PartySpeechReport {
                    speaker: party.speaker.as_str().to_string(),
                    net_speech_secs: party.segments.iter().map(TimeSpan::duration_secs).sum(),
                    segments: party.segments.iter().map(span).collect(),
                })
                .collect(),
            timings: TimingsReport {
                decode_secs,
                resample_secs: timings.resample_secs,
                vad_secs: timings.vad_secs,
                transcribe_secs: timings.transcribe_secs,
                sentiment_secs: timings.sentiment_secs,
                compliance_secs: timings.compliance_secs,
                metrics_secs: timings.metrics_secs,
                total_secs,
                real_time_factor: if analysis.duration_secs > 0.0 { total_secs / analysis.duration_secs } else { 0.0 },
            },
            redactions: analysis
                .redactions
                .iter()
                .map(|span| RedactionReport {
                    kind: span.kind.as_str().to_string(),
                    speaker: span.speaker.as_str().to_string(),
                    start_secs: span.start_secs,
                    end_secs: span.end_secs,
                    turn_index: span.turn_index,
                    word_index: span.word_index,
                })
                .collect(),
            pauses: Vec::new(),
        }
    }
}
