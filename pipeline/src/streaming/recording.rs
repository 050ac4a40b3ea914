//! The recording of a live stream, written as it arrives: a 16-bit PCM WAV at the client's rate
//! and channels, byte for byte what [`crate::audio::encode_wav_pcm16`] makes of the whole call,
//! so a stream's audio never has to be held in memory. Generic over the writer: the caller owns
//! the file (this crate opens none).

use std::io::{Seek, SeekFrom, Write};

use crate::error::{PipelineError, Result};

/// Bytes of the canonical header (RIFF, `fmt ` of 16 bytes, `data`), as `encode_wav_pcm16`.
pub const WAV_HEADER_BYTES: u64 = 44;
const WAVE_FORMAT_PCM: u16 = 1;
const BYTES_PER_SAMPLE: u64 = 2;

/// Writes sample frames to a WAV as they arrive. The header's two sizes are written by
/// [`RecordingWriter::finish`]; until then they are zero, so a file cut short by a crash is
/// recognisable and its length says how many frames it holds.
pub struct RecordingWriter<W: Write + Seek> {
    inner: W,
    n_channels: usize,
    n_frames: u64,
    /// Frames that still fit in a WAV (its sizes are 32-bit).
    max_frames: u64,
    /// One message's PCM bytes, reused.
    buffer: Vec<u8>,
}

impl<W: Write + Seek> RecordingWriter<W> {
    /// Starts a WAV of `n_channels` at `sample_rate_hz`: writes the header.
    pub fn new(mut inner: W, sample_rate_hz: u32, n_channels: usize) -> Result<Self> {
        if !(1..=2).contains(&n_channels) {
            return Err(PipelineError::InvalidOption(format!("a recording has 1 or 2 channels, not {n_channels}")));
        }
        let block_align = n_channels as u64 * BYTES_PER_SAMPLE;
        let mut header = Vec::with_capacity(WAV_HEADER_BYTES as usize);
        header.extend_from_slice(b"RIFF");
        header.extend_from_slice(&0_u32.to_le_bytes());
        header.extend_from_slice(b"WAVEfmt ");
        header.extend_from_slice(&16_u32.to_le_bytes());
        header.extend_from_slice(&WAVE_FORMAT_PCM.to_le_bytes());
        header.extend_from_slice(&(n_channels as u16).to_le_bytes());
        header.extend_from_slice(&sample_rate_hz.to_le_bytes());
        header.extend_from_slice(&((u64::from(sample_rate_hz) * block_align) as u32).to_le_bytes());
        header.extend_from_slice(&(block_align as u16).to_le_bytes());
        header.extend_from_slice(&16_u16.to_le_bytes());
        header.extend_from_slice(b"data");
        header.extend_from_slice(&0_u32.to_le_bytes());
        inner.write_all(&header).map_err(io_error)?;
        Ok(Self {
            inner,
            n_channels,
            n_frames: 0,
            max_frames: (u64::from(u32::MAX) - 36) / block_align,
            buffer: Vec::new(),
        })
    }

    /// Appends frames: one `Vec` per channel, all of the same length. Past the largest WAV the
    /// rest is dropped with a warning, as [`crate::audio::encode_wav_pcm16`] does.
    pub fn write(&mut self, channels: &[Vec<f32>]) -> Result<()> {
        if channels.len() != self.n_channels {
            return Err(PipelineError::InvalidOption(format!(
                "{} channels of samples for a recording of {}",
                channels.len(),
                self.n_channels
            )));
        }
        let n_new = channels.iter().map(Vec::len).min().unwrap_or(0) as u64;
        let n_take = n_new.min(self.max_frames - self.n_frames);
        if n_take < n_new {
            tracing::warn!(n_frames = self.n_frames, "recording too long for a WAV file, cutting it");
        }
        self.buffer.clear();
        for frame_idx in 0..n_take as usize {
            for channel in channels {
                // As `encode_wav_pcm16`: `as` saturates and maps NaN to 0.
                let pcm = (channel[frame_idx] * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16;
                self.buffer.extend_from_slice(&pcm.to_le_bytes());
            }
        }
        self.inner.write_all(&self.buffer).map_err(io_error)?;
        self.n_frames += n_take;
        Ok(())
    }

    /// Frames written so far.
    pub fn n_frames(&self) -> u64 {
        self.n_frames
    }

    /// Bytes of the finished file.
    pub fn n_bytes(&self) -> u64 {
        WAV_HEADER_BYTES + self.data_len()
    }

    fn data_len(&self) -> u64 {
        self.n_frames * self.n_channels as u64 * BYTES_PER_SAMPLE
    }

    /// Writes the header's sizes, flushes, and hands the writer back (to sync a file).
    pub fn finish(mut self) -> Result<W> {
        let data_len = self.data_len() as u32;
        self.inner.seek(SeekFrom::Start(4)).map_err(io_error)?;
        self.inner.write_all(&(36 + data_len).to_le_bytes()).map_err(io_error)?;
        self.inner.seek(SeekFrom::Start(40)).map_err(io_error)?;
        self.inner.write_all(&data_len.to_le_bytes()).map_err(io_error)?;
        self.inner.seek(SeekFrom::End(0)).map_err(io_error)?;
        self.inner.flush().map_err(io_error)?;
        Ok(self.inner)
    }
}

fn io_error(error: std::io::Error) -> PipelineError {
    PipelineError::Engine { engine: "recording", reason: error.to_string() }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::audio::{DecodedAudio, encode_wav_pcm16};

    #[test]
    fn pieces_written_as_they_come_make_the_same_file_as_the_whole_call_encoded_at_once() {
        let left: Vec<f32> = (0..1_000).map(|n| ((n as f32) * 0.01).sin() * 0.8).collect();
        let right: Vec<f32> = (0..1_000).map(|n| if n % 7 == 0 { 1.5 } else { -(n as f32) / 1_000.0 }).collect();
        let mut writer = RecordingWriter::new(Cursor::new(Vec::new()), 8_000, 2).expect("header");
        for (start, end) in [(0, 1), (1, 333), (333, 333), (333, 1_000)] {
            writer.write(&[left[start..end].to_vec(), right[start..end].to_vec()]).expect("write");
        }
        assert_eq!(writer.n_frames(), 1_000);
        let n_bytes = writer.n_bytes();
        let written = writer.finish().expect("finish").into_inner();
        let whole = encode_wav_pcm16(&DecodedAudio::from_f32_channels(8_000, &[left, right]));
        assert_eq!(written.len() as u64, n_bytes);
        assert_eq!(written, whole);
    }

    #[test]
    fn a_mismatched_piece_is_refused() {
        let mut writer = RecordingWriter::new(Cursor::new(Vec::new()), 8_000, 1).expect("header");
        assert!(writer.write(&[vec![0.0], vec![0.0]]).is_err());
        assert!(RecordingWriter::new(Cursor::new(Vec::new()), 8_000, 3).is_err());
    }
}
