//! WAV decoding: every supported sample format, chunk-walking quirks, and precise errors.

use std::path::PathBuf;

use callsight_pipeline::PipelineError;
use callsight_pipeline::audio::g711::{
    alaw_to_linear, linear_to_alaw, linear_to_mulaw, mulaw_to_linear,
};
use callsight_pipeline::audio::{
    DecodeLimits, DecodedAudio, decode_bytes, decode_bytes_with_limits, decode_file,
    encode_wav_pcm16, sample_from_f32, sample_to_f32,
};

const PCM: u16 = 1;
const FLOAT: u16 = 3;
const ALAW: u16 = 6;
const MULAW: u16 = 7;
const EXTENSIBLE: u16 = 0xFFFE;

/// A 440 Hz sine at 0.8 of full scale, one channel.
fn sine(sample_rate_hz: u32, n_frames: usize, frequency_hz: f32) -> Vec<f32> {
    (0..n_frames)
        .map(|idx| {
            0.8 * (2.0 * std::f32::consts::PI * frequency_hz * idx as f32 / sample_rate_hz as f32)
                .sin()
        })
        .collect()
}

fn fmt_chunk(
    format_tag: u16,
    n_channels: u16,
    sample_rate_hz: u32,
    bits_per_sample: u16,
) -> Vec<u8> {
    let block_align = n_channels * bits_per_sample.div_ceil(8);
    let mut body = Vec::new();
    body.extend(format_tag.to_le_bytes());
    body.extend(n_channels.to_le_bytes());
    body.extend(sample_rate_hz.to_le_bytes());
    body.extend((sample_rate_hz * u32::from(block_align)).to_le_bytes());
    body.extend(block_align.to_le_bytes());
    body.extend(bits_per_sample.to_le_bytes());
    body
}

/// A WAVE_FORMAT_EXTENSIBLE fmt chunk whose subformat GUID wraps `subformat_tag`.
fn fmt_extensible(
    n_channels: u16,
    sample_rate_hz: u32,
    container_bits: u16,
    valid_bits: u16,
    subformat_tag: u16,
) -> Vec<u8> {
    let mut body = fmt_chunk(EXTENSIBLE, n_channels, sample_rate_hz, container_bits);
    body.extend(22_u16.to_le_bytes());
    body.extend(valid_bits.to_le_bytes());
    body.extend(0_u32.to_le_bytes());
    body.extend(subformat_tag.to_le_bytes());
    body.extend([
        0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
    ]);
    body
}

/// RIFF/WAVE bytes from (id, body) chunks, with the pad byte after odd-sized bodies.
fn riff(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut body = b"WAVE".to_vec();
    for (id, chunk_body) in chunks {
        body.extend(*id);
        body.extend((chunk_body.len() as u32).to_le_bytes());
        body.extend(chunk_body);
        if chunk_body.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut bytes = b"RIFF".to_vec();
    bytes.extend((body.len() as u32).to_le_bytes());
    bytes.extend(body);
    bytes
}

fn audio_error(result: Result<DecodedAudio, PipelineError>) -> (PathBuf, String) {
    match result {
        Err(PipelineError::Audio { path, reason }) => (path, reason),
        other => panic!("expected an audio error, got {other:?}"),
    }
}

/// Decoded samples are 16-bit: the nearest one to each float is what a decoder should produce.
fn as_i16(samples: &[f32]) -> Vec<i16> {
    samples.iter().copied().map(sample_from_f32).collect()
}

fn assert_close(actual: &[i16], expected: &[f32], tolerance: f32) {
    let actual: Vec<f32> = actual.iter().copied().map(sample_to_f32).collect();
    assert_eq!(actual.len(), expected.len());
    for (idx, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tolerance,
            "sample {idx}: {a} vs {e} (tolerance {tolerance})"
        );
    }
}

/// Writes `left`/`right` with hound (an independent writer) as integer PCM of `bits` bits.
fn hound_int_wav(bits: u16, sample_rate_hz: u32, left: &[f32], right: &[f32]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: sample_rate_hz,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("hound writer");
    let full_scale = (1_i64 << (bits - 1)) as f32;
    for (l, r) in left.iter().zip(right) {
        for sample in [l, r] {
            let value = (sample * full_scale).round() as i32;
            if bits == 8 {
                writer.write_sample(value as i8).expect("write sample");
            } else {
                writer.write_sample(value).expect("write sample");
            }
        }
    }
    writer.finalize().expect("finalize");
    cursor.into_inner()
}

