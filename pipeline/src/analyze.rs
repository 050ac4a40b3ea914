//! One call, end to end: parties → 16 kHz → voice activity → transcription → turns → sentiment,
//! metrics, compliance, flags. Engines come in as trait objects so batch jobs, workers and live
//! streams share this code.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::audio::{BlockResampler, CallAudio, ChannelSignal, ResampledRanges};
use crate::biometrics::{DiarizeConfig, diarize_ranges};
use crate::speaker::SpeakerEmbedder;
use crate::chunking::plan_speech_chunks;
use crate::compliance::{ComplianceResult, MatchConfig, Script, evaluate_script};
use crate::engines::{SentimentScorer, TextEmbedder, TranscribeOptions, Transcriber, VoiceActivityDetector};
use crate::error::{PipelineError, Result};
use crate::hallucination::{HallucinationConfig, screen_segment};
use crate::metrics::{MetricsConfig, PartyActivity, compute_metrics, measure_levels};
use crate::sentiment::{CallSentiment, call_sentiment};
use crate::types::{CallMetrics, PIPELINE_SAMPLE_RATE_HZ, Speaker, TimeSpan, TranscriptSegment, Turn, Word};
use crate::vad::{VadConfig, pad_segments, speech_segments};

/// Which channel is which party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelLayout {
    /// Channel 0 is the agent, channel 1 the customer (the usual recorder default).
    AgentCustomer,
    CustomerAgent,
    /// All channels mixed into one; speakers are `unknown` until diarization.
    Mixed,
}

impl FromStr for ChannelLayout {
    type Err = PipelineError;
    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().replace(' ', "").as_str() {
            "agent,customer" => Ok(Self::AgentCustomer),
            "customer,agent" => Ok(Self::CustomerAgent),
            "mixed" | "mono" => Ok(Self::Mixed),
            other => Err(PipelineError::InvalidOption(format!(
                "channel layout {other:?}: expected \"agent,customer\", \"customer,agent\" or \"mixed\""
            ))),
        }
    }
}

/// The models one analysis uses; loaded once by the binary and shared by every job.
#[derive(Clone)]
pub struct AnalysisEngines {
    pub vad: Arc<dyn VoiceActivityDetector>,
    pub transcriber: Arc<dyn Transcriber>,
    pub sentiment: Arc<dyn SentimentScorer>,
    /// Semantic phrase matching for compliance; fuzzy matching alone without it.
    pub text_embedder: Option<Arc<dyn TextEmbedder>>,
    /// Voice embeddings to diarize mono calls into agent and customer; mono turns stay
    /// `unknown` without it.
    pub speaker_embedder: Option<Arc<dyn SpeakerEmbedder>>,
}

#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    pub channel_layout: Option<ChannelLayout>,
    /// ISO 639-1 hint; `None` detects per party.
    pub language: Option<String>,
    /// Detection chooses only among these ISO 639-1 codes (empty: any).
    pub allowed_languages: Vec<String>,
    pub script: Option<Script>,
    pub vad: VadConfig,
    pub hallucination: HallucinationConfig,
    pub metrics: MetricsConfig,
    pub matching: MatchConfig,
    pub diarization: DiarizeConfig,
    /// The agent's enrolled voiceprint (same embedder), to name the agent on mono calls.
    pub agent_voiceprint: Option<Vec<f32>>,
}

/// Seconds spent in each stage, to see where the time goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    pub resample_secs: f64,
    pub vad_secs: f64,
    /// Telling the voices of a mono call apart (0 for stereo calls).
    #[serde(default)]
    pub diarize_secs: f64,
    pub transcribe_secs: f64,
    pub sentiment_secs: f64,
    pub compliance_secs: f64,
    pub metrics_secs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagSeverity {
    Low,
    Medium,
    High,
}

/// Something a QA reviewer should look at, with where to look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// `rule_failed`, `long_silence`, `long_hold`, `customer_negative`.
    pub kind: String,
    pub severity: FlagSeverity,
    pub rule_id: Option<String>,
    pub reason: String,
    pub start_secs: Option<f64>,
    pub end_secs: Option<f64>,
}

/// Everything learned about one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallAnalysis {
    pub duration_secs: f64,
    pub sample_rate_hz: u32,
    pub n_channels: usize,
    pub channel_layout: ChannelLayout,
    /// The language spoken most, by net speech.
    pub language: String,
    pub transcriber_model: String,
    pub sentiment_model: String,
    pub turns: Vec<Turn>,
    pub sentiment: CallSentiment,
    pub compliance: Option<ComplianceResult>,
    pub metrics: CallMetrics,
    pub flags: Vec<Flag>,
    /// Net speech per party after voice activity detection.
    pub speech: Vec<PartySpeech>,
    pub timings: StageTimings,
    /// What [`crate::redaction::redact_analysis`] replaced (empty when redaction is off).
    #[serde(default)]
    pub redactions: Vec<crate::redaction::RedactionSpan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartySpeech {
    pub speaker: Speaker,
    pub segments: Vec<TimeSpan>,
}

