//! Audio input: decoding WAV, FLAC, Ogg/Vorbis and MP3 into float samples, G.711 companding,
//! and resampling to the pipeline rate.
//!
//! The container is recognised from the first bytes of the content, never from the file name.
//! Every malformed input is reported as [`PipelineError::Audio`] naming the file and the problem;
//! no input makes these functions panic.

pub(crate) mod compressed;
pub mod g711;
pub mod resample;
pub(crate) mod sink;
pub mod source;
mod wav;

use std::path::{Path, PathBuf};

use crate::error::{PipelineError, Result};

pub use resample::{AudioSample, BlockResampler, ResampledRanges, StreamingResampler, resample};
pub use source::{CallAudio, ChannelSignal, DecodedCall, SampleSource, SpilledAudio};
pub use wav::{encode_wav_pcm16, max_wav_pcm16_frames, wav_pcm16_header};

use sink::{Keep, SinkOutput};

/// Lowest sample rate accepted from a file (telephony audio is 8 kHz; below 4 kHz is not speech).
pub const MIN_SAMPLE_RATE_HZ: u32 = 4_000;
/// Highest sample rate accepted from a file.
pub const MAX_SAMPLE_RATE_HZ: u32 = 192_000;
/// Most channels accepted from a file; the pipeline itself uses at most the first two.
pub const MAX_CHANNELS: usize = 8;

/// Decoded audio: one `Vec` of 16-bit samples per channel, all channels the same length.
///
/// 16-bit, not `f32`: a decoded call is the largest thing analysis holds (four hours of 8 kHz
/// stereo is 461 MB as `i16`, 922 MB as `f32`), and 16 bits is more than any telephone line or
/// speech model resolves. Convert with [`sample_to_f32`] / [`sample_from_f32`].
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    pub sample_rate_hz: u32,
    pub channels: Vec<Vec<i16>>,
}

/// A 16-bit sample as a float in -1..1.
pub fn sample_to_f32(sample: i16) -> f32 {
    f32::from(sample) / 32_768.0
}

/// A float sample as 16 bits, clamped to -1..1 (NaN becomes 0: `as` saturates and maps NaN to 0).
pub fn sample_from_f32(sample: f32) -> i16 {
    (sample * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

impl DecodedAudio {
    /// Audio from float channels (samples clamped to -1..1).
    pub fn from_f32_channels(sample_rate_hz: u32, channels: &[Vec<f32>]) -> Self {
        let channels = channels.iter().map(|samples| samples.iter().copied().map(sample_from_f32).collect()).collect();
        Self { sample_rate_hz, channels }
    }

    /// One channel as floats in -1..1 (a full-length copy: for short audio).
    pub fn channel_f32(&self, channel_idx: usize) -> Vec<f32> {
        self.channels.get(channel_idx).map_or_else(Vec::new, |samples| samples.iter().copied().map(sample_to_f32).collect())
    }

    /// All channels mixed, as floats in -1..1 (a full-length copy: for short audio).
    pub fn mono_f32(&self) -> Vec<f32> {
        self.mixed_to_mono().into_iter().map(sample_to_f32).collect()
    }

    /// Number of sample frames (samples per channel).
    pub fn n_frames(&self) -> usize {
        self.channels.iter().map(Vec::len).max().unwrap_or(0)
    }

    pub fn n_channels(&self) -> usize {
        self.channels.len()
    }

    pub fn shape(&self) -> AudioShape {
        AudioShape { sample_rate_hz: self.sample_rate_hz, n_channels: self.n_channels(), n_frames: self.n_frames() }
    }

    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate_hz == 0 {
            return 0.0;
        }
        self.n_frames() as f64 / f64::from(self.sample_rate_hz)
    }

    /// The average of all channels, one sample per frame.
    pub fn mixed_to_mono(&self) -> Vec<i16> {
        match self.channels.as_slice() {
            [] => Vec::new(),
            [only] => only.clone(),
            all => {
                let n_channels = all.len() as i32;
                (0..self.n_frames())
                    .map(|frame_idx| {
                        let sum: i32 = all.iter().map(|channel| i32::from(channel.get(frame_idx).copied().unwrap_or(0))).sum();
                        // The mean of i16 values is an i16.
                        (sum / n_channels) as i16
                    })
                    .collect()
            }
        }
    }
}

/// Limits that protect the service from inputs too large to process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeLimits {
    /// Longer inputs are rejected before (WAV) or while (compressed formats) they are decoded.
    pub max_duration_secs: f64,
    /// Faster audio is resampled down to this rate while it is decoded. Analysis never uses more
    /// than 16 kHz, and this bounds a decoded call by its duration: four hours of stereo is at
    /// most 922 MB whatever the file's rate (a 48 kHz source would be 2.8 GB).
    pub max_sample_rate_hz: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // Four hours: longer than any contact-centre call we expect to analyse.
        Self {
            max_duration_secs: 4.0 * 3600.0,
            max_sample_rate_hz: crate::types::PIPELINE_SAMPLE_RATE_HZ,
        }
    }
}

