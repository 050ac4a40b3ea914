//! Any byte string given to the decoder returns Ok or a descriptive error, never a panic.

use std::path::Path;

use callsight_pipeline::PipelineError;
use callsight_pipeline::audio::{DecodeLimits, decode_bytes, decode_bytes_with_limits};
use proptest::prelude::*;

/// Decodes and checks the invariants of whatever comes back.
fn decode_and_check(bytes: &[u8]) -> Result<(), TestCaseError> {
    // A small limit keeps hostile headers from making the test allocate gigabytes.
    let limits = DecodeLimits::with_max_duration_secs(600.0);
    match decode_bytes_with_limits(bytes, "fuzz.bin", &limits) {
        Ok(audio) => {
            prop_assert!((1..=8).contains(&audio.n_channels()));
            prop_assert!((4000..=192_000).contains(&audio.sample_rate_hz));
            let n_frames = audio.channels[0].len();
            prop_assert!(n_frames > 0);
            prop_assert!(
                audio
                    .channels
                    .iter()
                    .all(|channel| channel.len() == n_frames)
            );
        }
        Err(PipelineError::Audio { path, reason }) => {
            prop_assert_eq!(path, Path::new("fuzz.bin"));
            prop_assert!(!reason.is_empty());
        }
        Err(other) => prop_assert!(false, "unexpected error kind: {other}"),
    }
    Ok(())
}

fn wav_header(format_tag: u16, n_channels: u16, bits_per_sample: u16) -> Vec<u8> {
    let block_align = n_channels * bits_per_sample.div_ceil(8);
    let mut bytes = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
    bytes.extend(format_tag.to_le_bytes());
    bytes.extend(n_channels.to_le_bytes());
    bytes.extend(8000_u32.to_le_bytes());
    bytes.extend((8000 * u32::from(block_align)).to_le_bytes());
    bytes.extend(block_align.to_le_bytes());
    bytes.extend(bits_per_sample.to_le_bytes());
    bytes.extend(b"data");
    bytes
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()))
            .join("tests/audio_data")
            .join(name),
    )
    .unwrap_or_default()
}

proptest! {
    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        decode_and_check(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_wav_header(
        format_idx in 0_usize..6,
        n_channels in 0_u16..10,
        body in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let (format_tag, bits) = [(1, 8), (1, 16), (1, 24), (3, 32), (6, 8), (7, 8)][format_idx];
        let mut bytes = wav_header(format_tag, n_channels, bits);
        bytes.extend(body);
        decode_and_check(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_after_compressed_magic(
        magic_idx in 0_usize..5,
        body in proptest::collection::vec(any::<u8>(), 0..8192),
    ) {
        let magic: &[u8] = [&b"fLaC"[..], b"OggS", b"ID3\x04\x00\x00\x00\x00\x00\x00", &[0xFF, 0xFB, 0x90, 0x64], b"RIFF\xff\xff\xff\xffWAVE"][magic_idx];
        let bytes = [magic, &body].concat();
        decode_and_check(&bytes)?;
    }

    #[test]
    fn damaged_real_files(
        fixture_idx in 0_usize..4,
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..32),
        keep_fraction in 0.0_f64..=1.0,
    ) {
        let name = ["sine_440_880_16k_stereo.flac", "sine_440_880_44k_stereo.ogg", "sine_440_880_44k_stereo.mp3", "sine_440_8k_mono.mp3"][fixture_idx];
        let mut bytes = fixture(name);
        prop_assert!(!bytes.is_empty(), "missing fixture {}", name);
        for (position, value) in damage {
            let idx = position.index(bytes.len());
            bytes[idx] = value;
        }
        bytes.truncate((bytes.len() as f64 * keep_fraction) as usize);
        decode_and_check(&bytes)?;
    }
}

#[test]
fn the_plain_entry_point_rejects_noise() {
    let noise: Vec<u8> = (0..10_000_u32)
        .map(|idx| (idx.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    assert!(decode_bytes(&noise, "noise.raw").is_err());
}
