//! One live stream: bytes in, events out. Per channel: decode → resample (the batch stage,
//! chunk by chunk) → Silero VAD on new frames → endpointing and LocalAgreement commits → finals;
//! then turns with sentiment and live alerts across channels.
//!
//! Latency is bounded whatever the length of the call: a segment is finalised
//! `endpoint_silence_secs` after its speaker stops, and while someone talks without pausing the
//! window re-transcribed never exceeds `max_window_secs` (committed words leave the window and
//! become the prompt of the next pass). Partials are at most one re-transcription per channel
//! per call of [`StreamSession::push_bytes`] and at most one per `partial_interval_secs` of new
//! audio: a stream that falls behind skips partials, never finals.

use serde::{Deserialize, Serialize};

use super::alerts::{AlertConfig, LiveAlert, LiveAlerts};
use super::commit::{agreed_prefix_len, drop_repeated_prefix, n_words_ending_before, words_after};
use super::decode::{SampleDecoder, SampleEncoding};
use crate::analyze::{KnownTranscript, PartySpeech};
use crate::audio::StreamingResampler;
use crate::compliance::{MatchConfig, Script};
use crate::engines::{SentimentScorer, TranscribeOptions, Transcriber, VAD_FRAME_SAMPLES, VoiceActivityDetector};
use crate::error::{PipelineError, Result};
use crate::hallucination::{HallucinationConfig, screen_segment};
use crate::turns::{MAX_PAUSE_WITHIN_TURN_SECS, merge_into_turns};
use crate::types::{PIPELINE_SAMPLE_RATE_HZ, Speaker, TimeSpan, TranscriptSegment, Turn, Word};
use crate::vad::VadConfig;

const SAMPLE_RATE: f64 = PIPELINE_SAMPLE_RATE_HZ as f64;
const FRAME_SECS: f64 = VAD_FRAME_SAMPLES as f64 / SAMPLE_RATE;
/// Silero frames re-scored before the new ones so its recurrent state has context (about 1 s).
const VAD_CONTEXT_FRAMES: usize = 32;
/// New frames gathered before the VAD runs (128 ms): fewer, larger ONNX calls.
const VAD_BATCH_FRAMES: usize = 4;
/// whisper.cpp returns nothing for less than 1 s of audio; shorter windows get trailing silence.
const MIN_WHISPER_SAMPLES: usize = 19_200;
/// Words ending this close to the live edge may be cut off mid-word: never committed early.
const UNSTABLE_TAIL_SECS: f64 = 0.3;
/// Audio kept before the oldest sample a channel can still need (the open window's start, the
/// VAD's context): a margin for the speech padding of a segment that starts in the next frames.
const KEEP_MARGIN_SECS: f64 = 1.0;
/// 16 kHz audio is dropped from the front of a channel in steps of at least this much, so the
/// bounded buffer is moved rarely.
const TRIM_STEP_SECS: f64 = 10.0;
/// When the window is full, words up to this far before the live edge are committed anyway.
const FORCED_COMMIT_TAIL_SECS: f64 = 1.0;
/// A window that moves past committed words starts this much before their end: word ends from
/// DTW can be late, and the next word's onset must not be cut (its repetition of the committed
/// words is dropped).
const MOVED_WINDOW_OVERLAP_SECS: f64 = 0.25;
/// Characters of committed text carried into the next pass as the prompt (as in batch).
const PROMPT_CHARS: usize = 200;
/// A pass that brings more new audio than this many times `commit_after_secs` is a burst (a
/// stream catching up); in real time passes come every 0.5-1 s.
const BURST_SECS_PER_COMMIT_AFTER: f64 = 2.0;
/// Most Whisper tokens per second of a live window (beside a fixed allowance): fast speech has
/// about 5. A pass caught in a repetition loop stops there instead of decoding for seconds.
const MAX_TOKENS_PER_AUDIO_SEC: f32 = 7.0;

/// Settings of the streaming policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Thresholds and padding of the voice activity detector (as in batch analysis).
    pub vad: VadConfig,
    /// A segment is final once its speaker has been silent this long.
    pub endpoint_silence_secs: f64,
    /// Longest stretch of audio re-transcribed at once; bounds latency in long monologues.
    pub max_window_secs: f64,
    /// Committed words stay in the re-transcribed window (Whisper does better on whole
    /// phrases) until the window is this long; then it moves past them and they become the
    /// prompt. A pass costs time in proportion to its window, so this keeps passes short.
    pub keep_committed_secs: f64,
    /// Least new audio between two re-transcriptions of an open segment (partials).
    pub partial_interval_secs: f64,
    /// A word is committed once it ended this long before the live edge, even if two passes
    /// did not agree on it: agreement alone can wait for seconds while Whisper keeps changing
    /// its mind about the start of the window. Bounds a word's delay; 0 turns it off. (Audio
    /// that arrives in a burst is not old: its words wait for a second pass.)
    pub commit_after_secs: f64,
    pub hallucination: HallucinationConfig,
    pub alerts: AlertConfig,
    pub matching: MatchConfig,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            vad: VadConfig::default(),
            endpoint_silence_secs: 0.5,
            max_window_secs: 12.0,
            keep_committed_secs: 4.0,
            partial_interval_secs: 0.5,
            commit_after_secs: 1.0,
            hallucination: HallucinationConfig::default(),
            alerts: AlertConfig::default(),
            matching: MatchConfig::default(),
        }
    }
}

impl StreamConfig {
    pub fn validate(&self) -> Result<()> {
        let fail = |message: &str| Err(PipelineError::InvalidOption(message.to_string()));
        if !(0.1..=5.0).contains(&self.endpoint_silence_secs) {
            return fail("endpoint_silence_secs must be within 0.1..=5 s");
        }
        if !(3.0..=28.0).contains(&self.max_window_secs) {
            return fail("max_window_secs must be within 3..=28 s (whisper sees at most 30 s)");
        }
        if !(0.0..=self.max_window_secs).contains(&self.keep_committed_secs) {
            return fail("keep_committed_secs must be within 0..=max_window_secs");
        }
        if !(0.0..=self.max_window_secs).contains(&self.commit_after_secs) {
            return fail("commit_after_secs must be within 0..=max_window_secs (0: agreement only)");
        }
        if !(0.2..=10.0).contains(&self.partial_interval_secs) {
            return fail("partial_interval_secs must be within 0.2..=10 s");
        }
        self.matching.validate()
    }
}

