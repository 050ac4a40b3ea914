//! The CTranslate2 reader and the ggml writer on a tiny synthetic Whisper model built here, checked
//! against the tensor list whisper.cpp's loader expects (whisper-rs-sys 0.15.0, `whisper-arch.h`).

use std::io::Write;
use std::path::Path;

use callsight_models::ModelError;
use callsight_models::fetch::ct2_to_ggml::{
    Ct2DataType, GgmlType, convert_ct2_to_ggml, f16_bits_to_f32, f32_to_f16_bits, read_ct2_index, read_ggml_summary,
    whisper_hparams,
};
use callsight_models::fetch::whisper_assets::{MelFilters, ggml_vocabulary, parse_tiktoken, read_npy_f32};

/// A tiny Whisper: state 4, 2 heads, 1 encoder and 1 decoder layer, 3 mel bands.
const N_STATE: usize = 4;
const N_MELS: usize = 3;
const N_AUDIO_CTX: usize = 6;
const N_TEXT_CTX: usize = 5;
const N_VOCAB: usize = 12;

struct SyntheticVariable {
    name: String,
    dims: Vec<usize>,
    data_type: Ct2DataType,
    values: Vec<f32>,
}

/// Values that f16 represents exactly (at most 11 significant bits) and that differ per element
/// (within 64) and per variable (within 32).
fn distinct_values(variable_idx: usize, n_elements: usize) -> Vec<f32> {
    (0..n_elements).map(|element_idx| (element_idx % 64) as f32 + (variable_idx % 32) as f32 / 32.0).collect()
}

fn synthetic_variables() -> Vec<SyntheticVariable> {
    let n = N_STATE;
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("encoder/conv1/weight".into(), vec![n, N_MELS, 3]),
        ("encoder/conv1/bias".into(), vec![n]),
        ("encoder/conv2/weight".into(), vec![n, n, 3]),
        ("encoder/conv2/bias".into(), vec![n]),
        ("encoder/position_encodings/encodings".into(), vec![N_AUDIO_CTX, n]),
        ("encoder/layer_norm/gamma".into(), vec![n]),
        ("encoder/layer_norm/beta".into(), vec![n]),
        ("decoder/embeddings/weight".into(), vec![N_VOCAB, n]),
        ("decoder/position_encodings/encodings".into(), vec![N_TEXT_CTX, n]),
        ("decoder/layer_norm/gamma".into(), vec![n]),
        ("decoder/layer_norm/beta".into(), vec![n]),
    ];
    for system in ["encoder", "decoder"] {
        let layer = format!("{system}/layer_0");
        shapes.push((format!("{layer}/self_attention/linear_0/weight"), vec![3 * n, n]));
        shapes.push((format!("{layer}/self_attention/linear_0/bias"), vec![3 * n]));
        shapes.push((format!("{layer}/self_attention/linear_1/weight"), vec![n, n]));
        shapes.push((format!("{layer}/self_attention/linear_1/bias"), vec![n]));
        shapes.push((format!("{layer}/self_attention/layer_norm/gamma"), vec![n]));
        shapes.push((format!("{layer}/self_attention/layer_norm/beta"), vec![n]));
        shapes.push((format!("{layer}/ffn/linear_0/weight"), vec![4 * n, n]));
        shapes.push((format!("{layer}/ffn/linear_0/bias"), vec![4 * n]));
        shapes.push((format!("{layer}/ffn/linear_1/weight"), vec![n, 4 * n]));
        shapes.push((format!("{layer}/ffn/linear_1/bias"), vec![n]));
        shapes.push((format!("{layer}/ffn/layer_norm/gamma"), vec![n]));
        shapes.push((format!("{layer}/ffn/layer_norm/beta"), vec![n]));
    }
    let cross = "decoder/layer_0/attention";
    shapes.push((format!("{cross}/linear_0/weight"), vec![n, n]));
    shapes.push((format!("{cross}/linear_0/bias"), vec![n]));
    shapes.push((format!("{cross}/linear_1/weight"), vec![2 * n, n]));
    shapes.push((format!("{cross}/linear_1/bias"), vec![2 * n]));
    shapes.push((format!("{cross}/linear_2/weight"), vec![n, n]));
    shapes.push((format!("{cross}/linear_2/bias"), vec![n]));
    shapes.push((format!("{cross}/layer_norm/gamma"), vec![n]));
    shapes.push((format!("{cross}/layer_norm/beta"), vec![n]));
    // CTranslate2 sorts variables by name.
    shapes.sort();
    shapes
        .into_iter()
        .enumerate()
        .map(|(variable_idx, (name, dims))| {
            let n_elements = dims.iter().product();
            // Every third variable is stored as f32 to exercise the f32 → f16 path.
            let data_type = if variable_idx % 3 == 0 { Ct2DataType::F32 } else { Ct2DataType::F16 };
            SyntheticVariable { name, dims, data_type, values: distinct_values(variable_idx, n_elements) }
        })
        .collect()
}

