//! Conformance tests of the `VoiceprintIndex` backends. Every check runs against the embedded
//! qdrant-edge backend (in a temp dir) and, when `CALLSIGHT_TEST_QDRANT_URL` is set (e.g.
//! `http://localhost:6334`, the gRPC port; `CALLSIGHT_TEST_QDRANT_API_KEY` optional), against a
//! Qdrant server too.

use std::io::Write;
use std::path::Path;

use callsight_models::voiceprints::{EdgeIndexConfig, EdgeVoiceprintIndex, ServerVoiceprintIndex};
use callsight_pipeline::speaker::{Voiceprint, VoiceprintFilter, VoiceprintIndex, VoiceprintKind};

const DIMENSION: usize = 8;
const MODEL: &str = "campplus-test";

type Opener<'a> = dyn Fn() -> Box<dyn VoiceprintIndex> + 'a;

/// Runs `check` against each available backend; `check` gets a function that opens the backend's
/// index on the same storage every time it is called (so dropping and reopening tests persistence).
fn for_each_backend(check: fn(&Opener)) {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("voiceprints");
    let open_edge = || -> Box<dyn VoiceprintIndex> {
        Box::new(EdgeVoiceprintIndex::open(&dir).expect("open edge index"))
    };
    check(&open_edge);

    match std::env::var("CALLSIGHT_TEST_QDRANT_URL") {
        Ok(url) if !url.is_empty() => {
            let api_key = std::env::var("CALLSIGHT_TEST_QDRANT_API_KEY")
                .ok()
                .filter(|key| !key.is_empty());
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or_default();
            let prefix = format!("callsight_test_{}_{nanos}_", std::process::id());
            let connect = || {
                ServerVoiceprintIndex::connect(&url, api_key.clone(), &prefix)
                    .expect("connect to the qdrant server")
            };
            let open_server = || -> Box<dyn VoiceprintIndex> { Box::new(connect()) };
            check(&open_server);
            connect()
                .delete_all_collections()
                .expect("drop test collections");
        }
        // Written to stderr directly: libtest captures `println!` of passing tests, and the skip
        // must be visible.
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: set CALLSIGHT_TEST_QDRANT_URL to test the Qdrant server backend"
            );
        }
    }
}

fn unit(values: &[f32]) -> Vec<f32> {
    let mut vector = [0.0; DIMENSION];
    vector[..values.len()].copy_from_slice(values);
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    vector.iter().map(|value| value / norm).collect()
}

fn basis(axis: usize) -> Vec<f32> {
    let mut vector = vec![0.0; DIMENSION];
    vector[axis] = 1.0;
    vector
}

fn print(
    id_byte: u8,
    tenant: &str,
    speaker_id: &str,
    kind: VoiceprintKind,
    version: &str,
    vector: Vec<f32>,
) -> Voiceprint {
    Voiceprint {
        id: format!("00000000-0000-4000-8000-0000000000{id_byte:02x}"),
        tenant: tenant.to_string(),
        speaker_id: speaker_id.to_string(),
        kind,
        model_name: MODEL.to_string(),
        model_version: version.to_string(),
        enrolled_at_unix_secs: 1_700_000_000 + i64::from(id_byte),
        net_speech_secs: 12.5 + f64::from(id_byte),
        // Round-tripped like the other payload fields (empty for some, as on older points).
        source_call_ids: (0..id_byte % 3).map(|n| format!("call-{id_byte}-{n}")).collect(),
        vector,
    }
}

fn filter(tenant: &str, version: &str) -> VoiceprintFilter {
    VoiceprintFilter {
        tenant: tenant.to_string(),
        model_name: MODEL.to_string(),
        model_version: version.to_string(),
        kind: None,
        speaker_id: None,
    }
}

fn ids_of_hits(
    index: &dyn VoiceprintIndex,
    query: &[f32],
    filter: &VoiceprintFilter,
    limit: usize,
) -> Vec<String> {
    index
        .search(query, filter, limit)
        .expect("search")
        .into_iter()
        .map(|hit| hit.voiceprint.id)
        .collect()
}

fn sorted_ids(voiceprints: &[Voiceprint]) -> Vec<String> {
    let mut ids: Vec<String> = voiceprints
        .iter()
        .map(|voiceprint| voiceprint.id.clone())
        .collect();
    ids.sort();
    ids
}

