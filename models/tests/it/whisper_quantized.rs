//! The quantised Whisper files (q8_0, q5_1) that `callsight models fetch` makes from the f16 ggml
//! files: whisper.cpp loads them and transcribes a real Asterisk prompt to the expected words, and
//! their weight matrices really are quantised (types, sizes, values close to the f16 weights).
//!
//! Models come from the model store (`callsight models fetch`, run by ./setup.sh); the prompt from
//! the evaluation data (`callsight eval prepare-asr`, also run by ./setup.sh).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use callsight_models::fetch::ModelStore;
use callsight_models::fetch::ModelFile;
use callsight_models::fetch::ct2_to_ggml::{GgmlSummary, GgmlType, f16_bits_to_f32, read_ggml_summary};
use callsight_models::fetch::quantize::{GgmlQuantType, TENSORS_KEPT_UNQUANTISED};
use callsight_models::whisper::{WhisperConfig, WhisperTranscriber};
use callsight_pipeline::audio::{decode_file, resample};
use callsight_pipeline::engines::{TranscribeOptions, Transcriber};

/// An Asterisk prompt (8 kHz, one female voice) and what it says.
const PROMPT_AUDIO: &str = "extract/asterisk-core-sounds-en-wav/usr/share/asterisk/sounds/en_US_f_Allison/agent-incorrect.wav";
const PROMPT_TEXT: &str = "Login incorrect. Please enter your agent number followed by the pound key.";

fn store() -> ModelStore {
    ModelStore::default_location()
}

fn require(file: ModelFile) -> PathBuf {
    store().require(file).unwrap_or_else(|error| panic!("{file:?}: {error} (run ./setup.sh or `callsight models fetch`)"))
}

fn prompt_16k() -> Vec<f32> {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let path = PathBuf::from(home).join(".cache/callsight/eval-data").join(PROMPT_AUDIO);
    let decoded = decode_file(&path).unwrap_or_else(|error| {
        panic!("{}: {error}; the test needs the evaluation data: run ./setup.sh (or `callsight eval prepare-asr`)", path.display())
    });
    resample(&decoded.mixed_to_mono(), decoded.sample_rate_hz, 16_000).expect("resampling to 16 kHz")
}

/// Lowercase words without punctuation.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|word| word.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase())
        .filter(|word| !word.is_empty())
        .collect()
}

fn transcribe(file: ModelFile, model_name: &str) -> Vec<String> {
    let config = WhisperConfig { threads: 2, ..WhisperConfig::default() };
    let transcriber = WhisperTranscriber::load(&require(file), model_name, config)
        .unwrap_or_else(|error| panic!("whisper.cpp loads {model_name}: {error}"));
    assert_eq!(transcriber.model_name(), model_name);
    let options = TranscribeOptions { language: Some("en".into()), ..TranscribeOptions::default() };
    let recognition = transcriber.transcribe(&prompt_16k(), &options).expect("transcribes the prompt");
    let text: Vec<&str> = recognition.segments.iter().map(|segment| segment.text.as_str()).collect();
    words(&text.join(" "))
}

#[test]
fn base_q8_0_transcribes_an_asterisk_prompt() {
    assert_eq!(transcribe(ModelFile::WhisperBaseQ8_0, "whisper-base-q8_0"), words(PROMPT_TEXT));
}

#[test]
fn base_q5_1_transcribes_an_asterisk_prompt() {
    assert_eq!(transcribe(ModelFile::WhisperBaseQ5_1, "whisper-base-q5_1"), words(PROMPT_TEXT));
}

#[test]
fn tiny_en_q8_0_transcribes_an_asterisk_prompt() {
    assert_eq!(transcribe(ModelFile::WhisperTinyEnQ8_0, "whisper-tiny.en-q8_0"), words(PROMPT_TEXT));
}

/// The data bytes of the tensors the quantised file quantised, in the f16 file and in the
/// quantised file.
fn quantised_tensor_bytes(f16: &GgmlSummary, quantised: &GgmlSummary, quant: GgmlQuantType) -> (u64, u64) {
    let mut f16_bytes = 0;
    let mut quantised_bytes = 0;
    for tensor in quantised.tensors.iter().filter(|tensor| tensor.ggml_type == quant.ggml_type()) {
        let original = f16.tensors.iter().find(|original| original.name == tensor.name).expect("same tensors");
        assert_eq!(original.ggml_type, GgmlType::F16, "{} was f16", tensor.name);
        f16_bytes += original.data_len_bytes();
        quantised_bytes += tensor.data_len_bytes();
    }
    (f16_bytes, quantised_bytes)
}

