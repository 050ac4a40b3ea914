//! The job handler workers run: analyse an uploaded call, or re-score a stored analysis against a
//! new script version without transcribing again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use callsight_api::server::metrics::Metrics;
use callsight_api::server::{SpeakerService, SpeakerServiceError, WebhookEvent, emit_event_once};
use callsight_pipeline::audio::{CallAudio, ChannelSignal, DecodeLimits, decode_file_for_analysis};
use callsight_pipeline::biometrics::{OwnedSpeechClip, call_speech_clips};
use callsight_pipeline::types::Speaker;
use callsight_workers::store::{AuditFilter, NewAuditEntry, Page, Store};

use crate::biometrics::BiometricsEngine;
use callsight_api::report::CallReport;
use callsight_pipeline::analyze::{
    AnalysisEngines, AnalyzeOptions, CallAnalysis, ChannelLayout, Flag, FlagSeverity, KnownTranscript, analyze_call,
    analyze_with_transcript, rescore,
};
use callsight_pipeline::compliance::{Script, parse_script};
use callsight_pipeline::redaction::{RedactionConfig, redact_analysis, redact_segments, write_redacted_wav};
use callsight_workers::queue::JobKind;
use callsight_workers::runner::{ClaimedJob, JobError, JobHandler, JobOutcome};
use callsight_workers::store::{AnalysisRecord, CallSummary, RuleOutcome};

pub struct AnalysisJobHandler {
    pub engines: AnalysisEngines,
    /// Settings from the configuration; per-call fields (layout, language, script) are set per job.
    pub base_options: AnalyzeOptions,
    /// Names the agent on mono calls from their voiceprint; passive enrolment of customers.
    pub biometrics: Option<Arc<BiometricsEngine>>,
    pub store: Store,
    /// The async runtime the store and webhooks run on (handlers run on its blocking pool).
    pub runtime: tokio::runtime::Handle,
    pub metrics: Metrics,
    /// PCI/PII redaction of everything stored: analysis, report, search text, recording.
    pub redaction: RedactionConfig,
}

/// The full pipeline analysis is kept next to the audio so a re-score needs no transcription.
pub fn analysis_path(audio_path: &Path) -> PathBuf {
    let mut name = audio_path.file_name().unwrap_or_default().to_os_string();
    name.push(".analysis.json");
    audio_path.with_file_name(name)
}

impl JobHandler for AnalysisJobHandler {
    fn handle(&self, job: &ClaimedJob) -> Result<JobOutcome, JobError> {
        let script = match &job.script {
            Some(stored) => Some(script_from_body(&stored.body, &stored.script_id, stored.version)?),
            None => None,
        };
        let started = Instant::now();
        let (analysis, decode_secs) = match job.job.kind {
            JobKind::Analyze => self.analyse(job, script)?,
            JobKind::Rescore => self.rescore(job, script)?,
        };
        let total_secs = started.elapsed().as_secs_f64();
        self.record_metrics(&analysis, decode_secs, total_secs, job.job.kind);
        let mut report = CallReport::from_analysis(&job.call.id, &analysis, decode_secs, total_secs);
        report.pauses = stream_pauses(&job.call.metadata);
        let report_json = serde_json::to_value(&report).map_err(|e| JobError::transient(format!("serialising the report: {e}")))?;
        self.emit_events(job, &analysis);
        Ok(JobOutcome::Analyzed(analysis_record(&analysis, report_json)))
    }
}

/// Customer speech used for watchlist screening and passive enrolment (the first minutes of
/// it): a voiceprint gains nothing after a minute or two, and the clip memory stays bounded
/// whatever the call's length.
const MAX_BIOMETRIC_SPEECH_SECS: f64 = 300.0;