fn write_string(bytes: &mut Vec<u8>, text: &str) {
    bytes.extend_from_slice(&((text.len() + 1) as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
}

fn write_variable_header(bytes: &mut Vec<u8>, name: &str, dims: &[usize], data_type: Ct2DataType, data_len: usize) {
    write_string(bytes, name);
    bytes.push(dims.len() as u8);
    for &dim in dims {
        bytes.extend_from_slice(&(dim as u32).to_le_bytes());
    }
    bytes.push(data_type.code());
    bytes.extend_from_slice(&(data_len as u32).to_le_bytes());
}

/// A CTranslate2 `model.bin` (format version 6) with `variables` plus the int scalars and alias
/// the real files carry.
fn synthetic_ct2_bytes(variables: &[SyntheticVariable]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&6_u32.to_le_bytes());
    write_string(&mut bytes, "WhisperSpec");
    bytes.extend_from_slice(&3_u32.to_le_bytes());
    bytes.extend_from_slice(&((variables.len() + 3) as u32).to_le_bytes());
    write_variable_header(&mut bytes, "decoder/activation", &[], Ct2DataType::I8, 1);
    bytes.push(1);
    for variable in variables {
        let data: Vec<u8> = match variable.data_type {
            Ct2DataType::F32 => variable.values.iter().flat_map(|value| value.to_le_bytes()).collect(),
            _ => variable.values.iter().flat_map(|&value| f32_to_f16_bits(value).to_le_bytes()).collect(),
        };
        write_variable_header(&mut bytes, &variable.name, &variable.dims, variable.data_type, data.len());
        bytes.extend_from_slice(&data);
    }
    for name in ["decoder/num_heads", "encoder/num_heads"] {
        write_variable_header(&mut bytes, name, &[], Ct2DataType::I16, 2);
        bytes.extend_from_slice(&2_i16.to_le_bytes());
    }
    bytes.extend_from_slice(&1_u32.to_le_bytes());
    write_string(&mut bytes, "decoder/projection/weight");
    write_string(&mut bytes, "decoder/embeddings/weight");
    bytes
}

fn synthetic_mel_filters() -> MelFilters {
    MelFilters { n_mel: N_MELS, n_fft: 5, weights: (0..N_MELS * 5).map(|idx| idx as f32 * 0.125).collect() }
}

fn write_file(directory: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = directory.join(name);
    let mut file = std::fs::File::create(&path).expect("create test file");
    file.write_all(bytes).expect("write test file");
    path
}

/// The tensors whisper.cpp creates for one encoder and one decoder layer, in `state_dict` order,
/// with their ggml `ne` (fastest dimension first) and whether they are f16.
fn expected_whisper_cpp_tensors() -> Vec<(String, Vec<usize>, GgmlType)> {
    let n = N_STATE;
    let mut tensors: Vec<(String, Vec<usize>, GgmlType)> = vec![
        ("encoder.positional_embedding".into(), vec![n, N_AUDIO_CTX], GgmlType::F32),
        ("encoder.conv1.weight".into(), vec![3, N_MELS, n], GgmlType::F16),
        ("encoder.conv1.bias".into(), vec![1, n], GgmlType::F32),
        ("encoder.conv2.weight".into(), vec![3, n, n], GgmlType::F16),
        ("encoder.conv2.bias".into(), vec![1, n], GgmlType::F32),
    ];
    let attention = |prefix: &str, tensors: &mut Vec<(String, Vec<usize>, GgmlType)>| {
        tensors.push((format!("{prefix}.query.weight"), vec![n, n], GgmlType::F16));
        tensors.push((format!("{prefix}.query.bias"), vec![n], GgmlType::F32));
        tensors.push((format!("{prefix}.key.weight"), vec![n, n], GgmlType::F16));
        tensors.push((format!("{prefix}.value.weight"), vec![n, n], GgmlType::F16));
        tensors.push((format!("{prefix}.value.bias"), vec![n], GgmlType::F32));
        tensors.push((format!("{prefix}.out.weight"), vec![n, n], GgmlType::F16));
        tensors.push((format!("{prefix}.out.bias"), vec![n], GgmlType::F32));
        tensors.push((format!("{prefix}_ln.weight"), vec![n], GgmlType::F32));
        tensors.push((format!("{prefix}_ln.bias"), vec![n], GgmlType::F32));
    };
    let mlp = |prefix: &str, tensors: &mut Vec<(String, Vec<usize>, GgmlType)>| {
        tensors.push((format!("{prefix}.mlp.0.weight"), vec![n, 4 * n], GgmlType::F16));
        tensors.push((format!("{prefix}.mlp.0.bias"), vec![4 * n], GgmlType::F32));
        tensors.push((format!("{prefix}.mlp.2.weight"), vec![4 * n, n], GgmlType::F16));
        tensors.push((format!("{prefix}.mlp.2.bias"), vec![n], GgmlType::F32));
        tensors.push((format!("{prefix}.mlp_ln.weight"), vec![n], GgmlType::F32));
        tensors.push((format!("{prefix}.mlp_ln.bias"), vec![n], GgmlType::F32));
    };
    attention("encoder.blocks.0.attn", &mut tensors);
    mlp("encoder.blocks.0", &mut tensors);
    tensors.push(("encoder.ln_post.weight".into(), vec![n], GgmlType::F32));
    tensors.push(("encoder.ln_post.bias".into(), vec![n], GgmlType::F32));
    tensors.push(("decoder.positional_embedding".into(), vec![n, N_TEXT_CTX], GgmlType::F32));
    tensors.push(("decoder.token_embedding.weight".into(), vec![n, N_VOCAB], GgmlType::F16));
    attention("decoder.blocks.0.attn", &mut tensors);
    attention("decoder.blocks.0.cross_attn", &mut tensors);
    mlp("decoder.blocks.0", &mut tensors);
    tensors.push(("decoder.ln.weight".into(), vec![n], GgmlType::F32));
    tensors.push(("decoder.ln.bias".into(), vec![n], GgmlType::F32));
    tensors
}

/// The values of one ggml tensor, decoded to f32.
fn ggml_tensor_values(ggml_bytes: &[u8], name: &str, summary: &callsight_models::fetch::ct2_to_ggml::GgmlSummary) -> Vec<f32> {
    let tensor = summary.tensors.iter().find(|tensor| tensor.name == name).expect("tensor present");
    let start = tensor.data_offset_bytes as usize;
    let data = &ggml_bytes[start..start + tensor.data_len_bytes() as usize];
    match tensor.ggml_type {
        GgmlType::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        GgmlType::F16 => data.chunks_exact(2).map(|b| f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
        quantised => panic!("the converter wrote {name} as {quantised:?}"),
    }
}

fn variable_values<'a>(variables: &'a [SyntheticVariable], name: &str) -> &'a [f32] {
    &variables.iter().find(|variable| variable.name == name).expect("variable present").values
}

