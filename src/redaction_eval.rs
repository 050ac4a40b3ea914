//! `callsight eval redaction`: recall and precision of PCI/PII detection per type and language
//! on generated labelled calls (`callsight_eval::redaction`), on their text and, with
//! `--audio N`, on N calls per language spoken by espeak-ng, made telephone audio (8 kHz µ-law)
//! and transcribed by the real pipeline.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use callsight_eval::redaction::{LabelledCall, RedactionEval, evaluate_text, generate_calls, render_markdown};
use callsight_pipeline::analyze::{AnalyzeOptions, ChannelLayout, analyze_call};
use callsight_pipeline::audio::{DecodedAudio, sample_from_f32};
use callsight_pipeline::audio::g711::{linear_to_mulaw, mulaw_to_linear};
use callsight_pipeline::redaction::{RedactionConfig, find_entities};
use callsight_pipeline::types::Speaker;

use crate::cli::ModelArgs;
use crate::engines::{WhisperModel, load_engines};

pub struct RedactionEvalArgs {
    pub seed: u64,
    pub calls_per_language: usize,
    pub audio_calls_per_language: usize,
    pub json_out: Option<PathBuf>,
    pub work_dir: Option<PathBuf>,
}

pub fn run(args: RedactionEvalArgs, models: &ModelArgs) -> anyhow::Result<()> {
    let calls = generate_calls(args.seed, args.calls_per_language);
    let config = RedactionConfig::all();
    let text_eval = evaluate_text(&calls, &config);
    println!("{}", render_markdown(&text_eval, &format!("Text (seed {}, transcripts as written)", args.seed)));
    for (call, line, what) in text_eval.errors.iter().take(15) {
        println!("- {call}: {what}: {line:?}");
    }
    let mut results = serde_json::json!({"seed": args.seed, "text": text_eval});
    if args.audio_calls_per_language > 0 {
        let audio_eval = evaluate_audio(&calls, &args, models, &config)?;
        println!("\n{}", render_markdown(&audio_eval, "Audio (espeak-ng, 8 kHz µ-law, whisper base)"));
        for (call, line, what) in audio_eval.errors.iter().take(15) {
            println!("- {call}: {what}: {line:?}");
        }
        results["audio"] = serde_json::to_value(&audio_eval)?;
    }
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&results)? + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Speaks one line with espeak-ng (22.05 kHz mono).
fn speak(text: &str, voice: &str, path: &Path) -> anyhow::Result<DecodedAudio> {
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(path)
        .arg(text)
        .status()
        .context("running espeak-ng (Debian package espeak-ng)")?;
    anyhow::ensure!(status.success(), "espeak-ng failed for {text:?}");
    Ok(callsight_pipeline::audio::decode_file(path)?)
}

/// One stereo telephone call (agent left, customer right, 8 kHz, through µ-law) and where each
/// line is on it.
fn synthesize(call: &LabelledCall, dir: &Path) -> anyhow::Result<(DecodedAudio, Vec<(f64, f64)>)> {
    let russian = call.language == "ru";
    let mut tracks: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    let mut placed = Vec::new();
    let mut at_secs = 0.3;
    let mut rate = 22_050;
    for (idx, line) in call.lines.iter().enumerate() {
        let voice = match (russian, line.speaker) {
            (true, Speaker::Customer) => "ru+f3",
            (true, _) => "ru",
            (false, Speaker::Customer) => "en-gb-x-rp+f3",
            (false, _) => "en-us",
        };
        let path = dir.join(format!("{}-{idx}.wav", call.id));
        let decoded = speak(&line.text, voice, &path)?;
        rate = decoded.sample_rate_hz;
        let samples = decoded.channel_f32(0);
        let channel = usize::from(line.speaker == Speaker::Customer);
        let start = (at_secs * f64::from(rate)) as usize;
        let track = &mut tracks[channel];
        track.resize(start, 0.0);
        track.extend_from_slice(&samples);
        let end_secs = at_secs + samples.len() as f64 / f64::from(rate);
        placed.push((at_secs, end_secs));
        at_secs = end_secs + 0.6;
    }
    let n = tracks.iter().map(Vec::len).max().unwrap_or(0) + rate as usize;
    let mut channels = Vec::new();
    for mut track in tracks {
        track.resize(n, 0.0);
        let telephone = callsight_pipeline::audio::resample(&track, rate, 8_000)?;
        channels.push(telephone.iter().map(|&s| mulaw_to_linear(linear_to_mulaw(sample_from_f32(s)))).collect());
    }
    Ok((DecodedAudio { sample_rate_hz: 8_000, channels }, placed))
}

