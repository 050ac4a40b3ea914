//! Voice activity with the Silero VAD ONNX model (v5/v6 interface: 64 samples of context + 512 new).

use std::path::Path;
use std::sync::Mutex;

use callsight_pipeline::engines::{VAD_FRAME_SAMPLES, VoiceActivityDetector};
use callsight_pipeline::PipelineError;
use ndarray::{Array1, Array2, Array3};
use ort::session::Session;
use ort::value::Tensor;

use crate::ModelError;

/// Samples of the previous frame the model sees before each new frame (silero-vad's `OnnxWrapper`).
const CONTEXT_SAMPLES: usize = 64;
/// Recurrent state shape `[2, batch, 128]`.
const STATE_SIZE: usize = 128;

pub struct SileroVad {
    /// Sessions are not thread-safe to run; a pool lets parallel jobs avoid waiting on one lock.
    sessions: Vec<Mutex<Session>>,
}

impl SileroVad {
    /// `parallel_sessions` copies (2.3 MB each) allow that many calls to run VAD at once.
    pub fn load(model_path: &Path, parallel_sessions: usize) -> Result<Self, ModelError> {
        let sessions = (0..parallel_sessions.max(1))
            .map(|_| crate::onnx::load_session(model_path, 1).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { sessions })
    }

    fn run(session: &mut Session, samples_16k: &[f32]) -> Result<Vec<f32>, ort::Error> {
        let mut state = Array3::<f32>::zeros((2, 1, STATE_SIZE));
        let sample_rate = Tensor::from_array(Array1::<i64>::from_elem(1, 16_000).into_shape_with_order(()).map_err(|e| ort::Error::new(e.to_string()))?)?;
        let mut context = vec![0.0_f32; CONTEXT_SAMPLES];
        let mut probabilities = Vec::with_capacity(samples_16k.len() / VAD_FRAME_SAMPLES + 1);
        let mut input = Array2::<f32>::zeros((1, CONTEXT_SAMPLES + VAD_FRAME_SAMPLES));
        for frame in samples_16k.chunks(VAD_FRAME_SAMPLES) {
            let mut row = input.row_mut(0);
            row.fill(0.0);
            for (slot, value) in row.iter_mut().zip(context.iter().chain(frame.iter())) {
                *slot = *value;
            }
            let outputs = session.run(ort::inputs![
                "input" => Tensor::from_array(input.clone())?,
                "state" => Tensor::from_array(state.clone())?,
                "sr" => sample_rate.clone(),
            ])?;
            let (_, speech) = outputs["output"].try_extract_tensor::<f32>()?;
            probabilities.push(speech.first().copied().unwrap_or(0.0));
            let (_, new_state) = outputs["stateN"].try_extract_tensor::<f32>()?;
            if let Some(slice) = state.as_slice_mut() {
                slice.copy_from_slice(&new_state[..slice.len().min(new_state.len())]);
            }
            let full_frame = input.row(0);
            let tail_start = full_frame.len() - CONTEXT_SAMPLES;
            for (slot, value) in context.iter_mut().zip(full_frame.iter().skip(tail_start)) {
                *slot = *value;
            }
        }
        Ok(probabilities)
    }
}

impl VoiceActivityDetector for SileroVad {
    fn speech_probabilities(&self, samples_16k: &[f32]) -> Result<Vec<f32>, PipelineError> {
        let engine_error = |reason: String| PipelineError::Engine { engine: "silero-vad", reason };
        // Take the first free session; wait on the first one if all are busy.
        let mut guard = None;
        for session in &self.sessions {
            if let Ok(locked) = session.try_lock() {
                guard = Some(locked);
                break;
            }
        }
        let mut session = match guard {
            Some(locked) => locked,
            None => self.sessions[0].lock().map_err(|_| engine_error("session lock poisoned".into()))?,
        };
        Self::run(&mut session, samples_16k).map_err(|e| engine_error(e.to_string()))
    }
}
