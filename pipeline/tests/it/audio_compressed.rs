//! FLAC, Ogg/Vorbis and MP3 decoding of real encoder output (fixtures made by sox, see
//! `audio_data/generate.sh`), and errors for broken compressed streams.

use std::path::{Path, PathBuf};

use callsight_pipeline::PipelineError;
use callsight_pipeline::audio::{
    DecodeLimits, DecodedAudio, decode_bytes, decode_bytes_with_limits, decode_file,
    decode_file_with_limits,
};

/// Decodes at the file's own rate (by default audio above 16 kHz is resampled while decoding).
fn decode_native(path: &Path) -> DecodedAudio {
    decode_file_with_limits(path, &DecodeLimits::default().keeping_sample_rate()).expect("decodes")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()))
        .join("tests/audio_data")
        .join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn audio_error(result: Result<DecodedAudio, PipelineError>) -> (PathBuf, String) {
    match result {
        Err(PipelineError::Audio { path, reason }) => (path, reason),
        other => panic!("expected an audio error, got {other:?}"),
    }
}

/// Frequency from the rising zero crossings in the middle half of the signal (skipping the
/// encoders' delay and onset distortion at the ends).
fn dominant_frequency_hz(samples: &[f32], sample_rate_hz: u32) -> f64 {
    let start = samples.len() / 4;
    let end = samples.len() * 3 / 4;
    let crossings: Vec<f64> = (start + 1..end)
        .filter(|&idx| samples[idx - 1] < 0.0 && samples[idx] >= 0.0)
        .map(|idx| {
            let (before, after) = (f64::from(samples[idx - 1]), f64::from(samples[idx]));
            (idx - 1) as f64 + before / (before - after)
        })
        .collect();
    assert!(crossings.len() >= 2, "no periodic signal");
    let span_samples = crossings[crossings.len() - 1] - crossings[0];
    (crossings.len() - 1) as f64 * f64::from(sample_rate_hz) / span_samples
}

fn rms(samples: &[f32]) -> f64 {
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64)
        .sqrt()
}

fn assert_sine_channels(audio: &DecodedAudio, expected_frequencies_hz: &[f64]) {
    assert_eq!(audio.n_channels(), expected_frequencies_hz.len());
    for (channel_idx, expected_hz) in expected_frequencies_hz.iter().enumerate() {
        let channel = audio.channel_f32(channel_idx);
        let frequency_hz = dominant_frequency_hz(&channel, audio.sample_rate_hz);
        assert!(
            (frequency_hz - expected_hz).abs() < 1.0,
            "{frequency_hz} Hz, expected {expected_hz} Hz"
        );
        // A half-scale sine has an RMS of 0.5 / sqrt(2).
        let level = rms(&channel[channel.len() / 4..channel.len() * 3 / 4]);
        assert!((level - 0.3536).abs() < 0.02, "rms {level}");
    }
}

#[test]
fn flac_decodes_both_channels_exactly_in_length() {
    let audio = decode_file(&fixture("sine_440_880_16k_stereo.flac")).expect("decodes");
    assert_eq!(audio.sample_rate_hz, 16_000);
    assert_eq!(audio.channels[0].len(), 16_000);
    assert_sine_channels(&audio, &[440.0, 880.0]);
}

#[test]
fn ogg_vorbis_decodes_both_channels() {
    let audio = decode_native(&fixture("sine_440_880_44k_stereo.ogg"));
    assert_eq!(audio.sample_rate_hz, 44_100);
    assert!(
        (audio.duration_secs() - 1.0).abs() < 0.01,
        "{} s",
        audio.duration_secs()
    );
    assert_sine_channels(&audio, &[440.0, 880.0]);
}

#[test]
fn audio_above_16_khz_is_resampled_to_16_khz_while_decoding_by_default() {
    for name in ["sine_440_880_44k_stereo.ogg", "sine_440_880_44k_stereo.mp3"] {
        let native = decode_native(&fixture(name));
        let audio = decode_file(&fixture(name)).expect("decodes");
        assert_eq!(audio.sample_rate_hz, 16_000, "{name}");
        assert!((audio.duration_secs() - native.duration_secs()).abs() < 1e-3, "{name}: {} s", audio.duration_secs());
        assert_sine_channels(&audio, &[440.0, 880.0]);
    }
}

#[test]
fn mp3_decodes_both_channels() {
    let audio = decode_native(&fixture("sine_440_880_44k_stereo.mp3"));
    assert_eq!(audio.sample_rate_hz, 44_100);
    // MP3 adds encoder delay and pads to whole 1152-sample frames.
    assert!(
        (1.0..1.1).contains(&audio.duration_secs()),
        "{} s",
        audio.duration_secs()
    );
    assert_sine_channels(&audio, &[440.0, 880.0]);

    let audio = decode_file(&fixture("sine_440_8k_mono.mp3")).expect("decodes");
    assert_eq!(audio.sample_rate_hz, 8000);
    assert_sine_channels(&audio, &[440.0]);
}

#[test]
fn mp3_after_an_id3_tag_decodes() {
    let mp3 = fixture_bytes("sine_440_8k_mono.mp3");
    let plain = decode_bytes(&mp3, "plain.mp3").expect("decodes");
    // ID3v2.4 tag with a 20-byte body (syncsafe size) holding a title frame and padding.
    let mut tagged =
        b"ID3\x04\x00\x00\x00\x00\x00\x14TIT2\x00\x00\x00\x05\x00\x00\x03call".to_vec();
    tagged.resize(10 + 20, 0);
    tagged.extend(&mp3);
    assert_eq!(decode_bytes(&tagged, "tagged.mp3").expect("decodes"), plain);
}