#[test]
fn integer_pcm_of_every_depth_decodes_to_the_written_samples() {
    let left = sine(8000, 800, 440.0);
    let right: Vec<f32> = left.iter().map(|s| -0.5 * s).collect();
    for bits in [8_u16, 16, 24, 32] {
        let bytes = hound_int_wav(bits, 8000, &left, &right);
        let audio =
            decode_bytes(&bytes, "pcm.wav").unwrap_or_else(|error| panic!("{bits}-bit: {error}"));
        assert_eq!(audio.sample_rate_hz, 8000);
        assert_eq!(audio.n_channels(), 2);
        assert_eq!(audio.duration_secs(), 0.1);
        // Wider than 16 bits is rounded to the nearest 16-bit sample.
        let tolerance = (1.0 / (1_i64 << (bits - 1)) as f32).max(1.0 / 32_768.0) + 1e-6;
        assert_close(&audio.channels[0], &left, tolerance);
        assert_close(&audio.channels[1], &right, tolerance);
    }
}

#[test]
fn float_pcm_decodes_to_the_nearest_16_bit_samples() {
    let samples = sine(16_000, 1600, 440.0);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("hound writer");
    for sample in &samples {
        writer.write_sample(*sample).expect("write sample");
    }
    writer.finalize().expect("finalize");
    let audio = decode_bytes(cursor.get_ref(), "float32.wav").expect("decodes");
    assert_eq!(audio.channels, vec![as_i16(&samples)]);

    let data: Vec<u8> = samples
        .iter()
        .flat_map(|s| f64::from(*s).to_le_bytes())
        .collect();
    let bytes = riff(&[(b"fmt ", fmt_chunk(FLOAT, 1, 16_000, 64)), (b"data", data)]);
    let audio = decode_bytes(&bytes, "float64.wav").expect("decodes");
    assert_eq!(audio.channels, vec![as_i16(&samples)]);
}

#[test]
fn float_samples_beyond_full_scale_are_clamped() {
    let data: Vec<u8> = [2.0_f32, -3.0, f32::NAN, 0.25]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let bytes = riff(&[(b"fmt ", fmt_chunk(FLOAT, 1, 8000, 32)), (b"data", data)]);
    let audio = decode_bytes(&bytes, "loud.wav").expect("decodes");
    assert_eq!(audio.channels, vec![vec![32_767, -32_768, 0, 8_192]]);
}

#[test]
fn g711_wavs_decode_with_the_g711_tables() {
    let samples = sine(8000, 8000, 440.0);
    let linear: Vec<i16> = samples.iter().map(|s| (s * 32767.0) as i16).collect();
    for (tag, encode, decode) in [
        (
            MULAW,
            linear_to_mulaw as fn(i16) -> u8,
            mulaw_to_linear as fn(u8) -> i16,
        ),
        (ALAW, linear_to_alaw, alaw_to_linear),
    ] {
        let data: Vec<u8> = linear.iter().map(|&s| encode(s)).collect();
        let expected: Vec<i16> = data.iter().map(|&b| decode(b)).collect();
        for fmt in [
            fmt_chunk(tag, 1, 8000, 8),
            fmt_extensible(1, 8000, 8, 8, tag),
        ] {
            let bytes = riff(&[(b"fmt ", fmt), (b"data", data.clone())]);
            let audio = decode_bytes(&bytes, "telephony.wav").expect("decodes");
            assert_eq!(audio.sample_rate_hz, 8000);
            assert_eq!(audio.duration_secs(), 1.0);
            assert_eq!(audio.channels, vec![expected.clone()]);
            // Companding keeps the waveform within a few percent of the original.
            assert_close(&audio.channels[0], &samples, 0.03);
        }
    }
}

