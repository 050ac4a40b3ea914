//! Store tests on real SQLite and real PostgreSQL: every test body runs on both.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use crate::common;

use callsight_workers::store::{
    AggregateScope, AuditFilter, CallFilter, CallSort, CallStatus, DeliveryState, GroupBy, NewAuditEntry, Page, TimeRange,
};
use callsight_workers::{JobState, QueueConfig, WorkersError, now_secs};
use common::{Db, analysed_call, analysis, new_call, open};

both_backends!(
    keys_hash_authenticate_revoke,
    insert_call_enqueues_in_one_transaction,
    duplicate_external_id_names_existing_call,
    full_queue_refuses_and_leaves_nothing,
    reports_and_outcomes_round_trip,
    transcript_search,
    list_filters_sort_and_pages,
    aggregates,
    script_versions,
    reviews_audit_speakers,
    webhooks_and_deliveries,
    tenant_isolation_of_reads,
    job_side_effects_are_written_once_per_job,
);

async fn keys_hash_authenticate_revoke(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let created = store.create_key("acme", "admin", "ci key").await.unwrap();
    assert!(created.plaintext.starts_with("cs_"));
    assert_eq!(created.plaintext.len(), 3 + 64);
    assert_eq!(store.authenticate(&created.plaintext).await.unwrap(), Some(created.info.clone()));
    assert_eq!(store.authenticate("cs_0000").await.unwrap(), None);
    assert_eq!(store.authenticate(&created.plaintext[3..]).await.unwrap(), None, "prefix is required");
    let listed = store.list_keys("acme").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].label, "ci key");
    // Another tenant can neither see nor revoke it.
    assert!(store.list_keys("globex").await.unwrap().is_empty());
    assert!(matches!(store.revoke_key("globex", &created.info.id).await, Err(WorkersError::NotFound { .. })));
    store.revoke_key("acme", &created.info.id).await.unwrap();
    assert_eq!(store.authenticate(&created.plaintext).await.unwrap(), None);
    assert!(store.list_keys("acme").await.unwrap()[0].revoked_at.is_some());
    assert!(store.create_key("", "admin", "x").await.is_err());
}

async fn insert_call_enqueues_in_one_transaction(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let mut call = new_call("a1", "t1");
    call.external_call_id = Some("ext-1".into());
    call.script_id = Some("greeting".into());
    call.script_version = Some(2);
    let enqueued = store.insert_call_and_enqueue("acme", &call).await.unwrap();
    let stored = store.get_call("acme", &enqueued.call_id).await.unwrap().unwrap();
    assert_eq!(stored.status, CallStatus::Queued);
    assert_eq!(stored.external_call_id.as_deref(), Some("ext-1"));
    assert_eq!(stored.script_version, Some(2));
    assert_eq!(stored.metadata, serde_json::json!({"queue": "billing"}));
    assert_eq!(stored.audio_bytes, 1234);
    assert!(stored.flagged.is_none());
    let jobs = store.list_jobs_for_call("acme", &enqueued.call_id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, enqueued.job_id);
    assert_eq!(jobs[0].state, JobState::Queued);
    assert_eq!(jobs[0].attempts, 0);
    assert_eq!(store.queue_depth().await.unwrap(), 1);
    let by_external = store.find_call_by_external_id("acme", "ext-1").await.unwrap().unwrap();
    assert_eq!(by_external.id, enqueued.call_id);
}

async fn duplicate_external_id_names_existing_call(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let mut first = new_call("a1", "t1");
    first.external_call_id = Some("ext-1".into());
    let enqueued = store.insert_call_and_enqueue("acme", &first).await.unwrap();
    let mut again = new_call("a1", "t1");
    again.external_call_id = Some("ext-1".into());
    match store.insert_call_and_enqueue("acme", &again).await {
        Err(WorkersError::DuplicateCall { existing_call_id, .. }) => assert_eq!(existing_call_id, enqueued.call_id),
        other => panic!("expected DuplicateCall, got {other:?}"),
    }
    // The refused upload left no call and no job behind.
    assert!(store.get_call("acme", &again.id).await.unwrap().is_none());
    assert_eq!(store.queue_depth().await.unwrap(), 1);
    // The same external id is free in another tenant.
    store.insert_call_and_enqueue("globex", &again).await.unwrap();
}

