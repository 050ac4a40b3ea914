//! Scale-out from the user's side, with the real binary:
//! - `serve` and `worker` configured for a Qdrant server that is not there start with a clear
//!   message naming the URL and a service that is not ready, and stop cleanly: never a panic
//!   (issue 21: both used to exit 101, "Cannot start a runtime from within a runtime");
//! - `callsight migrate` copies a data directory's SQLite database into PostgreSQL and its
//!   embedded voiceprints into another index, verified table by table and resumable, leaving the
//!   source untouched;
//! - `callsight backup` / `callsight restore` round-trip a data directory.
//!
//! The data directories are filled through the store and index APIs (synthetic calls, reports,
//! keys, audit, webhooks, voiceprints), not by analysing audio: what is tested is the copy.
//! `CALLSIGHT_MIGRATE_CALLS` / `CALLSIGHT_MIGRATE_VOICEPRINTS` size the migration test up for a
//! measurement (it prints the command's per-table report and timings).

use crate::common;
use crate::pg;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callsight_models::voiceprints::{EdgeVoiceprintIndex, ServerVoiceprintIndex};
use callsight_pipeline::speaker::{Voiceprint, VoiceprintIndex, VoiceprintKind};
use callsight_workers::Store;
use callsight_workers::store::{AnalysisRecord, CallSummary, NewAuditEntry, NewCall, RuleOutcome};
use common::{Database, callsight, http, start_server};

/// A gRPC URL where nothing listens (a port bound, then released).
fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    let port = listener.local_addr().expect("probe address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn qdrant_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CALLSIGHT__VOICEPRINTS__BACKEND", "server".into()),
        ("CALLSIGHT__VOICEPRINTS__URL", url.into()),
        ("CALLSIGHT__STREAMS__ENABLED", "false".into()),
        ("CALLSIGHT__ANALYSIS__MODEL", "tiny.en".into()),
    ]
}

#[test]
fn serve_with_an_unreachable_qdrant_server_is_not_ready_and_never_panics() {
    let temp = tempfile::tempdir().expect("temp dir");
    let url = unreachable_url();
    let mut server = start_server(temp.path(), &Database::Sqlite, 0, &qdrant_env(&url));
    let response = http(&server.addr, "GET", "/readyz", &[], b"");
    server.expect_status("readyz with the Qdrant server down", &response, 503);
    assert_eq!(response.json()["reason"], "voiceprint index unreachable", "{}", response.text());
    assert!(server.log_tail().contains(&url), "the log names the unreachable URL:\n{}", server.log_tail());
    server.terminate();
    let status = server.wait_for_exit(Duration::from_secs(60)).expect("serve stops on SIGTERM");
    assert_eq!(status.code(), Some(0), "serve ended with {status}; log:\n{}", server.log_tail());
}

