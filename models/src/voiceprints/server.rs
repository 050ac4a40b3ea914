//! The scale-out voiceprint index: a Qdrant server over gRPC (`qdrant-client`).
//!
//! One collection per embedding model, named `<collection_prefix>_<model-slug>` (see
//! [`super::model_slug`]; a collection made by an older build without the `_` is still found and
//! used), created with its payload indexes on first use. The client is async while
//! [`VoiceprintIndex`] is sync: the index owns a small tokio runtime of its own, **spawns** each
//! request onto it and waits for the answer on a plain channel. It never calls `block_on`, so it
//! can be built, called and dropped from any thread, inside another runtime too (that thread
//! waits, so async callers still use `spawn_blocking` for anything but start-up).
//!
//! A server that cannot be reached (connection refused, timeout, unavailable) is reported as
//! [`PipelineError::IndexUnavailable`], which callers treat as an outage to wait out (readiness
//! fails, jobs are put back), not as a failed operation.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use callsight_pipeline::PipelineError;
use callsight_pipeline::error::Result;
use callsight_pipeline::speaker::{Voiceprint, VoiceprintFilter, VoiceprintHit, VoiceprintIndex};
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
use qdrant_client::{Qdrant, QdrantError};

use super::{
    ModelKey, check_vector, field, filter_equalities, group_by_model, index_error, model_slug,
    payload_json,
};

const BACKEND: &str = "qdrant-server";
const SCROLL_PAGE: u32 = 1_000;
/// Points per upsert request; keeps gRPC messages well under the server's size limit.
const UPSERT_CHUNK: usize = 1_000;
const HNSW_EF_SEARCH: u64 = 512;
/// Between the deployment prefix and the model slug in a collection name.
const PREFIX_SEPARATOR: char = '_';
/// How long one request may take before the server counts as unreachable. A connect attempt to
/// an address that drops packets would otherwise wait for the kernel's TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// gRPC status codes (grpc/doc/statuscodes.md) that mean "the server is not there right now".
const GRPC_CANCELLED: i32 = 1;
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_UNAVAILABLE: i32 = 14;

/// Voiceprints in a Qdrant server. Thread-safe; callable from any thread (see the module docs).
pub struct ServerVoiceprintIndex {
    /// `Some` until dropped; taken in `Drop` to shut it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    client: Qdrant,
    url: String,
    collection_prefix: String,
    /// Dimension of every collection of ours known to exist.
    known_collections: Mutex<HashMap<String, usize>>,
}

impl ServerVoiceprintIndex {
    /// Connects to the server's gRPC endpoint (e.g. `http://localhost:6334`) and checks that it
    /// answers; an unreachable server is [`PipelineError::IndexUnavailable`] naming the URL.
    /// `collection_prefix` separates deployments sharing one server (e.g. `"callsight"`).
    pub fn connect(url: &str, api_key: Option<String>, collection_prefix: &str) -> Result<Self> {
        let index = Self::connect_lazily(url, api_key, collection_prefix)?;
        index.check_reachable()?;
        Ok(index)
    }