impl AnalysisJobHandler {
    fn analyse(&self, job: &ClaimedJob, script: Option<Script>) -> Result<(CallAnalysis, f64), JobError> {
        let call = &job.call;
        let started = Instant::now();
        let audio_path = Path::new(&call.audio_path);
        // A voiceprint server that is down would only fail the job after the whole analysis:
        // put the job back now, without counting the attempt (an outage is not the call's fault).
        if let Some(biometrics) = &self.biometrics {
            biometrics.check_ready().map_err(outage_or_transient)?;
        }
        // The API checked the upload decodes; a failure now is a damaged store: retrying won't help,
        // unless it was the temporary files a long call spills to, next to the recording.
        let spill_dir = audio_path.parent().unwrap_or(Path::new("."));
        let decoded = decode_file_for_analysis(audio_path, &DecodeLimits::default(), spill_dir).map_err(|error| match error {
            callsight_pipeline::PipelineError::Storage(_) => JobError::transient(error.to_string()),
            other => JobError::permanent(other.to_string()),
        })?;
        let audio = decoded.as_audio();
        let decode_secs = started.elapsed().as_secs_f64();
        let channel_layout = call.channel_layout.as_deref().map(stored_channel_layout).transpose()?;
        let agent_voiceprint = match (&self.biometrics, &call.agent_id) {
            (Some(biometrics), Some(agent_id)) => biometrics.agent_voiceprint(&call.tenant, agent_id),
            _ => None,
        };
        let options = AnalyzeOptions {
            channel_layout,
            language: call.language_hint.clone(),
            script,
            agent_voiceprint,
            ..self.base_options.clone()
        };
        if job.cancel.is_cancelled() {
            return Err(JobError::transient("lease lost before analysis started"));
        }
        // A live stream left its transcript next to the audio: analyse from it, never transcribe twice.
        let mut analysis = match read_stream_transcript(audio_path)? {
            Some(transcript) => analyze_with_transcript(audio, transcript, &options, &self.engines, &|_, _, _| {}),
            None => analyze_call(audio, &options, &self.engines, &|_, _, _| {}),
        }
        .map_err(|e| JobError::transient(e.to_string()))?;
        self.screen_watchlist(job, audio, &mut analysis)?;
        self.passive_enrolment(job, audio, &analysis)?;
        // Analysis ran on the original words; from here on only redacted words are kept.
        if self.redaction.enabled {
            redact_stored_call(audio_path, audio, &mut analysis, &self.redaction)?;
        }
        write_analysis(audio_path, &analysis)?;
        Ok((analysis, decode_secs))
    }

    /// Every analysed call's caller is checked against the tenant's fraudster watchlist; a hit
    /// becomes a high-severity flag (and so a `call.flagged` event) plus a `watchlist.hit` event.
    /// An unreachable voiceprint index is an outage (`Err`: the job is put back); any other
    /// screening failure is logged and the call keeps its analysis.
    fn screen_watchlist(&self, job: &ClaimedJob, audio: &dyn CallAudio, analysis: &mut CallAnalysis) -> Result<(), JobError> {
        let Some(biometrics) = &self.biometrics else { return Ok(()) };
        let call = &job.call;
        let customer = analysis
            .speech
            .iter()
            .find(|p| p.speaker == Speaker::Customer)
            .or_else(|| analysis.speech.iter().find(|p| p.speaker == Speaker::Unknown));
        let Some(customer) = customer else { return Ok(()) };
        let channel = match customer_channel(analysis.channel_layout, audio.n_channels()) {
            Some(idx) => ChannelSignal::channel(audio, idx),
            None => ChannelSignal::mixed(audio),
        };
        let hits = match call_speech_clips(&channel, audio.sample_rate_hz(), &customer.segments, MAX_BIOMETRIC_SPEECH_SECS) {
            Ok(clips) => biometrics.screen_speech(&call.tenant, &clips.iter().map(OwnedSpeechClip::as_clip).collect::<Vec<_>>()),
            Err(error) => Err(SpeakerServiceError::from(error)),
        };
        let hits = match hits {
            Ok(hits) => hits,
            Err(error @ SpeakerServiceError::Unavailable(_)) => return Err(outage_or_transient(error)),
            Err(error) => {
                tracing::warn!(call_id = %call.id, %error, "watchlist screening of the call failed");
                return Ok(());
            }
        };
        for hit in &hits {
            analysis.flags.push(Flag {
                kind: "watchlist_hit".into(),
                severity: FlagSeverity::High,
                rule_id: None,
                reason: format!("the caller's voice matches watchlist entry {} (score {:.2})", hit.speaker_id, hit.score),
                start_secs: customer.segments.first().map(|s| s.start_secs),
                end_secs: customer.segments.last().map(|s| s.end_secs),
            });
        }
        if !hits.is_empty() {
            let data = serde_json::json!({"operation": "call", "call_id": call.id, "customer_id": call.customer_id, "hits": hits});
            if let Err(error) = self.runtime.block_on(emit_event_once(&self.store, &call.tenant, WebhookEvent::WatchlistHit, &job_event_id(job, WebhookEvent::WatchlistHit), data)) {
                tracing::error!(%error, "queueing a watchlist.hit event failed");
            }
            let entry = NewAuditEntry {
                actor_key_id: None,
                action: "screen".into(),
                speaker_id: hits.first().map(|h| h.speaker_id.clone()),
                outcome: "watchlist_hit".into(),
                score: hits.first().map(|h| h.score),
                details: serde_json::json!({"source": "call", "call_id": call.id}),
            };
            if let Err(error) = self.runtime.block_on(self.store.append_audit_once_per_job(&call.tenant, &job.job.id, &entry)) {
                tracing::error!(%error, "audit of call screening failed");
            }
        }
        Ok(())
    }

