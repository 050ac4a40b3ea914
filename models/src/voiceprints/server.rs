//! The scale-out voiceprint index: a Qdrant server over gRPC (`qdrant-client`).
//!
//! One collection per embedding model, named `<collection_prefix><model-slug>` (see
//! [`super::model_slug`]), created with its payload indexes on first use. The client is async
//! while [`VoiceprintIndex`] is sync, so the index owns a small tokio runtime and blocks on it:
//! **its methods must not be called from inside an async context** (tokio panics on a nested
//! `block_on`); the service calls them from `spawn_blocking`.

use std::collections::HashMap;
use std::sync::Mutex;

use callsight_pipeline::error::Result;
use callsight_pipeline::speaker::{Voiceprint, VoiceprintFilter, VoiceprintHit, VoiceprintIndex};
use qdrant_client::{Qdrant, QdrantError};
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vector_output::Vector as OutputVector;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, HnswConfigDiffBuilder,
    KeywordIndexParamsBuilder, PointId, PointStruct, PointsIdsList, Query, QueryPointsBuilder,
    ScrollPointsBuilder, SearchParamsBuilder, UpsertPointsBuilder, VectorParamsBuilder,
    VectorsOutput,
};

use super::{
    ModelKey, check_vector, field, filter_equalities, group_by_model, index_error, model_slug,
    payload_json,
};

const BACKEND: &str = "qdrant-server";
const SCROLL_PAGE: u32 = 1_000;
/// Points per upsert request; keeps gRPC messages well under the server's size limit.
const UPSERT_CHUNK: usize = 1_000;
const HNSW_EF_SEARCH: u64 = 512;

/// Voiceprints in a Qdrant server. Thread-safe; see the module docs about async contexts.
pub struct ServerVoiceprintIndex {
    runtime: tokio::runtime::Runtime,
    client: Qdrant,
    collection_prefix: String,
    /// Dimension of every collection of ours known to exist.
    known_collections: Mutex<HashMap<String, usize>>,
}

impl ServerVoiceprintIndex {
    /// Connects to the server's gRPC endpoint (e.g. `http://localhost:6334`) and checks that it
    /// answers. `collection_prefix` separates deployments sharing one server (e.g. `"callsight_"`).
    /// Must not be called from inside an async context.
    pub fn connect(url: &str, api_key: Option<String>, collection_prefix: &str) -> Result<Self> {
        // One worker thread: the index only ever waits on network calls, and it keeps tonic's
        // background connection tasks running between calls.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("voiceprint-qdrant")
            .enable_all()
            .build()
            .map_err(|error| {
                index_error(BACKEND, format!("starting the client runtime: {error}"))
            })?;
        let client = {
            let _entered = runtime.enter();
            Qdrant::from_url(url)
                .api_key(api_key)
                .skip_compatibility_check()
                .build()
                .map_err(|error| index_error(BACKEND, format!("connecting to {url}: {error}")))?
        };
        runtime.block_on(client.health_check()).map_err(|error| {
            index_error(BACKEND, format!("qdrant at {url} does not answer: {error}"))
        })?;
        Ok(ServerVoiceprintIndex {
            runtime,
            client,
            collection_prefix: collection_prefix.to_string(),
            known_collections: Mutex::new(HashMap::new()),
        })
    }

    /// Drops every collection of this prefix. For tests and tear-down only.
    pub fn delete_all_collections(&self) -> Result<()> {
        for name in self.our_collections()? {
            self.runtime
                .block_on(self.client.delete_collection(name.as_str()))
                .map_err(|error| {
                    index_error(BACKEND, format!("deleting collection {name}: {error}"))
                })?;
        }
        self.known_collections
            .lock()
            .map_err(|_| index_error(BACKEND, "collection cache lock poisoned"))?
            .clear();
        Ok(())
    }

    fn collection_name(&self, key: &ModelKey) -> String {
        format!(
            "{}{}",
            self.collection_prefix,
            model_slug(&key.model_name, &key.model_version)
        )
    }

    fn our_collections(&self) -> Result<Vec<String>> {
        let response = self
            .runtime
            .block_on(self.client.list_collections())
            .map_err(|error| index_error(BACKEND, format!("listing collections: {error}")))?;
        Ok(response
            .collections
            .into_iter()
            .map(|collection| collection.name)
            .filter(|name| name.starts_with(&self.collection_prefix))
            .collect())
    }

