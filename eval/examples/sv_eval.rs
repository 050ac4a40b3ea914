//! Speaker-verification evaluation of the real embedders (CAM++ and the d-vector) on the Asterisk
//! prompt trials: prepares the trials if needed, writes per-model reports, a DET plot of both,
//! and `calibrations.json` (fitted calibrations the app can load).
//!
//! ```sh
//! source scripts/env.sh
//! cargo run --release -p callsight-eval --example sv_eval -- [TRIALS] [OUT_DIR]
//! ```
//! Needs `CALLSIGHT_ORT_DYLIB` and `CALLSIGHT_MODELS_DIR` (with `silero_vad.onnx`,
//! `campplus_cn_en_common.onnx`, `voicefilter_embedder.int8.onnx`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use callsight_eval::datasets::{SpeakerTrialsConfig, default_data_dir, prepare_speaker_trials};
use callsight_eval::speaker::{
    DetSystem, SvReport, det_svg, evaluate_speaker_verification, read_trials,
};
use callsight_models::onnx::init_onnx_runtime;
use callsight_models::silero::SileroVad;
use callsight_models::speaker::{CampplusEmbedder, DvectorEmbedder};
use callsight_pipeline::biometrics::CalibrationSet;
use callsight_pipeline::speaker::SpeakerEmbedder;
use callsight_pipeline::vad::VadConfig;

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let mut args = std::env::args().skip(1);
    let trials_path = match args.next().filter(|arg| !arg.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => prepare_speaker_trials(&default_data_dir()?, &SpeakerTrialsConfig::default())?,
    };
    let out_dir = PathBuf::from(args.next().unwrap_or_else(|| "target/sv-eval".into()));
    std::fs::create_dir_all(&out_dir)?;
    let models_dir = PathBuf::from(
        std::env::var("CALLSIGHT_MODELS_DIR").context("CALLSIGHT_MODELS_DIR is not set")?,
    );
    init_onnx_runtime(&PathBuf::from(
        std::env::var("CALLSIGHT_ORT_DYLIB").context("CALLSIGHT_ORT_DYLIB is not set")?,
    ))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let vad = SileroVad::load(&models_dir.join("silero_vad.onnx"), 1)?;
    let campplus =
        CampplusEmbedder::load(&models_dir.join("campplus_cn_en_common.onnx"), 1, threads)?;
    let dvector = DvectorEmbedder::load(
        &models_dir.join("voicefilter_embedder.int8.onnx"),
        1,
        threads,
    )?;

    let trials = read_trials(&trials_path)?;
    let fitted_on = format!("{} ({} trials)", trials_path.display(), trials.len());
    let embedders: [&dyn SpeakerEmbedder; 2] = [&campplus, &dvector];
    let mut reports: Vec<SvReport> = Vec::new();
    let mut calibrations = CalibrationSet::default();
    for embedder in embedders {
        let mut last_shown = 0;
        let report = evaluate_speaker_verification(
            &trials,
            embedder,
            &vad,
            &VadConfig::default(),
            &fitted_on,
            &mut |done, total| {
                if done * 10 / total > last_shown {
                    last_shown = done * 10 / total;
                    eprintln!("{}: {done}/{total} files", embedder.model_name());
                }
            },
        )?;
        println!("{}", report.to_markdown());
        let stem = out_dir.join(format!("sv-{}", embedder.model_name()));
        std::fs::write(
            stem.with_extension("json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        std::fs::write(stem.with_extension("md"), report.to_markdown())?;
        calibrations.insert(report.calibration.clone());
        reports.push(report);
    }
    let scores: Vec<(String, Vec<f64>, Vec<f64>)> = reports
        .iter()
        .map(|r| {
            (
                r.model.model_name.clone(),
                r.target_scores(),
                r.nontarget_scores(),
            )
        })
        .collect();
    let systems: Vec<DetSystem<'_>> = scores
        .iter()
        .map(|(name, target, nontarget)| DetSystem {
            name,
            target,
            nontarget,
        })
        .collect();
    std::fs::write(
        out_dir.join("det.svg"),
        det_svg("Asterisk prompts: speaker verification", &systems),
    )?;
    std::fs::write(out_dir.join("calibrations.json"), calibrations.to_json())?;
    eprintln!(
        "wrote reports, det.svg and calibrations.json to {}",
        out_dir.display()
    );
    Ok(())
}
