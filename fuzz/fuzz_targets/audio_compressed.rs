//! The compressed-audio path (symphonia wrapper and its limits): the first byte picks FLAC, Ogg or
//! MPEG audio.
//!
//! Symphonia panics are caught by the wrapper, as in the service, and become decoding errors.
//! libfuzzer-sys's panic hook would abort on them even though they are caught, so this target
//! puts the standard hook back: a caught panic only prints its message, and a panic that escapes
//! the wrapper still aborts (libfuzzer-sys catches it at the top of each run and aborts).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        drop(std::panic::take_hook());
    },
    |bytes: &[u8]| {
        callsight_pipeline::fuzzing::decode_compressed_audio(bytes);
    }
);
