//! The `metadata` JSON part of an upload.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    callsight_api::server::fuzzing::upload_metadata(bytes);
});
