//! The callsight integration tests, one binary: each file is a module, so the shared helpers and
//! the heavy dependencies are compiled and linked once instead of once per file.

mod common;
#[path = "../../workers/tests/it/common/pg.rs"]
mod pg;
mod analyze;
mod cross_lingual;
mod schemathesis;
mod service;
mod speakers;
mod streams;
mod web;
mod scale;
mod crash_restart;
mod redaction;
