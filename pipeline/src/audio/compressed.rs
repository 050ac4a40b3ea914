//! FLAC, Ogg/Vorbis and MPEG audio decoding through symphonia, with errors that say where the
//! stream broke.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::default::formats::{FlacReader, MpaReader, OggReader};

use super::sink::{ChannelSink, Keep, SinkOutput};
use super::{DecodeError, DecodeLimits, check_stream_format};

/// A run of this many undecodable packets in a row means the stream is corrupt, not that one
/// frame was damaged in transit.
const MAX_CONSECUTIVE_BAD_PACKETS: usize = 8;
/// Upper bound on the silence put in place of one undecodable packet (FLAC's largest block).
const MAX_CONCEALED_FRAMES_PER_PACKET: u64 = 65_535;

/// The symphonia-decoded containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompressedFormat {
    Flac,
    Ogg,
    Mpeg,
}

impl CompressedFormat {
    fn label(self) -> &'static str {
        match self {
            CompressedFormat::Flac => "FLAC",
            CompressedFormat::Ogg => "Ogg",
            CompressedFormat::Mpeg => "MP3",
        }
    }
}

/// Decodes a FLAC, Ogg or MPEG audio stream held in memory.
///
/// Symphonia is a large parser of untrusted input; should it panic on some malformed stream,
/// the panic is caught here and reported as a decoding error, so no upload can take down a
/// worker. (The panic message still reaches the panic hook, which logs it.)
pub(crate) fn decode_compressed(
    bytes: &[u8],
    format: CompressedFormat,
    limits: &DecodeLimits,
    keep: Keep,
) -> Result<SinkOutput, DecodeError> {
    match catch_unwind(AssertUnwindSafe(|| {
        decode_with_symphonia(bytes, format, limits, keep)
    })) {
        Ok(result) => result,
        Err(_) => Err(DecodeError::Input(format!(
            "corrupt {} stream: the decoder rejected malformed data",
            format.label()
        ))),
    }
}

fn open_reader(
    bytes: &[u8],
    format: CompressedFormat,
) -> Result<Box<dyn FormatReader>, SymphoniaError> {
    // Symphonia's media sources must be 'static, hence the copy of the (compressed) bytes.
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(bytes.to_vec())),
        MediaSourceStreamOptions::default(),
    );
    // Gapless mode makes timestamps and n_frames exclude the encoder delay and padding, so that
    // sample 0 of the output is sample 0 of what was recorded.
    let options = FormatOptions {
        enable_gapless: true,
        ..FormatOptions::default()
    };
    // The reader is chosen from the sniffed magic bytes rather than by symphonia's probe, which
    // would accept any container it finds a marker for anywhere in the first megabyte.
    Ok(match format {
        CompressedFormat::Flac => Box::new(FlacReader::try_new(source, &options)?),
        CompressedFormat::Ogg => Box::new(OggReader::try_new(source, &options)?),
        CompressedFormat::Mpeg => Box::new(MpaReader::try_new(source, &options)?),
    })
}

fn describe_error(error: &SymphoniaError) -> String {
    match error {
        SymphoniaError::IoError(io_error)
            if io_error.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            "stream ends unexpectedly".to_string()
        }
        SymphoniaError::IoError(io_error) => format!("read error: {io_error}"),
        SymphoniaError::DecodeError(message) => (*message).to_string(),
        SymphoniaError::Unsupported(feature) => format!("unsupported: {feature}"),
        SymphoniaError::LimitError(limit) => format!("decoder limit reached: {limit}"),
        SymphoniaError::SeekError(_) => "seek failed".to_string(),
        SymphoniaError::ResetRequired => {
            "stream parameters change mid-stream (chained streams are not supported)".to_string()
        }
    }
}

