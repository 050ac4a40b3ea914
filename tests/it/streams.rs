//! Live calls end to end: the real `callsight serve` with the real models, driven over a real
//! WebSocket by the real `callsight stream` client (tokio-tungstenite, RFC 6455).
//!
//! One server carries every check so the models load once: a synthesised call streamed in small
//! random-sized frames yields finals that match the batch transcript of the same recording; the
//! forbidden phrase raises an alert pointing at the words; the claimed customer (enrolled through
//! the API first) is verified; the streamed call is stored and analysed without a second
//! transcription; a client that vanishes mid-call leaves no open stream behind and its audio so
//! far is stored and analysed; a stream beyond capacity is refused with 503; live alerts reach
//! a webhook receiver as `stream.alert` events; and a stream open when the server gets SIGTERM
//! is ended, stored and (after a restart on the same data directory) analysed, and one cut by
//! SIGKILL is recorded from its partial recording at the next start.

use crate::common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{
    Database, WebhookReceiver, agent, callsight, create_key, customer, get, http, multipart, start_server, synthesize,
    upload_call, wait_for_call,
};
use serde_json::Value;

/// Bounded waits (tiny.en, two cores shared with other tests).
const ANALYSIS_LIMIT: Duration = Duration::from_secs(180);

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// Lower-case words without punctuation.
fn words_of(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate of `hypothesis` against `reference` (Levenshtein over words).
fn word_error_rate(reference: &[String], hypothesis: &[String]) -> f64 {
    let mut previous: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut current = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(r != h)).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[hypothesis.len()] as f64 / reference.len().max(1) as f64
}