    /// With `"enroll_customer_voice": true` in the upload metadata and a customer id, the
    /// customer's speech is added to their voiceprint. Opt-in per call: the recorder knows when
    /// the caller was authenticated; enrolling an impostor's call would poison the voiceprint.
    ///
    /// Once per call: a job retried after a crash (or a re-analysis) finds the call's audit entry
    /// and stops; if it crashed between the voiceprint write and the audit entry, the voiceprint
    /// itself names the call (`source_call_ids`) and the speech is not added again.
    fn passive_enrolment(&self, job: &ClaimedJob, audio: &dyn CallAudio, analysis: &CallAnalysis) -> Result<(), JobError> {
        let call = &job.call;
        let (Some(biometrics), Some(customer_id)) = (&self.biometrics, &call.customer_id) else { return Ok(()) };
        if call.metadata.get("enroll_customer_voice").and_then(serde_json::Value::as_bool) != Some(true) {
            return Ok(());
        }
        let earlier = AuditFilter {
            speaker_id: Some(customer_id.clone()),
            action: Some("enrol".into()),
            call_id: Some(call.id.clone()),
            ..AuditFilter::default()
        };
        match self.runtime.block_on(self.store.list_audit(&call.tenant, &earlier, Page { limit: 10, offset: 0 })) {
            Ok(entries) if entries.iter().any(|e| e.details["source"] == "passive" && e.outcome != "error") => {
                tracing::info!(call_id = %call.id, "passive enrolment of this call is already done; not repeated");
                return Ok(());
            }
            Ok(_) => {}
            Err(error) => {
                // Without the audit trail the voiceprint's own record of calls still prevents a
                // double add; the audit entry might be written twice, which is the lesser harm.
                tracing::warn!(%error, "cannot read the audit trail before a passive enrolment");
            }
        }
        if analysis.flags.iter().any(|flag| flag.kind == "watchlist_hit") {
            // A caller who sounds like a known fraudster must not become the customer's voiceprint.
            let entry = NewAuditEntry {
                actor_key_id: None,
                action: "enrol".into(),
                speaker_id: Some(customer_id.clone()),
                outcome: "skipped".into(),
                score: None,
                details: serde_json::json!({"source": "passive", "call_id": call.id, "reason": "watchlist_hit"}),
            };
            if let Err(error) = self.runtime.block_on(self.store.append_audit_once_per_job(&call.tenant, &job.job.id, &entry)) {
                tracing::error!(%error, "audit of a skipped passive enrolment failed");
            }
            return Ok(());
        }
        let Some(channel) = customer_channel(analysis.channel_layout, audio.n_channels()) else {
            tracing::info!(call_id = %call.id, "passive enrolment needs the customer on their own channel; skipped");
            return Ok(());
        };
        let Some(speech) = analysis.speech.iter().find(|p| p.speaker == Speaker::Customer) else { return Ok(()) };
        let outcome = match call_speech_clips(&ChannelSignal::channel(audio, channel), audio.sample_rate_hz(), &speech.segments, MAX_BIOMETRIC_SPEECH_SECS) {
            Ok(clips) => biometrics.enrol_passively(&call.tenant, customer_id, &call.id, &clips.iter().map(OwnedSpeechClip::as_clip).collect::<Vec<_>>()),
            Err(error) => Err(SpeakerServiceError::from(error)),
        };
        // Unreachable index: nothing was enrolled; the job runs again once it answers.
        let outcome = match outcome {
            Err(error @ SpeakerServiceError::Unavailable(_)) => return Err(outage_or_transient(error)),
            other => other.map_err(|e| e.to_string()),
        };
        let (outcome_label, details) = match &outcome {
            Ok(passive) => {
                let enrolled = &passive.response;
                let label = serde_json::to_value(enrolled.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                let details = serde_json::json!({
                    "source": "passive", "call_id": call.id, "net_speech_secs": enrolled.net_speech_secs,
                    "reasons": enrolled.reasons, "already_included": passive.already_included,
                });
                (label, details)
            }
            Err(error) => ("error".to_string(), serde_json::json!({"source": "passive", "call_id": call.id, "error": error})),
        };
        let outcome = outcome.map(|passive| passive.response);
        if let Ok(enrolled) = &outcome
            && !enrolled.voiceprint_ids.is_empty()
            && let Err(error) = self.runtime.block_on(self.store.upsert_speaker(&call.tenant, customer_id, "customer", &enrolled.voiceprint_ids))
        {
            tracing::error!(%error, "recording the passively enrolled speaker failed");
        }
        let entry = NewAuditEntry { actor_key_id: None, action: "enrol".into(), speaker_id: Some(customer_id.clone()), outcome: outcome_label, score: None, details };
        if let Err(error) = self.runtime.block_on(self.store.append_audit_once_per_job(&call.tenant, &job.job.id, &entry)) {
            tracing::error!(%error, "audit of passive enrolment failed");
        }
        Ok(())
    }

    fn record_metrics(&self, analysis: &CallAnalysis, decode_secs: f64, total_secs: f64, kind: JobKind) {
        let t = &analysis.timings;
        for (stage, secs) in [
            ("decode", decode_secs),
            ("resample", t.resample_secs),
            ("vad", t.vad_secs),
            ("diarize", t.diarize_secs),
            ("transcribe", t.transcribe_secs),
            ("sentiment", t.sentiment_secs),
            ("compliance", t.compliance_secs),
            ("metrics", t.metrics_secs),
        ] {
            self.metrics.record_stage(stage, secs);
        }
        if kind == JobKind::Analyze {
            self.metrics.record_analysis(analysis.duration_secs, total_secs);
        }
    }

    fn emit_events(&self, job: &ClaimedJob, analysis: &CallAnalysis) {
        let call = &job.call;
        let data = serde_json::json!({
            "call_id": call.id,
            "external_call_id": call.external_call_id,
            "agent_id": call.agent_id,
            "flags": analysis.flags,
            "compliance_score": analysis.compliance.as_ref().map(|c| c.score),
        });
        let mut events = vec![WebhookEvent::CallAnalyzed];
        if !analysis.flags.is_empty() {
            events.push(WebhookEvent::CallFlagged);
        }
        for event in events {
            if let Err(error) = self.runtime.block_on(emit_event_once(&self.store, &call.tenant, event, &job_event_id(job, event), data.clone())) {
                tracing::error!(%error, "queueing a webhook event failed");
            }
        }
    }

    fn rescore(&self, job: &ClaimedJob, script: Option<Script>) -> Result<(CallAnalysis, f64), JobError> {
        let path = analysis_path(Path::new(&job.call.audio_path));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            JobError::permanent(format!("call {} has no stored analysis to re-score ({e}); re-analyse it", job.call.id))
        })?;
        let mut analysis: CallAnalysis = serde_json::from_str(&text)
            .map_err(|e| JobError::permanent(format!("stored analysis of call {} is unreadable: {e}", job.call.id)))?;
        let Some(script) = script else {
            return Err(JobError::permanent(format!("call {} has no script to re-score against", job.call.id)));
        };
        rescore(&mut analysis, &script, self.engines.text_embedder.as_deref(), &self.base_options.matching)
            .map_err(|e| JobError::transient(e.to_string()))?;
        write_analysis(Path::new(&job.call.audio_path), &analysis)?;
        Ok((analysis, 0.0))
    }
}