fn check_quantised_file(f16_file: ModelFile, quantised_file: ModelFile, quant: GgmlQuantType, expected_ratio: f64) {
    let f16 = read_ggml_summary(&require(f16_file)).expect("the f16 file parses");
    let quantised_path = require(quantised_file);
    let quantised = read_ggml_summary(&quantised_path).expect("the quantised file parses");
    assert_eq!(f16.hparams.ftype, 1, "mostly f16");
    assert_eq!(quantised.hparams.ftype, 2000 + quant.ggml_ftype(), "GGML_QNT_VERSION 2 × 1000 + ftype");

    // The same tensors in the same order; every 2-D tensor but the four whisper.cpp keeps is
    // quantised, everything else keeps its type.
    let names = |summary: &GgmlSummary| summary.tensors.iter().map(|tensor| tensor.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&f16), names(&quantised));
    let mut n_quantised = 0;
    for (original, tensor) in f16.tensors.iter().zip(&quantised.tensors) {
        assert_eq!(original.dims, tensor.dims, "{}", tensor.name);
        let expected_type = if tensor.dims.len() == 2 && !TENSORS_KEPT_UNQUANTISED.contains(&tensor.name.as_str()) {
            n_quantised += 1;
            quant.ggml_type()
        } else {
            original.ggml_type
        };
        assert_eq!(tensor.ggml_type, expected_type, "{}", tensor.name);
    }
    assert!(n_quantised > 20, "only {n_quantised} tensors quantised");
    for kept in TENSORS_KEPT_UNQUANTISED {
        let tensor = quantised.tensors.iter().find(|tensor| tensor.name == kept).expect("kept tensor present");
        assert_eq!(tensor.ggml_type, GgmlType::F32, "{kept} stays f32");
    }

    // 34 bytes (q8_0) or 24 bytes (q5_1) per 32 weights instead of 64.
    let (f16_bytes, quantised_bytes) = quantised_tensor_bytes(&f16, &quantised, quant);
    let ratio = quantised_bytes as f64 / f16_bytes as f64;
    assert!((ratio - expected_ratio).abs() < 0.005, "quantised tensors are {ratio:.3} of their f16 size");
    let file_ratio = std::fs::metadata(&quantised_path).expect("file").len() as f64
        / std::fs::metadata(require(f16_file)).expect("file").len() as f64;
    assert!(file_ratio < expected_ratio + 0.05, "the whole file is {file_ratio:.3} of the f16 file");

    // The values decode close to the f16 weights (first rows of the token embedding).
    let name = "decoder.token_embedding.weight";
    let original = f16.tensors.iter().find(|tensor| tensor.name == name).expect("token embedding");
    let tensor = quantised.tensors.iter().find(|tensor| tensor.name == name).expect("token embedding");
    let row_len = *tensor.dims.last().expect("2-D");
    let n_rows = 64;
    let f16_values: Vec<f32> = read_bytes(&require(f16_file), original.data_offset_bytes, n_rows * row_len * 2)
        .chunks_exact(2)
        .map(|b| f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]])))
        .collect();
    let blocks = read_bytes(&quantised_path, tensor.data_offset_bytes, n_rows * row_len / 32 * quant.block_size_bytes());
    let decoded = quant.dequantize_row(&blocks);
    assert_eq!(decoded.len(), f16_values.len());
    let scale = f16_values.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
    let mean_abs_error = f16_values.iter().zip(&decoded).map(|(a, b)| (a - b).abs()).sum::<f32>() / decoded.len() as f32;
    let mean_abs_value = f16_values.iter().map(|v| v.abs()).sum::<f32>() / decoded.len() as f32;
    assert!(scale > 0.0);
    let relative_error = mean_abs_error / mean_abs_value;
    let allowed = match quant {
        GgmlQuantType::Q8_0 => 0.02,
        GgmlQuantType::Q5_1 => 0.12,
    };
    assert!(relative_error < allowed, "{quant:?}: mean error {relative_error:.4} of the mean weight");
}

fn read_bytes(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut file = std::fs::File::open(path).expect("open");
    file.seek(SeekFrom::Start(offset)).expect("seek");
    let mut bytes = vec![0_u8; len];
    file.read_exact(&mut bytes).expect("read");
    bytes
}

#[test]
fn base_q8_0_weights_are_quantised() {
    check_quantised_file(ModelFile::WhisperBase, ModelFile::WhisperBaseQ8_0, GgmlQuantType::Q8_0, 34.0 / 64.0);
}

#[test]
fn base_q5_1_weights_are_quantised() {
    check_quantised_file(ModelFile::WhisperBase, ModelFile::WhisperBaseQ5_1, GgmlQuantType::Q5_1, 24.0 / 64.0);
}

#[test]
fn tiny_en_q8_0_weights_are_quantised() {
    check_quantised_file(ModelFile::WhisperTinyEn, ModelFile::WhisperTinyEnQ8_0, GgmlQuantType::Q8_0, 34.0 / 64.0);
}

#[test]
fn quantising_again_reproduces_the_pinned_file() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("ggml-tiny.en-q8_0.bin");
    let mut file = callsight_models::fetch::AtomicFile::create(&path).expect("create");
    callsight_models::fetch::quantize::quantize_ggml(&require(ModelFile::WhisperTinyEn), GgmlQuantType::Q8_0, &mut file)
        .expect("quantises");
    let written = file.commit().expect("commit");
    let pinned = ModelFile::WhisperTinyEnQ8_0.outputs()[0].1;
    assert_eq!((written.size_bytes, written.sha256.as_str()), (pinned.size_bytes, pinned.sha256));
}
