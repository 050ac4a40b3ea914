//! Voiceprint index benchmark: bulk insert, then filtered nearest-neighbour searches timed one by
//! one, with a recall@1 check on planted near-duplicates. A measurement, not a test.

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use callsight_pipeline::speaker::{Voiceprint, VoiceprintFilter, VoiceprintIndex, VoiceprintKind};
use serde::{Deserialize, Serialize};

/// Voiceprints are spread round-robin over this many tenants; every search filters by one.
pub const BENCH_TENANTS: usize = 4;
const INSERT_BATCH: usize = 1_000;
const MODEL_NAME: &str = "bench-model";
const MODEL_VERSION: &str = "1";
/// Standard deviation of the noise added to a stored vector to make its query: a near-duplicate
/// (cosine about 0.99 at dimension 192) that a correct index must rank first.
const PLANT_NOISE: f32 = 0.01;
const SEARCH_LIMIT: usize = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexBenchReport {
    pub backend: String,
    pub voiceprints: usize,
    pub dimension: usize,
    pub tenants: usize,
    pub queries: usize,
    pub search_limit: usize,
    pub insert_batch: usize,
    /// Wall time of all upserts.
    pub insert_secs: f64,
    /// Wall time of the step run between inserting and searching (e.g. building the HNSW index).
    pub after_insert_secs: f64,
    pub search_mean_ms: f64,
    pub search_p50_ms: f64,
    pub search_p95_ms: f64,
    pub search_p99_ms: f64,
    pub search_max_ms: f64,
    /// Fraction of queries whose planted near-duplicate came back first.
    pub recall_at_1: f64,
    /// Mean cosine of the planted voiceprint to its query.
    pub planted_mean_cosine: f64,
    /// Hits that belonged to another tenant than the filter's (must be 0).
    pub foreign_tenant_hits: usize,
}

/// Inserts `voiceprints` random unit vectors, then times `queries` tenant-filtered searches.
pub fn bench_voiceprint_search(
    index: &dyn VoiceprintIndex,
    voiceprints: usize,
    dimension: usize,
    queries: usize,
    seed: u64,
) -> Result<IndexBenchReport> {
    bench_voiceprint_search_with(index, voiceprints, dimension, queries, seed, &|| Ok(()))
}

