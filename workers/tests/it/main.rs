//! The workers integration tests, one binary: each file is a module, so the shared helpers and
//! the heavy dependencies are compiled and linked once instead of once per file.

#[macro_use]
mod common;
mod queue;
mod store;
mod scale_out;
