//! ITU-T G.711 µ-law and A-law companding, used by telephony WAV files (format tags 7 and 6).
//!
//! Linear values are 16-bit: µ-law decodes to ±32124 at full scale and A-law to ±32256, the
//! 14-bit and 13-bit G.711 ranges shifted left to 16 bits, as the G.711 reference tables do.

/// Added to µ-law magnitudes before the segment search so that every segment has the same
/// number of mantissa steps (G.711 section 2, "bias of 33" at 14-bit scale = 0x84 at 16-bit).
const MULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can represent once the bias is added (32635 + 0x84 = 0x7FFF).
const MULAW_CLIP: i32 = 32_635;

/// Decodes one µ-law byte to a 16-bit linear sample.
pub fn mulaw_to_linear(mulaw_byte: u8) -> i16 {
    // µ-law bytes are transmitted with all bits inverted.
    let inverted = !mulaw_byte;
    let exponent = u32::from((inverted >> 4) & 0x07);
    let mantissa = i32::from(inverted & 0x0F);
    let magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
    let linear = if inverted & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    };
    // The largest magnitude is 32124, so this never saturates.
    linear as i16
}

/// Encodes a 16-bit linear sample as µ-law (magnitudes above 32635 are clipped).
pub fn linear_to_mulaw(linear_sample: i16) -> u8 {
    let sample = i32::from(linear_sample);
    let sign_bit: u8 = if sample < 0 { 0x80 } else { 0x00 };
    let magnitude = sample.abs().min(MULAW_CLIP) + MULAW_BIAS;
    // The segment (exponent) is the position of the highest set bit above bit 7.
    let exponent = (magnitude >> 7).max(1).ilog2().min(7);
    let mantissa = ((magnitude >> (exponent + 3)) & 0x0F) as u8;
    !(sign_bit | ((exponent as u8) << 4) | mantissa)
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(alaw_byte: u8) -> i16 {
    // Even bits are inverted on the line (G.711 table 1a, "even bit inversion").
    let toggled = alaw_byte ^ 0x55;
    let segment = u32::from((toggled & 0x70) >> 4);
    let mantissa = i32::from(toggled & 0x0F);
    let magnitude = match segment {
        0 => (mantissa << 4) + 8,
        _ => ((mantissa << 4) + 0x108) << (segment - 1),
    };
    // A set sign bit means a positive value in A-law.
    let linear = if toggled & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    };
    // The largest magnitude is 32256, so this never saturates.
    linear as i16
}

/// Upper bounds of the eight A-law segments, in 13-bit magnitude units.
const ALAW_SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Encodes a 16-bit linear sample as A-law.
pub fn linear_to_alaw(linear_sample: i16) -> u8 {
    // A-law works on 13-bit values.
    let sample_13_bit = i32::from(linear_sample) >> 3;
    let (line_mask, magnitude) = if sample_13_bit >= 0 {
        (0xD5_u8, sample_13_bit)
    } else {
        // One's complement, so -1 maps to the smallest negative code rather than to zero.
        (0x55_u8, -sample_13_bit - 1)
    };
    let Some(segment) = ALAW_SEGMENT_ENDS.iter().position(|&end| magnitude <= end) else {
        return 0x7F ^ line_mask;
    };
    let shift = if segment < 2 { 1 } else { segment as u32 };
    let code = ((segment as u8) << 4) | ((magnitude >> shift) & 0x0F) as u8;
    code ^ line_mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_reference_values() {
        assert_eq!(mulaw_to_linear(0x00), -32124);
        assert_eq!(mulaw_to_linear(0x80), 32124);
        assert_eq!(mulaw_to_linear(0xFF), 0);
        assert_eq!(mulaw_to_linear(0x7F), 0);
        assert_eq!(linear_to_mulaw(0), 0xFF);
    }

    #[test]
    fn alaw_reference_values() {
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(0), 0xD5);
    }
}
