//! HTTP Range headers of the call audio download.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    callsight_api::server::fuzzing::range_header(bytes);
});
