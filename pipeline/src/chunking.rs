//! Packing a party's speech segments into windows for the recogniser, and mapping times back.
//!
//! Whisper always encodes a 30 s window, so transcribing each short segment alone would pay for
//! silence; packing speech back to back makes the cost follow net speech, not call length.

use crate::types::{PIPELINE_SAMPLE_RATE_HZ, TimeSpan};

/// Whisper's window is 30 s; keep headroom so the last word is not cut off.
pub const MAX_CHUNK_SECS: f64 = 28.0;
/// Silence between packed segments, so the recogniser sees a boundary.
const GAP_SECS: f64 = 0.3;

/// One stretch of call audio placed inside a chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkPiece {
    pub chunk_start_secs: f64,
    pub call_span: TimeSpan,
}

/// Audio handed to the recogniser in one call, and where each of its pieces came from.
#[derive(Debug, Clone)]
pub struct SpeechChunk {
    pub samples_16k: Vec<f32>,
    pub pieces: Vec<ChunkPiece>,
}

impl SpeechChunk {
    fn piece_at(&self, chunk_secs: f64) -> Option<&ChunkPiece> {
        self.pieces.iter().rev().find(|piece| chunk_secs >= piece.chunk_start_secs).or(self.pieces.first())
    }

    /// Maps a time inside the chunk to call time (clamped into the nearest piece).
    pub fn to_call_secs(&self, chunk_secs: f64) -> f64 {
        let Some(piece) = self.piece_at(chunk_secs) else { return chunk_secs };
        let offset = (chunk_secs - piece.chunk_start_secs).clamp(0.0, piece.call_span.duration_secs());
        piece.call_span.start_secs + offset
    }

    /// Maps a span to call time within the piece where it starts: a word cannot straddle the
    /// silence between two packed pieces, which may be minutes apart on the call.
    pub fn span_to_call_secs(&self, start_chunk_secs: f64, end_chunk_secs: f64) -> (f64, f64) {
        let Some(piece) = self.piece_at(start_chunk_secs) else { return (start_chunk_secs, end_chunk_secs) };
        let span_secs = piece.call_span.duration_secs();
        let start = (start_chunk_secs - piece.chunk_start_secs).clamp(0.0, span_secs);
        let end = (end_chunk_secs - piece.chunk_start_secs).clamp(start, span_secs);
        (piece.call_span.start_secs + start, piece.call_span.start_secs + end)
    }
}

/// Packs `speech` (padded, sorted, non-overlapping spans of `samples_16k`) into chunks of at most
/// [`MAX_CHUNK_SECS`]; longer spans are cut into pieces of that length.
pub fn pack_speech(samples_16k: &[f32], speech: &[TimeSpan]) -> Vec<SpeechChunk> {
    let rate = PIPELINE_SAMPLE_RATE_HZ as f64;
    let gap_samples = (GAP_SECS * rate) as usize;
    let mut chunks = Vec::new();
    let mut current = SpeechChunk { samples_16k: Vec::new(), pieces: Vec::new() };
    for span in speech.iter().flat_map(|span| split_span(*span, MAX_CHUNK_SECS)) {
        let start_idx = ((span.start_secs * rate) as usize).min(samples_16k.len());
        let end_idx = ((span.end_secs * rate) as usize).clamp(start_idx, samples_16k.len());
        let piece_samples = &samples_16k[start_idx..end_idx];
        let needed = piece_samples.len() + if current.pieces.is_empty() { 0 } else { gap_samples };
        if !current.pieces.is_empty() && (current.samples_16k.len() + needed) as f64 / rate > MAX_CHUNK_SECS {
            chunks.push(std::mem::replace(&mut current, SpeechChunk { samples_16k: Vec::new(), pieces: Vec::new() }));
        }
        if !current.pieces.is_empty() {
            current.samples_16k.extend(std::iter::repeat_n(0.0, gap_samples));
        }
        current.pieces.push(ChunkPiece {
            chunk_start_secs: current.samples_16k.len() as f64 / rate,
            call_span: TimeSpan { start_secs: start_idx as f64 / rate, end_secs: end_idx as f64 / rate },
        });
        current.samples_16k.extend_from_slice(piece_samples);
    }
    if !current.pieces.is_empty() {
        chunks.push(current);
    }
    chunks
}

fn split_span(span: TimeSpan, max_secs: f64) -> Vec<TimeSpan> {
    let mut pieces = Vec::new();
    let mut start_secs = span.start_secs;
    while span.end_secs - start_secs > max_secs {
        pieces.push(TimeSpan { start_secs, end_secs: start_secs + max_secs });
        start_secs += max_secs;
    }
    pieces.push(TimeSpan { start_secs, end_secs: span.end_secs });
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_maps_times_back() {
        let samples = vec![0.1_f32; 16_000 * 100];
        let speech = [
            TimeSpan { start_secs: 10.0, end_secs: 20.0 },
            TimeSpan { start_secs: 50.0, end_secs: 60.0 },
            TimeSpan { start_secs: 70.0, end_secs: 80.0 },
        ];
        let chunks = pack_speech(&samples, &speech);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].pieces.len(), 2);
        assert!((chunks[0].to_call_secs(5.0) - 15.0).abs() < 1e-6);
        assert!((chunks[0].to_call_secs(10.3 + 2.0) - 52.0).abs() < 1e-3);
        assert!((chunks[1].to_call_secs(1.0) - 71.0).abs() < 1e-6);
        // a word starting at the end of the first piece does not stretch into the second
        let (start, end) = chunks[0].span_to_call_secs(9.8, 11.0);
        assert!((start - 19.8).abs() < 1e-6 && (end - 20.0).abs() < 1e-6, "{start} {end}");
    }

    #[test]
    fn long_span_is_split() {
        let samples = vec![0.0_f32; 16_000 * 70];
        let chunks = pack_speech(&samples, &[TimeSpan { start_secs: 0.0, end_secs: 65.0 }]);
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| c.samples_16k.len() as f64 / 16_000.0 <= MAX_CHUNK_SECS + 1e-9));
    }
}
