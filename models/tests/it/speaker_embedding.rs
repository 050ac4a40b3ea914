//! Speaker embedders on the real models and real voices: shape, unit norm, determinism, and
//! same-speaker pairs scoring above different-speaker pairs.
//!
//! Models come from the model store (`callsight models fetch`); voices from the evaluation data
//! (`callsight eval prepare-asr`, run by ./setup.sh): Asterisk's English prompts (one female
//! voice), its Russian prompts (another female voice) and the festvox Russian voice (male), all
//! passed through an 8 kHz telephone band and back to 16 kHz.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use callsight_models::fetch::{ModelFile, ModelStore};
use callsight_models::speaker::{CAMPPLUS_EMBEDDING_DIM, CampplusEmbedder, DVECTOR_EMBEDDING_DIM, DvectorEmbedder};
use callsight_pipeline::audio::{decode_file, resample};
use callsight_pipeline::speaker::SpeakerEmbedder;

/// Prompts shorter than this say too little about the voice to make a fair pair.
const MIN_PROMPT_SECS: f64 = 2.0;
const PAIRS_PER_KIND: usize = 20;

fn eval_data_dir() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/callsight/eval-data")
}

/// `PAIRS_PER_KIND * 2` prompts of at least `MIN_PROMPT_SECS` from one manifest, in manifest
/// order, as telephone-band 16 kHz audio.
fn voice_prompts(manifest_name: &str) -> Vec<Vec<f32>> {
    let data_dir = eval_data_dir();
    let manifest_path = data_dir.join(manifest_name);
    let manifest = std::fs::read_to_string(&manifest_path).unwrap_or_else(|error| {
        panic!(
            "{} is missing ({error}): the speaker tests need the evaluation data; run ./setup.sh \
             (or `callsight eval prepare-asr`) first",
            manifest_path.display()
        )
    });
    let mut prompts = Vec::new();
    for line in manifest.lines().filter(|line| !line.trim().is_empty()) {
        let entry: serde_json::Value = serde_json::from_str(line).expect("manifest lines are JSON");
        let audio = entry["audio"].as_str().expect("manifest entries name their audio");
        let samples = telephone_band_16k(&data_dir.join(audio));
        if samples.len() as f64 / 16_000.0 >= MIN_PROMPT_SECS {
            prompts.push(samples);
        }
        if prompts.len() == PAIRS_PER_KIND * 2 {
            return prompts;
        }
    }
    panic!("{} has only {} prompts of {MIN_PROMPT_SECS} s; run ./setup.sh again", manifest_path.display(), prompts.len());
}

/// Decodes `path` to mono, band-limits it to 8 kHz (what a phone call carries) and returns 16 kHz.
fn telephone_band_16k(path: &Path) -> Vec<f32> {
    let decoded = decode_file(path).unwrap_or_else(|error| panic!("{}: {error}; run ./setup.sh again", path.display()));
    let mono = decoded.mono_f32();
    let narrowband = if decoded.sample_rate_hz == 8_000 {
        mono
    } else {
        resample(&mono, decoded.sample_rate_hz, 8_000).expect("resampling to 8 kHz")
    };
    resample(&narrowband, 8_000, 16_000).expect("resampling to 16 kHz")
}

struct Voices {
    english_female: Vec<Vec<f32>>,
    russian_female: Vec<Vec<f32>>,
    russian_male: Vec<Vec<f32>>,
}

fn voices() -> &'static Voices {
    static VOICES: OnceLock<Voices> = OnceLock::new();
    VOICES.get_or_init(|| Voices {
        english_female: voice_prompts("asterisk-en.jsonl"),
        russian_female: voice_prompts("asterisk-ru.jsonl"),
        russian_male: voice_prompts("festvox-ru.jsonl"),
    })
}

fn init_onnx_runtime() -> ModelStore {
    let store = ModelStore::default_location();
    let dylib = store.require(ModelFile::OnnxRuntime).expect("ONNX Runtime is fetched (run ./setup.sh)");
    callsight_models::onnx::init_onnx_runtime(&dylib).expect("ONNX Runtime loads");
    store
}