fn assert_same_voiceprint(stored: &Voiceprint, expected: &Voiceprint) {
    let Voiceprint { vector, .. } = stored;
    assert_eq!(
        Voiceprint {
            vector: Vec::new(),
            ..stored.clone()
        },
        Voiceprint {
            vector: Vec::new(),
            ..expected.clone()
        }
    );
    assert_eq!(vector.len(), expected.vector.len());
    for (got, want) in vector.iter().zip(&expected.vector) {
        assert!(
            (got - want).abs() < 1e-5,
            "stored vector {vector:?} differs from {:?}",
            expected.vector
        );
    }
}

fn check_empty_index(open: &Opener) {
    let index = open();
    assert!(
        index
            .search(&basis(0), &filter("t1", "v1"), 5)
            .expect("search")
            .is_empty()
    );
    assert!(index.list(&filter("t1", "v1")).expect("list").is_empty());
    assert_eq!(index.delete_speaker("t1", "nobody").expect("delete"), 0);
    assert!(!index.backend_name().is_empty());
}

fn check_ranking_and_payload(open: &Opener) {
    let index = open();
    let exact = print(1, "t1", "alice", VoiceprintKind::Customer, "v1", basis(0));
    let near = print(
        2,
        "t1",
        "bob",
        VoiceprintKind::Customer,
        "v1",
        unit(&[1.0, 0.5]),
    );
    let far = print(3, "t1", "carol", VoiceprintKind::Agent, "v1", basis(1));
    index
        .upsert(&[far.clone(), exact.clone(), near.clone()])
        .expect("upsert");

    let hits = index
        .search(&basis(0), &filter("t1", "v1"), 3)
        .expect("search");
    let ids: Vec<&str> = hits.iter().map(|hit| hit.voiceprint.id.as_str()).collect();
    assert_eq!(ids, [exact.id.as_str(), near.id.as_str(), far.id.as_str()]);
    assert!((hits[0].cosine - 1.0).abs() < 1e-4, "{hits:?}");
    assert!(
        (hits[1].cosine - 1.0 / 1.25f32.sqrt()).abs() < 1e-4,
        "{hits:?}"
    );
    assert!(hits[2].cosine.abs() < 1e-4, "{hits:?}");
    assert_same_voiceprint(&hits[0].voiceprint, &exact);
    assert_same_voiceprint(&hits[1].voiceprint, &near);

    assert_eq!(
        ids_of_hits(&*index, &basis(0), &filter("t1", "v1"), 2),
        [exact.id.as_str(), near.id.as_str()]
    );
    assert!(
        index
            .search(&basis(0), &filter("t1", "v1"), 0)
            .expect("search")
            .is_empty()
    );
    let listed = index.list(&filter("t1", "v1")).expect("list");
    assert_eq!(sorted_ids(&listed), sorted_ids(&[exact, near, far]));
}

fn check_tenant_isolation(open: &Opener) {
    let index = open();
    let a = print(
        1,
        "tenant-a",
        "same-speaker",
        VoiceprintKind::Customer,
        "v1",
        basis(0),
    );
    let b = print(
        2,
        "tenant-b",
        "same-speaker",
        VoiceprintKind::Customer,
        "v1",
        basis(0),
    );
    index.upsert(&[a.clone(), b.clone()]).expect("upsert");
    assert_eq!(
        ids_of_hits(&*index, &basis(0), &filter("tenant-a", "v1"), 10),
        [a.id.as_str()]
    );
    assert_eq!(
        ids_of_hits(&*index, &basis(0), &filter("tenant-b", "v1"), 10),
        [b.id.as_str()]
    );
    assert!(ids_of_hits(&*index, &basis(0), &filter("tenant-c", "v1"), 10).is_empty());
    assert_eq!(
        sorted_ids(&index.list(&filter("tenant-b", "v1")).expect("list")),
        [b.id.as_str()]
    );
    // Deleting a speaker id in one tenant leaves the same id in another tenant alone.
    assert_eq!(
        index
            .delete_speaker("tenant-a", "same-speaker")
            .expect("delete"),
        1
    );
    assert_eq!(
        ids_of_hits(&*index, &basis(0), &filter("tenant-b", "v1"), 10),
        [b.id]
    );
}

