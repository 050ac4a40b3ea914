//! Compliance scripts (JSON or YAML): parsing, validation, and the stored JSON parsing back.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    callsight_pipeline::fuzzing::parse_compliance_script(bytes);
});