/// Progress within one call: `(stage, done, total)`.
pub type ProgressFn<'a> = &'a (dyn Fn(&str, usize, usize) + Sync);

struct Party<'a> {
    speaker: Speaker,
    signal: ChannelSignal<'a>,
}

fn split_parties(audio: &dyn CallAudio, layout: ChannelLayout) -> Vec<Party<'_>> {
    let channel = |idx: usize| ChannelSignal::channel(audio, idx);
    match (audio.n_channels(), layout) {
        (n, ChannelLayout::AgentCustomer) if n >= 2 => vec![
            Party { speaker: Speaker::Agent, signal: channel(0) },
            Party { speaker: Speaker::Customer, signal: channel(1) },
        ],
        (n, ChannelLayout::CustomerAgent) if n >= 2 => vec![
            Party { speaker: Speaker::Agent, signal: channel(1) },
            Party { speaker: Speaker::Customer, signal: channel(0) },
        ],
        _ => vec![Party { speaker: Speaker::Unknown, signal: ChannelSignal::mixed(audio) }],
    }
}

/// Input frames resampled at once when a party is streamed: 30 s at 8 kHz, 5 s at 48 kHz.
const RESAMPLE_BLOCK_FRAMES: usize = 240_000;

pub fn analyze_call(
    audio: &dyn CallAudio,
    options: &AnalyzeOptions,
    engines: &AnalysisEngines,
    progress: ProgressFn<'_>,
) -> Result<CallAnalysis> {
    let duration_secs = audio.duration_secs();
    let layout = options.channel_layout.unwrap_or(if audio.n_channels() >= 2 {
        ChannelLayout::AgentCustomer
    } else {
        ChannelLayout::Mixed
    });
    let parties = split_parties(audio, layout);
    let mut timings = StageTimings::default();
    let mut segments: Vec<TranscriptSegment> = Vec::new();
    let mut speech_per_party: Vec<PartySpeech> = Vec::new();
    let mut seconds_per_language: Vec<(String, f64)> = Vec::new();
    // Mono calls told apart by voice: (span, speaker) for each stretch of speech.
    let mut diarized_speech: Option<Vec<(TimeSpan, Speaker)>> = None;

    for party in &parties {
        // The party's 16 kHz signal is made block by block, once per pass that reads it (voice
        // activity, diarization of a mono call, the speech chunks), so no full-length 16 kHz
        // copy of a long call is ever held: memory follows the block and the chunk, not the call.
        let resampled = || ResampledRanges::new(&party.signal, audio.sample_rate_hz(), PIPELINE_SAMPLE_RATE_HZ, RESAMPLE_BLOCK_FRAMES);
        let started = Instant::now();
        let mut resample_secs = 0.0;
        let mut blocks = BlockResampler::new(&party.signal, audio.sample_rate_hz(), PIPELINE_SAMPLE_RATE_HZ, RESAMPLE_BLOCK_FRAMES)?;
        let mut n_samples_16k = 0;
        let probabilities = engines.vad.speech_probabilities_of_blocks(&mut || {
            let started = Instant::now();
            let block = blocks.next_block()?;
            resample_secs += started.elapsed().as_secs_f64();
            n_samples_16k += block.as_ref().map_or(0, Vec::len);
            Ok(block)
        })?;
        let speech = speech_segments(&probabilities, duration_secs, &options.vad);
        let padded = pad_segments(&speech, options.vad.speech_pad_secs, duration_secs);
        timings.vad_secs += started.elapsed().as_secs_f64() - resample_secs;
        timings.resample_secs += resample_secs;

        // One mixed channel: tell the voices apart so turns and metrics are per party.
        let speaker_spans = match (&engines.speaker_embedder, party.speaker) {
            (Some(embedder), Speaker::Unknown) if !speech.is_empty() => {
                let started = Instant::now();
                progress("diarizing", 0, 1);
                let mut signal_16k = resampled()?;
                let spans = diarize_ranges(
                    n_samples_16k,
                    &mut |start_idx, end_idx, out| signal_16k.copy_range(start_idx, end_idx, out),
                    &speech,
                    embedder.as_ref(),
                    options.agent_voiceprint.as_deref(),
                    &options.diarization,
                )?;
                timings.diarize_secs += started.elapsed().as_secs_f64();
                spans
            }
            _ => Vec::new(),
        };
        if speaker_spans.iter().any(|(_, speaker)| *speaker != Speaker::Unknown) {
            diarized_speech = Some(speaker_spans.clone());
        }

        let started = Instant::now();
        let plans = plan_speech_chunks(n_samples_16k, &padded);
        let mut signal_16k = resampled()?;
        let mut previous_text: Option<String> = None;
        for (chunk_idx, plan) in plans.iter().enumerate() {
            progress(&format!("transcribing {}", party.speaker.as_str()), chunk_idx, plans.len());
            // One chunk of audio at a time: filled now, dropped after it is transcribed.
            let chunk = plan.fill(|start_idx, end_idx, out| signal_16k.copy_range(start_idx, end_idx, out))?;
            let transcribe_options = TranscribeOptions {
                language: options.language.clone(),
                allowed_languages: options.allowed_languages.clone(),
                initial_prompt: previous_text.take(),
                fit_encoder_to_audio: false,
                threads: None,
                max_tokens_per_audio_sec: None,
                single_decode: false,
            };
            let recognition = engines.transcriber.transcribe(&chunk.samples_16k, &transcribe_options)?;
            let chunk_speech_secs: f64 = chunk.pieces.iter().map(|p| p.call_span.duration_secs()).sum();
            match seconds_per_language.iter_mut().find(|(l, _)| *l == recognition.language) {
                Some((_, secs)) => *secs += chunk_speech_secs,
                None => seconds_per_language.push((recognition.language.clone(), chunk_speech_secs)),
            }
            let mut chunk_text = Vec::new();
            for mut recognised in recognition.segments {
                if let Err(rejection) = screen_segment(&mut recognised, &options.hallucination) {
                    tracing::debug!(?rejection, text = %recognised.text, "dropped recognised segment");
                    continue;
                }
                let words: Vec<Word> = recognised
                    .words
                    .into_iter()
                    .map(|word| {
                        let (start_secs, end_secs) = chunk.span_to_call_secs(word.start_secs, word.end_secs);
                        Word { start_secs, end_secs, ..word }
                    })
                    .collect();
                if words.is_empty() {
                    continue;
                }
                chunk_text.push(recognised.text.clone());
                if speaker_spans.is_empty() {
                    segments.push(TranscriptSegment {
                        speaker: party.speaker,
                        start_secs: words.first().map_or(0.0, |w| w.start_secs),
                        end_secs: words.last().map_or(0.0, |w| w.end_secs),
                        text: recognised.text,
                        words,
                        language: recognition.language.clone(),
                    });
                } else {
                    segments.extend(split_by_speaker(words, &speaker_spans, &recognition.language));
                }
            }
            // Context carry-over helps names and spelling; a long prompt only invites loops.
            let joined = chunk_text.join(" ");
            previous_text = (!joined.is_empty()).then(|| last_chars(&joined, 200));
        }
        timings.transcribe_secs += started.elapsed().as_secs_f64();
        speech_per_party.push(PartySpeech { speaker: party.speaker, segments: speech });
    }

    let language = seconds_per_language
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(language, _)| language)
        .unwrap_or_else(|| options.language.clone().unwrap_or_default());
    let transcribed = Transcribed {
        parties,
        layout,
        segments,
        speech_per_party,
        diarized_speech,
        language,
        transcriber_model: engines.transcriber.model_name().to_string(),
        timings,
    };
    complete_analysis(audio, transcribed, options, engines, progress)
}

