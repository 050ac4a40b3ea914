//! Query strings of the list, audit, aggregate and search endpoints (dates, filters, pages).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    callsight_api::server::fuzzing::query_string(bytes);
});
