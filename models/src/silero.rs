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
        let mut stepper = FrameStepper::new()?;
        let mut probabilities = Vec::with_capacity(samples_16k.len() / VAD_FRAME_SAMPLES + 1);
        for frame in samples_16k.chunks(VAD_FRAME_SAMPLES) {
            probabilities.push(stepper.step(session, frame)?);
        }
        Ok(probabilities)
    }

    /// Takes the first free session, or waits on the first one if all are busy.
    fn session(&self) -> Result<std::sync::MutexGuard<'_, Session>, PipelineError> {
        for session in &self.sessions {
            if let Ok(locked) = session.try_lock() {
                return Ok(locked);
            }
        }
        self.sessions[0].lock().map_err(|_| engine_error("session lock poisoned".into()))
    }
}

fn engine_error(reason: String) -> PipelineError {
    PipelineError::Engine { engine: "silero-vad", reason }
}

/// The model's recurrent state and sample context from one frame to the next, so a call can be
/// fed frame by frame (or block by block) with the same result as in one piece.
struct FrameStepper {
    state: Array3<f32>,
    sample_rate: Tensor<i64>,
    context: Vec<f32>,
    input: Array2<f32>,
}

impl FrameStepper {
    fn new() -> Result<Self, ort::Error> {
        let sample_rate = Tensor::from_array(
            Array1::<i64>::from_elem(1, 16_000).into_shape_with_order(()).map_err(|e| ort::Error::new(e.to_string()))?,
        )?;
        Ok(Self {
            state: Array3::<f32>::zeros((2, 1, STATE_SIZE)),
            sample_rate,
            context: vec![0.0_f32; CONTEXT_SAMPLES],
            input: Array2::<f32>::zeros((1, CONTEXT_SAMPLES + VAD_FRAME_SAMPLES)),
        })
    }

    /// The speech probability of one frame (a short final frame is padded with silence).
    fn step(&mut self, session: &mut Session, frame: &[f32]) -> Result<f32, ort::Error> {
        let mut row = self.input.row_mut(0);
        row.fill(0.0);
        for (slot, value) in row.iter_mut().zip(self.context.iter().chain(frame.iter())) {
            *slot = *value;
        }
        let outputs = session.run(ort::inputs![
            "input" => Tensor::from_array(self.input.clone())?,
            "state" => Tensor::from_array(self.state.clone())?,
            "sr" => self.sample_rate.clone(),
        ])?;
        let (_, speech) = outputs["output"].try_extract_tensor::<f32>()?;
        let probability = speech.first().copied().unwrap_or(0.0);
        let (_, new_state) = outputs["stateN"].try_extract_tensor::<f32>()?;
        if let Some(slice) = self.state.as_slice_mut() {
            slice.copy_from_slice(&new_state[..slice.len().min(new_state.len())]);
        }
        let full_frame = self.input.row(0);
        let tail_start = full_frame.len() - CONTEXT_SAMPLES;
        for (slot, value) in self.context.iter_mut().zip(full_frame.iter().skip(tail_start)) {
            *slot = *value;
        }
        Ok(probability)
    }
}

impl VoiceActivityDetector for SileroVad {
    fn speech_probabilities(&self, samples_16k: &[f32]) -> Result<Vec<f32>, PipelineError> {
        let mut session = self.session()?;
        Self::run(&mut session, samples_16k).map_err(|e| engine_error(e.to_string()))
    }

    /// Frame by frame across blocks: only a frame's remainder is carried from one block to the
    /// next, so the probabilities are those of the whole call in one piece.
    fn speech_probabilities_of_blocks(
        &self,
        next_block: &mut dyn FnMut() -> Result<Option<Vec<f32>>, PipelineError>,
    ) -> Result<Vec<f32>, PipelineError> {
        let ort_error = |e: ort::Error| engine_error(e.to_string());
        let mut session = self.session()?;
        let mut stepper = FrameStepper::new().map_err(ort_error)?;
        let mut probabilities = Vec::new();
        let mut pending: Vec<f32> = Vec::with_capacity(VAD_FRAME_SAMPLES);
        while let Some(block) = next_block()? {
            let mut rest = block.as_slice();
            if !pending.is_empty() {
                let n_taken = (VAD_FRAME_SAMPLES - pending.len()).min(rest.len());
                pending.extend_from_slice(&rest[..n_taken]);
                rest = &rest[n_taken..];
                if pending.len() < VAD_FRAME_SAMPLES {
                    continue;
                }
                probabilities.push(stepper.step(&mut session, &pending).map_err(ort_error)?);
                pending.clear();
            }
            let mut frames = rest.chunks_exact(VAD_FRAME_SAMPLES);
            for frame in frames.by_ref() {
                probabilities.push(stepper.step(&mut session, frame).map_err(ort_error)?);
            }
            pending.extend_from_slice(frames.remainder());
        }
        if !pending.is_empty() {
            probabilities.push(stepper.step(&mut session, &pending).map_err(ort_error)?);
        }
        Ok(probabilities)
    }
}
