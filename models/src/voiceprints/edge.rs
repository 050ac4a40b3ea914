//! The embedded voiceprint index: Qdrant in-process through `qdrant-edge`, one shard per
//! embedding model under one directory.
//!
//! On-disk layout (`dir` is what the app passes, normally `<data-dir>/voiceprints`):
//! ```text
//! dir/<model-slug>/voiceprint_model.json   model name, version and dimension of this shard
//! dir/<model-slug>/edge_config.json, wal/, segments/   the qdrant-edge shard
//! ```
//! `<model-slug>` is `<name>-<version>-<hash>` (see [`super::model_slug`]).
//!
//! Indexing: qdrant-edge never optimises on its own, so new points sit in a plain appendable
//! segment until `optimize` runs. Once a shard holds more unindexed vectors than the indexing
//! threshold, a background thread runs the optimisers (HNSW build, merges, vacuum); searches keep
//! working meanwhile. [`EdgeVoiceprintIndex::optimize`] does the same synchronously.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread::JoinHandle;

use callsight_pipeline::error::Result;
use callsight_pipeline::speaker::{Voiceprint, VoiceprintFilter, VoiceprintHit, VoiceprintIndex};
use qdrant_edge::{
    Condition, CountRequest, DEFAULT_VECTOR_NAME, Distance, EdgeConfig, EdgeOptimizersConfig,
    EdgeShard, EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations, Filter,
    HnswIndexConfig, JsonPath, KeywordIndexParamsBuilder, Match, NamedQuery, PayloadFieldSchema,
    PayloadSchemaParams, PointId, PointInsertOperations, PointOperations, PointStruct, QueryEnum,
    QueryRequest, ScoringQuery, ScrollRequest, SearchParams, UpdateOperation, ValueVariants,
    VectorInternal, VectorStructInternal, WithPayloadInterface, WithVector,
};

use super::{
    ModelKey, check_vector, field, filter_equalities, group_by_model, index_error, model_slug,
    payload_json,
};

const BACKEND: &str = "qdrant-edge";
/// Written next to each shard so that reopening knows which model a directory holds.
const MODEL_META_FILE: &str = "voiceprint_model.json";
const SCROLL_PAGE: usize = 1_000;

/// Tunables of the embedded index. The defaults suit 100k voiceprints of a few hundred dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeIndexConfig {
    /// HNSW graph degree (Qdrant default 16).
    pub hnsw_m: usize,
    /// HNSW build beam (Qdrant default 100).
    pub hnsw_ef_construct: usize,
    /// HNSW search beam for filters above the full-scan threshold; `None` uses Qdrant's default
    /// (the build beam, 100). On random 192-dimensional unit vectors under a 1-in-4 tenant filter,
    /// beam 100 ranked a planted near-duplicate first in only 87% of searches at 40k voiceprints,
    /// beam 512 in 99.4% (see `eval/examples/voiceprint_index_bench.rs`).
    pub hnsw_ef_search: Option<usize>,
    /// Filters estimated to match less vector data (KiB, per segment) than this are answered by an
    /// exact scan of just the matching points, found through the payload index, instead of an HNSW
    /// walk. Qdrant's default is 10 000 KiB. 200 000 KiB (about 266 000 vectors of dimension 192
    /// per tenant and segment) keeps identification and watchlist screening exact: at 1 M
    /// voiceprints over 4 tenants the filtered HNSW walk (beam 512, threshold 40 000 KiB) found the
    /// planted near-duplicate first in 53.2 % of searches (p50 6.3 ms), the exact scan in 100 %
    /// (p50 36.6 ms on a loaded machine). At 100k over 4 tenants: exact p50 2.6 ms, recall 1.000;
    /// HNSW p50 2.9 ms, recall 0.942. (Uniformly random vectors are the worst case for HNSW; real
    /// embeddings cluster by speaker, but a watchlist must not depend on that.)
    pub full_scan_threshold_kb: usize,
    /// Unindexed vector data (KiB) in a shard above which the optimisers build an HNSW index
    /// (Qdrant default 10 000 KiB, about 13 000 vectors of dimension 192). Below it, and for
    /// filters matching fewer points than that, search is an exact scan of the matching points.
    pub indexing_threshold_kb: usize,
    /// Run the optimisers on a background thread when the threshold is crossed. When `false`,
    /// only [`EdgeVoiceprintIndex::optimize`] builds indexes.
    pub optimize_in_background: bool,
}

