//! `callsight eval ...`: accuracy on real speech.

use std::path::PathBuf;

use anyhow::Context;
use callsight_eval::{default_data_dir, evaluate_asr, prepare_asterisk, prepare_festvox_ru, read_manifest, subsample};
use callsight_pipeline::analyze::{AnalyzeOptions, ChannelLayout, analyze_call};
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
        /// Write the JSON report here (the Markdown summary goes to stdout).
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
}

pub fn run(command: EvalCommand, args: &ModelArgs) -> anyhow::Result<std::process::ExitCode> {
    match command {
        EvalCommand::PrepareAsr { data_dir } => {
            let data_dir = match data_dir {
                Some(dir) => dir,
                None => default_data_dir()?,
            };
            for manifest in prepare_asterisk(&data_dir, &["en", "ru"])? {
                println!("{}", manifest.display());
            }
            println!("{}", prepare_festvox_ru(&data_dir)?.display());
        }
        EvalCommand::Asr { manifest, model, limit, language_hint, languages, json_out } => {
            let mut utterances = read_manifest(&manifest)?;
            if let Some(limit) = limit {
                utterances = subsample(&utterances, limit, 7);
            }
            let threads = args.threads.unwrap_or_else(default_threads);
            let engines = load_engines(args, model, threads, 1)?;
            let bar = ProgressBar::new(utterances.len() as u64);
            bar.set_style(
                ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} utterances (eta {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let started = std::time::Instant::now();
            let mut audio_secs = 0.0;
            let mut transcribe = |utterance: &callsight_eval::Utterance| -> anyhow::Result<String> {
                let audio = callsight_pipeline::audio::decode_file(&utterance.audio)?;
                audio_secs += audio.duration_secs();
                let options = AnalyzeOptions {
                    channel_layout: Some(ChannelLayout::Mixed),
                    language: language_hint.then(|| utterance.language.clone()),
                    allowed_languages: languages.clone(),
                    ..AnalyzeOptions::default()
                };
                let analysis = analyze_call(&audio, &options, &engines, &|_, _, _| {})?;
                Ok(analysis.turns.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" "))
            };
            let report = evaluate_asr(&utterances, &mut transcribe, &mut |done, _| bar.set_position(done as u64));
            bar.finish_and_clear();
            let elapsed = started.elapsed().as_secs_f64();
            println!("{}", report.to_markdown());
            println!(
                "Processed {audio_secs:.0} s of audio in {elapsed:.0} s (real-time factor {:.3}) with {} threads.",
                elapsed / audio_secs.max(1e-9),
                threads
            );
            if let Some(path) = json_out {
                std::fs::write(&path, serde_json::to_string_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
