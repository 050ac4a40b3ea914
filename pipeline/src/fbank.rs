//! Kaldi-compatible log-mel filterbank (`compute-fbank-feats`), the front end of CAM++.
//!
//! Reference: Kaldi `src/feat/feature-window.cc`, `feature-fbank.cc`, `mel-computations.cc`
//! (the same definition as `torchaudio.compliance.kaldi.fbank` and PyPI `kaldi-native-fbank`,
//! which `scripts/make-fbank-fixture.py` uses to produce the test fixture).

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::error::{PipelineError, Result};

/// Frames × bins, row-major: one row per 10 ms frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureMatrix {
    pub n_frames: usize,
    pub n_bins: usize,
    pub values: Vec<f32>,
}

impl FeatureMatrix {
    pub fn zeros(n_frames: usize, n_bins: usize) -> Self {
        Self { n_frames, n_bins, values: vec![0.0; n_frames * n_bins] }
    }

    pub fn row(&self, frame_idx: usize) -> &[f32] {
        &self.values[frame_idx * self.n_bins..(frame_idx + 1) * self.n_bins]
    }

    pub fn row_mut(&mut self, frame_idx: usize) -> &mut [f32] {
        &mut self.values[frame_idx * self.n_bins..(frame_idx + 1) * self.n_bins]
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.values.chunks_exact(self.n_bins.max(1)).take(self.n_frames)
    }
}

/// Options of Kaldi's `FbankOptions` that CAM++ depends on; every other option is fixed at the
/// value CAM++ was trained with (dither 0, povey window, power spectrum, log with an
/// `f32::EPSILON` floor, no energy coefficient, no VTLN).
#[derive(Debug, Clone, PartialEq)]
pub struct KaldiFbankConfig {
    pub sample_rate_hz: u32,
    /// Kaldi `--frame-length` (25 ms at 16 kHz).
    pub frame_length_samples: usize,
    /// Kaldi `--frame-shift` (10 ms at 16 kHz).
    pub frame_shift_samples: usize,
    /// Kaldi `--num-mel-bins`.
    pub n_mel_bins: usize,
    /// Kaldi `--low-freq`.
    pub low_freq_hz: f64,
    /// Kaldi `--high-freq`: 0 means the Nyquist frequency, a negative value is an offset from it.
    pub high_freq_hz: f64,
    /// Kaldi `--preemphasis-coefficient`.
    pub preemphasis_coefficient: f64,
    /// Kaldi `--remove-dc-offset`.
    pub remove_dc_offset: bool,
    /// Samples in -1..1 are multiplied by this first: Kaldi reads 16-bit PCM as integers, and
    /// CAM++ (3D-Speaker, sherpa-onnx) feeds it that range.
    pub input_scale: f64,
}

impl Default for KaldiFbankConfig {
    /// Kaldi's defaults with 80 bins at 16 kHz: CAM++'s front end.
    fn default() -> Self {
        Self {
            sample_rate_hz: 16_000,
            frame_length_samples: 400,
            frame_shift_samples: 160,
            n_mel_bins: 80,
            low_freq_hz: 20.0,
            high_freq_hz: 0.0,
            preemphasis_coefficient: 0.97,
            remove_dc_offset: true,
            input_scale: 32_768.0,
        }
    }
}

/// One triangular mel filter over a contiguous run of FFT bins.
#[derive(Debug, Clone)]
struct MelFilter {
    first_fft_bin: usize,
    weights: Vec<f64>,
}

/// A Kaldi fbank extractor with its window, mel filters and FFT plan built once.
pub struct KaldiFbank {
    config: KaldiFbankConfig,
    window: Vec<f64>,
    padded_length: usize,
    filters: Vec<MelFilter>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for KaldiFbank {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("KaldiFbank").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Kaldi's `MelScale`: HTK-style mel, 1127 ln(1 + f / 700).
pub fn kaldi_mel_scale(freq_hz: f64) -> f64 {
    1127.0 * (1.0 + freq_hz / 700.0).ln()
}

/// Kaldi's `FeatureWindowFunction` for "povey": a Hann window raised to 0.85, never zero inside.
fn povey_window(length: usize) -> Vec<f64> {
    let denominator = (length.max(2) - 1) as f64;
    (0..length)
        .map(|idx| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * idx as f64 / denominator).cos()).powf(0.85))
        .collect()
}

impl KaldiFbank {
    pub fn new(config: KaldiFbankConfig) -> Result<Self> {
        let invalid = |reason: String| Err(PipelineError::InvalidOption(format!("kaldi fbank: {reason}")));
        if config.sample_rate_hz == 0 || config.frame_length_samples < 2 || config.frame_shift_samples == 0 {
            return invalid(format!("{config:?} has a zero rate, frame length or shift"));
        }
        if config.n_mel_bins < 3 {
            return invalid(format!("{} mel bins; Kaldi needs at least 3", config.n_mel_bins));
        }
        let nyquist_hz = f64::from(config.sample_rate_hz) / 2.0;
        let high_freq_hz = if config.high_freq_hz <= 0.0 { nyquist_hz + config.high_freq_hz } else { config.high_freq_hz };
        if !(config.low_freq_hz >= 0.0 && config.low_freq_hz < high_freq_hz && high_freq_hz <= nyquist_hz) {
            return invalid(format!("bad frequency range {} Hz .. {high_freq_hz} Hz", config.low_freq_hz));
        }
        // Kaldi `--round-to-power-of-two` (default true): 400 samples -> 512-point FFT.
        let padded_length = config.frame_length_samples.next_power_of_two();
        let filters = kaldi_mel_filters(&config, padded_length, high_freq_hz);
        if filters.iter().any(|filter| filter.weights.is_empty()) {
            return invalid(format!("{} mel bins leave some bins without an FFT bin", config.n_mel_bins));
        }
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(padded_length);
        let window = povey_window(config.frame_length_samples);
        Ok(Self { config, window, padded_length, filters, fft })
    }

