//! The bench report generator on a tiny results folder: every section renders from its file,
//! missing parts say so, and every plot is well-formed standalone SVG.

use std::path::Path;

use callsight_eval::report::{
    AsrRun, ComplianceItem, ComplianceResults, MachineInfo, ProbeLatency, SpeedResults, SpeedRun, SpeedSystem,
    VerifyLatencyRun, write_report,
};
use callsight_eval::{Utterance, evaluate_asr};

fn write(dir: &Path, name: &str, value: &impl serde::Serialize) -> anyhow::Result<()> {
    std::fs::write(dir.join(name), serde_json::to_string(value)?)?;
    Ok(())
}

fn tiny_results(dir: &Path) -> anyhow::Result<()> {
    let machine = MachineInfo {
        cpu_model: "Test CPU".into(),
        cores: 2,
        ram_gib: 24.0,
        os: "Debian GNU/Linux 12".into(),
        callsight_commit: "abc123".into(),
        whisper_rs: "whisper-rs 0.15".into(),
        faster_whisper: Some("1.2.1".into()),
        started_at: "2026-11-23 19:00:00 UTC".into(),
        load_average_start: "3.0 2.0 1.0".into(),
        note: "three builds were running".into(),
        ..MachineInfo::default()
    };
    write(dir, "machine.json", &machine)?;
    std::fs::write(
        dir.join("commands.jsonl"),
        "{\"step\":\"asr: tiny\",\"command\":\"callsight eval asr | x\",\"wall_secs\":1.5,\"exit_code\":0}\n",
    )?;

    let utterances = vec![
        Utterance { id: "a".into(), audio: "a.wav".into(), text: "press one".into(), language: "en".into() },
        Utterance { id: "b".into(), audio: "b.wav".into(), text: "good bye".into(), language: "en".into() },
    ];
    let mut transcribe = |utterance: &Utterance| -> anyhow::Result<String> {
        Ok(if utterance.id == "a" { "press 1".into() } else { "goodbye".into() })
    };
    let report = evaluate_asr(&utterances, &mut transcribe, &mut |_, _| {});
    let run = AsrRun {
        set: "tiny-en".into(),
        manifest: "tiny.jsonl".into(),
        engine: "pipeline".into(),
        model: "whisper-base".into(),
        threads: 2,
        language_hint: false,
        allowed_languages: vec!["en".into(), "ru".into()],
        limit: Some(2),
        audio_secs: 4.0,
        processing_secs: 2.0,
        stage_secs: Some(Default::default()),
        report,
    };
    write(dir, "asr-tiny-en.json", &run)?;

    let speed = SpeedResults {
        manifest: "long.jsonl".into(),
        n_files: 1,
        audio_secs: 40.0,
        threads: 2,
        beam_size: 1,
        vad: "silero".into(),
        language: "en".into(),
        systems: vec![
            SpeedSystem {
                name: "Callsight".into(),
                weights: "ggml".into(),
                runs: vec![
                    SpeedRun { wall_secs: 12.0, processing_secs: 10.0, peak_rss_mib: 500.0 },
                    SpeedRun { wall_secs: 14.0, processing_secs: 12.0, peak_rss_mib: 510.0 },
                ],
                wer: Some(0.05),
                cer: Some(0.02),
                command: "callsight eval asr".into(),
            },
            SpeedSystem {
                name: "faster-whisper int8".into(),
                weights: "ct2".into(),
                runs: vec![SpeedRun { wall_secs: 8.0, processing_secs: 5.5, peak_rss_mib: 300.0 }],
                wer: Some(0.06),
                cer: None,
                command: "python bench_speed.py".into(),
            },
        ],
    };
    write(dir, "speed.json", &speed)?;

    let item = |rule: &str, expected_pass: bool, passed: Option<bool>| ComplianceItem {
        call: "call-01".into(),
        rule: rule.into(),
        kind: "required".into(),
        wording: "paraphrase".into(),
        channel: "telephone".into(),
        voice: "en-us".into(),
        expected_pass,
        passed,
        said_at_secs: Some(3.0),
        evidence_at_secs: Some(3.4),
    };
    let compliance = ComplianceResults {
        script: "examples/card-services.json".into(),
        n_calls: 1,
        items: vec![item("greeting", true, Some(true)), item("closing", false, Some(true))],
    };
    write(dir, "compliance.json", &compliance)?;

    let latency = VerifyLatencyRun {
        model: "campplus".into(),
        threads: 2,
        enrol_net_speech_secs: 40.0,
        probes: vec![ProbeLatency {
            probe: "probe-3s".into(),
            audio_secs: 3.0,
            net_speech_secs: 2.5,
            decision: "accept".into(),
            score: Some(3.2),
            latencies_ms: vec![120.0, 100.0, 140.0],
        }],
    };
    write(dir, "verify-latency.json", &latency)?;
    Ok(())
}

