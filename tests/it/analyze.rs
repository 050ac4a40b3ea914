//! End-to-end: synthesised calls with known rule outcomes through the real `callsight analyze`
//! binary and the real models fetched by the setup step.

use crate::common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use common::{Line, agent, callsight, customer, synthesize};
use serde_json::Value;

/// The example script, found from the checkout cargo runs the tests in (read at run time: a test
/// binary reused from a clone at another path must not point into that clone).
fn script() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        format!("{root}/examples/card-services.json")
    })
}

const GREETING: &str = "Thank you for calling card services, my name is Sam.";
const DISCLOSURE: &str = "This call may be recorded for quality and training purposes.";
const IDENTITY: &str = "Can you confirm your date of birth please?";
const CLOSING: &str = "Thank you. I have refunded the second charge. Is there anything else I can help you with?";
const HAPPY_END: &str = "No, that is wonderful. Thank you so much for your help, I really appreciate it.";

fn base_call() -> Vec<Line> {
    vec![
        agent(0.5, GREETING),
        agent(4.5, DISCLOSURE),
        customer(9.5, "Hi, I was charged twice for my order."),
        agent(13.0, IDENTITY),
        customer(17.0, "It is the fourth of July nineteen eighty."),
        agent(21.0, CLOSING),
        customer(28.0, HAPPY_END),
    ]
}

fn english_calls() -> Vec<(&'static str, Vec<Line>)> {
    let without = |text: &str| base_call().into_iter().filter(|l| l.text != text).collect::<Vec<_>>();
    vec![
        ("compliant", base_call()),
        ("missing-disclosure", without(DISCLOSURE)),
        ("forbidden-phrase", {
            let mut lines = without(HAPPY_END);
            lines.push(agent(28.0, "I guarantee the money will be back in your account today."));
            lines.push(customer(33.0, HAPPY_END));
            lines
        }),
        ("late-greeting", vec![
            customer(0.5, "Hello? Is anyone there?"),
            customer(8.0, "Hello, I am still waiting on the line."),
            customer(15.0, "Hello?"),
            agent(23.0, GREETING),
            agent(27.0, DISCLOSURE),
            agent(32.0, IDENTITY),
            customer(36.0, "It is the fourth of July nineteen eighty."),
            agent(40.0, CLOSING),
            customer(47.0, HAPPY_END),
        ]),
        ("wrong-order", vec![
            agent(0.5, GREETING),
            agent(4.5, DISCLOSURE),
            customer(9.5, "Hi, I was charged twice for my order."),
            agent(13.0, CLOSING),
            customer(20.0, "Yes, I still need to update my address."),
            agent(24.0, IDENTITY),
            customer(28.0, "It is the fourth of July nineteen eighty. Thank you so much, that is great."),
        ]),
        ("paraphrase", vec![
            agent(0.5, "Thanks so much for calling card services, this is Sam."),
            agent(4.5, "This conversation might be recorded for quality and training."),
            customer(9.5, "Hi, I was charged twice for my order."),
            agent(13.0, "Could you please confirm your date of birth?"),
            customer(17.0, "It is the fourth of July nineteen eighty."),
            agent(21.0, "Done, the refund is on its way. Is there anything else I can do for you?"),
            customer(28.0, HAPPY_END),
        ]),
        ("angry-customer", {
            let mut lines = without(HAPPY_END);
            lines.push(customer(28.0, "This is terrible. I am furious, this is the worst service I have ever had and I want to cancel my card."));
            lines
        }),
        ("long-hold", vec![
            agent(0.5, GREETING),
            agent(4.5, DISCLOSURE),
            customer(9.5, "Hi, I was charged twice for my order."),
            agent(13.0, IDENTITY),
            customer(17.0, "It is the fourth of July nineteen eighty."),
            agent(21.0, "Please hold while I check that for you."),
            agent(55.0, CLOSING),
            customer(62.0, HAPPY_END),
        ]),
        ("talk-over", vec![
            agent(0.5, GREETING),
            agent(4.5, DISCLOSURE),
            customer(9.5, "Hi, I was charged twice for my order."),
            agent(13.0, "I see two charges on your account, the first one on Monday and the second one on Tuesday of last week."),
            customer(15.5, "No, no, wait, that is not what I asked you about."),
            agent(22.0, IDENTITY),
            customer(26.0, "It is the fourth of July nineteen eighty."),
            agent(30.0, CLOSING),
            customer(37.0, HAPPY_END),
        ]),
    ]
}

