//! The benchmark report: the result files one `make bench` run writes into a results folder (one
//! JSON file per measurement), read back and rendered as `eval/REPORT.md` with SVG plots.
//!
//! Every file is optional: a run that skipped a part (or failed in it) still gets a report, which
//! says what is missing instead of showing numbers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use callsight_pipeline::analyze::StageTimings;
use serde::{Deserialize, Serialize};

use crate::asr::AsrReport;
use crate::index_bench::IndexBenchReport;
use crate::plots::{BarChart, BarSeries};
use crate::sentiment::SentimentReport;
use crate::speaker::ConditionReport;

/// The machine and the versions, written by the bench script (`machine.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    pub cpu_model: String,
    pub cores: usize,
    pub ram_gib: f64,
    pub os: String,
    pub kernel: String,
    pub callsight_commit: String,
    /// Whether the working tree had uncommitted changes when the bench ran.
    pub callsight_dirty: bool,
    pub whisper_rs: String,
    pub ort: String,
    pub faster_whisper: Option<String>,
    pub ctranslate2: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub quick: bool,
    /// `/proc/loadavg` at the start and the end: other work on the machine skews absolute timings.
    pub load_average_start: String,
    pub load_average_end: Option<String>,
    /// Free text the operator adds (e.g. "three other builds were running").
    #[serde(default)]
    pub note: String,
}

/// One step of the bench script and how long it took (`commands.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRecord {
    pub step: String,
    pub command: String,
    pub wall_secs: f64,
    pub exit_code: i32,
}

/// What `callsight eval asr --json-out` writes: the scores plus how they were produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsrRun {
    /// The manifest's file stem, e.g. "asterisk-en" or "festvox-ru-8k".
    pub set: String,
    pub manifest: PathBuf,
    /// "pipeline" (the full `analyze` pipeline), "whisper" (whisper.cpp alone on the whole
    /// recording) or "hypotheses" (transcripts produced elsewhere, only scored here).
    pub engine: String,
    pub model: String,
    pub threads: usize,
    pub language_hint: bool,
    pub allowed_languages: Vec<String>,
    /// The per-language sample size asked for (`--limit`).
    pub limit: Option<usize>,
    pub audio_secs: f64,
    /// Wall time of transcription only (model loading excluded).
    pub processing_secs: f64,
    /// Summed per-stage times of the pipeline (engine "pipeline" only).
    pub stage_secs: Option<StageTimings>,
    pub report: AsrReport,
}

/// One model's line of `callsight eval speaker-verification --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerSummary {
    pub model: String,
    pub model_version: String,
    pub n_target: usize,
    pub n_nontarget: usize,
    pub eer: f64,
    pub min_dcf: f64,
    pub min_dcf_p_target: f64,
    pub target_false_accept_rate: f64,
    pub cosine_threshold_at_far: f64,
    pub conditions: Vec<ConditionReport>,
}

/// What `callsight eval sentiment --json-out` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentRun {
    pub head_name: String,
    pub embedding_model: String,
    /// The shipped head's provenance: which data trained it, and how.
    pub training_data: Vec<String>,
    pub train_rows: usize,
    pub method: String,
    pub report: SentimentReport,
    /// Languages the head is used for that have no labelled data in any registry.
    pub languages_without_data: Vec<String>,
}

/// One probe length of `callsight eval verify-latency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeLatency {
    pub probe: String,
    pub audio_secs: f64,
    pub net_speech_secs: f64,
    pub decision: String,
    pub score: Option<f64>,
    pub latencies_ms: Vec<f64>,
}

/// What `callsight eval verify-latency --json-out` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyLatencyRun {
    pub model: String,
    pub threads: usize,
    pub enrol_net_speech_secs: f64,
    pub probes: Vec<ProbeLatency>,
}

/// One timed run of one system in the speed comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedRun {
    /// The whole process, model loading included.
    pub wall_secs: f64,
    /// Transcription only.
    pub processing_secs: f64,
    pub peak_rss_mib: f64,
}

/// One system of the speed comparison (`speed.json`, written by `scripts/bench_speed.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedSystem {
    pub name: String,
    pub weights: String,
    pub runs: Vec<SpeedRun>,
    pub wer: Option<f64>,
    pub cer: Option<f64>,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedResults {
    pub manifest: PathBuf,
    pub n_files: usize,
    pub audio_secs: f64,
    pub threads: usize,
    pub beam_size: usize,
    pub vad: String,
    pub language: String,
    pub systems: Vec<SpeedSystem>,
}

/// One (call, rule) item of the synthetic compliance set (`compliance.json`, written by
/// `scripts/bench_compliance.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceItem {
    pub call: String,
    pub rule: String,
    /// "required" or "forbidden".
    pub kind: String,
    /// How the phrase was worded: "exact", "paraphrase", "asr-hostile", or "absent".
    pub wording: String,
    /// "clean" (16 kHz) or "telephone" (8 kHz µ-law, band-limited, noise).
    pub channel: String,
    pub voice: String,
    pub expected_pass: bool,
    /// `None` when the report had no outcome for the rule.
    pub passed: Option<bool>,
    /// Start of the turn that said the phrase, in the generated call.
    pub said_at_secs: Option<f64>,
    /// Start of the first evidence the outcome pointed at.
    pub evidence_at_secs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceResults {
    pub script: PathBuf,
    pub n_calls: usize,
    pub items: Vec<ComplianceItem>,
}