impl Default for EdgeIndexConfig {
    fn default() -> Self {
        EdgeIndexConfig {
            hnsw_m: 16,
            hnsw_ef_construct: 100,
            hnsw_ef_search: Some(512),
            full_scan_threshold_kb: 200_000,
            indexing_threshold_kb: 10_000,
            optimize_in_background: true,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ModelMeta {
    model_name: String,
    model_version: String,
    dimension: usize,
}

/// One embedding model's shard.
struct ModelShard {
    key: ModelKey,
    dimension: usize,
    shard: EdgeShard,
    /// Set while a background optimisation of this shard is queued, so upserts queue it once.
    optimize_queued: AtomicBool,
    /// qdrant-edge's `optimize` is not meant to run twice at once on one shard.
    optimize_lock: Mutex<()>,
}

impl ModelShard {
    fn optimize(&self) -> Result<()> {
        let _guard = self
            .optimize_lock
            .lock()
            .map_err(|_| index_error(BACKEND, "optimizer lock poisoned"))?;
        self.shard.optimize().map_err(|error| {
            index_error(
                BACKEND,
                format!(
                    "optimising {} {}: {error}",
                    self.key.model_name, self.key.model_version
                ),
            )
        })?;
        Ok(())
    }
}

struct BackgroundOptimizer {
    sender: Option<mpsc::Sender<Arc<ModelShard>>>,
    worker: Option<JoinHandle<()>>,
}

impl BackgroundOptimizer {
    fn start() -> Result<Self> {
        let (sender, receiver) = mpsc::channel::<Arc<ModelShard>>();
        let worker = std::thread::Builder::new()
            .name("voiceprint-optimizer".into())
            .spawn(move || {
                for model_shard in receiver {
                    // Cleared first: upserts during the run queue another one.
                    model_shard.optimize_queued.store(false, Ordering::SeqCst);
                    let started = std::time::Instant::now();
                    match model_shard.optimize() {
                        Ok(()) => tracing::info!(
                            model = %model_shard.key.model_name,
                            version = %model_shard.key.model_version,
                            secs = started.elapsed().as_secs_f64(),
                            "voiceprint index optimised"
                        ),
                        Err(error) => tracing::error!(%error, "background voiceprint index optimisation failed"),
                    }
                }
            })
            .map_err(|error| index_error(BACKEND, format!("starting the optimizer thread: {error}")))?;
        Ok(BackgroundOptimizer {
            sender: Some(sender),
            worker: Some(worker),
        })
    }
}

impl Drop for BackgroundOptimizer {
    fn drop(&mut self) {
        // Closing the channel ends the worker after the optimisation in progress; joining it
        // releases its shard handles, so the shards are flushed and closed before the directory
        // can be reopened.
        self.sender.take();
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("voiceprint optimizer thread panicked");
        }
    }
}

/// Voiceprints in Qdrant, in process. Thread-safe: reads run in parallel, writes are serialised.
pub struct EdgeVoiceprintIndex {
    dir: PathBuf,
    config: EdgeIndexConfig,
    shards: RwLock<HashMap<ModelKey, Arc<ModelShard>>>,
    /// Serialises writes so that `delete_speaker`'s count and delete see the same points.
    write_lock: Mutex<()>,
    /// Taken first in `Drop`, so the worker's shard handles are gone when the shards close.
    optimizer: Option<BackgroundOptimizer>,
    /// Exclusive lock on `<dir>/.lock`, held for the index's life (declared last, so released
    /// after the shards are closed). The kernel drops it when the process dies, even on SIGKILL.
    _process_lock: fs::File,
}

const LOCK_FILE: &str = ".lock";

/// Takes the directory's exclusive lock: two processes writing the same shards would corrupt them.
fn lock_directory(dir: &Path) -> Result<fs::File> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|error| index_error(BACKEND, format!("opening {}: {error}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
            return Err(index_error(
                BACKEND,
                format!("the voiceprint index in {} is open in another process{holder}; an embedded index serves one process", dir.display()),
            ));
        }
        Err(fs::TryLockError::Error(error)) => {
            return Err(index_error(BACKEND, format!("locking {}: {error}", path.display())));
        }
    }
    // Who holds it, for the message above; best effort.
    let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| write!(file, "{}", std::process::id()));
    Ok(file)
}