struct Analysed {
    reports: HashMap<String, Value>,
    placed: HashMap<String, Vec<common::PlacedLine>>,
}

fn work_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callsight-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create work dir");
    dir
}

/// All English scenarios in one batch run of the binary (tiny.en), plus a corrupt file, which
/// must be reported without stopping the batch.
fn english_batch() -> &'static Analysed {
    // The outcome is kept either way, so a failed batch fails every test at once instead of re-running.
    static ANALYSED: OnceLock<Result<Analysed, String>> = OnceLock::new();
    match ANALYSED.get_or_init(|| std::panic::catch_unwind(run_english_batch).map_err(|panic| {
        panic.downcast_ref::<String>().cloned().unwrap_or_else(|| "english batch failed".into())
    })) {
        Ok(analysed) => analysed,
        Err(message) => panic!("{message}"),
    }
}

fn run_english_batch() -> Analysed {
    {
        let dir = work_dir().join("english");
        let calls_dir = dir.join("calls");
        std::fs::create_dir_all(&calls_dir).expect("mkdir");
        let synth_dir = dir.join("synth");
        std::fs::create_dir_all(&synth_dir).expect("mkdir");
        let mut placed = HashMap::new();
        for (name, lines) in english_calls() {
            let call = synthesize(&synth_dir, name, "en", &lines, 2.0);
            std::fs::copy(&call.stereo_path, calls_dir.join(format!("{name}.wav"))).expect("copy");
            placed.insert(name.to_string(), call.lines);
        }
        std::fs::write(calls_dir.join("corrupt.wav"), b"RIFF\x10\x00\x00\x00WAVEfmt garbage").expect("write");
        let out_dir = dir.join("reports");
        let output = callsight()
            .args(["analyze", "--model", "tiny.en", "--script", script(), "--format", "json", "--out"])
            .arg(&out_dir)
            .arg(&calls_dir)
            .output()
            .expect("run callsight");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "one corrupt file → exit 2; stderr: {stderr}");
        assert!(stderr.contains("corrupt.wav"), "the corrupt file is named: {stderr}");
        let mut reports = HashMap::new();
        for (name, _) in english_calls() {
            let text = std::fs::read_to_string(out_dir.join(format!("{name}.json")))
                .unwrap_or_else(|e| panic!("report for {name}: {e}; stderr: {stderr}"));
            reports.insert(name.to_string(), serde_json::from_str(&text).expect("valid JSON report"));
        }
        Analysed { reports, placed }
    }
}

fn rule<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["compliance"]["rules"]
        .as_array()
        .and_then(|rules| rules.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("rule {id} in report"))
}

fn passed(report: &Value, id: &str) -> bool {
    rule(report, id)["passed"].as_bool().unwrap_or_else(|| panic!("rule {id} has passed"))
}

fn outcomes(report: &Value) -> String {
    report["compliance"]["rules"]
        .as_array()
        .map(|rules| {
            rules.iter().map(|r| format!("{}={} ({})", r["id"], r["passed"], r["reason"])).collect::<Vec<_>>().join("\n")
        })
        .unwrap_or_default()
}