/// Everything one bench run produced; each part is `None` when its file is absent.
#[derive(Debug, Clone, Default)]
pub struct BenchResults {
    pub machine: Option<MachineInfo>,
    pub commands: Vec<CommandRecord>,
    pub asr: Vec<AsrRun>,
    pub speaker: Option<Vec<SpeakerSummary>>,
    /// Relative path of the DET plot from the report, when the run drew one.
    pub det_plot: Option<String>,
    pub sentiment: Option<SentimentRun>,
    pub compliance: Option<ComplianceResults>,
    pub speed: Option<SpeedResults>,
    pub verify_latency: Option<VerifyLatencyRun>,
    pub index: Vec<IndexBenchReport>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Option<T>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).map(Some).with_context(|| format!("parsing {}", path.display()))
}

impl BenchResults {
    /// Reads a results folder: `machine.json`, `commands.jsonl`, `asr-*.json`, `speaker.json`,
    /// `sentiment.json`, `compliance.json`, `speed.json`, `verify-latency.json`, `index-*.json`.
    pub fn read_dir(dir: &Path) -> anyhow::Result<Self> {
        let mut results = BenchResults {
            machine: read_json(&dir.join("machine.json"))?,
            speaker: read_json(&dir.join("speaker.json"))?,
            sentiment: read_json(&dir.join("sentiment.json"))?,
            compliance: read_json(&dir.join("compliance.json"))?,
            speed: read_json(&dir.join("speed.json"))?,
            verify_latency: read_json(&dir.join("verify-latency.json"))?,
            ..BenchResults::default()
        };
        let commands_path = dir.join("commands.jsonl");
        if commands_path.is_file() {
            let text = std::fs::read_to_string(&commands_path).with_context(|| format!("reading {}", commands_path.display()))?;
            for (line_idx, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
                results.commands.push(
                    serde_json::from_str(line).with_context(|| format!("{} line {}", commands_path.display(), line_idx + 1))?,
                );
            }
        }
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect();
        names.sort();
        for path in names {
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else { continue };
            if !name.ends_with(".json") {
                continue;
            }
            if name.starts_with("asr-") {
                results.asr.extend(read_json::<AsrRun>(&path)?);
            } else if name.starts_with("index-") {
                results.index.extend(read_json::<IndexBenchReport>(&path)?);
            }
        }
        results.index.sort_by_key(|report| report.voiceprints);
        Ok(results)
    }
}

/// Median and (min, max) of `values`; `None` when empty.
pub fn median_and_range(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|value| value.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) { (sorted[middle - 1] + sorted[middle]) / 2.0 } else { sorted[middle] };
    Some((median, sorted[0], sorted[sorted.len() - 1]))
}

/// The `q` quantile (0..1) by linear interpolation between order statistics.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|value| value.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    Some(sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64))
}

/// Precision and recall of flagged violations (an outcome "failed" is a positive), plus counts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ViolationScores {
    pub n_items: usize,
    pub n_missing_outcome: usize,
    pub true_violations: usize,
    pub flagged: usize,
    pub correctly_flagged: usize,
    pub n_correct: usize,
}

impl ViolationScores {
    pub fn of<'a>(items: impl IntoIterator<Item = &'a ComplianceItem>) -> Self {
        let mut scores = ViolationScores::default();
        for item in items {
            scores.n_items += 1;
            let Some(passed) = item.passed else {
                scores.n_missing_outcome += 1;
                continue;
            };
            if !item.expected_pass {
                scores.true_violations += 1;
            }
            if !passed {
                scores.flagged += 1;
                if !item.expected_pass {
                    scores.correctly_flagged += 1;
                }
            }
            if passed == item.expected_pass {
                scores.n_correct += 1;
            }
        }
        scores
    }

    pub fn precision(&self) -> Option<f64> {
        (self.flagged > 0).then(|| self.correctly_flagged as f64 / self.flagged as f64)
    }

    pub fn recall(&self) -> Option<f64> {
        (self.true_violations > 0).then(|| self.correctly_flagged as f64 / self.true_violations as f64)
    }

    pub fn accuracy(&self) -> Option<f64> {
        let scored = self.n_items - self.n_missing_outcome;
        (scored > 0).then(|| self.n_correct as f64 / scored as f64)
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |value| format!("{:.1} %", value * 100.0))
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |value| format!("{value:.2} s"))
}

fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A rendered report: the Markdown and the SVG files it links to (file name → contents).
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedReport {
    pub markdown: String,
    pub plots: BTreeMap<String, String>,
}