impl DecodeLimits {
    /// The default limits for audio up to `max_duration_secs` long.
    pub fn with_max_duration_secs(max_duration_secs: f64) -> Self {
        Self { max_duration_secs, ..Self::default() }
    }

    /// The same limits, keeping the file's own sample rate (for tools that need the original).
    pub fn keeping_sample_rate(self) -> Self {
        Self { max_sample_rate_hz: MAX_SAMPLE_RATE_HZ, ..self }
    }
}

/// Decodes an audio file with the default [`DecodeLimits`].
pub fn decode_file(path: &Path) -> Result<DecodedAudio> {
    decode_file_with_limits(path, &DecodeLimits::default())
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|io_error| PipelineError::Audio {
        path: path.to_path_buf(),
        reason: format!("cannot read file: {io_error}"),
    })
}

/// Decodes an audio file; the whole file is read into memory first.
pub fn decode_file_with_limits(path: &Path, limits: &DecodeLimits) -> Result<DecodedAudio> {
    let bytes = read_file(path)?;
    decode_bytes_with_limits(&bytes, &path.display().to_string(), limits)
}

/// Decoded audio longer than this is kept in temporary files by [`decode_file_for_analysis`]:
/// ten minutes of 16 kHz stereo is 38 MB, four hours would be 922 MB.
pub const SPILL_AFTER_SECS: f64 = 600.0;

/// Decodes a call to analyse: in memory up to [`SPILL_AFTER_SECS`], in unnamed temporary files in
/// `spill_dir` beyond, so that memory does not grow with the call's length. The files vanish when
/// the result is dropped (or the process dies).
pub fn decode_file_for_analysis(path: &Path, limits: &DecodeLimits, spill_dir: &Path) -> Result<DecodedCall> {
    let bytes = read_file(path)?;
    let keep = Keep::SpillAfter { after_secs: SPILL_AFTER_SECS, dir: spill_dir.to_path_buf() };
    Ok(match decode_into(&bytes, &path.display().to_string(), limits, keep)? {
        SinkOutput::Audio(audio) => DecodedCall::InMemory(audio),
        SinkOutput::Spilled(audio) => {
            tracing::info!(path = %path.display(), duration_secs = audio.duration_secs(), "a long call: analysed from temporary files");
            DecodedCall::Spilled(audio)
        }
        SinkOutput::Counted(_) => return Err(audio_error(&path.display().to_string(), "decoder kept no samples".into())),
    })
}

/// Decodes audio held in memory with the default [`DecodeLimits`]; `name_for_errors` is the file
/// name (or upload name) that error messages report.
pub fn decode_bytes(bytes: &[u8], name_for_errors: &str) -> Result<DecodedAudio> {
    decode_bytes_with_limits(bytes, name_for_errors, &DecodeLimits::default())
}

/// Decodes audio held in memory: WAV (PCM 8/16/24/32-bit, float 32/64-bit, µ-law, A-law,
/// extensible), FLAC, Ogg/Vorbis and MPEG audio (MP3, MP2, MP1).
pub fn decode_bytes_with_limits(
    bytes: &[u8],
    name_for_errors: &str,
    limits: &DecodeLimits,
) -> Result<DecodedAudio> {
    match decode_into(bytes, name_for_errors, limits, Keep::Memory)? {
        SinkOutput::Audio(audio) => Ok(audio),
        SinkOutput::Spilled(_) | SinkOutput::Counted(_) => Err(audio_error(name_for_errors, "decoder did not keep the samples in memory".into())),
    }
}

/// The shape of a decoded recording, without its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioShape {
    /// The rate analysis will see (after the decode-time cap of [`DecodeLimits::max_sample_rate_hz`]).
    pub sample_rate_hz: u32,
    pub n_channels: usize,
    pub n_frames: usize,
}

impl AudioShape {
    pub fn duration_secs(&self) -> f64 {
        self.n_frames as f64 / f64::from(self.sample_rate_hz.max(1))
    }
}