    fn cached_dimension(&self, name: &str) -> Result<Option<usize>> {
        Ok(self
            .known_collections
            .lock()
            .map_err(|_| index_error(BACKEND, "collection cache lock poisoned"))?
            .get(name)
            .copied())
    }

    fn remember(&self, name: &str, dimension: usize) -> Result<()> {
        self.known_collections
            .lock()
            .map_err(|_| index_error(BACKEND, "collection cache lock poisoned"))?
            .insert(name.to_string(), dimension);
        Ok(())
    }

    /// The dimension of collection `name`, or `None` if it does not exist.
    fn existing_dimension(&self, name: &str) -> Result<Option<usize>> {
        if let Some(dimension) = self.cached_dimension(name)? {
            return Ok(Some(dimension));
        }
        let exists = self
            .runtime
            .block_on(self.client.collection_exists(name))
            .map_err(|error| {
                index_error(BACKEND, format!("checking collection {name}: {error}"))
            })?;
        if !exists {
            return Ok(None);
        }
        let info = self
            .runtime
            .block_on(self.client.collection_info(name))
            .map_err(|error| index_error(BACKEND, format!("reading collection {name}: {error}")))?;
        let indexed_fields: Vec<String> = info
            .result
            .as_ref()
            .map(|info| info.payload_schema.keys().cloned().collect())
            .unwrap_or_default();
        let dimension = info
            .result
            .and_then(|info| info.config)
            .and_then(|config| config.params)
            .and_then(|params| params.vectors_config)
            .and_then(|vectors| vectors.config)
            .and_then(|config| match config {
                VectorsConfigKind::Params(params) => usize::try_from(params.size).ok(),
                VectorsConfigKind::ParamsMap(_) => None,
            })
            .ok_or_else(|| {
                index_error(
                    BACKEND,
                    format!("collection {name} has no single dense vector"),
                )
            })?;
        // A creator killed between creating the collection and its payload indexes (or one that
        // lost the creation race and read it too early) left it without them: create what is
        // missing, so tenant filtering never turns into a scan of every tenant.
        self.create_missing_payload_indexes(name, &indexed_fields)?;
        self.remember(name, dimension)?;
        Ok(Some(dimension))
    }

    /// Creates the tenant and keyword payload indexes of collection `name` that are not among
    /// `indexed_fields` (creating an index is idempotent on the server, so a race is harmless).
    fn create_missing_payload_indexes(&self, name: &str, indexed_fields: &[String]) -> Result<()> {
        let missing = |field: &str| !indexed_fields.iter().any(|indexed| indexed == field);
        let mut indexes = Vec::new();
        if missing(field::TENANT) {
            indexes.push(
                CreateFieldIndexCollectionBuilder::new(name, field::TENANT, FieldType::Keyword)
                    .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true)),
            );
        }
        for key in field::KEYWORD_INDEXED.into_iter().filter(|key| missing(key)) {
            indexes.push(
                CreateFieldIndexCollectionBuilder::new(name, key, FieldType::Keyword)
                    .field_index_params(KeywordIndexParamsBuilder::default().enable_hnsw(false)),
            );
        }
        for index in indexes {
            self.runtime
                .block_on(self.client.create_field_index(index.wait(true)))
                .map_err(|error| {
                    index_error(
                        BACKEND,
                        format!("creating payload index of {name}: {error}"),
                    )
                })?;
        }
        Ok(())
    }

    /// Forgets collection `name` after the server said it does not exist (dropped, or the
    /// server restarted on empty storage): the next write creates it again.
    fn forget(&self, name: &str) {
        if let Ok(mut known) = self.known_collections.lock() {
            known.remove(name);
        }
    }

    /// Creates collection `name` with its payload indexes unless it exists; returns its dimension.
    fn ensure_collection(&self, name: &str, dimension: usize) -> Result<usize> {
        if let Some(existing) = self.existing_dimension(name)? {
            return Ok(existing);
        }
        let created = self.runtime.block_on(
            self.client.create_collection(
                CreateCollectionBuilder::new(name)
                    .vectors_config(VectorParamsBuilder::new(dimension as u64, Distance::Cosine))
                    // payload_m: per-tenant HNSW links on the tenant index (below).
                    // Full-scan threshold as `EdgeIndexConfig::full_scan_threshold_kb`: tenant-sized
                    // filters are answered exactly.
                    .hnsw_config(
                        HnswConfigDiffBuilder::default()
                            .m(16)
                            .ef_construct(100)
                            .payload_m(16)
                            .full_scan_threshold(200_000),
                    ),
            ),
        );
        if let Err(error) = created {
            // Another process may have created it meanwhile.
            return match self.existing_dimension(name)? {
                Some(existing) => Ok(existing),
                None => Err(index_error(
                    BACKEND,
                    format!("creating collection {name}: {error}"),
                )),
            };
        }
        self.create_missing_payload_indexes(name, &[])?;
        self.remember(name, dimension)?;
        tracing::info!(
            collection = name,
            dimension,
            "created voiceprint collection"
        );
        Ok(dimension)
    }
}

