//! WAV (RIFF/WAVE) parsing and 16-bit PCM writing.
//!
//! The RIFF chunks are walked here rather than by `hound` because telephony recordings use what
//! `hound` rejects: G.711 µ-law/A-law, extensible headers with G.711 subformats, 64-bit float,
//! missing pad bytes after odd-sized chunks.

use super::sink::{ChannelSink, Keep, SinkOutput};
use super::{DecodeError, DecodeLimits, DecodedAudio, check_duration, check_stream_format, g711};

/// Frames decoded into a block before they go to the sink (and its resampler).
const DECODE_BLOCK_FRAMES: usize = 65_536;

const WAVE_FORMAT_PCM: u16 = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 0x0003;
const WAVE_FORMAT_ALAW: u16 = 0x0006;
const WAVE_FORMAT_MULAW: u16 = 0x0007;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Bytes 2..16 of every `KSDATAFORMAT_SUBTYPE_*` GUID that wraps a classic format tag
/// (`{0000xxxx-0000-0010-8000-00AA00389B71}`, mmreg.h); bytes 0..2 hold the tag itself.
const SUBFORMAT_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

const RIFF_HEADER_LEN: usize = 12;
const CHUNK_HEADER_LEN: usize = 8;
const FMT_MIN_LEN: usize = 16;
const FMT_EXTENSIBLE_LEN: usize = 40;
/// Streaming writers that cannot seek back put this in the data size to mean "until the end".
const DATA_SIZE_UNKNOWN: u32 = u32::MAX;

/// How one sample is stored in the data chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleEncoding {
    /// 8-bit PCM is unsigned with 128 as zero.
    UnsignedPcm8,
    /// Signed little-endian PCM in a container of 2, 3 or 4 bytes; narrower valid bits are
    /// left-justified, so scaling by the container's full scale is right for them too.
    SignedPcm {
        container_bytes: usize,
    },
    Float32,
    Float64,
    MuLaw,
    ALaw,
}

impl SampleEncoding {
    fn container_bytes(self) -> usize {
        match self {
            SampleEncoding::UnsignedPcm8 | SampleEncoding::MuLaw | SampleEncoding::ALaw => 1,
            SampleEncoding::SignedPcm { container_bytes } => container_bytes,
            SampleEncoding::Float32 => 4,
            SampleEncoding::Float64 => 8,
        }
    }

    /// One sample as 16 bits: 8- and 16-bit PCM and G.711 exactly, wider ones rounded.
    fn decode(self, sample_bytes: &[u8]) -> i16 {
        match (self, sample_bytes) {
            (SampleEncoding::UnsignedPcm8, &[byte]) => (i16::from(byte) - 128) << 8,
            (SampleEncoding::SignedPcm { .. }, &[low, high]) => i16::from_le_bytes([low, high]),
            (SampleEncoding::MuLaw, &[byte]) => g711::mulaw_to_linear(byte),
            (SampleEncoding::ALaw, &[byte]) => g711::alaw_to_linear(byte),
            _ => super::sample_from_f32(self.decode_f32(sample_bytes)),
        }
    }

