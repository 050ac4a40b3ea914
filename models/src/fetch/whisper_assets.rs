//! Readers for the assets of OpenAI's `whisper` package that a ggml file embeds: the mel filter
//! bank (`mel_filters.npz`, a zip of `.npy` arrays) and the tiktoken vocabularies.

use std::io::{Cursor, Read};

use base64::Engine as _;

/// A mel filter bank, row-major `[n_mel, n_fft]` (n_fft = 201 frequency bins for Whisper).
#[derive(Debug, Clone, PartialEq)]
pub struct MelFilters {
    pub n_mel: usize,
    pub n_fft: usize,
    pub weights: Vec<f32>,
}

/// The smallest multilingual vocabulary size; whisper.cpp's `is_multilingual` is the same test.
pub const MULTILINGUAL_MIN_N_VOCAB: usize = 51_865;

/// The token appended to the English (GPT-2) vocabulary: whisper.cpp expects id 50256 to be it.
pub const END_OF_TEXT_TOKEN: &[u8] = b"<|endoftext|>";

/// Reads the array `array_name` (e.g. `mel_80`) out of a `.npz` archive held in memory.
pub fn mel_filters_from_npz(npz_bytes: &[u8], array_name: &str) -> Result<MelFilters, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(npz_bytes)).map_err(|error| format!("npz archive: {error}"))?;
    let member_name = format!("{array_name}.npy");
    let mut member =
        archive.by_name(&member_name).map_err(|error| format!("npz member {member_name}: {error}"))?;
    let mut npy_bytes = Vec::new();
    member.read_to_end(&mut npy_bytes).map_err(|error| format!("npz member {member_name}: {error}"))?;
    let (shape, weights) = read_npy_f32(&npy_bytes).map_err(|reason| format!("{member_name}: {reason}"))?;
    match shape.as_slice() {
        [n_mel, n_fft] => Ok(MelFilters { n_mel: *n_mel, n_fft: *n_fft, weights }),
        _ => Err(format!("{member_name}: expected a 2-D array, found shape {shape:?}")),
    }
}

/// Parses a `.npy` file holding little-endian float32 in C order; returns its shape and values.
pub fn read_npy_f32(npy_bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if npy_bytes.len() < 10 || !npy_bytes.starts_with(MAGIC) {
        return Err("not a .npy file (bad magic)".into());
    }
    let major_version = npy_bytes[6];
    let (header_len, header_start) = match major_version {
        1 => (usize::from(u16::from_le_bytes([npy_bytes[8], npy_bytes[9]])), 10),
        2 | 3 => {
            let length_bytes = npy_bytes.get(8..12).ok_or("truncated .npy header")?;
            let length = u32::from_le_bytes([length_bytes[0], length_bytes[1], length_bytes[2], length_bytes[3]]);
            (length as usize, 12)
        }
        other => return Err(format!("unsupported .npy version {other}")),
    };
    let header_end = header_start + header_len;
    let header = npy_bytes.get(header_start..header_end).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text".to_string())?;
    let descr = npy_header_value(header, "descr").ok_or("the .npy header has no descr")?;
    if descr.trim_matches(|c| c == '\'' || c == '"') != "<f4" {
        return Err(format!("expected little-endian float32 ('<f4'), found {descr}"));
    }
    let fortran_order = npy_header_value(header, "fortran_order").ok_or("the .npy header has no fortran_order")?;
    if fortran_order != "False" {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape_text = npy_header_value(header, "shape").ok_or("the .npy header has no shape")?;
    let shape = shape_text
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<usize>().map_err(|_| format!("bad shape {shape_text}")))
        .collect::<Result<Vec<_>, _>>()?;
    let n_values = shape.iter().try_fold(1_usize, |product, &dim| product.checked_mul(dim)).ok_or("shape overflows")?;
    let data = &npy_bytes[header_end..];
    if data.len() != n_values * 4 {
        return Err(format!("expected {} data bytes for shape {shape:?}, found {}", n_values * 4, data.len()));
    }
    let values = data.chunks_exact(4).map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])).collect();
    Ok((shape, values))
}

/// The raw text of `key`'s value in a `.npy` header dict such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (80, 201), }`.
fn npy_header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let key_start = header.find(&format!("'{key}'"))?;
    let after_key = &header[key_start + key.len() + 2..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let value_end = if after_colon.starts_with('(') {
        after_colon.find(')')? + 1
    } else {
        after_colon.find([',', '}']).unwrap_or(after_colon.len())
    };
    Some(after_colon[..value_end].trim())
}

const TIKTOKEN_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Parses a tiktoken vocabulary (`<base64 token> <rank>` per line); ranks must run 0, 1, 2, ….
pub fn parse_tiktoken(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut tokens = Vec::new();
    for (line_idx, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = line_idx + 1;
        let mut fields = line.split_whitespace();
        let (Some(token_base64), Some(rank_text), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("line {line_number}: expected `<base64 token> <rank>`"));
        };
        let rank: usize = rank_text.parse().map_err(|_| format!("line {line_number}: bad rank {rank_text:?}"))?;
        if rank != tokens.len() {
            return Err(format!("line {line_number}: rank {rank} out of order (expected {})", tokens.len()));
        }
        // The multilingual file encodes its empty token (rank 50256) as a lone `=`, which Python's
        // decoder accepts; padding is optional here for the same reason.
        let token = TIKTOKEN_BASE64
            .decode(token_base64.trim_end_matches('='))
            .map_err(|error| format!("line {line_number}: bad base64: {error}"))?;
        tokens.push(token);
    }
    Ok(tokens)
}

/// The token list a ggml file carries for a model with `n_vocab` tokens, as whisper.cpp's
/// `convert-pt-to-ggml.py` writes it: the multilingual tiktoken vocabulary as is for multilingual
/// models, the GPT-2 one plus `<|endoftext|>` for English-only ones. whisper.cpp names the
/// remaining (special) ids itself.
pub fn ggml_vocabulary(n_vocab: usize, multilingual_tiktoken: &str, english_tiktoken: &str) -> Result<Vec<Vec<u8>>, String> {
    let tokens = if n_vocab >= MULTILINGUAL_MIN_N_VOCAB {
        parse_tiktoken(multilingual_tiktoken).map_err(|reason| format!("multilingual.tiktoken: {reason}"))?
    } else {
        let mut tokens = parse_tiktoken(english_tiktoken).map_err(|reason| format!("gpt2.tiktoken: {reason}"))?;
        tokens.push(END_OF_TEXT_TOKEN.to_vec());
        tokens
    };
    if tokens.len() > n_vocab {
        return Err(format!("the vocabulary has {} tokens but the model only {n_vocab}", tokens.len()));
    }
    Ok(tokens)
}
