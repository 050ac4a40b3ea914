//! The eval integration tests, one binary: each file is a module, so the shared helpers and
//! the heavy dependencies are compiled and linked once instead of once per file.

mod asr;
mod datasets;
mod manifest;
mod metrics;
mod normalize;
mod report;