fn campplus() -> &'static CampplusEmbedder {
    static EMBEDDER: OnceLock<CampplusEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let store = init_onnx_runtime();
        let model = store.require(ModelFile::Campplus).expect("CAM++ is fetched (run ./setup.sh)");
        CampplusEmbedder::load(&model, 2, 1).expect("CAM++ loads")
    })
}

fn dvector() -> &'static DvectorEmbedder {
    static EMBEDDER: OnceLock<DvectorEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let store = init_onnx_runtime();
        let model = store.require(ModelFile::VoicefilterDvector).expect("d-vector model is fetched (run ./setup.sh)");
        DvectorEmbedder::load(&model, 2, 1).expect("d-vector model loads")
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len().max(1) as f32
}

fn check_contract(embedder: &dyn SpeakerEmbedder, expected_dimension: usize) {
    let speech = &voices().english_female[0];
    let first = embedder.embed(speech).expect("embeds real speech");
    let second = embedder.embed(speech).expect("embeds real speech");
    assert_eq!(embedder.dimension(), expected_dimension);
    assert_eq!(first.len(), expected_dimension);
    let norm = cosine(&first, &first).sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    let max_diff = first.iter().zip(&second).map(|(a, b)| (a - b).abs()).fold(0.0_f32, f32::max);
    assert!(max_diff < 1e-6, "two runs differ by {max_diff}");
    assert!(!embedder.model_name().is_empty() && !embedder.model_version().is_empty());

    let shortest = embedder.embed(&speech[..embedder.min_samples()]).expect("min_samples is enough");
    assert!(shortest.iter().all(|value| value.is_finite()));
    let error = embedder.embed(&speech[..embedder.min_samples() - 1]).expect_err("below min_samples fails");
    assert!(error.to_string().contains("too short"), "{error}");
}

/// Cosine of each same-speaker and different-speaker pair, printed by kind.
fn score_pairs(name: &str, embedder: &dyn SpeakerEmbedder) -> (Vec<f32>, Vec<f32>) {
    let embed_all = |prompts: &[Vec<f32>]| -> Vec<Vec<f32>> {
        prompts.iter().map(|samples| embedder.embed(samples).expect("embeds real speech")).collect()
    };
    let voices = voices();
    let english = embed_all(&voices.english_female);
    let russian = embed_all(&voices.russian_female);
    let russian_male = embed_all(&voices.russian_male);
    let half = PAIRS_PER_KIND;
    let pairs = |a: &[Vec<f32>], b: &[Vec<f32>], b_offset: usize| -> Vec<f32> {
        (0..half).map(|idx| cosine(&a[idx], &b[idx + b_offset])).collect()
    };
    let same_english = pairs(&english, &english, half);
    let same_russian = pairs(&russian, &russian, half);
    let same_russian_male = pairs(&russian_male, &russian_male, half);
    let english_vs_russian = pairs(&english, &russian, 0);
    let female_vs_male = pairs(&russian, &russian_male, 0);
    let english_vs_male = pairs(&english, &russian_male, half);
    eprintln!(
        "{name}: same speaker: en-f {:.3}, ru-f {:.3}, ru-m {:.3}; different: en-f/ru-f {:.3}, ru-f/ru-m {:.3}, en-f/ru-m {:.3}",
        mean(&same_english),
        mean(&same_russian),
        mean(&same_russian_male),
        mean(&english_vs_russian),
        mean(&female_vs_male),
        mean(&english_vs_male),
    );
    let same = [same_english, same_russian, same_russian_male].concat();
    let different = [english_vs_russian, female_vs_male, english_vs_male].concat();
    let (same_min, different_max) = (
        same.iter().copied().fold(f32::INFINITY, f32::min),
        different.iter().copied().fold(f32::NEG_INFINITY, f32::max),
    );
    eprintln!(
        "{name}: same mean {:.3} (min {same_min:.3}), different mean {:.3} (max {different_max:.3})",
        mean(&same),
        mean(&different)
    );
    (same, different)
}

/// Fraction of (same, different) pairs ordered correctly: the area under the ROC curve.
fn pair_auc(same: &[f32], different: &[f32]) -> f32 {
    let correct: usize = same.iter().map(|s| different.iter().filter(|d| s > d).count()).sum();
    correct as f32 / (same.len() * different.len()).max(1) as f32
}

