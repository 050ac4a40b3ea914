//! Entry points for the coverage-guided fuzz targets in `fuzz/` and for the tests that replay
//! their committed corpora (`pipeline/tests/it/fuzz_corpus.rs`), so both exercise exactly the code
//! that sees outside bytes. Not an API: every function takes raw bytes, ignores the ordinary
//! errors that bad input must produce, and panics only when a parser breaks a promise (a panic
//! is what the fuzzer reports).

use crate::audio::{self, DecodeLimits, DecodedAudio, MAX_CHANNELS, MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ};
use crate::compliance::parse_script;
use crate::streaming::{SampleDecoder, SampleEncoding};

/// Duration limit of the fuzz entry points: one hour, so a header that claims a long recording
/// is still refused by the same check the service makes, without the fuzzer having to build
/// gigabytes of samples to get past it.
const FUZZ_MAX_DURATION_SECS: f64 = 3600.0;

fn fuzz_limits() -> DecodeLimits {
    DecodeLimits::with_max_duration_secs(FUZZ_MAX_DURATION_SECS)
}

/// Panics unless decoded audio keeps the decoder's promises: accepted rate and channel count,
/// at least one frame, channels of equal length, every sample finite in -1..=1, duration within
/// the limit.
fn check_decoded_promises(decoded: &DecodedAudio, limits: &DecodeLimits) {
    assert!(
        (MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&decoded.sample_rate_hz),
        "accepted sample rate {}",
        decoded.sample_rate_hz
    );
    assert!((1..=MAX_CHANNELS).contains(&decoded.n_channels()), "accepted {} channels", decoded.n_channels());
    let n_frames = decoded.n_frames();
    assert!(n_frames > 0, "accepted audio without samples");
    assert!(decoded.channels.iter().all(|channel| channel.len() == n_frames), "channels of different lengths");
    assert!(decoded.duration_secs() <= limits.max_duration_secs, "accepted {} s", decoded.duration_secs());
}

/// An upload or CLI file: container sniffed from the content (WAV/RIFF with PCM, float and
/// G.711, or a compressed container), decoded with the duration limit.
pub fn decode_audio_file(bytes: &[u8]) {
    let limits = fuzz_limits();
    let decoded = audio::decode_bytes_with_limits(bytes, "fuzz input", &limits);
    // Uploads are checked by a decode that keeps no samples: it must accept exactly what the
    // full decode accepts, with the same shape.
    let probed = audio::probe_bytes_with_limits(bytes, "fuzz input", &limits);
    assert_eq!(probed.as_ref().ok().copied(), decoded.as_ref().map(DecodedAudio::shape).ok(), "probing and decoding disagree");
    if let Ok(decoded) = decoded {
        check_decoded_promises(&decoded, &limits);
    }
}

/// The compressed-audio path on its own: the first byte picks FLAC, Ogg or MPEG audio (as the
/// sniffer would have), the rest goes to the symphonia wrapper with its limits. Symphonia
/// panics are caught by the wrapper and become errors, as in the service.
pub fn decode_compressed_audio(bytes: &[u8]) {
    let Some((&selector, stream)) = bytes.split_first() else { return };
    let format = match selector % 3 {
        0 => audio::compressed::CompressedFormat::Flac,
        1 => audio::compressed::CompressedFormat::Ogg,
        _ => audio::compressed::CompressedFormat::Mpeg,
    };
    let limits = fuzz_limits();
    let decode = |keep| audio::compressed::decode_compressed(stream, format, &limits, keep);
    let decoded = decode(audio::sink::Keep::Memory);
    // The count-only decode that checks uploads must agree with the full decode.
    let counted = decode(audio::sink::Keep::CountOnly);
    assert_eq!(counted.as_ref().map(|c| c.shape()).ok(), decoded.as_ref().map(|d| d.shape()).ok(), "counting and decoding disagree");
    if let Ok(audio::sink::SinkOutput::Audio(decoded)) = decoded
        && audio::check_decoded(&decoded.shape(), &limits).is_ok()
    {
        check_decoded_promises(&decoded, &limits);
    }
}