/// Decodes the whole recording, as [`decode_bytes_with_limits`] would, and keeps none of it:
/// checking an upload costs the file, not the decoded call.
pub fn probe_bytes_with_limits(bytes: &[u8], name_for_errors: &str, limits: &DecodeLimits) -> Result<AudioShape> {
    Ok(decode_into(bytes, name_for_errors, limits, Keep::CountOnly)?.shape())
}

/// Why a decoder stopped: the input is unusable, or the temporary files a long call is spilled
/// to could not be written (a full disk: the recording itself may be fine).
#[derive(Debug)]
pub(crate) enum DecodeError {
    Input(String),
    Storage(String),
}

impl From<String> for DecodeError {
    fn from(reason: String) -> Self {
        Self::Input(reason)
    }
}

fn decode_into(bytes: &[u8], name_for_errors: &str, limits: &DecodeLimits, keep: Keep) -> Result<SinkOutput> {
    let fail = |reason: String| audio_error(name_for_errors, reason);
    let container = sniff_container(bytes).map_err(fail)?;
    let decoded = match container {
        Container::Wav => wav::decode_wav(bytes, limits, keep),
        Container::Flac => compressed::decode_compressed(bytes, compressed::CompressedFormat::Flac, limits, keep),
        Container::Ogg => compressed::decode_compressed(bytes, compressed::CompressedFormat::Ogg, limits, keep),
        Container::Mpeg { audio_offset } => {
            compressed::decode_compressed(&bytes[audio_offset..], compressed::CompressedFormat::Mpeg, limits, keep)
        }
    }
    .map_err(|error| match error {
        DecodeError::Input(reason) => fail(reason),
        DecodeError::Storage(reason) => PipelineError::Storage(reason),
    })?;
    check_decoded(&decoded.shape(), limits).map_err(fail)?;
    Ok(decoded)
}

fn audio_error(name_for_errors: &str, reason: String) -> PipelineError {
    PipelineError::Audio {
        path: PathBuf::from(name_for_errors),
        reason,
    }
}

/// The containers recognised from their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Wav,
    Flac,
    Ogg,
    /// MPEG audio frames start at `audio_offset`, after any ID3v2 tags.
    Mpeg {
        audio_offset: usize,
    },
}

fn sniff_container(bytes: &[u8]) -> std::result::Result<Container, String> {
    if bytes.is_empty() {
        return Err("empty: file is 0 bytes long".to_string());
    }
    match bytes {
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'A',
            b'V',
            b'E',
            ..,
        ] => Ok(Container::Wav),
        [b'R', b'I', b'F', b'F', _, _, _, _, form @ ..] if form.len() >= 4 => Err(format!(
            "not an audio file (RIFF form {:?} is not WAVE)",
            String::from_utf8_lossy(&form[..4])
        )),
        [b'R', b'F', b'6', b'4', ..] => Err("unsupported: RF64 (64-bit WAV) files".to_string()),
        [b'f', b'L', b'a', b'C', ..] => Ok(Container::Flac),
        [b'O', b'g', b'g', b'S', ..] => Ok(Container::Ogg),
        [b'I', b'D', b'3', ..] => Ok(Container::Mpeg {
            audio_offset: skip_id3v2_tags(bytes)?,
        }),
        [first, second, ..] if is_mpeg_frame_sync(*first, *second) => {
            Ok(Container::Mpeg { audio_offset: 0 })
        }
        _ => Err("not an audio file (unrecognised header)".to_string()),
    }
}

/// 11 set bits of frame sync, then a version other than "reserved" and a layer other than
/// "reserved" (ISO/IEC 11172-3 section 2.4.2.3).
fn is_mpeg_frame_sync(first: u8, second: u8) -> bool {
    let version_bits = (second >> 3) & 0x03;
    let layer_bits = (second >> 1) & 0x03;
    first == 0xFF && second & 0xE0 == 0xE0 && version_bits != 0b01 && layer_bits != 0b00
}

