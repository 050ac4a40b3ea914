//! Raw sample bytes from a live stream into per-channel floats, frames split anywhere.
//!
//! A WebSocket client may cut its binary frames at any byte, even inside a sample: the decoder
//! keeps the incomplete tail until the next piece arrives.

use serde::{Deserialize, Serialize};

use crate::audio::g711::{alaw_to_linear, mulaw_to_linear};
use crate::error::{PipelineError, Result};

/// How the client encodes its samples (interleaved when there are several channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleEncoding {
    /// Signed 16-bit little-endian PCM.
    PcmS16le,
    /// G.711 µ-law, one byte per sample.
    Mulaw,
    /// G.711 A-law, one byte per sample.
    Alaw,
    /// 32-bit little-endian IEEE float in -1..1.
    F32le,
}

impl SampleEncoding {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "pcm_s16le" => Ok(Self::PcmS16le),
            "mulaw" => Ok(Self::Mulaw),
            "alaw" => Ok(Self::Alaw),
            "f32le" => Ok(Self::F32le),
            other => Err(PipelineError::InvalidOption(format!(
                "encoding {other:?}: expected \"pcm_s16le\", \"mulaw\", \"alaw\" or \"f32le\""
            ))),
        }
    }

    pub fn bytes_per_sample(self) -> usize {
        match self {
            Self::PcmS16le => 2,
            Self::Mulaw | Self::Alaw => 1,
            Self::F32le => 4,
        }
    }
}

/// Turns byte pieces of any size into per-channel samples.
#[derive(Debug)]
pub struct SampleDecoder {
    encoding: SampleEncoding,
    n_channels: usize,
    /// Bytes of an incomplete frame (fewer than one sample per channel) carried to the next piece.
    leftover: Vec<u8>,
}

impl SampleDecoder {
    pub fn new(encoding: SampleEncoding, n_channels: usize) -> Self {
        Self { encoding, n_channels: n_channels.max(1), leftover: Vec::new() }
    }

    /// Bytes held back because they do not yet make up a whole frame.
    pub fn n_leftover_bytes(&self) -> usize {
        self.leftover.len()
    }

    /// Decodes every whole frame in `leftover + bytes`; returns one `Vec` per channel.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<f32>> {
        let frame_bytes = self.encoding.bytes_per_sample() * self.n_channels;
        let mut data = std::mem::take(&mut self.leftover);
        data.extend_from_slice(bytes);
        let n_frames = data.len() / frame_bytes;
        let mut channels: Vec<Vec<f32>> = (0..self.n_channels).map(|_| Vec::with_capacity(n_frames)).collect();
        let sample_bytes = self.encoding.bytes_per_sample();
        for frame in data[..n_frames * frame_bytes].chunks_exact(frame_bytes) {
            for (channel, sample) in channels.iter_mut().zip(frame.chunks_exact(sample_bytes)) {
                channel.push(decode_sample(self.encoding, sample));
            }
        }
        self.leftover = data.split_off(n_frames * frame_bytes);
        channels
    }
}

fn decode_sample(encoding: SampleEncoding, bytes: &[u8]) -> f32 {
    match (encoding, bytes) {
        (SampleEncoding::PcmS16le, [low, high]) => f32::from(i16::from_le_bytes([*low, *high])) / 32_768.0,
        (SampleEncoding::Mulaw, [byte]) => f32::from(mulaw_to_linear(*byte)) / 32_768.0,
        (SampleEncoding::Alaw, [byte]) => f32::from(alaw_to_linear(*byte)) / 32_768.0,
        (SampleEncoding::F32le, [a, b, c, d]) => {
            let value = f32::from_le_bytes([*a, *b, *c, *d]);
            // NaN or infinities from a broken client become silence, not poison for the models.
            if value.is_finite() { value.clamp(-1.0, 1.0) } else { 0.0 }
        }
        // `chunks_exact` hands over exactly `bytes_per_sample` bytes.
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn interleaved_s16(n_frames: usize, n_channels: usize) -> (Vec<u8>, Vec<Vec<f32>>) {
        let mut bytes = Vec::new();
        let mut expected = vec![Vec::new(); n_channels];
        for frame_idx in 0..n_frames {
            for (channel_idx, channel) in expected.iter_mut().enumerate() {
                let value = ((frame_idx * 37 + channel_idx * 1000) % 20_000) as i16 - 10_000;
                bytes.extend_from_slice(&value.to_le_bytes());
                channel.push(f32::from(value) / 32_768.0);
            }
        }
        (bytes, expected)
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_samples(cuts in proptest::collection::vec(0usize..400, 0..12), n_channels in 1usize..3) {
            let (bytes, expected) = interleaved_s16(150, n_channels);
            let mut decoder = SampleDecoder::new(SampleEncoding::PcmS16le, n_channels);
            let mut got = vec![Vec::new(); n_channels];
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut start = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                for (all, piece) in got.iter_mut().zip(decoder.push(&bytes[start..cut])) {
                    all.extend(piece);
                }
                start = cut;
            }
            prop_assert_eq!(got, expected);
            prop_assert_eq!(decoder.n_leftover_bytes(), 0);
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            for encoding in [SampleEncoding::PcmS16le, SampleEncoding::Mulaw, SampleEncoding::Alaw, SampleEncoding::F32le] {
                let mut decoder = SampleDecoder::new(encoding, 2);
                for channel in decoder.push(&bytes) {
                    prop_assert!(channel.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
                }
            }
        }
    }

    #[test]
    fn g711_decodes_to_full_scale_floats() {
        let mut decoder = SampleDecoder::new(SampleEncoding::Mulaw, 1);
        let samples = decoder.push(&[0x80, 0xFF]);
        assert!((samples[0][0] - 32_124.0 / 32_768.0).abs() < 1e-6);
        assert_eq!(samples[0][1], 0.0);
        assert!(SampleEncoding::parse("opus").is_err());
    }
}
