//! End-to-end tests of the service: the real `callsight serve` (and `callsight worker`) binary on
//! a real port, with the real models, on SQLite and on a throwaway PostgreSQL cluster.
//!
//! One server per database carries most assertions (upload → analysed → report, transcript,
//! audio, list, search; bad inputs; roles and tenants), so each database costs one analysis.
//! The kill -9 test runs the API and the workers as separate processes and kills a worker in the
//! middle of a job.

use crate::common;
use crate::pg;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{
    Database, ServiceProcess, agent, callsight, create_key, customer, get, http, multipart, start_server, start_worker,
    synthesize, upload_call, wait_for_call,
};
use serde_json::Value;

/// Bounded wait for one analysis (a ~17 s call, tiny.en, two cores shared with other tests).
const ANALYSIS_LIMIT: Duration = Duration::from_secs(180);

/// tiny.en keeps each analysis to seconds of CPU; the model choice is not what these tests test.
fn analysis_env() -> Vec<(&'static str, String)> {
    vec![("CALLSIGHT__ANALYSIS__MODEL", "tiny.en".into())]
}

/// A short two-party call (about 17 s), synthesised once per test binary; its WAV bytes.
fn test_call() -> &'static [u8] {
    static CALL: OnceLock<Vec<u8>> = OnceLock::new();
    CALL.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("callsight-service-call-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the synthesis directory");
        let call = synthesize(
            &dir,
            "service-call",
            "en",
            &[
                agent(0.5, "Thank you for calling card services, my name is Sam."),
                agent(4.5, "This call may be recorded for quality and training purposes."),
                customer(9.0, "Hi, I was charged twice for my order and I would like a refund."),
                agent(13.5, "I have refunded the second charge for you."),
            ],
            1.5,
        );
        let bytes = std::fs::read(&call.stereo_path).expect("read the synthesised call");
        let _ = std::fs::remove_dir_all(&dir);
        bytes
    })
}

/// The example compliance script, read from the checkout cargo runs the tests in.
fn example_script() -> String {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    std::fs::read_to_string(format!("{root}/examples/card-services.json")).expect("read examples/card-services.json")
}

/// A one-second 8 kHz mono WAV: decodable, far below any size limit.
fn short_wav() -> Vec<u8> {
    let spec = hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("wav writer");
        for n in 0..8000 {
            let sample = (f64::from(n) * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin() * 8000.0;
            writer.write_sample(sample as i16).expect("write sample");
        }
        writer.finalize().expect("finalize wav");
    }
    cursor.into_inner()
}

fn fresh_dir(label: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("callsight-service-{label}-")).tempdir().expect("create a temp dir")
}

fn postgres() -> Database {
    Database::Postgres { url: pg::PgCluster::shared().create_database() }
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// The error answer is a 4xx with the JSON envelope, its message naming the problem.
#[track_caller]
fn expect_rejected(server: &ServiceProcess, what: &str, response: &common::HttpResponse, status: u16, needle: &str) {
    server.expect_status(what, response, status);
    let message = response.error_message();
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "{what}: the message should mention {needle:?}: {message:?}"
    );
    // Still answering, and with the database behind it.
    let health = http(&server.addr, "GET", "/readyz", &[], &[]);
    assert_eq!(health.status, 200, "after {what}, /readyz answered {}: {}", health.status, health.text());
}

/// The word of the transcript to search for: the longest purely alphabetic one.
fn search_word(report: &Value) -> String {
    let mut words: Vec<String> = report["turns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|turn| turn["text"].as_str())
        .flat_map(|text| text.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_alphabetic()).to_lowercase()))
        .filter(|w| w.len() >= 5 && w.chars().all(|c| c.is_ascii_alphabetic()))
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words.into_iter().next().unwrap_or_else(|| panic!("no searchable word in the transcript: {}", report["turns"]))
}