/// Returns the offset of the first byte after the ID3v2 tags at the start of `bytes`.
fn skip_id3v2_tags(bytes: &[u8]) -> std::result::Result<usize, String> {
    const ID3V2_HEADER_LEN: usize = 10;
    const ID3V2_FOOTER_FLAG: u8 = 0x10;
    let mut offset = 0;
    while let Some(header) = bytes.get(offset..offset + ID3V2_HEADER_LEN) {
        if &header[..3] != b"ID3" {
            break;
        }
        // The tag size is "syncsafe": four 7-bit groups (ID3v2.4 section 3.1).
        if header[6..10].iter().any(|byte| byte & 0x80 != 0) {
            return Err(format!(
                "corrupt ID3v2 tag at byte {offset}: size is not syncsafe"
            ));
        }
        let body_len = header[6..10]
            .iter()
            .fold(0_usize, |size, &byte| (size << 7) | usize::from(byte));
        let footer_len = if header[5] & ID3V2_FOOTER_FLAG != 0 {
            ID3V2_HEADER_LEN
        } else {
            0
        };
        let tag_len = ID3V2_HEADER_LEN + body_len + footer_len;
        if offset + tag_len > bytes.len() {
            return Err(format!(
                "truncated: ID3v2 tag declares {tag_len} bytes but only {} are present",
                bytes.len() - offset
            ));
        }
        offset += tag_len;
    }
    if offset == 0 {
        // Only called when the content starts with "ID3", so the first header is incomplete.
        return Err(format!(
            "truncated: file is {} bytes, too short for an ID3v2 tag",
            bytes.len()
        ));
    }
    if offset >= bytes.len() {
        return Err("empty: no audio after the ID3v2 tag".to_string());
    }
    Ok(offset)
}

/// Checks that hold for every decoded container, whatever its header claimed.
pub(crate) fn check_decoded(decoded: &AudioShape, limits: &DecodeLimits) -> std::result::Result<(), String> {
    check_stream_format(decoded.n_channels, decoded.sample_rate_hz)?;
    if decoded.n_frames == 0 {
        return Err("empty: no audio samples".to_string());
    }
    check_duration(decoded.n_frames as u64, decoded.sample_rate_hz, limits)
}

/// Rejects channel counts and sample rates the pipeline cannot use.
pub(crate) fn check_stream_format(
    n_channels: usize,
    sample_rate_hz: u32,
) -> std::result::Result<(), String> {
    if n_channels == 0 {
        return Err("no channels: the stream declares 0 channels".to_string());
    }
    if n_channels > MAX_CHANNELS {
        return Err(format!(
            "unsupported: {n_channels} channels (at most {MAX_CHANNELS})"
        ));
    }
    if !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sample_rate_hz) {
        return Err(format!(
            "unsupported sample rate {sample_rate_hz} Hz (must be {MIN_SAMPLE_RATE_HZ}..={MAX_SAMPLE_RATE_HZ} Hz)"
        ));
    }
    Ok(())
}

/// Rejects audio longer than `limits.max_duration_secs`.
pub(crate) fn check_duration(
    n_frames: u64,
    sample_rate_hz: u32,
    limits: &DecodeLimits,
) -> std::result::Result<(), String> {
    let duration_secs = n_frames as f64 / f64::from(sample_rate_hz.max(1));
    if duration_secs > limits.max_duration_secs {
        return Err(format!(
            "too long: {duration_secs:.1} s of audio exceeds the limit of {:.1} s",
            limits.max_duration_secs
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_containers_from_content() {
        assert_eq!(sniff_container(b"RIFF\0\0\0\0WAVEfmt "), Ok(Container::Wav));
        assert_eq!(sniff_container(b"fLaC\0\0\0\x22"), Ok(Container::Flac));
        assert_eq!(sniff_container(b"OggS\0\x02"), Ok(Container::Ogg));
        assert_eq!(
            sniff_container(&[0xFF, 0xFB, 0x90, 0x00]),
            Ok(Container::Mpeg { audio_offset: 0 })
        );
        let mut with_tag = b"ID3\x04\x00\x00\x00\x00\x00\x02\0\0".to_vec();
        with_tag.extend([0xFF, 0xFB, 0x90, 0x00]);
        assert_eq!(
            sniff_container(&with_tag),
            Ok(Container::Mpeg { audio_offset: 12 })
        );
        assert!(sniff_container(b"hello world").is_err());
        assert!(
            sniff_container(&[0xFF, 0xE8]).is_err(),
            "reserved MPEG version"
        );
    }

    #[test]
    fn mixes_channels_by_averaging() {
        let audio = DecodedAudio {
            sample_rate_hz: 8000,
            channels: vec![vec![32_000, 16_000], vec![0, -16_000]],
        };
        assert_eq!(audio.mixed_to_mono(), vec![16_000, 0]);
        assert_eq!(audio.duration_secs(), 2.0 / 8000.0);
    }
}
