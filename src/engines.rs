//! Loading the models once per process and wiring them into the pipeline's engine traits.

use std::sync::Arc;

use anyhow::Context;
use callsight_models::fetch::{ModelFile, ModelStore};
use callsight_models::silero::SileroVad;
use callsight_models::text::{E5Embedder, SentimentHead};
use callsight_models::whisper::{WhisperConfig, WhisperTranscriber};
use callsight_pipeline::analyze::AnalysisEngines;
use callsight_pipeline::engines::{TextEmbedder, VoiceActivityDetector};
use callsight_pipeline::speaker::SpeakerEmbedder;
use clap::ValueEnum;

use crate::cli::ModelArgs;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum WhisperModel {
    /// Whisper base, multilingual (default).
    Base,
    /// Whisper base with 8-bit weights (q8_0): 0.55 × the file size.
    #[value(name = "base-q8_0")]
    BaseQ8_0,
    /// Whisper base with 5-bit weights (q5_1): 0.40 × the file size.
    #[value(name = "base-q5_1")]
    BaseQ5_1,
    /// Whisper tiny.en: about four times faster, English only.
    #[value(name = "tiny.en")]
    TinyEn,
    /// Whisper tiny.en with 8-bit weights (q8_0).
    #[value(name = "tiny.en-q8_0")]
    TinyEnQ8_0,
}

impl WhisperModel {
    /// The names accepted by `--model` and the configuration, for messages.
    pub const NAMES: &str = "base, base-q8_0, base-q5_1, tiny.en or tiny.en-q8_0";

    pub fn from_config(name: &str) -> anyhow::Result<Self> {
        <Self as ValueEnum>::from_str(name, false)
            .map_err(|_| anyhow::anyhow!("unknown Whisper model {name:?}: expected {}", Self::NAMES))
    }

    /// The ggml file in the model store and the model name reports show.
    pub fn store_file(self) -> (ModelFile, &'static str) {
        match self {
            WhisperModel::Base => (ModelFile::WhisperBase, "whisper-base"),
            WhisperModel::BaseQ8_0 => (ModelFile::WhisperBaseQ8_0, "whisper-base-q8_0"),
            WhisperModel::BaseQ5_1 => (ModelFile::WhisperBaseQ5_1, "whisper-base-q5_1"),
            WhisperModel::TinyEn => (ModelFile::WhisperTinyEn, "whisper-tiny.en"),
            WhisperModel::TinyEnQ8_0 => (ModelFile::WhisperTinyEnQ8_0, "whisper-tiny.en-q8_0"),
        }
    }
}

pub fn model_store(args: &ModelArgs) -> ModelStore {
    match &args.models_dir {
        Some(dir) => ModelStore::new(dir.clone()),
        None => ModelStore::default_location(),
    }
}

/// Loads every model analysis needs. `parallel_jobs` sizes the ONNX session pools.
pub fn load_engines(
    args: &ModelArgs,
    whisper_model: WhisperModel,
    threads: usize,
    parallel_jobs: usize,
) -> anyhow::Result<AnalysisEngines> {
    let store = model_store(args);
    callsight_models::onnx::init_onnx_runtime(&store.require(ModelFile::OnnxRuntime)?)?;
    let (whisper_file, whisper_name) = whisper_model.store_file();
    let whisper_config = WhisperConfig { threads, ..WhisperConfig::default() };
    let transcriber = WhisperTranscriber::load(&store.require(whisper_file)?, whisper_name, whisper_config)
        .context("loading the Whisper model")?;
    let vad = SileroVad::load(&store.require(ModelFile::SileroVad)?, parallel_jobs).context("loading Silero VAD")?;
    let embedder: Arc<dyn TextEmbedder> = Arc::new(
        E5Embedder::load(&store.require(ModelFile::Me5Onnx)?, &store.require(ModelFile::Me5Tokenizer)?, threads)
            .context("loading the multilingual-e5 text model")?,
    );
    let sentiment = SentimentHead::bundled(embedder.clone()).context("loading the sentiment head")?;
    let speaker_embedder = load_speaker_embedder(&store, "campplus", parallel_jobs, threads)?;
    Ok(AnalysisEngines {
        vad: Arc::new(vad),
        transcriber: Arc::new(transcriber),
        sentiment: Arc::new(sentiment),
        text_embedder: Some(embedder),
        speaker_embedder: Some(speaker_embedder),
    })
}

/// The voice embedder named in the configuration ("campplus" or "dvector"). The ONNX Runtime
/// must already be initialised.
pub fn load_speaker_embedder(
    store: &ModelStore,
    name: &str,
    parallel_sessions: usize,
    threads: usize,
) -> anyhow::Result<Arc<dyn SpeakerEmbedder>> {
    use callsight_models::speaker::{CampplusEmbedder, DvectorEmbedder};
    Ok(match name {
        "campplus" => Arc::new(
            CampplusEmbedder::load(&store.require(ModelFile::Campplus)?, parallel_sessions, threads)
                .context("loading the CAM++ speaker model")?,
        ),
        "dvector" => Arc::new(
            DvectorEmbedder::load(&store.require(ModelFile::VoicefilterDvector)?, parallel_sessions, threads)
                .context("loading the d-vector speaker model")?,
        ),
        other => anyhow::bail!("unknown speaker model {other:?}: expected campplus or dvector"),
    })
}

/// Silero VAD alone, with the ONNX Runtime initialised (for commands that need no Whisper).
pub fn load_vad(args: &ModelArgs, parallel_sessions: usize) -> anyhow::Result<Arc<dyn VoiceActivityDetector>> {
    let store = model_store(args);
    callsight_models::onnx::init_onnx_runtime(&store.require(ModelFile::OnnxRuntime)?)?;
    Ok(Arc::new(SileroVad::load(&store.require(ModelFile::SileroVad)?, parallel_sessions).context("loading Silero VAD")?))
}