fn transcript_text(report: &Value) -> String {
    report["turns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|turn| turn["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one body run on each database.
fn upload_analyse_and_read_back(database: Database) {
    let dir = fresh_dir(database.name());
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("create the data directory");
    let admin = create_key(&data_dir, &database, "tenant-a", "admin");
    let ingest = create_key(&data_dir, &database, "tenant-a", "ingest");
    let other_admin = create_key(&data_dir, &database, "tenant-b", "admin");

    let call_bytes = test_call();
    // Room for the test call, not for twice its size.
    let max_upload_bytes = call_bytes.len() as u64 + 64 * 1024;
    let mut env = analysis_env();
    env.push(("CALLSIGHT__SERVER__MAX_UPLOAD_BYTES", max_upload_bytes.to_string()));
    let server = start_server(&data_dir, &database, 1, &env);
    let addr = server.addr.clone();

    // A script to score against, then the call, uploaded by the recorder's ingest key.
    let script = http(
        &addr,
        "POST",
        "/v1/scripts",
        &[("Authorization", &bearer(&admin)), ("Content-Type", "application/json")],
        example_script().as_bytes(),
    );
    server.expect_status("create the script", &script, 201);
    let metadata = r#"{"external_call_id": "rec-0001", "agent_id": "agent-7", "team": "cards",
        "customer_id": "cust-42", "channels": "agent,customer", "script_id": "card-services", "language": "en"}"#;
    let accepted = upload_call(&addr, &ingest, call_bytes, Some(metadata));
    server.expect_status("upload the call", &accepted, 202);
    let call_id = accepted.json()["call_id"].as_str().expect("call_id in the 202").to_string();
    assert_eq!(accepted.header("location"), Some(format!("/v1/calls/{call_id}").as_str()));

    // While it is analysed: bad inputs, roles and tenants against the same running server.
    bad_inputs_are_refused_and_the_server_keeps_answering(&server, &admin, call_bytes, max_upload_bytes);
    roles_and_tenants_are_enforced(&server, &call_id, &ingest, &other_admin);

    let view = wait_for_call(&addr, &admin, &call_id, ANALYSIS_LIMIT, |s| s == "analyzed" || s == "failed");
    assert_eq!(view["status"], "analyzed", "call after analysis: {view}\n--- server log ---\n{}", server.log_tail());
    assert_eq!(view["agent_id"], "agent-7");
    assert_eq!(view["script_id"], "card-services");
    assert_eq!(view["channel_layout"], "agent_customer");
    assert!(view["summary"].is_object(), "an analysed call has a summary: {view}");

    // The report: the analyze JSON, with turns and the script's rules.
    let report_response = get(&addr, &format!("/v1/calls/{call_id}/report"), &admin);
    server.expect_status("report", &report_response, 200);
    let report = report_response.json();
    let text = transcript_text(&report).to_lowercase();
    assert!(
        ["card", "refund", "recorded", "charge"].iter().any(|w| text.contains(w)),
        "the transcript should hold words of the call: {text:?}"
    );
    let rules = report["compliance"]["rules"].as_array().map(Vec::len).unwrap_or(0);
    assert!(rules > 0, "the report is scored against the call's script: {}", report["compliance"]);

    // Transcript as SRT.
    let srt = get(&addr, &format!("/v1/calls/{call_id}/transcript?format=srt"), &admin);
    server.expect_status("SRT transcript", &srt, 200);
    assert!(srt.header("content-type").unwrap_or_default().starts_with("application/x-subrip"), "{:?}", srt.headers);
    let srt_text = srt.text();
    assert!(srt_text.starts_with("1\n") || srt_text.starts_with("1\r\n"), "SRT numbering: {srt_text:?}");
    assert!(srt_text.contains(" --> "), "SRT cue times: {srt_text:?}");

    // The audio, byte for byte, and a range of it.
    let audio = get(&addr, &format!("/v1/calls/{call_id}/audio"), &admin);
    server.expect_status("audio download", &audio, 200);
    assert_eq!(audio.header("content-type"), Some("audio/wav"));
    assert!(audio.body == call_bytes, "downloaded audio ({} bytes) differs from the upload ({} bytes)", audio.body.len(), call_bytes.len());
    let range = http(
        &addr,
        "GET",
        &format!("/v1/calls/{call_id}/audio"),
        &[("Authorization", &bearer(&admin)), ("Range", "bytes=0-11")],
        &[],
    );
    server.expect_status("audio range", &range, 206);
    assert_eq!(range.body, call_bytes[..12]);

    // Listing with filters.
    let listed = get(&addr, "/v1/calls?agent=agent-7&script=card-services&status=analyzed", &admin);
    server.expect_status("list with filters", &listed, 200);
    let listed = listed.json();
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["calls"][0]["call_id"], call_id.as_str());
    let none = get(&addr, "/v1/calls?agent=agent-8", &admin).json();
    assert_eq!(none["total"], 0, "another agent's filter matches nothing: {none}");

    // Full-text search finds a word of the transcript, for this tenant only.
    let word = search_word(&report);
    let hits = get(&addr, &format!("/v1/search?q={word}"), &admin);
    server.expect_status("search", &hits, 200);
    let hits = hits.json();
    let found: Vec<&Value> = hits["hits"].as_array().into_iter().flatten().filter(|h| h["call_id"] == call_id.as_str()).collect();
    assert_eq!(found.len(), 1, "search for {word:?} finds the call once: {hits}");
    let elsewhere = get(&addr, &format!("/v1/search?q={word}"), &other_admin).json();
    assert_eq!(elsewhere["hits"].as_array().map(Vec::len), Some(0), "tenant B finds nothing of tenant A: {elsewhere}");

    // The ingest key that uploaded it still cannot read the finished report.
    let ingest_report = get(&addr, &format!("/v1/calls/{call_id}/report"), &ingest);
    server.expect_status("ingest key reads the report", &ingest_report, 403);
}

