//! The pipeline integration tests, one binary: each file is a module, so the shared helpers and
//! the heavy dependencies are compiled and linked once instead of once per file.

mod compliance_support;
mod audio_compressed;
mod audio_fuzz;
mod audio_g711;
mod audio_resample;
mod audio_wav;
mod compliance_evaluate;
mod compliance_matching;
mod compliance_script;
mod fbank_kaldi;
mod fuzz_corpus;