#[test]
fn extensible_pcm_with_24_valid_bits_in_32_bit_containers_decodes() {
    let samples = sine(16_000, 480, 440.0);
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|s| (((s * 8_388_608.0).round() as i32) << 8).to_le_bytes())
        .collect();
    let bytes = riff(&[
        (b"fmt ", fmt_extensible(1, 16_000, 32, 24, PCM)),
        (b"data", data),
    ]);
    let audio = decode_bytes(&bytes, "24in32.wav").expect("decodes");
    assert_close(&audio.channels[0], &samples, 1.0 / 32_768.0 + 1e-6);

    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let bytes = riff(&[
        (b"fmt ", fmt_extensible(1, 16_000, 32, 32, FLOAT)),
        (b"data", data),
    ]);
    assert_eq!(
        decode_bytes(&bytes, "float-ext.wav")
            .expect("decodes")
            .channels,
        vec![as_i16(&samples)]
    );
}

#[test]
fn unknown_and_odd_sized_chunks_are_skipped() {
    let data: Vec<u8> = [1000_i16, -1000, 2000, -2000]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let expected = vec![vec![1000_i16, 2000], vec![-1000, -2000]];
    // Odd-sized LIST chunk with its pad byte, and the data chunk before the fmt chunk.
    let bytes = riff(&[
        (b"LIST", b"INFOISFT\x03\x00\x00\x00ab\0".to_vec()),
        (b"data", data.clone()),
        (b"fmt ", fmt_chunk(PCM, 2, 8000, 16)),
    ]);
    assert_eq!(
        decode_bytes(&bytes, "chunks.wav")
            .expect("decodes")
            .channels,
        expected
    );

    // Odd-sized chunk written without the pad byte (a common writer bug).
    let mut bytes = b"RIFF\0\0\0\0WAVE".to_vec();
    bytes.extend(b"junk\x03\x00\x00\x00xyz");
    bytes.extend(b"fmt \x10\x00\x00\x00");
    bytes.extend(fmt_chunk(PCM, 2, 8000, 16));
    bytes.extend(b"data\x08\x00\x00\x00");
    bytes.extend(&data);
    assert_eq!(
        decode_bytes(&bytes, "nopad.wav").expect("decodes").channels,
        expected
    );
}

#[test]
fn a_partial_frame_at_the_end_is_ignored() {
    let mut data: Vec<u8> = [100_i16, 200]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    data.push(7);
    let bytes = riff(&[(b"fmt ", fmt_chunk(PCM, 1, 8000, 16)), (b"data", data)]);
    assert_eq!(
        decode_bytes(&bytes, "partial.wav")
            .expect("decodes")
            .channels[0]
            .len(),
        2
    );
}

#[test]
fn streaming_writers_unknown_data_size_reads_to_the_end() {
    let mut bytes = riff(&[
        (b"fmt ", fmt_chunk(PCM, 1, 8000, 16)),
        (b"data", vec![0; 16]),
    ]);
    let data_size_offset = bytes.len() - 16 - 4;
    bytes[data_size_offset..data_size_offset + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        decode_bytes(&bytes, "stream.wav")
            .expect("decodes")
            .channels[0]
            .len(),
        8
    );
}

#[test]
fn truncated_data_chunk_is_an_error_that_names_the_file_and_sizes() {
    let mut bytes = riff(&[
        (b"fmt ", fmt_chunk(PCM, 1, 48_000, 16)),
        (b"data", vec![0; 96_000]),
    ]);
    bytes.truncate(bytes.len() - 96_000 + 1200);
    let (path, reason) = audio_error(decode_bytes(&bytes, "calls/2024-05-01/agent.wav"));
    assert_eq!(path, PathBuf::from("calls/2024-05-01/agent.wav"));
    assert_eq!(
        reason,
        "truncated: data chunk declares 96000 bytes but only 1200 are present"
    );
    let message = decode_bytes(&bytes, "calls/agent.wav")
        .expect_err("truncated")
        .to_string();
    assert_eq!(
        message,
        "calls/agent.wav: truncated: data chunk declares 96000 bytes but only 1200 are present"
    );
}