/// Renders the report; `plots_link_dir` is how the Markdown refers to the plot folder (e.g.
/// "plots"), `regenerate_command` the one command that reproduces it.
pub fn render_report(results: &BenchResults, plots_link_dir: &str, regenerate_command: &str) -> RenderedReport {
    let mut md = String::new();
    let mut plots = BTreeMap::new();
    let _ = writeln!(md, "# Callsight evaluation and benchmark report\n");
    let _ = writeln!(
        md,
        "Generated by `{regenerate_command}` (do not edit by hand: rerun it). Hand-written notes and older \
         measurements are in [RESULTS.md](RESULTS.md).\n"
    );
    render_machine(&mut md, results);
    render_asr(&mut md, &mut plots, results, plots_link_dir);
    render_speaker(&mut md, results);
    render_sentiment(&mut md, &mut plots, results, plots_link_dir);
    render_compliance(&mut md, results);
    render_speed(&mut md, &mut plots, results, plots_link_dir);
    render_verify_latency(&mut md, &mut plots, results, plots_link_dir);
    render_index(&mut md, &mut plots, results, plots_link_dir);
    render_commands(&mut md, results);
    RenderedReport { markdown: md, plots }
}

fn render_machine(md: &mut String, results: &BenchResults) {
    let _ = writeln!(md, "## Machine and versions\n");
    let Some(machine) = &results.machine else {
        let _ = writeln!(md, "No `machine.json` in this run.\n");
        return;
    };
    let dirty = if machine.callsight_dirty { " (with uncommitted changes)" } else { "" };
    let _ = writeln!(md, "| | |\n| --- | --- |");
    let rows = [
        ("CPU", format!("{} ({} cores)", machine.cpu_model, machine.cores)),
        ("RAM", format!("{:.1} GiB", machine.ram_gib)),
        ("OS", format!("{} (kernel {})", machine.os, machine.kernel)),
        ("Callsight", format!("git {}{dirty}", machine.callsight_commit)),
        ("whisper-rs (whisper.cpp)", machine.whisper_rs.clone()),
        ("ort (ONNX Runtime)", machine.ort.clone()),
        ("faster-whisper", machine.faster_whisper.clone().unwrap_or_else(|| "not installed".into())),
        ("ctranslate2", machine.ctranslate2.clone().unwrap_or_else(|| "not installed".into())),
        ("run", format!("{} → {}", machine.started_at, machine.finished_at.clone().unwrap_or_else(|| "unfinished".into()))),
        ("mode", if machine.quick { "quick (BENCH_QUICK=1: small subsets, a smoke run)".into() } else { "full".into() }),
        (
            "load average (1/5/15 min)",
            format!("start {}; end {}", machine.load_average_start, machine.load_average_end.clone().unwrap_or_else(|| "–".into())),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(md, "| {name} | {} |", table_cell(&value));
    }
    let _ = writeln!(md);
    if !machine.note.is_empty() {
        let _ = writeln!(md, "{}\n", machine.note);
    }
}

fn render_asr(md: &mut String, plots: &mut BTreeMap<String, String>, results: &BenchResults, plots_link_dir: &str) {
    let _ = writeln!(md, "## 1. Speech recognition (WER / CER)\n");
    // Runs of quantised weights (`whisper-base-q8_0`) get their own table below, next to the f16
    // run of the same set.
    let (quantized_runs, runs): (Vec<&AsrRun>, Vec<&AsrRun>) =
        results.asr.iter().filter(|run| run.engine == "pipeline").partition(|run| is_quantized_model(&run.model));
    if runs.is_empty() {
        let _ = writeln!(md, "Not measured in this run.\n");
        render_asr_quantized(md, &runs, &quantized_runs);
        return;
    }
    let _ = writeln!(
        md,
        "Full `analyze` pipeline (decode → 16 kHz → Silero VAD → Whisper base, greedy), Whisper-style \
         normalisation of reference and hypothesis (lower case, punctuation, numbers as digits). WER and \
         CER are corpus-level (all edits over all reference words/characters). Each set is a seeded \
         sample of at most `limit` utterances per language (small on purpose: see the machine note). \
         Only English and Russian have number normalisation; for es/fr/it a digit against a \
         spelled-out number counts as an error, so their WER is an upper bound.\n"
    );
    let _ = writeln!(md, "| set | language | limit | utterances | exact | WER | CER | ref words | language given | audio | processing | RTF |");
    let _ = writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
    let mut categories = Vec::new();
    let mut wer_values = Vec::new();
    let mut cer_values = Vec::new();
    for run in &runs {
        for language in &run.report.languages {
            let language_given = if run.language_hint {
                "yes".to_string()
            } else if run.allowed_languages.is_empty() {
                "no (detected)".to_string()
            } else {
                format!("no (among {})", run.allowed_languages.join(","))
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {:.2} % | {:.2} % | {} | {} | {:.0} s | {:.0} s | {:.2} |",
                run.set,
                language.language,
                run.limit.map_or_else(|| "all".into(), |limit| limit.to_string()),
                language.n_utterances,
                language.n_exact_matches,
                language.wer * 100.0,
                language.cer * 100.0,
                language.word_counts.reference_len,
                language_given,
                run.audio_secs,
                run.processing_secs,
                run.processing_secs / run.audio_secs.max(1e-9),
            );
            categories.push(format!("{} ({})", run.set, language.language));
            wer_values.push(Some(language.wer * 100.0));
            cer_values.push(Some(language.cer * 100.0));
        }
    }
    let _ = writeln!(md);
    let chart = BarChart {
        title: "ASR error rates, Whisper base through the Callsight pipeline".into(),
        unit: "error rate (%)".into(),
        categories,
        series: vec![
            BarSeries { name: "WER".into(), values: wer_values, whiskers: None },
            BarSeries { name: "CER".into(), values: cer_values, whiskers: None },
        ],
    };
    plots.insert("asr-error-rates.svg".into(), chart.to_svg());
    let _ = writeln!(md, "![ASR error rates]({plots_link_dir}/asr-error-rates.svg)\n");
    let _ = writeln!(md, "### Worst utterances\n");
    for run in &runs {
        for language in &run.report.languages {
            let wrong: Vec<_> = language.worst.iter().filter(|utterance| utterance.wer > 0.0 || utterance.cer > 0.0).take(5).collect();
            if wrong.is_empty() {
                let _ = writeln!(md, "**{} ({})**: every utterance recognised exactly.\n", run.set, language.language);
                continue;
            }
            let _ = writeln!(md, "**{} ({})**\n", run.set, language.language);
            let _ = writeln!(md, "| id | WER | reference | hypothesis |\n| --- | ---: | --- | --- |");
            for utterance in wrong {
                let _ = writeln!(
                    md,
                    "| {} | {:.0} % | {} | {} |",
                    table_cell(&utterance.id),
                    utterance.wer * 100.0,
                    table_cell(&utterance.reference_normalized),
                    table_cell(&utterance.hypothesis_normalized)
                );
            }
            let _ = writeln!(md);
        }
        if run.report.n_failures > 0 {
            let _ = writeln!(md, "{} utterances of {} failed (not scored).\n", run.report.n_failures, run.set);
        }
    }
    render_asr_quantized(md, &runs, &quantized_runs);
}

/// Whether `model` names quantised Whisper weights (`whisper-base-q8_0`).
fn is_quantized_model(model: &str) -> bool {
    callsight_models::whisper::QUANTIZED_SUFFIXES.iter().any(|suffix| model.ends_with(suffix))
}

/// The quantised models' WER next to the f16 model's on the same set (nothing when none ran).
fn render_asr_quantized(md: &mut String, f16_runs: &[&AsrRun], quantized_runs: &[&AsrRun]) {
    if quantized_runs.is_empty() {
        return;
    }
    let _ = writeln!(md, "### Quantised Whisper weights\n");
    let _ = writeln!(
        md,
        "The same pipeline and sample with Whisper's weight matrices quantised by `callsight models fetch` \
         (q8_0: 8 bits, q5_1: 5 bits per weight; see docs/eval.md).\n"
    );
    let _ = writeln!(md, "| set | language | model | utterances | WER | WER with f16 weights | CER | processing | RTF |");
    let _ = writeln!(md, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for run in quantized_runs {
        for language in &run.report.languages {
            let f16_wer = f16_runs
                .iter()
                .filter(|f16_run| f16_run.set == run.set)
                .flat_map(|f16_run| f16_run.report.languages.iter())
                .find(|f16_language| f16_language.language == language.language)
                .map(|f16_language| f16_language.wer);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.2} % | {} | {:.2} % | {:.0} s | {:.2} |",
                run.set,
                language.language,
                run.model,
                language.n_utterances,
                language.wer * 100.0,
                f16_wer.map_or_else(|| "not measured".to_string(), |wer| format!("{:.2} %", wer * 100.0)),
                language.cer * 100.0,
                run.processing_secs,
                run.processing_secs / run.audio_secs.max(1e-9),
            );
        }
    }
    let _ = writeln!(md);
}

