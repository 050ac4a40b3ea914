//! Sample-rate conversion for live streams and whole buffers, sharing one code path.
//!
//! Built on rubato's synchronous FFT resampler, which needs fixed-size input chunks: the
//! streaming wrapper buffers arbitrary-length input into those chunks, drops the resampler's
//! startup delay so output sample `n` lines up with input time `n / output_rate_hz`, and on
//! `finish` flushes the tail so the output has exactly round(n_in * out / in) samples.
//!
//! Why FFT rather than sinc interpolation: the ratios here are fixed and rational (44.1 kHz to
//! 16 kHz is 441:160), which the synchronous FFT resampler handles exactly and several times
//! faster than rubato's asynchronous sinc resampler.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler, ResamplerConstructionError, WindowFunction};

use crate::error::{PipelineError, Result};
use super::source::SampleSource;

/// Input frames per rubato call. Larger chunks are cheaper per sample; smaller ones return
/// output sooner to live streams. 1024 frames is 64 ms at 16 kHz and 21 ms at 48 kHz.
const INPUT_CHUNK_FRAMES: usize = 1024;
/// FFT block size aimed for, in input frames: rubato's own default (`Fft::new`).
const TARGET_FFT_INPUT_FRAMES: usize = 256;
/// Guard against a resampler that stops producing output while the tail is flushed.
const MAX_FLUSH_CHUNKS: usize = 64;

/// The rubato state of a resampler whose input and output rates differ.
struct FftEngine {
    resampler: Fft<f32>,
    /// Input samples not yet making up a whole chunk.
    pending_input: Vec<f32>,
    output_scratch: Vec<f32>,
    /// Output samples still to drop to compensate the resampler's delay.
    delay_frames_left: usize,
}

impl FftEngine {
    /// Runs one chunk (or, with `partial_len`, a final short chunk padded with silence) and
    /// appends the delay-compensated output to `output`.
    fn run_chunk(&mut self, input: &[f32], partial_len: Option<usize>, output: &mut Vec<f32>) {
        let output_frames_max = self.resampler.output_frames_max();
        if self.output_scratch.len() < output_frames_max {
            self.output_scratch.resize(output_frames_max, 0.0);
        }
        let scratch_len = self.output_scratch.len();
        let adapters = InterleavedSlice::new(input, 1, input.len()).and_then(|input_adapter| {
            InterleavedSlice::new_mut(&mut self.output_scratch, 1, scratch_len)
                .map(|output_adapter| (input_adapter, output_adapter))
        });
        let Ok((input_adapter, mut output_adapter)) = adapters else {
            tracing::error!(
                n_input = input.len(),
                "resampler buffers have inconsistent sizes"
            );
            return;
        };
        let indexing = Indexing {
            partial_len,
            ..Indexing::default()
        };
        match self.resampler.process_into_buffer(
            &input_adapter,
            &mut output_adapter,
            Some(&indexing),
        ) {
            Ok((_, n_output_frames)) => {
                let produced = &self.output_scratch[..n_output_frames.min(scratch_len)];
                let n_dropped = self.delay_frames_left.min(produced.len());
                self.delay_frames_left -= n_dropped;
                output.extend_from_slice(&produced[n_dropped..]);
            }
            // Buffers are sized from the resampler's own queries, so this is a bug, not bad input.
            Err(error) => tracing::error!(%error, "resampler rejected a chunk"),
        }
    }

    fn reset(&mut self) {
        self.resampler.reset();
        self.pending_input.clear();
        self.delay_frames_left = self.resampler.output_delay();
    }
}

/// Resamples one channel delivered in pieces of any size (a live call, or a file in blocks).
///
/// Feed samples with [`process`](Self::process), then call [`finish`](Self::finish) once at the
/// end of the stream; the concatenated outputs are the same whatever the piece sizes were.
/// After `finish` the resampler is ready for a new stream.
pub struct StreamingResampler {
    input_rate_hz: u32,
    output_rate_hz: u32,
    /// `None` when the rates are equal: samples pass through unchanged.
    engine: Option<FftEngine>,
    n_input_samples: u64,
    n_output_samples: u64,
}

