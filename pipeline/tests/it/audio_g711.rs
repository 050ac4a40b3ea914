//! G.711 µ-law and A-law against the ITU-T reference values, plus round-trip properties.

use callsight_pipeline::audio::g711::{
    alaw_to_linear, linear_to_alaw, linear_to_mulaw, mulaw_to_linear,
};
use proptest::prelude::*;

#[test]
fn mulaw_decodes_reference_table_values() {
    // ITU-T G.711 table 2a, expressed on the 16-bit scale.
    let expected = [
        (0x00_u8, -32124_i16),
        (0x80, 32124),
        (0xFF, 0),
        (0x7F, 0),
        (0x0F, -16764),
        (0x8F, 16764),
        (0x70, -120),
        (0xF0, 120),
        (0xFE, 8),
        (0x7E, -8),
    ];
    for (mulaw_byte, linear) in expected {
        assert_eq!(
            mulaw_to_linear(mulaw_byte),
            linear,
            "µ-law byte 0x{mulaw_byte:02X}"
        );
    }
}

#[test]
fn alaw_decodes_reference_table_values() {
    let expected = [
        (0xD5_u8, 8_i16),
        (0x55, -8),
        (0xAA, 32256),
        (0x2A, -32256),
        (0xD4, 24),
        (0xC5, 264),
        (0x80, 5504),
        (0x00, -5504),
    ];
    for (alaw_byte, linear) in expected {
        assert_eq!(
            alaw_to_linear(alaw_byte),
            linear,
            "A-law byte 0x{alaw_byte:02X}"
        );
    }
}

#[test]
fn encoders_match_reference_codes() {
    assert_eq!(linear_to_mulaw(0), 0xFF);
    assert_eq!(linear_to_mulaw(i16::MAX), 0x80);
    assert_eq!(linear_to_mulaw(i16::MIN), 0x00);
    assert_eq!(linear_to_alaw(0), 0xD5);
    assert_eq!(linear_to_alaw(-1), 0x55);
    assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
    assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
}

#[test]
fn every_code_survives_decode_then_encode() {
    for byte in 0..=u8::MAX {
        // 0x7F is µ-law's "negative zero": it decodes to 0, which encodes as 0xFF.
        let expected_mulaw = if byte == 0x7F { 0xFF } else { byte };
        assert_eq!(
            linear_to_mulaw(mulaw_to_linear(byte)),
            expected_mulaw,
            "µ-law 0x{byte:02X}"
        );
        assert_eq!(
            linear_to_alaw(alaw_to_linear(byte)),
            byte,
            "A-law 0x{byte:02X}"
        );
    }
}

#[test]
fn decoders_are_monotonic_over_the_positive_codes() {
    // Positive µ-law codes run 0xFF (smallest) down to 0x80; positive A-law codes, once the even
    // bits are restored, run 0x80..=0xFF.
    let mulaw: Vec<i16> = (0x80..=0xFF_u8).rev().map(mulaw_to_linear).collect();
    assert!(mulaw.windows(2).all(|pair| pair[0] < pair[1]), "{mulaw:?}");
    let alaw: Vec<i16> = (0x80..=0xFF_u8)
        .map(|code| alaw_to_linear(code ^ 0x55))
        .collect();
    assert!(alaw.windows(2).all(|pair| pair[0] < pair[1]), "{alaw:?}");
}

/// Quantisation error bound: half the step of the segment the value falls in (plus the clip).
fn mulaw_error_bound(linear: i16) -> i32 {
    let magnitude = i32::from(linear).abs().min(32_635);
    let segment = ((magnitude + 0x84) >> 7).max(1).ilog2();
    (8 << segment) + (i32::from(linear).abs() - 32_635).max(0)
}

fn alaw_error_bound(linear: i16) -> i32 {
    let magnitude = (i32::from(linear) >> 3).abs();
    let segment = if magnitude < 32 {
        1
    } else {
        (magnitude >> 4).ilog2()
    };
    16 << segment
}

proptest! {
    #[test]
    fn mulaw_round_trip_is_within_one_quantisation_step(linear: i16) {
        let decoded = mulaw_to_linear(linear_to_mulaw(linear));
        let error = (i32::from(decoded) - i32::from(linear)).abs();
        prop_assert!(error <= mulaw_error_bound(linear), "{linear} -> {decoded}");
        prop_assert!(i32::from(decoded).signum() * i32::from(linear).signum() >= 0);
    }

    #[test]
    fn alaw_round_trip_is_within_one_quantisation_step(linear: i16) {
        let decoded = alaw_to_linear(linear_to_alaw(linear));
        let error = (i32::from(decoded) - i32::from(linear)).abs();
        prop_assert!(error <= alaw_error_bound(linear), "{linear} -> {decoded}");
    }

    #[test]
    fn encoding_is_idempotent_after_one_round_trip(linear: i16) {
        let mulaw = linear_to_mulaw(linear);
        prop_assert_eq!(linear_to_mulaw(mulaw_to_linear(mulaw)), if mulaw == 0x7F { 0xFF } else { mulaw });
        let alaw = linear_to_alaw(linear);
        prop_assert_eq!(linear_to_alaw(alaw_to_linear(alaw)), alaw);
    }
}
