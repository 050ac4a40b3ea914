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
