//! Live-stream binary frames: PCM/G.711/float samples cut anywhere into WebSocket frames.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    callsight_pipeline::fuzzing::decode_stream_frames(bytes);
});