fn transcript(report: &Value) -> String {
    report["turns"]
        .as_array()
        .map(|turns| {
            turns
                .iter()
                .map(|t| format!("[{} {:.1}-{:.1}] {}", t["speaker"], t["start_secs"].as_f64().unwrap_or(0.0), t["end_secs"].as_f64().unwrap_or(0.0), t["text"]))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn check(name: &str, expectations: &[(&str, bool)]) {
    let report = &english_batch().reports[name];
    for (rule_id, expected) in expectations {
        assert_eq!(
            passed(report, rule_id),
            *expected,
            "{name}: rule {rule_id} should be passed={expected}\n{}\n{}",
            outcomes(report),
            transcript(report)
        );
    }
}

#[test]
fn compliant_call_passes_every_rule() {
    let report = &english_batch().reports["compliant"];
    let rules = report["compliance"]["rules"].as_array().expect("rules");
    assert!(rules.iter().all(|r| r["passed"] == true), "{}\n{}", outcomes(report), transcript(report));
    assert_eq!(report["flags"].as_array().map(Vec::len), Some(0), "{}", report["flags"]);
    assert_eq!(report["channel_layout"], "agent_customer");
    assert_eq!(report["language"], "en");
}

#[test]
fn missing_disclosure_is_flagged() {
    check("missing-disclosure", &[("recording-disclosure", false), ("greeting", true), ("identity-check", true)]);
    let report = &english_batch().reports["missing-disclosure"];
    let flagged: Vec<_> = report["flags"].as_array().expect("flags").iter().filter_map(|f| f["rule_id"].as_str()).collect();
    assert!(flagged.contains(&"recording-disclosure"), "{flagged:?}");
}

#[test]
fn forbidden_phrase_fails_with_evidence_time() {
    check("forbidden-phrase", &[("no-guarantees", false), ("recording-disclosure", true)]);
    let report = &english_batch().reports["forbidden-phrase"];
    let evidence = &rule(report, "no-guarantees")["evidence"][0];
    let start = evidence["start_secs"].as_f64().expect("evidence start");
    assert!((26.5..=31.0).contains(&start), "guarantee said at 28 s, evidence at {start}");
    assert!(evidence["text"].as_str().unwrap_or_default().to_lowercase().contains("guarantee"), "{evidence}");
}

#[test]
fn late_greeting_fails_the_window() {
    check("late-greeting", &[("greeting", false), ("recording-disclosure", true), ("identity-check", true)]);
}

#[test]
fn wrong_order_fails_the_sequence() {
    check("wrong-order", &[("order", false), ("greeting", true), ("closing", true), ("identity-check", true)]);
}

#[test]
fn paraphrases_satisfy_required_phrases() {
    check("paraphrase", &[("greeting", true), ("recording-disclosure", true), ("identity-check", true), ("closing", true)]);
}

#[test]
fn angry_customer_is_flagged_negative() {
    check("angry-customer", &[("customer-not-left-negative", false)]);
    let report = &english_batch().reports["angry-customer"];
    assert_eq!(report["sentiment"]["customer_trajectory"]["end"]["label"], "negative", "{}", report["sentiment"]);
    let happy = &english_batch().reports["compliant"];
    assert_ne!(happy["sentiment"]["customer_trajectory"]["end"]["label"], "negative", "{}", happy["sentiment"]);
}

#[test]
fn long_hold_is_measured_and_flagged() {
    check("long-hold", &[("no-long-silence", false)]);
    let report = &english_batch().reports["long-hold"];
    let silence = report["metrics"]["longest_silence_secs"].as_f64().expect("longest silence");
    // "Please hold…" ends ≈ 23 s, the agent is back at 55 s.
    assert!((28.0..=34.0).contains(&silence), "longest silence {silence}");
    assert_eq!(report["metrics"]["holds"].as_array().map(Vec::len), Some(1));
}

#[test]
fn talk_over_is_measured_and_attributed() {
    let report = &english_batch().reports["talk-over"];
    let metrics = &report["metrics"];
    assert!(metrics["talk_over_count"].as_u64() >= Some(1), "{metrics}");
    assert!(metrics["talk_over_secs"].as_f64() >= Some(1.0), "{metrics}");
    assert!(metrics["customer"]["interruptions"].as_u64() >= Some(1), "{metrics}");
    assert_eq!(metrics["agent"]["interruptions"].as_u64(), Some(0), "{metrics}");
    let compliant = &english_batch().reports["compliant"]["metrics"];
    assert_eq!(compliant["talk_over_count"].as_u64(), Some(0), "{compliant}");
}

#[test]
fn turn_timestamps_and_talk_time_match_the_synthesis() {
    let analysed = english_batch();
    let report = &analysed.reports["compliant"];
    let turns = report["turns"].as_array().expect("turns");
    for line in &analysed.placed["compliant"] {
        let speaker = match line.party {
            common::Party::Agent => "agent",
            common::Party::Customer => "customer",
        };
        let found = turns.iter().any(|t| {
            t["speaker"] == speaker
                && (t["start_secs"].as_f64().unwrap_or(-9.0) - line.start_secs).abs() < 0.6
        }) || turns.iter().any(|t| {
            // Lines of one speaker less than 1.5 s apart are one turn: the line is inside it.
            t["speaker"] == speaker
                && t["start_secs"].as_f64().unwrap_or(f64::MAX) <= line.start_secs + 0.6
                && t["end_secs"].as_f64().unwrap_or(0.0) >= line.end_secs - 0.6
        });
        assert!(found, "no {speaker} turn at {:.2}-{:.2} s ({})\n{}", line.start_secs, line.end_secs, line.text, transcript(report));
    }
    let agent_talk: f64 = analysed.placed["compliant"].iter().filter(|l| l.party == common::Party::Agent).map(|l| l.end_secs - l.start_secs).sum();
    let measured = report["metrics"]["agent"]["talk_secs"].as_f64().expect("talk secs");
    assert!((measured - agent_talk).abs() < 2.5, "agent talk {measured} vs synthesised {agent_talk}");
    let words = report["turns"][0]["words"].as_array().expect("words");
    assert!(words.iter().all(|w| w["confidence"].as_f64().is_some_and(|c| (0.0..=1.0).contains(&c))));
}

#[test]
fn russian_mono_call_is_transcribed_in_russian_and_scored() {
    let dir = work_dir().join("russian");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let lines = vec![
        agent(0.5, "Спасибо за звонок в службу поддержки карт, меня зовут Саша."),
        agent(5.0, "Этот звонок может быть записан для контроля качества и обучения."),
        customer(10.5, "Здравствуйте, с моей карты дважды списали деньги."),
        agent(15.0, "Подтвердите, пожалуйста, вашу дату рождения."),
        customer(19.5, "Четвёртое июля тысяча девятьсот восьмидесятого года."),
    ];
    let call = synthesize(&dir, "ru-call", "ru", &lines, 1.0);
    let mono = dir.join("ru-call-mono16k.wav");
    let output = callsight()
        // espeak-ng's Russian is detected as Polish by whisper base; real Russian speech is
        // detected (see eval/RESULTS.md), so the synthetic call states its language.
        .args(["analyze", "--channels", "mixed", "--language", "ru", "--script", script(), "--format", "json"])
        .arg(&mono)
        .output()
        .expect("run callsight");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report on stdout");
    assert_eq!(report["language"], "ru", "{}", transcript(&report));
    assert_eq!(report["channel_layout"], "mixed");
    // Mono, so the parties come from diarization by voice; the opening voice is the agent's.
    assert_eq!(report["turns"][0]["speaker"], "agent", "{}", transcript(&report));
    let text = transcript(&report);
    assert!(text.chars().filter(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(' '))).count() > 40, "Cyrillic transcript: {text}");
    // Whisper base turns espeak-ng's Russian into near-gibberish, so the cross-lingual phrase rules
    // are not asserted on this synthetic call (see the compliance tests and the issue note).
    assert!(!passed(&report, "closing"), "no closing was said: {}", outcomes(&report));
    assert!(passed(&report, "no-guarantees"), "{}", outcomes(&report));
    assert!((report["duration_secs"].as_f64().unwrap_or(0.0) - call.duration_secs).abs() < 0.1);
}

#[test]
fn malformed_script_is_rejected_with_its_line() {
    let dir = work_dir().join("scripts");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let script = dir.join("bad.json");
    std::fs::write(&script, "{\"id\": \"s\", \"rules\": [\n  {\"id\": \"a\", \"kind\": \"required\", \"phrases\": [\"hello\"]},\n  {\"id\": \"b\", \"kind\": \"sequence\", \"rules\": [\"a\", \"missing\"]}\n]}\n").expect("write");
    let call = dir.join("silence.wav");
    common::sox(&["-n", "-r", "8000", "-c", "1", call.to_str().unwrap_or_default(), "trim", "0", "2"]);
    let output = callsight().args(["analyze", "--script"]).arg(&script).arg(&call).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("line 3") && stderr.contains("missing"), "{stderr}");
}

#[test]
fn silence_gives_an_empty_transcript_not_words() {
    let dir = work_dir().join("silence");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let call = dir.join("silence.wav");
    common::sox(&["-n", "-r", "8000", "-c", "2", "-e", "u-law", call.to_str().unwrap_or_default(), "trim", "0", "20"]);
    let output = callsight().args(["analyze", "--model", "tiny.en", "--format", "json"]).arg(&call).output().expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["turns"].as_array().map(Vec::len), Some(0), "{}", transcript(&report));
    assert!((report["duration_secs"].as_f64().unwrap_or(0.0) - 20.0).abs() < 0.01);
}

