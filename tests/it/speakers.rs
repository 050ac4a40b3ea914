//! Voice biometrics through the real binary on real voices: the Asterisk English prompts (one
//! female voice) and the Asterisk Russian prompts (another female voice), 8 kHz telephone audio
//! prepared by `./setup.sh` under `~/.cache/callsight/eval-data`.

use crate::common;

use std::path::{Path, PathBuf};

use common::{callsight, sox};
use serde_json::Value;

fn eval_data_dir() -> PathBuf {
    let home = std::env::var("HOME").expect("HOME is set");
    let dir = PathBuf::from(home).join(".cache/callsight/eval-data");
    assert!(
        dir.join("asterisk-en.jsonl").is_file() && dir.join("asterisk-ru.jsonl").is_file(),
        "the Asterisk voices are missing from {}; run ./setup.sh (it runs `callsight eval prepare-asr`)",
        dir.display()
    );
    dir
}

/// Audio files of `manifest`, longest first (longer prompts carry more voice).
fn clips(dir: &Path, manifest: &str) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dir.join(manifest)).expect("read manifest");
    let mut rows: Vec<(usize, PathBuf)> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .map(|row| (row["text"].as_str().unwrap_or_default().len(), dir.join(row["audio"].as_str().expect("audio"))))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    rows.into_iter().map(|(_, path)| path).collect()
}

fn concat(parts: &[PathBuf], out: &Path) {
    let mut args: Vec<&str> = parts.iter().map(|p| p.to_str().expect("utf-8 path")).collect();
    args.push(out.to_str().expect("utf-8 path"));
    sox(&args);
}

