//! Where decoders put their samples: 16-bit channels, resampled down on the way when the source
//! is faster than the analysis needs, so a decoded call's memory follows the analysis rate and
//! the duration limit, not the file's sample rate.

use super::resample::{StreamingResampler, expected_output_len};
use super::{DecodedAudio, sample_from_f32, sample_to_f32};

pub(crate) struct ChannelSink {
    input_rate_hz: u32,
    output_rate_hz: u32,
    channels: Vec<Vec<i16>>,
    /// One per channel when the input rate is above the cap; `None` keeps samples as they come.
    resamplers: Option<Vec<StreamingResampler>>,
    scratch: Vec<f32>,
}

impl ChannelSink {
    /// `max_rate_hz`: faster input is resampled to exactly this rate; slower input is kept.
    pub(crate) fn new(n_channels: usize, input_rate_hz: u32, max_rate_hz: u32) -> Result<Self, String> {
        let resamplers = if input_rate_hz > max_rate_hz {
            let make = |_| StreamingResampler::new(input_rate_hz, max_rate_hz).map_err(|e| e.to_string());
            Some((0..n_channels).map(make).collect::<Result<Vec<_>, _>>()?)
        } else {
            None
        };
        let output_rate_hz = if resamplers.is_some() { max_rate_hz } else { input_rate_hz };
        Ok(Self { input_rate_hz, output_rate_hz, channels: vec![Vec::new(); n_channels], resamplers, scratch: Vec::new() })
    }

    /// Reserves room for `n_input_frames` more frames per channel, when the container says how
    /// many are coming: growing a four-hour channel by doubling would briefly hold it twice.
    pub(crate) fn reserve_input_frames(&mut self, n_input_frames: usize) {
        let n_output = expected_output_len(n_input_frames as u64, self.input_rate_hz, self.output_rate_hz);
        for channel in &mut self.channels {
            channel.reserve(usize::try_from(n_output).unwrap_or(0));
        }
    }

    pub(crate) fn n_channels(&self) -> usize {
        self.channels.len()
    }

    /// Appends input samples to one channel (the same number to every channel, in turn).
    pub(crate) fn push(&mut self, channel_idx: usize, samples: &[i16]) {
        let Some(channel) = self.channels.get_mut(channel_idx) else { return };
        match &mut self.resamplers {
            None => channel.extend_from_slice(samples),
            Some(resamplers) => {
                self.scratch.clear();
                self.scratch.extend(samples.iter().copied().map(sample_to_f32));
                let output = resamplers[channel_idx].process(&self.scratch);
                channel.extend(output.into_iter().map(sample_from_f32));
            }
        }
    }

    /// The decoded audio, cut to `n_input_frames` frames of the input when given (a container
    /// that declares its exact length; the decoder emitted padding after it).
    pub(crate) fn finish(mut self, n_input_frames: Option<u64>) -> DecodedAudio {
        if let Some(resamplers) = &mut self.resamplers {
            for (channel, resampler) in self.channels.iter_mut().zip(resamplers.iter_mut()) {
                channel.extend(resampler.finish().into_iter().map(sample_from_f32));
            }
        }
        if let Some(n_input_frames) = n_input_frames {
            let n_frames = usize::try_from(expected_output_len(n_input_frames, self.input_rate_hz, self.output_rate_hz)).unwrap_or(usize::MAX);
            for channel in &mut self.channels {
                channel.truncate(n_frames);
            }
        }
        DecodedAudio { sample_rate_hz: self.output_rate_hz, channels: self.channels }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_input_is_kept_and_fast_input_resampled_to_the_cap() {
        let samples: Vec<i16> = (0..48_000).map(|idx| ((idx as f32 * 0.02).sin() * 10_000.0) as i16).collect();
        let mut kept = ChannelSink::new(1, 8_000, 16_000).expect("sink");
        kept.push(0, &samples[..8_000]);
        let kept = kept.finish(None);
        assert_eq!((kept.sample_rate_hz, kept.channels[0].as_slice()), (8_000, &samples[..8_000]));

        let mut sink = ChannelSink::new(2, 48_000, 16_000).expect("sink");
        for block in samples.chunks(7_001) {
            sink.push(0, block);
            sink.push(1, block);
        }
        let audio = sink.finish(None);
        assert_eq!(audio.sample_rate_hz, 16_000);
        assert_eq!(audio.channels[0].len(), 16_000);
        let whole = crate::audio::resample(&samples, 48_000, 16_000).expect("resamples");
        let expected: Vec<i16> = whole.into_iter().map(sample_from_f32).collect();
        assert_eq!(audio.channels[0], expected, "the same as resampling the whole channel");
        assert_eq!(audio.channels[1], expected);

        let mut cut = ChannelSink::new(1, 48_000, 16_000).expect("sink");
        cut.push(0, &samples);
        assert_eq!(cut.finish(Some(24_000)).channels[0].len(), 8_000, "cut at the declared input length");
    }
}
