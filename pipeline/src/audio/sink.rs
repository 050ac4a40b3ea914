//! Where decoders put their samples: 16-bit channels, resampled down on the way when the source
//! is faster than the analysis needs, so a decoded call's memory follows the analysis rate and
//! the duration limit, not the file's sample rate.

use std::path::PathBuf;

use super::resample::{StreamingResampler, expected_output_len};
use super::source::{CallAudio, SpillWriter, SpilledAudio};
use super::{AudioShape, DecodeError, DecodedAudio, sample_from_f32, sample_to_f32};

/// What a sink keeps of the decoded samples.
#[derive(Debug, Clone)]
pub(crate) enum Keep {
    /// Everything, in memory.
    Memory,
    /// In memory for the first `after_secs`, then everything in unnamed temporary files in `dir`.
    SpillAfter { after_secs: f64, dir: PathBuf },
    /// Nothing but the count (checking that an upload decodes).
    CountOnly,
}

/// The samples kept so far, one entry per channel.
enum Store {
    Memory(Vec<Vec<i16>>),
    Spilled(Vec<SpillWriter>),
    Counted(Vec<usize>),
}

/// What a sink made of a file.
pub(crate) enum SinkOutput {
    Audio(DecodedAudio),
    Spilled(SpilledAudio),
    Counted(AudioShape),
}

impl SinkOutput {
    pub(crate) fn shape(&self) -> AudioShape {
        match self {
            Self::Audio(audio) => audio.shape(),
            Self::Spilled(audio) => AudioShape { sample_rate_hz: audio.sample_rate_hz(), n_channels: audio.n_channels(), n_frames: audio.n_frames() },
            Self::Counted(shape) => *shape,
        }
    }
}

pub(crate) struct ChannelSink {
    input_rate_hz: u32,
    output_rate_hz: u32,
    keep: Keep,
    store: Store,
    /// One per channel when the input rate is above the cap; `None` keeps samples as they come.
    resamplers: Option<Vec<StreamingResampler>>,
    scratch: Vec<f32>,
    converted: Vec<i16>,
}

fn io_error(error: std::io::Error) -> DecodeError {
    DecodeError::Storage(format!("cannot write the decoded call to a temporary file: {error}"))
}

impl ChannelSink {
    /// `max_rate_hz`: faster input is resampled to exactly this rate; slower input is kept.
    pub(crate) fn new(n_channels: usize, input_rate_hz: u32, max_rate_hz: u32, keep: Keep) -> Result<Self, String> {
        let resamplers = if input_rate_hz > max_rate_hz {
            let make = |_| StreamingResampler::new(input_rate_hz, max_rate_hz).map_err(|e| e.to_string());
            Some((0..n_channels).map(make).collect::<Result<Vec<_>, _>>()?)
        } else {
            None
        };
        let output_rate_hz = if resamplers.is_some() { max_rate_hz } else { input_rate_hz };
        let store = match keep {
            Keep::CountOnly => Store::Counted(vec![0; n_channels]),
            Keep::Memory | Keep::SpillAfter { .. } => Store::Memory(vec![Vec::new(); n_channels]),
        };
        Ok(Self { input_rate_hz, output_rate_hz, keep, store, resamplers, scratch: Vec::new(), converted: Vec::new() })
    }

    /// Reserves room for `n_input_frames` more frames per channel, when the container says how
    /// many are coming and they will be kept in memory: growing a long channel by doubling would
    /// briefly hold it twice.
    pub(crate) fn reserve_input_frames(&mut self, n_input_frames: usize) {
        let n_output = expected_output_len(n_input_frames as u64, self.input_rate_hz, self.output_rate_hz);
        if let (Store::Memory(channels), Keep::Memory) = (&mut self.store, &self.keep) {
            for channel in channels {
                channel.reserve(usize::try_from(n_output).unwrap_or(0));
            }
        }
    }

    pub(crate) fn n_channels(&self) -> usize {
        match &self.store {
            Store::Memory(channels) => channels.len(),
            Store::Spilled(writers) => writers.len(),
            Store::Counted(counts) => counts.len(),
        }
    }

    /// Appends input samples to one channel (the same number to every channel, in turn).
    pub(crate) fn push(&mut self, channel_idx: usize, samples: &[i16]) -> Result<(), DecodeError> {
        if channel_idx >= self.n_channels() {
            return Ok(());
        }
        let output: &[i16] = match &mut self.resamplers {
            None => samples,
            Some(resamplers) => {
                self.scratch.clear();
                self.scratch.extend(samples.iter().copied().map(sample_to_f32));
                let resampled = resamplers[channel_idx].process(&self.scratch);
                self.converted.clear();
                self.converted.extend(resampled.into_iter().map(sample_from_f32));
                &self.converted
            }
        };
        match &mut self.store {
            Store::Memory(channels) => channels[channel_idx].extend_from_slice(output),
            Store::Spilled(writers) => writers[channel_idx].write(output).map_err(io_error)?,
            Store::Counted(counts) => counts[channel_idx] += output.len(),
        }
        self.spill_if_long()
    }

    /// Moves the channels to temporary files once the first is longer than `Keep::SpillAfter`
    /// allows in memory.
    fn spill_if_long(&mut self) -> Result<(), DecodeError> {
        let (Keep::SpillAfter { after_secs, dir }, Store::Memory(channels)) = (&self.keep, &mut self.store) else {
            return Ok(());
        };
        let max_frames = (after_secs * f64::from(self.output_rate_hz)) as usize;
        if channels.first().map_or(0, Vec::len) <= max_frames {
            return Ok(());
        }
        let mut writers = Vec::with_capacity(channels.len());
        for channel in channels.iter() {
            let mut writer = SpillWriter::create(dir).map_err(io_error)?;
            writer.write(channel).map_err(io_error)?;
            writers.push(writer);
        }
        self.store = Store::Spilled(writers);
        Ok(())
    }