fn render_speaker(md: &mut String, results: &BenchResults) {
    let _ = writeln!(md, "## 2. Speaker verification\n");
    let Some(models) = &results.speaker else {
        let _ = writeln!(md, "Not measured in this run.\n");
        return;
    };
    let _ = writeln!(
        md,
        "Trials from `callsight eval prepare-speakers` (Asterisk voices from Debian packages, Silero VAD before \
         embedding); minDCF at p_target {}, C_miss = C_fa = 1. \"cross_language\" target trials pair one \
         voice speaking two languages.\n",
        models.first().map_or(0.01, |model| model.min_dcf_p_target)
    );
    let _ = writeln!(md, "| model | target / non-target trials | EER | minDCF | cosine at {} FAR |", percent(models.first().map(|m| m.target_false_accept_rate)));
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: |");
    for model in models {
        let _ = writeln!(
            md,
            "| {} ({}) | {} / {} | {:.2} % | {:.3} | {:.3} |",
            model.model, model.model_version, model.n_target, model.n_nontarget, model.eer * 100.0, model.min_dcf, model.cosine_threshold_at_far
        );
    }
    let _ = writeln!(md, "\n| model | condition | target | non-target | EER | FRR at the global 1 % FAR threshold | FAR there |");
    let _ = writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for model in models {
        for condition in &model.conditions {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                model.model,
                condition.condition,
                condition.n_target,
                condition.n_nontarget,
                percent(condition.eer),
                percent(condition.frr_at_global_1pct_far),
                percent(condition.far_at_global_1pct_far)
            );
        }
    }
    let _ = writeln!(md);
    if let Some(det) = &results.det_plot {
        let _ = writeln!(md, "![DET curves]({det})\n");
    }
}

