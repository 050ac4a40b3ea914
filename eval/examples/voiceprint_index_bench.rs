//! Benchmarks the embedded voiceprint index (qdrant-edge) in a temp dir and prints a JSON report
//! and a human summary.
//!
//! `cargo run --release -p callsight-eval --example voiceprint_index_bench -- [voiceprints] [dimension] [queries] [seed]`
//! (defaults: 100000 192 1000 42). Tuning overrides for experiments: `BENCH_HNSW_EF`, `BENCH_HNSW_M`,
//! `BENCH_FULL_SCAN_KB`, `BENCH_INDEXING_KB` (see `EdgeIndexConfig`).

use anyhow::{Context, Result};
use callsight_eval::index_bench::bench_voiceprint_search_with;
use callsight_models::voiceprints::{EdgeIndexConfig, EdgeVoiceprintIndex};

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |position: usize, default: u64| -> Result<u64> {
        match args.get(position) {
            Some(text) => text
                .parse()
                .with_context(|| format!("argument {} ({text:?}) is not a number", position + 1)),
            None => Ok(default),
        }
    };
    let voiceprints = arg(0, 100_000)? as usize;
    let dimension = arg(1, 192)? as usize;
    let queries = arg(2, 1_000)? as usize;
    let seed = arg(3, 42)?;

    let temp = tempfile::tempdir().context("creating a temp dir")?;
    let dir = temp.path().join("voiceprints");
    let env_number = |name: &str| -> Result<Option<usize>> {
        match std::env::var(name) {
            Ok(text) => {
                Ok(Some(text.parse().with_context(|| {
                    format!("{name}={text:?} is not a number")
                })?))
            }
            Err(_) => Ok(None),
        }
    };
    let mut config = EdgeIndexConfig::default();
    if let Some(ef) = env_number("BENCH_HNSW_EF")? {
        config.hnsw_ef_search = Some(ef);
    }
    config.hnsw_m = env_number("BENCH_HNSW_M")?.unwrap_or(config.hnsw_m);
    config.full_scan_threshold_kb =
        env_number("BENCH_FULL_SCAN_KB")?.unwrap_or(config.full_scan_threshold_kb);
    config.indexing_threshold_kb =
        env_number("BENCH_INDEXING_KB")?.unwrap_or(config.indexing_threshold_kb);
    println!("{config:?}");
    let index = EdgeVoiceprintIndex::open_with_config(&dir, config)?;
    // Wait for the HNSW build (background optimisation may already be under way) before searching.
    let report =
        bench_voiceprint_search_with(&index, voiceprints, dimension, queries, seed, &|| {
            Ok(index.optimize()?)
        })?;
    let indexed_vectors = index.indexed_vectors()?;
    let shards = index.shard_summaries()?;

    println!("{}", serde_json::to_string_pretty(&report)?);
    println!("shards: {}", shards.join("; "));
    println!(
        "{}: {} voiceprints of dimension {} over {} tenants; inserted in {:.1} s ({:.0}/s), optimised in {:.1} s \
         ({indexed_vectors} vectors in HNSW segments)",
        report.backend,
        report.voiceprints,
        report.dimension,
        report.tenants,
        report.insert_secs,
        report.voiceprints as f64 / report.insert_secs,
        report.after_insert_secs,
    );
    println!(
        "{} tenant-filtered searches (top {}): p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         recall@1 of planted near-duplicates {:.3} (mean cosine {:.3}); foreign-tenant hits {}",
        report.queries,
        report.search_limit,
        report.search_p50_ms,
        report.search_p95_ms,
        report.search_p99_ms,
        report.search_max_ms,
        report.recall_at_1,
        report.planted_mean_cosine,
        report.foreign_tenant_hits,
    );
    Ok(())
}