/// A transcript made elsewhere (a live stream) for the audio being analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownTranscript {
    /// Segments with speakers and word timings on the call timeline.
    pub segments: Vec<TranscriptSegment>,
    /// Net speech per party (unpadded VAD spans).
    pub speech: Vec<PartySpeech>,
    pub language: String,
    pub transcriber_model: String,
}

/// Analyses a call whose transcript is already known (a live stream's finals): turns, sentiment,
/// metrics, compliance and flags as [`analyze_call`], without voice activity detection or
/// transcription.
pub fn analyze_with_transcript(
    audio: &dyn CallAudio,
    transcript: KnownTranscript,
    options: &AnalyzeOptions,
    engines: &AnalysisEngines,
    progress: ProgressFn<'_>,
) -> Result<CallAnalysis> {
    let layout = options.channel_layout.unwrap_or(if audio.n_channels() >= 2 {
        ChannelLayout::AgentCustomer
    } else {
        ChannelLayout::Mixed
    });
    let transcribed = Transcribed {
        parties: split_parties(audio, layout),
        layout,
        segments: transcript.segments,
        speech_per_party: transcript.speech,
        diarized_speech: None,
        language: transcript.language,
        transcriber_model: transcript.transcriber_model,
        timings: StageTimings::default(),
    };
    complete_analysis(audio, transcribed, options, engines, progress)
}