fn render_sentiment(md: &mut String, plots: &mut BTreeMap<String, String>, results: &BenchResults, plots_link_dir: &str) {
    let _ = writeln!(md, "## 3. Sentiment\n");
    let Some(run) = &results.sentiment else {
        let _ = writeln!(md, "Not measured in this run.\n");
        return;
    };
    let _ = writeln!(
        md,
        "Shipped scorer `{}` (head `{}`) against the VADER lexicon baseline on the same held-out rows. \
         The split is the one recorded in the head's provenance, recomputed and checked against the \
         head's own row counts, so no evaluation row was used in training. Language: English; {}.\n",
        run.embedding_model,
        run.head_name,
        if run.languages_without_data.is_empty() {
            "every served language has labelled data".to_string()
        } else {
            format!("no labelled data exists in any registry for {} (not measured)", run.languages_without_data.join(", "))
        }
    );
    let _ = writeln!(md, "{}", run.report.to_markdown().replace("## Sentiment", "### Sentiment"));
    let _ = writeln!(md, "Training data of the shipped head ({} training rows):\n", run.train_rows);
    for line in &run.training_data {
        let _ = writeln!(md, "- {line}");
    }
    let _ = writeln!(md, "- method: {}\n", run.method);
    let groups: Vec<String> = {
        let mut seen = Vec::new();
        for row in &run.report.rows {
            if !seen.contains(&row.source) {
                seen.push(row.source.clone());
            }
        }
        seen
    };
    let mut scorers: Vec<String> = Vec::new();
    for row in &run.report.rows {
        if !scorers.contains(&row.scorer) {
            scorers.push(row.scorer.clone());
        }
    }
    let series = scorers
        .iter()
        .map(|scorer| BarSeries {
            name: format!("{scorer} macro-F1"),
            values: groups
                .iter()
                .map(|group| run.report.rows.iter().find(|row| &row.source == group && &row.scorer == scorer).map(|row| row.scores.macro_f1))
                .collect(),
            whiskers: None,
        })
        .collect();
    let chart = BarChart { title: "Sentiment, held-out macro-F1".into(), unit: "macro-F1".into(), categories: groups, series };
    plots.insert("sentiment-macro-f1.svg".into(), chart.to_svg());
    let _ = writeln!(md, "![Sentiment macro-F1]({plots_link_dir}/sentiment-macro-f1.svg)\n");
}