async fn full_queue_refuses_and_leaves_nothing(db: Db) {
    let config = QueueConfig { max_queued_jobs: Some(2), retry_after_secs: 7, ..QueueConfig::default() };
    let store = open(db, config).await;
    store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let refused = new_call("a", "t");
    match store.insert_call_and_enqueue("acme", &refused).await {
        Err(WorkersError::QueueFull { queued: 2, limit: 2, retry_after_secs: 7 }) => {}
        other => panic!("expected QueueFull, got {other:?}"),
    }
    assert!(store.get_call("acme", &refused.id).await.unwrap().is_none());
    // A claimed job no longer counts as queued, so there is room again.
    let job = store.claim("w", 60, &[]).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Running);
    store.insert_call_and_enqueue("acme", &refused).await.unwrap();
    assert!(matches!(
        store.enqueue_job("acme", &refused.id, callsight_workers::JobKind::Rescore).await,
        Err(WorkersError::QueueFull { .. })
    ));
}

async fn reports_and_outcomes_round_trip(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let record =
        analysis("hello thank you for calling", &[("greeting", true), ("disclosure", false)], true, "negative");
    let call_id = analysed_call(&store, "acme", new_call("a1", "t1"), &record).await;
    let call = store.get_call("acme", &call_id).await.unwrap().unwrap();
    assert_eq!(call.status, CallStatus::Analyzed);
    assert_eq!(call.flagged, Some(true));
    assert_eq!(call.failed_rules, Some(1));
    assert_eq!(call.compliance_score, Some(0.5));
    assert_eq!(call.duration_secs, Some(61.5));
    assert_eq!(call.customer_sentiment_label.as_deref(), Some("negative"));
    assert!(call.analyzed_at.is_some());
    let report = store.get_report("acme", &call_id).await.unwrap().unwrap();
    assert_eq!(report.report, record.report);
    assert_eq!(report.transcript_text, "hello thank you for calling");
    let outcomes = store.list_rule_outcomes("acme", &call_id).await.unwrap();
    assert_eq!(outcomes, record.rule_outcomes.iter().rev().cloned().collect::<Vec<_>>(), "sorted by rule id");

    // Deleting the call removes its report and search entry too.
    assert_eq!(store.delete_call("acme", &call_id).await.unwrap(), "/data/audio/x.wav");
    assert!(store.get_report("acme", &call_id).await.unwrap().is_none());
    assert!(store.search_transcripts("acme", "thank", 10).await.unwrap().is_empty());
    assert!(store.list_rule_outcomes("acme", &call_id).await.unwrap().is_empty());
}

async fn transcript_search(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let refund = analysed_call(
        &store,
        "acme",
        new_call("a1", "t1"),
        &analysis("I want a refund for my broken router", &[], false, "negative"),
    )
    .await;
    let upgrade = analysed_call(
        &store,
        "acme",
        new_call("a2", "t1"),
        &analysis("Can I upgrade my plan to fibre", &[], false, "positive"),
    )
    .await;
    analysed_call(&store, "globex", new_call("a1", "t1"), &analysis("refund please refund", &[], false, "negative"))
        .await;

    let hits = store.search_transcripts("acme", "refund", 10).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.call_id.as_str()).collect::<Vec<_>>(), vec![refund.as_str()]);
    assert!(hits[0].snippet.contains("[refund]"), "snippet marks the match: {}", hits[0].snippet);
    // All words must match, in any order, case-insensitive.
    assert_eq!(store.search_transcripts("acme", "ROUTER refund", 10).await.unwrap().len(), 1);
    assert!(store.search_transcripts("acme", "refund fibre", 10).await.unwrap().is_empty());
    assert_eq!(store.search_transcripts("acme", "plan", 10).await.unwrap()[0].call_id, upgrade);
    // Search syntax typed by a user is taken as words, not an error.
    assert_eq!(store.search_transcripts("acme", "\"refund\"* (router) -", 10).await.unwrap().len(), 1);
    assert!(store.search_transcripts("acme", "  ", 10).await.unwrap().is_empty());
}