fn check_model_version_isolation(open: &Opener) {
    let index = open();
    let old = print(1, "t1", "alice", VoiceprintKind::Customer, "v1", basis(0));
    let new = print(2, "t1", "alice", VoiceprintKind::Customer, "v2", basis(0));
    // Another model of another dimension lives alongside.
    let other_model = Voiceprint {
        id: "00000000-0000-4000-8000-0000000000ff".into(),
        model_name: "ecapa-test".into(),
        vector: vec![0.0, 1.0, 0.0],
        ..old.clone()
    };
    index
        .upsert(&[old.clone(), new.clone(), other_model.clone()])
        .expect("upsert");
    assert_eq!(
        ids_of_hits(&*index, &basis(0), &filter("t1", "v1"), 10),
        [old.id.as_str()]
    );
    assert_eq!(
        ids_of_hits(&*index, &basis(0), &filter("t1", "v2"), 10),
        [new.id.as_str()]
    );
    assert!(ids_of_hits(&*index, &basis(0), &filter("t1", "v3"), 10).is_empty());
    let other_filter = VoiceprintFilter {
        model_name: "ecapa-test".into(),
        ..filter("t1", "v1")
    };
    let hits = index
        .search(&[0.0, 1.0, 0.0], &other_filter, 10)
        .expect("search other model");
    assert_eq!(hits.len(), 1);
    assert_same_voiceprint(&hits[0].voiceprint, &other_model);
}

fn check_kind_and_speaker_filters(open: &Opener) {
    let index = open();
    let customer = print(1, "t1", "alice", VoiceprintKind::Customer, "v1", basis(0));
    let fraudster = print(
        2,
        "t1",
        "mallory",
        VoiceprintKind::Fraudster,
        "v1",
        unit(&[1.0, 1.0]),
    );
    let agent = print(
        3,
        "t1",
        "agent-7",
        VoiceprintKind::Agent,
        "v1",
        unit(&[1.0, 0.2]),
    );
    index
        .upsert(&[customer.clone(), fraudster.clone(), agent.clone()])
        .expect("upsert");
    let fraud_only = VoiceprintFilter {
        kind: Some(VoiceprintKind::Fraudster),
        ..filter("t1", "v1")
    };
    assert_eq!(
        ids_of_hits(&*index, &basis(0), &fraud_only, 10),
        [fraudster.id.as_str()]
    );
    let agents = VoiceprintFilter {
        kind: Some(VoiceprintKind::Agent),
        ..filter("t1", "v1")
    };
    assert_eq!(
        sorted_ids(&index.list(&agents).expect("list")),
        [agent.id.as_str()]
    );
    let alice = VoiceprintFilter {
        speaker_id: Some("alice".into()),
        ..filter("t1", "v1")
    };
    assert_eq!(
        ids_of_hits(&*index, &basis(1), &alice, 10),
        [customer.id.as_str()]
    );
    let alice_fraud = VoiceprintFilter {
        kind: Some(VoiceprintKind::Fraudster),
        ..alice
    };
    assert!(ids_of_hits(&*index, &basis(0), &alice_fraud, 10).is_empty());
}

fn check_upsert_replaces_by_id(open: &Opener) {
    let index = open();
    let first = print(1, "t1", "alice", VoiceprintKind::Customer, "v1", basis(0));
    index.upsert(std::slice::from_ref(&first)).expect("upsert");
    let replacement = Voiceprint {
        speaker_id: "alice-2".into(),
        net_speech_secs: 99.0,
        vector: basis(2),
        ..first.clone()
    };
    index
        .upsert(std::slice::from_ref(&replacement))
        .expect("upsert again");
    let listed = index.list(&filter("t1", "v1")).expect("list");
    assert_eq!(listed.len(), 1);
    assert_same_voiceprint(&listed[0], &replacement);
    let hits = index
        .search(&basis(2), &filter("t1", "v1"), 5)
        .expect("search");
    assert_eq!(hits.len(), 1);
    assert!((hits[0].cosine - 1.0).abs() < 1e-4);
    // The same id under another model version moves there: ids are unique index-wide.
    let moved = Voiceprint {
        model_version: "v2".into(),
        ..replacement.clone()
    };
    index
        .upsert(std::slice::from_ref(&moved))
        .expect("upsert into v2");
    assert!(index.list(&filter("t1", "v1")).expect("list v1").is_empty());
    assert_eq!(
        sorted_ids(&index.list(&filter("t1", "v2")).expect("list v2")),
        [moved.id]
    );
}