fn render_compliance(md: &mut String, results: &BenchResults) {
    let _ = writeln!(md, "## 4. Script compliance on synthetic calls\n");
    let Some(compliance) = &results.compliance else {
        let _ = writeln!(md, "Not measured in this run.\n");
        return;
    };
    let _ = writeln!(
        md,
        "{} generated calls (espeak-ng voices; half of them band-limited to 300–3400 Hz, noise added and \
         stored as 8 kHz µ-law), script `{}`. Each (call, rule) is one item; a flagged violation (rule \
         failed) is a positive. Wordings: `exact` (the script's phrase), `paraphrase`, `asr-hostile` (fast \
         speech, acronyms, slang), `absent`, `negated` (\"this call is not being recorded\", which must not \
         count as the disclosure); the forbidden rule is a guarantee said in one of the three wordings or not \
         at all; the customer ends pleased or angry. Evidence-time error: |start of the evidence − start of \
         the turn that said it|, over correct outcomes that point at a turn.\n",
        compliance.n_calls,
        compliance.script.display()
    );
    let _ = writeln!(md, "| slice | items | true violations | flagged | precision | recall | accuracy | median evidence error | max evidence error |");
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut slices: Vec<(String, Vec<&ComplianceItem>)> = vec![("all".into(), compliance.items.iter().collect())];
    let mut keys: Vec<String> = Vec::new();
    for item in &compliance.items {
        for key in [format!("channel: {}", item.channel), format!("wording: {}", item.wording), format!("rule kind: {}", item.kind)] {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys.sort();
    for key in keys {
        let members = compliance
            .items
            .iter()
            .filter(|item| {
                key == format!("channel: {}", item.channel) || key == format!("wording: {}", item.wording) || key == format!("rule kind: {}", item.kind)
            })
            .collect();
        slices.push((key, members));
    }
    for (name, items) in &slices {
        let scores = ViolationScores::of(items.iter().copied());
        let errors: Vec<f64> = items
            .iter()
            .filter(|item| item.passed == Some(item.expected_pass))
            .filter_map(|item| Some((item.evidence_at_secs? - item.said_at_secs?).abs()))
            .collect();
        let median_error = median_and_range(&errors);
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            scores.n_items,
            scores.true_violations,
            scores.flagged,
            percent(scores.precision()),
            percent(scores.recall()),
            percent(scores.accuracy()),
            seconds(median_error.map(|(median, _, _)| median)),
            seconds(median_error.map(|(_, _, max)| max)),
        );
    }
    let wrong: Vec<&ComplianceItem> = compliance.items.iter().filter(|item| item.passed != Some(item.expected_pass)).collect();
    if !wrong.is_empty() {
        let _ = writeln!(md, "\nWrong outcomes:\n\n| call | rule | wording | channel | voice | expected | got |\n| --- | --- | --- | --- | --- | --- | --- |");
        for item in wrong {
            let outcome = |passed: Option<bool>| match passed {
                Some(true) => "pass",
                Some(false) => "fail",
                None => "no outcome",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                item.call,
                item.rule,
                item.wording,
                item.channel,
                item.voice,
                outcome(Some(item.expected_pass)),
                outcome(item.passed)
            );
        }
    }
    let _ = writeln!(md);
}

fn render_speed(md: &mut String, plots: &mut BTreeMap<String, String>, results: &BenchResults, plots_link_dir: &str) {
    let _ = writeln!(md, "## 5. Speed, side by side\n");
    let Some(speed) = &results.speed else {
        let _ = writeln!(md, "Not measured in this run.\n");
        return;
    };
    let _ = writeln!(
        md,
        "Same machine, same run, same audio ({} file{}, {:.0} s of speech-dense 8 kHz long-form audio built \
         from Asterisk English prompts), the same Whisper base weights (the ggml file was converted from \
         the CTranslate2 fp16 weights faster-whisper loads; int8/float32 are faster-whisper's conversions \
         at load time), {} threads, beam size {}, VAD: {}, language given ({}). The pipeline runs the \
         whole `analyze` path (decode, resample, VAD, Whisper on packed speech windows, turns, \
         sentiment); \"whisper.cpp alone\" hands the whole recording to whisper-rs. RTF = processing time \
         / audio duration (model loading excluded); wall time and peak RSS are of the whole process (model \
         loading included). Systems take turns within each repeat. Medians of the runs, [min–max] in brackets.\n",
        speed.n_files,
        if speed.n_files == 1 { "" } else { "s" },
        speed.audio_secs,
        speed.threads,
        speed.beam_size,
        speed.vad,
        speed.language
    );
    let baseline = speed.systems.first();
    let baseline_rtf = baseline.and_then(|system| median_and_range(&system.runs.iter().map(|run| run.processing_secs).collect::<Vec<_>>()));
    let _ = writeln!(md, "| system | weights | runs | RTF | processing | wall | peak RSS | WER | CER | time vs {} |", baseline.map_or("–", |s| s.name.as_str()));
    let _ = writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut categories = Vec::new();
    let mut rtf_values = Vec::new();
    let mut rtf_whiskers = Vec::new();
    for system in &speed.systems {
        let processing = median_and_range(&system.runs.iter().map(|run| run.processing_secs).collect::<Vec<_>>());
        let wall = median_and_range(&system.runs.iter().map(|run| run.wall_secs).collect::<Vec<_>>());
        let rss = median_and_range(&system.runs.iter().map(|run| run.peak_rss_mib).collect::<Vec<_>>());
        let audio = speed.audio_secs.max(1e-9);
        let ratio = match (processing, baseline_rtf) {
            (Some((value, _, _)), Some((base, _, _))) if base > 0.0 => format!("{:.2}×", value / base),
            _ => "–".into(),
        };
        let range = |stat: Option<(f64, f64, f64)>, scale: f64, digits: usize| {
            stat.map_or_else(
                || "–".to_string(),
                |(median, low, high)| format!("{:.digits$} [{:.digits$}–{:.digits$}]", median * scale, low * scale, high * scale),
            )
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} s | {} s | {} MiB | {} | {} | {} |",
            system.name,
            system.weights,
            system.runs.len(),
            range(processing, 1.0 / audio, 3),
            range(processing, 1.0, 1),
            range(wall, 1.0, 1),
            range(rss, 1.0, 0),
            percent(system.wer),
            percent(system.cer),
            ratio
        );
        categories.push(system.name.clone());
        rtf_values.push(processing.map(|(median, _, _)| median / audio));
        rtf_whiskers.push(processing.map(|(_, low, high)| (low / audio, high / audio)));
    }
    let _ = writeln!(md, "\nCommands:\n");
    for system in &speed.systems {
        let _ = writeln!(md, "- {}: `{}`", system.name, system.command);
    }
    let _ = writeln!(md);
    let chart = BarChart {
        title: "Real-time factor (lower is faster), median with min–max".into(),
        unit: "processing time / audio duration".into(),
        categories,
        series: vec![BarSeries { name: "RTF".into(), values: rtf_values, whiskers: Some(rtf_whiskers) }],
    };
    plots.insert("speed-rtf.svg".into(), chart.to_svg());
    let _ = writeln!(md, "![Real-time factor]({plots_link_dir}/speed-rtf.svg)\n");

    let pipeline_runs: Vec<&AsrRun> = results.asr.iter().filter(|run| run.engine == "pipeline" && run.stage_secs.is_some()).collect();
    if !pipeline_runs.is_empty() {
        let _ = writeln!(md, "### Where the pipeline's time goes\n");
        let _ = writeln!(md, "Summed stage times of the pipeline runs (the rest of the processing time is decoding the file and bookkeeping):\n");
        let _ = writeln!(md, "| run | processing | whisper (transcribe) | VAD | diarize | resample | sentiment | compliance | metrics | not whisper |");
        let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for run in pipeline_runs {
            let Some(stages) = &run.stage_secs else { continue };
            let not_whisper = (run.processing_secs - stages.transcribe_secs).max(0.0);
            let _ = writeln!(
                md,
                "| {} | {:.1} s | {:.1} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.1} % |",
                run.set,
                run.processing_secs,
                stages.transcribe_secs,
                stages.vad_secs,
                stages.diarize_secs,
                stages.resample_secs,
                stages.sentiment_secs,
                stages.compliance_secs,
                stages.metrics_secs,
                not_whisper / run.processing_secs.max(1e-9) * 100.0
            );
        }
        let _ = writeln!(md);
    }
}