async fn list_filters_sort_and_pages(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let mut with_script = new_call("alice", "red");
    with_script.script_id = Some("s1".into());
    let clean =
        analysed_call(&store, "acme", with_script, &analysis("x", &[("greeting", true)], false, "positive")).await;
    let bad = analysed_call(
        &store,
        "acme",
        new_call("bob", "red"),
        &analysis("y", &[("greeting", false), ("close", false)], true, "negative"),
    )
    .await;
    let meh = analysed_call(
        &store,
        "acme",
        new_call("bob", "blue"),
        &analysis("z", &[("greeting", true), ("close", false)], true, "neutral"),
    )
    .await;
    let pending = store.insert_call_and_enqueue("acme", &new_call("carol", "blue")).await.unwrap().call_id;

    let ids = |page: callsight_workers::store::CallPage| page.calls.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let list = |filter: CallFilter| {
        let store = &store;
        async move { store.list_calls("acme", &filter, CallSort::NewestFirst, Page::default()).await.unwrap() }
    };
    assert_eq!(ids(list(CallFilter::default()).await), vec![pending.clone(), meh.clone(), bad.clone(), clean.clone()]);
    assert_eq!(
        ids(list(CallFilter { agent_id: Some("bob".into()), ..Default::default() }).await),
        vec![meh.clone(), bad.clone()]
    );
    assert_eq!(
        ids(list(CallFilter { team: Some("blue".into()), ..Default::default() }).await),
        vec![pending.clone(), meh.clone()]
    );
    assert_eq!(ids(list(CallFilter { script_id: Some("s1".into()), ..Default::default() }).await), vec![clean.clone()]);
    assert_eq!(ids(list(CallFilter { flagged: Some(false), ..Default::default() }).await), vec![clean.clone()]);
    assert_eq!(
        ids(list(CallFilter { flagged: Some(true), ..Default::default() }).await),
        vec![meh.clone(), bad.clone()]
    );
    assert_eq!(
        ids(list(CallFilter { failed_rule_id: Some("greeting".into()), ..Default::default() }).await),
        vec![bad.clone()]
    );
    assert_eq!(
        ids(list(CallFilter { failed_rule_id: Some("close".into()), ..Default::default() }).await),
        vec![meh.clone(), bad.clone()]
    );
    assert_eq!(
        ids(list(CallFilter { customer_sentiment_label: Some("negative".into()), ..Default::default() }).await),
        vec![bad.clone()]
    );
    assert_eq!(
        ids(list(CallFilter { status: Some(CallStatus::Queued), ..Default::default() }).await),
        vec![pending.clone()]
    );
    let now = now_secs();
    assert_eq!(
        list(CallFilter { created_from: Some(now - 60), created_before: Some(now + 60), ..Default::default() })
            .await
            .total,
        4
    );
    assert_eq!(list(CallFilter { created_from: Some(now + 60), ..Default::default() }).await.total, 0);
    assert_eq!(list(CallFilter { created_before: Some(now - 60), ..Default::default() }).await.total, 0);

    let severe =
        store.list_calls("acme", &CallFilter::default(), CallSort::MostSevereFirst, Page::default()).await.unwrap();
    assert_eq!(ids(severe), vec![bad.clone(), meh.clone(), clean.clone(), pending.clone()]);
    let oldest = store
        .list_calls("acme", &CallFilter::default(), CallSort::OldestFirst, Page { limit: 2, offset: 1 })
        .await
        .unwrap();
    assert_eq!(oldest.total, 4);
    assert_eq!(ids(oldest), vec![bad.clone(), meh.clone()]);
}