#[test]
fn a_truncated_flac_file_is_an_error() {
    let flac = fixture_bytes("sine_440_880_16k_stereo.flac");
    let (path, reason) = audio_error(decode_bytes(&flac[..flac.len() / 2], "cut.flac"));
    assert_eq!(path, PathBuf::from("cut.flac"));
    assert!(
        reason.starts_with("truncated: the FLAC header declares 1.00 s of audio but only 0."),
        "{reason}"
    );
    let (_, reason) = audio_error(decode_bytes(&flac[..20], "header-only.flac"));
    assert!(
        reason.starts_with("truncated: the file ends inside the FLAC header"),
        "{reason}"
    );
}

#[test]
fn compressed_headers_followed_by_garbage_are_errors() {
    let mut garbage_state = 0x1234_5678_u32;
    let mut garbage = |n_bytes: usize| -> Vec<u8> {
        (0..n_bytes)
            .map(|_| {
                garbage_state ^= garbage_state << 13;
                garbage_state ^= garbage_state >> 17;
                garbage_state ^= garbage_state << 5;
                (garbage_state >> 24) as u8
            })
            .collect()
    };
    let flac = fixture_bytes("sine_440_880_16k_stereo.flac");
    let ogg = fixture_bytes("sine_440_880_44k_stereo.ogg");
    let cases = [
        (
            "mpeg-header.mp3",
            [[0xFF, 0xFB, 0x90, 0x64].to_vec(), garbage(4000)].concat(),
        ),
        (
            "flac-magic.flac",
            [b"fLaC".to_vec(), garbage(4000)].concat(),
        ),
        (
            "flac-header.flac",
            [flac[..100].to_vec(), garbage(4000)].concat(),
        ),
        ("ogg-magic.ogg", [b"OggS".to_vec(), garbage(4000)].concat()),
        (
            "ogg-header.ogg",
            [ogg[..200].to_vec(), garbage(4000)].concat(),
        ),
        (
            "id3-only.mp3",
            [b"ID3\x04\x00\x00\x00\x00\x00\x05".to_vec(), garbage(5)].concat(),
        ),
    ];
    for (name, bytes) in cases {
        let (path, reason) = audio_error(decode_bytes(&bytes, name));
        assert_eq!(path, PathBuf::from(name));
        assert!(!reason.is_empty());
        println!("{name}: {reason}");
    }
}

/// Samples of `frequency_hz` at half scale starting at phase 0, as `generate.sh` synthesises them.
fn reference_sine(frequency_hz: f64, sample_rate_hz: u32, n_samples: usize) -> Vec<f32> {
    (0..n_samples)
        .map(|idx| {
            (0.5 * (2.0 * std::f64::consts::PI * frequency_hz * idx as f64
                / f64::from(sample_rate_hz))
            .sin()) as f32
        })
        .collect()
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn lossless_and_vorbis_output_is_time_aligned_with_the_recording() {
    // sox's synthesised sine deviates from the ideal one by up to 0.01 (measured with sox's own
    // decoder), hence the tolerance even for FLAC.
    let flac = decode_file(&fixture("sine_440_880_16k_stereo.flac")).expect("decodes");
    let reference = reference_sine(440.0, 16_000, 16_000);
    let flac_left = flac.channel_f32(0);
    assert!(max_abs_difference(&flac_left, &reference) < 0.02);
    // One sample of shift would be an error of 0.5 * 2π * 440 / 16000 = 0.086.
    assert!(max_abs_difference(&flac_left[1..], &reference) > 0.05);

    let ogg = decode_native(&fixture("sine_440_880_44k_stereo.ogg"));
    assert_eq!(ogg.channels[0].len(), 44_100);
    let reference = reference_sine(440.0, 44_100, 44_100);
    // Vorbis is lossy: compare the first 100 ms, where a shift by 5 samples (0.1 ms; an error
    // of 0.16) shows clearly. Without the end-padding trim the length check above fails; had
    // the start been trimmed instead, the shift here would be 636 samples.
    let ogg_left = ogg.channel_f32(0);
    let error = max_abs_difference(&ogg_left[..4410], &reference[..4410]);
    let shifted_error = max_abs_difference(&ogg_left[5..4415], &reference[..4410]);
    assert!(
        error < 0.04 && error < shifted_error / 2.0,
        "error {error}, shifted by 5: {shifted_error}"
    );
}

#[test]
fn valid_mp3_frames_followed_by_garbage_keep_the_valid_audio() {
    let mp3 = fixture_bytes("sine_440_8k_mono.mp3");
    let clean = decode_bytes(&mp3, "clean.mp3").expect("decodes");
    let mut damaged = mp3[..200].to_vec();
    damaged.extend((0..4000_u32).map(|idx| (idx.wrapping_mul(2_654_435_761) >> 13) as u8));
    // Undecodable frames are skipped (with a warning) as long as they are isolated; what was
    // decoded before them is intact.
    match decode_bytes(&damaged, "damaged.mp3") {
        Ok(audio) => assert_eq!(audio.channels[0][..1152], clean.channels[0][..1152]),
        Err(PipelineError::Audio { reason, .. }) => {
            assert!(reason.starts_with("corrupt MP3 frame at "), "{reason}")
        }
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn compressed_audio_longer_than_the_limit_is_rejected() {
    let ogg = fixture_bytes("sine_440_880_44k_stereo.ogg");
    let (_, reason) = audio_error(decode_bytes_with_limits(
        &ogg,
        "long.ogg",
        &DecodeLimits::with_max_duration_secs(0.5),
    ));
    assert!(
        reason.starts_with("too long: ") && reason.ends_with("exceeds the limit of 0.5 s"),
        "{reason}"
    );
}
