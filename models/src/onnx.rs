//! Loading ONNX Runtime from the shared library the setup step fetched (`ort` with `load-dynamic`).

use std::path::Path;
use std::sync::OnceLock;

use crate::ModelError;

/// The process-wide ONNX Runtime environment; sessions hold only a weak reference, so it lives here.
static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads `libonnxruntime.so` once per process; later calls return the first outcome.
pub fn init_onnx_runtime(dylib_path: &Path) -> Result<(), ModelError> {
    let outcome = ENVIRONMENT.get_or_init(|| {
        if !dylib_path.is_file() {
            return Err(format!("{} does not exist", dylib_path.display()));
        }
        ort::init_from(dylib_path)
            .map_err(|e| e.to_string())?
            .with_name("callsight")
            .build()
            .map_err(|e| e.to_string())
    });
    match outcome {
        Ok(_) => Ok(()),
        Err(reason) => Err(ModelError::Load { what: "ONNX Runtime".into(), reason: reason.clone() }),
    }
}

/// The environment loaded by [`init_onnx_runtime`]; an error if it was never loaded.
pub fn environment() -> Result<&'static ort::environment::Environment, ModelError> {
    match ENVIRONMENT.get() {
        Some(Ok(environment)) => Ok(environment),
        Some(Err(reason)) => Err(ModelError::Load { what: "ONNX Runtime".into(), reason: reason.clone() }),
        None => Err(ModelError::Load {
            what: "ONNX Runtime".into(),
            reason: "not initialised: call init_onnx_runtime first".into(),
        }),
    }
}

/// Loads an ONNX model into a session with `intra_threads` threads for one inference.
pub fn load_session(model_path: &Path, intra_threads: usize) -> Result<ort::session::Session, ModelError> {
    let load_error = |reason: String| ModelError::Load { what: model_path.display().to_string(), reason };
    if !model_path.is_file() {
        return Err(ModelError::Missing { path: model_path.to_path_buf() });
    }
    ort::session::Session::builder(environment()?)
        .map_err(|e| load_error(e.to_string()))?
        .with_intra_threads(intra_threads.max(1))
        .map_err(|e| load_error(e.to_string()))?
        .commit_from_file(model_path)
        .map_err(|e| load_error(e.to_string()))
}