async fn aggregates(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    analysed_call(
        &store,
        "acme",
        new_call("alice", "red"),
        &analysis("x", &[("greeting", true), ("close", true)], false, "positive"),
    )
    .await;
    let bob_call = analysed_call(
        &store,
        "acme",
        new_call("bob", "red"),
        &analysis("y", &[("greeting", false), ("close", true)], true, "negative"),
    )
    .await;
    analysed_call(
        &store,
        "acme",
        new_call("bob", "red"),
        &analysis("z", &[("greeting", false), ("close", false)], true, "negative"),
    )
    .await;
    analysed_call(&store, "globex", new_call("bob", "red"), &analysis("w", &[("greeting", false)], true, "negative"))
        .await;
    store.insert_call_and_enqueue("acme", &new_call("bob", "red")).await.unwrap(); // not analysed: not counted

    let by_agent = store.compliance_summary("acme", GroupBy::Agent, &AggregateScope::default()).await.unwrap();
    assert_eq!(by_agent.len(), 2);
    let alice = &by_agent[0];
    assert_eq!(
        (alice.key.as_deref(), alice.calls, alice.flagged_calls, alice.rule_checks, alice.rule_failures),
        (Some("alice"), 1, 0, 2, 0)
    );
    assert_eq!(alice.compliance_rate, Some(1.0));
    let bob = &by_agent[1];
    assert_eq!(
        (bob.key.as_deref(), bob.calls, bob.flagged_calls, bob.rule_checks, bob.rule_failures),
        (Some("bob"), 2, 2, 4, 3)
    );
    assert_eq!(bob.compliance_rate, Some(0.25));
    assert_eq!(bob.mean_compliance_score, Some(0.25));

    let by_team = store.compliance_summary("acme", GroupBy::Team, &AggregateScope::default()).await.unwrap();
    assert_eq!(by_team.len(), 1);
    assert_eq!((by_team[0].calls, by_team[0].rule_failures), (3, 3));

    let day = store.compliance_summary("acme", GroupBy::Day, &AggregateScope::default()).await.unwrap();
    assert_eq!(day.len(), 1);
    let key = day[0].key.clone().unwrap();
    let created_at = store.get_call("acme", &bob_call).await.unwrap().unwrap().created_at;
    let today = utc_date_of(created_at);
    assert_eq!(key, today, "the day of the upload, YYYY-MM-DD");

    let failures = store.rule_failure_counts("acme", GroupBy::Script, &AggregateScope::default()).await.unwrap();
    let summary: Vec<_> =
        failures.iter().map(|f| (f.group_key.clone(), f.rule_id.as_str(), f.checks, f.failures)).collect();
    assert_eq!(summary, vec![(None, "close", 3, 1), (None, "greeting", 3, 2)]);

    let sentiment = store.sentiment_by_day("acme", &AggregateScope::default()).await.unwrap();
    let counts: Vec<_> = sentiment.iter().map(|s| (s.day.as_str(), s.label.as_deref(), s.calls)).collect();
    assert_eq!(counts, vec![(key.as_str(), Some("negative"), 2), (key.as_str(), Some("positive"), 1)]);

    // Scoped to one agent: bob's two calls only, in every aggregate.
    let bob_only = AggregateScope { agent: Some("bob".into()), ..AggregateScope::default() };
    let bob_days = store.compliance_summary("acme", GroupBy::Day, &bob_only).await.unwrap();
    assert_eq!((bob_days.len(), bob_days[0].calls, bob_days[0].rule_checks, bob_days[0].rule_failures), (1, 2, 4, 3));
    let bob_rules = store.rule_failure_counts("acme", GroupBy::Day, &bob_only).await.unwrap();
    assert_eq!(bob_rules.iter().map(|r| r.checks).sum::<i64>(), 4);
    assert_eq!(bob_rules[0].group_key.as_deref(), Some(today.as_str()));
    let bob_handling = store.handling_summary("acme", GroupBy::Team, &bob_only).await.unwrap();
    assert_eq!(bob_handling.iter().map(|b| b.calls).sum::<i64>(), 2);
    let nobody = AggregateScope { team: Some("blue".into()), ..AggregateScope::default() };
    assert!(store.compliance_summary("acme", GroupBy::Agent, &nobody).await.unwrap().is_empty());
    assert!(store.sentiment_by_day("acme", &nobody).await.unwrap().is_empty());

    let future = AggregateScope::from(TimeRange { from: Some(now_secs() + 3600), before: None });
    assert!(store.compliance_summary("acme", GroupBy::Agent, &future).await.unwrap().is_empty());
    assert!(store.sentiment_by_day("acme", &future).await.unwrap().is_empty());
}

/// The UTC date of a Unix time as `YYYY-MM-DD`, from `date` (independently of the store's own
/// day arithmetic).
fn utc_date_of(secs: i64) -> String {
    let output =
        std::process::Command::new("date").args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%d"]).output().expect("date runs");
    String::from_utf8(output.stdout).expect("utf-8").trim().to_string()
}