impl std::fmt::Debug for StreamingResampler {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("StreamingResampler")
            .field("input_rate_hz", &self.input_rate_hz)
            .field("output_rate_hz", &self.output_rate_hz)
            .field("n_input_samples", &self.n_input_samples)
            .field("n_output_samples", &self.n_output_samples)
            .finish_non_exhaustive()
    }
}

impl StreamingResampler {
    pub fn new(input_rate_hz: u32, output_rate_hz: u32) -> Result<Self> {
        if input_rate_hz == 0 || output_rate_hz == 0 {
            return Err(PipelineError::InvalidOption(format!(
                "cannot resample from {input_rate_hz} Hz to {output_rate_hz} Hz: rates must be positive"
            )));
        }
        let engine = if input_rate_hz == output_rate_hz {
            None
        } else {
            let resampler =
                build_fft_resampler(input_rate_hz, output_rate_hz).map_err(|error| {
                    PipelineError::InvalidOption(format!(
                        "cannot resample from {input_rate_hz} Hz to {output_rate_hz} Hz: {error}"
                    ))
                })?;
            Some(FftEngine {
                delay_frames_left: resampler.output_delay(),
                output_scratch: vec![0.0; resampler.output_frames_max()],
                pending_input: Vec::with_capacity(resampler.input_frames_max()),
                resampler,
            })
        };
        Ok(Self {
            input_rate_hz,
            output_rate_hz,
            engine,
            n_input_samples: 0,
            n_output_samples: 0,
        })
    }

    pub fn input_rate_hz(&self) -> u32 {
        self.input_rate_hz
    }

    pub fn output_rate_hz(&self) -> u32 {
        self.output_rate_hz
    }

    /// Takes any number of input samples and returns the output that is ready so far.
    pub fn process(&mut self, samples: &[f32]) -> Vec<f32> {
        self.n_input_samples += samples.len() as u64;
        let Some(engine) = &mut self.engine else {
            self.n_output_samples += samples.len() as u64;
            return samples.to_vec();
        };
        let mut output = Vec::new();
        let mut pending = std::mem::take(&mut engine.pending_input);
        pending.extend_from_slice(samples);
        let mut n_consumed = 0;
        loop {
            let chunk_len = engine.resampler.input_frames_next();
            if chunk_len == 0 || pending.len() - n_consumed < chunk_len {
                break;
            }
            engine.run_chunk(
                &pending[n_consumed..n_consumed + chunk_len],
                None,
                &mut output,
            );
            n_consumed += chunk_len;
        }
        pending.drain(..n_consumed);
        engine.pending_input = pending;
        self.n_output_samples += output.len() as u64;
        output
    }

    /// Ends the stream: returns the remaining output, so that the total is
    /// round(n_input * output_rate / input_rate) samples, and resets for a new stream.
    pub fn finish(&mut self) -> Vec<f32> {
        let n_expected_total = expected_output_len(
            self.n_input_samples,
            self.input_rate_hz,
            self.output_rate_hz,
        );
        let n_output_so_far = self.n_output_samples;
        self.n_input_samples = 0;
        self.n_output_samples = 0;
        let Some(engine) = &mut self.engine else {
            return Vec::new();
        };
        let mut output = Vec::new();
        let n_missing = |output: &Vec<f32>| {
            n_expected_total.saturating_sub(n_output_so_far + output.len() as u64)
        };
        let pending = std::mem::take(&mut engine.pending_input);
        if !pending.is_empty() && n_missing(&output) > 0 {
            engine.run_chunk(&pending, Some(pending.len()), &mut output);
        }
        // Pump silence through to push out what the resampler's delay still holds.
        let mut n_flush_chunks = 0;
        while n_missing(&output) > 0 && n_flush_chunks < MAX_FLUSH_CHUNKS {
            engine.run_chunk(&[], Some(0), &mut output);
            n_flush_chunks += 1;
        }
        let n_wanted = n_expected_total.saturating_sub(n_output_so_far) as usize;
        output.truncate(n_wanted);
        engine.reset();
        output
    }
}