fn check_every_voiceprint_is_listed_page_by_page(open: &Opener) {
    let index = open();
    let mut stored = Vec::new();
    for id_byte in 0..12u8 {
        let tenant = if id_byte % 3 == 0 { "t1" } else { "t2" };
        let version = if id_byte % 2 == 0 { "v1" } else { "v2" };
        stored.push(print(
            id_byte,
            tenant,
            &format!("speaker-{id_byte}"),
            VoiceprintKind::Customer,
            version,
            basis(usize::from(id_byte) % DIMENSION),
        ));
    }
    index.upsert(&stored).expect("upsert");
    let mut seen = Vec::new();
    index
        .for_each_page(&mut |page| {
            seen.extend(page);
            Ok(())
        })
        .expect("list every voiceprint");
    assert_eq!(sorted_ids(&seen), sorted_ids(&stored));
    for expected in &stored {
        let found = seen
            .iter()
            .find(|voiceprint| voiceprint.id == expected.id)
            .expect("listed");
        assert_same_voiceprint(found, expected);
    }
}

fn check_delete_speaker(open: &Opener) {
    let index = open();
    let alice_1 = print(1, "t1", "alice", VoiceprintKind::Customer, "v1", basis(0));
    let alice_2 = print(2, "t1", "alice", VoiceprintKind::Customer, "v1", basis(1));
    let alice_v2 = print(3, "t1", "alice", VoiceprintKind::Fraudster, "v2", basis(0));
    let bob = print(4, "t1", "bob", VoiceprintKind::Customer, "v1", basis(0));
    let other_tenant_alice = print(5, "t2", "alice", VoiceprintKind::Customer, "v1", basis(0));
    index
        .upsert(&[
            alice_1,
            alice_2,
            alice_v2,
            bob.clone(),
            other_tenant_alice.clone(),
        ])
        .expect("upsert");
    assert_eq!(index.delete_speaker("t1", "alice").expect("delete"), 3);
    assert_eq!(
        sorted_ids(&index.list(&filter("t1", "v1")).expect("list")),
        [bob.id.as_str()]
    );
    assert!(index.list(&filter("t1", "v2")).expect("list").is_empty());
    assert_eq!(
        sorted_ids(&index.list(&filter("t2", "v1")).expect("list")),
        [other_tenant_alice.id]
    );
    assert_eq!(
        ids_of_hits(&*index, &basis(0), &filter("t1", "v1"), 10),
        [bob.id]
    );
    assert_eq!(
        index.delete_speaker("t1", "alice").expect("delete again"),
        0
    );
}

fn check_persistence_across_reopen(open: &Opener) {
    let first = print(1, "t1", "alice", VoiceprintKind::Customer, "v1", basis(0));
    let second = print(2, "t1", "bob", VoiceprintKind::Agent, "v2", basis(3));
    {
        let index = open();
        index
            .upsert(&[first.clone(), second.clone()])
            .expect("upsert");
    }
    let index = open();
    let listed = index.list(&filter("t1", "v1")).expect("list");
    assert_eq!(listed.len(), 1);
    assert_same_voiceprint(&listed[0], &first);
    assert_eq!(
        ids_of_hits(&*index, &basis(3), &filter("t1", "v2"), 5),
        [second.id.as_str()]
    );
    // Reopened shards take writes and keep their dimension.
    index
        .upsert(&[print(
            3,
            "t1",
            "carol",
            VoiceprintKind::Customer,
            "v1",
            basis(1),
        )])
        .expect("upsert after reopen");
    assert_eq!(index.list(&filter("t1", "v1")).expect("list").len(), 2);
    assert!(index.search(&[1.0, 0.0], &filter("t1", "v1"), 5).is_err());
}