fn evaluate_audio(
    calls: &[LabelledCall],
    args: &RedactionEvalArgs,
    models: &ModelArgs,
    config: &RedactionConfig,
) -> anyhow::Result<RedactionEval> {
    let work_dir = args.work_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("callsight-redaction-eval"));
    std::fs::create_dir_all(&work_dir)?;
    let threads = models.threads.unwrap_or_else(crate::cli::default_threads);
    let engines = load_engines(models, WhisperModel::Base, threads, 1)?;
    let chosen: Vec<&LabelledCall> = ["en", "ru"]
        .iter()
        .flat_map(|language| calls.iter().filter(move |c| c.language == *language).take(args.audio_calls_per_language))
        .collect();
    let mut eval = RedactionEval { n_calls: chosen.len(), ..RedactionEval::default() };
    for call in chosen {
        let (audio, placed) = synthesize(call, &work_dir)?;
        let options = AnalyzeOptions {
            channel_layout: Some(ChannelLayout::AgentCustomer),
            language: Some(call.language.clone()),
            ..AnalyzeOptions::default()
        };
        let analysis = analyze_call(&audio, &options, &engines, &|_, _, _| {})?;
        let found = find_entities(&analysis.turns, config);
        let per_language = eval.counts.entry(call.language.clone()).or_default();
        // A detection belongs to the line of the same party whose time it overlaps most.
        let line_of = |speaker: Speaker, start: f64, end: f64| -> Option<usize> {
            call.lines
                .iter()
                .enumerate()
                .filter(|(_, line)| line.speaker == speaker)
                .map(|(idx, _)| (idx, (end.min(placed[idx].1 + 0.5) - start.max(placed[idx].0 - 0.5)).max(0.0)))
                .filter(|(_, overlap)| *overlap > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(idx, _)| idx)
        };
        let detections: Vec<(Option<usize>, &callsight_pipeline::redaction::EntityInWords)> =
            found.iter().map(|e| (line_of(e.speaker, e.start_secs, e.end_secs), e)).collect();
        let recognised: String = analysis.turns.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" | ");
        for (line_idx, line) in call.lines.iter().enumerate() {
            let in_line: Vec<_> = detections.iter().filter(|(l, _)| *l == Some(line_idx)).map(|(_, e)| *e).collect();
            if line.decoy {
                eval.decoys += 1;
                if !in_line.is_empty() {
                    eval.decoys_touched += 1;
                }
            }
            let label = line.entity.map(|(kind, _, _)| kind).filter(|kind| config.enables(*kind));
            if let Some(kind) = label {
                let counts = per_language.entry(kind.as_str().to_string()).or_default();
                if in_line.iter().any(|e| e.kind == kind) {
                    counts.true_positives += 1;
                } else {
                    counts.false_negatives += 1;
                    if eval.errors.len() < 60 {
                        let heard = analysis
                            .turns
                            .iter()
                            .filter(|t| t.speaker == line.speaker && t.end_secs > placed[line_idx].0 && t.start_secs < placed[line_idx].1)
                            .map(|t| t.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" ");
                        eval.errors.push((call.id.clone(), format!("said {:?}, heard {heard:?}", line.text), format!("missed {}", kind.as_str())));
                    }
                }
                if !in_line.is_empty() {
                    counts.fully_covered += 1;
                }
            }
            for entity in &in_line {
                if label != Some(entity.kind) {
                    per_language.entry(entity.kind.as_str().to_string()).or_default().false_positives += 1;
                    if eval.errors.len() < 60 {
                        eval.errors.push((call.id.clone(), line.text.clone(), format!("false {}", entity.kind.as_str())));
                    }
                }
            }
        }
        // Detections outside every line (a word timed between lines) count as false positives.
        for (line, entity) in &detections {
            if line.is_none() {
                per_language.entry(entity.kind.as_str().to_string()).or_default().false_positives += 1;
            }
        }
        tracing::info!(call = %call.id, %recognised, "redaction eval call done");
        eprintln!("{}: {} detections", call.id, found.len());
    }
    Ok(eval)
}