#[test]
fn worker_with_an_unreachable_qdrant_server_starts_waits_and_never_panics() {
    let temp = tempfile::tempdir().expect("temp dir");
    let url = unreachable_url();
    let log_path = temp.path().join("worker.log");
    let mut command = callsight();
    command.args(["worker", "--concurrency", "1", "--data-dir"]).arg(temp.path());
    for (name, value) in qdrant_env(&url) {
        command.env(name, value);
    }
    command.env_remove("CALLSIGHT__SERVER__DATABASE_URL");
    let log = std::fs::File::create(&log_path).expect("worker log");
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().expect("spawn callsight worker");
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // Models load first (seconds); then it runs, saying which server it waits for.
    let deadline = Instant::now() + Duration::from_secs(180);
    while !read_log().contains("running 1 job(s) at once") {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the worker exited ({status}) instead of waiting for the server; log:\n{}", read_log());
        }
        assert!(Instant::now() < deadline, "the worker did not start within 3 minutes; log:\n{}", read_log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(read_log().contains(&url), "the worker's log names the unreachable URL:\n{}", read_log());
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the worker did not stop on SIGTERM; log:\n{}", read_log());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0), "worker ended with {status}; log:\n{}", read_log());
}

// ---------------------------------------------------------------------------------------------
// Moving a data directory: migrate, backup, restore.
// ---------------------------------------------------------------------------------------------

const DIMENSION: usize = 192;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// A deterministic unit-length vector (no randomness crate needed).
fn vector(seed: usize) -> Vec<f32> {
    let mut state = (seed as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut values: Vec<f32> = (0..DIMENSION)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect();
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    values.iter_mut().for_each(|v| *v /= norm);
    values
}

fn analysis(idx: usize) -> AnalysisRecord {
    let transcript = format!("agent: hello, thank you for calling. customer: my order {idx} has not arrived");
    AnalysisRecord {
        report: serde_json::json!({"schema": "callsight.report.v1", "transcript": transcript,
            "metrics": {"non_talk_secs": 3.25 + idx as f64}}),
        transcript_text: transcript,
        rule_outcomes: vec![
            RuleOutcome {
                rule_id: "greeting".into(),
                passed: true,
                severity: Some("high".into()),
                score: Some(0.93),
                evidence: Some(serde_json::json!({"words": ["hello"]})),
            },
            RuleOutcome { rule_id: "disclosure".into(), passed: !idx.is_multiple_of(3), severity: None, score: None, evidence: None },
        ],
        summary: CallSummary {
            duration_secs: 61.5 + idx as f64,
            flagged: idx.is_multiple_of(3),
            compliance_score: Some(if idx.is_multiple_of(3) { 0.5 } else { 1.0 }),
            customer_sentiment_label: Some("negative".into()),
            customer_sentiment_score: Some(-0.25),
        },
    }
}

/// What a filled data directory holds, to check copies against.
struct Filled {
    call_ids: Vec<String>,
    voiceprints: usize,
}

/// Fills `data_dir` as a running service would have: keys, a script, `calls` analysed calls with
/// their reports, rule outcomes and an audio file each, reviews, audit entries, a webhook and its
/// deliveries, speakers, one queued call, and `voiceprints` voiceprints over two tenants.
fn fill_data_dir(data_dir: &Path, calls: usize, voiceprints: usize) -> Filled {
    let audio_dir = data_dir.join("audio");
    std::fs::create_dir_all(&audio_dir).expect("audio dir");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let call_ids = runtime.block_on(async {
        let store = Store::connect(&format!("sqlite://{}", data_dir.join("callsight.db").display())).await.expect("store");
        let reviewer = store.create_key("acme", "qa", "reviewer").await.expect("key").info.id;
        store.create_key("globex", "admin", "admin").await.expect("key");
        store.create_script_version("acme", "greeting", &serde_json::json!({"id": "greeting", "rules": []})).await.expect("script");
        store.create_script_version("acme", "greeting", &serde_json::json!({"id": "greeting", "rules": [], "v": 2})).await.expect("script v2");
        store
            .create_webhook("acme", "https://hooks.example.com/callsight", "secret", &["call.analyzed".to_string()])
            .await
            .expect("webhook");
        let mut call_ids = Vec::with_capacity(calls);
        for idx in 0..calls {
            let tenant = if idx % 4 == 3 { "globex" } else { "acme" };
            let id = callsight_workers::new_id();
            let audio_path = audio_dir.join(format!("{id}.wav"));
            std::fs::write(&audio_path, format!("RIFF audio of call {idx}")).expect("audio file");
            let call = NewCall {
                id: id.clone(),
                external_call_id: Some(format!("ext-{idx}")),
                agent_id: Some(format!("agent-{}", idx % 17)),
                team: Some(format!("team-{}", idx % 3)),
                customer_id: Some(format!("customer-{idx}")),
                language_hint: Some("en".into()),
                metadata: serde_json::json!({"duration_secs": 61.5, "n_channels": 2, "file_name": format!("{idx}.wav")}),
                audio_path: audio_path.display().to_string(),
                audio_bytes: 24,
                audio_sha256: "ab".repeat(32),
                ..NewCall::default()
            };
            let enqueued = store.insert_call_and_enqueue(tenant, &call).await.expect("enqueue");
            let job = store.claim("filler", 60, &[]).await.expect("claim").expect("a job");
            store.complete_with_analysis(&job.id, "filler", &analysis(idx)).await.expect("complete");
            if tenant == "acme" && idx % 5 == 0 {
                store
                    .add_review(tenant, &enqueued.call_id, &reviewer, &serde_json::json!({"greeting": "agree"}), Some("ok"))
                    .await
                    .expect("review");
            }
            store
                .append_audit(
                    tenant,
                    &NewAuditEntry {
                        actor_key_id: None,
                        action: "screen".into(),
                        speaker_id: Some(format!("customer-{idx}")),
                        outcome: "no_match".into(),
                        score: Some(0.125),
                        details: serde_json::json!({"source": "call", "call_id": enqueued.call_id}),
                    },
                )
                .await
                .expect("audit");
            if idx % 10 == 0 {
                store
                    .enqueue_webhook_event("acme", "call.analyzed", &serde_json::json!({"call_id": enqueued.call_id}))
                    .await
                    .expect("webhook event");
                store.upsert_speaker(tenant, &format!("customer-{idx}"), "customer", &[format!("vp-{idx}")]).await.expect("speaker");
            }
            call_ids.push(enqueued.call_id);
        }
        // One call still waiting for a worker: the queue moves too.
        let mut queued = NewCall { id: callsight_workers::new_id(), ..NewCall::default() };
        queued.metadata = serde_json::json!({});
        queued.audio_path = audio_dir.join("queued.wav").display().to_string();
        queued.audio_sha256 = "cd".repeat(32);
        std::fs::write(audio_dir.join("queued.wav"), b"RIFF queued").expect("audio file");
        store.insert_call_and_enqueue("acme", &queued).await.expect("enqueue");
        store.close().await;
        call_ids
    });
    let index = EdgeVoiceprintIndex::open(&data_dir.join("voiceprints")).expect("voiceprint index");
    let batch: Vec<Voiceprint> = (0..voiceprints)
        .map(|idx| Voiceprint {
            id: uuid_of(idx),
            tenant: if idx % 2 == 0 { "acme".into() } else { "globex".into() },
            speaker_id: format!("customer-{idx}"),
            kind: if idx % 50 == 0 { VoiceprintKind::Fraudster } else { VoiceprintKind::Customer },
            model_name: "campplus-sv-zh-en-16k".into(),
            model_version: "1".into(),
            enrolled_at_unix_secs: 1_760_000_000 + idx as i64,
            net_speech_secs: 12.5 + idx as f64 / 8.0,
            vector: vector(idx),
            source_call_ids: Vec::new(),
        })
        .collect();
    for chunk in batch.chunks(500) {
        index.upsert(chunk).expect("upsert voiceprints");
    }
    drop(index);
    Filled { call_ids, voiceprints }
}

fn uuid_of(idx: usize) -> String {
    format!("00000000-0000-4000-8000-{idx:012x}")
}

fn count_voiceprints(dir: &Path) -> usize {
    count_voiceprints_in(&EdgeVoiceprintIndex::open(dir).expect("open the copied index"))
}

fn count_voiceprints_in(index: &dyn VoiceprintIndex) -> usize {
    let mut count = 0;
    index
        .for_each_page(&mut |page| {
            count += page.len();
            Ok(())
        })
        .expect("list voiceprints");
    count
}

fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&output.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// Runs `callsight ARGS`; (exit status, stdout, stderr).
fn run(args: &[&str], extra: &[PathBuf]) -> (std::process::ExitStatus, String, String) {
    let mut command = callsight();
    command.args(args).args(extra).env_remove("CALLSIGHT__SERVER__DATABASE_URL").stdin(Stdio::null());
    let output = command.output().expect("run callsight");
    (output.status, String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The line of `table` in a migrate/backup report.
fn report_line<'a>(report: &'a str, table: &str) -> &'a str {
    report.lines().find(|line| line.trim_start().starts_with(&format!("{table} "))).unwrap_or("")
}

#[test]
fn migrate_copies_a_data_directory_into_postgresql_verified_resumable_and_read_only() {
    let calls = env_count("CALLSIGHT_MIGRATE_CALLS", 60);
    let voiceprints = env_count("CALLSIGHT_MIGRATE_VOICEPRINTS", 80);
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let filled = fill_data_dir(&data_dir, calls, voiceprints);
    let database_before = sha256_of(&data_dir.join("callsight.db"));
    let database_url = pg::PgCluster::shared().create_database();
    // Voiceprints go to the test Qdrant server when there is one (collections of this run
    // only), else to another embedded index directory.
    let destination_index = temp.path().join("server-voiceprints");
    let server = common::test_qdrant_url().map(|url| (url, format!("cs_migrate_{}_{}_", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_nanos() % 1_000_000_000))));
    let destination_args: Vec<PathBuf> = match &server {
        Some((url, prefix)) => vec![data_dir.clone(), "--to-qdrant".into(), url.into(), "--collection-prefix".into(), prefix.into()],
        None => {
            let _ = writeln!(std::io::stderr(), "migrate: voiceprints go to an embedded index; set CALLSIGHT_TEST_QDRANT_URL to migrate into a Qdrant server");
            vec![data_dir.clone(), "--to-voiceprints-dir".into(), destination_index.clone()]
        }
    };

    let started = Instant::now();
    let (status, stdout, stderr) = run(&["migrate", "--to-database", &database_url, "--data-dir"], &destination_args);
    let first_run_secs = started.elapsed().as_secs_f64();
    assert!(status.success(), "migrate failed ({status}):\n{stdout}\n{stderr}");
    assert!(stdout.contains("migration verified"), "{stdout}\n{stderr}");
    eprintln!("--- migrate of {calls} calls and {voiceprints} voiceprints: {first_run_secs:.1} s ---\n{stderr}");
    let calls_line = report_line(&stderr, "calls");
    assert!(calls_line.contains(&format!("{} rows", calls + 1)) && calls_line.ends_with("ok"), "{calls_line}");
    for table in ["api_keys", "reports", "call_rule_outcomes", "scripts", "reviews", "audit", "speakers", "webhooks", "webhook_deliveries", "jobs"] {
        assert!(report_line(&stderr, table).ends_with("ok"), "table {table} not verified:\n{stderr}");
    }

    // Re-running resumes: everything is there already, nothing is copied twice.
    let (status, stdout, stderr) = run(&["migrate", "--to-database", &database_url, "--data-dir"], &destination_args);
    assert!(status.success() && stdout.contains("migration verified"), "second run:\n{stdout}\n{stderr}");
    assert!(report_line(&stderr, "calls").contains(" 0 copied now"), "{stderr}");

    // What a service on PostgreSQL now sees.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = Store::connect(&database_url).await.expect("open the PostgreSQL store");
        for call_id in [&filled.call_ids[0], &filled.call_ids[calls / 2], &filled.call_ids[calls - 1]] {
            let tenant = if store.get_call("acme", call_id).await.expect("get call").is_some() { "acme" } else { "globex" };
            let call = store.get_call(tenant, call_id).await.expect("get call").expect("the call moved");
            let report = store.get_report(tenant, call_id).await.expect("get report").expect("its report moved");
            assert!(report.transcript_text.contains("has not arrived"), "{}", report.transcript_text);
            assert!(call.audio_path.ends_with(".wav"));
        }
        // Full-text search runs on PostgreSQL's own index over the copied transcripts.
        assert_eq!(store.job_counts().await.expect("job counts").queued, 1, "the queued call is still queued");
        store.close().await;
    });
    match &server {
        Some((url, prefix)) => {
            let index = ServerVoiceprintIndex::connect(url, None, prefix).expect("connect to the test Qdrant server");
            assert_eq!(count_voiceprints_in(&index), filled.voiceprints);
            index.delete_all_collections().expect("drop this run's collections");
        }
        None => assert_eq!(count_voiceprints(&destination_index), filled.voiceprints),
    }
    assert_eq!(sha256_of(&data_dir.join("callsight.db")), database_before, "the source database was not changed");
}

