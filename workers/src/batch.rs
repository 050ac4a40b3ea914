//! A batch of recordings analysed by a fixed number of threads, each failure kept with its file.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// File name extensions picked up when a directory is given.
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "mp3", "flac", "ogg", "oga"];

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },
}

/// Expands directories (recursively, audio extensions only, sorted) and keeps named files as given,
/// so a file the user named explicitly is reported if it is not audio rather than skipped.
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, BatchError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(BatchError::Input { path: path.clone(), reason: "no such file or directory".into() });
        }
    }
    Ok(files)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), BatchError> {
    let io_error = |e: std::io::Error| BatchError::Input { path: dir.to_path_buf(), reason: e.to_string() };
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// The outcome of one file: its result, or why it failed (a panic is caught and reported too).
pub type ItemResult<T> = Result<T, String>;

/// Runs `analyze` over `inputs` on `n_threads` threads; results come back in input order.
/// `on_done(index, path, &result)` is called as each file finishes (for progress bars).
pub fn run_batch<T: Send>(
    inputs: &[PathBuf],
    n_threads: usize,
    analyze: &(dyn Fn(&Path) -> ItemResult<T> + Sync),
    on_done: &(dyn Fn(usize, &Path, &ItemResult<T>) + Sync),
) -> Vec<ItemResult<T>> {
    let next_index = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ItemResult<T>>>> = Mutex::new((0..inputs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..n_threads.clamp(1, inputs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next_index.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = inputs.get(index) else { break };
                    let result = catch_unwind(AssertUnwindSafe(|| analyze(path))).unwrap_or_else(|panic| {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "unknown panic".into());
                        Err(format!("internal error while analysing: {message}"))
                    });
                    on_done(index, path, &result);
                    if let Ok(mut slots) = results.lock() {
                        slots[index] = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|slot| slot.unwrap_or_else(|| Err("not processed".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failure_and_one_panic_do_not_stop_the_batch() {
        let inputs: Vec<PathBuf> = ["a.wav", "bad.wav", "boom.wav", "d.wav"].iter().map(PathBuf::from).collect();
        let analyze = |path: &Path| -> ItemResult<String> {
            match path.to_str() {
                Some("bad.wav") => Err("corrupt".into()),
                Some("boom.wav") => panic!("engine exploded"),
                other => Ok(other.unwrap_or_default().to_uppercase()),
            }
        };
        let done = AtomicUsize::new(0);
        let results = run_batch(&inputs, 2, &analyze, &|_, _, _| {
            done.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(done.load(Ordering::Relaxed), 4);
        assert_eq!(results[0], Ok("A.WAV".to_string()));
        assert_eq!(results[1], Err("corrupt".to_string()));
        assert!(results[2].as_ref().is_err_and(|e| e.contains("engine exploded")));
        assert_eq!(results[3], Ok("D.WAV".to_string()));
    }
}
