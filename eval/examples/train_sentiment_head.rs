//! Trains the mE5 sentiment head and prints the held-out report: this is how
//! `models/assets/sentiment-head-me5-v1.json` is made (`callsight eval sentiment` evaluates the
//! shipped head on the same held-out rows).
//!
//! Environment: `CALLSIGHT_ORT_DYLIB`, `CALLSIGHT_ME5_MODEL`, `CALLSIGHT_ME5_TOKENIZER`,
//! `CALLSIGHT_VADER_LEXICON`; optional `CALLSIGHT_EVAL_DATA_DIR` (default
//! `~/.cache/callsight/eval-data`, holding `sentiment-5.0.2.tgz` and `vaderSentiment-3.3.2.tar.gz`),
//! `CALLSIGHT_MAX_ROWS_PER_SOURCE`, `CALLSIGHT_ME5_THREADS` (default 2).
//! Argument: where to write the head JSON (default: print only).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use callsight_eval::sentiment::{
    DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, EmbeddingCache, SentimentCorpus, SentimentDataPaths, SentimentSplit,
    TrainOptions, train_and_evaluate_head,
};
use callsight_models::text::{E5_EMBEDDING_DIM, E5Embedder, VaderScorer};
use callsight_pipeline::engines::TextEmbedder;

fn env_path(name: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os(name).map(PathBuf::from).with_context(|| format!("set {name}"))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let head_output_path = std::env::args_os().nth(1).map(PathBuf::from);
    let eval_data_dir = match std::env::var_os("CALLSIGHT_EVAL_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => env_path("HOME")?.join(".cache/callsight/eval-data"),
    };
    let max_rows_per_source = std::env::var("CALLSIGHT_MAX_ROWS_PER_SOURCE").ok().map(|v| v.parse()).transpose()?;
    let threads: usize = std::env::var("CALLSIGHT_ME5_THREADS").ok().map(|v| v.parse()).transpose()?.unwrap_or(2);

    callsight_models::onnx::init_onnx_runtime(&env_path("CALLSIGHT_ORT_DYLIB")?)?;
    let embedder: Arc<dyn TextEmbedder> =
        Arc::new(E5Embedder::load(&env_path("CALLSIGHT_ME5_MODEL")?, &env_path("CALLSIGHT_ME5_TOKENIZER")?, threads)?);
    let vader = VaderScorer::load(&env_path("CALLSIGHT_VADER_LEXICON")?)?;

    let corpus = SentimentCorpus::load(&SentimentDataPaths::in_dir(&eval_data_dir), None)?;
    let split = SentimentSplit::new(&corpus.sentences, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, max_rows_per_source);
    let split_path = eval_data_dir.join("sentiment-split-v1.json");
    split.write_json(&split_path)?;
    tracing::info!(path = %split_path.display(), "wrote the split");
    let corpus = corpus.with_split(split);

    let mut cache = EmbeddingCache::open(&eval_data_dir.join("sentiment-embeddings-me5.bin"), embedder.model_name(), E5_EMBEDDING_DIM)?;
    tracing::info!(cached = cache.len(), "embedding cache opened");
    let (head, report) = train_and_evaluate_head(&corpus, embedder.as_ref(), &mut cache, &vader, &TrainOptions::default())?;
    println!("{}", report.to_markdown());
    println!("{}", head.provenance.method);
    if let Some(path) = head_output_path {
        std::fs::write(&path, serde_json::to_string_pretty(&head)? + "\n")?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