fn decode_with_symphonia(
    bytes: &[u8],
    format: CompressedFormat,
    limits: &DecodeLimits,
    keep: Keep,
) -> Result<SinkOutput, DecodeError> {
    let label = format.label();
    let mut reader = open_reader(bytes, format).map_err(|error| match error {
        SymphoniaError::IoError(io_error)
            if io_error.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            match format {
                CompressedFormat::Mpeg => {
                    "not an audio file (no MPEG audio frame found)".to_string()
                }
                _ => format!("truncated: the file ends inside the {label} header"),
            }
        }
        other => format!("corrupt {label} header: {}", describe_error(&other)),
    })?;

    let track = reader
        .tracks()
        .iter()
        .find(|track| track.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| format!("no audio track in the {label} stream"))?;
    let track_id = track.id;
    let codec_params = track.codec_params.clone();
    let sample_rate_hz = codec_params
        .sample_rate
        .ok_or_else(|| format!("corrupt {label} header: no sample rate"))?;
    if let Some(declared_channels) = codec_params.channels {
        check_stream_format(declared_channels.count(), sample_rate_hz)?;
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&codec_params, &DecoderOptions::default())
        .map_err(|error| {
            format!(
                "unsupported codec in the {label} stream: {}",
                describe_error(&error)
            )
        })?;

    let max_frames = (limits.max_duration_secs * f64::from(sample_rate_hz)).max(0.0) as u64;
    let position_secs = |n_frames: usize| n_frames as f64 / f64::from(sample_rate_hz);
    // Created at the first decoded packet, which tells the channel count.
    let mut sink: Option<ChannelSink> = None;
    let mut n_frames = 0_usize;
    let mut sample_buffer: Option<SampleBuffer<i16>> = None;
    let mut n_consecutive_bad_packets = 0;

    loop {
        let packet = match reader.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(io_error))
                if io_error.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                break;
            }
            Err(error) => {
                return Err(DecodeError::Input(format!(
                    "corrupt {label} stream at {:.2} s: {}",
                    position_secs(n_frames),
                    describe_error(&error)
                )));
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            Err(SymphoniaError::DecodeError(message)) => {
                n_consecutive_bad_packets += 1;
                if n_consecutive_bad_packets >= MAX_CONSECUTIVE_BAD_PACKETS || sink.is_none() {
                    return Err(DecodeError::Input(format!(
                        "corrupt {label} frame at {:.2} s: {message}",
                        position_secs(n_frames)
                    )));
                }
                // Keep the timeline: later words must keep their times, so the lost frame
                // becomes silence of the packet's duration (time base is 1/sample rate for
                // all three containers).
                let concealed_frames = packet.dur.min(MAX_CONCEALED_FRAMES_PER_PACKET) as usize;
                tracing::warn!(
                    format = label,
                    position_secs = position_secs(n_frames),
                    concealed_frames,
                    reason = message,
                    "skipping an undecodable audio frame"
                );
                if let Some(sink) = &mut sink {
                    let silence = vec![0_i16; concealed_frames];
                    for channel_idx in 0..sink.n_channels() {
                        sink.push(channel_idx, &silence)?;
                    }
                }
                n_frames += concealed_frames;
                continue;
            }
            Err(error) => {
                return Err(DecodeError::Input(format!(
                    "corrupt {label} frame at {:.2} s: {}",
                    position_secs(n_frames),
                    describe_error(&error)
                )));
            }
        };
        n_consecutive_bad_packets = 0;

        let spec = *decoded.spec();
        let n_packet_channels = spec.channels.count();
        let n_packet_frames = decoded.frames();
        let sink = match &mut sink {
            Some(sink) if n_packet_channels == sink.n_channels() && spec.rate == sample_rate_hz => sink,
            Some(sink) => {
                return Err(DecodeError::Input(format!(
                    "unsupported: the {label} stream changes from {} channels at {sample_rate_hz} Hz to {n_packet_channels} \
                     channels at {} Hz at {:.2} s",
                    sink.n_channels(),
                    spec.rate,
                    position_secs(n_frames)
                )));
            }
            slot => {
                check_stream_format(n_packet_channels, spec.rate)?;
            if spec.rate != sample_rate_hz {
                return Err(DecodeError::Input(format!(
                    "corrupt {label} stream: header says {sample_rate_hz} Hz but the audio is {} Hz",
                    spec.rate
                )));
            }
                slot.insert(ChannelSink::new(n_packet_channels, sample_rate_hz, limits.max_sample_rate_hz, keep.clone())?)
            }
        };
        if n_packet_frames == 0 {
            continue;
        }
        let n_samples = n_packet_frames * n_packet_channels;
        let buffer = match &mut sample_buffer {
            Some(buffer) if buffer.capacity() >= n_samples => buffer,
            slot => slot.insert(SampleBuffer::new(
                decoded.capacity().max(n_packet_frames) as u64,
                spec,
            )),
        };
        buffer.copy_planar_ref(decoded);
        for (channel_idx, planar) in buffer.samples().chunks_exact(n_packet_frames).enumerate() {
            sink.push(channel_idx, planar)?;
        }
        n_frames += n_packet_frames;
        if n_frames as u64 > max_frames {
            // Decoding stops at the first packet past the limit, so the length so far is
            // barely over it: say so with enough digits to show the difference.
            return Err(DecodeError::Input(format!(
                "too long: {:.2} s of audio decoded so far exceeds the limit of {:.1} s",
                position_secs(n_frames),
                limits.max_duration_secs
            )));
        }
    }

    let Some(sink) = sink.filter(|_| n_frames > 0) else {
        return Err(DecodeError::Input("empty: no audio samples".to_string()));
    };
    check_not_truncated(format, &codec_params, n_frames, sample_rate_hz)?;
    sink.finish(ogg_declared_frames(format, codec_params.n_frames))
}

/// FLAC's STREAMINFO states the exact number of frames, so fewer decoded frames means the
/// file was cut off (symphonia treats a short last frame as a clean end of stream).
fn check_not_truncated(
    format: CompressedFormat,
    codec_params: &symphonia::core::codecs::CodecParameters,
    n_decoded_frames: usize,
    sample_rate_hz: u32,
) -> Result<(), String> {
    if format != CompressedFormat::Flac {
        return Ok(());
    }
    match codec_params.n_frames {
        Some(n_declared_frames) if (n_decoded_frames as u64) < n_declared_frames => Err(format!(
            "truncated: the FLAC header declares {:.2} s of audio but only {:.2} s are present",
            n_declared_frames as f64 / f64::from(sample_rate_hz),
            n_decoded_frames as f64 / f64::from(sample_rate_hz)
        )),
        _ => Ok(()),
    }
}

/// Where to cut the end padding that the Vorbis decoder leaves in.
///
/// In gapless mode symphonia 0.5 aligns the start of an Ogg/Vorbis stream but still emits the
/// last packet whole, past the end the final granule position declares (636 extra frames for
/// one second of sox output). The granule position is exact, so cut there. Other formats are
/// left alone: an MP3's declared length may be a bitrate estimate.
fn ogg_declared_frames(format: CompressedFormat, n_declared_frames: Option<u64>) -> Option<u64> {
    n_declared_frames.filter(|_| format == CompressedFormat::Ogg)
}
