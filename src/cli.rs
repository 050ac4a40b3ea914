//! Command-line definition and the `analyze` command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use callsight_api::render;
use callsight_api::report::CallReport;
use callsight_pipeline::analyze::{AnalyzeOptions, ChannelLayout, analyze_call};
use callsight_pipeline::audio::DecodeLimits;
use callsight_pipeline::redaction::{EntityKind, RedactionConfig, redact_analysis, write_redacted_wav};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::engines::{WhisperModel, load_engines};

/// Callsight: speech analytics and voice biometrics for contact centres.
///
/// Transcribes call recordings by party, scores sentiment and script compliance, measures silence,
/// hold and talk-over, and flags calls for QA review. Everything runs locally on fetched models.
#[derive(Debug, Parser)]
#[command(name = "callsight", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub models: ModelArgs,
    /// Configuration file (TOML); CALLSIGHT__SECTION__KEY environment variables override it.
    #[arg(long, env = "CALLSIGHT_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); CALLSIGHT_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Where fetched models live [default: ~/.cache/callsight/models/v1].
    #[arg(long, env = "CALLSIGHT_MODELS_DIR", global = true)]
    pub models_dir: Option<PathBuf>,
    /// CPU threads for inference [default: all cores].
    #[arg(long, global = true)]
    pub threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse call recordings: transcript by party, sentiment, compliance, metrics, flags.
    Analyze(AnalyzeArgs),
    /// Fetch, convert and verify the model files (setup step; nothing is downloaded at run time).
    Models {
        #[command(subcommand)]
        command: crate::models_cmd::ModelsCommand,
    },
    /// Run the HTTP API (and, by default, a worker pool) on the data directory.
    Serve(crate::serve_cmd::ServeArgs),
    /// Run standalone workers against the server's database (scale-out).
    Worker(crate::serve_cmd::WorkerArgs),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: crate::serve_cmd::KeysCommand,
    },
    /// Copy a data directory's embedded stores (SQLite, voiceprints) into PostgreSQL and a Qdrant
    /// server; verified and resumable, the data directory is only read.
    Migrate(crate::migrate_cmd::MigrateArgs),
    /// Back up a data directory (database online, voiceprints, recordings) into a new directory.
    Backup(crate::migrate_cmd::BackupArgs),
    /// Restore a backup into a new data directory, checked against the backup's manifest.
    Restore(crate::migrate_cmd::RestoreArgs),
    /// Voice biometrics: enrol, verify, identify, watchlist, delete.
    Speakers(crate::speakers_cmd::SpeakersArgs),
    /// Print the effective configuration (defaults, config file, CALLSIGHT__ environment) as TOML.
    Config,
    /// Play a recording to a server's live-stream endpoint and print the events (or, with
    /// --concurrency, latency statistics).
    Stream(crate::stream_cmd::StreamArgs),
    /// Measure accuracy on real speech (word error rate, sentiment accuracy).
    Eval {
        #[command(subcommand)]
        command: crate::eval_cmd::EvalCommand,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// The full report (schema: docs/report-schema.md).
    Json,
    /// A summary a person reads in ten seconds.
    Text,
    /// Subtitles, one cue per turn.
    Srt,
    /// WebVTT subtitles with speaker voices.
    Vtt,
}

impl OutputFormat {
    fn extension(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Text => "txt",
            OutputFormat::Srt => "srt",
            OutputFormat::Vtt => "vtt",
        }
    }
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Recordings (WAV incl. µ-law/A-law, MP3, FLAC, Ogg/Vorbis) or directories of them.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Script to check compliance against (JSON or YAML).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Which stereo channel is which party: "agent,customer" (default for stereo),
    /// "customer,agent", or "mixed" to treat the call as one mono channel.
    #[arg(long, value_name = "LAYOUT")]
    pub channels: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    pub format: OutputFormat,
    /// Write one report per recording into this directory instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Whisper model: base (multilingual) or tiny.en (fast, English only), or their quantised
    /// weights base-q8_0, base-q5_1, tiny.en-q8_0 [default: analysis.model from the configuration,
    /// else base].
    #[arg(long, value_enum)]
    pub model: Option<WhisperModel>,
    /// Language of the calls (ISO 639-1, e.g. en, ru); detected per party when absent.
    #[arg(long)]
    pub language: Option<String>,
    /// Languages the contact centre serves: detection picks only among these (comma-separated
    /// ISO 639-1 codes, e.g. en,ru) [default: analysis.languages, else any language].
    #[arg(long, value_delimiter = ',', value_name = "CODES")]
    pub languages: Vec<String>,
    /// Recordings analysed at once (each uses --threads for inference).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Redact payment and personal data from every output: all types, or a comma-separated
    /// list of card, cvv, expiry, account, dob, phone, email, national_id, address. With --out,
    /// the redacted recording is written beside the report as <name>.redacted.wav
    /// [default: redaction.* from the configuration].
    #[arg(long, value_name = "TYPES", num_args = 0..=1, default_missing_value = "all")]
    pub redact: Option<String>,
}