#[test]
fn malformed_headers_give_precise_errors() {
    let data = vec![0_u8; 64];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "empty: file is 0 bytes long"),
        (b"RIFF".to_vec(), "not an audio file (unrecognised header)"),
        (
            b"RIFF\0\0\0\0WAV".to_vec(),
            "not an audio file (unrecognised header)",
        ),
        (b"RIFF\x04\0\0\0WAVE".to_vec(), "corrupt: no fmt chunk"),
        (
            riff(&[(b"fmt ", fmt_chunk(PCM, 1, 8000, 16))]),
            "corrupt: no data chunk",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(PCM, 1, 8000, 16)),
                (b"data", Vec::new()),
            ]),
            "empty: no audio samples",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(0x0055, 1, 8000, 16)),
                (b"data", data.clone()),
            ]),
            "unsupported WAV format tag 0x0055",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(PCM, 0, 8000, 16)),
                (b"data", data.clone()),
            ]),
            "no channels: the stream declares 0 channels",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(PCM, 9, 8000, 16)),
                (b"data", data.clone()),
            ]),
            "unsupported: 9 channels (at most 8)",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(PCM, 1, 1000, 16)),
                (b"data", data.clone()),
            ]),
            "unsupported sample rate 1000 Hz (must be 4000..=192000 Hz)",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(PCM, 1, 384_000, 16)),
                (b"data", data.clone()),
            ]),
            "unsupported sample rate 384000 Hz (must be 4000..=192000 Hz)",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(PCM, 1, 8000, 12)[..12].to_vec()),
                (b"data", data.clone()),
            ]),
            "corrupt fmt chunk: 12 bytes, expected at least 16",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(FLOAT, 1, 8000, 16)),
                (b"data", data.clone()),
            ]),
            "unsupported float bit depth 16",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(MULAW, 1, 8000, 16)),
                (b"data", data.clone()),
            ]),
            "unsupported G.711 bit depth 16 (must be 8)",
        ),
        (
            riff(&[
                (b"fmt ", fmt_extensible(1, 8000, 16, 16, 0x0055)),
                (b"data", data.clone()),
            ]),
            "unsupported WAV format tag 0x0055",
        ),
        (
            riff(&[
                (b"fmt ", fmt_chunk(EXTENSIBLE, 1, 8000, 16)),
                (b"data", data.clone()),
            ]),
            "corrupt fmt chunk: extensible format needs 40 bytes but the chunk has 16",
        ),
        (
            riff(&[
                (b"LIST", vec![0; 4]),
                (b"fmt ", fmt_chunk(PCM, 1, 8000, 16)),
            ])[..34]
                .to_vec(),
            "truncated: 'fmt ' chunk declares 16 bytes but only 2 are present",
        ),
        (
            riff(&[
                (b"LIST", vec![0; 4]),
                (b"fmt ", fmt_chunk(PCM, 1, 8000, 16)),
            ])[..30]
                .to_vec(),
            "truncated: the file ends inside a chunk header at byte 24",
        ),
        (
            b"hello, this is not audio at all".to_vec(),
            "not an audio file (unrecognised header)",
        ),
    ];
    for (bytes, expected_reason) in cases {
        let (path, reason) = audio_error(decode_bytes(&bytes, "bad.wav"));
        assert_eq!(path, PathBuf::from("bad.wav"));
        assert_eq!(reason, expected_reason);
    }

    let mut wrong_guid = fmt_extensible(1, 8000, 16, 16, PCM);
    wrong_guid[39] ^= 0xFF;
    let bytes = riff(&[(b"fmt ", wrong_guid), (b"data", data)]);
    let (_, reason) = audio_error(decode_bytes(&bytes, "guid.wav"));
    assert!(
        reason.starts_with("unsupported WAV extensible subformat GUID 01000000"),
        "{reason}"
    );
}

#[test]
fn eight_channels_are_accepted() {
    let data: Vec<u8> = (0..8_i16)
        .flat_map(|channel_idx| (channel_idx * 1000).to_le_bytes())
        .collect();
    let bytes = riff(&[(b"fmt ", fmt_chunk(PCM, 8, 16_000, 16)), (b"data", data)]);
    let audio = decode_bytes(&bytes, "eight.wav").expect("decodes");
    assert_eq!(audio.n_channels(), 8);
    assert_eq!(audio.channels[7], vec![7000]);
}

#[test]
fn audio_longer_than_the_limit_is_rejected() {
    let bytes = riff(&[
        (b"fmt ", fmt_chunk(PCM, 1, 8000, 16)),
        (b"data", vec![0; 16_000 * 3]),
    ]);
    let limits = DecodeLimits::with_max_duration_secs(2.5);
    let (_, reason) = audio_error(decode_bytes_with_limits(&bytes, "long.wav", &limits));
    assert_eq!(
        reason,
        "too long: 3.0 s of audio exceeds the limit of 2.5 s"
    );
    assert!(
        decode_bytes_with_limits(
            &bytes,
            "long.wav",
            &DecodeLimits::with_max_duration_secs(3.0)
        )
        .is_ok()
    );
    assert_eq!(DecodeLimits::default().max_duration_secs, 4.0 * 3600.0);
}