#[test]
fn backup_and_restore_round_trip_a_data_directory() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let filled = fill_data_dir(&data_dir, 12, 20);
    let backup_dir = temp.path().join("backup");
    let (status, stdout, stderr) = run(&["backup", "--data-dir"], &[data_dir.clone(), "--out".into(), backup_dir.clone()]);
    assert!(status.success(), "backup failed ({status}):\n{stdout}\n{stderr}");
    assert!(backup_dir.join("backup.json").is_file() && backup_dir.join("callsight.db").is_file());

    // A backup never overwrites one.
    let (status, _, stderr) = run(&["backup", "--data-dir"], &[data_dir.clone(), "--out".into(), backup_dir.clone()]);
    assert!(!status.success() && stderr.contains("not empty"), "{stderr}");

    let restored = temp.path().join("restored");
    let (status, stdout, stderr) = run(&["restore", "--from"], &[backup_dir.clone(), "--data-dir".into(), restored.clone()]);
    assert!(status.success(), "restore failed ({status}):\n{stdout}\n{stderr}");
    assert!(stdout.contains("restored"), "{stdout}");
    assert!(!stderr.contains("MISMATCH"), "{stderr}");
    assert_eq!(count_voiceprints(&restored.join("voiceprints")), filled.voiceprints);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = Store::connect(&format!("sqlite://{}", restored.join("callsight.db").display())).await.expect("open");
        let call = store.get_call("acme", &filled.call_ids[0]).await.expect("get call").expect("restored call");
        let restored_audio = PathBuf::from(&call.audio_path);
        assert!(restored_audio.starts_with(restored.canonicalize().expect("canonical")), "{}", call.audio_path);
        assert_eq!(std::fs::read_to_string(&restored_audio).expect("restored audio"), "RIFF audio of call 0");
        store.close().await;
    });

    // Restoring over a data directory that has a database is refused.
    let (status, _, stderr) = run(&["restore", "--from"], &[backup_dir, "--data-dir".into(), restored]);
    assert!(!status.success() && stderr.contains("exists"), "{stderr}");
}