    /// Like [`connect`](Self::connect) without the first health check: the server may come up
    /// later, and every call until then fails with [`PipelineError::IndexUnavailable`].
    pub fn connect_lazily(
        url: &str,
        api_key: Option<String>,
        collection_prefix: &str,
    ) -> Result<Self> {
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
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(REQUEST_TIMEOUT)
                .skip_compatibility_check()
                .build()
                .map_err(|error| index_error(BACKEND, format!("connecting to {url}: {error}")))?
        };
        Ok(ServerVoiceprintIndex {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            client,
            url: url.to_string(),
            collection_prefix: collection_prefix.to_string(),
            known_collections: Mutex::new(HashMap::new()),
        })
    }

    /// Runs one client request on the index's runtime and waits for it on this thread. Spawning
    /// (instead of `block_on`) is what makes this safe on a thread that is inside a runtime.
    fn call<T, Fut>(
        &self,
        context: impl FnOnce() -> String,
        request: impl FnOnce(Qdrant) -> Fut,
    ) -> Result<T>
    where
        T: Send + 'static,
        Fut: Future<Output = std::result::Result<T, QdrantError>> + Send + 'static,
    {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let future = request(self.client.clone());
        self.handle.spawn(async move {
            // The receiver only goes away if the caller stopped waiting; nothing to do then.
            let _ = sender.send(future.await);
        });
        match receiver.recv() {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(self.classify(context(), &error)),
            Err(_) => Err(index_error(
                BACKEND,
                format!("{}: the client runtime has shut down", context()),
            )),
        }
    }

    /// Like [`Self::call`], but hands back what the server answered, its error included, so the
    /// caller can act on "not found"; only an unreachable server is an error here.
    fn call_answer<T, Fut>(
        &self,
        context: impl FnOnce() -> String,
        request: impl FnOnce(Qdrant) -> Fut,
    ) -> Result<std::result::Result<T, QdrantError>>
    where
        T: Send + 'static,
        Fut: Future<Output = std::result::Result<T, QdrantError>> + Send + 'static,
    {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let future = request(self.client.clone());
        self.handle.spawn(async move {
            // The receiver only goes away if the caller stopped waiting; nothing to do then.
            let _ = sender.send(future.await);
        });
        match receiver.recv() {
            Ok(Err(error)) if is_unreachable(&error) => Err(self.classify(context(), &error)),
            Ok(answer) => Ok(answer),
            Err(_) => Err(index_error(
                BACKEND,
                format!("{}: the client runtime has shut down", context()),
            )),
        }
    }

    /// An unreachable server is an outage ([`PipelineError::IndexUnavailable`]); anything else
    /// the server said is a failed operation.
    fn classify(&self, context: String, error: &QdrantError) -> PipelineError {
        if is_unreachable(error) {
            PipelineError::IndexUnavailable {
                backend: BACKEND,
                reason: format!(
                    "qdrant at {} does not answer ({context}): {error}",
                    self.url
                ),
            }
        } else {
            index_error(BACKEND, format!("{context}: {error}"))
        }
    }

    /// The gRPC URL this index talks to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops every collection of this prefix. For tests and tear-down only.
    pub fn delete_all_collections(&self) -> Result<()> {
        for name in self.our_collections()? {
            let target = name.clone();
            self.call(
                || format!("deleting collection {name}"),
                move |client| async move { client.delete_collection(target).await },
            )?;
        }
        self.known_collections
            .lock()
            .map_err(|_| index_error(BACKEND, "collection cache lock poisoned"))?
            .clear();
        Ok(())
    }

    /// The collection of one model: `<prefix>_<slug>`, or the `<prefix><slug>` an older build
    /// created (no separator) when only that one exists, so existing voiceprints stay found.
    fn collection_name(&self, key: &ModelKey) -> Result<String> {
        let slug = model_slug(&key.model_name, &key.model_version);
        let current = collection_name_of(&self.collection_prefix, &slug);
        if self.collection_prefix.is_empty()
            || current == format!("{}{slug}", self.collection_prefix)
        {
            return Ok(current);
        }
        let legacy = format!("{}{slug}", self.collection_prefix);
        if self.cached_dimension(&current)?.is_some() {
            return Ok(current);
        }
        if self.cached_dimension(&legacy)?.is_some() {
            return Ok(legacy);
        }
        let names = self.our_collections()?;
        if !names.contains(&current) && names.contains(&legacy) {
            tracing::info!(
                collection = legacy,
                "using a voiceprint collection named without the prefix separator (made by an older build)"
            );
            return Ok(legacy);
        }
        Ok(current)
    }

    fn our_collections(&self) -> Result<Vec<String>> {
        let response = self.call(
            || "listing collections".to_string(),
            |client| async move { client.list_collections().await },
        )?;
        Ok(response
            .collections
            .into_iter()
            .map(|collection| collection.name)
            .filter(|name| is_our_collection(&self.collection_prefix, name))
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
        let target = name.to_string();
        let exists = self.call(
            || format!("checking collection {name}"),
            move |client| async move { client.collection_exists(target).await },
        )?;
        if !exists {
            return Ok(None);
        }
        let target = name.to_string();
        let info = self.call(
            || format!("reading collection {name}"),
            move |client| async move { client.collection_info(target).await },
        )?;
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
            let request = index.wait(true);
            self.call(
                || format!("creating payload index of {name}"),
                move |client| async move { client.create_field_index(request).await },
            )?;
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
        let request = CreateCollectionBuilder::new(name)
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
            );
        let created = self.call(
            || format!("creating collection {name}"),
            move |client| async move { client.create_collection(request).await },
        );
        if let Err(error) = created {
            if matches!(error, PipelineError::IndexUnavailable { .. }) {
                return Err(error);
            }
            // Another process may have created it meanwhile.
            return match self.existing_dimension(name)? {
                Some(existing) => Ok(existing),
                None => Err(error),
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
            let name = self.collection_name(key)?;
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
                let request = DeletePointsBuilder::new(other.as_str())
                    .points(PointsIdsList { ids: ids.clone() })
                    .wait(true);
                let answer = self.call_answer(
                    || format!("replacing ids in {other}"),
                    move |client| async move { client.delete_points(request).await },
                )?;
                match answer {
                    // Dropped meanwhile: nothing of ours left in it to replace.
                    Err(error) if !is_not_found(&error) => {
                        return Err(self.classify(format!("replacing ids in {other}"), &error));
                    }
                    _ => {}
                }
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
                    let request = UpsertPointsBuilder::new(name.as_str(), chunk.to_vec()).wait(true);
                    self.call_answer(
                        || format!("upserting into {name}"),
                        move |client| async move { client.upsert_points(request).await },
                    )
                };
                let upserted = match upsert()? {
                    // The collection this process knew is gone (dropped, or the server restarted
                    // on empty storage): create it again, once.
                    Err(error) if is_not_found(&error) => {
                        self.forget(&name);
                        self.ensure_collection(&name, dimension)?;
                        upsert()?
                    }
                    other => other,
                };
                upserted.map_err(|error| self.classify(format!("upserting into {name}"), &error))?;
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
        let name = self.collection_name(&ModelKey::of_filter(filter))?;
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
        let answer = self.call_answer(
            || format!("searching {name}"),
            move |client| async move { client.query(request).await },
        )?;
        let response = match answer {
            Ok(response) => response,
            // Gone since this process saw it: nothing to find, as with no collection at all.
            Err(error) if is_not_found(&error) => {
                self.forget(&name);
                return Ok(Vec::new());
            }
            Err(error) => return Err(self.classify(format!("searching {name}"), &error)),
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
        let name = self.collection_name(&ModelKey::of_filter(filter))?;
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
            let answer = self.call_answer(
                || format!("listing {name}"),
                move |client| async move { client.scroll(request).await },
            )?;
            let response = match answer {
                Ok(response) => response,
                Err(error) if is_not_found(&error) => {
                    self.forget(&name);
                    return Ok(Vec::new());
                }
                Err(error) => return Err(self.classify(format!("listing {name}"), &error)),
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
            let request = CountPointsBuilder::new(name.as_str())
                .filter(filter.clone())
                .exact(true);
            let answer = self.call_answer(
                || format!("counting in {name}"),
                move |client| async move { client.count(request).await },
            )?;
            let counted = match answer {
                Ok(counted) => counted,
                // Dropped since it was listed: nothing of the speaker's left in it.
                Err(error) if is_not_found(&error) => continue,
                Err(error) => return Err(self.classify(format!("counting in {name}"), &error)),
            };
            let matching = counted
                .result
                .map(|result| result.count)
                .unwrap_or_default();
            if matching == 0 {
                continue;
            }
            let request = DeletePointsBuilder::new(name.as_str())
                .points(filter.clone())
                .wait(true);
            self.call(
                || format!("deleting from {name}"),
                move |client| async move { client.delete_points(request).await },
            )?;
            removed += usize::try_from(matching).unwrap_or(usize::MAX);
        }
        Ok(removed)
    }

    fn backend_name(&self) -> &str {
        BACKEND
    }

    fn for_each_page(&self, visit: &mut dyn FnMut(Vec<Voiceprint>) -> Result<()>) -> Result<()> {
        for name in self.our_collections()? {
            let mut offset: Option<PointId> = None;
            loop {
                let mut request = ScrollPointsBuilder::new(name.as_str())
                    .limit(SCROLL_PAGE)
                    .with_payload(true)
                    .with_vectors(true);
                if let Some(offset) = offset.take() {
                    request = request.offset(offset);
                }
                let response = self.call(
                    || format!("listing {name}"),
                    move |client| async move { client.scroll(request).await },
                )?;
                let page = response
                    .result
                    .into_iter()
                    .map(|point| voiceprint_of(point.id, &point.payload, point.vectors))
                    .collect::<Result<Vec<_>>>()?;
                if !page.is_empty() {
                    visit(page)?;
                }
                match response.next_page_offset {
                    Some(next) => offset = Some(next),
                    None => break,
                }
            }
        }
        Ok(())
    }

    fn check_reachable(&self) -> Result<()> {
        self.call(
            || "health check".to_string(),
            |client| async move { client.health_check().await },
        )
        .map(|_| ())
    }
}

impl Drop for ServerVoiceprintIndex {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which tokio forbids inside another
        // runtime; shutting it down in the background never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Connection refused, timed out or cancelled: the server is not there (an outage), as opposed to
/// an answer that the operation failed.
fn is_unreachable(error: &QdrantError) -> bool {
    match error {
        QdrantError::ResponseError { status } => {
            let code = i32::from(status.code());
            matches!(code, GRPC_UNAVAILABLE | GRPC_DEADLINE_EXCEEDED | GRPC_CANCELLED)
                // qdrant-client reports a refused or failed connection as INTERNAL
                // "Failed to connect to <url>: tonic::transport::Error(...)".
                || (code == GRPC_INTERNAL && status.message().starts_with("Failed to connect"))
        }
        QdrantError::Io(_) => true,
        _ => false,
    }
}

/// gRPC status code NOT_FOUND (grpc/doc/statuscodes.md): e.g. no such collection.
const GRPC_NOT_FOUND: i32 = 5;
/// gRPC status code INTERNAL (grpc/doc/statuscodes.md).
const GRPC_INTERNAL: i32 = 13;

/// The server answered that the collection (or point) does not exist.
fn is_not_found(error: &QdrantError) -> bool {
    matches!(error, QdrantError::ResponseError { status } if i32::from(status.code()) == GRPC_NOT_FOUND)
}

/// `<prefix>_<slug>` (no separator added when the prefix is empty or already ends in `_`/`-`).
pub(crate) fn collection_name_of(prefix: &str, slug: &str) -> String {
    if prefix.is_empty() || prefix.ends_with(PREFIX_SEPARATOR) || prefix.ends_with('-') {
        format!("{prefix}{slug}")
    } else {
        format!("{prefix}{PREFIX_SEPARATOR}{slug}")
    }
}

/// Whether collection `name` belongs to a deployment with `prefix`: `<prefix>_<slug>`, or an
/// older build's `<prefix><slug>`; the remainder must look like a model slug (`name-version-hash`
/// with a 12-digit hex hash). Slugs may contain `_`, so deployments sharing one server need
/// prefixes that do not start with one another (`callsight_eu` beside `callsight` is ambiguous).
pub(crate) fn is_our_collection(prefix: &str, name: &str) -> bool {
    let current_prefix = collection_name_of(prefix, "");
    if let Some(rest) = name.strip_prefix(&current_prefix) {
        return looks_like_slug(rest);
    }
    name.strip_prefix(prefix).is_some_and(looks_like_slug)
}

fn looks_like_slug(text: &str) -> bool {
    let mut parts = text.rsplitn(3, '-');
    let hash = parts.next().unwrap_or_default();
    let version = parts.next();
    let model = parts.next();
    hash.len() == 12
        && hash.chars().all(|c| c.is_ascii_hexdigit())
        && version.is_some()
        && model.is_some_and(|model| !model.is_empty())
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

#[cfg(test)]
mod tests {
    use super::{collection_name_of, is_our_collection};
    use crate::voiceprints::model_slug;

    #[test]
    fn collection_names_separate_the_prefix_from_the_model() {
        let slug = model_slug("campplus", "1");
        assert_eq!(
            collection_name_of("callsight", &slug),
            format!("callsight_{slug}")
        );
        // A prefix that already ends in a separator, or none, gets no extra one.
        assert_eq!(
            collection_name_of("callsight_", &slug),
            format!("callsight_{slug}")
        );
        assert_eq!(collection_name_of("", &slug), slug);
    }

    #[test]
    fn older_names_without_separator_still_belong_to_the_deployment() {
        let slug = model_slug("campplus", "1");
        assert!(is_our_collection("callsight", &format!("callsight_{slug}")));
        assert!(is_our_collection("callsight", &format!("callsight{slug}")));
        // Collections that are not model collections are not ours, whatever they start with.
        assert!(!is_our_collection("callsight", "callsight_notes"));
        assert!(!is_our_collection("callsight", "callsightnotes"));
        assert!(!is_our_collection("callsight", "other_collection"));
    }
}