/// Runs `callsight stream` to the end; its events (one JSON per line), exit status and stderr.
fn stream(addr: &str, key: &str, file: &Path, extra: &[&str]) -> (Vec<Value>, std::process::ExitStatus, String) {
    let output = callsight()
        .arg("stream")
        .arg(file)
        .args(["--url", &format!("ws://{addr}/v1/streams"), "--key", key, "--format", "json"])
        .args(extra)
        .output()
        .expect("run callsight stream");
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect();
    (events, output.status, String::from_utf8_lossy(&output.stderr).to_string())
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn active_streams(addr: &str, admin: &str) -> Option<f64> {
    let _ = admin;
    let metrics = get(addr, "/metrics", common::METRICS_TOKEN).text();
    metrics.lines().find_map(|line| line.strip_prefix("callsight_streams_active ")?.trim().parse().ok())
}

fn wait_for_active_streams(addr: &str, admin: &str, expected: f64) {
    let deadline = Instant::now() + ANALYSIS_LIMIT;
    while active_streams(addr, admin) != Some(expected) {
        assert!(Instant::now() < deadline, "callsight_streams_active never became {expected}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn live_stream_transcribes_alerts_verifies_stores_and_sheds_load() {
    let work = tempfile::Builder::new().prefix("callsight-streams-").tempdir().expect("temp dir");
    let call = synthesize(
        work.path(),
        "live-call",
        "en",
        &[
            agent(0.5, "Thank you for calling card services, my name is Sam."),
            customer(4.5, "Hello Sam, I was charged twice for my last order and I would like my money back please."),
            agent(11.0, "I am sorry about that. I guarantee you will have the refund by Friday."),
            customer(16.5, "Thank you, that is all I needed today, have a good afternoon."),
        ],
        1.5,
    );
    // The same customer voice, other words: the enrolment.
    let enrolment = synthesize(
        work.path(),
        "enrolment",
        "en",
        &[
            customer(0.3, "My name is Alex and I have been a customer of this bank for many years now."),
            customer(6.5, "Please call me back on my mobile number after five in the evening, thank you very much."),
            customer(13.0, "I would like to update the address on my account to my new flat in the city centre."),
        ],
        1.0,
    );

    let data_dir = work.path().join("data");
    let database = Database::Sqlite;
    let ingest = create_key(&data_dir, &database, "bank-a", "ingest");
    let admin = create_key(&data_dir, &database, "bank-a", "admin");
    let env = vec![
        ("CALLSIGHT__ANALYSIS__MODEL", "tiny.en".to_string()),
        ("CALLSIGHT__STREAMS__MODEL", "tiny.en".to_string()),
        ("CALLSIGHT__STREAMS__CAPACITY", "1".to_string()),
        // The webhook receiver listens on 127.0.0.1.
        ("CALLSIGHT__SERVER__WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true".to_string()),
    ];
    let mut server = start_server(&data_dir, &database, 1, &env);
    let addr = server.addr.clone();
    let receiver = WebhookReceiver::start();
    let subscribed = http(
        &addr,
        "POST",
        "/v1/webhooks",
        &[("Authorization", &bearer(&admin)), ("Content-Type", "application/json")],
        serde_json::json!({"url": receiver.url, "events": ["stream.alert"]}).to_string().as_bytes(),
    );
    assert_eq!(subscribed.status, 201, "create the webhook: {}", subscribed.text());

    // A script with a forbidden phrase, and the customer's voiceprint, through the API.
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let script = std::fs::read(format!("{root}/examples/card-services.json")).expect("read the example script");
    let created = http(&addr, "POST", "/v1/scripts", &[("Authorization", &bearer(&admin)), ("Content-Type", "application/json")], &script);
    assert_eq!(created.status, 201, "create the script: {}", created.text());
    let enrol_audio = std::fs::read(&enrolment.stereo_path).expect("read the enrolment audio");
    let (body, content_type) =
        multipart(&[("audio", Some("enrol.wav"), Some("audio/wav"), &enrol_audio), ("min_net_speech_secs", None, None, b"8")]);
    let enrolled = http(
        &addr,
        "POST",
        "/v1/speakers/cust-7/enroll",
        &[("Authorization", &bearer(&admin)), ("Content-Type", &content_type)],
        &body,
    );
    assert_eq!(enrolled.status, 200, "enrol: {}\n{}", enrolled.text(), server.log_tail());
    assert_eq!(enrolled.json()["status"], "enrolled", "{}", enrolled.text());

    // The batch transcript of the same recording, for reference.
    let call_audio = std::fs::read(&call.stereo_path).expect("read the call");
    let uploaded = upload_call(&addr, &admin, &call_audio, Some(r#"{"channels": "agent,customer", "language": "en"}"#));
    assert_eq!(uploaded.status, 202, "upload: {}", uploaded.text());
    let batch_id = uploaded.json()["call_id"].as_str().expect("call id").to_string();
    let view = wait_for_call(&addr, &admin, &batch_id, ANALYSIS_LIMIT, |s| s == "analyzed" || s == "failed");
    assert_eq!(view["status"], "analyzed", "{view}\n{}", server.log_tail());
    let batch = get(&addr, &format!("/v1/calls/{batch_id}/transcript"), &admin).json();
    let batch_text = |speaker: &str| -> Vec<String> {
        batch["turns"].as_array().into_iter().flatten().filter(|t| t["speaker"] == speaker).flat_map(|t| words_of(t["text"].as_str().unwrap_or(""))).collect()
    };

    // Live: small random-sized frames (cut anywhere, even inside a sample), as fast as possible.
    let path = call.stereo_path.to_str().expect("utf-8 path");
    let (events, status, stderr) = stream(
        &addr,
        &ingest,
        Path::new(path),
        &["--random-frames", "--frame-ms", "30", "--script-id", "card-services", "--claimed-customer-id", "cust-7", "--external-call-id", "live-1"],
    );
    assert!(status.success(), "callsight stream failed: {stderr}\n{}", server.log_tail());
    assert_eq!(events.first().map(|e| e["type"].clone()), Some(Value::from("started")), "{events:?}");
    for speaker in ["agent", "customer"] {
        let live: Vec<String> = of_type(&events, "final")
            .iter()
            .filter(|e| e["speaker"] == speaker)
            .flat_map(|e| words_of(e["text"].as_str().unwrap_or("")))
            .collect();
        let batch_words = batch_text(speaker);
        let truth: Vec<String> = call
            .lines
            .iter()
            .filter(|l| format!("{:?}", l.party).to_lowercase() == speaker)
            .flat_map(|l| words_of(l.text))
            .collect();
        // Streaming must not cost accuracy: no worse than batch on the same audio (tiny.en on
        // synthetic voices misses words either way), and close to the batch transcript.
        let (live_wer, batch_wer) = (word_error_rate(&truth, &live), word_error_rate(&truth, &batch_words));
        assert!(
            live_wer <= batch_wer + 0.15,
            "{speaker}: live WER {live_wer:.2} vs batch WER {batch_wer:.2}\nlive  {live:?}\nbatch {batch_words:?}"
        );
        // Close to the batch transcript, unless it differs by being nearer to what was said. Both
        // are tiny.en on synthetic voices, fed here faster than real time in random pieces, so
        // neither is deterministic: 22-38 % apart over eight runs, 41 % in one CI run where the
        // live words were the better ones (0.40 against the script, batch 0.50).
        let agreement = word_error_rate(&batch_words, &live);
        eprintln!("{speaker}: live WER {live_wer:.2}, batch WER {batch_wer:.2}, live vs batch {agreement:.2}");
        assert!(
            agreement <= 0.45 || live_wer <= batch_wer,
            "{speaker}: live {live:?} vs batch {batch_words:?} (WER {agreement:.2}; against the script live {live_wer:.2}, batch {batch_wer:.2})"
        );
    }
    // Finals carry word timings in stream time, inside the line that was spoken.
    for final_event in of_type(&events, "final") {
        let words = final_event["words"].as_array().expect("words");
        assert!(!words.is_empty(), "{final_event}");
        for word in words {
            let start = word["start_secs"].as_f64().expect("start");
            assert!(
                call.lines.iter().any(|l| start >= l.start_secs - 0.5 && start <= l.end_secs + 0.5),
                "word {word} is outside every spoken line"
            );
        }
    }
    let guarantee_line = call.lines.iter().find(|l| l.text.contains("guarantee")).expect("the line");
    let alerts = of_type(&events, "alert");
    let forbidden: Vec<&Value> = alerts.iter().copied().filter(|a| a["kind"] == "forbidden_phrase").collect();
    assert_eq!(forbidden.len(), 1, "{events:?}");
    assert_eq!(forbidden[0]["rule_id"], "no-guarantees");
    let alert_start = forbidden[0]["start_secs"].as_f64().expect("start");
    assert!(
        alert_start >= guarantee_line.start_secs - 0.5 && alert_start <= guarantee_line.end_secs,
        "alert at {alert_start} s, the phrase is in {:.1}..{:.1} s",
        guarantee_line.start_secs,
        guarantee_line.end_secs
    );
    let verifications = of_type(&events, "verification");
    let last = verifications.last().unwrap_or_else(|| panic!("no verification event: {events:?}"));
    assert_eq!(last["speaker_id"], "cust-7");
    assert!(last["decision"] == "accept" || last["decision"] == "reject", "no decision: {last}");
    assert!(last["net_speech_secs"].as_f64().unwrap_or(0.0) >= 3.0, "{last}");
    let audit = get(&addr, "/v1/audit", &admin).json();
    assert!(
        audit.to_string().contains("\"stream\"") && audit.to_string().contains("cust-7"),
        "live verifications are audited: {audit}"
    );
    let summary = events.last().expect("events");
    assert_eq!(summary["type"], "summary", "{events:?}");
    let live_id = summary["call_id"].as_str().expect("the stream was stored").to_string();

    // The live alert also went to the webhook, while the call was live, naming the stream's call.
    let (_, delivered) = receiver
        .wait_for(Duration::from_secs(60), |event, body| event == "stream.alert" && body["data"]["alert"]["rule_id"] == "no-guarantees")
        .unwrap_or_else(|received| panic!("no stream.alert delivery: {received:?}\n{}", server.log_tail()));
    assert_eq!(delivered["event"], "stream.alert");
    assert_eq!(delivered["data"]["call_id"], live_id.as_str(), "{delivered}");
    assert_eq!(delivered["data"]["external_call_id"], "live-1", "{delivered}");
    assert_eq!(delivered["data"]["alert"]["kind"], "forbidden_phrase", "{delivered}");
    let audio_secs = delivered["data"]["audio_secs"].as_f64().expect("audio_secs");
    assert!(audio_secs >= alert_start && audio_secs <= 30.0, "alert at {alert_start} s delivered at audio time {audio_secs} s");

    // Stored and analysed like an upload, from the live transcript.
    let view = wait_for_call(&addr, &admin, &live_id, ANALYSIS_LIMIT, |s| s == "analyzed" || s == "failed");
    assert_eq!(view["status"], "analyzed", "{view}\n{}", server.log_tail());
    assert_eq!(view["external_call_id"], "live-1");
    assert_eq!(view["script_id"], "card-services");
    // The live verification belongs to the stored call: reviewers find it on the call.
    let biometrics = get(&addr, &format!("/v1/calls/{live_id}/biometrics"), &admin).json();
    assert!(
        biometrics["entries"].as_array().into_iter().flatten().any(|e| e["action"] == "verify" && e["source"] == "stream"),
        "the stream's verification is listed for the call: {biometrics}"
    );
    let stored = get(&addr, &format!("/v1/calls/{live_id}/transcript"), &admin).json();
    let stored_words: Vec<String> =
        stored["turns"].as_array().into_iter().flatten().flat_map(|t| words_of(t["text"].as_str().unwrap_or(""))).collect();
    let live_words: Vec<String> = of_type(&events, "final").iter().flat_map(|e| words_of(e["text"].as_str().unwrap_or(""))).collect();
    let mut sorted_stored = stored_words.clone();
    let mut sorted_live = live_words.clone();
    sorted_stored.sort();
    sorted_live.sort();
    assert_eq!(sorted_stored, sorted_live, "the report is built from the live finals, not a second transcription");
    let report = get(&addr, &format!("/v1/calls/{live_id}/report"), &admin).json();
    let failed_rules: Vec<&Value> =
        report["compliance"]["rules"].as_array().into_iter().flatten().filter(|r| r["passed"] == false).collect();
    assert!(failed_rules.iter().any(|r| r["id"] == "no-guarantees"), "{report}");

    // A client that vanishes after 6 s of audio: no stop, no close frame. At real-time pace, so
    // the server has read (nearly) all of it when the connection goes: a reset discards what
    // the server's socket still held unread, and only what it received can be stored.
    let (_, status, stderr) =
        stream(&addr, &ingest, Path::new(path), &["--disconnect-after", "6", "--frame-ms", "100", "--realtime"]);
    assert!(status.success(), "{stderr}");
    wait_for_active_streams(&addr, &admin, 0.0);
    let listed = get(&addr, "/v1/calls", &admin).json();
    let cut_id = listed["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["call_id"].as_str())
        .find(|id| *id != live_id && *id != batch_id)
        .unwrap_or_else(|| panic!("the cut-off stream was not stored: {listed}\n{}", server.log_tail()))
        .to_string();
    let view = wait_for_call(&addr, &admin, &cut_id, ANALYSIS_LIMIT, |s| s == "analyzed" || s == "failed");
    assert_eq!(view["status"], "analyzed", "{view}\n{}", server.log_tail());
    let duration = view["summary"]["duration_secs"].as_f64().expect("duration");
    assert!(duration > 5.0 && duration <= 6.0 + 1e-6, "stored {duration} s of the 6 s sent");

    // Capacity 1: while one stream plays in real time, the next is refused with 503.
    let mut playing = KillOnDrop(
        callsight()
            .arg("stream")
            .arg(path)
            .args(["--url", &format!("ws://{addr}/v1/streams"), "--key", &ingest, "--realtime"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn callsight stream"),
    );
    wait_for_active_streams(&addr, &admin, 1.0);
    let (_, status, stderr) = stream(&addr, &ingest, Path::new(path), &[]);
    assert_eq!(status.code(), Some(3), "the second stream should be refused: {stderr}");
    assert!(stderr.contains("503") && stderr.contains("at_capacity"), "{stderr}");
    let played = playing.0.wait().expect("wait for the first stream");
    assert!(played.success());
    wait_for_active_streams(&addr, &admin, 0.0);

    // Roles: the IVR may not stream; unauthenticated callers are turned away before the upgrade.
    let ivr = create_key(&data_dir, &database, "bank-a", "ivr");
    let (_, status, stderr) = stream(&addr, &ivr, Path::new(path), &[]);
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");

    // SIGTERM while a stream plays in real time: the client is told, its ~5 s of audio are stored
    // with the call and job before the process exits, and a restarted server analyses the call.
    let playing = callsight()
        .arg("stream")
        .arg(path)
        .args(["--url", &format!("ws://{addr}/v1/streams"), "--key", &ingest, "--realtime", "--frame-ms", "100"])
        .args(["--format", "json", "--external-call-id", "cut-by-shutdown"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn callsight stream");
    wait_for_active_streams(&addr, &admin, 1.0);
    std::thread::sleep(Duration::from_secs(5));
    server.terminate();
    let exited = server.wait_for_exit(ANALYSIS_LIMIT).unwrap_or_else(|| panic!("no exit after SIGTERM\n{}", server.log_tail()));
    assert!(exited.success(), "{exited}\n{}", server.log_tail());
    // The client ends by itself once it has the summary (or the server is gone).
    let output = playing.wait_with_output().expect("the client ends");
    let events: Vec<Value> =
        String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    assert!(
        of_type(&events, "error").iter().any(|e| e["code"] == "shutting_down" && e["fatal"] == true),
        "the client is told the server is shutting down: {events:?}"
    );
    let summary = of_type(&events, "summary").last().copied().cloned().unwrap_or_else(|| panic!("no summary: {events:?}\n{}", server.log_tail()));
    let cut_id = summary["call_id"].as_str().unwrap_or_else(|| panic!("not stored: {summary}\n{}", server.log_tail())).to_string();
    let sent_secs = summary["duration_secs"].as_f64().expect("duration");
    assert!((4.0..=8.0).contains(&sent_secs), "{sent_secs} s stored of about 5 s sent");
    assert!(
        !std::fs::read_dir(data_dir.join("audio")).expect("audio dir").flatten().any(|e| e.file_name().to_string_lossy().ends_with(".partial")),
        "no partial recording is left behind"
    );

    let mut server = start_server(&data_dir, &database, 1, &env);
    let addr = server.addr.clone();
    let view = wait_for_call(&addr, &admin, &cut_id, ANALYSIS_LIMIT, |s| s == "analyzed" || s == "failed");
    assert_eq!(view["status"], "analyzed", "{view}\n{}", server.log_tail());
    assert_eq!(view["external_call_id"], "cut-by-shutdown");
    let duration = view["summary"]["duration_secs"].as_f64().expect("duration");
    assert!((duration - sent_secs).abs() < 0.05, "analysed {duration} s, stored {sent_secs} s");

    // SIGKILL while a stream plays: nothing runs at the end, but the audio went to disk as it
    // arrived; the next start completes the recording and records the call, which is analysed.
    let playing = callsight()
        .arg("stream")
        .arg(path)
        .args(["--url", &format!("ws://{addr}/v1/streams"), "--key", &ingest, "--realtime", "--frame-ms", "100"])
        .args(["--external-call-id", "cut-by-crash"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn callsight stream");
    wait_for_active_streams(&addr, &admin, 1.0);
    std::thread::sleep(Duration::from_secs(4));
    server.kill_9();
    let _ = KillOnDrop(playing);
    let partials: Vec<String> = std::fs::read_dir(data_dir.join("audio"))
        .expect("audio dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wav.partial"))
        .collect();
    assert_eq!(partials.len(), 1, "the cut stream's recording is on disk: {partials:?}");

    let server = start_server(&data_dir, &database, 1, &env);
    let addr = server.addr.clone();
    let listed = get(&addr, "/v1/calls", &admin).json();
    let crash_id = listed["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["external_call_id"] == "cut-by-crash")
        .and_then(|c| c["call_id"].as_str())
        .unwrap_or_else(|| panic!("the crashed stream was not recorded: {listed}\n{}", server.log_tail()))
        .to_string();
    let view = wait_for_call(&addr, &admin, &crash_id, ANALYSIS_LIMIT, |s| s == "analyzed" || s == "failed");
    assert_eq!(view["status"], "analyzed", "{view}\n{}", server.log_tail());
    let duration = view["summary"]["duration_secs"].as_f64().expect("duration");
    // Audio the server had received but not yet processed (one pass) was only in its memory.
    assert!((2.0..=7.0).contains(&duration), "recovered {duration} s of about 4 s sent");
}
