//! PCI/PII redaction end to end on real model output: two-party calls spoken by espeak-ng,
//! telephone band µ-law, analysed by the real `callsight analyze --redact`. Every entity must be
//! gone from the JSON report, the text summary and the subtitles, the redacted recording must be
//! silent at each span on the speaker's channel only, and the decoys (amounts, durations,
//! reference numbers) must survive.

use crate::common;

use std::path::{Path, PathBuf};

use common::{Line, agent, callsight, customer, synthesize};
use serde_json::Value;

fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callsight-redaction-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create work dir");
    dir
}

fn english_call() -> Vec<Line> {
    vec![
        agent(0.5, "Thank you for calling card services. Can I take the long number on your card please?"),
        customer(7.0, "Sure, it is four one one one, one one one one, one one one one, one one one one."),
        agent(16.0, "Thank you. And the expiry date and the three digit security code on the back?"),
        customer(22.0, "It expires oh four twenty seven. The security code is seven three one."),
        agent(30.0, "Can you confirm your date of birth please?"),
        customer(33.5, "Yes, it is the fourth of July nineteen eighty."),
        agent(38.5, "And a phone number we can reach you on?"),
        customer(42.0, "It is five five five, one two three, four five six seven."),
        agent(48.5, "And your email address?"),
        customer(51.0, "It is john dot smith at example dot com."),
        agent(56.0, "I have refunded the two hundred dollars. Your reference number is four eight two seven."),
        customer(64.0, "Great, I waited forty five minutes for this. Thank you."),
    ]
}

/// The words of every turn, lower case, joined.
fn transcript(report: &Value) -> String {
    report["turns"]
        .as_array()
        .map(|turns| turns.iter().filter_map(|t| t["text"].as_str()).collect::<Vec<_>>().join(" | "))
        .unwrap_or_default()
}