#[test]
fn text_srt_and_vtt_formats_render() {
    let dir = work_dir().join("formats");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let call = synthesize(&dir, "short", "en", &[agent(0.3, GREETING), customer(4.0, "Hi, I need help with my card.")], 0.5);
    for (format, marker) in [("text", "Sentiment:"), ("srt", "-->"), ("vtt", "WEBVTT")] {
        let output = callsight()
            .args(["analyze", "--model", "tiny.en", "--format", format])
            .arg(&call.stereo_path)
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success() && stdout.contains(marker), "{format}: {stdout}");
    }
}

#[test]
fn mono_call_is_diarized_into_agent_and_customer_turns() {
    let dir = work_dir().join("mono");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let lines = base_call();
    let call = synthesize(&dir, "mono-call", "en", &lines, 1.0);
    let mono = dir.join("mono-call-mono16k.wav");
    let output = callsight()
        .args(["analyze", "--model", "tiny.en", "--channels", "mixed", "--script", script(), "--format", "json"])
        .arg(&mono)
        .output()
        .expect("run callsight");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["channel_layout"], "mixed");
    let turns = report["turns"].as_array().expect("turns");
    let speakers: Vec<&str> = turns.iter().filter_map(|t| t["speaker"].as_str()).collect();
    assert!(speakers.contains(&"agent") && speakers.contains(&"customer"), "speakers {speakers:?}\n{}", transcript(&report));
    // Without an agent voiceprint the voice that opens the call is the agent (the greeting).
    assert_eq!(speakers[0], "agent", "{}", transcript(&report));
    // Each turn's speaker matches who said it in the synthesis, for most of the talk time.
    let mut agreeing_secs = 0.0;
    let mut total_secs = 0.0;
    for turn in turns {
        let (start, end) = (turn["start_secs"].as_f64().unwrap_or(0.0), turn["end_secs"].as_f64().unwrap_or(0.0));
        for line in &call.lines {
            let overlap = (end.min(line.end_secs) - start.max(line.start_secs)).max(0.0);
            let said_by = match line.party {
                common::Party::Agent => "agent",
                common::Party::Customer => "customer",
            };
            total_secs += overlap;
            if turn["speaker"] == said_by {
                agreeing_secs += overlap;
            }
        }
    }
    assert!(agreeing_secs / total_secs.max(1e-9) > 0.8, "{agreeing_secs:.1} of {total_secs:.1} s attributed right\n{}", transcript(&report));
    assert!(passed(&report, "greeting"), "the agent's greeting is found on the mono call: {}", outcomes(&report));
    assert!(report["metrics"]["agent"]["talk_secs"].as_f64().unwrap_or(0.0) > 3.0);
    assert!(report["metrics"]["customer"]["talk_secs"].as_f64().unwrap_or(0.0) > 1.0);
}

