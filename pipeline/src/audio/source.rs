//! A decoded call read piece by piece: from memory when it is short, from temporary files when
//! it is long, so analysing a four-hour call holds blocks of it, never all of it.
//!
//! Every pass of the analysis (voice activity, diarization, the speech chunks, loudness, the
//! voiceprint clips, the redacted copy) already walks a channel in increasing blocks; they read
//! those blocks through [`CallAudio`] and [`SampleSource`] and do not care where the samples
//! live.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

use super::{AudioSample, DecodedAudio};
use crate::error::{PipelineError, Result};

/// One signal read in pieces: a slice, or a channel (or the mix of all channels) of a call.
pub trait SampleSource {
    fn n_samples(&self) -> usize;
    /// Appends samples `start..end` as floats in -1..1 (fewer if the signal ends before `end`).
    fn append_f32(&self, start: usize, end: usize, out: &mut Vec<f32>) -> Result<()>;
}

impl<S: AudioSample> SampleSource for [S] {
    fn n_samples(&self) -> usize {
        self.len()
    }

    fn append_f32(&self, start: usize, end: usize, out: &mut Vec<f32>) -> Result<()> {
        let end = end.min(self.len());
        let start = start.min(end);
        out.extend(self[start..end].iter().map(|sample| sample.to_f32()));
        Ok(())
    }
}

/// A decoded call whose channels are read in blocks, wherever they are kept.
pub trait CallAudio: Sync {
    fn sample_rate_hz(&self) -> u32;
    fn n_channels(&self) -> usize;
    /// Samples per channel.
    fn n_frames(&self) -> usize;
    /// Fills `out` with samples `start..start + out.len()` of one channel; past the end, zeros.
    fn read_frames(&self, channel_idx: usize, start: usize, out: &mut [i16]) -> Result<()>;

    fn duration_secs(&self) -> f64 {
        if self.sample_rate_hz() == 0 {
            return 0.0;
        }
        self.n_frames() as f64 / f64::from(self.sample_rate_hz())
    }
}

impl CallAudio for DecodedAudio {
    fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }

    fn n_channels(&self) -> usize {
        self.channels.len()
    }

    fn n_frames(&self) -> usize {
        DecodedAudio::n_frames(self)
    }

    fn read_frames(&self, channel_idx: usize, start: usize, out: &mut [i16]) -> Result<()> {
        let channel = self.channels.get(channel_idx).map_or(&[][..], Vec::as_slice);
        let available = channel.get(start..).unwrap_or(&[]);
        let n_copied = available.len().min(out.len());
        out[..n_copied].copy_from_slice(&available[..n_copied]);
        out[n_copied..].fill(0);
        Ok(())
    }
}

/// A decoded call kept in unnamed temporary files, one per channel of little-endian 16-bit
/// samples. The files have no name (`O_TMPFILE`), so they vanish when this is dropped or the
/// process dies.
#[derive(Debug)]
pub struct SpilledAudio {
    sample_rate_hz: u32,
    n_frames: usize,
    channels: Vec<File>,
}

impl CallAudio for SpilledAudio {
    fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }

    fn n_channels(&self) -> usize {
        self.channels.len()
    }

    fn n_frames(&self) -> usize {
        self.n_frames
    }

    fn read_frames(&self, channel_idx: usize, start: usize, out: &mut [i16]) -> Result<()> {
        out.fill(0);
        let Some(file) = self.channels.get(channel_idx) else { return Ok(()) };
        let n_wanted = out.len().min(self.n_frames.saturating_sub(start));
        let mut bytes = vec![0_u8; n_wanted * 2];
        file.read_exact_at(&mut bytes, start as u64 * 2)
            .map_err(|io_error| PipelineError::Storage(format!("cannot read back the decoded call from its temporary file: {io_error}")))?;
        for (sample, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *sample = i16::from_le_bytes([pair[0], pair[1]]);
        }
        Ok(())
    }
}

/// A decoded call, in memory or spilled to temporary files (see [`super::decode_file_for_analysis`]).
#[derive(Debug)]
pub enum DecodedCall {
    InMemory(DecodedAudio),
    Spilled(SpilledAudio),
}

impl DecodedCall {
    pub fn as_audio(&self) -> &dyn CallAudio {
        match self {
            Self::InMemory(audio) => audio,
            Self::Spilled(audio) => audio,
        }
    }

}

/// One party's signal: a channel of the call, or all channels mixed (the mean of each frame).
#[derive(Clone, Copy)]
pub struct ChannelSignal<'a> {
    audio: &'a dyn CallAudio,
    /// `None`: the mix of all channels.
    channel_idx: Option<usize>,
}

/// Frames read from a call at once when a signal is mixed or converted.
const READ_BLOCK_FRAMES: usize = 65_536;

impl<'a> ChannelSignal<'a> {
    pub fn channel(audio: &'a dyn CallAudio, channel_idx: usize) -> Self {
        Self { audio, channel_idx: Some(channel_idx) }
    }

    /// All channels mixed (a one-channel call is its channel).
    pub fn mixed(audio: &'a dyn CallAudio) -> Self {
        let channel_idx = (audio.n_channels() == 1).then_some(0);
        Self { audio, channel_idx }
    }

    pub fn sample_rate_hz(&self) -> u32 {
        self.audio.sample_rate_hz()
    }