fn bad_inputs_are_refused_and_the_server_keeps_answering(
    server: &ServiceProcess,
    admin: &str,
    call_bytes: &[u8],
    max_upload_bytes: u64,
) {
    let addr = &server.addr;
    let auth = bearer(admin);

    let not_audio = b"Hello, this is a text file and not a recording at all.\n".repeat(20);
    let response = upload_call(addr, admin, &not_audio, None);
    expect_rejected(server, "not audio", &response, 422, "not a usable recording");

    let truncated = &call_bytes[..call_bytes.len() / 2];
    let response = upload_call(addr, admin, truncated, None);
    expect_rejected(server, "truncated WAV", &response, 422, "truncated");

    let header_only = &call_bytes[..30];
    let response = upload_call(addr, admin, header_only, None);
    expect_rejected(server, "WAV cut inside its header", &response, 422, "truncated");

    let response = upload_call(addr, admin, &[], None);
    expect_rejected(server, "0 bytes", &response, 422, "empty");

    let response =
        http(addr, "POST", "/v1/calls", &[("Authorization", &auth), ("Content-Type", "application/json")], br#"{"audio": "x"}"#);
    expect_rejected(server, "JSON body instead of multipart", &response, 415, "multipart/form-data");

    let small = short_wav();
    let (body, content_type) = multipart(&[("audio", Some("notes.txt"), Some("text/plain"), &small)]);
    let response = http(addr, "POST", "/v1/calls", &[("Authorization", &auth), ("Content-Type", &content_type)], &body);
    expect_rejected(server, "audio part typed text/plain", &response, 415, "content type");

    let response = upload_call(addr, admin, &small, Some(r#"{"agent_id": "agent-7", "#));
    expect_rejected(server, "malformed metadata JSON", &response, 400, "not valid json");

    let response = upload_call(addr, admin, &small, Some(r#"{"agent_id": 7}"#));
    expect_rejected(server, "metadata of the wrong type", &response, 422, "metadata");

    let response = upload_call(addr, admin, &small, Some(r#"{"script_id": "no-such-script"}"#));
    expect_rejected(server, "unknown script id", &response, 422, "unknown script");

    let response = upload_call(addr, admin, &small, Some(r#"{"external_call_id": "rec-0001"}"#));
    expect_rejected(server, "duplicate external_call_id", &response, 409, "already exists");

    let (body, content_type) = multipart(&[("metadata", None, Some("application/json"), b"{}")]);
    let response = http(addr, "POST", "/v1/calls", &[("Authorization", &auth), ("Content-Type", &content_type)], &body);
    expect_rejected(server, "no audio part", &response, 400, "missing file part `audio`");

    let oversized = [call_bytes, call_bytes].concat();
    assert!(oversized.len() as u64 > max_upload_bytes);
    let response = upload_call(addr, admin, &oversized, None);
    expect_rejected(server, "over the size limit", &response, 413, "larger than the limit");

    // None of them was recorded: the tenant has only the one good call.
    let listed = get(addr, "/v1/calls", admin);
    server.expect_status("list after bad inputs", &listed, 200);
    assert_eq!(listed.json()["total"], 1, "no refused upload was recorded: {}", listed.text());
}

fn roles_and_tenants_are_enforced(server: &ServiceProcess, call_id: &str, ingest: &str, other_admin: &str) {
    let addr = &server.addr;
    for path in [format!("/v1/calls/{call_id}"), format!("/v1/calls/{call_id}/report"), "/v1/calls".to_string()] {
        let response = get(addr, &path, ingest);
        expect_rejected(server, &format!("ingest key GET {path}"), &response, 403, "may not read calls");
    }
    for path in [
        format!("/v1/calls/{call_id}"),
        format!("/v1/calls/{call_id}/report"),
        format!("/v1/calls/{call_id}/transcript?format=srt"),
        format!("/v1/calls/{call_id}/audio"),
    ] {
        let response = get(addr, &path, other_admin);
        expect_rejected(server, &format!("tenant B admin GET {path}"), &response, 404, "not found");
    }
    let response = http(addr, "POST", &format!("/v1/calls/{call_id}/reanalyze"), &[("Authorization", &bearer(other_admin))], &[]);
    expect_rejected(server, "tenant B admin re-analyses tenant A's call", &response, 404, "not found");
    let listed = get(addr, "/v1/calls", other_admin);
    server.expect_status("tenant B lists calls", &listed, 200);
    assert_eq!(listed.json()["total"], 0, "tenant B sees none of tenant A's calls: {}", listed.text());
    let response = get(addr, "/v1/calls", "cs_not_a_key");
    expect_rejected(server, "unknown key", &response, 401, "api key");
}

#[test]
fn sqlite_upload_analyse_report_transcript_audio_list_search_bad_inputs_roles() {
    upload_analyse_and_read_back(Database::Sqlite);
}

#[test]
fn postgres_upload_analyse_report_transcript_audio_list_search_bad_inputs_roles() {
    upload_analyse_and_read_back(postgres());
}

/// The value of `callsight_jobs{state="..."}` in a Prometheus scrape.
fn jobs_in_state(metrics: &str, state: &str) -> f64 {
    let prefix = format!("callsight_jobs{{state=\"{state}\"}}");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{metrics}"))
}

/// `serve --workers 0` plus a separate `callsight worker`; the worker is killed with SIGKILL
/// while the call is `running`; a second worker takes the job over once the lease runs out.
fn worker_killed_mid_job_is_finished_once(database: Database) {
    let started = Instant::now();
    let at = || format!("{:6.1} s", started.elapsed().as_secs_f64());
    let dir = fresh_dir(&format!("kill9-{}", database.name()));
    let data_dir: PathBuf = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("create the data directory");
    let admin = create_key(&data_dir, &database, "tenant-a", "admin");
    let mut env = analysis_env();
    env.push(("CALLSIGHT__WORKERS__LEASE_SECS", "6".into()));
    env.push(("CALLSIGHT__WORKERS__HEARTBEAT_SECS", "2".into()));
    // Job start/finish lines (with the attempt number) in the workers' logs, for the timeline.
    env.push(("CALLSIGHT_LOG", "warn,callsight_workers=info".into()));
    env.push(("NO_COLOR", "1".into()));
    let server = start_server(&data_dir, &database, 0, &env);
    let addr = server.addr.clone();
    // A worker that wants the server's embedded voiceprint index is refused, saying why (on a
    // Qdrant server, `CALLSIGHT_TEST_QDRANT_URL`, any number of processes share the index).
    if common::test_qdrant_url().is_none() {
        let mut second_holder = callsight();
        database.apply(&mut second_holder);
        second_holder.args(["worker", "--concurrency", "1", "--data-dir"]).arg(&data_dir);
        second_holder.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let refused = second_holder.output().expect("run callsight worker");
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "a second holder of the embedded index must not start");
        assert!(message.contains("open in another process") && message.contains("--without-biometrics"), "{message}");
    }
    let mut first_worker = start_worker(&data_dir, &database, 1, &env);
    eprintln!("[{}] {}: API pid {}, first worker pid {}", at(), database.name(), server.pid(), first_worker.pid());

    let accepted = upload_call(&addr, &admin, test_call(), Some(r#"{"channels": "agent,customer"}"#));
    server.expect_status("upload", &accepted, 202);
    let call_id = accepted.json()["call_id"].as_str().expect("call_id").to_string();
    eprintln!("[{}] uploaded call {call_id}", at());

    let view = wait_for_call(&addr, &admin, &call_id, ANALYSIS_LIMIT, |s| s != "queued");
    assert_eq!(
        view["status"], "running",
        "the first worker should be analysing the call: {view}\n--- worker log ---\n{}",
        first_worker.log_tail()
    );
    eprintln!("[{}] call is running", at());
    // A moment into the analysis (decoding, VAD), still well before its end even on a fast machine
    // (the whole job takes about 3 s of tiny.en on 2 cores); checked below.
    std::thread::sleep(Duration::from_millis(500));
    let killed = first_worker.kill_9();
    eprintln!("[{}] first worker killed: {killed}", at());
    let kill_log = first_worker.log_tail();
    eprintln!("--- first worker log ---\n{kill_log}");

    let view = get(&addr, &format!("/v1/calls/{call_id}"), &admin).json();
    assert_eq!(
        view["status"], "running",
        "the job must still be unfinished when its worker dies (else this test proves nothing): {view}"
    );
    let metrics = get(&addr, "/metrics", common::METRICS_TOKEN).text();
    assert_eq!(jobs_in_state(&metrics, "running"), 1.0, "the dead worker's job still holds its lease");
    let report = get(&addr, &format!("/v1/calls/{call_id}/report"), &admin);
    server.expect_status("report of the unfinished call", &report, 404);

    let second_worker = start_worker(&data_dir, &database, 1, &env);
    eprintln!("[{}] second worker pid {} started", at(), second_worker.pid());
    let view = wait_for_call(&addr, &admin, &call_id, ANALYSIS_LIMIT, |s| s == "analyzed" || s == "failed");
    eprintln!("[{}] call status {}", at(), view["status"]);
    assert_eq!(
        view["status"], "analyzed",
        "the second worker finishes the job: {view}\n--- first worker log ---\n{kill_log}\n--- second worker log ---\n{}",
        second_worker.log_tail()
    );
    assert!(view["error"].is_null(), "no error left on the call: {view}");

    let report = get(&addr, &format!("/v1/calls/{call_id}/report"), &admin);
    server.expect_status("report after the takeover", &report, 200);
    let report = report.json();
    let word = search_word(&report);
    let hits = get(&addr, &format!("/v1/search?q={word}"), &admin).json();
    let found = hits["hits"].as_array().into_iter().flatten().filter(|h| h["call_id"] == call_id.as_str()).count();
    assert_eq!(found, 1, "one transcript indexed for the call (no duplicate write): {hits}");
    let listed = get(&addr, "/v1/calls", &admin).json();
    assert_eq!(listed["total"], 1, "one call: {listed}");

    // The job is done, once: nothing queued, running or dead is left.
    let metrics = get(&addr, "/metrics", common::METRICS_TOKEN).text();
    for (state, expected) in [("done", 1.0), ("running", 0.0), ("queued", 0.0), ("dead", 0.0)] {
        assert_eq!(jobs_in_state(&metrics, state), expected, "jobs {state}:\n{metrics}");
    }
    eprintln!("[{}] done: one job done, one report\n--- second worker log ---\n{}", at(), second_worker.log_tail());
    eprintln!("--- API server log ---\n{}", server.log_tail());
}

#[test]
fn sqlite_worker_killed_mid_job_is_finished_once_by_another_worker() {
    worker_killed_mid_job_is_finished_once(Database::Sqlite);
}

#[test]
fn postgres_worker_killed_mid_job_is_finished_once_by_another_worker() {
    worker_killed_mid_job_is_finished_once(postgres());
}

/// The caller's voice at work in the service: a call uploaded with `enroll_customer_voice`
/// enrols the customer; once the same voice is on the fraudster watchlist, the next call is
/// flagged, the hit audited, and the caller is not enrolled from it; the IVR's verification of
/// the passively enrolled customer accepts the voice and reports the watchlist hit.
#[test]
fn callers_are_enrolled_passively_and_screened_against_the_watchlist() {
    let database = Database::Sqlite;
    let dir = fresh_dir("voices");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("create the data directory");
    let admin = create_key(&data_dir, &database, "tenant-a", "admin");
    let ivr = create_key(&data_dir, &database, "tenant-a", "ivr");
    let mut env = analysis_env();
    // The test call's customer speaks about 10 s; a real deployment asks for more.
    env.push(("CALLSIGHT__BIOMETRICS__MIN_ENROL_NET_SPEECH_SECS", "6".into()));
    let server = start_server(&data_dir, &database, 1, &env);
    let addr = server.addr.clone();

    let synth_dir = dir.path().join("synth");
    std::fs::create_dir_all(&synth_dir).expect("create the synthesis directory");
    let call = synthesize(
        &synth_dir,
        "voices-call",
        "en",
        &[
            agent(0.5, "Thank you for calling card services, my name is Sam."),
            customer(4.5, "Hello, I would like to check the balance of my savings account please."),
            agent(10.0, "Of course. Can you confirm the first line of your address?"),
            customer(14.0, "Yes, it is twenty two Baker Street, London, and the postcode is north west one."),
        ],
        1.0,
    );
    let call_bytes = std::fs::read(&call.stereo_path).expect("read the call");
    // The same voice saying other words: the fraudster's enrolment and the IVR's probe.
    let other = synthesize(
        &synth_dir,
        "voices-other",
        "en",
        &[
            customer(0.3, "I lost my card yesterday and I need a new one sent to a different address."),
            customer(6.0, "My mother's maiden name is Johnson and I was born in nineteen seventy."),
            customer(11.5, "Please hurry, I need the money transferred today."),
        ],
        0.5,
    );
    // Only the customer speaks in it: its mono mix is that one voice.
    let other_bytes =
        std::fs::read(synth_dir.join("voices-other-mono16k.wav")).expect("read the other recording");
    assert!(other.duration_secs > 15.0, "enough speech for an enrolment");

    let metadata = |external: &str| {
        format!(r#"{{"external_call_id": "{external}", "channels": "agent,customer", "customer_id": "cust-9", "enroll_customer_voice": true}}"#)
    };
    let analysed = |response: common::HttpResponse| -> String {
        server.expect_status("upload", &response, 202);
        let call_id = response.json()["call_id"].as_str().expect("call id").to_string();
        let done = wait_for_call(&addr, &admin, &call_id, ANALYSIS_LIMIT, |status| status == "analyzed" || status == "failed");
        assert_eq!(done["status"], "analyzed", "{done}\n{}", server.log_tail());
        call_id
    };
    let audit = || get(&addr, "/v1/audit?limit=100", &admin).json()["entries"].as_array().cloned().unwrap_or_default();

    // 1. No watchlist yet: the call is not flagged for the voice, and the caller is enrolled.
    let first = analysed(upload_call(&addr, &admin, &call_bytes, Some(&metadata("voices-1"))));
    let report = get(&addr, &format!("/v1/calls/{first}/report"), &admin).json();
    assert!(!report.to_string().contains("watchlist_hit"), "no watchlist yet: {}", report["flags"]);
    let entries = audit();
    assert!(
        entries.iter().any(|e| e["action"] == "enrol" && e["speaker_id"] == "cust-9" && e["outcome"] == "enrolled"),
        "the caller is enrolled passively: {entries:?}\n{}",
        server.log_tail()
    );

    // 1b. The same call's analysis runs again (a job retried after a crash, here a re-analysis):
    // its speech is not added to the voiceprint a second time, nor audited twice.
    let reanalysis = http(&addr, "POST", &format!("/v1/calls/{first}/reanalyze"), &[("Authorization", &bearer(&admin))], b"");
    server.expect_status("reanalyze", &reanalysis, 202);
    let done = wait_for_call(&addr, &admin, &first, ANALYSIS_LIMIT, |status| status == "analyzed" || status == "failed");
    assert_eq!(done["status"], "analyzed", "{done}\n{}", server.log_tail());
    // Passive enrolment runs inside the analysis job, so it is over once the call is analysed.
    let passive_entries: Vec<Value> =
        audit().into_iter().filter(|e| e["action"] == "enrol" && e["details"]["call_id"] == first.as_str()).collect();
    assert_eq!(passive_entries.len(), 1, "one passive enrolment of the call: {passive_entries:?}\n{}", server.log_tail());

    // 2. The voice goes on the watchlist; the next call from it is flagged and not enrolled.
    let (body, content_type) = multipart(&[("audio", Some("fraud.wav"), Some("audio/wav"), &other_bytes)]);
    let added = http(
        &addr,
        "POST",
        "/v1/watchlist/fraud-1",
        &[("Authorization", &bearer(&admin)), ("Content-Type", &content_type)],
        &body,
    );
    server.expect_status("watchlist add", &added, 200);
    assert_eq!(added.json()["status"], "enrolled", "{}", added.text());
    let second = analysed(upload_call(&addr, &admin, &call_bytes, Some(&metadata("voices-2"))));
    let call = get(&addr, &format!("/v1/calls/{second}"), &admin).json();
    assert_eq!(call["summary"]["flagged"], true, "{call}");
    let report = get(&addr, &format!("/v1/calls/{second}/report"), &admin).json();
    let flags = report["flags"].as_array().cloned().unwrap_or_default();
    let hit = flags.iter().find(|f| f["kind"] == "watchlist_hit").unwrap_or_else(|| panic!("a watchlist flag: {flags:?}"));
    assert_eq!(hit["severity"], "high", "{hit}");
    assert!(hit["reason"].as_str().unwrap_or("").contains("fraud-1"), "{hit}");
    let entries = audit();
    let about_second = |e: &&Value| e["details"]["call_id"] == second.as_str();
    assert!(
        entries.iter().filter(about_second).any(|e| e["action"] == "screen" && e["outcome"] == "watchlist_hit"),
        "the hit is audited: {entries:?}"
    );
    assert!(
        entries.iter().filter(about_second).any(|e| e["action"] == "enrol" && e["outcome"] == "skipped"),
        "a watchlisted voice is not enrolled: {entries:?}"
    );

    // 3. The IVR verifies the passively enrolled customer with new words in the same voice.
    let (body, content_type) = multipart(&[("audio", Some("probe.wav"), Some("audio/wav"), &other_bytes)]);
    let verified = http(
        &addr,
        "POST",
        "/v1/speakers/cust-9/verify",
        &[("Authorization", &bearer(&ivr)), ("Content-Type", &content_type)],
        &body,
    );
    server.expect_status("verify", &verified, 200);
    let verdict = verified.json();
    assert_eq!(verdict["decision"], "accept", "{verdict}");
    assert_eq!(verdict["watchlist_hits"][0]["speaker_id"], "fraud-1", "{verdict}");
}