/// What transcription produced, for the stages after it.
struct Transcribed<'a> {
    parties: Vec<Party<'a>>,
    layout: ChannelLayout,
    segments: Vec<TranscriptSegment>,
    speech_per_party: Vec<PartySpeech>,
    diarized_speech: Option<Vec<(TimeSpan, Speaker)>>,
    language: String,
    transcriber_model: String,
    timings: StageTimings,
}

fn complete_analysis(
    audio: &dyn CallAudio,
    transcribed: Transcribed<'_>,
    options: &AnalyzeOptions,
    engines: &AnalysisEngines,
    progress: ProgressFn<'_>,
) -> Result<CallAnalysis> {
    let Transcribed { parties, layout, segments, mut speech_per_party, diarized_speech, language, transcriber_model, mut timings } =
        transcribed;
    let duration_secs = audio.duration_secs();
    let mut turns = crate::turns::merge_into_turns(&segments);

    let started = Instant::now();
    progress("sentiment", 0, 1);
    let texts: Vec<&str> = turns.iter().map(|t| t.text.as_str()).collect();
    let sentiments = if texts.is_empty() { Vec::new() } else { engines.sentiment.score(&texts)? };
    if sentiments.len() != turns.len() {
        return Err(PipelineError::Engine {
            engine: "sentiment",
            reason: format!("returned {} scores for {} turns", sentiments.len(), turns.len()),
        });
    }
    for (turn, sentiment) in turns.iter_mut().zip(sentiments) {
        turn.sentiment = Some(sentiment);
    }
    let sentiment = call_sentiment(&turns);
    timings.sentiment_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    if let (Some(spans), [mono]) = (&diarized_speech, parties.as_slice()) {
        speech_per_party = [Speaker::Agent, Speaker::Customer]
            .into_iter()
            .map(|speaker| PartySpeech {
                speaker,
                segments: spans.iter().filter(|(_, s)| *s == speaker).map(|(span, _)| *span).collect(),
            })
            .filter(|party| !party.segments.is_empty())
            .collect();
        debug_assert_eq!(mono.speaker, Speaker::Unknown);
    }
    let signal_of = |speaker: Speaker| match parties.iter().find(|p| p.speaker == speaker) {
        Some(party) => party.signal,
        // Diarized mono call: both parties share the one channel.
        None => parties.first().map_or_else(|| ChannelSignal::mixed(audio), |p| p.signal),
    };
    let activities = speech_per_party
        .iter()
        .map(|speech| {
            Ok(PartyActivity {
                speaker: speech.speaker,
                speech: &speech.segments,
                n_words: turns.iter().filter(|t| t.speaker == speech.speaker).map(|t| t.words.len()).sum(),
                levels: measure_levels(&signal_of(speech.speaker), audio.sample_rate_hz(), &speech.segments, options.metrics.clipping_level)?,
            })
        })
        .collect::<Result<Vec<PartyActivity<'_>>>>()?;
    let metrics = compute_metrics(duration_secs, &activities, &options.metrics);
    timings.metrics_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let compliance = match &options.script {
        Some(script) => {
            progress("compliance", 0, 1);
            Some(evaluate_script(
                script,
                &turns,
                &metrics,
                duration_secs,
                engines.text_embedder.as_deref(),
                &options.matching,
            )?)
        }
        None => None,
    };
    timings.compliance_secs = started.elapsed().as_secs_f64();

    let flags = flags_for(compliance.as_ref(), &metrics, &sentiment);
    Ok(CallAnalysis {
        duration_secs,
        sample_rate_hz: audio.sample_rate_hz(),
        n_channels: audio.n_channels(),
        channel_layout: layout,
        language,
        transcriber_model,
        sentiment_model: engines.sentiment.model_name().to_string(),
        turns,
        sentiment,
        compliance,
        metrics,
        flags,
        speech: speech_per_party,
        timings,
        redactions: Vec::new(),
    })
}