    /// Samples `start..start + out.len()` as 16-bit samples (zeros past the end).
    pub fn read(&self, start: usize, out: &mut [i16]) -> Result<()> {
        match self.channel_idx {
            Some(channel_idx) => self.audio.read_frames(channel_idx, start, out),
            None => {
                let n_channels = self.audio.n_channels();
                let mut sums = vec![0_i32; out.len()];
                let mut block = vec![0_i16; out.len()];
                for channel_idx in 0..n_channels {
                    self.audio.read_frames(channel_idx, start, &mut block)?;
                    for (sum, &sample) in sums.iter_mut().zip(&block) {
                        *sum += i32::from(sample);
                    }
                }
                for (sample, sum) in out.iter_mut().zip(sums) {
                    // The mean of i16 values is an i16 (the same mix as `DecodedAudio::mixed_to_mono`).
                    *sample = (sum / n_channels.max(1) as i32) as i16;
                }
                Ok(())
            }
        }
    }
}

impl SampleSource for ChannelSignal<'_> {
    fn n_samples(&self) -> usize {
        self.audio.n_frames()
    }

    fn append_f32(&self, start: usize, end: usize, out: &mut Vec<f32>) -> Result<()> {
        let end = end.min(self.n_samples());
        let mut block = vec![0_i16; READ_BLOCK_FRAMES.min(end.saturating_sub(start))];
        let mut position = start;
        while position < end {
            let n = (end - position).min(READ_BLOCK_FRAMES);
            self.read(position, &mut block[..n])?;
            out.extend(block[..n].iter().map(|&sample| super::sample_to_f32(sample)));
            position += n;
        }
        Ok(())
    }
}

/// Where one channel's samples go while a long file is decoded.
pub(crate) struct SpillWriter {
    writer: BufWriter<File>,
    n_samples: usize,
    bytes: Vec<u8>,
}

impl SpillWriter {
    /// An unnamed temporary file in `dir`.
    pub(crate) fn create(dir: &std::path::Path) -> std::io::Result<Self> {
        let file = tempfile::tempfile_in(dir)?;
        Ok(Self { writer: BufWriter::with_capacity(1 << 20, file), n_samples: 0, bytes: Vec::new() })
    }

    pub(crate) fn write(&mut self, samples: &[i16]) -> std::io::Result<()> {
        self.bytes.clear();
        self.bytes.extend(samples.iter().flat_map(|sample| sample.to_le_bytes()));
        self.writer.write_all(&self.bytes)?;
        self.n_samples += samples.len();
        Ok(())
    }

    pub(crate) fn n_samples(&self) -> usize {
        self.n_samples
    }

    pub(crate) fn into_file(self) -> std::io::Result<File> {
        self.writer.into_inner().map_err(std::io::IntoInnerError::into_error)
    }
}

impl SpilledAudio {
    /// The spilled channels, cut to `n_frames` (at most the shortest channel written).
    pub(crate) fn from_writers(sample_rate_hz: u32, writers: Vec<SpillWriter>, n_frames: Option<usize>) -> std::io::Result<Self> {
        let shortest = writers.iter().map(SpillWriter::n_samples).min().unwrap_or(0);
        let n_frames = n_frames.map_or(shortest, |n| n.min(shortest));
        let channels = writers.into_iter().map(SpillWriter::into_file).collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { sample_rate_hz, n_frames, channels })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    fn two_channels() -> DecodedAudio {
        DecodedAudio {
            sample_rate_hz: 8_000,
            channels: vec![(0..100_000).map(|idx| (idx % 30_000) as i16).collect(), (0..100_000).map(|idx| -((idx % 20_000) as i16)).collect()],
        }
    }

    fn spilled(audio: &DecodedAudio) -> SpilledAudio {
        let dir = std::env::temp_dir();
        let writers = audio
            .channels
            .iter()
            .map(|channel| {
                let mut writer = SpillWriter::create(&dir).unwrap();
                for block in channel.chunks(7_777) {
                    writer.write(block).unwrap();
                }
                writer
            })
            .collect();
        SpilledAudio::from_writers(audio.sample_rate_hz, writers, None).unwrap()
    }

    #[test]
    fn spilled_audio_reads_back_what_memory_holds() {
        let audio = two_channels();
        let spilled = spilled(&audio);
        assert_eq!((spilled.n_frames(), spilled.n_channels(), spilled.sample_rate_hz()), (100_000, 2, 8_000));
        for (start, len) in [(0, 10), (99_990, 10), (99_995, 20), (123_456, 5), (40_000, 65_536)] {
            for channel_idx in 0..2 {
                let mut from_memory = vec![1_i16; len];
                let mut from_file = vec![1_i16; len];
                audio.read_frames(channel_idx, start, &mut from_memory).unwrap();
                spilled.read_frames(channel_idx, start, &mut from_file).unwrap();
                assert_eq!(from_memory, from_file, "channel {channel_idx} at {start}+{len}");
            }
        }
    }

    #[test]
    fn a_mixed_signal_is_the_mono_mix_and_reads_as_floats() {
        let audio = two_channels();
        let spilled = spilled(&audio);
        let mono = audio.mixed_to_mono();
        let mut whole = Vec::new();
        ChannelSignal::mixed(&spilled).append_f32(0, usize::MAX, &mut whole).unwrap();
        let expected: Vec<f32> = mono.iter().map(|&s| super::super::sample_to_f32(s)).collect();
        assert_eq!(whole, expected);
        let mut part = Vec::new();
        ChannelSignal::channel(&spilled, 1).append_f32(70_000, 70_003, &mut part).unwrap();
        assert_eq!(part, audio.channels[1][70_000..70_003].iter().map(|&s| super::super::sample_to_f32(s)).collect::<Vec<_>>());
    }
}
