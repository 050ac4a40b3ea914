//! The api integration tests, one binary: each file is a module, so the shared helpers and
//! the heavy dependencies are compiled and linked once instead of once per file.

mod common;
#[path = "../../../workers/tests/it/common/pg.rs"]
mod pg;
mod http;
mod live;
mod fuzz_corpus;
mod scale_out;
mod security;
