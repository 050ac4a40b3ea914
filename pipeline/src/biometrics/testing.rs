//! Fakes for unit tests of the biometric orchestration: a tone "voice" embedder, an energy VAD
//! and an in-memory voiceprint index. The real engines are tested in `models` and by the eval.

use std::sync::Mutex;

use crate::biometrics::{Calibration, ModelId};
use crate::engines::{VAD_FRAME_SAMPLES, VoiceActivityDetector};
use crate::error::Result;
use crate::speaker::{SpeakerEmbedder, Voiceprint, VoiceprintFilter, VoiceprintHit, VoiceprintIndex};

pub const RATE: usize = 16_000;

/// Deterministic generator (splitmix64) so tests need no `rand`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn gaussian(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A "voice" is a tone; the embedding is the normalised power at [`BAND_HZ`] frequencies, so two
/// voices on different bands have cosine ≈ 0 and one voice with itself ≈ 1.
pub struct ToneEmbedder;

pub const BAND_HZ: [f64; 8] = [200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0];

impl SpeakerEmbedder for ToneEmbedder {
    fn embed(&self, samples_16k: &[f32]) -> Result<Vec<f32>> {
        let mut embedding: Vec<f32> = BAND_HZ
            .iter()
            .map(|&hz| {
                // Goertzel power at `hz`.
                let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / RATE as f64).cos();
                let (mut s1, mut s2) = (0.0f64, 0.0f64);
                for &x in samples_16k {
                    let s0 = f64::from(x) + coefficient * s1 - s2;
                    s2 = s1;
                    s1 = s0;
                }
                ((s1 * s1 + s2 * s2 - coefficient * s1 * s2) / samples_16k.len().max(1) as f64).sqrt() as f32
            })
            .collect();
        super::l2_normalise(&mut embedding);
        Ok(embedding)
    }
    fn model_name(&self) -> &str {
        "tone"
    }
    fn model_version(&self) -> &str {
        "1"
    }
    fn dimension(&self) -> usize {
        BAND_HZ.len()
    }
    fn min_samples(&self) -> usize {
        RATE / 4
    }
}

/// Speech wherever a frame's RMS is above 0.01.
pub struct EnergyVad;

impl VoiceActivityDetector for EnergyVad {
    fn speech_probabilities(&self, samples_16k: &[f32]) -> Result<Vec<f32>> {
        Ok(samples_16k
            .chunks(VAD_FRAME_SAMPLES)
            .map(|frame| {
                let rms = (frame.iter().map(|x| x * x).sum::<f32>() / frame.len() as f32).sqrt();
                if rms > 0.01 { 0.95 } else { 0.02 }
            })
            .collect())
    }
}

/// `secs` of a tone at `hz`, amplitude `amplitude`, plus a little noise.
pub fn tone(hz: f64, secs: f64, amplitude: f32, rng: &mut Rng) -> Vec<f32> {
    (0..(secs * RATE as f64) as usize)
        .map(|i| {
            let phase = 2.0 * std::f64::consts::PI * hz * i as f64 / RATE as f64;
            amplitude * phase.sin() as f32 + 0.001 * rng.gaussian() as f32
        })
        .collect()
}

/// `secs` of quiet background noise (RMS ≈ `rms`).
pub fn noise(secs: f64, rms: f32, rng: &mut Rng) -> Vec<f32> {
    (0..(secs * RATE as f64) as usize).map(|_| rms * rng.gaussian() as f32).collect()
}

/// A voiceprint index in a vector, with the filter semantics of the contract.
#[derive(Default)]
pub struct MemoryIndex {
    pub voiceprints: Mutex<Vec<Voiceprint>>,
    /// Every filter a search or listing was called with, to check what the logic passes through.
    pub seen_filters: Mutex<Vec<VoiceprintFilter>>,
}

fn matches(voiceprint: &Voiceprint, filter: &VoiceprintFilter) -> bool {
    voiceprint.tenant == filter.tenant
        && voiceprint.model_name == filter.model_name
        && voiceprint.model_version == filter.model_version
        && filter.kind.is_none_or(|kind| kind == voiceprint.kind)
        && filter.speaker_id.as_ref().is_none_or(|id| *id == voiceprint.speaker_id)
}

impl VoiceprintIndex for MemoryIndex {
    fn upsert(&self, voiceprints: &[Voiceprint]) -> Result<()> {
        let mut stored = self.voiceprints.lock().unwrap();
        for voiceprint in voiceprints {
            stored.retain(|v| v.id != voiceprint.id);
            stored.push(voiceprint.clone());
        }
        Ok(())
    }
    fn search(&self, query: &[f32], filter: &VoiceprintFilter, limit: usize) -> Result<Vec<VoiceprintHit>> {
        self.seen_filters.lock().unwrap().push(filter.clone());
        let mut hits: Vec<VoiceprintHit> = self
            .voiceprints
            .lock()
            .unwrap()
            .iter()
            .filter(|v| matches(v, filter))
            .map(|v| VoiceprintHit { cosine: super::cosine(query, &v.vector), voiceprint: v.clone() })
            .collect();
        hits.sort_by(|a, b| b.cosine.total_cmp(&a.cosine));
        hits.truncate(limit);
        Ok(hits)
    }
    fn list(&self, filter: &VoiceprintFilter) -> Result<Vec<Voiceprint>> {
        self.seen_filters.lock().unwrap().push(filter.clone());
        Ok(self.voiceprints.lock().unwrap().iter().filter(|v| matches(v, filter)).cloned().collect())
    }
    fn delete_speaker(&self, tenant: &str, speaker_id: &str) -> Result<usize> {
        let mut stored = self.voiceprints.lock().unwrap();
        let before = stored.len();
        stored.retain(|v| !(v.tenant == tenant && v.speaker_id == speaker_id));
        Ok(before - stored.len())
    }
    fn backend_name(&self) -> &str {
        "memory"
    }
}

/// A calibration of [`ToneEmbedder`] fitted on synthetic trials: same tone ≈ 0.95, other ≈ 0.1.
pub fn tone_calibration() -> Calibration {
    let mut rng = Rng::new(99);
    let target: Vec<f64> = (0..2000).map(|_| 0.95 + 0.03 * rng.gaussian()).collect();
    let nontarget: Vec<f64> = (0..5000).map(|_| 0.1 + 0.1 * rng.gaussian()).collect();
    let model = ModelId { model_name: "tone".into(), model_version: "1".into() };
    Calibration::fit(&model, &target, &nontarget, 0.5, "synthetic tone trials").unwrap()
}