#[test]
fn reads_the_index_of_a_ct2_model() {
    let directory = tempfile::tempdir().expect("temp dir");
    let variables = synthetic_variables();
    let path = write_file(directory.path(), "model.bin", &synthetic_ct2_bytes(&variables));

    let model = read_ct2_index(&path).expect("index");
    assert_eq!(model.format_version, 6);
    assert_eq!(model.spec_name, "WhisperSpec");
    assert_eq!(model.spec_revision, 3);
    assert_eq!(model.variables.len(), variables.len() + 3);
    assert_eq!(model.aliases, vec![("decoder/projection/weight".to_string(), "decoder/embeddings/weight".to_string())]);
    let fused = model.variable("encoder/layer_0/self_attention/linear_0/weight").expect("fused qkv");
    assert_eq!(fused.dims, vec![3 * N_STATE, N_STATE]);
    for variable in &variables {
        let read = model.read_f32(&variable.name).expect("values");
        assert_eq!(read, variable.values, "{}", variable.name);
    }
    assert_eq!(model.read_scalar_integer("encoder/num_heads").expect("heads"), 2);

    let hparams = whisper_hparams(&model).expect("hparams");
    assert_eq!(hparams.to_array(), [N_VOCAB as i32, N_AUDIO_CTX as i32, 4, 2, 1, N_TEXT_CTX as i32, 4, 2, 1, N_MELS as i32, 1]);
}

