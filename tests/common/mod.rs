//! Test calls made on the spot: each party's lines spoken by espeak-ng with its own voice, placed
//! at known times on its own channel, then turned into telephone audio with sox.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const SYNTH_RATE_HZ: u32 = 22_050;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Agent,
    Customer,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub party: Party,
    pub start_secs: f64,
    pub text: &'static str,
}

pub fn agent(start_secs: f64, text: &'static str) -> Line {
    Line { party: Party::Agent, start_secs, text }
}

pub fn customer(start_secs: f64, text: &'static str) -> Line {
    Line { party: Party::Customer, start_secs, text }
}

/// Where each line actually landed (espeak decides the duration).
#[derive(Debug, Clone)]
pub struct PlacedLine {
    pub party: Party,
    pub start_secs: f64,
    pub end_secs: f64,
    pub text: &'static str,
}

pub struct SynthCall {
    pub stereo_path: PathBuf,
    pub lines: Vec<PlacedLine>,
    pub duration_secs: f64,
}

fn voice(party: Party, language: &str) -> String {
    match (language, party) {
        ("ru", Party::Agent) => "ru".into(),
        ("ru", Party::Customer) => "ru+f3".into(),
        (_, Party::Agent) => "en-us".into(),
        (_, Party::Customer) => "en-gb-x-rp+f3".into(),
    }
}

fn speak(text: &str, voice: &str, path: &Path) -> Vec<f32> {
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "155", "-w"])
        .arg(path)
        .arg(text)
        .status()
        .expect("espeak-ng is installed by the setup step");
    assert!(status.success(), "espeak-ng failed for {text:?}");
    let mut reader = hound::WavReader::open(path).expect("espeak-ng writes WAV");
    assert_eq!(reader.spec().sample_rate, SYNTH_RATE_HZ);
    reader.samples::<i16>().map(|s| s.expect("valid sample") as f32 / 32768.0).collect()
}

/// Synthesises `lines` into `dir/name.wav`: stereo (agent left, customer right), 8 kHz G.711 µ-law,
/// `tail_secs` of silence after the last line. Also writes `name-mono16k.wav` (both mixed, 16 kHz PCM).
pub fn synthesize(dir: &Path, name: &str, language: &str, lines: &[Line], tail_secs: f64) -> SynthCall {
    let mut placed = Vec::new();
    let mut tracks: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    for (idx, line) in lines.iter().enumerate() {
        let samples = speak(line.text, &voice(line.party, language), &dir.join(format!("{name}-line{idx}.wav")));
        let track = &mut tracks[line.party as usize];
        let start = (line.start_secs * SYNTH_RATE_HZ as f64) as usize;
        if track.len() < start + samples.len() {
            track.resize(start + samples.len(), 0.0);
        }
        for (slot, sample) in track[start..].iter_mut().zip(&samples) {
            *slot += sample;
        }
        // espeak pads its output with a little silence; find where the voice really is.
        let threshold = 0.01;
        let first = samples.iter().position(|s| s.abs() > threshold).unwrap_or(0);
        let last = samples.iter().rposition(|s| s.abs() > threshold).unwrap_or(samples.len());
        placed.push(PlacedLine {
            party: line.party,
            start_secs: line.start_secs + first as f64 / SYNTH_RATE_HZ as f64,
            end_secs: line.start_secs + last as f64 / SYNTH_RATE_HZ as f64,
            text: line.text,
        });
    }
    let n_samples = tracks.iter().map(Vec::len).max().unwrap_or(0) + (tail_secs * SYNTH_RATE_HZ as f64) as usize;
    for track in &mut tracks {
        track.resize(n_samples, 0.0);
    }
    let raw_path = dir.join(format!("{name}-raw.wav"));
    let spec = hound::WavSpec { channels: 2, sample_rate: SYNTH_RATE_HZ, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(&raw_path, spec).expect("create wav");
    for idx in 0..n_samples {
        for track in &tracks {
            writer.write_sample((track[idx].clamp(-1.0, 1.0) * 32767.0) as i16).expect("write");
        }
    }
    writer.finalize().expect("finalize wav");
    let stereo_path = dir.join(format!("{name}.wav"));
    sox(&[raw_path.to_str().unwrap_or_default(), "-r", "8000", "-e", "u-law", "-b", "8", stereo_path.to_str().unwrap_or_default()]);
    let mono_path = dir.join(format!("{name}-mono16k.wav"));
    sox(&[raw_path.to_str().unwrap_or_default(), "-r", "16000", "-c", "1", "-b", "16", mono_path.to_str().unwrap_or_default()]);
    SynthCall { stereo_path, lines: placed, duration_secs: n_samples as f64 / SYNTH_RATE_HZ as f64 }
}

pub fn sox(args: &[&str]) {
    let status = Command::new("sox").args(args).status().expect("sox is installed by the setup step");
    assert!(status.success(), "sox {args:?} failed");
}

/// The `callsight` binary under test.
pub fn callsight() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callsight"))
}