fn check_bad_input_is_an_error(open: &Opener) {
    let index = open();
    index
        .upsert(&[print(
            1,
            "t1",
            "alice",
            VoiceprintKind::Customer,
            "v1",
            basis(0),
        )])
        .expect("upsert");
    // Query of the wrong dimension.
    assert!(
        index
            .search(&[1.0, 0.0, 0.0], &filter("t1", "v1"), 5)
            .is_err()
    );
    // Voiceprint of the wrong dimension for an existing model.
    let short = print(
        2,
        "t1",
        "bob",
        VoiceprintKind::Customer,
        "v1",
        vec![1.0, 0.0],
    );
    assert!(index.upsert(&[short]).is_err());
    // Mixed dimensions within one model in one batch.
    let mixed = [
        print(3, "t1", "bob", VoiceprintKind::Customer, "v9", basis(0)),
        print(
            4,
            "t1",
            "bob",
            VoiceprintKind::Customer,
            "v9",
            vec![1.0, 0.0],
        ),
    ];
    assert!(index.upsert(&mixed).is_err());
    // Ids must be UUIDs; vectors finite.
    let bad_id = Voiceprint {
        id: "not-a-uuid".into(),
        ..print(5, "t1", "bob", VoiceprintKind::Customer, "v1", basis(0))
    };
    assert!(index.upsert(&[bad_id]).is_err());
    let mut nan = basis(0);
    nan[1] = f32::NAN;
    assert!(
        index
            .upsert(&[print(
                6,
                "t1",
                "bob",
                VoiceprintKind::Customer,
                "v1",
                nan.clone()
            )])
            .is_err()
    );
    assert!(index.search(&nan, &filter("t1", "v1"), 5).is_err());
    // Nothing of the rejected batches was written.
    assert_eq!(index.list(&filter("t1", "v1")).expect("list").len(), 1);
    assert!(index.list(&filter("t1", "v9")).expect("list").is_empty());
}

#[test]
fn every_voiceprint_of_every_tenant_and_model_can_be_listed() {
    for_each_backend(check_every_voiceprint_is_listed_page_by_page);
}