impl VoiceprintIndex for ServerVoiceprintIndex {
    fn upsert(&self, voiceprints: &[Voiceprint]) -> Result<()> {
        let groups = group_by_model(BACKEND, voiceprints)?;
        // Check dimensions against existing collections before writing anything.
        let mut targets = Vec::with_capacity(groups.len());
        for (key, members) in &groups {
            let name = self.collection_name(key);
            let dimension = members
                .first()
                .map(|first| first.vector.len())
                .unwrap_or_default();
            if let Some(existing) = self.existing_dimension(&name)? {
                check_vector(
                    BACKEND,
                    &members[0].vector,
                    existing,
                    &format!(
                        "voiceprint {} of model {} {}",
                        members[0].id, key.model_name, key.model_version
                    ),
                )?;
            }
            targets.push((name, members, dimension));
        }
        let all_collections = self.our_collections()?;
        for (name, members, dimension) in targets {
            self.ensure_collection(&name, dimension)?;
            let ids: Vec<PointId> = members
                .iter()
                .map(|voiceprint| {
                    super::point_uuid(BACKEND, &voiceprint.id)
                        .map(|id| PointId::from(id.to_string()))
                })
                .collect::<Result<_>>()?;
            // Upsert replaces by id across models too: drop these ids from every other collection.
            for other in all_collections.iter().filter(|other| **other != name) {
                self.runtime
                    .block_on(
                        self.client.delete_points(
                            DeletePointsBuilder::new(other.as_str())
                                .points(PointsIdsList { ids: ids.clone() })
                                .wait(true),
                        ),
                    )
                    .or_else(|error| {
                        // Dropped meanwhile: nothing of ours left in it to replace.
                        if is_not_found(&error) {
                            Ok(Default::default())
                        } else {
                            Err(index_error(BACKEND, format!("replacing ids in {other}: {error}")))
                        }
                    })?;
            }
            let mut points = Vec::with_capacity(members.len());
            for (voiceprint, id) in members.iter().zip(&ids) {
                let payload = qdrant_client::Payload::from(payload_json(voiceprint));
                points.push(PointStruct::new(
                    id.clone(),
                    voiceprint.vector.clone(),
                    payload,
                ));
            }
            for chunk in points.chunks(UPSERT_CHUNK) {
                let upsert = || {
                    self.runtime.block_on(self.client.upsert_points(
                        UpsertPointsBuilder::new(name.as_str(), chunk.to_vec()).wait(true),
                    ))
                };
                let upserted = match upsert() {
                    // The collection this process knew is gone (dropped, or the server restarted
                    // on empty storage): create it again, once.
                    Err(error) if is_not_found(&error) => {
                        self.forget(&name);
                        self.ensure_collection(&name, dimension)?;
                        upsert()
                    }
                    other => other,
                };
                upserted.map_err(|error| {
                    index_error(BACKEND, format!("upserting into {name}: {error}"))
                })?;
            }
        }
        Ok(())
    }

    fn search(
        &self,
        query: &[f32],
        filter: &VoiceprintFilter,
        limit: usize,
    ) -> Result<Vec<VoiceprintHit>> {
        let name = self.collection_name(&ModelKey::of_filter(filter));
        let Some(dimension) = self.existing_dimension(&name)? else {
            return Ok(Vec::new());
        };
        check_vector(BACKEND, query, dimension, "query vector")?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let request = QueryPointsBuilder::new(name.as_str())
            .query(Query::new_nearest(query.to_vec()))
            .filter(server_filter(filter))
            .limit(limit as u64)
            // Same beam as the edge default; see `EdgeIndexConfig::hnsw_ef_search`.
            .params(SearchParamsBuilder::default().hnsw_ef((limit as u64).max(HNSW_EF_SEARCH)))
            .with_payload(true)
            .with_vectors(true);
        let response = match self.runtime.block_on(self.client.query(request)) {
            Ok(response) => response,
            // Gone since this process saw it: nothing to find, as with no collection at all.
            Err(error) if is_not_found(&error) => {
                self.forget(&name);
                return Ok(Vec::new());
            }
            Err(error) => return Err(index_error(BACKEND, format!("searching {name}: {error}"))),
        };
        response
            .result
            .into_iter()
            .map(|point| {
                let voiceprint = voiceprint_of(point.id, &point.payload, point.vectors)?;
                Ok(VoiceprintHit {
                    voiceprint,
                    cosine: point.score,
                })
            })
            .collect()
    }

