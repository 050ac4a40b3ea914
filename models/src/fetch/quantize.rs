//! Quantisation of a ggml f16 Whisper file into q8_0 or q5_1, in plain Rust, as whisper.cpp's own
//! `quantize` tool does it (whisper-rs-sys 0.15.0: `examples/quantize` over ggml's
//! `ggml_common_quantize_0`).
//!
//! What that tool does, and this module repeats:
//! - the header is copied with `ftype` rewritten to `GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR +
//!   ftype` (whisper.cpp's loader splits it back: `src/whisper.cpp`, `whisper_model_load`);
//! - the mel filters and the vocabulary are copied byte for byte;
//! - every 2-D tensor is quantised except the two conv biases and the two positional embeddings
//!   (the loader creates those as f32); 1-D tensors (biases, layer norms) stay f32 and the 3-D conv
//!   weights stay f16, which is what the loader expects of a quantised file.
//!
//! The block encoders follow ggml's reference ("deterministic creation of model files") kernels,
//! `quantize_row_q8_0_ref` and `quantize_row_q5_1_ref` in `ggml/src/ggml-quants.c`, operation for
//! operation, and the block layouts of `ggml/src/ggml-common.h`:
//! - q8_0: per 32 values an f16 scale `d` and 32 × i8 (34 bytes);
//! - q5_1: per 32 values an f16 scale `d`, an f16 minimum `m`, a little-endian u32 of the 32 fifth
//!   bits and 16 bytes of nibbles, value `j` in the low and value `j + 16` in the high nibble of
//!   byte `j` (24 bytes).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::ct2_to_ggml::{
    GGML_FTYPE_MOSTLY_F16, GGML_MAGIC, GgmlTensorInfo, GgmlType, QUANT_BLOCK_VALUES, f16_bits_to_f32, f32_to_f16_bits,
    read_ggml_summary,
};
use crate::ModelError;

/// `GGML_QNT_VERSION` of ggml.h (whisper-rs-sys 0.15.0): bumped on quantisation format changes.
pub const GGML_QNT_VERSION: i32 = 2;

/// `GGML_QNT_VERSION_FACTOR` of ggml.h: the quantisation version is stored as `ftype / factor`.
pub const GGML_QNT_VERSION_FACTOR: i32 = 1000;

/// The 2-D tensors whisper.cpp's quantize tool leaves as they are (its `to_skip` list): the loader
/// creates them as f32.
pub const TENSORS_KEPT_UNQUANTISED: [&str; 4] =
    ["encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding", "decoder.positional_embedding"];

/// Values per quantisation block, for both q8_0 (`QK8_0`) and q5_1 (`QK5_1`).
pub const BLOCK_VALUES: usize = QUANT_BLOCK_VALUES;

/// The quantised types offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlQuantType {
    /// 8-bit, one f16 scale per block of 32 (`GGML_TYPE_Q8_0`).
    Q8_0,
    /// 5-bit with a minimum, f16 scale and minimum per block of 32 (`GGML_TYPE_Q5_1`).
    Q5_1,
}