#[test]
fn report_renders_every_present_section_and_well_formed_plots() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let results = temp.path().join("results");
    std::fs::create_dir_all(&results)?;
    tiny_results(&results)?;
    let report_path = temp.path().join("REPORT.md");
    let plots = temp.path().join("plots");
    let written = write_report(&results, &report_path, &plots, "make bench")?;
    let markdown = std::fs::read_to_string(&report_path)?;

    assert!(markdown.contains("Test CPU (2 cores)"), "{markdown}");
    assert!(markdown.contains("three builds were running"));
    // "press one" vs "press 1": numbers are normalised, so only "good bye" vs "goodbye" is wrong.
    assert!(markdown.contains("| tiny-en | en | 2 | 2 | 1 | 50.00 % |"), "{markdown}");
    assert!(markdown.contains("no (among en,ru)"));
    // Speed: medians over runs and the ratio to the first system.
    assert!(markdown.contains("0.275 [0.250–0.300]"), "{markdown}");
    assert!(markdown.contains("| 0.50× |"), "{markdown}");
    // Compliance: one of two items wrong; the missed violation is listed.
    assert!(markdown.contains("| all | 2 | 1 | 0 | – | 0.0 % | 50.0 % | 0.40 s | 0.40 s |"), "{markdown}");
    assert!(markdown.contains("| call-01 | closing | paraphrase | telephone | en-us | fail | pass |"));
    assert!(markdown.contains("| probe-3s | 3.0 s | 2.5 s | accept | 3.20 | 3 | 120 ms |"), "{markdown}");
    assert!(markdown.contains("`callsight eval asr \\| x`"), "{markdown}");
    for section in ["## 2. Speaker verification", "## 3. Sentiment", "## 7. Voiceprint search in the embedded index"] {
        let after = markdown.split(section).nth(1).unwrap_or_default();
        assert!(after.trim_start().starts_with("Not measured in this run."), "{section}");
    }

    assert_eq!(written.len(), 3, "{written:?}");
    for path in &written {
        let svg = std::fs::read_to_string(path)?;
        let document = roxmltree::Document::parse(&svg).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        assert_eq!(document.root_element().tag_name().name(), "svg");
        assert!(!svg.contains("<script") && !svg.contains("href"), "plots must be self-contained: {}", path.display());
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(markdown.contains(&format!("(plots/{name})")), "{name} is not linked");
    }
    Ok(())
}

#[test]
fn an_empty_results_folder_gives_a_report_of_missing_parts() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let report_path = temp.path().join("REPORT.md");
    let written = write_report(temp.path(), &report_path, &temp.path().join("plots"), "make bench")?;
    let markdown = std::fs::read_to_string(&report_path)?;
    assert!(written.is_empty());
    assert!(markdown.contains("No `machine.json` in this run."));
    assert_eq!(markdown.matches("Not measured in this run.").count(), 7);
    Ok(())
}

#[test]
fn a_corrupt_result_file_is_an_error_naming_it() {
    let temp = tempfile::tempdir().expect("temp dir");
    std::fs::write(temp.path().join("speed.json"), "{not json").expect("write");
    let error = write_report(temp.path(), &temp.path().join("R.md"), &temp.path().join("plots"), "make bench")
        .expect_err("corrupt JSON must fail");
    assert!(format!("{error:#}").contains("speed.json"), "{error:#}");
}