#[test]
fn writes_the_tensors_whisper_cpp_expects() {
    let directory = tempfile::tempdir().expect("temp dir");
    let variables = synthetic_variables();
    let ct2_path = write_file(directory.path(), "model.bin", &synthetic_ct2_bytes(&variables));
    let vocabulary: Vec<Vec<u8>> = (0..N_VOCAB - 2).map(|idx| format!("tok{idx}").into_bytes()).collect();
    let mut ggml_bytes = Vec::new();
    let hparams = convert_ct2_to_ggml(&ct2_path, &synthetic_mel_filters(), &vocabulary, &mut ggml_bytes).expect("convert");
    let ggml_path = write_file(directory.path(), "ggml.bin", &ggml_bytes);

    let summary = read_ggml_summary(&ggml_path).expect("ggml summary");
    assert_eq!(summary.hparams, hparams);
    assert_eq!(summary.mel_filters, synthetic_mel_filters());
    assert_eq!(summary.vocabulary, vocabulary);

    let written: Vec<(String, Vec<usize>, GgmlType)> = summary
        .tensors
        .iter()
        .map(|tensor| (tensor.name.clone(), tensor.dims.iter().rev().copied().collect(), tensor.ggml_type))
        .collect();
    assert_eq!(written, expected_whisper_cpp_tensors());

    // The fused projections are split by rows; the key's bias (zero in Whisper) is dropped.
    let n = N_STATE;
    let fused_weight = variable_values(&variables, "encoder/layer_0/self_attention/linear_0/weight");
    let fused_bias = variable_values(&variables, "encoder/layer_0/self_attention/linear_0/bias");
    assert_eq!(ggml_tensor_values(&ggml_bytes, "encoder.blocks.0.attn.query.weight", &summary), fused_weight[..n * n]);
    assert_eq!(ggml_tensor_values(&ggml_bytes, "encoder.blocks.0.attn.key.weight", &summary), fused_weight[n * n..2 * n * n]);
    assert_eq!(ggml_tensor_values(&ggml_bytes, "encoder.blocks.0.attn.value.weight", &summary), fused_weight[2 * n * n..]);
    assert_eq!(ggml_tensor_values(&ggml_bytes, "encoder.blocks.0.attn.query.bias", &summary), fused_bias[..n]);
    assert_eq!(ggml_tensor_values(&ggml_bytes, "encoder.blocks.0.attn.value.bias", &summary), fused_bias[2 * n..]);
    let cross_kv = variable_values(&variables, "decoder/layer_0/attention/linear_1/weight");
    let cross_kv_bias = variable_values(&variables, "decoder/layer_0/attention/linear_1/bias");
    assert_eq!(ggml_tensor_values(&ggml_bytes, "decoder.blocks.0.cross_attn.key.weight", &summary), cross_kv[..n * n]);
    assert_eq!(ggml_tensor_values(&ggml_bytes, "decoder.blocks.0.cross_attn.value.weight", &summary), cross_kv[n * n..]);
    assert_eq!(ggml_tensor_values(&ggml_bytes, "decoder.blocks.0.cross_attn.value.bias", &summary), cross_kv_bias[n..]);
    // Whole tensors keep their values whatever the type conversion (all values are exact in f16).
    for (tensor_name, variable_name) in [
        ("encoder.conv1.weight", "encoder/conv1/weight"),
        ("encoder.conv2.bias", "encoder/conv2/bias"),
        ("encoder.positional_embedding", "encoder/position_encodings/encodings"),
        ("decoder.token_embedding.weight", "decoder/embeddings/weight"),
        ("decoder.blocks.0.mlp.2.weight", "decoder/layer_0/ffn/linear_1/weight"),
        ("decoder.blocks.0.cross_attn_ln.bias", "decoder/layer_0/attention/layer_norm/beta"),
        ("decoder.ln.weight", "decoder/layer_norm/gamma"),
    ] {
        assert_eq!(ggml_tensor_values(&ggml_bytes, tensor_name, &summary), variable_values(&variables, variable_name), "{tensor_name}");
    }
}

