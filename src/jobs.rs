//! The job handler workers run: analyse an uploaded call, or re-score a stored analysis against a
//! new script version without transcribing again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use callsight_api::report::CallReport;
use callsight_pipeline::analyze::{AnalysisEngines, AnalyzeOptions, CallAnalysis, ChannelLayout, analyze_call, rescore};
use callsight_pipeline::compliance::{Script, parse_script};
use callsight_workers::queue::JobKind;
use callsight_workers::runner::{ClaimedJob, JobError, JobHandler, JobOutcome};
use callsight_workers::store::{AnalysisRecord, CallSummary, RuleOutcome};

pub struct AnalysisJobHandler {
    pub engines: AnalysisEngines,
    /// Settings from the configuration; per-call fields (layout, language, script) are set per job.
    pub base_options: AnalyzeOptions,
    /// Called with every finished analysis (metrics: stage durations, real-time factor).
    pub on_analysed: Box<dyn Fn(&CallAnalysis, f64) + Send + Sync>,
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
        (self.on_analysed)(&analysis, total_secs);
        let report = CallReport::from_analysis(&job.call.id, &analysis, decode_secs, total_secs);
        let report_json = serde_json::to_value(&report).map_err(|e| JobError::transient(format!("serialising the report: {e}")))?;
        Ok(JobOutcome::Analyzed(analysis_record(&analysis, report_json)))
    }
}

impl AnalysisJobHandler {
    fn analyse(&self, job: &ClaimedJob, script: Option<Script>) -> Result<(CallAnalysis, f64), JobError> {
        let call = &job.call;
        let started = Instant::now();
        let audio_path = Path::new(&call.audio_path);
        // The API checked the upload decodes; a failure now is a damaged store: retrying won't help.
        let audio = callsight_pipeline::audio::decode_file(audio_path).map_err(|e| JobError::permanent(e.to_string()))?;
        let decode_secs = started.elapsed().as_secs_f64();
        let channel_layout = call
            .channel_layout
            .as_deref()
            .map(str::parse::<ChannelLayout>)
            .transpose()
            .map_err(|e| JobError::permanent(e.to_string()))?;
        let options = AnalyzeOptions {
            channel_layout,
            language: call.language_hint.clone(),
            script,
            ..self.base_options.clone()
        };
        if job.cancel.is_cancelled() {
            return Err(JobError::transient("lease lost before analysis started"));
        }
        let analysis = analyze_call(&audio, &options, &self.engines, &|_, _, _| {})
            .map_err(|e| JobError::transient(e.to_string()))?;
        write_analysis(audio_path, &analysis)?;
        Ok((analysis, decode_secs))
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

fn script_from_body(body: &serde_json::Value, script_id: &str, version: i64) -> Result<Script, JobError> {
    let text = serde_json::to_string(body).map_err(|e| JobError::permanent(e.to_string()))?;
    parse_script(&text, &format!("{script_id} v{version}")).map_err(|e| JobError::permanent(e.to_string()))
}

/// Written to a temporary name and renamed, so a crash never leaves half a file.
fn write_analysis(audio_path: &Path, analysis: &CallAnalysis) -> Result<(), JobError> {
    let path = analysis_path(audio_path);
    let temporary = path.with_extension("json.partial");
    let json = serde_json::to_vec(analysis).map_err(|e| JobError::transient(e.to_string()))?;
    std::fs::write(&temporary, json)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|e| JobError::transient(format!("writing {}: {e}", path.display())))
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