#[test]
fn encoded_pcm16_round_trips_and_is_read_by_hound() {
    let left = sine(16_000, 1600, 440.0);
    let right = sine(16_000, 1600, 880.0);
    let original = DecodedAudio::from_f32_channels(16_000, &[left.clone(), right.clone()]);
    let bytes = encode_wav_pcm16(&original);
    assert_eq!(bytes.len(), 44 + 1600 * 2 * 2);

    let decoded = decode_bytes(&bytes, "evidence.wav").expect("decodes");
    assert_eq!(decoded.sample_rate_hz, 16_000);
    assert_close(&decoded.channels[0], &left, 1.0 / 32768.0);
    assert_close(&decoded.channels[1], &right, 1.0 / 32768.0);
    // 16-bit values survive a second round trip exactly.
    assert_eq!(
        decode_bytes(&encode_wav_pcm16(&decoded), "again.wav").expect("decodes"),
        decoded
    );

    let reader = hound::WavReader::new(std::io::Cursor::new(&bytes)).expect("hound reads our WAV");
    assert_eq!(reader.spec().channels, 2);
    assert_eq!(reader.spec().sample_rate, 16_000);
    assert_eq!(reader.spec().bits_per_sample, 16);
    assert_eq!(reader.len(), 3200);

    let clipped = DecodedAudio::from_f32_channels(8000, &[vec![1.5, -1.5, f32::NAN, 1.0]]);
    let decoded = decode_bytes(&encode_wav_pcm16(&clipped), "clipped.wav").expect("decodes");
    assert_eq!(decoded.channels, vec![vec![32_767, -32_768, 0, 32_767]]);
}

#[test]
fn decode_file_reads_from_disk_and_names_the_path_in_errors() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("call.wav");
    let original = DecodedAudio::from_f32_channels(8000, &[sine(8000, 400, 440.0)]);
    std::fs::write(&path, encode_wav_pcm16(&original)).expect("write");
    let decoded = decode_file(&path).expect("decodes");
    assert_eq!(decoded.duration_secs(), 0.05);
    assert_eq!(decoded.mixed_to_mono().len(), 400);

    let missing = directory.path().join("missing.wav");
    let (error_path, reason) = audio_error(decode_file(&missing));
    assert_eq!(error_path, missing);
    assert!(reason.starts_with("cannot read file: "), "{reason}");

    // The extension is not trusted: a WAV named .mp3 is still a WAV, and text named .wav is not.
    let disguised = directory.path().join("call.mp3");
    std::fs::write(&disguised, encode_wav_pcm16(&original)).expect("write");
    assert_eq!(decode_file(&disguised).expect("decodes"), decoded);
    let text = directory.path().join("notes.wav");
    std::fs::write(&text, "meeting notes").expect("write");
    let (_, reason) = audio_error(decode_file(&text));
    assert_eq!(reason, "not an audio file (unrecognised header)");
}

#[test]
fn wav_above_16_khz_is_resampled_to_16_khz_while_decoding_by_default() {
    let samples = sine(48_000, 48_000, 440.0);
    let data: Vec<u8> = as_i16(&samples).iter().flat_map(|s| s.to_le_bytes()).collect();
    let bytes = riff(&[(b"fmt ", fmt_chunk(PCM, 1, 48_000, 16)), (b"data", data)]);
    let audio = decode_bytes(&bytes, "wideband.wav").expect("decodes");
    assert_eq!((audio.sample_rate_hz, audio.n_frames()), (16_000, 16_000));
    let expected = sine(16_000, 16_000, 440.0);
    // Away from the edges the resampled sine is the 16 kHz sine.
    assert_close(&audio.channels[0][1_000..15_000], &expected[1_000..15_000], 0.01);
    let native = decode_bytes_with_limits(&bytes, "wideband.wav", &DecodeLimits::default().keeping_sample_rate()).expect("decodes");
    assert_eq!((native.sample_rate_hz, native.n_frames()), (48_000, 48_000));
}