/// Builds rubato's FFT resampler with an even number of minimum blocks per FFT.
///
/// rubato's filter is a windowed sinc centred on input frame `fft_size_in / 2` (rounded down)
/// and it reports `fft_size_out / 2` (rounded down) as its delay. Both are exact only when the
/// FFT sizes are even; with odd sizes (e.g. 11025 -> 16000 through `Fft::new`, 441 -> 640) the
/// output lags by a fraction of a sample more than reported. An even block count makes both
/// sizes even, so dropping `output_delay()` frames aligns the output exactly.
fn build_fft_resampler(
    input_rate_hz: u32,
    output_rate_hz: u32,
) -> Result<Fft<f32>, ResamplerConstructionError> {
    let input_rate = input_rate_hz as usize;
    let output_rate = output_rate_hz as usize;
    let min_block_in = input_rate / greatest_common_divisor(input_rate, output_rate);
    let mut n_blocks = TARGET_FFT_INPUT_FRAMES.div_ceil(min_block_in).max(1);
    n_blocks += n_blocks % 2;
    let fft_size_in = n_blocks * min_block_in;
    let sub_chunks = (INPUT_CHUNK_FRAMES / fft_size_in).max(1);
    Fft::new_custom(
        input_rate,
        output_rate,
        fft_size_in * sub_chunks,
        sub_chunks,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
}

fn greatest_common_divisor(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// round(n_input * output_rate / input_rate), in integers so that long streams stay exact.
pub(crate) fn expected_output_len(n_input_samples: u64, input_rate_hz: u32, output_rate_hz: u32) -> u64 {
    let numerator = u128::from(n_input_samples) * u128::from(output_rate_hz);
    let denominator = u128::from(input_rate_hz.max(1));
    ((numerator + denominator / 2) / denominator) as u64
}

/// A sample type the resamplers read: floats, or the 16-bit samples of decoded audio.
pub trait AudioSample: Copy {
    fn to_f32(self) -> f32;
}

impl AudioSample for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}

impl AudioSample for i16 {
    fn to_f32(self) -> f32 {
        super::sample_to_f32(self)
    }
}

/// Input frames converted to floats at once by [`resample`] and [`BlockResampler`].
const CONVERT_BLOCK_FRAMES: usize = 65_536;

/// Resamples a whole buffer of one channel (same code path as [`StreamingResampler`]).
pub fn resample<S: AudioSample>(samples: &[S], input_rate_hz: u32, output_rate_hz: u32) -> Result<Vec<f32>> {
    let mut blocks = BlockResampler::new(samples, input_rate_hz, output_rate_hz, CONVERT_BLOCK_FRAMES)?;
    let mut output = Vec::with_capacity(expected_output_len(samples.len() as u64, input_rate_hz, output_rate_hz) as usize);
    while let Some(block) = blocks.next_block()? {
        output.extend_from_slice(&block);
    }
    Ok(output)
}

/// One channel resampled block by block: each call converts at most `block_input_frames` input
/// samples, so a long call is never held whole at the output rate. The blocks concatenated are
/// exactly [`resample`]'s output (the streaming resampler's output does not depend on how its
/// input is cut).
pub struct BlockResampler<'a, Src: SampleSource + ?Sized> {
    source: &'a Src,
    position: usize,
    block_input_frames: usize,
    resampler: StreamingResampler,
    /// The current input block as floats.
    scratch: Vec<f32>,
    finished: bool,
}

impl<'a, Src: SampleSource + ?Sized> BlockResampler<'a, Src> {
    pub fn new(source: &'a Src, input_rate_hz: u32, output_rate_hz: u32, block_input_frames: usize) -> Result<Self> {
        Ok(Self {
            source,
            position: 0,
            block_input_frames: block_input_frames.max(1),
            resampler: StreamingResampler::new(input_rate_hz, output_rate_hz)?,
            scratch: Vec::new(),
            finished: false,
        })
    }

