//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and crash regressions
//! (`fuzz/regressions/<target>/`) through the entry points the fuzz targets call, on the stable
//! toolchain and without cargo-fuzz, so a parser change that breaks on a known input fails here.
//! The API's targets are replayed by `api/tests/it/fuzz_corpus.rs`.

use std::path::Path;

use callsight_pipeline::fuzzing::{self, replay_corpus};

fn replay(target: &str, entry_point: fn(&[u8])) {
    let n_inputs = replay_corpus(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz"), target, entry_point);
    println!("{target}: {n_inputs} inputs replayed");
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