#[test]
fn a_truncated_or_damaged_ct2_file_is_an_error_not_a_panic() {
    let directory = tempfile::tempdir().expect("temp dir");
    let variables = synthetic_variables();
    let bytes = synthetic_ct2_bytes(&variables);
    for cut_len in (0..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
        let path = write_file(directory.path(), "truncated.bin", &bytes[..cut_len]);
        let outcome = read_ct2_index(&path);
        assert!(matches!(outcome, Err(ModelError::Conversion { .. })), "cut at {cut_len}: {outcome:?}");
    }
    let mut bad_version = bytes.clone();
    bad_version[0] = 5;
    let path = write_file(directory.path(), "version.bin", &bad_version);
    let error = read_ct2_index(&path).expect_err("version 5 is rejected");
    assert!(error.to_string().contains("format version 5"), "{error}");

    // A model without the decoder's cross-attention cannot be converted.
    let without_cross: Vec<SyntheticVariable> =
        variables.into_iter().filter(|variable| !variable.name.contains("/attention/linear_2/")).collect();
    let path = write_file(directory.path(), "incomplete.bin", &synthetic_ct2_bytes(&without_cross));
    let error = convert_ct2_to_ggml(&path, &synthetic_mel_filters(), &[], &mut Vec::new()).expect_err("missing variable");
    assert!(error.to_string().contains("decoder/layer_0/attention/linear_2/weight is missing"), "{error}");
}

#[test]
fn f16_conversion_round_trips_and_rounds_to_nearest_even() {
    for bits in 0..=u16::MAX {
        let value = f16_bits_to_f32(bits);
        if value.is_nan() {
            assert!(f16_bits_to_f32(f32_to_f16_bits(value)).is_nan());
        } else {
            assert_eq!(f32_to_f16_bits(value), bits, "{bits:#06x} = {value}");
        }
    }
    let ulp_at_one = 2_f32.powi(-10);
    assert_eq!(f32_to_f16_bits(1.0 + ulp_at_one / 2.0), 0x3c00, "a tie rounds to the even 1.0");
    assert_eq!(f32_to_f16_bits(1.0 + 1.5 * ulp_at_one), 0x3c02, "a tie rounds to the even neighbour");
    assert_eq!(f32_to_f16_bits(1.0 + 0.6 * ulp_at_one), 0x3c01);
    assert_eq!(f32_to_f16_bits(65_519.0), 0x7bff);
    assert_eq!(f32_to_f16_bits(65_520.0), 0x7c00, "overflows to infinity");
    assert_eq!(f32_to_f16_bits(2_f32.powi(-24)), 0x0001, "smallest subnormal");
    assert_eq!(f32_to_f16_bits(2_f32.powi(-25)), 0x0000, "half the smallest subnormal ties to zero");
    assert_eq!(f32_to_f16_bits(1.5 * 2_f32.powi(-25)), 0x0001);
    assert_eq!(f32_to_f16_bits(-2.0), 0xc000);
}

#[test]
fn parses_whisper_vocabularies_and_npy_arrays() {
    let english = "IQ== 0\nIg== 1\nIGRvZw== 2\n";
    assert_eq!(parse_tiktoken(english).expect("tiktoken"), vec![b"!".to_vec(), b"\"".to_vec(), b" dog".to_vec()]);
    assert!(parse_tiktoken("IQ== 1\n").is_err(), "ranks must start at 0");
    assert!(parse_tiktoken("!!! 0\n").is_err(), "bad base64");

    // An English-only model (fewer than 51865 tokens) gets GPT-2's tokens plus <|endoftext|>.
    let multilingual = "IQ== 0\n= 1\n";
    let english_vocabulary = ggml_vocabulary(51_864, multilingual, english).expect("english");
    assert_eq!(english_vocabulary.len(), 4);
    assert_eq!(english_vocabulary[3], b"<|endoftext|>".to_vec());
    let multilingual_vocabulary = ggml_vocabulary(51_865, multilingual, english).expect("multilingual");
    assert_eq!(multilingual_vocabulary, vec![b"!".to_vec(), Vec::new()]);

    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    let padded = format!("{header:<118}\n");
    npy.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    npy.extend_from_slice(padded.as_bytes());
    for value in [1.0_f32, 2.0, 3.0, 4.0, 5.0, 6.5] {
        npy.extend_from_slice(&value.to_le_bytes());
    }
    let (shape, values) = read_npy_f32(&npy).expect("npy");
    assert_eq!(shape, vec![2, 3]);
    assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
    assert!(read_npy_f32(&npy[..npy.len() - 1]).is_err(), "short data");
}