impl GgmlQuantType {
    /// The tensor type in the file.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            Self::Q8_0 => GgmlType::Q8_0,
            Self::Q5_1 => GgmlType::Q5_1,
        }
    }

    /// The file type (`enum ggml_ftype`: `GGML_FTYPE_MOSTLY_Q8_0`, `GGML_FTYPE_MOSTLY_Q5_1`).
    pub fn ggml_ftype(self) -> i32 {
        match self {
            Self::Q8_0 => 7,
            Self::Q5_1 => 9,
        }
    }

    /// The `ftype` hyper-parameter of a file of this type, as whisper.cpp writes and reads it.
    pub fn hparams_ftype(self) -> i32 {
        GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR + self.ggml_ftype()
    }

    /// Bytes per block of [`BLOCK_VALUES`] values (`sizeof(block_q8_0)`, `sizeof(block_q5_1)`).
    pub fn block_size_bytes(self) -> usize {
        self.ggml_type().block_size_bytes()
    }

    /// ggml's name of the type, as in file names (`ggml-base-q8_0.bin`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Q8_0 => "q8_0",
            Self::Q5_1 => "q5_1",
        }
    }

    /// The manifest's `produced_by`; bump the version when the output changes.
    pub fn producer_name(self) -> &'static str {
        match self {
            Self::Q8_0 => "ggml-quantize q8_0 v1",
            Self::Q5_1 => "ggml-quantize q5_1 v1",
        }
    }

    /// Appends the blocks of `values` (a multiple of [`BLOCK_VALUES`] long) to `output`.
    pub fn quantize_row(self, values: &[f32], output: &mut Vec<u8>) {
        match self {
            Self::Q8_0 => quantize_row_q8_0(values, output),
            Self::Q5_1 => quantize_row_q5_1(values, output),
        }
    }

    /// The values `blocks` stand for (the inverse of [`GgmlQuantType::quantize_row`], up to the
    /// quantisation error).
    pub fn dequantize_row(self, blocks: &[u8]) -> Vec<f32> {
        match self {
            Self::Q8_0 => dequantize_row_q8_0(blocks),
            Self::Q5_1 => dequantize_row_q5_1(blocks),
        }
    }
}

/// ggml's `quantize_row_q8_0_ref`: scale = absmax / 127, values rounded half away from zero.
pub fn quantize_row_q8_0(values: &[f32], output: &mut Vec<u8>) {
    debug_assert_eq!(values.len() % BLOCK_VALUES, 0);
    for block in values.chunks_exact(BLOCK_VALUES) {
        let abs_max = block.iter().fold(0.0_f32, |abs_max, value| abs_max.max(value.abs()));
        let scale = abs_max / 127.0;
        let inverse_scale = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        output.extend_from_slice(&f32_to_f16_bits(scale).to_le_bytes());
        // `f32::round` rounds half away from zero, as C's `roundf`; `as i8` saturates, and
        // |value| * inverse_scale never exceeds 127 by more than rounding.
        output.extend(block.iter().map(|value| (value * inverse_scale).round() as i8 as u8));
    }
}

/// ggml's `quantize_row_q5_1_ref`: scale = (max − min) / 31, offset = min, values rounded to
/// nearest by adding 0.5 and truncating.
pub fn quantize_row_q5_1(values: &[f32], output: &mut Vec<u8>) {
    debug_assert_eq!(values.len() % BLOCK_VALUES, 0);
    const HALF: usize = BLOCK_VALUES / 2;
    for block in values.chunks_exact(BLOCK_VALUES) {
        let (min, max) = block.iter().fold((f32::MAX, -f32::MAX), |(min, max), &value| {
            (if value < min { value } else { min }, if value > max { value } else { max })
        });
        let scale = (max - min) / 31.0;
        let inverse_scale = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        output.extend_from_slice(&f32_to_f16_bits(scale).to_le_bytes());
        output.extend_from_slice(&f32_to_f16_bits(min).to_le_bytes());
        let mut high_bits = 0_u32;
        let mut nibbles = [0_u8; HALF];
        for (j, nibble) in nibbles.iter_mut().enumerate() {
            // Non-negative (value ≥ min) and at most 31 plus rounding, so `as u8` truncates as
            // C's `(uint8_t)` does.
            let low = ((block[j] - min) * inverse_scale + 0.5) as u8;
            let high = ((block[HALF + j] - min) * inverse_scale + 0.5) as u8;
            *nibble = (low & 0x0f) | ((high & 0x0f) << 4);
            high_bits |= u32::from((low & 0x10) >> 4) << j;
            high_bits |= u32::from((high & 0x10) >> 4) << (j + HALF);
        }
        output.extend_from_slice(&high_bits.to_le_bytes());
        output.extend_from_slice(&nibbles);
    }
}

/// ggml's `dequantize_row_q8_0`.
pub fn dequantize_row_q8_0(blocks: &[u8]) -> Vec<f32> {
    let mut values = Vec::with_capacity(blocks.len() / GgmlQuantType::Q8_0.block_size_bytes() * BLOCK_VALUES);
    for block in blocks.chunks_exact(GgmlQuantType::Q8_0.block_size_bytes()) {
        let scale = f16_bits_to_f32(u16::from_le_bytes([block[0], block[1]]));
        values.extend(block[2..].iter().map(|&quant| f32::from(quant as i8) * scale));
    }
    values
}