pub fn analyze(
    args: AnalyzeArgs,
    model_args: &ModelArgs,
    config: &crate::config::Config,
) -> anyhow::Result<std::process::ExitCode> {
    let inputs = callsight_workers::batch::collect_inputs(&args.inputs)?;
    if inputs.is_empty() {
        anyhow::bail!("no audio files found in {:?}", args.inputs);
    }
    let channel_layout = args.channels.as_deref().map(str::parse::<ChannelLayout>).transpose()?;
    let script = match &args.script {
        Some(path) => Some(callsight_pipeline::compliance::load_script(path)?),
        None => None,
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating output directory {}", dir.display()))?;
    }
    let options = AnalyzeOptions {
        channel_layout,
        language: args.language.clone(),
        allowed_languages: if args.languages.is_empty() { config.analysis.languages.clone() } else { args.languages.clone() },
        script,
        vad: config.analysis.vad.clone(),
        hallucination: config.analysis.hallucination.clone(),
        metrics: config.analysis.metrics.clone(),
        matching: config.analysis.matching.clone(),
        diarization: config.analysis.diarization.clone(),
        agent_voiceprint: None,
    };
    let whisper_model = match args.model {
        Some(model) => model,
        None => WhisperModel::from_config(&config.analysis.model)?,
    };
    let redaction = match &args.redact {
        Some(list) => RedactionConfig { enabled: true, types: EntityKind::parse_list(list)?, ..config.redaction.clone() },
        None => config.redaction.clone(),
    };
    let threads_per_job = model_args.threads.unwrap_or_else(default_threads).div_ceil(args.jobs.max(1)).max(1);
    let engines = load_engines(model_args, whisper_model, threads_per_job, args.jobs.max(1))?;

    let batch_bar = ProgressBar::new(inputs.len() as u64);
    batch_bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} calls · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if inputs.len() == 1 {
        batch_bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    }
    batch_bar.enable_steady_tick(std::time::Duration::from_millis(200));

    let analyze_one = |path: &Path| -> Result<CallReport, String> {
        let started = Instant::now();
        // A long call is spilled to temporary files while it is analysed, not held in memory.
        let decoded = callsight_pipeline::audio::decode_file_for_analysis(path, &DecodeLimits::default(), &std::env::temp_dir())
            .map_err(|e| e.to_string())?;
        let audio = decoded.as_audio();
        let decode_secs = started.elapsed().as_secs_f64();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("call").to_string();
        let progress = |stage: &str, done: usize, total: usize| {
            batch_bar.set_message(format!("{name}: {stage} {}/{}", done + 1, total.max(1)));
        };
        let mut analysis = analyze_call(audio, &options, &engines, &progress).map_err(|e| format!("{}: {e}", path.display()))?;
        if redaction.enabled {
            let spans = redact_analysis(&mut analysis, &redaction);
            if let Some(dir) = &args.out {
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("call");
                let target = dir.join(format!("{stem}.redacted.wav"));
                let writing_error = |e: &dyn std::fmt::Display| format!("writing {}: {e}", target.display());
                let mut file = std::io::BufWriter::new(std::fs::File::create(&target).map_err(|e| writing_error(&e))?);
                write_redacted_wav(audio, &spans, analysis.channel_layout, &redaction, &mut file).map_err(|e| writing_error(&e))?;
                file.flush().map_err(|e| writing_error(&e))?;
            }
        }
        Ok(CallReport::from_analysis(&path.display().to_string(), &analysis, decode_secs, started.elapsed().as_secs_f64()))
    };
    // indicatif draws nothing when stderr is not a terminal; errors must reach the user anyway.
    let tell = |line: String| if batch_bar.is_hidden() { eprintln!("{line}") } else { batch_bar.println(line) };
    let on_done = |_: usize, path: &Path, result: &Result<CallReport, String>| {
        batch_bar.inc(1);
        match result {
            Ok(report) => tell(format!(
                "analysed {} ({:.0} s audio in {:.1} s, {} flags)",
                path.display(),
                report.duration_secs,
                report.timings.total_secs,
                report.flags.len()
            )),
            Err(error) => tell(format!("error: {error}")),
        }
    };
    let results = callsight_workers::batch::run_batch(&inputs, args.jobs, &analyze_one, &on_done);
    batch_bar.finish_and_clear();

    let mut n_failed = 0;
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    for (path, result) in inputs.iter().zip(&results) {
        let Ok(report) = result else {
            n_failed += 1;
            continue;
        };
        let rendered = render_report(report, args.format, args.out.is_some())?;
        match &args.out {
            Some(dir) => {
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("call");
                let target = dir.join(format!("{stem}.{}", args.format.extension()));
                std::fs::write(&target, rendered).with_context(|| format!("writing {}", target.display()))?;
                // With the reports in files, the terminal gets the human summary of each call.
                stdout.write_all(render::to_text(report).as_bytes())?;
                stdout.write_all(b"\n")?;
            }
            None => {
                stdout.write_all(rendered.as_bytes())?;
                if !rendered.ends_with('\n') {
                    stdout.write_all(b"\n")?;
                }
            }
        }
    }
    if n_failed > 0 {
        eprintln!("{n_failed} of {} recordings failed; the others were analysed", inputs.len());
        return Ok(std::process::ExitCode::from(2));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn render_report(report: &CallReport, format: OutputFormat, to_file: bool) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json if to_file => serde_json::to_string_pretty(report)?,
        // One line per report, so a batch on stdout is JSON Lines; a single report is plain JSON.
        OutputFormat::Json => serde_json::to_string(report)?,
        OutputFormat::Text => render::to_text(report),
        OutputFormat::Srt => render::to_srt(report),
        OutputFormat::Vtt => render::to_vtt(report),
    })
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