fn render_verify_latency(md: &mut String, plots: &mut BTreeMap<String, String>, results: &BenchResults, plots_link_dir: &str) {
    let _ = writeln!(md, "## 6. Verification latency\n");
    let Some(run) = &results.verify_latency else {
        let _ = writeln!(md, "Not measured in this run.\n");
        return;
    };
    let _ = writeln!(
        md,
        "In process through the biometrics engine (`BiometricsEngine::verify_samples`, the same call the \
         HTTP endpoint makes: decode, 16 kHz, Silero VAD, {} embedding, quality gate, index search, \
         watchlist and voice-reuse screening), {} threads, one customer enrolled from {:.0} s of net speech; \
         one request at a time.\n",
        run.model, run.threads, run.enrol_net_speech_secs
    );
    let _ = writeln!(md, "| probe | audio | net speech | decision | score | requests | p50 | p90 | min | max |");
    let _ = writeln!(md, "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut categories = Vec::new();
    let mut values = Vec::new();
    let mut whiskers = Vec::new();
    for probe in &run.probes {
        let stats = median_and_range(&probe.latencies_ms);
        let p90 = quantile(&probe.latencies_ms, 0.9);
        let _ = writeln!(
            md,
            "| {} | {:.1} s | {:.1} s | {} | {} | {} | {} | {} | {} | {} |",
            probe.probe,
            probe.audio_secs,
            probe.net_speech_secs,
            probe.decision,
            probe.score.map_or_else(|| "–".into(), |score| format!("{score:.2}")),
            probe.latencies_ms.len(),
            stats.map_or_else(|| "–".into(), |(median, _, _)| format!("{median:.0} ms")),
            p90.map_or_else(|| "–".into(), |value| format!("{value:.0} ms")),
            stats.map_or_else(|| "–".into(), |(_, low, _)| format!("{low:.0} ms")),
            stats.map_or_else(|| "–".into(), |(_, _, high)| format!("{high:.0} ms")),
        );
        categories.push(format!("{} ({:.0} s)", probe.probe, probe.audio_secs));
        values.push(stats.map(|(median, _, _)| median));
        whiskers.push(stats.map(|(_, low, high)| (low, high)));
    }
    let _ = writeln!(md);
    let chart = BarChart {
        title: "Verification latency per probe, median with min–max".into(),
        unit: "milliseconds".into(),
        categories,
        series: vec![BarSeries { name: "latency".into(), values, whiskers: Some(whiskers) }],
    };
    plots.insert("verify-latency.svg".into(), chart.to_svg());
    let _ = writeln!(md, "![Verification latency]({plots_link_dir}/verify-latency.svg)\n");
}

fn render_index(md: &mut String, plots: &mut BTreeMap<String, String>, results: &BenchResults, plots_link_dir: &str) {
    let _ = writeln!(md, "## 7. Voiceprint search in the embedded index\n");
    if results.index.is_empty() {
        let _ = writeln!(md, "Not measured in this run.\n");
        return;
    }
    let _ = writeln!(
        md,
        "Synthetic unit vectors (dimension as below) spread over tenants; every search filters by one tenant; \
         recall@1 on planted near-duplicates (cosine ≈ 0.99). Searches are timed one by one.\n"
    );
    let _ = writeln!(md, "| voiceprints | dimension | tenants | queries | insert | index build | p50 | p95 | p99 | max | recall@1 | foreign-tenant hits |");
    let _ = writeln!(md, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for report in &results.index {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1} s | {:.1} s | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.3} | {} |",
            report.voiceprints,
            report.dimension,
            report.tenants,
            report.queries,
            report.insert_secs,
            report.after_insert_secs,
            report.search_p50_ms,
            report.search_p95_ms,
            report.search_p99_ms,
            report.search_max_ms,
            report.recall_at_1,
            report.foreign_tenant_hits
        );
    }
    let _ = writeln!(md);
    let categories = results.index.iter().map(|report| format!("{} voiceprints", report.voiceprints)).collect();
    let series = [("p50", 0), ("p95", 1), ("p99", 2)]
        .into_iter()
        .map(|(name, which)| BarSeries {
            name: name.into(),
            values: results
                .index
                .iter()
                .map(|report| Some([report.search_p50_ms, report.search_p95_ms, report.search_p99_ms][which]))
                .collect(),
            whiskers: None,
        })
        .collect();
    let chart = BarChart { title: "Voiceprint search latency".into(), unit: "milliseconds".into(), categories, series };
    plots.insert("index-search.svg".into(), chart.to_svg());
    let _ = writeln!(md, "![Voiceprint search latency]({plots_link_dir}/index-search.svg)\n");
}

