//! Offline evaluation of Callsight's engines: ASR word and character error rates over manifests of
//! reference utterances, speaker verification, sentiment, the preparation of evaluation sets from
//! registry packages, and the benchmark report (`make bench`) rendered from result files.

pub mod asr;
pub mod datasets;
pub mod index_bench;
pub mod manifest;
pub mod metrics;
pub mod normalize;
pub mod plots;
pub mod redaction;
pub mod report;

pub use asr::{AsrReport, FailedUtterance, LanguageReport, ScoredUtterance, WORST_UTTERANCES_PER_LANGUAGE, evaluate_asr};
pub use datasets::{PreparationStats, default_data_dir, prepare_asterisk, prepare_festvox_ru};
pub use manifest::{
    LanguageStats, Utterance, filter_min_words, manifest_stats, read_manifest, subsample, write_manifest,
};
pub use metrics::{EditCounts, align_counts, char_edit_counts, char_error_rate, word_edit_counts, word_error_rate};
pub use normalize::{normalize, normalize_basic, normalize_english, normalize_russian};
pub mod sentiment;
pub mod speaker;