    pub fn config(&self) -> &KaldiFbankConfig {
        &self.config
    }

    /// Frames Kaldi makes from `n_samples` with `--snip-edges=true`: only whole frames.
    pub fn n_frames(&self, n_samples: usize) -> usize {
        if n_samples < self.config.frame_length_samples {
            0
        } else {
            1 + (n_samples - self.config.frame_length_samples) / self.config.frame_shift_samples
        }
    }

    /// Log-mel energies of `samples` (mono, -1..1, at `sample_rate_hz`); `n_frames(len)` rows.
    pub fn compute(&self, samples: &[f32]) -> FeatureMatrix {
        let n_frames = self.n_frames(samples.len());
        let mut features = FeatureMatrix::zeros(n_frames, self.config.n_mel_bins);
        let frame_length = self.config.frame_length_samples;
        let mut frame = vec![0.0_f64; frame_length];
        let mut fft_input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0_f64; spectrum.len()];
        for frame_idx in 0..n_frames {
            let start = frame_idx * self.config.frame_shift_samples;
            for (slot, &sample) in frame.iter_mut().zip(&samples[start..start + frame_length]) {
                *slot = f64::from(sample) * self.config.input_scale;
            }
            if self.config.remove_dc_offset {
                let mean = frame.iter().sum::<f64>() / frame_length as f64;
                frame.iter_mut().for_each(|value| *value -= mean);
            }
            // Kaldi `Preemphasize`: backwards so each sample uses its unmodified predecessor; the
            // first sample is paired with itself.
            let coefficient = self.config.preemphasis_coefficient;
            if coefficient != 0.0 {
                for idx in (1..frame_length).rev() {
                    frame[idx] -= coefficient * frame[idx - 1];
                }
                frame[0] -= coefficient * frame[0];
            }
            fft_input.fill(0.0);
            for ((slot, value), weight) in fft_input.iter_mut().zip(&frame).zip(&self.window) {
                *slot = value * weight;
            }
            // Buffer lengths come from the plan itself, so this cannot fail.
            if self.fft.process_with_scratch(&mut fft_input, &mut spectrum, &mut scratch).is_err() {
                continue;
            }
            for (slot, bin) in power.iter_mut().zip(&spectrum) {
                *slot = bin.re * bin.re + bin.im * bin.im;
            }
            for (slot, filter) in features.row_mut(frame_idx).iter_mut().zip(&self.filters) {
                let energy: f64 =
                    filter.weights.iter().zip(&power[filter.first_fft_bin..]).map(|(weight, bin)| weight * bin).sum();
                // Kaldi floors at `std::numeric_limits<float>::epsilon()` before the log.
                *slot = energy.max(f64::from(f32::EPSILON)).ln() as f32;
            }
        }
        features
    }

    /// FFT size after rounding the frame length up to a power of two.
    pub fn padded_length(&self) -> usize {
        self.padded_length
    }
}

/// Kaldi `MelBanks`: triangles equally spaced on the mel scale between low and high frequency,
/// evaluated at the FFT bin centres 0..N/2 (the Nyquist bin is never used, as in Kaldi).
fn kaldi_mel_filters(config: &KaldiFbankConfig, padded_length: usize, high_freq_hz: f64) -> Vec<MelFilter> {
    let n_fft_bins = padded_length / 2;
    let fft_bin_width_hz = f64::from(config.sample_rate_hz) / padded_length as f64;
    let mel_low = kaldi_mel_scale(config.low_freq_hz);
    let mel_high = kaldi_mel_scale(high_freq_hz);
    let mel_delta = (mel_high - mel_low) / (config.n_mel_bins + 1) as f64;
    (0..config.n_mel_bins)
        .map(|bin_idx| {
            let left_mel = mel_low + bin_idx as f64 * mel_delta;
            let center_mel = left_mel + mel_delta;
            let right_mel = center_mel + mel_delta;
            let mut first_fft_bin = None;
            let mut weights = Vec::new();
            for fft_bin in 0..n_fft_bins {
                let mel = kaldi_mel_scale(fft_bin_width_hz * fft_bin as f64);
                if mel > left_mel && mel < right_mel {
                    let weight = if mel <= center_mel {
                        (mel - left_mel) / (center_mel - left_mel)
                    } else {
                        (right_mel - mel) / (right_mel - center_mel)
                    };
                    first_fft_bin.get_or_insert(fft_bin);
                    weights.push(weight);
                }
            }
            MelFilter { first_fft_bin: first_fft_bin.unwrap_or(0), weights }
        })
        .collect()
}

/// Cepstral mean normalisation over one utterance: subtracts each bin's mean over all frames
/// (3D-Speaker's `FBank` does `feat - feat.mean(0)` before CAM++).
pub fn subtract_mean_per_bin(features: &mut FeatureMatrix) {
    if features.n_frames == 0 {
        return;
    }
    let mut means = vec![0.0_f64; features.n_bins];
    for row in features.rows() {
        for (mean, &value) in means.iter_mut().zip(row) {
            *mean += f64::from(value);
        }
    }
    let n_frames = features.n_frames as f64;
    let means: Vec<f32> = means.iter().map(|sum| (sum / n_frames) as f32).collect();
    for frame_idx in 0..features.n_frames {
        for (value, mean) in features.row_mut(frame_idx).iter_mut().zip(&means) {
            *value -= mean;
        }
    }
}