fn render_commands(md: &mut String, results: &BenchResults) {
    let _ = writeln!(md, "## Commands run\n");
    if results.commands.is_empty() {
        let _ = writeln!(md, "No `commands.jsonl` in this run.\n");
        return;
    }
    let _ = writeln!(md, "| step | wall | exit | command |\n| --- | ---: | ---: | --- |");
    for command in &results.commands {
        let _ = writeln!(
            md,
            "| {} | {:.0} s | {} | `{}` |",
            table_cell(&command.step),
            command.wall_secs,
            command.exit_code,
            table_cell(&command.command).replace('`', "'")
        );
    }
    let _ = writeln!(md);
}

/// Reads `results_dir`, renders the report and writes it to `report_path` with its plots in
/// `plots_dir` (linked relative to the report). Returns the plot files written.
pub fn write_report(results_dir: &Path, report_path: &Path, plots_dir: &Path, regenerate_command: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut results = BenchResults::read_dir(results_dir)?;
    let report_dir = report_path.parent().unwrap_or(Path::new("."));
    let plots_link_dir = pathdiff(plots_dir, report_dir);
    if plots_dir.join("det.svg").is_file() {
        results.det_plot = Some(format!("{plots_link_dir}/det.svg"));
    }
    let rendered = render_report(&results, &plots_link_dir, regenerate_command);
    std::fs::create_dir_all(plots_dir).with_context(|| format!("creating {}", plots_dir.display()))?;
    let mut written = Vec::new();
    for (name, svg) in &rendered.plots {
        let path = plots_dir.join(name);
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    std::fs::write(report_path, &rendered.markdown).with_context(|| format!("writing {}", report_path.display()))?;
    Ok(written)
}

/// `target` relative to `base` when it lies under it, else `target` as given.
fn pathdiff(target: &Path, base: &Path) -> String {
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (target_abs, base_abs) = (absolute(target), absolute(base));
    match target_abs.strip_prefix(&base_abs) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => target.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_quantile_and_range() {
        assert_eq!(median_and_range(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(median_and_range(&[4.0, 1.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(median_and_range(&[]), None);
        assert_eq!(quantile(&[0.0, 10.0], 0.9), Some(9.0));
    }

    #[test]
    fn quantised_runs_get_their_own_table_next_to_the_f16_wer() {
        let utterances = vec![crate::Utterance {
            id: "a".into(),
            audio: "a.wav".into(),
            text: "press one now".into(),
            language: "en".into(),
        }];
        let run = |model: &str, hypothesis: &'static str| {
            let report = crate::evaluate_asr(&utterances, &mut |_| Ok(hypothesis.to_string()), &mut |_, _| {});
            AsrRun {
                set: "asterisk-en".into(),
                manifest: "asterisk-en.jsonl".into(),
                engine: "pipeline".into(),
                model: model.into(),
                threads: 2,
                language_hint: true,
                allowed_languages: Vec::new(),
                limit: Some(1),
                audio_secs: 2.0,
                processing_secs: 1.0,
                stage_secs: None,
                report,
            }
        };
        let mut results = BenchResults { asr: vec![run("whisper-base", "press one now")], ..BenchResults::default() };
        let without = render_report(&results, "plots", "make bench").markdown;
        assert!(!without.contains("Quantised Whisper weights"), "{without}");

        results.asr.push(run("whisper-base-q5_1", "press one"));
        let with = render_report(&results, "plots", "make bench").markdown;
        assert!(with.contains("| asterisk-en | en | whisper-base-q5_1 | 1 | 33.33 % | 0.00 % |"), "{with}");
        assert_eq!(with.matches("| asterisk-en | en | 1 |").count(), 1, "the main table keeps the f16 run only: {with}");
    }

    #[test]
    fn violation_scores_count_failed_outcomes_as_positives() {
        let item = |expected_pass: bool, passed: Option<bool>| ComplianceItem {
            call: "c".into(),
            rule: "r".into(),
            kind: "required".into(),
            wording: "exact".into(),
            channel: "clean".into(),
            voice: "v".into(),
            expected_pass,
            passed,
            said_at_secs: None,
            evidence_at_secs: None,
        };
        let items = [item(false, Some(false)), item(true, Some(false)), item(false, Some(true)), item(true, Some(true)), item(true, None)];
        let scores = ViolationScores::of(items.iter());
        assert_eq!(scores.true_violations, 2);
        assert_eq!(scores.flagged, 2);
        assert_eq!(scores.precision(), Some(0.5));
        assert_eq!(scores.recall(), Some(0.5));
        assert_eq!(scores.accuracy(), Some(0.5));
        assert_eq!(scores.n_missing_outcome, 1);
    }
}
