//! Silero VAD fed block by block (as long calls are analysed, so no full-length 16 kHz copy is
//! held) gives exactly the probabilities of the whole signal in one piece, whatever the block
//! sizes, including blocks that cut frames and a final partial frame. Real model from the model
//! store (`callsight models fetch`, run by ./setup.sh).

use callsight_models::fetch::{ModelFile, ModelStore};
use callsight_models::silero::SileroVad;
use callsight_pipeline::engines::{VAD_FRAME_SAMPLES, VoiceActivityDetector};

/// A synthetic "call": bursts of a harmonic-rich tone (voice-like) between silences with a little
/// noise, 16 kHz, with a length that is not a multiple of the frame.
fn call_16k() -> Vec<f32> {
    let n_samples = 16_000 * 9 + 301;
    let mut noise_state: u32 = 12_345;
    (0..n_samples)
        .map(|idx| {
            noise_state = noise_state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (noise_state >> 8) as f32 / (1 << 24) as f32 - 0.5;
            let secs = idx as f32 / 16_000.0;
            let voiced = (secs as usize) % 3 != 2;
            let tone = if voiced {
                (1..6).map(|h| (2.0 * std::f32::consts::PI * 140.0 * h as f32 * secs).sin() / h as f32).sum::<f32>() * 0.2
            } else {
                0.0
            };
            tone + 0.002 * noise
        })
        .collect()
}

#[test]
fn blocks_of_any_size_give_the_whole_signal_probabilities() {
    let store = ModelStore::default_location();
    let dylib = store.require(ModelFile::OnnxRuntime).expect("ONNX Runtime is fetched (run ./setup.sh)");
    callsight_models::onnx::init_onnx_runtime(&dylib).expect("ONNX Runtime loads");
    let model = store.require(ModelFile::SileroVad).expect("Silero VAD is fetched (run ./setup.sh)");
    let vad = SileroVad::load(&model, 1).expect("Silero VAD loads");
    let samples = call_16k();
    let whole = vad.speech_probabilities(&samples).expect("probabilities");
    assert_eq!(whole.len(), samples.len().div_ceil(VAD_FRAME_SAMPLES));
    assert!(whole.iter().any(|&p| p > 0.5) && whole.iter().any(|&p| p < 0.2), "the call has speech and silence: {whole:?}");
    for block_len in [1, 100, VAD_FRAME_SAMPLES, VAD_FRAME_SAMPLES + 7, 16_000, samples.len()] {
        let mut blocks = samples.chunks(block_len).map(<[f32]>::to_vec).chain([Vec::new()]);
        let in_blocks = vad
            .speech_probabilities_of_blocks(&mut || Ok(blocks.next()))
            .expect("probabilities of blocks");
        assert_eq!(in_blocks, whole, "blocks of {block_len} samples");
    }
}
