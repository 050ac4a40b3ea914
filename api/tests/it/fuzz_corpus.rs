//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and crash regressions
//! (`fuzz/regressions/<target>/`) through the entry points the fuzz targets call, on the stable
//! toolchain and without cargo-fuzz, so a parser change that breaks on a known input fails here.
//! The pipeline's targets are replayed by `pipeline/tests/it/fuzz_corpus.rs`.

use std::path::Path;

use callsight_api::server::fuzzing;
use callsight_pipeline::fuzzing::replay_corpus;

fn replay(target: &str, entry_point: fn(&[u8])) {
    let n_inputs = replay_corpus(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz"), target, entry_point);
    println!("{target}: {n_inputs} inputs replayed");
}

#[test]
fn upload_metadata_corpus_replays() {
    replay("upload_metadata", fuzzing::upload_metadata);
}

#[test]
fn range_header_corpus_replays() {
    replay("range_header", fuzzing::range_header);
}

#[test]
fn query_string_corpus_replays() {
    replay("query_string", fuzzing::query_string);
}

#[test]
fn stream_message_corpus_replays() {
    replay("stream_message", fuzzing::stream_message);
}