    fn list(&self, filter: &VoiceprintFilter) -> Result<Vec<Voiceprint>> {
        let name = self.collection_name(&ModelKey::of_filter(filter));
        if self.existing_dimension(&name)?.is_none() {
            return Ok(Vec::new());
        }
        let mut voiceprints = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(name.as_str())
                .filter(server_filter(filter))
                .limit(SCROLL_PAGE)
                .with_payload(true)
                .with_vectors(true);
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let response = match self.runtime.block_on(self.client.scroll(request)) {
                Ok(response) => response,
                Err(error) if is_not_found(&error) => {
                    self.forget(&name);
                    return Ok(Vec::new());
                }
                Err(error) => return Err(index_error(BACKEND, format!("listing {name}: {error}"))),
            };
            for point in response.result {
                voiceprints.push(voiceprint_of(point.id, &point.payload, point.vectors)?);
            }
            match response.next_page_offset {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(voiceprints)
    }

    fn delete_speaker(&self, tenant: &str, speaker_id: &str) -> Result<usize> {
        let filter = Filter::must([
            Condition::matches(field::TENANT, tenant.to_string()),
            Condition::matches(field::SPEAKER_ID, speaker_id.to_string()),
        ]);
        let mut removed = 0usize;
        for name in self.our_collections()? {
            let counted = match self.runtime.block_on(
                self.client.count(
                    CountPointsBuilder::new(name.as_str())
                        .filter(filter.clone())
                        .exact(true),
                ),
            ) {
                Ok(counted) => counted,
                // Dropped since it was listed: nothing of the speaker's left in it.
                Err(error) if is_not_found(&error) => continue,
                Err(error) => {
                    return Err(index_error(BACKEND, format!("counting in {name}: {error}")));
                }
            };
            let matching = counted
                .result
                .map(|result| result.count)
                .unwrap_or_default();
            if matching == 0 {
                continue;
            }
            self.runtime
                .block_on(
                    self.client.delete_points(
                        DeletePointsBuilder::new(name.as_str())
                            .points(filter.clone())
                            .wait(true),
                    ),
                )
                .map_err(|error| index_error(BACKEND, format!("deleting from {name}: {error}")))?;
            removed += usize::try_from(matching).unwrap_or(usize::MAX);
        }
        Ok(removed)
    }

    fn backend_name(&self) -> &str {
        BACKEND
    }
}

/// gRPC status code NOT_FOUND (grpc/doc/statuscodes.md): e.g. no such collection.
const GRPC_NOT_FOUND: i32 = 5;

/// The server answered that the collection (or point) does not exist.
fn is_not_found(error: &QdrantError) -> bool {
    matches!(error, QdrantError::ResponseError { status } if i32::from(status.code()) == GRPC_NOT_FOUND)
}

fn server_filter(filter: &VoiceprintFilter) -> Filter {
    Filter::must(
        filter_equalities(filter)
            .into_iter()
            .map(|(key, value)| Condition::matches(key, value)),
    )
}

fn point_label(id: &Option<PointId>) -> String {
    match id.as_ref().and_then(|id| id.point_id_options.as_ref()) {
        Some(PointIdOptions::Uuid(uuid)) => uuid.clone(),
        Some(PointIdOptions::Num(number)) => number.to_string(),
        None => "<no id>".to_string(),
    }
}

fn voiceprint_of(
    id: Option<PointId>,
    payload: &HashMap<String, qdrant_client::qdrant::Value>,
    vectors: Option<VectorsOutput>,
) -> Result<Voiceprint> {
    let point = point_label(&id);
    let payload = match serde_json::to_value(payload) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) | Err(_) => {
            return Err(index_error(
                BACKEND,
                format!("stored point {point} has an unreadable payload"),
            ));
        }
    };
    let vector = match vectors.as_ref().and_then(VectorsOutput::get_vector) {
        Some(OutputVector::Dense(dense)) => dense.data,
        _ => {
            return Err(index_error(
                BACKEND,
                format!("stored point {point} has no dense vector"),
            ));
        }
    };
    super::voiceprint_from_payload(BACKEND, &point, &payload, vector)
}