/// A port nothing listens on (bound, then released): connections are refused at once.
fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    let port = listener.local_addr().expect("probe address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The service builds the index inside its async runtime and drops it there at shutdown; the
/// server backend must neither panic ("cannot start a runtime from within a runtime") nor hang
/// there, and an unreachable server is an outage naming the URL, not an ordinary failure.
#[test]
fn server_backend_is_usable_and_droppable_inside_an_async_runtime() {
    let url = unreachable_url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime");
    runtime.block_on(async {
        let error = match ServerVoiceprintIndex::connect(&url, None, "callsight") {
            Ok(_) => panic!("connecting to {url}, where nothing listens, succeeded"),
            Err(error) => error,
        };
        assert!(
            matches!(error, callsight_pipeline::PipelineError::IndexUnavailable { .. }),
            "expected IndexUnavailable, got {error:?}"
        );
        assert!(error.to_string().contains(&url), "{error} names {url}");

        let index = ServerVoiceprintIndex::connect_lazily(&url, None, "callsight")
            .expect("a lazy connection needs no server");
        let unreachable = index
            .check_reachable()
            .expect_err("nothing listens there");
        assert!(matches!(
            unreachable,
            callsight_pipeline::PipelineError::IndexUnavailable { .. }
        ));
        let searched = index.search(&basis(0), &filter("t1", "v1"), 3);
        assert!(
            matches!(
                searched,
                Err(callsight_pipeline::PipelineError::IndexUnavailable { .. })
            ),
            "search against a missing server: {searched:?}"
        );
        // Dropped on a runtime thread, as at the end of `serve`.
        drop(index);
    });
}

#[test]
fn empty_index_search_returns_nothing() {
    for_each_backend(check_empty_index);
}

#[test]
fn search_ranks_by_cosine_and_returns_payload() {
    for_each_backend(check_ranking_and_payload);
}

#[test]
fn tenants_never_see_each_other() {
    for_each_backend(check_tenant_isolation);
}

#[test]
fn model_versions_never_mix() {
    for_each_backend(check_model_version_isolation);
}

#[test]
fn kind_and_speaker_filters_apply() {
    for_each_backend(check_kind_and_speaker_filters);
}

#[test]
fn upsert_by_same_id_replaces() {
    for_each_backend(check_upsert_replaces_by_id);
}

#[test]
fn delete_speaker_removes_all_of_the_speaker_and_nothing_else() {
    for_each_backend(check_delete_speaker);
}

#[test]
fn voiceprints_persist_across_reopen() {
    for_each_backend(check_persistence_across_reopen);
}

#[test]
fn dimension_mismatch_and_bad_ids_are_errors() {
    for_each_backend(check_bad_input_is_an_error);
}

/// Past the indexing threshold the edge shard builds an HNSW index (with per-tenant links);
/// filtered search must still isolate tenants and find a planted near-duplicate.
#[test]
fn edge_hnsw_index_keeps_tenants_apart() {
    let temp = tempfile::tempdir().expect("temp dir");
    let config = EdgeIndexConfig {
        indexing_threshold_kb: 200,
        full_scan_threshold_kb: 50,
        optimize_in_background: false,
        ..EdgeIndexConfig::default()
    };
    let dimension = 32;
    let tenants = ["t0", "t1", "t2", "t3"];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64*: deterministic pseudo-random vectors without a dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut voiceprints = Vec::new();
    for point_idx in 0..8_000u32 {
        let raw: Vec<f32> = (0..dimension).map(|_| next()).collect();
        let norm = raw.iter().map(|value| value * value).sum::<f32>().sqrt();
        let tenant = tenants[point_idx as usize % tenants.len()];
        voiceprints.push(Voiceprint {
            id: format!("00000000-0000-4000-8000-{point_idx:012x}"),
            tenant: tenant.to_string(),
            speaker_id: format!("speaker-{point_idx}"),
            kind: VoiceprintKind::Customer,
            model_name: MODEL.into(),
            model_version: "v1".into(),
            enrolled_at_unix_secs: 0,
            net_speech_secs: 10.0,
            source_call_ids: Vec::new(),
            vector: raw.iter().map(|value| value / norm).collect(),
        });
    }
    let open =
        |dir: &Path| EdgeVoiceprintIndex::open_with_config(dir, config.clone()).expect("open");
    let index = open(temp.path());
    for batch in voiceprints.chunks(1_000) {
        index.upsert(batch).expect("upsert");
    }
    index.optimize().expect("optimize");
    assert!(
        index.indexed_vectors().expect("info") > 0,
        "the optimizer built no HNSW index"
    );
    for target in voiceprints.iter().step_by(397) {
        // A slightly perturbed copy of the target, searched within the target's tenant and the next.
        let query: Vec<f32> = target.vector.iter().map(|value| value + 0.001).collect();
        let own = VoiceprintFilter {
            tenant: target.tenant.clone(),
            ..filter("", "v1")
        };
        let hits = index.search(&query, &own, 5).expect("search");
        assert_eq!(
            hits.first().map(|hit| hit.voiceprint.id.as_str()),
            Some(target.id.as_str())
        );
        assert!(
            hits.iter()
                .all(|hit| hit.voiceprint.tenant == target.tenant)
        );
        let other = VoiceprintFilter {
            tenant: "t-none".into(),
            ..own.clone()
        };
        assert!(index.search(&query, &other, 5).expect("search").is_empty());
    }
    drop(index);
    let index = open(temp.path());
    assert_eq!(index.list(&filter("t2", "v1")).expect("list").len(), 2_000);
}

/// Two writers on one embedded index would corrupt its shards: the second open is refused with
/// a message that says why, and the directory opens again once the first holder is gone.
#[test]
fn embedded_index_directory_serves_one_holder_at_a_time() {
    let temp = tempfile::tempdir().expect("temp dir");
    let first = EdgeVoiceprintIndex::open(temp.path()).expect("first open");
    let error = match EdgeVoiceprintIndex::open(temp.path()) {
        Ok(_) => panic!("a second holder must be refused"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("open in another process"), "{error}");
    assert!(error.contains(&std::process::id().to_string()), "names the holder: {error}");
    drop(first);
    EdgeVoiceprintIndex::open(temp.path()).expect("reopens after the holder closed it");
}

// ---------------------------------------------------------------------------------------------
// Qdrant server only: what a shared server adds to the embedded case. Several processes create
// the same collection at once, a collection disappears under a running process (dropped, or the
// server restarted on empty storage), and the server restarts under a running process.
// ---------------------------------------------------------------------------------------------

/// A fresh collection prefix on the test server, or `None` (with the skip said) without one.
fn server_prefix(what: &str) -> Option<(String, Option<String>, String)> {
    let Some(url) = std::env::var("CALLSIGHT_TEST_QDRANT_URL").ok().filter(|url| !url.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped ({what}): set CALLSIGHT_TEST_QDRANT_URL to test the Qdrant server backend"
        );
        return None;
    };
    let api_key = std::env::var("CALLSIGHT_TEST_QDRANT_API_KEY").ok().filter(|key| !key.is_empty());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    Some((url, api_key, format!("callsight_test_{}_{nanos}_", std::process::id())))
}

#[test]
fn server_processes_creating_one_collection_at_once_all_succeed() {
    let Some((url, api_key, prefix)) = server_prefix("concurrent creation") else { return };
    let writers = 6_u8;
    std::thread::scope(|scope| {
        for writer in 0..writers {
            let (url, api_key, prefix) = (&url, &api_key, &prefix);
            scope.spawn(move || {
                // One connection each, as separate processes would have.
                let index = ServerVoiceprintIndex::connect(url, api_key.clone(), prefix).expect("connect");
                let voiceprint = print(
                    writer + 1,
                    "t1",
                    &format!("speaker-{writer}"),
                    VoiceprintKind::Customer,
                    "v1",
                    unit(&[1.0, f32::from(writer)]),
                );
                index.upsert(&[voiceprint]).expect("upsert while others create the collection");
            });
        }
    });
    let index = ServerVoiceprintIndex::connect(&url, api_key, &prefix).expect("connect");
    assert_eq!(index.list(&filter("t1", "v1")).expect("list").len(), usize::from(writers));
    let hits = index.search(&unit(&[1.0, 0.0]), &filter("t1", "v1"), 10).expect("search");
    assert_eq!(hits.len(), usize::from(writers), "every writer's voiceprint is found");
    index.delete_all_collections().expect("drop test collections");
}

#[test]
fn server_collection_dropped_under_a_running_process_is_recreated_on_write() {
    let Some((url, api_key, prefix)) = server_prefix("collection dropped under a process") else { return };
    let running = ServerVoiceprintIndex::connect(&url, api_key.clone(), &prefix).expect("connect");
    let first = print(1, "t1", "alice", VoiceprintKind::Customer, "v1", basis(0));
    running.upsert(&[first]).expect("upsert");
    assert_eq!(running.list(&filter("t1", "v1")).expect("list").len(), 1);
    // Another process (or an operator, or a server restarted on empty storage) drops it.
    ServerVoiceprintIndex::connect(&url, api_key.clone(), &prefix)
        .expect("connect")
        .delete_all_collections()
        .expect("drop behind its back");
    assert!(
        running.search(&basis(0), &filter("t1", "v1"), 5).expect("search of a dropped collection").is_empty(),
        "a dropped collection holds nothing"
    );
    assert!(running.list(&filter("t1", "v1")).expect("list of a dropped collection").is_empty());
    assert_eq!(running.delete_speaker("t1", "alice").expect("delete from a dropped collection"), 0);
    let second = print(2, "t1", "bob", VoiceprintKind::Customer, "v1", basis(1));
    running.upsert(std::slice::from_ref(&second)).expect("upsert recreates the collection");
    assert_eq!(ids_of_hits(&running, &basis(1), &filter("t1", "v1"), 5), [second.id]);
    running.delete_all_collections().expect("drop test collections");
}

/// Runs only with `CALLSIGHT_TEST_QDRANT_RESTART` too: a shell command that restarts the test
/// server on the same storage and returns once it answers again.
#[test]
fn server_restart_under_a_running_process_loses_nothing() {
    let Some((url, api_key, prefix)) = server_prefix("server restart") else { return };
    let Some(restart) = std::env::var("CALLSIGHT_TEST_QDRANT_RESTART").ok().filter(|c| !c.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped (server restart): set CALLSIGHT_TEST_QDRANT_RESTART to a command that restarts the test server"
        );
        return;
    };
    let running = ServerVoiceprintIndex::connect(&url, api_key, &prefix).expect("connect");
    let first = print(1, "t1", "alice", VoiceprintKind::Customer, "v1", basis(0));
    running.upsert(std::slice::from_ref(&first)).expect("upsert");
    let status = std::process::Command::new("sh").args(["-c", &restart]).status().expect("run the restart command");
    assert!(status.success(), "{restart:?} failed: {status}");
    assert_eq!(
        ids_of_hits(&running, &basis(0), &filter("t1", "v1"), 5),
        [first.id.as_str()],
        "the first search after the restart finds what was written before it"
    );
    let second = print(2, "t1", "bob", VoiceprintKind::Customer, "v1", basis(1));
    running.upsert(&[second]).expect("upsert after the restart");
    assert_eq!(running.list(&filter("t1", "v1")).expect("list").len(), 2);
    running.delete_all_collections().expect("drop test collections");
}
