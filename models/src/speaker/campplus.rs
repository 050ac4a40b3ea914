//! CAM++ speaker embeddings (3D-Speaker, zh_en 16 kHz "common advanced" weights, 192-d).

use std::path::Path;

use callsight_pipeline::PipelineError;
use callsight_pipeline::fbank::{FeatureMatrix, KaldiFbank, KaldiFbankConfig, subtract_mean_per_bin};
use callsight_pipeline::speaker::SpeakerEmbedder;
use ort::value::Tensor;

use super::{SessionPool, l2_normalised};
use crate::ModelError;

/// Width of a CAM++ embedding (`embs` output).
pub const CAMPPLUS_EMBEDDING_DIM: usize = 192;
const MODEL_NAME: &str = "campplus-cn-en-common";
/// Bump the `+kaldi-fbank-vN` part whenever the front end changes what the network sees.
const MODEL_VERSION: &str = "3dspeaker-zh-en-16k-advanced+kaldi-fbank-v1";
const INPUT_NAME: &str = "feats";
const OUTPUT_NAME: &str = "embs";
/// The statistics pooling needs a few frames (1–2 give NaN); 10 frames (0.115 s) keeps the
/// per-utterance mean normalisation meaningful too.
const MIN_FRAMES: usize = 10;
/// Frames per network pass (60 s). Longer input is embedded in equal chunks of the
/// mean-normalised features, whose unit embeddings are averaged weighted by length: this bounds
/// the memory of one pass without changing the result for ordinary utterances.
const MAX_FRAMES_PER_PASS: usize = 6_000;

/// CAM++ on Kaldi fbank with per-utterance mean normalisation, as 3D-Speaker's inference does.
pub struct CampplusEmbedder {
    sessions: SessionPool,
    fbank: KaldiFbank,
}

impl CampplusEmbedder {
    /// Loads `campplus_cn_en_common.onnx`. `parallel_sessions` copies (~28 MB each) let that many
    /// calls embed at once; `intra_threads` is ONNX Runtime's thread count per call. ONNX Runtime
    /// must already be loaded with [`crate::onnx::init_onnx_runtime`].
    pub fn load(model_path: &Path, parallel_sessions: usize, intra_threads: usize) -> Result<Self, ModelError> {
        let sessions = SessionPool::load(model_path, parallel_sessions, intra_threads)?;
        sessions.check_io(model_path, INPUT_NAME, OUTPUT_NAME)?;
        let fbank = KaldiFbank::new(KaldiFbankConfig::default())
            .map_err(|e| ModelError::Load { what: "CAM++ front end".into(), reason: e.to_string() })?;
        Ok(Self { sessions, fbank })
    }

    /// What the network sees for `samples_16k`: 80-bin Kaldi fbank minus its per-bin mean.
    pub fn features(&self, samples_16k: &[f32]) -> FeatureMatrix {
        let mut features = self.fbank.compute(samples_16k);
        subtract_mean_per_bin(&mut features);
        features
    }

    /// One network pass over `n_frames` rows of features; the raw (unnormalised) embedding.
    fn run(&self, values: &[f32], n_frames: usize) -> Result<Vec<f32>, String> {
        let n_bins = self.fbank.config().n_mel_bins;
        let input = Tensor::from_array(([1, n_frames, n_bins], values.to_vec())).map_err(|e| e.to_string())?;
        let mut session = self.sessions.acquire()?;
        let outputs = session.run(ort::inputs![INPUT_NAME => input]).map_err(|e| e.to_string())?;
        let output = outputs.get(OUTPUT_NAME).ok_or_else(|| format!("no `{OUTPUT_NAME}` output"))?;
        let (shape, embedding) = output.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        if embedding.len() != CAMPPLUS_EMBEDDING_DIM {
            return Err(format!("`{OUTPUT_NAME}` has shape {shape:?}, expected [1, {CAMPPLUS_EMBEDDING_DIM}]"));
        }
        Ok(embedding.to_vec())
    }
}

impl SpeakerEmbedder for CampplusEmbedder {
    fn embed(&self, samples_16k: &[f32]) -> callsight_pipeline::error::Result<Vec<f32>> {
        let engine_error = |reason: String| PipelineError::Engine { engine: "campplus-cn-en-common", reason };
        if samples_16k.len() < self.min_samples() {
            return Err(engine_error(format!(
                "{:.3} s of audio is too short to embed; at least {:.3} s is needed",
                samples_16k.len() as f64 / 16_000.0,
                self.min_samples() as f64 / 16_000.0
            )));
        }
        let features = self.features(samples_16k);
        let n_bins = features.n_bins;
        let n_chunks = features.n_frames.div_ceil(MAX_FRAMES_PER_PASS).max(1);
        let chunk_frames = features.n_frames.div_ceil(n_chunks);
        let mut sum = vec![0.0_f32; CAMPPLUS_EMBEDDING_DIM];
        for chunk in features.values.chunks(chunk_frames * n_bins) {
            let n_frames = chunk.len() / n_bins;
            let embedding = self.run(chunk, n_frames).map_err(engine_error)?;
            let unit = l2_normalised(&embedding)
                .ok_or_else(|| engine_error("the model returned a zero or non-finite embedding".into()))?;
            for (total, value) in sum.iter_mut().zip(unit) {
                *total += value * n_frames as f32;
            }
        }
        l2_normalised(&sum).ok_or_else(|| engine_error("the chunk embeddings cancel out".into()))
    }

    fn model_name(&self) -> &str {
        MODEL_NAME
    }

    fn model_version(&self) -> &str {
        MODEL_VERSION
    }

    fn dimension(&self) -> usize {
        CAMPPLUS_EMBEDDING_DIM
    }

    fn min_samples(&self) -> usize {
        let config = self.fbank.config();
        config.frame_length_samples + (MIN_FRAMES - 1) * config.frame_shift_samples
    }
}