impl EdgeVoiceprintIndex {
    /// Opens (or creates) the index under `dir` with the default tunables, loading every model
    /// shard found there. Only one process may open a directory at a time.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_config(dir, EdgeIndexConfig::default())
    }

    pub fn open_with_config(dir: &Path, config: EdgeIndexConfig) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|error| {
            index_error(BACKEND, format!("creating {}: {error}", dir.display()))
        })?;
        let process_lock = lock_directory(dir)?;
        let entries = fs::read_dir(dir)
            .map_err(|error| index_error(BACKEND, format!("reading {}: {error}", dir.display())))?;
        let mut shards = HashMap::new();
        for entry in entries {
            let entry = entry.map_err(|error| {
                index_error(BACKEND, format!("reading {}: {error}", dir.display()))
            })?;
            let shard_dir = entry.path();
            let meta_path = shard_dir.join(MODEL_META_FILE);
            if !meta_path.is_file() {
                continue;
            }
            let meta = read_meta(&meta_path)?;
            let key = ModelKey {
                model_name: meta.model_name.clone(),
                model_version: meta.model_version.clone(),
            };
            let shard = open_shard(&shard_dir, meta.dimension, &config)?;
            tracing::debug!(model = %meta.model_name, version = %meta.model_version, "opened voiceprint shard");
            shards.insert(
                key.clone(),
                Arc::new(ModelShard {
                    key,
                    dimension: meta.dimension,
                    shard,
                    optimize_queued: AtomicBool::new(false),
                    optimize_lock: Mutex::new(()),
                }),
            );
        }
        let optimizer = if config.optimize_in_background {
            Some(BackgroundOptimizer::start()?)
        } else {
            None
        };
        Ok(EdgeVoiceprintIndex {
            dir: dir.to_path_buf(),
            config,
            shards: RwLock::new(shards),
            write_lock: Mutex::new(()),
            optimizer,
            _process_lock: process_lock,
        })
    }

    /// Runs the optimisers of every shard now and waits for them: builds the HNSW index of large
    /// shards, merges small segments and drops deleted points. Slow on large shards (seconds per
    /// 10k vectors); useful after a bulk import and in benchmarks.
    pub fn optimize(&self) -> Result<()> {
        for model_shard in self.all_shards()? {
            model_shard.optimize()?;
        }
        Ok(())
    }

    /// Persists every shard's pending writes (they are in the WAL already; this shortens replay).
    pub fn flush(&self) -> Result<()> {
        for model_shard in self.all_shards()? {
            model_shard
                .shard
                .flush()
                .map_err(|error| index_error(BACKEND, format!("flush: {error}")))?;
        }
        Ok(())
    }

    /// How many vectors are in HNSW-indexed segments, over all shards (Qdrant's approximation).
    pub fn indexed_vectors(&self) -> Result<usize> {
        let mut indexed = 0;
        for model_shard in self.all_shards()? {
            let info = model_shard
                .shard
                .info()
                .map_err(|error| index_error(BACKEND, format!("shard info: {error}")))?;
            indexed += info.indexed_vectors_count;
        }
        Ok(indexed)
    }

    /// One line per model shard: model, segments, points and HNSW-indexed vectors (for logs and
    /// benchmarks).
    pub fn shard_summaries(&self) -> Result<Vec<String>> {
        let mut summaries = Vec::new();
        for model_shard in self.all_shards()? {
            let info = model_shard
                .shard
                .info()
                .map_err(|error| index_error(BACKEND, format!("shard info: {error}")))?;
            summaries.push(format!(
                "{} {}: {} segments, {} points, {} in HNSW",
                model_shard.key.model_name,
                model_shard.key.model_version,
                info.segments_count,
                info.points_count,
                info.indexed_vectors_count
            ));
        }
        Ok(summaries)
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn all_shards(&self) -> Result<Vec<Arc<ModelShard>>> {
        Ok(self
            .shards
            .read()
            .map_err(|_| index_error(BACKEND, "shard map lock poisoned"))?
            .values()
            .cloned()
            .collect())
    }

    fn shard_of(&self, key: &ModelKey) -> Result<Option<Arc<ModelShard>>> {
        Ok(self
            .shards
            .read()
            .map_err(|_| index_error(BACKEND, "shard map lock poisoned"))?
            .get(key)
            .cloned())
    }

    /// The shard of `key`, created with `dimension` if the model is new.
    fn shard_or_create(&self, key: &ModelKey, dimension: usize) -> Result<Arc<ModelShard>> {
        if let Some(existing) = self.shard_of(key)? {
            return Ok(existing);
        }
        let mut shards = self
            .shards
            .write()
            .map_err(|_| index_error(BACKEND, "shard map lock poisoned"))?;
        if let Some(existing) = shards.get(key) {
            return Ok(existing.clone());
        }
        let shard_dir = self
            .dir
            .join(model_slug(&key.model_name, &key.model_version));
        fs::create_dir_all(&shard_dir).map_err(|error| {
            index_error(
                BACKEND,
                format!("creating {}: {error}", shard_dir.display()),
            )
        })?;
        let meta = ModelMeta {
            model_name: key.model_name.clone(),
            model_version: key.model_version.clone(),
            dimension,
        };
        let shard = open_shard(&shard_dir, dimension, &self.config)?;
        // Written after the shard exists, so a directory with metadata always holds a shard.
        write_meta(&shard_dir.join(MODEL_META_FILE), &meta)?;
        let model_shard = Arc::new(ModelShard {
            key: key.clone(),
            dimension,
            shard,
            optimize_queued: AtomicBool::new(false),
            optimize_lock: Mutex::new(()),
        });
        shards.insert(key.clone(), model_shard.clone());
        tracing::info!(model = %key.model_name, version = %key.model_version, dimension, "created voiceprint shard");
        Ok(model_shard)
    }

    fn maybe_optimize_in_background(&self, model_shard: &Arc<ModelShard>) {
        let Some(sender) = self
            .optimizer
            .as_ref()
            .and_then(|optimizer| optimizer.sender.as_ref())
        else {
            return;
        };
        let info = match model_shard.shard.info() {
            Ok(info) => info,
            Err(error) => {
                tracing::warn!(%error, "reading voiceprint shard info");
                return;
            }
        };
        let unindexed = info.points_count.saturating_sub(info.indexed_vectors_count);
        let unindexed_kb = unindexed
            .saturating_mul(model_shard.dimension)
            .saturating_mul(4)
            / 1024;
        if unindexed_kb >= self.config.indexing_threshold_kb
            && !model_shard.optimize_queued.swap(true, Ordering::SeqCst)
            && sender.send(model_shard.clone()).is_err()
        {
            model_shard.optimize_queued.store(false, Ordering::SeqCst);
        }
    }
}