/// Like [`bench_voiceprint_search`], running `after_insert` (timed on its own) between the
/// inserts and the searches, e.g. to wait for an index build.
pub fn bench_voiceprint_search_with(
    index: &dyn VoiceprintIndex,
    voiceprints: usize,
    dimension: usize,
    queries: usize,
    seed: u64,
    after_insert: &dyn Fn() -> Result<()>,
) -> Result<IndexBenchReport> {
    ensure!(
        voiceprints > 0 && dimension > 0 && queries > 0,
        "voiceprints, dimension and queries must be positive"
    );
    let mut rng = SplitMix64(seed);
    // Which stored voiceprint each query is a near-duplicate of, chosen up front so the vectors
    // need not all be kept.
    let targets: Vec<usize> = (0..queries)
        .map(|_| (rng.next() % voiceprints as u64) as usize)
        .collect();
    let mut target_vectors: std::collections::HashMap<usize, Vec<f32>> =
        std::collections::HashMap::new();

    let insert_started = Instant::now();
    let mut batch = Vec::with_capacity(INSERT_BATCH);
    for point_idx in 0..voiceprints {
        let vector = random_unit_vector(&mut rng, dimension);
        if targets.contains(&point_idx) {
            target_vectors.insert(point_idx, vector.clone());
        }
        batch.push(bench_voiceprint(seed, point_idx, vector));
        if batch.len() == INSERT_BATCH {
            index
                .upsert(&batch)
                .with_context(|| format!("upserting up to voiceprint {point_idx}"))?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        index.upsert(&batch).context("upserting the last batch")?;
    }
    let insert_secs = insert_started.elapsed().as_secs_f64();

    let after_insert_started = Instant::now();
    after_insert().context("after-insert step")?;
    let after_insert_secs = after_insert_started.elapsed().as_secs_f64();

    let mut latencies_ms = Vec::with_capacity(queries);
    let mut found_first = 0usize;
    let mut planted_cosine_sum = 0.0f64;
    let mut foreign_tenant_hits = 0usize;
    for &target in &targets {
        let stored = target_vectors
            .get(&target)
            .context("target vector was not kept")?;
        let noisy: Vec<f32> = stored
            .iter()
            .map(|value| value + PLANT_NOISE * rng.gaussian())
            .collect();
        let query = normalised(noisy);
        planted_cosine_sum += f64::from(stored.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>());
        let tenant = tenant_of(target);
        let filter = VoiceprintFilter {
            tenant: tenant.clone(),
            model_name: MODEL_NAME.into(),
            model_version: MODEL_VERSION.into(),
            kind: None,
            speaker_id: None,
        };
        let started = Instant::now();
        let hits = index
            .search(&query, &filter, SEARCH_LIMIT)
            .context("search")?;
        latencies_ms.push(started.elapsed().as_secs_f64() * 1_000.0);
        if hits
            .first()
            .is_some_and(|hit| hit.voiceprint.id == voiceprint_id(seed, target))
        {
            found_first += 1;
        }
        foreign_tenant_hits += hits
            .iter()
            .filter(|hit| hit.voiceprint.tenant != tenant)
            .count();
    }
    latencies_ms.sort_by(f64::total_cmp);
    Ok(IndexBenchReport {
        backend: index.backend_name().to_string(),
        voiceprints,
        dimension,
        tenants: BENCH_TENANTS,
        queries,
        search_limit: SEARCH_LIMIT,
        insert_batch: INSERT_BATCH,
        insert_secs,
        after_insert_secs,
        search_mean_ms: latencies_ms.iter().sum::<f64>() / queries as f64,
        search_p50_ms: percentile(&latencies_ms, 0.50),
        search_p95_ms: percentile(&latencies_ms, 0.95),
        search_p99_ms: percentile(&latencies_ms, 0.99),
        search_max_ms: latencies_ms.last().copied().unwrap_or_default(),
        recall_at_1: found_first as f64 / queries as f64,
        planted_mean_cosine: planted_cosine_sum / queries as f64,
        foreign_tenant_hits,
    })
}

fn tenant_of(point_idx: usize) -> String {
    format!("bench-tenant-{}", point_idx % BENCH_TENANTS)
}

fn voiceprint_id(seed: u64, point_idx: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", seed as u32, point_idx)
}

fn bench_voiceprint(seed: u64, point_idx: usize, vector: Vec<f32>) -> Voiceprint {
    // A few agents and fraudsters among the customers, as in a real tenant.
    let kind = match point_idx % 50 {
        0 => VoiceprintKind::Fraudster,
        1..=4 => VoiceprintKind::Agent,
        _ => VoiceprintKind::Customer,
    };
    Voiceprint {
        id: voiceprint_id(seed, point_idx),
        tenant: tenant_of(point_idx),
        speaker_id: format!("speaker-{}", point_idx / 2),
        kind,
        model_name: MODEL_NAME.into(),
        model_version: MODEL_VERSION.into(),
        enrolled_at_unix_secs: 1_700_000_000 + point_idx as i64,
        net_speech_secs: 20.0,
        source_call_ids: Vec::new(),
        vector,
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn normalised(vector: Vec<f32>) -> Vec<f32> {
    let norm = vector
        .iter()
        .map(|value| value * value)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    vector.into_iter().map(|value| value / norm).collect()
}

fn random_unit_vector(rng: &mut SplitMix64, dimension: usize) -> Vec<f32> {
    normalised((0..dimension).map(|_| rng.gaussian()).collect())
}

/// SplitMix64: a small, seedable generator, so the benchmark needs no `rand`.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 1.0) / (1u64 << 24) as f32
    }

    /// Standard normal (Box-Muller); random directions need Gaussian coordinates.
    fn gaussian(&mut self) -> f32 {
        let radius = (-2.0 * self.uniform().ln()).sqrt();
        radius * (std::f32::consts::TAU * self.uniform()).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.50), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }

    #[test]
    fn random_vectors_are_unit_length() {
        let mut rng = SplitMix64(7);
        let vector = random_unit_vector(&mut rng, 192);
        let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
