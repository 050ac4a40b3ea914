//! Resampling to the pipeline rate: frequency, level, duration and timing are preserved, and
//! streaming in pieces gives exactly the whole-buffer result.

use callsight_pipeline::audio::{StreamingResampler, resample};
use proptest::prelude::*;

const INPUT_RATES_HZ: [u32; 7] = [8000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000];

fn sine(frequency_hz: f64, sample_rate_hz: u32, n_samples: usize) -> Vec<f32> {
    (0..n_samples)
        .map(|idx| {
            (0.8 * (2.0 * std::f64::consts::PI * frequency_hz * idx as f64
                / f64::from(sample_rate_hz))
            .sin()) as f32
        })
        .collect()
}

fn expected_len(n_input: usize, input_rate_hz: u32, output_rate_hz: u32) -> usize {
    (n_input as f64 * f64::from(output_rate_hz) / f64::from(input_rate_hz)).round() as usize
}

/// Frequency from rising zero crossings, interpolated between samples.
fn zero_crossing_frequency_hz(samples: &[f32], sample_rate_hz: u32) -> f64 {
    let crossings: Vec<f64> = (1..samples.len())
        .filter(|&idx| samples[idx - 1] < 0.0 && samples[idx] >= 0.0)
        .map(|idx| {
            let (before, after) = (f64::from(samples[idx - 1]), f64::from(samples[idx]));
            (idx - 1) as f64 + before / (before - after)
        })
        .collect();
    assert!(crossings.len() >= 2);
    (crossings.len() - 1) as f64 * f64::from(sample_rate_hz)
        / (crossings[crossings.len() - 1] - crossings[0])
}

#[test]
fn a_440_hz_sine_at_every_supported_rate_keeps_frequency_level_duration_and_phase() {
    for input_rate_hz in INPUT_RATES_HZ {
        // 1.37 s: not a whole number of resampler chunks at any rate.
        let n_input = (1.37 * f64::from(input_rate_hz)) as usize;
        let output = resample(&sine(440.0, input_rate_hz, n_input), input_rate_hz, 16_000)
            .expect("resamples");
        assert_eq!(
            output.len(),
            expected_len(n_input, input_rate_hz, 16_000),
            "{input_rate_hz} Hz"
        );

        let middle = &output[output.len() / 10..output.len() * 9 / 10];
        let frequency_hz = zero_crossing_frequency_hz(middle, 16_000);
        assert!(
            (frequency_hz - 440.0).abs() < 0.05,
            "{input_rate_hz} Hz: {frequency_hz} Hz"
        );

        // Time-aligned and at the same level: the output is the same sine sampled at 16 kHz.
        let reference = sine(440.0, 16_000, output.len());
        let max_error = output
            .iter()
            .zip(&reference)
            .skip(output.len() / 10)
            .take(output.len() * 8 / 10)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        assert!(
            max_error < 0.01,
            "{input_rate_hz} Hz: max error {max_error} against the ideal 16 kHz sine"
        );
    }
}

#[test]
fn upsampling_keeps_the_waveform() {
    let input = sine(440.0, 16_000, 16_000);
    let output = resample(&input, 16_000, 48_000).expect("resamples");
    assert_eq!(output.len(), 48_000);
    let reference = sine(440.0, 48_000, 48_000);
    let max_error = output[4800..43_200]
        .iter()
        .zip(&reference[4800..43_200])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0_f32, f32::max);
    assert!(max_error < 0.01, "{max_error}");
}

#[test]
fn an_impulse_comes_out_at_the_same_time() {
    for input_rate_hz in INPUT_RATES_HZ.into_iter().filter(|&rate| rate != 16_000) {
        let mut input = vec![0.0_f32; input_rate_hz as usize];
        let impulse_idx = input.len() * 3 / 7;
        input[impulse_idx] = 1.0;
        let output = resample(&input, input_rate_hz, 16_000).expect("resamples");
        let peak_idx = output
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(idx, _)| idx)
            .unwrap_or(usize::MAX);
        let expected_idx = impulse_idx as f64 * 16_000.0 / f64::from(input_rate_hz);
        assert!(
            (peak_idx as f64 - expected_idx).abs() <= 0.6,
            "{input_rate_hz} Hz: peak at {peak_idx}, expected {expected_idx}"
        );
    }
}

#[test]
fn equal_rates_pass_samples_through_unchanged() {
    let input: Vec<f32> = (0..5000)
        .map(|idx| ((idx * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    assert_eq!(resample(&input, 16_000, 16_000).expect("resamples"), input);
    let mut streaming = StreamingResampler::new(8000, 8000).expect("new");
    assert_eq!(streaming.process(&input[..3]), input[..3]);
    assert!(streaming.finish().is_empty());
}

#[test]
fn a_resampler_is_reusable_after_finish() {
    let input = sine(440.0, 44_100, 30_000);
    let mut streaming = StreamingResampler::new(44_100, 16_000).expect("new");
    let mut first = streaming.process(&input);
    first.extend(streaming.finish());
    let mut second = streaming.process(&input);
    second.extend(streaming.finish());
    assert_eq!(first, second);
    assert_eq!(first, resample(&input, 44_100, 16_000).expect("resamples"));
}

#[test]
fn empty_and_tiny_inputs() {
    assert!(resample::<f32>(&[], 44_100, 16_000).expect("resamples").is_empty());
    assert_eq!(resample(&[0.5], 8000, 16_000).expect("resamples").len(), 2);
    assert_eq!(
        resample(&[0.5; 3], 48_000, 16_000)
            .expect("resamples")
            .len(),
        1
    );
    assert!(
        resample(&[0.5], 48_000, 16_000)
            .expect("resamples")
            .is_empty()
    );
}

#[test]
fn zero_rates_are_rejected() {
    assert!(StreamingResampler::new(0, 16_000).is_err());
    assert!(resample(&[0.0; 10], 16_000, 0).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn streaming_in_random_pieces_equals_whole_buffer_processing(
        rate_idx in 0..INPUT_RATES_HZ.len(),
        n_input in 0_usize..20_000,
        piece_lens in proptest::collection::vec(0_usize..3000, 1..40),
    ) {
        let input_rate_hz = INPUT_RATES_HZ[rate_idx];
        let input: Vec<f32> = (0..n_input).map(|idx| ((idx as f32) * 0.37).sin() * 0.5).collect();
        let whole = resample(&input, input_rate_hz, 16_000).expect("resamples");

        let mut streaming = StreamingResampler::new(input_rate_hz, 16_000).expect("new");
        let mut pieces = Vec::new();
        let mut offset = 0;
        for piece_len in piece_lens.iter().cycle() {
            if offset >= input.len() {
                break;
            }
            let end = (offset + piece_len.max(&1)).min(input.len());
            pieces.extend(streaming.process(&input[offset..end]));
            offset = end;
        }
        pieces.extend(streaming.finish());
        prop_assert_eq!(pieces, whole);
    }

    #[test]
    fn resampling_preserves_duration(
        input_rate_hz in 4000_u32..=192_000,
        output_idx in 0_usize..3,
        n_input in 0_usize..30_000,
    ) {
        let output_rate_hz = [8000, 16_000, 48_000][output_idx];
        let output = resample(&vec![0.25; n_input], input_rate_hz, output_rate_hz).expect("resamples");
        let expected = n_input as f64 * f64::from(output_rate_hz) / f64::from(input_rate_hz);
        prop_assert!((output.len() as f64 - expected).abs() <= 1.0, "{} vs {}", output.len(), expected);
    }
}