/// 16-bit PCM WAV as written by Callsight: the 44-byte header, then interleaved samples.
fn read_pcm16_wav(path: &std::path::Path) -> (u16, Vec<i16>) {
    let bytes = std::fs::read(path).expect("read wav");
    let n_channels = u16::from_le_bytes([bytes[22], bytes[23]]);
    let samples = bytes[44..].chunks_exact(2).map(|pair| i16::from_le_bytes([pair[0], pair[1]])).collect();
    (n_channels, samples)
}

#[test]
fn a_call_longer_than_ten_minutes_is_analysed_from_temporary_files_with_nothing_lost() {
    // Past `audio::SPILL_AFTER_SECS` the decoded call lives in temporary files and every pass
    // reads it back in blocks. The same short call twice, 11 minutes apart: both copies must be
    // transcribed at their own times, and the redacted copy (written block by block from the
    // files) must hold both copies sample for sample, with silence between.
    let dir = work_dir().join("spilled");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let call = synthesize(&dir, "short", "en", &[agent(0.3, GREETING), customer(4.0, "Hi, I need help with my card.")], 0.5);
    const GAP_SECS: f64 = 660.0;
    let padded = dir.join("padded.wav");
    let long = dir.join("long.wav");
    common::sox(&[call.stereo_path.to_str().unwrap_or_default(), padded.to_str().unwrap_or_default(), "pad", "0", &GAP_SECS.to_string()]);
    common::sox(&[padded.to_str().unwrap_or_default(), call.stereo_path.to_str().unwrap_or_default(), long.to_str().unwrap_or_default()]);
    let out_dir = dir.join("out");
    let spill_dir = dir.join("tmp");
    std::fs::create_dir_all(&spill_dir).expect("mkdir");
    let output = callsight()
        .args(["analyze", "--model", "tiny.en", "--redact", "--format", "json", "--out"])
        .arg(&out_dir)
        .arg(&long)
        .env("TMPDIR", &spill_dir)
        .output()
        .expect("run callsight");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("long.json")).expect("report")).expect("JSON");
    let copy_secs = call.duration_secs + GAP_SECS;
    assert!((report["duration_secs"].as_f64().unwrap_or(0.0) - (copy_secs + call.duration_secs)).abs() < 0.05, "{}", report["duration_secs"]);
    let turns = report["turns"].as_array().expect("turns");
    for (speaker, word) in [("agent", "calling"), ("customer", "card")] {
        let starts: Vec<f64> = turns
            .iter()
            .filter(|t| t["speaker"] == speaker && t["text"].as_str().unwrap_or_default().to_lowercase().contains(word))
            .filter_map(|t| t["start_secs"].as_f64())
            .collect();
        assert!(starts.iter().any(|&s| s < call.duration_secs), "{speaker} in the first copy: {starts:?}\n{}", transcript(&report));
        assert!(
            starts.iter().any(|&s| s > copy_secs - 0.5 && s < copy_secs + call.duration_secs),
            "{speaker} in the second copy, {copy_secs:.1} s on: {starts:?}\n{}",
            transcript(&report)
        );
    }
    for party in ["agent", "customer"] {
        let loudness = report["metrics"][party]["loudness_dbfs"].as_f64().unwrap_or(f64::NAN);
        assert!((-60.0..0.0).contains(&loudness), "{party} loudness {loudness} dBFS");
    }
    let left: Vec<String> = std::fs::read_dir(&spill_dir)
        .expect("spill dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "the temporary files leave no names behind: {left:?}");

    let (n_channels, samples) = read_pcm16_wav(&out_dir.join("long.redacted.wav"));
    assert_eq!(n_channels, 2);
    let rate = 8_000.0;
    let copy_frames = (copy_secs * rate).round() as usize;
    let call_frames = (call.duration_secs * rate).round() as usize;
    assert_eq!(samples.len() / 2, copy_frames + call_frames, "every frame of the call is in the redacted copy");
    let redacted: Vec<(usize, usize)> = report["redactions"]
        .as_array()
        .map(|spans| {
            spans
                .iter()
                .map(|s| (((s["start_secs"].as_f64().unwrap_or(0.0) - 1.0) * rate) as usize, ((s["end_secs"].as_f64().unwrap_or(0.0) + 1.0) * rate) as usize))
                .collect()
        })
        .unwrap_or_default();
    let masked = |frame: usize| redacted.iter().any(|&(a, b)| (a..b).contains(&frame) || (a..b).contains(&(frame + copy_frames)));
    let n_differing = (0..call_frames).filter(|&frame| !masked(frame) && samples[2 * frame..2 * frame + 2] != samples[2 * (frame + copy_frames)..2 * (frame + copy_frames) + 2]).count();
    assert_eq!(n_differing, 0, "the second copy, read back from the temporary files, equals the first");
    assert!(samples[2 * call_frames..2 * (call_frames + (GAP_SECS * rate) as usize)].iter().all(|&s| s == 0), "the gap is silent");
    assert!(samples[..2 * call_frames].iter().any(|&s| s != 0), "the call is not silent");
}