/// What a stream is: its sample format, its parties, and what to check it against.
#[derive(Debug, Clone)]
pub struct StreamSetup {
    pub encoding: SampleEncoding,
    pub sample_rate_hz: u32,
    /// One party per channel; `Unknown` for a mixed channel.
    pub channels: Vec<Speaker>,
    pub script: Option<Script>,
    /// ISO 639-1 hint; `None` detects.
    pub language: Option<String>,
    pub allowed_languages: Vec<String>,
}

/// The models a stream uses; shared by every stream, borrowed per call.
#[derive(Clone, Copy)]
pub struct StreamEngines<'a> {
    pub vad: &'a dyn VoiceActivityDetector,
    pub transcriber: &'a dyn Transcriber,
    pub sentiment: &'a dyn SentimentScorer,
    /// Threads for this piece of work's Whisper passes; `None`: the transcriber's own number.
    pub whisper_threads: Option<usize>,
}

/// What a stream tells its client.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The current guess for the open segment of `speaker`; replaced by the next partial or final.
    Partial { speaker: Speaker, start_secs: f64, end_secs: f64, text: String },
    /// Committed words, never revised.
    Final(TranscriptSegment),
    /// A closed turn with its sentiment.
    Turn(Turn),
    Alert(LiveAlert),
}

/// Why a window is transcribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// While the speaker talks: words are committed when two passes agree or once they are
    /// `commit_after_secs` old.
    Partial,
    /// The speaker stopped: everything not yet committed is committed.
    Final,
}

/// The open (not yet final) speech of one channel.
#[derive(Debug)]
struct OpenSegment {
    /// Start of the audio re-transcribed; moves forward as words are committed.
    window_start_secs: f64,
    /// Uncommitted words of the previous pass (LocalAgreement compares against them).
    previous_hypothesis: Vec<Word>,
    /// Audio time of the last pass.
    last_pass_secs: f64,
}

struct ChannelState {
    speaker: Speaker,
    resampler: StreamingResampler,
    /// The channel at 16 kHz from sample `first_sample_idx` on: only what the live pipeline can
    /// still need (its window and the VAD's context), or all of it while `keep_all_audio`.
    samples_16k: Vec<f32>,
    /// Stream sample index (16 kHz) of `samples_16k[0]`: audio before it was dropped.
    first_sample_idx: usize,
    /// Keep the whole channel (live voice verification reads it); see
    /// [`StreamSession::keep_party_audio`].
    keep_all_audio: bool,
    n_frames_scored: usize,
    /// Hysteresis state of the VAD segmenter: where speech started, where a pause started.
    speech_start_secs: Option<f64>,
    pause_start_secs: Option<f64>,
    /// Unpadded speech spans that ended (for metrics and verification).
    speech: Vec<TimeSpan>,
    open: Option<OpenSegment>,
    committed_end_secs: f64,
    /// Committed text before the window (the prompt of the next pass), at most [`PROMPT_CHARS`].
    prompt: String,
    /// Committed text inside the window: it joins the prompt when the window moves past it.
    window_text: String,
    /// The last committed words, to drop a pass's repetition of them.
    committed_tail: Vec<Word>,
}

impl ChannelState {
    /// 16 kHz samples received on this channel so far.
    fn n_samples(&self) -> usize {
        self.first_sample_idx + self.samples_16k.len()
    }

    fn now_secs(&self) -> f64 {
        self.n_samples() as f64 / SAMPLE_RATE
    }

    /// Stream samples `start..end` (16 kHz indices) of what is still kept.
    fn samples(&self, start: usize, end: usize) -> &[f32] {
        let start = start.saturating_sub(self.first_sample_idx).min(self.samples_16k.len());
        let end = end.saturating_sub(self.first_sample_idx).clamp(start, self.samples_16k.len());
        &self.samples_16k[start..end]
    }

    fn window(&self, start_secs: f64, end_secs: f64) -> Vec<f32> {
        let start = (start_secs.max(0.0) * SAMPLE_RATE) as usize;
        let end = (end_secs.max(0.0) * SAMPLE_RATE).ceil() as usize;
        let mut samples = self.samples(start, end).to_vec();
        if samples.len() < MIN_WHISPER_SAMPLES {
            samples.resize(MIN_WHISPER_SAMPLES, 0.0);
        }
        samples
    }

    /// Drops the 16 kHz audio no later step can read, so a stream's memory does not grow with
    /// the length of the call: everything before the open window, the VAD's context and the
    /// padding of a segment that may start in the next frames (less a margin).
    fn drop_old_audio(&mut self, speech_pad_secs: f64) {
        if self.keep_all_audio {
            return;
        }
        let scored_secs = self.n_frames_scored as f64 * FRAME_SECS;
        let vad_context_secs = self.n_frames_scored.saturating_sub(VAD_CONTEXT_FRAMES) as f64 * FRAME_SECS;
        let mut keep_from_secs = vad_context_secs.min(scored_secs - speech_pad_secs);
        if let Some(open) = &self.open {
            keep_from_secs = keep_from_secs.min(open.window_start_secs);
        }
        let keep_from = ((keep_from_secs - KEEP_MARGIN_SECS).max(0.0) * SAMPLE_RATE) as usize;
        let n_droppable = keep_from.saturating_sub(self.first_sample_idx).min(self.samples_16k.len());
        if n_droppable as f64 >= TRIM_STEP_SECS * SAMPLE_RATE {
            self.samples_16k.drain(..n_droppable);
            self.first_sample_idx += n_droppable;
        }
    }
}

/// One live stream's state. Not thread-safe by design: one stream is processed by one thread
/// at a time, and streams share only the (thread-safe) engines.
pub struct StreamSession {
    config: StreamConfig,
    setup: StreamSetup,
    decoder: SampleDecoder,
    /// Sample frames received so far at the client's rate (the audio itself is not kept here:
    /// the caller stores it as it arrives, see [`StreamSession::decode`]).
    n_frames_received: u64,
    channels: Vec<ChannelState>,
    finals: Vec<TranscriptSegment>,
    n_turns_emitted: usize,
    alerts: LiveAlerts,
    seconds_per_language: Vec<(String, f64)>,
    /// Stream time when anybody's speech last ended.
    last_speech_end_secs: f64,
    /// Wall-clock seconds the last whisper pass took.
    last_pass_wall_secs: f64,
}