fn redaction_types(report: &Value) -> Vec<String> {
    report["redactions"]
        .as_array()
        .map(|spans| spans.iter().filter_map(|s| s["type"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Values said in the English call, as whisper may write them; none may survive redaction.
const ENGLISH_SECRETS: &[&str] = &[
    "4111", "1111", "0427", "04/27", "731", "1980", "july", "555", "4567", "john", "smith", "example",
];

/// Every string value of a JSON document (numbers such as times and scores left out, and the
/// fields that name the call rather than quote it).
fn strings_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(strings_of).collect::<Vec<_>>().join(" "),
        // Names and ids (a file path, a random call id) are not what was said.
        Value::Object(fields) => fields
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "source" | "models" | "schema" | "call_id" | "job_id" | "id" | "external_call_id"))
            .map(|(_, value)| strings_of(value))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Text with timestamps and decimal numbers ("00:01:12,731", "12.73") taken out.
fn without_times(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == '<' || c == '>')
        .filter(|word| {
            let has_separator = word.chars().any(|c| matches!(c, ':' | '.' | ',')) && word.chars().filter(char::is_ascii_digit).count() >= 2;
            !(has_separator && word.chars().all(|c| c.is_ascii_digit() || matches!(c, ':' | '.' | ',' | '-' | 's')))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `text` holds `n` or more digits in a row (spaces and dashes between them allowed).
fn has_digit_run(text: &str, n: usize) -> bool {
    let mut run = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            run += 1;
            if run >= n {
                return true;
            }
        } else if !matches!(c, ' ' | '-') {
            run = 0;
        }
    }
    false
}

fn assert_secrets_gone(what: &str, text: &str, secrets: &[&str]) {
    let text = match serde_json::from_str::<Value>(text) {
        Ok(json) => strings_of(&json),
        Err(_) => without_times(text),
    };
    let lower = text.to_lowercase();
    for secret in secrets {
        assert!(!lower.contains(secret), "{what} still holds {secret:?}:\n{text}");
    }
}

fn decode(path: &Path) -> callsight_pipeline::audio::DecodedAudio {
    callsight_pipeline::audio::decode_file(path).unwrap_or_else(|e| panic!("decoding {}: {e}", path.display()))
}

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&s| (f64::from(s) / 32_768.0).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

/// Each span is silent on the speaker's channel (margin included) and untouched on the other.
fn check_audio(original: &Path, redacted: &Path, report: &Value) {
    let original = decode(original);
    let redacted = decode(redacted);
    assert_eq!(redacted.sample_rate_hz, original.sample_rate_hz);
    assert_eq!(redacted.channels.len(), 2);
    assert_eq!(redacted.n_frames(), original.n_frames());
    let rate = f64::from(original.sample_rate_hz);
    let spans = report["redactions"].as_array().cloned().unwrap_or_default();
    let mut masked = vec![vec![false; original.n_frames()]; 2];
    for span in &spans {
        let channel = match span["speaker"].as_str() {
            Some("agent") => 0,
            Some("customer") => 1,
            other => panic!("a stereo call's span belongs to a party, not {other:?}"),
        };
        let start = span["start_secs"].as_f64().unwrap_or(0.0);
        let end = span["end_secs"].as_f64().unwrap_or(0.0);
        let first = (start * rate) as usize;
        let last = ((end * rate) as usize).min(original.n_frames());
        assert!(last > first, "span {span}");
        let spoken = rms(&original.channels[channel][first..last]);
        assert!(spoken > 0.005, "the original has speech in span {span} (rms {spoken:.4})");
        assert_eq!(rms(&redacted.channels[channel][first..last]), 0.0, "span {span} is silent in the redacted recording");
        // The margin (0.3 s by default) is silent too.
        let margin_first = ((start - 0.29).max(0.0) * rate) as usize;
        assert_eq!(rms(&redacted.channels[channel][margin_first..first]), 0.0, "margin before {span}");
        // What the redactor may change: the default 0.3 s margin either side, plus a frame.
        let changeable_first = (((start - 0.3).max(0.0) * rate) as usize).saturating_sub(1);
        let margin_last = ((((end + 0.3) * rate) as usize) + 1).min(original.n_frames());
        masked[channel][changeable_first.min(margin_first)..margin_last].fill(true);
    }
    // Everything not masked is the original audio (µ-law decoded, re-encoded as 16-bit PCM).
    for (channel, masked) in masked.iter().enumerate() {
        let mut n_kept = 0;
        let samples = original.channels[channel].iter().zip(&redacted.channels[channel]);
        for (frame, (&before, &after)) in samples.enumerate().filter(|(frame, _)| !masked[*frame]) {
            let difference = (i32::from(before) - i32::from(after)).abs();
            assert!(difference < 2, "channel {channel} frame {frame} changed outside the spans");
            n_kept += 1;
        }
        assert!(n_kept > original.n_frames() / 2, "most of channel {channel} is kept");
    }
}

#[test]
fn english_call_is_redacted_in_report_text_subtitles_and_audio() {
    let dir = work_dir("en");
    let call = synthesize(&dir, "payment-call", "en-us", &english_call(), 1.5);
    let out_dir = dir.join("out");
    let output = callsight()
        .args(["analyze", "--language", "en", "--redact", "--format", "json", "--out"])
        .arg(&out_dir)
        .arg(&call.stereo_path)
        .output()
        .expect("run callsight");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // The summary names the file (a temporary path with the process id in it): leave it out.
    let summary = String::from_utf8_lossy(&output.stdout).replace(&call.stereo_path.display().to_string(), "");
    let json = std::fs::read_to_string(out_dir.join("payment-call.json")).expect("report file");
    let report: Value = serde_json::from_str(&json).expect("JSON report");
    let text = transcript(&report);
    println!("redacted transcript: {text}");
    println!("redactions: {}", report["redactions"]);

    let types = redaction_types(&report);
    // The card number, the date of birth and the e-mail must be found; the code, the expiry and
    // the phone number depend on how the recogniser hears espeak's digits, so they are reported.
    for expected in ["card", "dob"] {
        assert!(types.iter().any(|t| t == expected), "a {expected} span is reported: {types:?}\n{text}");
    }
    for maybe in ["cvv", "expiry", "phone", "email"] {
        println!("{maybe}: {}", if types.iter().any(|t| t == maybe) { "found" } else { "NOT found (see the transcript)" });
    }
    // Whatever the recogniser made of them, no run of six or more digits survives.
    assert!(!has_digit_run(&text, 6), "a long number survived: {text}");
    assert!(text.contains("[card number]") && text.contains("[date of birth]"), "{text}");
    for span in report["redactions"].as_array().into_iter().flatten() {
        assert_eq!(span.as_object().map(|o| o.len()), Some(6), "a span has type, speaker, times and position only: {span}");
        let turn = span["turn_index"].as_u64().unwrap_or(u64::MAX) as usize;
        let word = span["word_index"].as_u64().unwrap_or(u64::MAX) as usize;
        let placeholder = report["turns"][turn]["words"][word]["text"].as_str().unwrap_or_default();
        assert!(placeholder.starts_with('[') && placeholder.ends_with(']'), "span {span} points at {placeholder:?}");
    }
    assert_secrets_gone("the JSON report", &json, ENGLISH_SECRETS);
    assert_secrets_gone("the text summary", &summary, ENGLISH_SECRETS);
    // Decoys stay: the amount, the duration, the reference number.
    let lower = text.to_lowercase();
    assert!(lower.contains("200") || lower.contains("two hundred"), "the amount survives: {text}");
    assert!(lower.contains("45") || lower.contains("forty"), "the duration survives: {text}");
    assert!(lower.contains("minutes"), "{text}");
    assert!(lower.contains("482") || lower.contains("4 8 2") || lower.contains("four eight"), "the reference number survives: {text}");

    check_audio(&call.stereo_path, &out_dir.join("payment-call.redacted.wav"), &report);

    let output = callsight()
        .args(["analyze", "--language", "en", "--redact", "--format", "srt"])
        .arg(&call.stereo_path)
        .output()
        .expect("run callsight");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let subtitles = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(subtitles.contains("[card number]"), "{subtitles}");
    assert_secrets_gone("the SRT subtitles", &subtitles, ENGLISH_SECRETS);
}

#[test]
fn unknown_redaction_types_are_refused_before_any_work() {
    let dir = work_dir("types");
    let file = dir.join("any.wav");
    std::fs::write(&file, b"not looked at: the option is checked first").expect("write");
    let output = callsight().args(["analyze", "--redact", "dob,ssn"]).arg(&file).output().expect("run callsight");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("redaction type \"ssn\""), "{stderr}");
    assert!(stderr.contains("card, cvv, expiry"), "the valid types are listed: {stderr}");
}