    /// The decoded audio, cut to `n_input_frames` frames of the input when given (a container
    /// that declares its exact length; the decoder emitted padding after it).
    pub(crate) fn finish(mut self, n_input_frames: Option<u64>) -> Result<SinkOutput, DecodeError> {
        if let Some(resamplers) = &mut self.resamplers {
            for (channel_idx, resampler) in resamplers.iter_mut().enumerate() {
                let tail: Vec<i16> = resampler.finish().into_iter().map(sample_from_f32).collect();
                match &mut self.store {
                    Store::Memory(channels) => channels[channel_idx].extend_from_slice(&tail),
                    Store::Spilled(writers) => writers[channel_idx].write(&tail).map_err(io_error)?,
                    Store::Counted(counts) => counts[channel_idx] += tail.len(),
                }
            }
        }
        let n_frames = n_input_frames.map(|n_input_frames| {
            usize::try_from(expected_output_len(n_input_frames, self.input_rate_hz, self.output_rate_hz)).unwrap_or(usize::MAX)
        });
        Ok(match self.store {
            Store::Memory(mut channels) => {
                if let Some(n_frames) = n_frames {
                    for channel in &mut channels {
                        channel.truncate(n_frames);
                    }
                }
                SinkOutput::Audio(DecodedAudio { sample_rate_hz: self.output_rate_hz, channels })
            }
            Store::Spilled(writers) => SinkOutput::Spilled(SpilledAudio::from_writers(self.output_rate_hz, writers, n_frames).map_err(io_error)?),
            Store::Counted(counts) => {
                let longest = counts.iter().copied().max().unwrap_or(0);
                SinkOutput::Counted(AudioShape {
                    sample_rate_hz: self.output_rate_hz,
                    n_channels: counts.len(),
                    n_frames: n_frames.map_or(longest, |n| n.min(longest)),
                })
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    fn in_memory(output: SinkOutput) -> DecodedAudio {
        match output {
            SinkOutput::Audio(audio) => audio,
            SinkOutput::Spilled(_) | SinkOutput::Counted(_) => panic!("expected audio in memory"),
        }
    }

    #[test]
    fn slow_input_is_kept_and_fast_input_resampled_to_the_cap() {
        let samples: Vec<i16> = (0..48_000).map(|idx| ((idx as f32 * 0.02).sin() * 10_000.0) as i16).collect();
        let mut kept = ChannelSink::new(1, 8_000, 16_000, Keep::Memory).unwrap();
        kept.push(0, &samples[..8_000]).unwrap();
        let kept = in_memory(kept.finish(None).unwrap());
        assert_eq!((kept.sample_rate_hz, kept.channels[0].as_slice()), (8_000, &samples[..8_000]));

        let mut sink = ChannelSink::new(2, 48_000, 16_000, Keep::Memory).unwrap();
        for block in samples.chunks(7_001) {
            sink.push(0, block).unwrap();
            sink.push(1, block).unwrap();
        }
        let audio = in_memory(sink.finish(None).unwrap());
        assert_eq!(audio.sample_rate_hz, 16_000);
        assert_eq!(audio.channels[0].len(), 16_000);
        let whole = crate::audio::resample(&samples, 48_000, 16_000).expect("resamples");
        let expected: Vec<i16> = whole.into_iter().map(sample_from_f32).collect();
        assert_eq!(audio.channels[0], expected, "the same as resampling the whole channel");
        assert_eq!(audio.channels[1], expected);

        let mut cut = ChannelSink::new(1, 48_000, 16_000, Keep::Memory).unwrap();
        cut.push(0, &samples).unwrap();
        assert_eq!(in_memory(cut.finish(Some(24_000)).unwrap()).channels[0].len(), 8_000, "cut at the declared input length");
    }

    #[test]
    fn a_long_input_spills_to_files_with_the_same_samples_and_a_count_only_sink_keeps_none() {
        let left: Vec<i16> = (0..96_000).map(|idx| ((idx as f32 * 0.02).sin() * 10_000.0) as i16).collect();
        let right: Vec<i16> = left.iter().map(|s| s / 3).collect();
        let decode = |keep: Keep| {
            let mut sink = ChannelSink::new(2, 48_000, 16_000, keep).unwrap();
            for (l, r) in left.chunks(4_801).zip(right.chunks(4_801)) {
                sink.push(0, l).unwrap();
                sink.push(1, r).unwrap();
            }
            sink.finish(Some(90_000)).unwrap()
        };
        let memory = in_memory(decode(Keep::Memory));
        assert_eq!(memory.n_frames(), 30_000);
        let SinkOutput::Spilled(spilled) = decode(Keep::SpillAfter { after_secs: 0.5, dir: std::env::temp_dir() }) else {
            panic!("two seconds of audio must spill after half a second");
        };
        assert_eq!((spilled.n_frames(), spilled.n_channels(), spilled.sample_rate_hz()), (30_000, 2, 16_000));
        for channel_idx in 0..2 {
            let mut read = vec![0_i16; 30_000];
            spilled.read_frames(channel_idx, 0, &mut read).unwrap();
            assert_eq!(read, memory.channels[channel_idx], "channel {channel_idx}");
        }
        assert!(matches!(decode(Keep::SpillAfter { after_secs: 60.0, dir: std::env::temp_dir() }), SinkOutput::Audio(_)));
        let SinkOutput::Counted(shape) = decode(Keep::CountOnly) else { panic!("a count-only sink keeps no samples") };
        assert_eq!(shape, AudioShape { sample_rate_hz: 16_000, n_channels: 2, n_frames: 30_000 });
    }
}