impl StreamSession {
    pub fn new(setup: StreamSetup, config: StreamConfig) -> Result<Self> {
        config.validate()?;
        if setup.channels.is_empty() || setup.channels.len() > 2 {
            return Err(PipelineError::InvalidOption(format!(
                "a stream has 1 or 2 channels, not {}",
                setup.channels.len()
            )));
        }
        if setup.channels.len() == 2 && setup.channels[0] == setup.channels[1] {
            return Err(PipelineError::InvalidOption(
                "the two channels must be different parties (agent and customer)".into(),
            ));
        }
        crate::audio::check_stream_format(setup.channels.len(), setup.sample_rate_hz)
            .map_err(PipelineError::InvalidOption)?;
        let channels = setup
            .channels
            .iter()
            .map(|&speaker| {
                Ok(ChannelState {
                    speaker,
                    resampler: StreamingResampler::new(setup.sample_rate_hz, PIPELINE_SAMPLE_RATE_HZ)?,
                    samples_16k: Vec::new(),
                    first_sample_idx: 0,
                    keep_all_audio: false,
                    n_frames_scored: 0,
                    speech_start_secs: None,
                    pause_start_secs: None,
                    speech: Vec::new(),
                    open: None,
                    committed_end_secs: 0.0,
                    prompt: String::new(),
                    window_text: String::new(),
                    committed_tail: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let alerts = LiveAlerts::new(setup.script.clone(), config.matching.clone(), config.alerts.clone());
        Ok(Self {
            decoder: SampleDecoder::new(setup.encoding, setup.channels.len()),
            n_frames_received: 0,
            channels,
            finals: Vec::new(),
            n_turns_emitted: 0,
            alerts,
            seconds_per_language: Vec::new(),
            last_speech_end_secs: 0.0,
            last_pass_wall_secs: 0.0,
            config,
            setup,
        })
    }

    /// Seconds of audio received so far.
    pub fn received_secs(&self) -> f64 {
        self.n_frames_received as f64 / f64::from(self.setup.sample_rate_hz)
    }

    pub fn sample_rate_hz(&self) -> u32 {
        self.setup.sample_rate_hz
    }

    pub fn n_channels(&self) -> usize {
        self.channels.len()
    }

    /// Keeps (or, with `false`, stops keeping) the whole 16 kHz channel of `speaker` for
    /// [`StreamSession::party_audio_16k`]; otherwise only the live window is kept.
    pub fn keep_party_audio(&mut self, speaker: Speaker, keep: bool) {
        let speech_pad_secs = self.config.vad.speech_pad_secs;
        for channel in self.channels.iter_mut().filter(|c| c.speaker == speaker) {
            channel.keep_all_audio = keep;
            channel.drop_old_audio(speech_pad_secs);
        }
    }

    /// The whole channel of `speaker` at 16 kHz from the start of the stream, with its speech
    /// spans (ended ones only); `None` when its start is no longer kept (see
    /// [`StreamSession::keep_party_audio`]).
    pub fn party_audio_16k(&self, speaker: Speaker) -> Option<(&[f32], &[TimeSpan])> {
        self.channels
            .iter()
            .find(|c| c.speaker == speaker && c.first_sample_idx == 0)
            .map(|c| (c.samples_16k.as_slice(), c.speech.as_slice()))
    }

    /// Net speech of `speaker` so far (ended segments).
    pub fn net_speech_secs(&self, speaker: Speaker) -> f64 {
        self.channels.iter().filter(|c| c.speaker == speaker).flat_map(|c| &c.speech).map(TimeSpan::duration_secs).sum()
    }

    /// Committed transcript so far.
    pub fn finals(&self) -> &[TranscriptSegment] {
        &self.finals
    }

    /// Takes the next piece of the stream (any number of bytes) and returns what it produced.
    pub fn push_bytes(&mut self, bytes: &[u8], engines: StreamEngines<'_>) -> Result<Vec<StreamEvent>> {
        let decoded = self.decode(bytes);
        self.push_decoded(&decoded, engines)
    }

    /// The first half of [`StreamSession::push_bytes`]: the whole sample frames in `bytes` (and
    /// the bytes held back from before), one `Vec` per channel at the client's rate. The caller
    /// stores them (the recording) and gives them to [`StreamSession::push_decoded`].
    pub fn decode(&mut self, bytes: &[u8]) -> Vec<Vec<f32>> {
        self.decoder.push(bytes)
    }

    /// The second half of [`StreamSession::push_bytes`]: runs the live pipeline on decoded
    /// samples (one `Vec` per channel, all of the same length).
    pub fn push_decoded(&mut self, decoded: &[Vec<f32>], engines: StreamEngines<'_>) -> Result<Vec<StreamEvent>> {
        if decoded.len() != self.channels.len() {
            return Err(PipelineError::InvalidOption(format!(
                "{} channels of samples for a stream of {}",
                decoded.len(),
                self.channels.len()
            )));
        }
        self.n_frames_received += decoded.first().map_or(0, Vec::len) as u64;
        let mut events = Vec::new();
        let speech_pad_secs = self.config.vad.speech_pad_secs;
        for (channel_idx, samples) in decoded.iter().enumerate() {
            let samples_16k = self.channels[channel_idx].resampler.process(samples);
            self.channels[channel_idx].samples_16k.extend(samples_16k);
            self.advance_channel(channel_idx, engines, false, &mut events)?;
            self.channels[channel_idx].drop_old_audio(speech_pad_secs);
        }
        self.after_step(engines, false, &mut events)?;
        Ok(events)
    }

    /// Ends the stream: flushes the resamplers, finalises open speech, closes the last turn.
    pub fn finish(&mut self, engines: StreamEngines<'_>) -> Result<Vec<StreamEvent>> {
        let mut events = Vec::new();
        for channel_idx in 0..self.channels.len() {
            let tail = self.channels[channel_idx].resampler.finish();
            self.channels[channel_idx].samples_16k.extend(tail);
            self.advance_channel(channel_idx, engines, true, &mut events)?;
        }
        self.after_step(engines, true, &mut events)?;
        Ok(events)
    }

    /// Everything the post-call analysis needs instead of transcribing again.
    pub fn known_transcript(&self, transcriber_model: &str) -> KnownTranscript {
        let language = self
            .seconds_per_language
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(language, _)| language.clone())
            .unwrap_or_else(|| self.setup.language.clone().unwrap_or_default());
        KnownTranscript {
            segments: self.finals.clone(),
            speech: self.channels.iter().map(|c| PartySpeech { speaker: c.speaker, segments: c.speech.clone() }).collect(),
            language,
            transcriber_model: transcriber_model.to_string(),
        }
    }

    fn advance_channel(
        &mut self,
        channel_idx: usize,
        engines: StreamEngines<'_>,
        at_end: bool,
        events: &mut Vec<StreamEvent>,
    ) -> Result<()> {
        let probabilities = {
            let channel = &self.channels[channel_idx];
            let n_frames_ready = if at_end {
                channel.n_samples().div_ceil(VAD_FRAME_SAMPLES)
            } else {
                channel.n_samples() / VAD_FRAME_SAMPLES
            };
            if n_frames_ready < channel.n_frames_scored + if at_end { 1 } else { VAD_BATCH_FRAMES } {
                Vec::new()
            } else {
                let context = channel.n_frames_scored.min(VAD_CONTEXT_FRAMES);
                let first_frame = channel.n_frames_scored - context;
                let end = (n_frames_ready * VAD_FRAME_SAMPLES).min(channel.n_samples());
                let scored = engines.vad.speech_probabilities(channel.samples(first_frame * VAD_FRAME_SAMPLES, end))?;
                scored.into_iter().skip(context).collect()
            }
        };
        let first_new_frame = self.channels[channel_idx].n_frames_scored;
        self.channels[channel_idx].n_frames_scored += probabilities.len();
        for (offset, probability) in probabilities.into_iter().enumerate() {
            let frame_start_secs = (first_new_frame + offset) as f64 * FRAME_SECS;
            self.segment_frame(channel_idx, frame_start_secs, probability, engines, events)?;
        }
        if at_end {
            let channel = &mut self.channels[channel_idx];
            let now_secs = channel.now_secs();
            if let Some(start_secs) = channel.speech_start_secs.take() {
                let end_secs = channel.pause_start_secs.take().unwrap_or(now_secs).min(now_secs);
                self.end_of_speech(channel_idx, start_secs, end_secs, engines, events)?;
            }
        } else {
            self.maybe_partial(channel_idx, engines, events)?;
        }
        Ok(())
    }

    /// The VAD segmenter of `vad::speech_segments`, one frame at a time.
    fn segment_frame(
        &mut self,
        channel_idx: usize,
        frame_start_secs: f64,
        probability: f32,
        engines: StreamEngines<'_>,
        events: &mut Vec<StreamEvent>,
    ) -> Result<()> {
        let vad = &self.config.vad;
        let channel = &mut self.channels[channel_idx];
        match channel.speech_start_secs {
            None if probability >= vad.speech_threshold => {
                channel.speech_start_secs = Some(frame_start_secs);
                channel.pause_start_secs = None;
                if channel.open.is_none() {
                    let window_start_secs = (frame_start_secs - vad.speech_pad_secs).max(channel.committed_end_secs).max(0.0);
                    channel.open = Some(OpenSegment {
                        window_start_secs,
                        previous_hypothesis: Vec::new(),
                        last_pass_secs: frame_start_secs,
                    });
                }
            }
            None => {}
            Some(start_secs) => {
                if probability >= vad.silence_threshold {
                    channel.pause_start_secs = None;
                    return Ok(());
                }
                let pause_start_secs = *channel.pause_start_secs.get_or_insert(frame_start_secs);
                if frame_start_secs + FRAME_SECS - pause_start_secs >= self.config.endpoint_silence_secs {
                    channel.speech_start_secs = None;
                    channel.pause_start_secs = None;
                    self.end_of_speech(channel_idx, start_secs, pause_start_secs, engines, events)?;
                }
            }
        }
        Ok(())
    }

    /// A speech segment ended: transcribe what is not committed yet and commit all of it.
    fn end_of_speech(
        &mut self,
        channel_idx: usize,
        start_secs: f64,
        end_secs: f64,
        engines: StreamEngines<'_>,
        events: &mut Vec<StreamEvent>,
    ) -> Result<()> {
        let span = TimeSpan { start_secs, end_secs };
        self.last_speech_end_secs = self.last_speech_end_secs.max(end_secs);
        let channel = &mut self.channels[channel_idx];
        let Some(open) = channel.open.take() else { return Ok(()) };
        if span.duration_secs() < self.config.vad.min_speech_secs && open.previous_hypothesis.is_empty() {
            // A click or a breath: nothing to transcribe.
            return Ok(());
        }
        channel.speech.push(span);
        let window_end_secs = (end_secs + self.config.vad.speech_pad_secs).min(channel.now_secs());
        let words = self.transcribe_window(channel_idx, open.window_start_secs, window_end_secs, Pass::Final, engines)?;
        let channel = &self.channels[channel_idx];
        let new_words = drop_repeated_prefix(&channel.committed_tail, words_after(words, channel.committed_end_secs));
        self.commit(channel_idx, new_words, events)?;
        // The segment is closed: all of its text is context for the next one.
        let channel = &mut self.channels[channel_idx];
        let closed_text = std::mem::take(&mut channel.window_text);
        channel.prompt = last_chars(&format!("{} {closed_text}", channel.prompt), PROMPT_CHARS).trim().to_string();
        Ok(())
    }

    /// Re-transcribes the open segment when enough new audio arrived; commits what two passes
    /// agree on and what is old enough, and reports the rest as a partial.
    fn maybe_partial(&mut self, channel_idx: usize, engines: StreamEngines<'_>, events: &mut Vec<StreamEvent>) -> Result<()> {
        let channel = &self.channels[channel_idx];
        let now_secs = channel.now_secs();
        let Some(open) = &channel.open else { return Ok(()) };
        // Partials cost at most half of real time: when passes are slow (a loaded machine, a
        // big model), they come less often instead of making the stream fall behind.
        let min_new_audio_secs = self.config.partial_interval_secs.max(2.0 * self.last_pass_wall_secs);
        if now_secs - open.last_pass_secs < min_new_audio_secs {
            return Ok(());
        }
        let window_start_secs = open.window_start_secs;
        let previous = open.previous_hypothesis.clone();
        let previous_pass_secs = open.last_pass_secs;
        let words = self.transcribe_window(channel_idx, window_start_secs, now_secs, Pass::Partial, engines)?;
        let channel = &self.channels[channel_idx];
        let hypothesis = drop_repeated_prefix(&channel.committed_tail, words_after(words, channel.committed_end_secs));
        let n_agreed = agreed_prefix_len(&previous, &hypothesis);
        let mut n_commit = n_words_ending_before(&hypothesis[..n_agreed], now_secs - UNSTABLE_TAIL_SECS);
        if self.config.commit_after_secs > 0.0 {
            let mut old_secs = now_secs - self.config.commit_after_secs.max(UNSTABLE_TAIL_SECS);
            if now_secs - previous_pass_secs > BURST_SECS_PER_COMMIT_AFTER * self.config.commit_after_secs {
                // A burst of audio (a stream catching up): its words are old on arrival, and
                // committing them from their first pass would skip the second opinion for
                // nothing. Only words an earlier pass heard too are committed by age.
                old_secs = old_secs.min(previous_pass_secs - UNSTABLE_TAIL_SECS);
            }
            n_commit = n_commit.max(n_words_ending_before(&hypothesis, old_secs));
        }
        let window_full = now_secs - window_start_secs > self.config.max_window_secs;
        if window_full {
            n_commit = n_commit.max(n_words_ending_before(&hypothesis, now_secs - FORCED_COMMIT_TAIL_SECS));
        }
        let rest = hypothesis[n_commit..].to_vec();
        let committed: Vec<Word> = hypothesis[..n_commit].to_vec();
        self.commit(channel_idx, committed, events)?;
        let channel = &mut self.channels[channel_idx];
        let committed_end_secs = channel.committed_end_secs;
        let keep_committed_secs = self.config.keep_committed_secs;
        if let Some(open) = &mut channel.open {
            open.previous_hypothesis = rest.clone();
            open.last_pass_secs = now_secs;
            // The window keeps the committed words while it is short (whisper does better on
            // whole phrases; the new words are told apart by time) and moves past them after.
            let move_past_committed = window_full
                || (n_commit > 0 && committed_end_secs - window_start_secs > keep_committed_secs);
            if move_past_committed {
                open.window_start_secs = open.window_start_secs.max(committed_end_secs - MOVED_WINDOW_OVERLAP_SECS);
                let moved_text = std::mem::take(&mut channel.window_text);
                channel.prompt = last_chars(&format!("{} {moved_text}", channel.prompt), PROMPT_CHARS).trim().to_string();
            }
            if window_full && now_secs - open.window_start_secs > self.config.max_window_secs {
                // Nothing recognisable in a whole window (noise, music): let it go rather than
                // re-transcribe an ever longer window.
                open.window_start_secs = now_secs - self.config.max_window_secs / 2.0;
                open.previous_hypothesis.clear();
            }
        }
        if !rest.is_empty() {
            events.push(StreamEvent::Partial {
                speaker: channel.speaker,
                start_secs: rest.first().map_or(now_secs, |w| w.start_secs),
                end_secs: rest.last().map_or(now_secs, |w| w.end_secs),
                text: join_words(&rest),
            });
        }
        Ok(())
    }

    fn transcribe_window(
        &mut self,
        channel_idx: usize,
        start_secs: f64,
        end_secs: f64,
        pass: Pass,
        engines: StreamEngines<'_>,
    ) -> Result<Vec<Word>> {
        let channel = &self.channels[channel_idx];
        let samples = channel.window(start_secs, end_secs);
        let options = TranscribeOptions {
            language: self.setup.language.clone(),
            allowed_languages: self.setup.allowed_languages.clone(),
            initial_prompt: (!channel.prompt.is_empty()).then(|| channel.prompt.clone()),
            fit_encoder_to_audio: true,
            threads: engines.whisper_threads,
            max_tokens_per_audio_sec: Some(MAX_TOKENS_PER_AUDIO_SEC),
            // A poor partial costs little: it is decoded once and not agreed on. A final is
            // kept, so it may re-decode at higher temperatures, which is what gets it out of a
            // loop.
            single_decode: pass == Pass::Partial,
        };
        let started = std::time::Instant::now();
        let recognition = engines.transcriber.transcribe(&samples, &options)?;
        self.last_pass_wall_secs = started.elapsed().as_secs_f64();
        tracing::debug!(window_secs = end_secs - start_secs, pass_secs = self.last_pass_wall_secs, threads = ?engines.whisper_threads, ?pass, "live pass");
        let window_secs = (end_secs - start_secs).max(0.0);
        match self.seconds_per_language.iter_mut().find(|(l, _)| *l == recognition.language) {
            Some((_, secs)) => *secs += window_secs,
            None => self.seconds_per_language.push((recognition.language.clone(), window_secs)),
        }
        let mut words = Vec::new();
        for mut segment in recognition.segments {
            if let Err(rejection) = screen_segment(&mut segment, &self.config.hallucination) {
                tracing::debug!(?rejection, text = %segment.text, "dropped a live segment");
                continue;
            }
            words.extend(segment.words.into_iter().filter(|w| !w.text.trim().is_empty()).map(|w| Word {
                start_secs: start_secs + w.start_secs,
                end_secs: (start_secs + w.end_secs).min(end_secs.max(start_secs + w.start_secs)),
                ..w
            }));
        }
        // Words in the silence padding past the end of the audio do not exist.
        words.retain(|w| w.start_secs < end_secs);
        Ok(words)
    }

    fn commit(&mut self, channel_idx: usize, words: Vec<Word>, events: &mut Vec<StreamEvent>) -> Result<()> {
        if words.is_empty() {
            return Ok(());
        }
        let language = self
            .seconds_per_language
            .last()
            .map(|(language, _)| language.clone())
            .unwrap_or_default();
        let channel = &mut self.channels[channel_idx];
        let text = join_words(&words);
        channel.committed_end_secs = words.last().map_or(channel.committed_end_secs, |w| w.end_secs);
        channel.window_text = format!("{} {text}", channel.window_text).trim().to_string();
        channel.committed_tail.extend(words.iter().cloned());
        let n_old = channel.committed_tail.len().saturating_sub(8);
        channel.committed_tail.drain(..n_old);
        let segment = TranscriptSegment {
            speaker: channel.speaker,
            start_secs: words.first().map_or(0.0, |w| w.start_secs),
            end_secs: channel.committed_end_secs,
            text,
            words,
            language,
        };
        let now_secs = channel.now_secs();
        for alert in self.alerts.on_final(&segment, now_secs)? {
            events.push(StreamEvent::Alert(alert));
        }
        events.push(StreamEvent::Final(segment.clone()));
        self.finals.push(segment);
        Ok(())
    }

    /// Across channels: close turns no channel can still add to, score them, check the clock.
    fn after_step(&mut self, engines: StreamEngines<'_>, at_end: bool, events: &mut Vec<StreamEvent>) -> Result<()> {
        let now_secs = self.channels.iter().map(ChannelState::now_secs).fold(f64::INFINITY, f64::min);
        let now_secs = if now_secs.is_finite() { now_secs } else { 0.0 };
        // Nothing that starts before this can still be committed on any channel.
        let watermark_secs = if at_end {
            f64::INFINITY
        } else {
            self.channels
                .iter()
                .map(|c| match &c.open {
                    Some(open) => open.window_start_secs,
                    // New speech can only start in frames not scored yet, padded back.
                    None => c.n_frames_scored as f64 * FRAME_SECS - self.config.vad.speech_pad_secs,
                })
                .fold(f64::INFINITY, f64::min)
        };
        let settled: Vec<TranscriptSegment> =
            self.finals.iter().filter(|s| s.start_secs < watermark_secs).cloned().collect();
        let turns = merge_into_turns(&settled);
        let n_closed = turns
            .iter()
            .enumerate()
            .filter(|(idx, turn)| *idx + 1 < turns.len() || turn.end_secs + MAX_PAUSE_WITHIN_TURN_SECS < watermark_secs)
            .count();
        if n_closed > self.n_turns_emitted {
            let mut closed: Vec<Turn> = turns[self.n_turns_emitted..n_closed].to_vec();
            let texts: Vec<&str> = closed.iter().map(|t| t.text.as_str()).collect();
            let sentiments = engines.sentiment.score(&texts)?;
            if sentiments.len() != closed.len() {
                return Err(PipelineError::Engine {
                    engine: "sentiment",
                    reason: format!("returned {} scores for {} turns", sentiments.len(), closed.len()),
                });
            }
            for (turn, sentiment) in closed.iter_mut().zip(sentiments) {
                turn.sentiment = Some(sentiment);
            }
            for turn in closed {
                for alert in self.alerts.on_turn(&turn, now_secs) {
                    events.push(StreamEvent::Alert(alert));
                }
                events.push(StreamEvent::Turn(turn));
            }
            self.n_turns_emitted = n_closed;
        }
        let someone_speaking = self.channels.iter().any(|c| c.speech_start_secs.is_some());
        let last_speech_end_secs = if someone_speaking { now_secs } else { self.last_speech_end_secs };
        if !at_end {
            for alert in self.alerts.on_time(now_secs, last_speech_end_secs) {
                events.push(StreamEvent::Alert(alert));
            }
        }
        Ok(())
    }
}

fn join_words(words: &[Word]) -> String {
    words.iter().map(|w| w.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
}

fn last_chars(text: &str, n_chars: usize) -> String {
    let n_total = text.chars().count();
    text.chars().skip(n_total.saturating_sub(n_chars)).collect()
}

#[cfg(test)]
mod tests {
    //! Orchestration with fake engines: tone bursts stand for words, their loudness names them.
    use std::sync::Mutex;

    use super::*;
    use crate::engines::{RecognisedSegment, Recognition};
    use crate::types::{Sentiment, SentimentLabel};

    const INPUT_RATE_HZ: u32 = 8_000;
    const LEVEL_STEP: f32 = 0.02;

    /// Speech wherever a frame has energy.
    struct EnergyVad;
    impl VoiceActivityDetector for EnergyVad {
        fn speech_probabilities(&self, samples_16k: &[f32]) -> Result<Vec<f32>> {
            Ok(samples_16k
                .chunks(VAD_FRAME_SAMPLES)
                .map(|frame| if frame.iter().any(|s| s.abs() > 0.05) { 0.9 } else { 0.05 })
                .collect())
        }
    }

    /// One word per burst of tone, named after its level: `w7` is a burst of amplitude 7 × 0.02.
    #[derive(Default)]
    struct BurstTranscriber {
        longest_window_secs: Mutex<f64>,
    }
    impl Transcriber for BurstTranscriber {
        fn transcribe(&self, samples_16k: &[f32], _options: &TranscribeOptions) -> Result<Recognition> {
            if let Ok(mut longest) = self.longest_window_secs.lock() {
                *longest = longest.max(samples_16k.len() as f64 / SAMPLE_RATE);
            }
            let block = 160;
            let loud: Vec<bool> = samples_16k.chunks(block).map(|b| b.iter().any(|s| s.abs() > 0.05)).collect();
            let mut words = Vec::new();
            let mut idx = 0;
            while idx < loud.len() {
                if !loud[idx] {
                    idx += 1;
                    continue;
                }
                let start = idx;
                while idx < loud.len() && loud[idx] {
                    idx += 1;
                }
                if idx - start < 15 {
                    continue;
                }
                let middle = &samples_16k[(start + (idx - start) / 4) * block..((idx - (idx - start) / 4) * block).min(samples_16k.len())];
                let rms = (middle.iter().map(|s| s * s).sum::<f32>() / middle.len().max(1) as f32).sqrt();
                let level = (rms * std::f32::consts::SQRT_2 / LEVEL_STEP).round();
                words.push(Word {
                    text: format!("w{level}"),
                    start_secs: (start * block) as f64 / SAMPLE_RATE,
                    end_secs: (idx * block) as f64 / SAMPLE_RATE,
                    confidence: 0.9,
                });
            }
            let segments = if words.is_empty() {
                Vec::new()
            } else {
                vec![RecognisedSegment {
                    start_secs: words[0].start_secs,
                    end_secs: words[words.len() - 1].end_secs,
                    text: join_words(&words),
                    words,
                    no_speech_probability: 0.0,
                    mean_log_probability: -0.2,
                }]
            };
            Ok(Recognition { language: "en".into(), segments })
        }
        fn model_name(&self) -> &str {
            "bursts"
        }
    }

    /// `w20` is an angry word.
    struct KeywordSentiment;
    impl SentimentScorer for KeywordSentiment {
        fn score(&self, texts: &[&str]) -> Result<Vec<Sentiment>> {
            Ok(texts
                .iter()
                .map(|t| {
                    if t.split_whitespace().any(|w| w == "w20") {
                        Sentiment { label: SentimentLabel::Negative, score: -0.8 }
                    } else {
                        Sentiment { label: SentimentLabel::Neutral, score: 0.0 }
                    }
                })
                .collect())
        }
        fn model_name(&self) -> &str {
            "keywords"
        }
    }

    /// (channel, start, level) bursts of 0.4 s into `n_channels` of 8 kHz PCM, interleaved.
    fn render(n_channels: usize, duration_secs: f64, bursts: &[(usize, f64, u32)]) -> Vec<u8> {
        let n_frames = (duration_secs * f64::from(INPUT_RATE_HZ)) as usize;
        let mut channels = vec![vec![0.0_f32; n_frames]; n_channels];
        for &(channel, start_secs, level) in bursts {
            let first = (start_secs * f64::from(INPUT_RATE_HZ)) as usize;
            for n in 0..(0.4 * f64::from(INPUT_RATE_HZ)) as usize {
                let phase = 2.0 * std::f32::consts::PI * 440.0 * n as f32 / INPUT_RATE_HZ as f32;
                if let Some(sample) = channels[channel].get_mut(first + n) {
                    *sample = level as f32 * LEVEL_STEP * phase.sin();
                }
            }
        }
        let mut bytes = Vec::with_capacity(n_frames * n_channels * 2);
        for frame_idx in 0..n_frames {
            for channel in &channels {
                bytes.extend_from_slice(&((channel[frame_idx] * 32_767.0) as i16).to_le_bytes());
            }
        }
        bytes
    }

    /// Pushes `bytes` in pseudo-random piece sizes; returns every event with the stream time it
    /// came out at.
    fn run(session: &mut StreamSession, bytes: &[u8], engines: StreamEngines<'_>) -> Vec<(f64, StreamEvent)> {
        let mut events = Vec::new();
        let mut offset = 0;
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        while offset < bytes.len() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let piece = 1 + (seed >> 33) as usize % 3_000;
            let end = (offset + piece).min(bytes.len());
            let produced = session.push_bytes(&bytes[offset..end], engines).expect("push");
            let now = session.received_secs();
            events.extend(produced.into_iter().map(|e| (now, e)));
            offset = end;
        }
        let now = session.received_secs();
        events.extend(session.finish(engines).expect("finish").into_iter().map(|e| (now, e)));
        events
    }

    fn setup(channels: Vec<Speaker>, script: Option<Script>) -> StreamSetup {
        StreamSetup {
            encoding: SampleEncoding::PcmS16le,
            sample_rate_hz: INPUT_RATE_HZ,
            channels,
            script,
            language: Some("en".into()),
            allowed_languages: Vec::new(),
        }
    }

    fn final_words(events: &[(f64, StreamEvent)], speaker: Speaker) -> Vec<Word> {
        events
            .iter()
            .filter_map(|(_, e)| match e {
                StreamEvent::Final(segment) if segment.speaker == speaker => Some(segment.words.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn two_parties_get_every_word_once_with_stream_times_turns_and_alerts() {
        let transcriber = BurstTranscriber::default();
        let engines = StreamEngines { vad: &EnergyVad, transcriber: &transcriber, sentiment: &KeywordSentiment, whisper_threads: None };
        let agent_bursts: Vec<(usize, f64, u32)> = (0..6).map(|i| (0, 1.0 + i as f64 * 0.6, 5 + i)).collect();
        let customer_bursts: Vec<(usize, f64, u32)> = vec![(1, 6.0, 12), (1, 6.6, 20), (1, 7.2, 13)];
        let all: Vec<_> = agent_bursts.iter().chain(&customer_bursts).copied().collect();
        let script = crate::compliance::parse_script(
            r#"{"id": "s", "rules": [{"id": "no-w8-w9", "kind": "forbidden", "phrases": ["w8 w9"], "threshold": 0.95}]}"#,
            "test",
        )
        .expect("script");
        let mut session = StreamSession::new(setup(vec![Speaker::Agent, Speaker::Customer], Some(script)), StreamConfig::default()).expect("session");
        let events = run(&mut session, &render(2, 10.0, &all), engines);

        for (speaker, bursts) in [(Speaker::Agent, &agent_bursts), (Speaker::Customer, &customer_bursts)] {
            let words = final_words(&events, speaker);
            let texts: Vec<String> = words.iter().map(|w| w.text.clone()).collect();
            let expected: Vec<String> = bursts.iter().map(|(_, _, level)| format!("w{level}")).collect();
            assert_eq!(texts, expected, "{speaker:?}");
            for (word, (_, start_secs, _)) in words.iter().zip(bursts.iter()) {
                assert!((word.start_secs - start_secs).abs() < 0.1, "{word:?} should start at {start_secs}");
            }
        }
        let turns: Vec<&Turn> = events.iter().filter_map(|(_, e)| match e { StreamEvent::Turn(t) => Some(t), _ => None }).collect();
        let speakers: Vec<Speaker> = turns.iter().map(|t| t.speaker).collect();
        assert_eq!(speakers, [Speaker::Agent, Speaker::Customer]);
        assert!(turns.iter().all(|t| t.sentiment.is_some()));
        let alerts: Vec<&LiveAlert> = events.iter().filter_map(|(_, e)| match e { StreamEvent::Alert(a) => Some(a), _ => None }).collect();
        let forbidden: Vec<_> = alerts.iter().filter(|a| a.kind == super::super::AlertKind::ForbiddenPhrase).collect();
        assert_eq!(forbidden.len(), 1, "{alerts:?}");
        assert!((forbidden[0].start_secs - 2.8).abs() < 0.1, "{:?}", forbidden[0]);
        assert_eq!(alerts.iter().filter(|a| a.kind == super::super::AlertKind::CustomerNegative).count(), 1, "{alerts:?}");

        let transcript = session.known_transcript("bursts");
        assert_eq!(transcript.segments.iter().map(|s| s.words.len()).sum::<usize>(), 9);
        assert!(transcript.speech.iter().all(|p| !p.segments.is_empty()));
        assert!((session.received_secs() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_monologue_without_pauses_is_committed_as_it_goes_in_a_bounded_window() {
        let transcriber = BurstTranscriber::default();
        let engines = StreamEngines { vad: &EnergyVad, transcriber: &transcriber, sentiment: &KeywordSentiment, whisper_threads: None };
        // 60 s of words 0.2 s apart: never a pause long enough to end the segment.
        let bursts: Vec<(usize, f64, u32)> = (0..100).map(|i| (0, 0.5 + i as f64 * 0.6, 3 + (i % 15))).collect();
        let config = StreamConfig::default();
        let mut session = StreamSession::new(setup(vec![Speaker::Unknown], None), config.clone()).expect("session");
        let events = run(&mut session, &render(1, 61.0, &bursts), engines);

        let words = final_words(&events, Speaker::Unknown);
        let texts: Vec<String> = words.iter().map(|w| w.text.clone()).collect();
        let expected: Vec<String> = bursts.iter().map(|(_, _, level)| format!("w{level}")).collect();
        assert_eq!(texts, expected);
        let longest = *transcriber.longest_window_secs.lock().expect("lock");
        assert!(longest <= config.max_window_secs + config.partial_interval_secs + 0.5, "window grew to {longest} s");
        // Every word but the last few is final long before the stream ends.
        let mut emitted_at: Vec<(f64, f64)> = Vec::new();
        for (now, event) in &events {
            if let StreamEvent::Final(segment) = event {
                emitted_at.extend(segment.words.iter().map(|w| (*now, w.end_secs)));
            }
        }
        let worst_lag = emitted_at.iter().map(|(now, end)| now - end).fold(0.0, f64::max);
        assert!(worst_lag <= config.max_window_secs + config.partial_interval_secs + 1.0, "a word waited {worst_lag} s");
        assert!(events.iter().any(|(_, e)| matches!(e, StreamEvent::Partial { .. })));
        // Memory does not grow with the call: only the live window (plus a trimming step) is kept.
        let kept_secs = session.channels[0].samples_16k.len() as f64 / SAMPLE_RATE;
        assert!(kept_secs <= config.max_window_secs + KEEP_MARGIN_SECS + TRIM_STEP_SECS + 2.0, "kept {kept_secs} s of 61 s");
        assert!(session.channels[0].first_sample_idx > 0);
        assert!(session.party_audio_16k(Speaker::Unknown).is_none(), "the start of the channel is gone");
        assert!((session.received_secs() - 61.0).abs() < 1e-9);
    }

    /// Names every word differently on each partial pass (two passes never agree), and
    /// remembers what it was asked.
    #[derive(Default)]
    struct FickleTranscriber {
        bursts: BurstTranscriber,
        n_partials: Mutex<usize>,
        options_seen: Mutex<Vec<TranscribeOptions>>,
    }
    impl Transcriber for FickleTranscriber {
        fn transcribe(&self, samples_16k: &[f32], options: &TranscribeOptions) -> Result<Recognition> {
            self.options_seen.lock().expect("lock").push(options.clone());
            let mut recognition = self.bursts.transcribe(samples_16k, options)?;
            if options.single_decode {
                let mut n_partials = self.n_partials.lock().expect("lock");
                *n_partials += 1;
                for word in recognition.segments.iter_mut().flat_map(|s| s.words.iter_mut()) {
                    word.text = format!("{}-{}", word.text, *n_partials);
                }
            }
            Ok(recognition)
        }
        fn model_name(&self) -> &str {
            "fickle"
        }
    }

    #[test]
    fn words_are_committed_when_old_enough_even_without_agreement_in_a_short_window() {
        let transcriber = FickleTranscriber::default();
        let engines = StreamEngines { vad: &EnergyVad, transcriber: &transcriber, sentiment: &KeywordSentiment, whisper_threads: Some(3) };
        let bursts: Vec<(usize, f64, u32)> = (0..40).map(|i| (0, 0.5 + i as f64 * 0.6, 3 + (i % 15))).collect();
        let config = StreamConfig::default();
        let mut session = StreamSession::new(setup(vec![Speaker::Unknown], None), config.clone()).expect("session");
        let events = run(&mut session, &render(1, 25.0, &bursts), engines);

        let words = final_words(&events, Speaker::Unknown);
        assert_eq!(words.len(), bursts.len(), "every word once: {:?}", words.iter().map(|w| &w.text).collect::<Vec<_>>());
        for (word, (_, start_secs, level)) in words.iter().zip(&bursts) {
            assert!(word.text.starts_with(&format!("w{level}")), "{word:?}");
            assert!((word.start_secs - start_secs).abs() < 0.1, "{word:?} should start at {start_secs}");
        }
        // No two passes agree, yet no word waits for the end of the monologue.
        let bound = config.commit_after_secs + config.partial_interval_secs + 0.5;
        for (now, event) in &events {
            if let StreamEvent::Final(segment) = event {
                for word in segment.words.iter().filter(|w| w.end_secs < 24.0) {
                    assert!(now - word.end_secs <= bound, "{} waited {:.2} s (bound {bound} s)", word.text, now - word.end_secs);
                }
            }
        }
        // Passes stay short: committed words leave the window once it holds keep_committed_secs.
        let longest = *transcriber.bursts.longest_window_secs.lock().expect("lock");
        let window_bound = config.keep_committed_secs + config.commit_after_secs + config.partial_interval_secs + 1.0;
        assert!(longest <= window_bound, "window grew to {longest} s (bound {window_bound} s)");
        // Every pass got the stream's threads and a token limit; only partials decode once.
        let seen = transcriber.options_seen.lock().expect("lock");
        assert!(seen.iter().all(|o| o.threads == Some(3) && o.max_tokens_per_audio_sec.is_some() && o.fit_encoder_to_audio));
        assert!(seen.iter().any(|o| o.single_decode) && seen.iter().any(|o| !o.single_decode));
    }

    #[test]
    fn a_kept_party_keeps_its_whole_channel_until_released() {
        let transcriber = BurstTranscriber::default();
        let engines = StreamEngines { vad: &EnergyVad, transcriber: &transcriber, sentiment: &KeywordSentiment, whisper_threads: None };
        let bursts: Vec<(usize, f64, u32)> = (0..20).map(|i| (i % 2, 1.0 + i as f64 * 2.0, 5 + i as u32)).collect();
        let mut session = StreamSession::new(setup(vec![Speaker::Agent, Speaker::Customer], None), StreamConfig::default()).expect("session");
        session.keep_party_audio(Speaker::Customer, true);
        let events = run(&mut session, &render(2, 45.0, &bursts), engines);
        assert_eq!(final_words(&events, Speaker::Customer).len(), 10);
        assert_eq!(final_words(&events, Speaker::Agent).len(), 10);
        let (customer_16k, speech) = session.party_audio_16k(Speaker::Customer).expect("kept");
        assert!((customer_16k.len() as f64 / SAMPLE_RATE - 45.0).abs() < 0.1, "{} s", customer_16k.len() as f64 / SAMPLE_RATE);
        assert_eq!(speech.len(), 10);
        assert!(session.party_audio_16k(Speaker::Agent).is_none(), "the agent's channel is trimmed");
        session.keep_party_audio(Speaker::Customer, false);
        assert!(session.party_audio_16k(Speaker::Customer).is_none(), "released");
    }

    #[test]
    fn bad_setups_are_refused() {
        assert!(StreamSession::new(setup(vec![], None), StreamConfig::default()).is_err());
        assert!(StreamSession::new(setup(vec![Speaker::Agent, Speaker::Agent], None), StreamConfig::default()).is_err());
        let mut odd_rate = setup(vec![Speaker::Agent], None);
        odd_rate.sample_rate_hz = 1_000;
        assert!(StreamSession::new(odd_rate, StreamConfig::default()).is_err());
    }
}
