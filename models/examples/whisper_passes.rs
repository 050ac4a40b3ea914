//! What one live Whisper pass costs: `cargo run --release -p callsight-models --example
//! whisper_passes -- MODEL_NAME AUDIO.wav [REPEATS]` (MODEL_NAME as in the store, e.g.
//! `tiny.en`, `base`, `base-q8_0`).
//!
//! Transcribes windows of 1, 2, 4, 8 and 12 s from the start of the audio as a live stream does
//! (encoder fitted to the window), with 1 and 2 threads, and prints the median wall time of a
//! pass per window, beside the time to make a fresh decoding state. Not a test: the figures
//! depend on the machine and its load.

use std::time::Instant;

use callsight_models::fetch::{ModelFile, ModelStore};
use callsight_models::whisper::{WhisperConfig, WhisperTranscriber};
use callsight_pipeline::audio::{decode_file, resample};
use callsight_pipeline::engines::{TranscribeOptions, Transcriber};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let mut arguments = std::env::args().skip(1);
    let usage = "usage: whisper_passes MODEL_NAME AUDIO.wav [REPEATS]";
    let model = arguments.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let audio = arguments.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let repeats: usize = arguments.next().map_or(Ok(5), |text| text.parse())?;
    // The store's ggml file of that name (`ggml-tiny.en-q8_0.bin` for `tiny.en-q8_0`); reports
    // call it `whisper-tiny.en-q8_0`, which also picks its alignment heads.
    let file_name = format!("ggml-{model}.bin");
    let file = ModelFile::ALL
        .into_iter()
        .find(|file| file.relative_path() == file_name)
        .ok_or_else(|| anyhow::anyhow!("no {file_name} in the model store's catalogue"))?;
    let name = format!("whisper-{model}");
    let path = ModelStore::default_location().require(file)?;
    let decoded = decode_file(std::path::Path::new(&audio))?;
    let samples = resample(&decoded.mixed_to_mono(), decoded.sample_rate_hz, 16_000)?;
    // A fresh decoding state, as a pass made before states were kept between passes.
    let context = whisper_rs::WhisperContext::new_with_params(
        path.to_str().ok_or_else(|| anyhow::anyhow!("model path is not UTF-8"))?,
        whisper_rs::WhisperContextParameters::default(),
    )?;
    let mut state_secs = Vec::new();
    for _ in 0..repeats {
        let started = Instant::now();
        drop(context.create_state()?);
        state_secs.push(started.elapsed().as_secs_f64());
    }
    println!("{{\"model\":\"{model}\",\"new_state_p50_secs\":{:.3}}}", median(state_secs));
    // whisper.cpp's log-mel of a window (it pads 30 s of silence before computing it).
    let mut state = context.create_state()?;
    for threads in [1, 2] {
        for window_secs in [1.0_f64, 12.0] {
            let n = ((window_secs * 16_000.0) as usize).min(samples.len());
            let mut mel_secs = Vec::new();
            for _ in 0..repeats {
                let started = Instant::now();
                state.pcm_to_mel(&samples[..n], threads)?;
                mel_secs.push(started.elapsed().as_secs_f64());
            }
            println!("{{\"model\":\"{model}\",\"threads\":{threads},\"window_secs\":{window_secs},\"mel_p50_secs\":{:.3}}}", median(mel_secs));
        }
    }
    drop(state);
    drop(context);
    let no_dtw = std::env::var_os("NO_DTW").is_some();
    for threads in [1, 2] {
        // A name without alignment heads turns word timing by DTW off (NO_DTW=1).
        let load_name = if no_dtw { "whisper-no-dtw" } else { name.as_str() };
        let transcriber = WhisperTranscriber::load(&path, load_name, WhisperConfig { threads, ..WhisperConfig::default() })?;
        for window_secs in [1.0_f64, 2.0, 4.0, 8.0, 12.0] {
            let n = ((window_secs * 16_000.0) as usize).min(samples.len());
            // PROMPT="..." passes committed text as a live pass does.
            let options = TranscribeOptions {
                language: Some("en".into()),
                fit_encoder_to_audio: true,
                initial_prompt: std::env::var("PROMPT").ok(),
                ..TranscribeOptions::default()
            };
            let mut pass_secs = Vec::new();
            let mut text = String::new();
            for _ in 0..repeats {
                let started = Instant::now();
                let recognition = transcriber.transcribe(&samples[..n], &options)?;
                pass_secs.push(started.elapsed().as_secs_f64());
                text = recognition.segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
            }
            println!(
                "{{\"model\":\"{model}\",\"threads\":{threads},\"window_secs\":{window_secs},\"pass_p50_secs\":{:.3},\"pass_min_secs\":{:.3},\"text\":{:?}}}",
                median(pass_secs.clone()),
                pass_secs.iter().copied().fold(f64::INFINITY, f64::min),
                text
            );
        }
    }
    Ok(())
}