/// The PCI pauses a live stream recorded in the call's metadata (`[{start_secs, end_secs}]`).
fn stream_pauses(metadata: &serde_json::Value) -> Vec<callsight_api::report::SpanReport> {
    metadata
        .get("pauses")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|span| {
            Some(callsight_api::report::SpanReport {
                start_secs: span.get("start_secs")?.as_f64()?,
                end_secs: span.get("end_secs")?.as_f64()?,
            })
        })
        .collect()
}

/// An unreachable voiceprint index puts the job back without counting the attempt; any other
/// engine failure is an ordinary transient failure.
fn outage_or_transient(error: SpeakerServiceError) -> JobError {
    match error {
        SpeakerServiceError::Unavailable(reason) => JobError::unavailable(reason),
        other => JobError::transient(other.to_string()),
    }
}

/// The id of an event raised by `job`: the same on every run of the job, so a run after a crash
/// neither queues it again nor gives receivers a new id for the same fact.
fn job_event_id(job: &ClaimedJob, event: WebhookEvent) -> String {
    format!("{}:{}", job.job.id, event.as_str())
}

/// The API stores a call's layout in the report's spelling (`agent_customer`, `customer_agent`,
/// `mixed`: the serde form of [`ChannelLayout`]), not the CLI's `agent,customer` that `FromStr` reads.
fn stored_channel_layout(text: &str) -> Result<ChannelLayout, JobError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|e| JobError::permanent(format!("stored channel layout {text:?}: {e}")))
}