async fn script_versions(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let v1 = store.create_script_version("acme", "greeting", &serde_json::json!({"rules": [1]})).await.unwrap();
    let v2 = store.create_script_version("acme", "greeting", &serde_json::json!({"rules": [1, 2]})).await.unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    store.create_script_version("acme", "closing", &serde_json::json!({})).await.unwrap();
    assert_eq!(
        store.get_script("acme", "greeting", None).await.unwrap().unwrap().body,
        serde_json::json!({"rules": [1, 2]})
    );
    assert_eq!(store.get_script("acme", "greeting", Some(1)).await.unwrap().unwrap(), v1);
    assert_eq!(store.list_script_versions("acme", "greeting").await.unwrap().len(), 2);
    let latest: Vec<_> =
        store.list_scripts("acme").await.unwrap().into_iter().map(|s| (s.script_id, s.version)).collect();
    assert_eq!(latest, vec![("closing".to_string(), 1), ("greeting".to_string(), 2)]);
    // Other tenants have their own namespace.
    assert!(store.get_script("globex", "greeting", None).await.unwrap().is_none());
    assert_eq!(store.create_script_version("globex", "greeting", &serde_json::json!({})).await.unwrap().version, 1);
    assert!(matches!(store.delete_script("globex", "closing").await, Err(WorkersError::NotFound { .. })));

    store.delete_script("acme", "greeting").await.unwrap();
    assert!(store.get_script("acme", "greeting", None).await.unwrap().is_none());
    assert!(store.get_script("acme", "greeting", Some(2)).await.unwrap().is_some(), "old versions stay readable");
    assert_eq!(store.list_scripts("acme").await.unwrap().len(), 1);
    assert_eq!(store.create_script_version("acme", "greeting", &serde_json::json!({})).await.unwrap().version, 3);
    assert_eq!(store.get_script("acme", "greeting", None).await.unwrap().unwrap().version, 3);
}

async fn reviews_audit_speakers(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let call_id = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap().call_id;
    let verdicts = serde_json::json!({"greeting": "agree", "close": "disagree"});
    let review = store.add_review("acme", &call_id, "key-1", &verdicts, Some("close was fine")).await.unwrap();
    assert!(matches!(
        store.add_review("globex", &call_id, "key-2", &verdicts, None).await,
        Err(WorkersError::NotFound { .. })
    ));
    assert_eq!(store.list_reviews("acme", &call_id).await.unwrap(), vec![review]);
    assert!(store.list_reviews("globex", &call_id).await.unwrap().is_empty());

    for (action, speaker) in [("enrol", "s1"), ("verify", "s1"), ("identify", "s2")] {
        let entry = NewAuditEntry {
            actor_key_id: Some("key-1".into()),
            action: action.into(),
            speaker_id: Some(speaker.into()),
            outcome: "accepted".into(),
            score: Some(0.8),
            details: serde_json::json!({"threshold": 0.7}),
        };
        store.append_audit("acme", &entry).await.unwrap();
    }
    let all = store.list_audit("acme", &AuditFilter::default(), Page::default()).await.unwrap();
    assert_eq!(all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), vec!["identify", "verify", "enrol"]);
    let s1 = store
        .list_audit("acme", &AuditFilter { speaker_id: Some("s1".into()), ..Default::default() }, Page::default())
        .await
        .unwrap();
    assert_eq!(s1.len(), 2);
    let verify = store
        .list_audit("acme", &AuditFilter { action: Some("verify".into()), ..Default::default() }, Page::default())
        .await
        .unwrap();
    assert_eq!(verify.len(), 1);
    assert_eq!(verify[0].details, serde_json::json!({"threshold": 0.7}));
    assert!(store.list_audit("globex", &AuditFilter::default(), Page::default()).await.unwrap().is_empty());

    store.upsert_speaker("acme", "s1", "agent", &["vp1".to_string()]).await.unwrap();
    store.upsert_speaker("acme", "s1", "agent", &["vp1".to_string(), "vp2".to_string()]).await.unwrap();
    assert_eq!(store.get_speaker("acme", "s1").await.unwrap().unwrap().voiceprint_ids, vec!["vp1", "vp2"]);
    assert!(store.get_speaker("globex", "s1").await.unwrap().is_none());
    assert!(matches!(store.delete_speaker("globex", "s1").await, Err(WorkersError::NotFound { .. })));
    assert_eq!(store.delete_speaker("acme", "s1").await.unwrap(), vec!["vp1", "vp2"]);
    assert!(store.get_speaker("acme", "s1").await.unwrap().is_none());
    assert!(store.list_speakers("acme").await.unwrap().is_empty());
}