/// Splits one recognised segment where the diarized speaker changes; each word goes to the
/// speaker whose span holds its midpoint (or the nearest span).
fn split_by_speaker(words: Vec<Word>, spans: &[(TimeSpan, Speaker)], language: &str) -> Vec<TranscriptSegment> {
    let speaker_at = |secs: f64| -> Speaker {
        spans
            .iter()
            .min_by(|(a, _), (b, _)| distance_to(a, secs).total_cmp(&distance_to(b, secs)))
            .map_or(Speaker::Unknown, |(_, speaker)| *speaker)
    };
    let mut segments: Vec<TranscriptSegment> = Vec::new();
    for word in words {
        let speaker = speaker_at(0.5 * (word.start_secs + word.end_secs));
        match segments.last_mut() {
            Some(segment) if segment.speaker == speaker => {
                segment.end_secs = word.end_secs;
                segment.words.push(word);
            }
            _ => segments.push(TranscriptSegment {
                speaker,
                start_secs: word.start_secs,
                end_secs: word.end_secs,
                text: String::new(),
                words: vec![word],
                language: language.to_string(),
            }),
        }
    }
    for segment in &mut segments {
        segment.text = segment.words.iter().map(|w| w.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
    }
    segments
}

fn distance_to(span: &TimeSpan, secs: f64) -> f64 {
    if secs < span.start_secs {
        span.start_secs - secs
    } else if secs > span.end_secs {
        secs - span.end_secs
    } else {
        0.0
    }
}

/// Flag kinds [`flags_for`] raises whatever the script.
const SCRIPT_INDEPENDENT_KINDS: [&str; 2] = ["long_hold", "customer_negative"];

/// Scores an analysed call against another script (or script version) without transcribing it
/// again: compliance and the flags that depend on it are replaced, everything else is kept.
pub fn rescore(
    analysis: &mut CallAnalysis,
    script: &Script,
    text_embedder: Option<&dyn TextEmbedder>,
    matching: &MatchConfig,
) -> Result<()> {
    let started = Instant::now();
    let compliance =
        evaluate_script(script, &analysis.turns, &analysis.metrics, analysis.duration_secs, text_embedder, matching)?;
    // Flags raised outside this crate (e.g. a watchlist hit) do not depend on the script.
    let external: Vec<Flag> = analysis.flags.drain(..).filter(|f| !SCRIPT_INDEPENDENT_KINDS.contains(&f.kind.as_str()) && f.kind != "rule_failed").collect();
    analysis.flags = flags_for(Some(&compliance), &analysis.metrics, &analysis.sentiment);
    analysis.flags.extend(external);
    analysis.compliance = Some(compliance);
    analysis.timings.compliance_secs = started.elapsed().as_secs_f64();
    Ok(())
}

fn last_chars(text: &str, n_chars: usize) -> String {
    let n_total = text.chars().count();
    text.chars().skip(n_total.saturating_sub(n_chars)).collect()
}

/// Flags raised without a script: a hold and a customer leaving unhappy always deserve a look.
fn flags_for(compliance: Option<&ComplianceResult>, metrics: &CallMetrics, sentiment: &CallSentiment) -> Vec<Flag> {
    let mut flags = Vec::new();
    if let Some(compliance) = compliance {
        for rule in compliance.rules.iter().filter(|r| !r.passed) {
            let first_evidence = rule.evidence.first();
            flags.push(Flag {
                kind: "rule_failed".into(),
                severity: severity_of(rule),
                rule_id: Some(rule.id.clone()),
                reason: rule.reason.clone(),
                start_secs: first_evidence.map(|e| e.start_secs),
                end_secs: first_evidence.map(|e| e.end_secs),
            });
        }
    }
    for hold in &metrics.holds {
        flags.push(Flag {
            kind: "long_hold".into(),
            severity: FlagSeverity::Low,
            rule_id: None,
            reason: format!("{:.0} s without speech from {:.1} s", hold.duration_secs(), hold.start_secs),
            start_secs: Some(hold.start_secs),
            end_secs: Some(hold.end_secs),
        });
    }
    if let Some(trajectory) = &sentiment.customer_trajectory
        && trajectory.end.label == crate::types::SentimentLabel::Negative
    {
        flags.push(Flag {
            kind: "customer_negative".into(),
            severity: FlagSeverity::Medium,
            rule_id: None,
            reason: format!(
                "customer sentiment at the end is negative ({:.2}, from {:.2} at the start)",
                trajectory.end.score, trajectory.start.score
            ),
            start_secs: None,
            end_secs: None,
        });
    }
    flags
}

fn severity_of(rule: &crate::compliance::RuleOutcome) -> FlagSeverity {
    match rule.severity {
        crate::compliance::Severity::Low => FlagSeverity::Low,
        crate::compliance::Severity::Medium => FlagSeverity::Medium,
        crate::compliance::Severity::High => FlagSeverity::High,
    }
}