/// A compliance script (JSON or YAML), parsed and validated. An accepted script is stored as
/// the JSON of [`crate::compliance::Script`] and parsed again by every job that uses it, so that
/// JSON must parse back to the same script.
pub fn parse_compliance_script(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let Ok(script) = parse_script(text, "fuzz input") else { return };
    let stored = match serde_json::to_string(&script) {
        Ok(stored) => stored,
        Err(error) => panic!("an accepted script cannot be stored as JSON: {error}"),
    };
    match parse_script(&stored, "stored") {
        Ok(reparsed) => assert_eq!(reparsed, script, "the stored JSON parses to another script"),
        Err(error) => panic!("the stored JSON of an accepted script is refused: {error}\n{stored}"),
    }
}

/// Live-stream audio: the first byte picks the encoding and the channel count, the second how
/// the rest is cut into WebSocket frames (cuts anywhere, even inside a sample). Every whole frame
/// must come out once, as finite samples in -1..=1, whatever the cuts.
pub fn decode_stream_frames(bytes: &[u8]) {
    let [setup, cut_seed, payload @ ..] = bytes else { return };
    let encoding = match setup % 4 {
        0 => SampleEncoding::PcmS16le,
        1 => SampleEncoding::Mulaw,
        2 => SampleEncoding::Alaw,
        _ => SampleEncoding::F32le,
    };
    let n_channels = usize::from((setup / 4) % 2) + 1;
    let frame_bytes = encoding.bytes_per_sample() * n_channels;
    let mut decoder = SampleDecoder::new(encoding, n_channels);
    let piece_len = usize::from(*cut_seed % 17) + 1;
    let mut n_frames_out = vec![0_usize; n_channels];
    for piece in payload.chunks(piece_len) {
        let channels = decoder.push(piece);
        assert_eq!(channels.len(), n_channels, "one Vec per channel");
        for (count, channel) in n_frames_out.iter_mut().zip(&channels) {
            assert!(channel.iter().all(|sample| sample.is_finite() && sample.abs() <= 1.0), "a sample outside -1..=1");
            *count += channel.len();
        }
    }
    let expected_frames = payload.len() / frame_bytes;
    assert!(n_frames_out.iter().all(|&n| n == expected_frames), "{n_frames_out:?} frames out of {expected_frames}");
    assert_eq!(decoder.n_leftover_bytes(), payload.len() % frame_bytes, "held-back bytes");
}

/// Replays every committed input of one fuzz target through its entry point, as `cargo test`
/// does on any toolchain without cargo-fuzz: the files of `fuzz/corpus/<target>/` and
/// `fuzz/regressions/<target>/` under `fuzz_dir`. Panics naming the input that makes the entry
/// point panic, and when there are fewer than 3 inputs (a replay of nothing would pass whatever
/// the parser does). Returns the number of inputs replayed.
pub fn replay_corpus(fuzz_dir: &std::path::Path, target: &str, entry_point: fn(&[u8])) -> usize {
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir.join(kind).join(target)) else { continue };
        for entry in entries {
            let path = entry.expect("listing a fuzz corpus").path();
            if path.is_file() {
                inputs.push(path);
            }
        }
    }
    assert!(
        inputs.len() >= 3,
        "fuzz corpus of {target} has {} files (expected the committed corpus under fuzz/corpus/{target})",
        inputs.len()
    );
    inputs.sort();
    for path in &inputs {
        let bytes = std::fs::read(path).expect("reading a fuzz input");
        let outcome = std::panic::catch_unwind(|| entry_point(&bytes));
        assert!(outcome.is_ok(), "{target}: {} makes the parser panic", path.display());
    }
    inputs.len()
}