/// ggml's `dequantize_row_q5_1`.
pub fn dequantize_row_q5_1(blocks: &[u8]) -> Vec<f32> {
    const HALF: usize = BLOCK_VALUES / 2;
    let mut values = Vec::with_capacity(blocks.len() / GgmlQuantType::Q5_1.block_size_bytes() * BLOCK_VALUES);
    for block in blocks.chunks_exact(GgmlQuantType::Q5_1.block_size_bytes()) {
        let scale = f16_bits_to_f32(u16::from_le_bytes([block[0], block[1]]));
        let min = f16_bits_to_f32(u16::from_le_bytes([block[2], block[3]]));
        let high_bits = u32::from_le_bytes([block[4], block[5], block[6], block[7]]);
        let nibbles = &block[8..];
        let mut decoded = [0.0_f32; BLOCK_VALUES];
        for j in 0..HALF {
            let low = (nibbles[j] & 0x0f) | ((((high_bits >> j) & 1) as u8) << 4);
            let high = (nibbles[j] >> 4) | ((((high_bits >> (j + HALF)) & 1) as u8) << 4);
            decoded[j] = f32::from(low) * scale + min;
            decoded[HALF + j] = f32::from(high) * scale + min;
        }
        values.extend_from_slice(&decoded);
    }
    values
}

/// Whether whisper.cpp's quantize tool quantises a tensor of this name and row-major shape.
pub fn is_quantised(name: &str, dims: &[usize]) -> bool {
    dims.len() == 2 && !TENSORS_KEPT_UNQUANTISED.contains(&name)
}

