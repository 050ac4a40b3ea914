//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and crash regressions
//! (`fuzz/regressions/<target>/`) through the entry points the fuzz targets call, on the stable
//! toolchain and without cargo-fuzz, so a parser change that breaks on a known input fails here.
//! The API's targets are replayed by `api/tests/fuzz_corpus.rs`.

use std::path::{Path, PathBuf};

use callsight_pipeline::fuzzing;

/// Every file of the target's corpus and regressions; fails if the corpus is missing or empty
/// (a replay of nothing would pass whatever the parser does).
fn inputs_of(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.expect("listing a fuzz corpus").path();
            if path.is_file() {
                let bytes = std::fs::read(&path).expect("reading a fuzz input");
                inputs.push((path, bytes));
            }
        }
    }
    assert!(
        inputs.len() >= 3,
        "fuzz corpus of {target} has {} files (expected the committed corpus under fuzz/corpus/{target})",
        inputs.len()
    );
    inputs.sort();
    inputs
}

fn replay(target: &str, entry_point: fn(&[u8])) {
    let inputs = inputs_of(target);
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| entry_point(bytes));
        assert!(outcome.is_ok(), "{target}: {} makes the parser panic", path.display());
    }
    println!("{target}: {} inputs replayed", inputs.len());
}

#[test]
fn audio_file_corpus_replays() {
    replay("audio_file", fuzzing::decode_audio_file);
}

#[test]
fn audio_compressed_corpus_replays() {
    replay("audio_compressed", fuzzing::decode_compressed_audio);
}

#[test]
fn compliance_script_corpus_replays() {
    replay("compliance_script", fuzzing::parse_compliance_script);
}

#[test]
fn stream_audio_corpus_replays() {
    replay("stream_audio", fuzzing::decode_stream_frames);
}
