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

/// Where each piece of one chunk comes from, before any sample is copied: a long call's chunks
/// are planned from its speech spans and filled one at a time, so only one chunk of audio is
/// held at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkPlan {
    pub pieces: Vec<ChunkPiece>,
    /// `[start, end)` sample indices (16 kHz) of each piece in the call, in order.
    pub sample_ranges: Vec<(usize, usize)>,
}

impl ChunkPlan {
    /// Builds the chunk: each piece's samples, as `copy_samples(start, end, out)` appends them,
    /// with [`GAP_SECS`] of silence between pieces.
    pub fn fill<E>(
        &self,
        mut copy_samples: impl FnMut(usize, usize, &mut Vec<f32>) -> std::result::Result<(), E>,
    ) -> std::result::Result<SpeechChunk, E> {
        let gap_samples = (GAP_SECS * PIPELINE_SAMPLE_RATE_HZ as f64) as usize;
        let n_samples: usize = self.sample_ranges.iter().map(|(start, end)| end - start).sum::<usize>()
            + gap_samples * self.sample_ranges.len().saturating_sub(1);
        let mut samples_16k = Vec::with_capacity(n_samples);
        for (piece_idx, &(start_idx, end_idx)) in self.sample_ranges.iter().enumerate() {
            if piece_idx > 0 {
                samples_16k.extend(std::iter::repeat_n(0.0, gap_samples));
            }
            let before = samples_16k.len();
            copy_samples(start_idx, end_idx, &mut samples_16k)?;
            // The copier must deliver exactly the range; pad or cut so the plan's times hold.
            samples_16k.resize(before + (end_idx - start_idx), 0.0);
        }
        Ok(SpeechChunk { samples_16k, pieces: self.pieces.clone() })
    }
}

/// Plans the chunks of [`pack_speech`] for a party of `n_samples_16k` samples, without the samples.
pub fn plan_speech_chunks(n_samples_16k: usize, speech: &[TimeSpan]) -> Vec<ChunkPlan> {
    let rate = PIPELINE_SAMPLE_RATE_HZ as f64;
    let gap_samples = (GAP_SECS * rate) as usize;
    let mut plans = Vec::new();
    let mut current = ChunkPlan { pieces: Vec::new(), sample_ranges: Vec::new() };
    let mut current_len = 0_usize;
    for span in speech.iter().flat_map(|span| split_span(*span, MAX_CHUNK_SECS)) {
        let start_idx = ((span.start_secs * rate) as usize).min(n_samples_16k);
        let end_idx = ((span.end_secs * rate) as usize).clamp(start_idx, n_samples_16k);
        let piece_len = end_idx - start_idx;
        let needed = piece_len + if current.pieces.is_empty() { 0 } else { gap_samples };
        if !current.pieces.is_empty() && (current_len + needed) as f64 / rate > MAX_CHUNK_SECS {
            plans.push(std::mem::replace(&mut current, ChunkPlan { pieces: Vec::new(), sample_ranges: Vec::new() }));
            current_len = 0;
        }
        if !current.pieces.is_empty() {
            current_len += gap_samples;
        }
        current.pieces.push(ChunkPiece {
            chunk_start_secs: current_len as f64 / rate,
            call_span: TimeSpan { start_secs: start_idx as f64 / rate, end_secs: end_idx as f64 / rate },
        });
        current.sample_ranges.push((start_idx, end_idx));
        current_len += piece_len;
    }
    if !current.pieces.is_empty() {
        plans.push(current);
    }
    plans
}

/// Packs `speech` (padded, sorted, non-overlapping spans of `samples_16k`) into chunks of at most
/// [`MAX_CHUNK_SECS`]; longer spans are cut into pieces of that length.
pub fn pack_speech(samples_16k: &[f32], speech: &[TimeSpan]) -> Vec<SpeechChunk> {
    plan_speech_chunks(samples_16k.len(), speech)
        .iter()
        .map(|plan| {
            plan.fill(|start_idx, end_idx, out| {
                out.extend_from_slice(&samples_16k[start_idx..end_idx]);
                Ok::<(), std::convert::Infallible>(())
            })
        })
        .map(|filled| match filled {
            Ok(chunk) => chunk,
            Err(never) => match never {},
        })
        .collect()
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
