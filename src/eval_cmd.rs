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
        /// Write the JSON report here (the Markdown summary goes to stdout).
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
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
    std::fs::write(&det_path, render_det(&format!("Speaker verification: {}", trials_path.display()), &systems))
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