#[test]
fn campplus_contract() {
    check_contract(campplus(), CAMPPLUS_EMBEDDING_DIM);
    assert_eq!(campplus().model_name(), "campplus-cn-en-common");
}

#[test]
fn dvector_contract() {
    check_contract(dvector(), DVECTOR_EMBEDDING_DIM);
}

#[test]
fn campplus_separates_real_speakers() {
    let (same, different) = score_pairs("campplus", campplus());
    let auc = pair_auc(&same, &different);
    eprintln!("campplus: pair AUC {auc:.4}");
    assert!(mean(&same) - mean(&different) > 0.3, "{} vs {}", mean(&same), mean(&different));
    assert!(auc > 0.98, "pair AUC {auc}");
}

#[test]
fn dvector_separates_real_speakers() {
    let (same, different) = score_pairs("dvector", dvector());
    let auc = pair_auc(&same, &different);
    eprintln!("dvector: pair AUC {auc:.4}");
    assert!(mean(&same) - mean(&different) > 0.1, "{} vs {}", mean(&same), mean(&different));
    assert!(auc > 0.9, "pair AUC {auc}");
}

#[test]
fn campplus_long_input_is_embedded_in_chunks_and_keeps_the_voice() {
    // 75 s of one voice crosses the 60 s pass limit; the result must still be that voice.
    let prompts = &voices().russian_female;
    let long: Vec<f32> = prompts.iter().cycle().take(60).flatten().copied().take(75 * 16_000).collect();
    assert!(long.len() >= 61 * 16_000, "only {} s of prompts", long.len() / 16_000);
    let long_embedding = campplus().embed(&long).expect("embeds long input");
    assert!((cosine(&long_embedding, &long_embedding) - 1.0).abs() < 1e-4);
    let same_voice = campplus().embed(&voices().russian_female[PAIRS_PER_KIND]).expect("embeds");
    let other_voice = campplus().embed(&voices().russian_male[0]).expect("embeds");
    let (same_cosine, other_cosine) = (cosine(&long_embedding, &same_voice), cosine(&long_embedding, &other_voice));
    eprintln!("long input vs same voice {same_cosine:.3}, vs other voice {other_cosine:.3}");
    assert!(same_cosine > other_cosine + 0.3, "{same_cosine} vs {other_cosine}");
}

#[test]
fn embedders_are_shared_across_threads() {
    let speech = &voices().english_female[1];
    let expected = campplus().embed(speech).expect("embeds");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3).map(|_| scope.spawn(|| campplus().embed(speech).expect("embeds"))).collect();
        for handle in handles {
            let embedding = handle.join().expect("thread finishes");
            assert!(cosine(&embedding, &expected) > 0.99999);
        }
    });
}

/// Rust front ends + models against the reference Python pipelines on one real 16 kHz utterance
/// (pipeline/tests/fixtures/speaker_reference_embeddings.json, made by
/// scripts/make-fbank-fixture.py).
#[test]
fn embeddings_match_the_reference_python_pipelines() {
    let fixture_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline/tests/fixtures/speaker_reference_embeddings.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture_path).expect("fixture is committed")).expect("JSON");
    let audio_path = eval_data_dir().join(fixture["audio"].as_str().expect("fixture names its audio"));
    let decoded = decode_file(&audio_path)
        .unwrap_or_else(|error| panic!("{}: {error}; run ./setup.sh to prepare the evaluation data", audio_path.display()));
    assert_eq!(decoded.sample_rate_hz, 16_000);
    let samples = decoded.mono_f32();
    assert_eq!(Some(samples.len() as u64), fixture["n_samples"].as_u64());
    let reference = |key: &str| -> Vec<f32> { serde_json::from_value(fixture[key].clone()).expect("list of numbers") };
    let campplus_cosine = cosine(&campplus().embed(&samples).expect("embeds"), &reference("campplus"));
    let dvector_cosine = cosine(&dvector().embed(&samples).expect("embeds"), &reference("dvector"));
    eprintln!("cosine to the Python reference: campplus {campplus_cosine:.6}, dvector {dvector_cosine:.6}");
    assert!(campplus_cosine > 0.9999, "campplus {campplus_cosine}");
    assert!(dvector_cosine > 0.9999, "dvector {dvector_cosine}");
}
