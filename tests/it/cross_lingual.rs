//! An English script checked on a real Russian call: the agent channel is real Russian speech (the
//! Asterisk Russian IVR voice), the customer channel another real Russian speaker (festvox-ru).
//! The script's English phrases must be found in their Russian equivalents.
//!
//! The audio comes from the evaluation data that `./setup.sh` prepares
//! (`callsight eval prepare-asr`, Debian packages) under `~/.cache/callsight/eval-data`.

use crate::common;

use std::path::{Path, PathBuf};

use common::{callsight, sox};
use serde_json::Value;

const RATE_HZ: u32 = 8_000;

fn eval_data_dir() -> PathBuf {
    let home = std::env::var("HOME").expect("HOME is set");
    let dir = PathBuf::from(home).join(".cache/callsight/eval-data");
    assert!(
        dir.join("asterisk-ru.jsonl").is_file() && dir.join("festvox-ru.jsonl").is_file(),
        "the Russian evaluation audio is missing from {}; run ./setup.sh (it runs `callsight eval prepare-asr`)",
        dir.display()
    );
    dir
}

/// Audio path of utterance `id` in the JSONL manifest `name`.
fn utterance(dir: &Path, manifest: &str, id: &str) -> PathBuf {
    let text = std::fs::read_to_string(dir.join(manifest)).expect("read manifest");
    let line = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("manifest line is JSON"))
        .find(|l| l["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {manifest}"));
    dir.join(line["audio"].as_str().expect("audio path"))
}

/// Mono 8 kHz samples of any WAV, through sox.
fn load_8k(path: &Path, scratch: &Path) -> Vec<f32> {
    let converted = scratch.join(format!("{}-8k.wav", path.file_stem().and_then(|s| s.to_str()).unwrap_or("clip")));
    sox(&[path.to_str().expect("utf-8 path"), "-r", "8000", "-c", "1", "-b", "16", converted.to_str().expect("utf-8 path")]);
    let mut reader = hound::WavReader::open(&converted).expect("sox writes WAV");
    reader.samples::<i16>().map(|s| s.expect("valid sample") as f32 / 32768.0).collect()
}

#[test]
fn english_script_matches_russian_equivalents_on_real_russian_speech() {
    let data = eval_data_dir();
    let dir = std::env::temp_dir().join(format!("callsight-cross-lingual-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");

    // (party, clip): 0 = agent, 1 = customer; turns follow each other with a 0.8 s pause.
    let turns = [
        (0, utterance(&data, "asterisk-ru.jsonl", "dir-welcome")), // "Добро пожаловать в директорию"
        (1, utterance(&data, "festvox-ru.jsonl", "ru_0003")),
        (0, utterance(&data, "asterisk-ru.jsonl", "queue-periodic-announce")), // "...Пожалуйста, оставайтесь на линии..."
        (1, utterance(&data, "festvox-ru.jsonl", "ru_0002")),
        (0, utterance(&data, "asterisk-ru.jsonl", "vm-dialout")), // "Пожалуйста, подождите. Происходит соединение."
    ];
    let mut tracks: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    let mut cursor = (0.5 * RATE_HZ as f64) as usize;
    let mut agent_turn_starts = Vec::new();
    for (party, clip) in &turns {
        let samples = load_8k(clip, &dir);
        if *party == 0 {
            agent_turn_starts.push(cursor as f64 / RATE_HZ as f64);
        }
        let track = &mut tracks[*party];
        track.resize(cursor, 0.0);
        track.extend_from_slice(&samples);
        cursor += samples.len() + (0.8 * RATE_HZ as f64) as usize;
    }
    for track in &mut tracks {
        track.resize(cursor, 0.0);
    }
    let raw = dir.join("ru-real-raw.wav");
    let spec = hound::WavSpec { channels: 2, sample_rate: RATE_HZ, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(&raw, spec).expect("create wav");
    for idx in 0..cursor {
        for track in &tracks {
            writer.write_sample((track[idx].clamp(-1.0, 1.0) * 32767.0) as i16).expect("write");
        }
    }
    writer.finalize().expect("finalize wav");
    let call = dir.join("ru-real.wav");
    sox(&[raw.to_str().expect("utf-8"), "-e", "u-law", "-b", "8", call.to_str().expect("utf-8")]);

    let script = dir.join("english-script.json");
    std::fs::write(
        &script,
        r#"{"id": "ivr-en", "name": "IVR (written in English)", "rules": [
  {"id": "welcome", "kind": "required", "speaker": "agent", "phrases": ["welcome to the directory"],
   "within": {"start_secs": 0, "end_secs": 10}},
  {"id": "stay-on-line", "kind": "required", "speaker": "agent", "phrases": ["please stay on the line"]},
  {"id": "connecting", "kind": "required", "speaker": "agent", "phrases": ["please wait, you are being connected"]},
  {"id": "recording-disclosure", "kind": "required", "speaker": "agent",
   "phrases": ["this call may be recorded for quality and training purposes"]},
  {"id": "no-guarantees", "kind": "forbidden", "speaker": "agent", "phrases": ["i guarantee"]},
  {"id": "order", "kind": "sequence", "rules": ["welcome", "stay-on-line", "connecting"]}
]}"#,
    )
    .expect("write script");

    let output = callsight()
        .args(["analyze", "--languages", "en,ru", "--format", "json", "--script"])
        .arg(&script)
        .arg(&call)
        .output()
        .expect("run callsight");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report on stdout");
    let transcript: Vec<String> = report["turns"]
        .as_array()
        .expect("turns")
        .iter()
        .map(|t| format!("{} {:.1}-{:.1}: {}", t["speaker"], t["start_secs"].as_f64().unwrap_or(0.0), t["end_secs"].as_f64().unwrap_or(0.0), t["text"]))
        .collect();
    let transcript = transcript.join("\n");
    assert_eq!(report["language"], "ru", "{transcript}");

    let rules = report["compliance"]["rules"].as_array().expect("rules");
    let rule = |id: &str| rules.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("rule {id}"));
    let summary = rules.iter().map(|r| format!("{}={} ({})", r["id"], r["passed"], r["confidence"])).collect::<Vec<_>>().join(", ");
    for id in ["welcome", "stay-on-line", "connecting", "order", "no-guarantees"] {
        assert_eq!(rule(id)["passed"], true, "{id} should pass: {summary}\n{transcript}");
    }
    assert_eq!(rule("recording-disclosure")["passed"], false, "nothing about recording was said: {summary}\n{transcript}");

    // Evidence points at the agent turn that said it, in Cyrillic.
    let evidence = &rule("stay-on-line")["evidence"][0];
    let start = evidence["start_secs"].as_f64().expect("evidence start");
    assert!((start - agent_turn_starts[1]).abs() < 2.0, "evidence at {start}, turn at {}: {summary}", agent_turn_starts[1]);
    let matched = evidence["text"].as_str().unwrap_or_default();
    assert!(matched.chars().any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(' '))), "evidence text {matched:?}");
    std::fs::remove_dir_all(&dir).ok();
}