/// The customer's own channel of a two-party recording; `None` for mono (mixed) calls.
fn customer_channel(layout: ChannelLayout, n_channels: usize) -> Option<usize> {
    match (layout, n_channels) {
        (ChannelLayout::AgentCustomer, n) if n >= 2 => Some(1),
        (ChannelLayout::CustomerAgent, n) if n >= 2 => Some(0),
        _ => None,
    }
}

pub fn script_from_body(body: &serde_json::Value, script_id: &str, version: i64) -> Result<Script, JobError> {
    let text = serde_json::to_string(body).map_err(|e| JobError::permanent(e.to_string()))?;
    parse_script(&text, &format!("{script_id} v{version}")).map_err(|e| JobError::permanent(e.to_string()))
}

/// The transcript a live stream stored next to its audio, if this call came from one.
fn read_stream_transcript(audio_path: &Path) -> Result<Option<KnownTranscript>, JobError> {
    let path = callsight_pipeline::streaming::transcript_sidecar_path(audio_path);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| JobError::permanent(format!("stored stream transcript {} is unreadable: {e}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(JobError::transient(format!("reading {}: {error}", path.display()))),
    }
}

/// Redacts the analysis in place and replaces the stored recording (and a live stream's
/// transcript) by redacted copies; the waveform cache is dropped so it is drawn again from the
/// redacted audio. Files are written to a temporary name and renamed.
fn redact_stored_call(
    audio_path: &Path,
    audio: &dyn CallAudio,
    analysis: &mut CallAnalysis,
    config: &RedactionConfig,
) -> Result<(), JobError> {
    let spans = redact_analysis(analysis, config);
    let sidecar = callsight_pipeline::streaming::transcript_sidecar_path(audio_path);
    if let Some(mut transcript) = read_stream_transcript(audio_path)? {
        redact_segments(&mut transcript.segments, config);
        let json = serde_json::to_vec(&transcript).map_err(|e| JobError::transient(e.to_string()))?;
        write_atomically(&sidecar, &json)?;
    }
    if spans.is_empty() {
        return Ok(());
    }
    // Streamed from the decoded call into the temporary file: a long call is never held whole.
    write_atomically_with(audio_path, |file| {
        write_redacted_wav(audio, &spans, analysis.channel_layout, config, file).map_err(|e| std::io::Error::other(e.to_string()))
    })?;
    drop_waveform_cache(audio_path);
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    write_atomically_with(path, |file| std::io::Write::write_all(file, bytes))
}

/// Writes `path` through `write` into a temporary name, syncs it and renames it into place, so
/// a crash leaves either the old file or the new one, never half of one.
fn write_atomically_with(path: &Path, write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> Result<(), JobError> {
    // Not `.partial`: `<call>.wav.partial` is a live stream's recording, which crash recovery
    // turns into a call.
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".writing");
    let temporary = path.with_file_name(name);
    let written = (|| {
        let file = std::fs::File::create(&temporary)?;
        let mut writer = std::io::BufWriter::new(file);
        write(&mut writer)?;
        writer.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    written.map_err(|e| {
        // Best effort: a leftover would only be overwritten by the next attempt.
        let _ = std::fs::remove_file(&temporary);
        JobError::transient(format!("writing {}: {e}", path.display()))
    })
}

/// Removes `<audio>.waveform-*.json`, drawn from the recording before it was redacted.
fn drop_waveform_cache(audio_path: &Path) {
    let (Some(dir), Some(name)) = (audio_path.parent(), audio_path.file_name().and_then(|n| n.to_str())) else { return };
    let prefix = format!("{name}.waveform-");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_str().is_some_and(|f| f.starts_with(&prefix))
            && let Err(error) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(%error, path = %entry.path().display(), "cannot remove a stale waveform cache");
        }
    }
}

/// Written to a temporary name, synced and renamed, so a crash never leaves half a file.
fn write_analysis(audio_path: &Path, analysis: &CallAnalysis) -> Result<(), JobError> {
    let json = serde_json::to_vec(analysis).map_err(|e| JobError::transient(e.to_string()))?;
    write_atomically(&analysis_path(audio_path), &json)
}

fn analysis_record(analysis: &CallAnalysis, report: serde_json::Value) -> AnalysisRecord {
    let transcript_text = analysis.turns.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join("\n");
    let rule_outcomes = analysis
        .compliance
        .iter()
        .flat_map(|c| &c.rules)
        .map(|rule| RuleOutcome {
            rule_id: rule.id.clone(),
            passed: rule.passed,
            severity: serde_json::to_value(rule.severity).ok().and_then(|v| v.as_str().map(str::to_string)),
            score: Some(f64::from(rule.confidence)),
            evidence: serde_json::to_value(&rule.evidence).ok(),
        })
        .collect();
    let customer = analysis.sentiment.customer.as_ref().or(analysis.sentiment.unknown.as_ref());
    AnalysisRecord {
        report,
        transcript_text,
        rule_outcomes,
        summary: CallSummary {
            duration_secs: analysis.duration_secs,
            flagged: !analysis.flags.is_empty(),
            compliance_score: analysis.compliance.as_ref().map(|c| c.score),
            customer_sentiment_label: customer
                .and_then(|s| serde_json::to_value(s.label).ok())
                .and_then(|v| v.as_str().map(str::to_string)),
            customer_sentiment_score: customer.map(|s| f64::from(s.score)),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_whole_and_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call.wav");
        std::fs::write(&path, b"original").unwrap();
        let failed = write_atomically_with(&path, |out| {
            out.write_all(b"half of a new")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"original");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the original is left");
        write_atomically(&path, b"redacted").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"redacted");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_customer_has_their_own_channel_only_on_two_party_recordings() {
        assert_eq!(customer_channel(ChannelLayout::AgentCustomer, 2), Some(1));
        assert_eq!(customer_channel(ChannelLayout::CustomerAgent, 2), Some(0));
        assert_eq!(customer_channel(ChannelLayout::Mixed, 2), None);
        assert_eq!(customer_channel(ChannelLayout::AgentCustomer, 1), None);
        assert!(stored_channel_layout("agent_customer").is_ok());
        assert!(stored_channel_layout("sideways").is_err(), "a layout the API never stores is a damaged job");
    }

    #[test]
    fn stream_pauses_are_read_from_the_metadata_and_malformed_entries_skipped() {
        let metadata = serde_json::json!({"pauses": [{"start_secs": 1.5, "end_secs": 4.0}, {"start_secs": "x"}, 7]});
        let pauses = stream_pauses(&metadata);
        assert_eq!(pauses.len(), 1);
        assert_eq!((pauses[0].start_secs, pauses[0].end_secs), (1.5, 4.0));
        assert!(stream_pauses(&serde_json::json!({})).is_empty());
    }
}