/// Runs `callsight speakers …` on the data directory's embedded index, or on the test Qdrant
/// server when `CALLSIGHT_TEST_QDRANT_URL` is set (`scripts/test-qdrant.sh`).
fn speakers(data_dir: &Path, args: &[&str]) -> (bool, Value, String) {
    let output = callsight()
        .args(["speakers", "--format", "json", "--tenant", "bank-a", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .envs(common::server_voiceprints_env(data_dir))
        .output()
        .expect("run callsight speakers");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.success(), value, stderr)
}

#[test]
fn enrol_verify_screen_identify_and_delete_on_real_voices() {
    let data = eval_data_dir();
    let work = std::env::temp_dir().join(format!("callsight-speakers-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("mkdir");
    let store = work.join("data");
    let english = clips(&data, "asterisk-en.jsonl");
    let russian = clips(&data, "asterisk-ru.jsonl");

    // Enrolment needs 20 s of net speech: one long prompt is refused with how much is missing.
    let (ok, refused, stderr) = speakers(&store, &["enroll", "--id", "cust-1", english[60].to_str().expect("path")]);
    assert!(ok, "{stderr}");
    assert_eq!(refused["status"], "rejected", "{refused}");
    assert!(refused["missing_speech_secs"].as_f64().unwrap_or(0.0) > 0.0, "{refused}");
    assert!(refused["reasons"].to_string().contains("too_little_speech"), "{refused}");

    let enrol_files: Vec<String> = english[..12].iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["enroll", "--id", "cust-1"];
    args.extend(enrol_files.iter().map(String::as_str));
    let (ok, enrolled, stderr) = speakers(&store, &args);
    assert!(ok, "{stderr}");
    assert_eq!(enrolled["status"], "enrolled", "{enrolled}");
    assert!(enrolled["net_speech_secs"].as_f64().unwrap_or(0.0) >= 20.0, "{enrolled}");

    // Adding audio counts the stored speech: the short clip refused alone is accepted now.
    let (ok, added, stderr) = speakers(&store, &["enroll", "--add", "--id", "cust-1", english[60].to_str().expect("path")]);
    assert!(ok, "{stderr}");
    assert_eq!(added["status"], "enrolled", "{added}");
    assert_eq!(added["voiceprint_ids"], enrolled["voiceprint_ids"], "the same voiceprint is updated");

    // The same voice, other prompts: accepted. Another voice: rejected.
    let same_voice = work.join("same.wav");
    concat(&english[12..16], &same_voice);
    let (ok, accepted, stderr) = speakers(&store, &["verify", "--id", "cust-1", same_voice.to_str().expect("path")]);
    assert!(ok, "{stderr}");
    assert_eq!(accepted["decision"], "accept", "{accepted}");
    assert!(accepted["score"].as_f64().is_some_and(|s| s > accepted["threshold"].as_f64().unwrap_or(f64::MAX)));

    let other_voice = work.join("other.wav");
    concat(&russian[..4], &other_voice);
    let (ok, rejected, stderr) = speakers(&store, &["verify", "--id", "cust-1", other_voice.to_str().expect("path")]);
    assert!(ok, "{stderr}");
    assert_eq!(rejected["decision"], "reject", "{rejected}");

    // Under 3 s of net speech there is no decision.
    let short = work.join("short.wav");
    sox(&[same_voice.to_str().expect("path"), short.to_str().expect("path"), "trim", "0", "1.5"]);
    let (ok, inconclusive, stderr) = speakers(&store, &["verify", "--id", "cust-1", short.to_str().expect("path")]);
    assert!(ok, "{stderr}");
    assert_eq!(inconclusive["decision"], "inconclusive", "{inconclusive}");

    // An unknown speaker is an error that names them.
    let (ok, _, stderr) = speakers(&store, &["verify", "--id", "nobody", same_voice.to_str().expect("path")]);
    assert!(!ok && stderr.contains("nobody"), "{stderr}");

    // The Russian voice goes on the watchlist; verifying it later raises a hit.
    let watch_files: Vec<String> = russian[4..16].iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["watchlist", "add", "--id", "fraud-7"];
    args.extend(watch_files.iter().map(String::as_str));
    let (ok, listed, stderr) = speakers(&store, &args);
    assert!(ok && listed["status"] == "enrolled", "{listed} {stderr}");
    let (ok, screened, stderr) = speakers(&store, &["verify", "--id", "cust-1", other_voice.to_str().expect("path")]);
    assert!(ok, "{stderr}");
    assert_eq!(screened["watchlist_hits"][0]["speaker_id"], "fraud-7", "{screened}");

    // 1:N finds the customer; another tenant finds nobody.
    let (ok, identified, stderr) = speakers(&store, &["identify", same_voice.to_str().expect("path")]);
    assert!(ok, "{stderr}");
    assert_eq!(identified["candidates"][0]["speaker_id"], "cust-1", "{identified}");
    let output = callsight()
        .args(["speakers", "--format", "json", "--tenant", "bank-b", "--data-dir"])
        .arg(&store)
        .args(["identify", same_voice.to_str().expect("path")])
        .output()
        .expect("run");
    let other_tenant: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(other_tenant["candidates"].as_array().map(Vec::len), Some(0), "{other_tenant}");

    // Deletion removes the voiceprint: verifying afterwards is an unknown speaker.
    let (ok, deleted, stderr) = speakers(&store, &["delete", "--id", "cust-1"]);
    assert!(ok && deleted["deleted"] == true, "{deleted} {stderr}");
    let (ok, _, stderr) = speakers(&store, &["verify", "--id", "cust-1", same_voice.to_str().expect("path")]);
    assert!(!ok && stderr.contains("cust-1"), "{stderr}");

    // Every operation is in the audit trail, without audio.
    let db = store.join("callsight.db");
    let output = std::process::Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('\\n'.join(f'{a} {o}' for a,o in c.execute('select action, outcome from audit order by created_at')))"])
        .arg(&db)
        .output()
        .expect("python3 reads the audit table");
    let audit = String::from_utf8_lossy(&output.stdout);
    for expected in ["enrol rejected", "enrol enrolled", "verify accept", "verify reject", "verify inconclusive", "watchlist_add enrolled", "identify match", "delete done"] {
        assert!(audit.contains(expected), "audit lacks {expected:?}:\n{audit}");
    }
    std::fs::remove_dir_all(&work).ok();
}

#[test]
fn speaker_verification_eval_reports_eer_min_dcf_and_a_det_curve() {
    let data = eval_data_dir();
    let work = std::env::temp_dir().join(format!("callsight-sv-eval-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("mkdir");
    let english = clips(&data, "asterisk-en.jsonl");
    let russian = clips(&data, "asterisk-ru.jsonl");
    let mut trials = String::new();
    for i in 0..12 {
        trials += &format!("1 {} {}\n", english[2 * i].display(), english[2 * i + 1].display());
        trials += &format!("1 {} {}\n", russian[2 * i].display(), russian[2 * i + 1].display());
        trials += &format!("0 {} {}\n", english[2 * i].display(), russian[2 * i + 1].display());
        trials += &format!("0 {} {}\n", russian[2 * i].display(), english[2 * i + 1].display());
    }
    let list = work.join("trials.txt");
    std::fs::write(&list, trials).expect("write trials");
    let output = callsight()
        .args(["eval", "speaker-verification", "--format", "json", "--trials"])
        .arg(&list)
        .output()
        .expect("run eval");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let campplus = &report[0];
    assert_eq!(campplus["n_target"], 24);
    assert_eq!(campplus["n_nontarget"], 24);
    let eer = campplus["eer"].as_f64().expect("eer");
    assert!(eer < 0.2, "two clearly different voices: EER {eer}");
    assert!(campplus["min_dcf"].as_f64().is_some_and(|d| (0.0..=1.0).contains(&d)));
    assert!(campplus["cosine_threshold_at_far"].as_f64().is_some());
    let svg = std::fs::read_to_string(work.join("det.svg")).expect("DET curve written next to the list");
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(80)]);
    std::fs::remove_dir_all(&work).ok();
}