    /// The next block of output; `None` once the whole source has been delivered.
    pub fn next_block(&mut self) -> Result<Option<Vec<f32>>> {
        if self.finished {
            return Ok(None);
        }
        let n_samples = self.source.n_samples();
        if self.position < n_samples {
            let end = (self.position + self.block_input_frames).min(n_samples);
            self.scratch.clear();
            self.source.append_f32(self.position, end, &mut self.scratch)?;
            let block = self.resampler.process(&self.scratch);
            self.position = end;
            return Ok(Some(block));
        }
        self.finished = true;
        Ok(Some(self.resampler.finish()))
    }
}

/// Reads ranges `[start, end)` of a channel's resampled signal in increasing order, resampling
/// forward block by block and forgetting everything before the range last read: memory is one
/// block plus one range, whatever the channel's length.
pub struct ResampledRanges<'a, Src: SampleSource + ?Sized> {
    blocks: BlockResampler<'a, Src>,
    /// Output samples from index `buffer_start` on.
    buffer: Vec<f32>,
    buffer_start: usize,
}

impl<'a, Src: SampleSource + ?Sized> ResampledRanges<'a, Src> {
    pub fn new(source: &'a Src, input_rate_hz: u32, output_rate_hz: u32, block_input_frames: usize) -> Result<Self> {
        Ok(Self {
            blocks: BlockResampler::new(source, input_rate_hz, output_rate_hz, block_input_frames)?,
            buffer: Vec::new(),
            buffer_start: 0,
        })
    }

    /// Appends output samples `start..end` to `out` (fewer if the signal ends before `end`, or
    /// if `start` lies before a range already read: ranges must come in increasing order).
    pub fn copy_range(&mut self, start: usize, end: usize, out: &mut Vec<f32>) -> Result<()> {
        while self.buffer_start + self.buffer.len() < end {
            let Some(block) = self.blocks.next_block()? else { break };
            if self.buffer_start + self.buffer.len() <= start {
                // Nothing buffered is wanted any more.
                self.buffer_start += self.buffer.len();
                self.buffer.clear();
            }
            self.buffer.extend_from_slice(&block);
        }
        let lo = start.saturating_sub(self.buffer_start).min(self.buffer.len());
        let hi = end.saturating_sub(self.buffer_start).clamp(lo, self.buffer.len());
        out.extend_from_slice(&self.buffer[lo..hi]);
        self.buffer.drain(..lo);
        self.buffer_start += lo;
        Ok(())
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;

    fn signal(n_samples: usize) -> Vec<f32> {
        (0..n_samples).map(|idx| ((idx as f32) * 0.013).sin() * 0.5 + ((idx as f32) * 0.0007).cos() * 0.2).collect()
    }

    #[test]
    fn blocks_concatenate_to_the_whole_resampled_signal() {
        let source = signal(8_000 * 3 + 17);
        let whole = resample(&source, 8_000, 16_000).expect("resamples");
        for block_input_frames in [1_000, 7_919, 100_000] {
            let mut blocks = BlockResampler::new(source.as_slice(), 8_000, 16_000, block_input_frames).expect("resampler");
            let mut joined = Vec::new();
            while let Some(block) = blocks.next_block().expect("reads") {
                joined.extend(block);
            }
            assert_eq!(joined, whole, "blocks of {block_input_frames} input frames");
        }
    }

    #[test]
    fn ranges_in_increasing_order_are_slices_of_the_whole_signal() {
        let source = signal(44_100 * 2 + 5);
        let whole = resample(&source, 44_100, 16_000).expect("resamples");
        let mut ranges = ResampledRanges::new(source.as_slice(), 44_100, 16_000, 3_000).expect("resampler");
        for (start, end) in [(0, 10), (10, 10), (500, 9_000), (9_000, 9_001), (20_000, 31_000), (31_500, whole.len() + 50)] {
            let mut out = Vec::new();
            ranges.copy_range(start, end, &mut out).expect("reads");
            assert_eq!(out, whole[start.min(whole.len())..end.min(whole.len())], "range {start}..{end}");
        }
    }
}
