//! Live-stream text messages: the `start` message and later control messages.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    callsight_api::server::fuzzing::stream_message(bytes);
});
