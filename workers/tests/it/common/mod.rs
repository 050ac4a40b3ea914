//! Shared test setup: a fresh store on a real SQLite file or a real PostgreSQL database, and a
//! macro that runs one test body against both.

#![allow(dead_code)]

pub mod pg;

use callsight_workers::store::{AnalysisRecord, CallSummary, NewCall, RuleOutcome};
use callsight_workers::{QueueConfig, Store, new_id};

/// A store plus whatever must outlive it (the SQLite file's directory).
pub struct TestDb {
    pub store: Store,
    /// For a second handle on the same database (another process).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestDb {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub async fn open(db: Db, config: QueueConfig) -> TestDb {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            // A data directory that does not exist yet: connect must create it.
            let url = format!("sqlite://{}/data/callsight.db", dir.path().display());
            let store = Store::connect_with(&url, config).await.expect("open SQLite store");
            TestDb { store, url, _dir: Some(dir) }
        }
        Db::Postgres => {
            let url = pg::PgCluster::shared().create_database();
            let store = Store::connect_with(&url, config).await.expect("open PostgreSQL store");
            TestDb { store, url, _dir: None }
        }
    }
}

/// Runs `async fn body(db: Db)` once on SQLite and once on PostgreSQL, as two tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name($crate::common::Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name($crate::common::Db::Postgres).await
                }
            }
        )*
    };
}

pub fn new_call(agent: &str, team: &str) -> NewCall {
    NewCall {
        id: new_id(),
        agent_id: Some(agent.to_string()),
        team: Some(team.to_string()),
        metadata: serde_json::json!({"queue": "billing"}),
        audio_path: "/data/audio/x.wav".to_string(),
        audio_bytes: 1234,
        audio_sha256: "ab".repeat(32),
        ..NewCall::default()
    }
}

pub fn analysis(transcript: &str, outcomes: &[(&str, bool)], flagged: bool, sentiment: &str) -> AnalysisRecord {
    let passed = outcomes.iter().filter(|(_, p)| *p).count();
    AnalysisRecord {
        report: serde_json::json!({"version": 1, "transcript": transcript}),
        transcript_text: transcript.to_string(),
        rule_outcomes: outcomes
            .iter()
            .map(|(rule_id, passed)| RuleOutcome {
                rule_id: rule_id.to_string(),
                passed: *passed,
                severity: Some("high".into()),
                score: Some(if *passed { 0.9 } else { 0.1 }),
                evidence: Some(serde_json::json!({"words": ["hello"]})),
            })
            .collect(),
        summary: CallSummary {
            duration_secs: 61.5,
            flagged,
            compliance_score: (!outcomes.is_empty()).then(|| passed as f64 / outcomes.len() as f64),
            customer_sentiment_label: Some(sentiment.to_string()),
            customer_sentiment_score: Some(0.25),
        },
    }
}

/// Inserts a call, claims its job and completes it with `analysis`; returns the call id.
pub async fn analysed_call(store: &Store, tenant: &str, call: NewCall, analysis: &AnalysisRecord) -> String {
    let enqueued = store.insert_call_and_enqueue(tenant, &call).await.expect("enqueue");
    let worker = format!("w-{}", enqueued.job_id);
    // Callers keep the queue otherwise empty, so the claim takes this call's job.
    let job = store.claim(&worker, 60, &[]).await.expect("claim").expect("a job is queued");
    assert_eq!(job.id, enqueued.job_id);
    store.complete_with_analysis(&enqueued.job_id, &worker, analysis).await.expect("complete");
    enqueued.call_id
}