impl Drop for EdgeVoiceprintIndex {
    fn drop(&mut self) {
        self.optimizer.take();
    }
}

impl VoiceprintIndex for EdgeVoiceprintIndex {
    fn upsert(&self, voiceprints: &[Voiceprint]) -> Result<()> {
        let groups = group_by_model(BACKEND, voiceprints)?;
        let _write = self
            .write_lock
            .lock()
            .map_err(|_| index_error(BACKEND, "write lock poisoned"))?;
        // Check every group against its shard before writing anything.
        let mut targets = Vec::with_capacity(groups.len());
        for (key, members) in &groups {
            let dimension = members
                .first()
                .map(|first| first.vector.len())
                .unwrap_or_default();
            if let Some(existing) = self.shard_of(key)? {
                check_vector(
                    BACKEND,
                    &members[0].vector,
                    existing.dimension,
                    &format!(
                        "voiceprint {} of model {} {}",
                        members[0].id, key.model_name, key.model_version
                    ),
                )?;
            }
            targets.push((key, members, dimension));
        }
        for (key, members, dimension) in targets {
            let model_shard = self.shard_or_create(key, dimension)?;
            let ids: Vec<PointId> = members
                .iter()
                .map(|voiceprint| super::point_uuid(BACKEND, &voiceprint.id).map(PointId::Uuid))
                .collect::<Result<_>>()?;
            // Upsert replaces by id across models too: drop these ids from every other shard.
            for other in self.all_shards()? {
                if other.key != *key {
                    apply(
                        &other,
                        UpdateOperation::PointOperation(PointOperations::DeletePoints {
                            ids: ids.clone(),
                        }),
                    )?;
                }
            }
            let points = members
                .iter()
                .zip(&ids)
                .map(|(voiceprint, id)| {
                    PointStruct::new(
                        *id,
                        voiceprint.vector.clone(),
                        serde_json::Value::Object(payload_json(voiceprint)),
                    )
                    .into()
                })
                .collect();
            apply(
                &model_shard,
                UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                    PointInsertOperations::PointsList(points),
                )),
            )?;
            self.maybe_optimize_in_background(&model_shard);
        }
        Ok(())
    }

    fn search(
        &self,
        query: &[f32],
        filter: &VoiceprintFilter,
        limit: usize,
    ) -> Result<Vec<VoiceprintHit>> {
        let Some(model_shard) = self.shard_of(&ModelKey::of_filter(filter))? else {
            return Ok(Vec::new());
        };
        check_vector(BACKEND, query, model_shard.dimension, "query vector")?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut request = QueryRequest::new(limit);
        request.query = Some(ScoringQuery::Vector(QueryEnum::Nearest(
            NamedQuery::default_dense(query.to_vec()),
        )));
        request.filter = Some(edge_filter(filter)?);
        request.with_payload = WithPayloadInterface::Bool(true);
        request.with_vector = WithVector::Bool(true);
        if let Some(ef) = self.config.hnsw_ef_search {
            request.params = Some(SearchParams {
                hnsw_ef: Some(ef.max(limit)),
                ..SearchParams::default()
            });
        }
        let scored = model_shard
            .shard
            .query(request)
            .map_err(|error| index_error(BACKEND, format!("search: {error}")))?;
        scored
            .into_iter()
            .map(|point| {
                let voiceprint = voiceprint_of(
                    point.id,
                    point.payload.map(|payload| payload.0),
                    point.vector,
                )?;
                Ok(VoiceprintHit {
                    voiceprint,
                    cosine: point.score,
                })
            })
            .collect()
    }

    fn list(&self, filter: &VoiceprintFilter) -> Result<Vec<Voiceprint>> {
        let Some(model_shard) = self.shard_of(&ModelKey::of_filter(filter))? else {
            return Ok(Vec::new());
        };
        let edge_filter = edge_filter(filter)?;
        let mut voiceprints = Vec::new();
        let mut offset = None;
        loop {
            let mut request = ScrollRequest::new();
            request.offset = offset;
            request.limit = Some(SCROLL_PAGE);
            request.filter = Some(edge_filter.clone());
            request.with_payload = Some(WithPayloadInterface::Bool(true));
            request.with_vector = WithVector::Bool(true);
            let (records, next) = model_shard
                .shard
                .scroll(request)
                .map_err(|error| index_error(BACKEND, format!("list: {error}")))?;
            for record in records {
                voiceprints.push(voiceprint_of(
                    record.id,
                    record.payload.map(|payload| payload.0),
                    record.vector,
                )?);
            }
            match next {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(voiceprints)
    }

    fn delete_speaker(&self, tenant: &str, speaker_id: &str) -> Result<usize> {
        let _write = self
            .write_lock
            .lock()
            .map_err(|_| index_error(BACKEND, "write lock poisoned"))?;
        let filter = Filter {
            must: Some(vec![
                keyword_condition(field::TENANT, tenant)?,
                keyword_condition(field::SPEAKER_ID, speaker_id)?,
            ]),
            ..Filter::default()
        };
        let mut removed = 0;
        for model_shard in self.all_shards()? {
            let mut count = CountRequest::new();
            count.filter = Some(filter.clone());
            count.exact = true;
            let matching = model_shard
                .shard
                .count(count)
                .map_err(|error| index_error(BACKEND, format!("count: {error}")))?;
            if matching > 0 {
                apply(
                    &model_shard,
                    UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(
                        filter.clone(),
                    )),
                )?;
                removed += matching;
            }
        }
        Ok(removed)
    }

    fn backend_name(&self) -> &str {
        BACKEND
    }

    fn for_each_page(&self, visit: &mut dyn FnMut(Vec<Voiceprint>) -> Result<()>) -> Result<()> {
        for model_shard in self.all_shards()? {
            let mut offset = None;
            loop {
                let mut request = ScrollRequest::new();
                request.offset = offset;
                request.limit = Some(SCROLL_PAGE);
                request.with_payload = Some(WithPayloadInterface::Bool(true));
                request.with_vector = WithVector::Bool(true);
                let (records, next) = model_shard
                    .shard
                    .scroll(request)
                    .map_err(|error| index_error(BACKEND, format!("scroll: {error}")))?;
                let page = records
                    .into_iter()
                    .map(|record| {
                        voiceprint_of(
                            record.id,
                            record.payload.map(|payload| payload.0),
                            record.vector,
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                if !page.is_empty() {
                    visit(page)?;
                }
                match next {
                    Some(next) => offset = Some(next),
                    None => break,
                }
            }
        }
        Ok(())
    }
}

fn apply(model_shard: &ModelShard, operation: UpdateOperation) -> Result<()> {
    model_shard
        .shard
        .update(operation)
        .map_err(|error| index_error(BACKEND, format!("update: {error}")))
}

fn json_path(key: &str) -> Result<JsonPath> {
    key.parse()
        .map_err(|()| index_error(BACKEND, format!("invalid payload key {key}")))
}

fn keyword_condition(key: &str, value: &str) -> Result<Condition> {
    Ok(Condition::Field(FieldCondition::new_match(
        json_path(key)?,
        Match::new_value(ValueVariants::String(value.to_string())),
    )))
}

fn edge_filter(filter: &VoiceprintFilter) -> Result<Filter> {
    let must = filter_equalities(filter)
        .into_iter()
        .map(|(key, value)| keyword_condition(key, &value))
        .collect::<Result<Vec<_>>>()?;
    Ok(Filter {
        must: Some(must),
        ..Filter::default()
    })
}

fn voiceprint_of(
    id: PointId,
    payload: Option<serde_json::Map<String, serde_json::Value>>,
    vector: Option<VectorStructInternal>,
) -> Result<Voiceprint> {
    let point = id.to_string();
    let payload = payload
        .ok_or_else(|| index_error(BACKEND, format!("stored point {point} has no payload")))?;
    let vector = match vector {
        Some(VectorStructInternal::Single(dense)) => dense,
        Some(VectorStructInternal::Named(mut named)) => match named.remove(DEFAULT_VECTOR_NAME) {
            Some(VectorInternal::Dense(dense)) => dense,
            _ => {
                return Err(index_error(
                    BACKEND,
                    format!("stored point {point} has no dense vector"),
                ));
            }
        },
        _ => {
            return Err(index_error(
                BACKEND,
                format!("stored point {point} has no dense vector"),
            ));
        }
    };
    super::voiceprint_from_payload(BACKEND, &point, &payload, vector)
}

fn edge_config(dimension: usize, config: &EdgeIndexConfig) -> EdgeConfig {
    let hnsw = HnswIndexConfig {
        m: config.hnsw_m,
        ef_construct: config.hnsw_ef_construct,
        full_scan_threshold: config.full_scan_threshold_kb,
        ..HnswIndexConfig::default()
    };
    let optimizers = EdgeOptimizersConfig {
        indexing_threshold: Some(config.indexing_threshold_kb),
        ..EdgeOptimizersConfig::default()
    };
    EdgeConfig::builder()
        .vector(
            DEFAULT_VECTOR_NAME,
            EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build(),
        )
        .hnsw_config(hnsw)
        .optimizers(optimizers)
        .build()
}

/// Loads the shard in `shard_dir`, or creates it with its payload indexes.
fn open_shard(shard_dir: &Path, dimension: usize, config: &EdgeIndexConfig) -> Result<EdgeShard> {
    let edge_config = edge_config(dimension, config);
    if shard_dir.join("edge_config.json").is_file() {
        return EdgeShard::load(shard_dir, Some(edge_config)).map_err(|error| {
            index_error(
                BACKEND,
                format!("loading shard {}: {error}", shard_dir.display()),
            )
        });
    }
    let shard = EdgeShard::new(shard_dir, edge_config).map_err(|error| {
        index_error(
            BACKEND,
            format!("creating shard {}: {error}", shard_dir.display()),
        )
    })?;
    // The tenant index makes Qdrant keep each tenant's points together and build per-tenant HNSW
    // links, so a tenant-filtered search never walks other tenants' points. The other keyword
    // indexes serve filters only; HNSW links for them would cost build time for nothing.
    let mut indexes = vec![(
        field::TENANT,
        KeywordIndexParamsBuilder::new().is_tenant(true).build(),
    )];
    for key in field::KEYWORD_INDEXED {
        indexes.push((
            key,
            KeywordIndexParamsBuilder::new().enable_hnsw(false).build(),
        ));
    }
    for (key, params) in indexes {
        shard
            .update(UpdateOperation::FieldIndexOperation(
                FieldIndexOperations::CreateIndex(qdrant_edge::CreateIndex {
                    field_name: json_path(key)?,
                    field_schema: Some(PayloadFieldSchema::FieldParams(
                        PayloadSchemaParams::Keyword(params),
                    )),
                }),
            ))
            .map_err(|error| {
                index_error(BACKEND, format!("creating payload index {key}: {error}"))
            })?;
    }
    Ok(shard)
}

fn read_meta(path: &Path) -> Result<ModelMeta> {
    let bytes = fs::read(path)
        .map_err(|error| index_error(BACKEND, format!("reading {}: {error}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|error| index_error(BACKEND, format!("parsing {}: {error}", path.display())))
}

fn write_meta(path: &Path, meta: &ModelMeta) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta)
        .map_err(|error| index_error(BACKEND, format!("encoding {}: {error}", path.display())))?;
    // Write then rename, so a crash never leaves a half-written file.
    let temporary = path.with_extension("json.tmp");
    fs::write(&temporary, json).map_err(|error| {
        index_error(BACKEND, format!("writing {}: {error}", temporary.display()))
    })?;
    fs::rename(&temporary, path)
        .map_err(|error| index_error(BACKEND, format!("writing {}: {error}", path.display())))
}