async fn webhooks_and_deliveries(db: Db) {
    let config = QueueConfig { backoff_base_secs: 100, ..QueueConfig::default() };
    let store = open(db, config).await;
    let hook = store
        .create_webhook("acme", "https://example.test/hook", "s3cret", &["call.analyzed".to_string()])
        .await
        .unwrap();
    store.create_webhook("acme", "https://example.test/all", "s", &["*".to_string()]).await.unwrap();
    assert!(store.create_webhook("acme", "ftp://x", "s", &[]).await.is_err());
    assert_eq!(store.list_webhooks("acme").await.unwrap().len(), 2);
    assert!(store.list_webhooks("globex").await.unwrap().is_empty());
    assert!(matches!(store.delete_webhook("globex", &hook.id).await, Err(WorkersError::NotFound { .. })));

    assert_eq!(
        store.enqueue_webhook_event("acme", "call.analyzed", &serde_json::json!({"call_id": "c1"})).await.unwrap(),
        2
    );
    assert_eq!(store.enqueue_webhook_event("acme", "call.failed", &serde_json::json!({})).await.unwrap(), 1);
    assert_eq!(store.enqueue_webhook_event("globex", "call.analyzed", &serde_json::json!({})).await.unwrap(), 0);

    let claimed = store.claim_webhook_deliveries(10, 60).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(store.claim_webhook_deliveries(10, 60).await.unwrap().is_empty(), "claimed deliveries are leased");
    let to_hook = claimed.iter().find(|d| d.webhook_id == hook.id).unwrap();
    assert_eq!(
        (to_hook.url.as_str(), to_hook.secret.as_str(), to_hook.attempts),
        ("https://example.test/hook", "s3cret", 1)
    );
    assert_eq!(to_hook.payload, r#"{"call_id":"c1"}"#);
    assert_eq!(store.record_webhook_attempt(&to_hook.id, Err("503".into()), 3).await.unwrap(), DeliveryState::Pending);
    let others: Vec<_> = claimed.iter().filter(|d| d.webhook_id != hook.id).collect();
    assert_eq!(store.record_webhook_attempt(&others[0].id, Ok(()), 3).await.unwrap(), DeliveryState::Delivered);
    assert_eq!(
        store.record_webhook_attempt(&others[1].id, Err("timeout".into()), 1).await.unwrap(),
        DeliveryState::Dead
    );
    // The failed one waits out its backoff.
    assert!(store.claim_webhook_deliveries(10, 60).await.unwrap().is_empty());
    let deliveries = store.list_webhook_deliveries("acme", &hook.id, 10).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!((deliveries[0].state.as_str(), deliveries[0].last_error.as_deref()), ("pending", Some("503")));
    assert!(deliveries[0].next_attempt_at >= now_secs() + 99);
    assert!(store.list_webhook_deliveries("globex", &hook.id, 10).await.unwrap().is_empty());

    store.delete_webhook("acme", &hook.id).await.unwrap();
    assert_eq!(store.list_webhook_deliveries("acme", &hook.id, 10).await.unwrap()[0].state, "dead");
    assert_eq!(store.list_webhooks("acme").await.unwrap().len(), 1);
}

/// Every read by id or list of one tenant is blind to another tenant's rows.
async fn tenant_isolation_of_reads(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let mut call = new_call("a1", "t1");
    call.external_call_id = Some("ext".into());
    let call_id =
        analysed_call(&store, "acme", call, &analysis("secret words", &[("r", false)], true, "negative")).await;
    let job = &store.list_jobs_for_call("acme", &call_id).await.unwrap()[0];

    assert!(store.get_call("globex", &call_id).await.unwrap().is_none());
    assert!(store.find_call_by_external_id("globex", "ext").await.unwrap().is_none());
    assert!(store.get_report("globex", &call_id).await.unwrap().is_none());
    assert!(store.list_rule_outcomes("globex", &call_id).await.unwrap().is_empty());
    assert!(store.search_transcripts("globex", "secret", 10).await.unwrap().is_empty());
    assert_eq!(
        store.list_calls("globex", &CallFilter::default(), CallSort::NewestFirst, Page::default()).await.unwrap().total,
        0
    );
    assert!(store.compliance_summary("globex", GroupBy::Agent, &AggregateScope::default()).await.unwrap().is_empty());
    assert!(store.rule_failure_counts("globex", GroupBy::Agent, &AggregateScope::default()).await.unwrap().is_empty());
    assert!(store.sentiment_by_day("globex", &AggregateScope::default()).await.unwrap().is_empty());
    assert!(store.get_job("globex", &job.id).await.unwrap().is_none());
    assert!(store.list_jobs_for_call("globex", &call_id).await.unwrap().is_empty());
    assert!(matches!(
        store.enqueue_job("globex", &call_id, callsight_workers::JobKind::Rescore).await,
        Err(WorkersError::NotFound { .. })
    ));
    assert!(matches!(store.delete_call("globex", &call_id).await, Err(WorkersError::NotFound { .. })));
    // And the owner still sees everything.
    assert!(store.get_call("acme", &call_id).await.unwrap().is_some());
    assert_eq!(store.get_job("acme", &job.id).await.unwrap().unwrap().state, JobState::Done);
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/callsight.db");
    let store = callsight_workers::Store::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    assert_eq!(store.backend(), callsight_workers::Backend::Sqlite);
    store.create_key("acme", "admin", "k").await.unwrap();
    store.ping().await.unwrap();
    assert!(path.exists());
    assert!(dir.path().join("nested/data/callsight.db-wal").exists(), "WAL journal in use");
    store.close().await;
    // Reopening runs the (already applied) migrations again without error and keeps the data.
    let reopened = callsight_workers::Store::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    assert_eq!(reopened.list_keys("acme").await.unwrap().len(), 1);
}

#[tokio::test]
async fn unsupported_url_is_refused_without_leaking_the_password() {
    match callsight_workers::Store::connect("mysql://user:hunter2@db/x").await {
        Err(WorkersError::UnsupportedUrl(url)) => assert!(!url.contains("hunter2"), "{url}"),
        Err(other) => panic!("expected UnsupportedUrl, got {other}"),
        Ok(_) => panic!("expected UnsupportedUrl, got a store"),
    }
}

/// A job run again after its worker died repeats its audit entries and events; the store keeps
/// the first of each per job (and per action / event id), and a new job writes its own.
async fn job_side_effects_are_written_once_per_job(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let entry = NewAuditEntry {
        action: "screen".into(),
        speaker_id: Some("fraud-1".into()),
        outcome: "watchlist_hit".into(),
        details: serde_json::json!({"source": "call", "call_id": "c1"}),
        ..Default::default()
    };
    let first = store.append_audit_once_per_job("acme", "job-1", &entry).await.unwrap().unwrap();
    assert_eq!(first.details["job_id"], "job-1");
    assert_eq!(first.details["call_id"], "c1");
    assert!(store.append_audit_once_per_job("acme", "job-1", &entry).await.unwrap().is_none(), "a rerun of job-1");
    let enrol = NewAuditEntry { action: "enrol".into(), ..entry.clone() };
    assert!(store.append_audit_once_per_job("acme", "job-1", &enrol).await.unwrap().is_some(), "another action");
    assert!(store.append_audit_once_per_job("acme", "job-2", &entry).await.unwrap().is_some(), "another job");
    assert!(store.append_audit_once_per_job("globex", "job-1", &entry).await.unwrap().is_some(), "another tenant");
    let acme = store.list_audit("acme", &AuditFilter::default(), Page::default()).await.unwrap();
    assert_eq!(acme.len(), 3, "{acme:?}");

    store.create_webhook("acme", "https://example.test/hook", "s3cret", &["*".to_string()]).await.unwrap();
    let payload = |id: &str| serde_json::json!({"id": id, "event": "call.analyzed", "data": {"call_id": "c1"}});
    let once = |id: &'static str| {
        let store = store.clone();
        async move { store.enqueue_webhook_event_once("acme", "call.analyzed", id, &payload(id)).await.unwrap() }
    };
    assert_eq!(once("job-1:call.analyzed").await, 1);
    assert_eq!(once("job-1:call.analyzed").await, 0, "a rerun of job-1 does not announce again");
    assert_eq!(once("job-2:call.analyzed").await, 1, "a re-analysis does");
    assert_eq!(
        store.enqueue_webhook_event_once("acme", "call.flagged", "job-1:call.flagged", &payload("job-1:call.flagged")).await.unwrap(),
        1
    );
    assert_eq!(store.claim_webhook_deliveries(10, 60).await.unwrap().len(), 3);
}