    fn decode_f32(self, sample_bytes: &[u8]) -> f32 {
        let sample = match (self, sample_bytes) {
            (SampleEncoding::UnsignedPcm8, &[byte]) => (f32::from(byte) - 128.0) / 128.0,
            (SampleEncoding::SignedPcm { .. }, &[low, high]) => {
                f32::from(i16::from_le_bytes([low, high])) / 32_768.0
            }
            (SampleEncoding::SignedPcm { .. }, &[low, mid, high]) => {
                // Put the 24 bits at the top of an i32 so the sign extends, then scale from 32 bits.
                (i32::from_le_bytes([0, low, mid, high]) as f64 / 2_147_483_648.0) as f32
            }
            (SampleEncoding::SignedPcm { .. }, &[b0, b1, b2, b3]) => {
                (f64::from(i32::from_le_bytes([b0, b1, b2, b3])) / 2_147_483_648.0) as f32
            }
            (SampleEncoding::Float32, &[b0, b1, b2, b3]) => f32::from_le_bytes([b0, b1, b2, b3]),
            (SampleEncoding::Float64, &[b0, b1, b2, b3, b4, b5, b6, b7]) => {
                f64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]) as f32
            }
            (SampleEncoding::MuLaw, &[byte]) => f32::from(g711::mulaw_to_linear(byte)) / 32_768.0,
            (SampleEncoding::ALaw, &[byte]) => f32::from(g711::alaw_to_linear(byte)) / 32_768.0,
            // The caller always passes container_bytes() bytes; anything else decodes as silence.
            _ => 0.0,
        };
        // Float files may hold NaN or values beyond full scale; the pipeline promises -1..1.
        if sample.is_nan() {
            0.0
        } else {
            sample.clamp(-1.0, 1.0)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WavFormat {
    encoding: SampleEncoding,
    n_channels: usize,
    sample_rate_hz: u32,
}

impl WavFormat {
    fn block_align(&self) -> usize {
        self.n_channels * self.encoding.container_bytes()
    }
}

fn read_u16(bytes: &[u8], offset: usize) -> u16 {
    match bytes.get(offset..offset + 2) {
        Some(&[low, high]) => u16::from_le_bytes([low, high]),
        _ => 0,
    }
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    match bytes.get(offset..offset + 4) {
        Some(&[b0, b1, b2, b3]) => u32::from_le_bytes([b0, b1, b2, b3]),
        _ => 0,
    }
}

fn chunk_name(id: &[u8]) -> String {
    id.iter()
        .map(|&byte| {
            if byte.is_ascii_graphic() || byte == b' ' {
                char::from(byte)
            } else {
                '?'
            }
        })
        .collect()
}

/// Parses a `fmt ` chunk body into the sample layout it declares.
fn parse_fmt_chunk(body: &[u8]) -> Result<WavFormat, String> {
    if body.len() < FMT_MIN_LEN {
        return Err(format!(
            "corrupt fmt chunk: {} bytes, expected at least {FMT_MIN_LEN}",
            body.len()
        ));
    }
    let declared_tag = read_u16(body, 0);
    let n_channels = usize::from(read_u16(body, 2));
    let sample_rate_hz = read_u32(body, 4);
    let declared_block_align = usize::from(read_u16(body, 12));
    let bits_per_sample = read_u16(body, 14);

    let format_tag = if declared_tag == WAVE_FORMAT_EXTENSIBLE {
        if body.len() < FMT_EXTENSIBLE_LEN {
            return Err(format!(
                "corrupt fmt chunk: extensible format needs {FMT_EXTENSIBLE_LEN} bytes but the chunk has {}",
                body.len()
            ));
        }
        let subformat = &body[24..40];
        if subformat[2..] != SUBFORMAT_GUID_TAIL {
            let hex: String = subformat.iter().map(|byte| format!("{byte:02x}")).collect();
            return Err(format!("unsupported WAV extensible subformat GUID {hex}"));
        }
        u16::from_le_bytes([subformat[0], subformat[1]])
    } else {
        declared_tag
    };

    check_stream_format(n_channels, sample_rate_hz)?;

    let encoding = match (format_tag, bits_per_sample) {
        (WAVE_FORMAT_PCM, 1..=8) => SampleEncoding::UnsignedPcm8,
        (WAVE_FORMAT_PCM, 9..=16) => SampleEncoding::SignedPcm { container_bytes: 2 },
        (WAVE_FORMAT_PCM, 17..=24) => SampleEncoding::SignedPcm { container_bytes: 3 },
        (WAVE_FORMAT_PCM, 25..=32) => SampleEncoding::SignedPcm { container_bytes: 4 },
        (WAVE_FORMAT_PCM, bits) => return Err(format!("unsupported PCM bit depth {bits}")),
        (WAVE_FORMAT_IEEE_FLOAT, 32) => SampleEncoding::Float32,
        (WAVE_FORMAT_IEEE_FLOAT, 64) => SampleEncoding::Float64,
        (WAVE_FORMAT_IEEE_FLOAT, bits) => {
            return Err(format!("unsupported float bit depth {bits}"));
        }
        (WAVE_FORMAT_MULAW, 8) => SampleEncoding::MuLaw,
        (WAVE_FORMAT_ALAW, 8) => SampleEncoding::ALaw,
        (WAVE_FORMAT_MULAW | WAVE_FORMAT_ALAW, bits) => {
            return Err(format!("unsupported G.711 bit depth {bits} (must be 8)"));
        }
        (tag, _) => return Err(format!("unsupported WAV format tag 0x{tag:04X}")),
    };
    let format = WavFormat {
        encoding,
        n_channels,
        sample_rate_hz,
    };
    if declared_block_align != format.block_align() {
        return Err(format!(
            "corrupt fmt chunk: block align is {declared_block_align} bytes, expected {} for {n_channels} channels \
             of {}-byte samples",
            format.block_align(),
            encoding.container_bytes()
        ));
    }
    Ok(format)
}

/// Decodes a RIFF/WAVE file; the caller has checked the "RIFF....WAVE" signature.
///
/// A data chunk that declares more bytes than the file holds is an error, not a silently
/// shortened recording: a truncated upload should be re-sent, not analysed in part.
pub(super) fn decode_wav(bytes: &[u8], limits: &DecodeLimits, keep: Keep) -> Result<SinkOutput, DecodeError> {
    if bytes.len() < RIFF_HEADER_LEN {
        return Err(DecodeError::Input(format!(
            "truncated: file is {} bytes, too short for a RIFF/WAVE header",
            bytes.len()
        )));
    }
    let mut format: Option<WavFormat> = None;
    let mut data: Option<&[u8]> = None;
    let mut offset = RIFF_HEADER_LEN;
    // The RIFF size field is not trusted (streaming writers leave it 0); walk to the end.
    while offset + CHUNK_HEADER_LEN <= bytes.len() && (format.is_none() || data.is_none()) {
        let chunk_id = &bytes[offset..offset + 4];
        let declared_size = read_u32(bytes, offset + 4);
        let body_start = offset + CHUNK_HEADER_LEN;
        let present = bytes.len() - body_start;
        let body_len = declared_size as usize;

        if chunk_id == b"data" {
            let body_len = if declared_size == DATA_SIZE_UNKNOWN {
                present
            } else {
                body_len
            };
            if body_len > present {
                return Err(DecodeError::Input(format!(
                    "truncated: data chunk declares {body_len} bytes but only {present} are present"
                )));
            }
            data = Some(&bytes[body_start..body_start + body_len]);
        } else if body_len > present {
            if data.is_some() {
                // A cut-off chunk after the samples (a LIST tag, say) loses nothing we need.
                break;
            }
            return Err(DecodeError::Input(format!(
                "truncated: '{}' chunk declares {body_len} bytes but only {present} are present",
                chunk_name(chunk_id)
            )));
        } else if chunk_id == b"fmt " {
            if format.is_some() {
                return Err(DecodeError::Input("corrupt: more than one fmt chunk".to_string()));
            }
            format = Some(parse_fmt_chunk(&bytes[body_start..body_start + body_len])?);
        }

        offset = body_start + body_len.min(present);
        // Chunks are word-aligned with a zero pad byte after an odd size; some writers omit
        // it, in which case the next chunk id (never starting with 0) follows directly.
        if body_len % 2 == 1 && bytes.get(offset) == Some(&0) {
            offset += 1;
        }
    }

    if (format.is_none() || data.is_none())
        && offset < bytes.len()
        && offset + CHUNK_HEADER_LEN > bytes.len()
    {
        return Err(DecodeError::Input(format!(
            "truncated: the file ends inside a chunk header at byte {offset}"
        )));
    }
    let format = format.ok_or_else(|| "corrupt: no fmt chunk".to_string())?;
    let data = data.ok_or_else(|| "corrupt: no data chunk".to_string())?;
    decode_samples(data, &format, limits, keep)
}

fn decode_samples(
    data: &[u8],
    format: &WavFormat,
    limits: &DecodeLimits,
    keep: Keep,
) -> Result<SinkOutput, DecodeError> {
    let block_align = format.block_align();
    let n_frames = data.len() / block_align;
    if n_frames == 0 {
        return Err(DecodeError::Input("empty: no audio samples".to_string()));
    }
    let n_trailing_bytes = data.len() % block_align;
    if n_trailing_bytes != 0 {
        tracing::warn!(
            n_trailing_bytes,
            block_align,
            "ignoring a partial frame at the end of a WAV data chunk"
        );
    }
    check_duration(n_frames as u64, format.sample_rate_hz, limits)?;

    let sample_bytes = format.encoding.container_bytes();
    let mut sink = ChannelSink::new(format.n_channels, format.sample_rate_hz, limits.max_sample_rate_hz, keep)?;
    sink.reserve_input_frames(n_frames);
    let mut block: Vec<Vec<i16>> = vec![Vec::with_capacity(DECODE_BLOCK_FRAMES); format.n_channels];
    for frames in data.chunks(DECODE_BLOCK_FRAMES * block_align) {
        for frame in frames.chunks_exact(block_align) {
            for (channel, sample) in block.iter_mut().zip(frame.chunks_exact(sample_bytes)) {
                channel.push(format.encoding.decode(sample));
            }
        }
        for (channel_idx, samples) in block.iter_mut().enumerate() {
            sink.push(channel_idx, samples)?;
            samples.clear();
        }
    }
    sink.finish(None)
}

/// Most frames of `n_channels` 16-bit channels a WAV file can hold (its sizes are 32-bit).
pub fn max_wav_pcm16_frames(n_channels: usize) -> usize {
    (u32::MAX as usize - 36) / (n_channels.max(1) * 2)
}

/// The 44-byte header of a 16-bit PCM WAV file of `n_frames` frames (at most
/// [`max_wav_pcm16_frames`]); the interleaved little-endian samples follow it.
pub fn wav_pcm16_header(n_channels: usize, sample_rate_hz: u32, n_frames: usize) -> Vec<u8> {
    let block_align = n_channels * 2;
    let data_len = n_frames.min(max_wav_pcm16_frames(n_channels)) * block_align;
    let byte_rate = sample_rate_hz as usize * block_align;
    let mut bytes = Vec::with_capacity(44);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&((36 + data_len) as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16_u32.to_le_bytes());
    bytes.extend_from_slice(&WAVE_FORMAT_PCM.to_le_bytes());
    bytes.extend_from_slice(&(n_channels as u16).to_le_bytes());
    bytes.extend_from_slice(&sample_rate_hz.to_le_bytes());
    bytes.extend_from_slice(&(byte_rate as u32).to_le_bytes());
    bytes.extend_from_slice(&(block_align as u16).to_le_bytes());
    bytes.extend_from_slice(&16_u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data_len as u32).to_le_bytes());
    bytes
}

/// Encodes audio as a 16-bit PCM WAV file (for evidence clips and tests).
///
/// Shorter channels are padded with silence. A WAV file cannot
/// hold more than 4 GiB of samples, so longer audio is cut at that size (with a warning).
pub fn encode_wav_pcm16(audio: &DecodedAudio) -> Vec<u8> {
    let n_channels = audio.n_channels();
    let max_frames = max_wav_pcm16_frames(n_channels);
    let mut n_frames = audio.n_frames();
    if n_frames > max_frames {
        tracing::warn!(
            n_frames,
            max_frames,
            "audio too long for a WAV file, cutting it"
        );
        n_frames = max_frames;
    }
    let mut bytes = wav_pcm16_header(n_channels, audio.sample_rate_hz, n_frames);
    bytes.reserve(n_frames * n_channels * 2);
    for frame_idx in 0..n_frames {
        for channel in &audio.channels {
            let sample = channel.get(frame_idx).copied().unwrap_or(0);
            bytes.extend_from_slice(&sample.to_le_bytes());
        }
    }
    bytes
}