/// Writes the `quant` version of the ggml f16 Whisper file at `source` to `output`.
pub fn quantize_ggml(source: &Path, quant: GgmlQuantType, output: &mut dyn Write) -> Result<(), ModelError> {
    let error = |reason: String| ModelError::Conversion { path: source.to_path_buf(), reason };
    let summary = read_ggml_summary(source)?;
    if summary.hparams.ftype != GGML_FTYPE_MOSTLY_F16 {
        return Err(error(format!(
            "ftype {} is not {GGML_FTYPE_MOSTLY_F16} (mostly f16); only f16 files are quantised",
            summary.hparams.ftype
        )));
    }
    let first_tensor = summary.tensors.first().ok_or_else(|| error("the file has no tensors".into()))?;
    let first_header_offset = first_tensor.data_offset_bytes - tensor_header_len_bytes(first_tensor);

    let mut file = BufReader::with_capacity(1 << 20, File::open(source)?);
    // Magic, then the hyper-parameters with the new ftype, then the mel filters and vocabulary as
    // they are.
    output.write_all(&GGML_MAGIC.to_le_bytes())?;
    let mut hparams = summary.hparams;
    hparams.ftype = quant.hparams_ftype();
    for value in hparams.to_array() {
        output.write_all(&value.to_le_bytes())?;
    }
    let hparams_end = 4 + 11 * 4;
    file.seek(SeekFrom::Start(hparams_end))?;
    let copied = std::io::copy(&mut (&mut file).take(first_header_offset - hparams_end), output)?;
    if copied != first_header_offset - hparams_end {
        return Err(error("the file ends inside its vocabulary".into()));
    }

    let mut quantised = Vec::new();
    for tensor in &summary.tensors {
        file.seek(SeekFrom::Start(tensor.data_offset_bytes))?;
        let mut data = vec![0_u8; tensor.data_len_bytes() as usize];
        file.read_exact(&mut data)?;
        let quantise = is_quantised(&tensor.name, &tensor.dims);
        let row_len = tensor.dims.last().copied().unwrap_or(0);
        if quantise && row_len % BLOCK_VALUES != 0 {
            return Err(error(format!(
                "tensor {} has rows of {row_len} values, not a multiple of {BLOCK_VALUES}",
                tensor.name
            )));
        }
        let ggml_type = if quantise { quant.ggml_type() } else { tensor.ggml_type };
        write_tensor_header(output, &tensor.name, &tensor.dims, ggml_type.code()).map_err(error)?;
        if !quantise {
            output.write_all(&data)?;
            continue;
        }
        let values: Vec<f32> = match tensor.ggml_type {
            GgmlType::F16 => data.chunks_exact(2).map(|b| f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
            GgmlType::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            GgmlType::Q5_1 | GgmlType::Q8_0 => {
                return Err(error(format!("tensor {} is already {:?}", tensor.name, tensor.ggml_type)));
            }
        };
        quantised.clear();
        for row in values.chunks_exact(row_len) {
            quant.quantize_row(row, &mut quantised);
        }
        output.write_all(&quantised)?;
    }
    output.flush()?;
    Ok(())
}

/// The size of a tensor's header: rank, name length, type, dims, name.
fn tensor_header_len_bytes(tensor: &GgmlTensorInfo) -> u64 {
    (3 * 4 + 4 * tensor.dims.len() + tensor.name.len()) as u64
}

fn write_tensor_header(output: &mut dyn Write, name: &str, dims: &[usize], type_code: i32) -> Result<(), String> {
    let to_i32 = |value: usize, what: &str| i32::try_from(value).map_err(|_| format!("{what} {value} does not fit in i32"));
    let mut header = Vec::with_capacity(12 + 4 * dims.len() + name.len());
    header.extend_from_slice(&to_i32(dims.len(), "rank")?.to_le_bytes());
    header.extend_from_slice(&to_i32(name.len(), "name length")?.to_le_bytes());
    header.extend_from_slice(&type_code.to_le_bytes());
    // ggml lists dimensions fastest-varying first, the reverse of row-major order.
    for &dim in dims.iter().rev() {
        header.extend_from_slice(&to_i32(dim, "dimension")?.to_le_bytes());
    }
    header.extend_from_slice(name.as_bytes());
    output.write_all(&header).map_err(|io_error| io_error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of values with a few exact zeros and a large outlier per block.
    fn sample_values(n_blocks: usize) -> Vec<f32> {
        let mut state = 0x2545_f491_u32;
        (0..n_blocks * BLOCK_VALUES)
            .map(|index| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let uniform = (state as f32 / u32::MAX as f32) * 2.0 - 1.0;
                match index % BLOCK_VALUES {
                    3 => 0.0,
                    17 => uniform * 4.0,
                    _ => uniform * 0.05,
                }
            })
            .collect()
    }

    #[test]
    fn q8_0_round_trip_is_within_half_a_step() {
        let values = sample_values(64);
        let mut blocks = Vec::new();
        quantize_row_q8_0(&values, &mut blocks);
        assert_eq!(blocks.len(), 64 * 34);
        let decoded = dequantize_row_q8_0(&blocks);
        for (block_values, block_decoded) in values.chunks(BLOCK_VALUES).zip(decoded.chunks(BLOCK_VALUES)) {
            let abs_max = block_values.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
            // Half a step, plus the f16 rounding of the scale (relative 2^-11) times 127 steps.
            let tolerance = abs_max / 127.0 * 0.5 + abs_max * 2.0_f32.powi(-10);
            for (value, back) in block_values.iter().zip(block_decoded) {
                assert!((value - back).abs() <= tolerance, "{value} → {back} (tolerance {tolerance})");
            }
        }
        assert_eq!(decoded[3], 0.0, "zero stays zero");
    }

    #[test]
    fn q5_1_round_trip_is_within_half_a_step() {
        let values = sample_values(64);
        let mut blocks = Vec::new();
        quantize_row_q5_1(&values, &mut blocks);
        assert_eq!(blocks.len(), 64 * 24);
        let decoded = dequantize_row_q5_1(&blocks);
        for (block_values, block_decoded) in values.chunks(BLOCK_VALUES).zip(decoded.chunks(BLOCK_VALUES)) {
            let min = block_values.iter().fold(f32::MAX, |m, &v| m.min(v));
            let max = block_values.iter().fold(-f32::MAX, |m, &v| m.max(v));
            let range = max - min;
            // Half a step plus the f16 rounding of scale and minimum.
            let tolerance = range / 31.0 * 0.5 + (range + min.abs()) * 2.0_f32.powi(-10);
            for (value, back) in block_values.iter().zip(block_decoded) {
                assert!((value - back).abs() <= tolerance, "{value} → {back} (tolerance {tolerance})");
            }
        }
    }

    #[test]
    fn q8_0_block_layout_matches_ggml() {
        // absmax 127 → scale exactly 1.0 (f16 0x3c00), quants are the values themselves.
        let values: Vec<f32> = (0..32).map(|i| if i == 0 { -127.0 } else { (i as f32) - 16.0 }).collect();
        let mut blocks = Vec::new();
        quantize_row_q8_0(&values, &mut blocks);
        assert_eq!(&blocks[..2], &0x3c00_u16.to_le_bytes());
        assert_eq!(blocks[2] as i8, -127);
        assert_eq!(blocks[3] as i8, -15);
        assert_eq!(blocks[33] as i8, 15);
    }

    #[test]
    fn q5_1_block_layout_matches_ggml() {
        // min 0, max 31 → scale exactly 1.0, quants are the values; value j in the low nibble and
        // value j + 16 in the high nibble of byte j, fifth bits in a little-endian u32.
        let values: Vec<f32> = (0..32).map(|i| i as f32).collect();
        let mut blocks = Vec::new();
        quantize_row_q5_1(&values, &mut blocks);
        assert_eq!(&blocks[..2], &0x3c00_u16.to_le_bytes(), "scale 1.0");
        assert_eq!(&blocks[2..4], &0_u16.to_le_bytes(), "minimum 0.0");
        // Values 16..=31 have the fifth bit set: bits 16..=31 (from the high half) and none of the
        // low half (values 0..=15).
        assert_eq!(u32::from_le_bytes([blocks[4], blocks[5], blocks[6], blocks[7]]), 0xffff_0000);
        assert_eq!(blocks[8], 0x00, "values 0 and 16 → nibbles 0 and 0");
        assert_eq!(blocks[9], 0x11, "values 1 and 17 → nibbles 1 and 1");
        assert_eq!(blocks[23], 0xff, "values 15 and 31 → nibbles 15 and 15");
    }

    #[test]
    fn an_all_zero_block_decodes_to_zeros_and_a_constant_block_to_its_value() {
        for quant in [GgmlQuantType::Q8_0, GgmlQuantType::Q5_1] {
            let mut blocks = Vec::new();
            quant.quantize_row(&[0.0; BLOCK_VALUES], &mut blocks);
            assert_eq!(blocks.len(), quant.block_size_bytes());
            assert!(quant.dequantize_row(&blocks).iter().all(|&value| value == 0.0), "{quant:?}: no NaN from a zero scale");
        }
        // q5_1 stores the minimum, so a constant block (scale 0) comes back exactly.
        let mut blocks = Vec::new();
        quantize_row_q5_1(&[0.25; BLOCK_VALUES], &mut blocks);
        assert!(dequantize_row_q5_1(&blocks).iter().all(|&value| value == 0.25));
    }

    #[test]
    fn the_ftype_is_written_as_whisper_cpp_reads_it() {
        assert_eq!(GgmlQuantType::Q8_0.hparams_ftype(), 2007);
        assert_eq!(GgmlQuantType::Q5_1.hparams_ftype(), 2009);
        assert_eq!(GgmlQuantType::Q8_0.hparams_ftype() % GGML_QNT_VERSION_FACTOR, 7);
    }

    #[test]
    fn only_two_dimensional_weights_are_quantised() {
        assert!(is_quantised("encoder.blocks.0.attn.query.weight", &[512, 512]));
        assert!(is_quantised("decoder.token_embedding.weight", &[51_865, 512]));
        assert!(!is_quantised("encoder.blocks.0.attn.query.bias", &[512]));
        assert!(!is_quantised("encoder.conv1.weight", &[512, 80, 3]));
        assert!(!is_quantised("encoder.conv1.bias", &[512, 1]));
        assert!(!is_quantised("decoder.positional_embedding", &[448, 512]));
    }
}
