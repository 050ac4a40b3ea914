//! Conversion of a CTranslate2 Whisper model (`model.bin`, faster-whisper's format) into the ggml
//! file that whisper.cpp loads, in plain Rust.
//!
//! Both formats are described in `/work/shared/MODELS.md`. The tensor names, shapes and types
//! written here are exactly those whisper.cpp's `whisper_model_load` creates (whisper-rs-sys 0.15.0,
//! `src/whisper.cpp` and `src/whisper-arch.h`), and they are written in the order of OpenAI
//! Whisper's `state_dict`, as whisper.cpp's own `convert-pt-to-ggml.py` does. The CTranslate2 file
//! is read with ordinary seeks and reads, one slice at a time, so memory stays small.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::whisper_assets::MelFilters;
use crate::ModelError;

/// The name and version recorded as `produced_by` in the manifest; bump it when the output changes.
pub const CONVERTER_NAME: &str = "ct2-to-ggml v1";

/// `ggml` in ASCII, read by whisper.cpp as a little-endian u32 (`GGML_FILE_MAGIC`).
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// The CTranslate2 binary format version this reader understands (the one the registry files use).
pub const SUPPORTED_CT2_VERSION: u32 = 6;

/// The CTranslate2 model specification of Whisper models.
pub const WHISPER_SPEC_NAME: &str = "WhisperSpec";

/// ggml's `ftype` for "big matrices in f16, the rest f32" (`GGML_FTYPE_MOSTLY_F16`).
pub const GGML_FTYPE_MOSTLY_F16: i32 = 1;

/// The element types a CTranslate2 variable can have, by their on-disk code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2DataType {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2DataType {
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::F32),
            1 => Some(Self::I8),
            2 => Some(Self::I16),
            3 => Some(Self::I32),
            4 => Some(Self::F16),
            5 => Some(Self::Bf16),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Self::F32 => 0,
            Self::I8 => 1,
            Self::I16 => 2,
            Self::I32 => 3,
            Self::F16 => 4,
            Self::Bf16 => 5,
        }
    }

    pub fn element_size_bytes(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One variable of a CTranslate2 model: where its data lies in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ct2Variable {
    pub name: String,
    pub dims: Vec<usize>,
    pub data_type: Ct2DataType,
    pub data_offset_bytes: u64,
    pub data_len_bytes: u64,
}

impl Ct2Variable {
    pub fn n_elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// The index of a CTranslate2 `model.bin`: its header and every variable's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ct2Model {
    pub path: PathBuf,
    pub format_version: u32,
    pub spec_name: String,
    pub spec_revision: u32,
    pub variables: Vec<Ct2Variable>,
    /// `(alias, target)` pairs, e.g. `decoder/projection/weight` → `decoder/embeddings/weight`.
    pub aliases: Vec<(String, String)>,
}

impl Ct2Model {
    pub fn variable(&self, name: &str) -> Option<&Ct2Variable> {
        self.variables.iter().find(|variable| variable.name == name)
    }

    fn require_variable(&self, name: &str) -> Result<&Ct2Variable, ModelError> {
        self.variable(name).ok_or_else(|| self.error(format!("variable {name} is missing")))
    }

    fn error(&self, reason: String) -> ModelError {
        ModelError::Conversion { path: self.path.clone(), reason }
    }

    /// All values of a variable as f32 (float types only).
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let variable = self.require_variable(name)?;
        let mut file = File::open(&self.path)?;
        read_elements_f32(self, &mut file, variable, 0, variable.n_elements())
    }

    /// The value of an integer scalar variable such as `encoder/num_heads`.
    pub fn read_scalar_integer(&self, name: &str) -> Result<i64, ModelError> {
        let variable = self.require_variable(name)?;
        if variable.n_elements() != 1 {
            return Err(self.error(format!("variable {name} is not a scalar (dims {:?})", variable.dims)));
        }
        let mut bytes = vec![0_u8; variable.data_type.element_size_bytes()];
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(variable.data_offset_bytes))?;
        file.read_exact(&mut bytes)?;
        match variable.data_type {
            Ct2DataType::I8 => Ok(i64::from(bytes[0] as i8)),
            Ct2DataType::I16 => Ok(i64::from(i16::from_le_bytes([bytes[0], bytes[1]]))),
            Ct2DataType::I32 => Ok(i64::from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))),
            other => Err(self.error(format!("variable {name} is {other:?}, expected an integer"))),
        }
    }
}

/// Reads the header and variable index of a CTranslate2 `model.bin`, seeking over the data.
pub fn read_ct2_index(path: &Path) -> Result<Ct2Model, ModelError> {
    let file = File::open(path)?;
    let file_len_bytes = file.metadata()?.len();
    let mut reader = PositionedReader { inner: BufReader::new(file), position: 0, path };

    let format_version = reader.read_u32("format version")?;
    if format_version != SUPPORTED_CT2_VERSION {
        return Err(reader.error(format!(
            "CTranslate2 format version {format_version} is not supported (expected {SUPPORTED_CT2_VERSION})"
        )));
    }
    let spec_name = reader.read_string("spec name")?;
    let spec_revision = reader.read_u32("spec revision")?;
    let n_variables = reader.read_u32("variable count")?;

    let mut variables = Vec::new();
    for variable_idx in 0..n_variables {
        let name = reader.read_string(&format!("name of variable {variable_idx}"))?;
        let rank = reader.read_u8(&format!("rank of {name}"))?;
        let mut dims = Vec::with_capacity(usize::from(rank));
        for _ in 0..rank {
            dims.push(reader.read_u32(&format!("dims of {name}"))? as usize);
        }
        let type_code = reader.read_u8(&format!("data type of {name}"))?;
        let data_type = Ct2DataType::from_code(type_code)
            .ok_or_else(|| reader.error(format!("variable {name} has unknown data type code {type_code}")))?;
        let data_len_bytes = u64::from(reader.read_u32(&format!("byte count of {name}"))?);
        let expected_len_bytes = dims
            .iter()
            .try_fold(data_type.element_size_bytes() as u64, |product, &dim| product.checked_mul(dim as u64));
        if expected_len_bytes != Some(data_len_bytes) {
            return Err(reader.error(format!(
                "variable {name} has {data_len_bytes} bytes but dims {dims:?} of {data_type:?} need {expected_len_bytes:?}"
            )));
        }
        let data_offset_bytes = reader.position;
        if data_offset_bytes + data_len_bytes > file_len_bytes {
            return Err(reader.error(format!(
                "variable {name} runs past the end of the file ({} > {file_len_bytes} bytes)",
                data_offset_bytes + data_len_bytes
            )));
        }
        reader.skip(data_len_bytes)?;
        variables.push(Ct2Variable { name, dims, data_type, data_offset_bytes, data_len_bytes });
    }

    let n_aliases = reader.read_u32("alias count")?;
    let mut aliases = Vec::new();
    for alias_idx in 0..n_aliases {
        let alias = reader.read_string(&format!("alias {alias_idx}"))?;
        let target = reader.read_string(&format!("target of alias {alias}"))?;
        aliases.push((alias, target));
    }
    if reader.position != file_len_bytes {
        return Err(reader.error(format!(
            "{} unexpected bytes after the alias table",
            file_len_bytes.saturating_sub(reader.position)
        )));
    }
    Ok(Ct2Model { path: path.to_path_buf(), format_version, spec_name, spec_revision, variables, aliases })
}

/// A reader that knows its byte offset, so errors can say where the file is broken.
struct PositionedReader<'a, R> {
    inner: R,
    position: u64,
    path: &'a Path,
}

impl<R: Read + Seek> PositionedReader<'_, R> {
    fn error(&self, reason: String) -> ModelError {
        ModelError::Conversion { path: self.path.to_path_buf(), reason }
    }

    fn read_bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ModelError> {
        let mut bytes = [0_u8; N];
        self.inner.read_exact(&mut bytes).map_err(|error| {
            self.error(format!("reading {what} at byte {}: {error}", self.position))
        })?;
        self.position += N as u64;
        Ok(bytes)
    }

    fn read_u8(&mut self, what: &str) -> Result<u8, ModelError> {
        Ok(self.read_bytes::<1>(what)?[0])
    }

    fn read_u32(&mut self, what: &str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.read_bytes::<4>(what)?))
    }

    /// A u16 length (counting a trailing NUL) followed by that many bytes.
    fn read_string(&mut self, what: &str) -> Result<String, ModelError> {
        let start = self.position;
        let len = usize::from(u16::from_le_bytes(self.read_bytes::<2>(what)?));
        let mut bytes = vec![0_u8; len];
        self.inner.read_exact(&mut bytes).map_err(|error| self.error(format!("reading {what} at byte {start}: {error}")))?;
        self.position += len as u64;
        if bytes.last() == Some(&0) {
            bytes.pop();
        }
        String::from_utf8(bytes).map_err(|_| self.error(format!("{what} at byte {start} is not UTF-8")))
    }

    fn skip(&mut self, n_bytes: u64) -> Result<(), ModelError> {
        let n_bytes_signed = i64::try_from(n_bytes).map_err(|_| self.error("variable too large".into()))?;
        self.inner.seek_relative(n_bytes_signed)?;
        self.position += n_bytes;
        Ok(())
    }
}

/// Whisper's hyper-parameters as a ggml file stores them (the order of [`WhisperHparams::to_array`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhisperHparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

impl WhisperHparams {
    /// The eleven values in the order whisper.cpp reads them.
    pub fn to_array(&self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    pub fn from_array(values: [i32; 11]) -> Self {
        let [n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype] =
            values;
        Self {
            n_vocab,
            n_audio_ctx,
            n_audio_state,
            n_audio_head,
            n_audio_layer,
            n_text_ctx,
            n_text_state,
            n_text_head,
            n_text_layer,
            n_mels,
            ftype,
        }
    }
}

/// Derives the hyper-parameters from the variables' shapes and the `num_heads` scalars.
pub fn whisper_hparams(model: &Ct2Model) -> Result<WhisperHparams, ModelError> {
    if model.spec_name != WHISPER_SPEC_NAME {
        return Err(model.error(format!("spec {:?} is not {WHISPER_SPEC_NAME}", model.spec_name)));
    }
    let dims_of = |name: &str, rank: usize| -> Result<Vec<usize>, ModelError> {
        let variable = model.require_variable(name)?;
        if variable.dims.len() != rank {
            return Err(model.error(format!("variable {name} has dims {:?}, expected rank {rank}", variable.dims)));
        }
        Ok(variable.dims.clone())
    };
    let to_i32 = |value: usize, what: &str| -> Result<i32, ModelError> {
        i32::try_from(value).map_err(|_| model.error(format!("{what} {value} does not fit in i32")))
    };
    let token_embedding_dims = dims_of("decoder/embeddings/weight", 2)?;
    let audio_position_dims = dims_of("encoder/position_encodings/encodings", 2)?;
    let text_position_dims = dims_of("decoder/position_encodings/encodings", 2)?;
    let conv1_dims = dims_of("encoder/conv1/weight", 3)?;
    let n_audio_head = model.read_scalar_integer("encoder/num_heads")?;
    let n_text_head = model.read_scalar_integer("decoder/num_heads")?;
    Ok(WhisperHparams {
        n_vocab: to_i32(token_embedding_dims[0], "n_vocab")?,
        n_audio_ctx: to_i32(audio_position_dims[0], "n_audio_ctx")?,
        n_audio_state: to_i32(audio_position_dims[1], "n_audio_state")?,
        n_audio_head: i32::try_from(n_audio_head).map_err(|_| model.error(format!("bad n_audio_head {n_audio_head}")))?,
        n_audio_layer: to_i32(count_layers(model, "encoder/layer_"), "n_audio_layer")?,
        n_text_ctx: to_i32(text_position_dims[0], "n_text_ctx")?,
        n_text_state: to_i32(token_embedding_dims[1], "n_text_state")?,
        n_text_head: i32::try_from(n_text_head).map_err(|_| model.error(format!("bad n_text_head {n_text_head}")))?,
        n_text_layer: to_i32(count_layers(model, "decoder/layer_"), "n_text_layer")?,
        n_mels: to_i32(conv1_dims[1], "n_mels")?,
        ftype: GGML_FTYPE_MOSTLY_F16,
    })
}

/// One more than the highest `N` in variables named `{prefix}N/…`; a gap shows up later as a
/// missing variable.
fn count_layers(model: &Ct2Model, prefix: &str) -> usize {
    model
        .variables
        .iter()
        .filter_map(|variable| variable.name.strip_prefix(prefix))
        .filter_map(|rest| rest.split('/').next()?.parse::<usize>().ok())
        .map(|layer_idx| layer_idx + 1)
        .max()
        .unwrap_or(0)
}

/// The element types of a ggml tensor, by their code in the file (`enum ggml_type`): the plain
/// types the converter writes and the quantised types `quantize` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    /// 5-bit with a minimum: per 32 values an f16 scale and minimum, the fifth bits and nibbles.
    Q5_1,
    /// 8-bit: per 32 values an f16 scale and 32 × i8.
    Q8_0,
}

/// Values per block of the quantised types (`QK5_1`, `QK8_0`).
pub const QUANT_BLOCK_VALUES: usize = 32;

impl GgmlType {
    pub fn code(self) -> i32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(Self::F32),
            1 => Some(Self::F16),
            7 => Some(Self::Q5_1),
            8 => Some(Self::Q8_0),
            _ => None,
        }
    }

    /// Bytes of one block: a single value for the plain types, [`QUANT_BLOCK_VALUES`] values
    /// for the quantised ones (`sizeof(block_q5_1)`, `sizeof(block_q8_0)`).
    pub fn block_size_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
            Self::Q5_1 => 2 + 2 + 4 + QUANT_BLOCK_VALUES / 2,
            Self::Q8_0 => 2 + QUANT_BLOCK_VALUES,
        }
    }

    pub fn block_values(self) -> usize {
        match self {
            Self::F32 | Self::F16 => 1,
            Self::Q5_1 | Self::Q8_0 => QUANT_BLOCK_VALUES,
        }
    }

    /// Bytes of a tensor of this type with row-major `dims`; `None` when its rows do not split
    /// into whole blocks (ggml quantises row by row).
    pub fn data_len_bytes(self, dims: &[usize]) -> Option<u64> {
        let row_len = dims.last().copied().unwrap_or(1);
        if row_len % self.block_values() != 0 {
            return None;
        }
        let n_elements: usize = dims.iter().product();
        Some((n_elements / self.block_values() * self.block_size_bytes()) as u64)
    }
}

/// One tensor to write: its ggml name, shape in row-major (PyTorch) order, type, and which rows
/// of which CTranslate2 variable hold its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorPlan {
    pub name: String,
    pub dims: Vec<usize>,
    pub ggml_type: GgmlType,
    pub variable: String,
    /// The first row (index along the variable's first dimension) taken; non-zero for the parts
    /// of CTranslate2's fused q,k,v and k,v projections.
    pub first_row: usize,
}

impl TensorPlan {
    pub fn n_elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// Which rows of a variable a tensor takes.
#[derive(Clone, Copy)]
enum Rows {
    /// The whole variable (reshaped if needed: conv biases become `[n, 1]`).
    Whole,
    /// `dims[0]` rows starting at this one.
    From(usize),
}

/// The full list of tensors whisper.cpp expects, in `state_dict` order, mapped onto `model`'s
/// variables and checked against their shapes.
pub fn tensor_plan(model: &Ct2Model, hparams: &WhisperHparams) -> Result<Vec<TensorPlan>, ModelError> {
    let as_usize = |value: i32| usize::try_from(value).map_err(|_| model.error(format!("negative hyper-parameter {value}")));
    let n_audio_state = as_usize(hparams.n_audio_state)?;
    let n_text_state = as_usize(hparams.n_text_state)?;
    let mut plan = Vec::new();
    let mut push = |name: String, dims: Vec<usize>, ggml_type: GgmlType, variable: String, rows: Rows| -> Result<(), ModelError> {
        let source = model.require_variable(&variable)?;
        let row_len: usize = dims[1..].iter().product();
        let source_row_len: usize = source.dims.iter().skip(1).product();
        let source_n_rows = source.dims.first().copied().unwrap_or(1);
        let first_row = match rows {
            Rows::Whole => {
                if source.n_elements() != dims.iter().product::<usize>() || source_n_rows != dims[0] {
                    return Err(model.error(format!(
                        "variable {variable} has dims {:?}, but {name} needs {dims:?}",
                        source.dims
                    )));
                }
                0
            }
            Rows::From(first_row) => {
                if source_row_len != row_len || first_row + dims[0] > source_n_rows {
                    return Err(model.error(format!(
                        "variable {variable} has dims {:?}, too small for rows {first_row}..{} of {name} {dims:?}",
                        source.dims,
                        first_row + dims[0]
                    )));
                }
                first_row
            }
        };
        if !matches!(source.data_type, Ct2DataType::F32 | Ct2DataType::F16 | Ct2DataType::Bf16) {
            return Err(model.error(format!(
                "variable {variable} is {:?}; quantised models are not supported, convert with float16",
                source.data_type
            )));
        }
        plan.push(TensorPlan { name, dims, ggml_type, variable, first_row });
        Ok(())
    };

    use GgmlType::{F16, F32};
    let n_audio_ctx = as_usize(hparams.n_audio_ctx)?;
    let n_text_ctx = as_usize(hparams.n_text_ctx)?;
    let n_mels = as_usize(hparams.n_mels)?;
    let n_vocab = as_usize(hparams.n_vocab)?;

    push("encoder.positional_embedding".into(), vec![n_audio_ctx, n_audio_state], F32, "encoder/position_encodings/encodings".into(), Rows::Whole)?;
    push("encoder.conv1.weight".into(), vec![n_audio_state, n_mels, 3], F16, "encoder/conv1/weight".into(), Rows::Whole)?;
    push("encoder.conv1.bias".into(), vec![n_audio_state, 1], F32, "encoder/conv1/bias".into(), Rows::Whole)?;
    push("encoder.conv2.weight".into(), vec![n_audio_state, n_audio_state, 3], F16, "encoder/conv2/weight".into(), Rows::Whole)?;
    push("encoder.conv2.bias".into(), vec![n_audio_state, 1], F32, "encoder/conv2/bias".into(), Rows::Whole)?;
    for layer_idx in 0..as_usize(hparams.n_audio_layer)? {
        let block = format!("encoder.blocks.{layer_idx}");
        let layer = format!("encoder/layer_{layer_idx}");
        push_self_attention(&mut push, &block, &layer, n_audio_state)?;
        push_mlp(&mut push, &block, &layer, n_audio_state)?;
    }
    push("encoder.ln_post.weight".into(), vec![n_audio_state], F32, "encoder/layer_norm/gamma".into(), Rows::Whole)?;
    push("encoder.ln_post.bias".into(), vec![n_audio_state], F32, "encoder/layer_norm/beta".into(), Rows::Whole)?;

    push("decoder.positional_embedding".into(), vec![n_text_ctx, n_text_state], F32, "decoder/position_encodings/encodings".into(), Rows::Whole)?;
    push("decoder.token_embedding.weight".into(), vec![n_vocab, n_text_state], F16, "decoder/embeddings/weight".into(), Rows::Whole)?;
    for layer_idx in 0..as_usize(hparams.n_text_layer)? {
        let block = format!("decoder.blocks.{layer_idx}");
        let layer = format!("decoder/layer_{layer_idx}");
        push_self_attention(&mut push, &block, &layer, n_text_state)?;
        let n = n_text_state;
        let cross = format!("{layer}/attention");
        push(format!("{block}.cross_attn.query.weight"), vec![n, n], F16, format!("{cross}/linear_0/weight"), Rows::Whole)?;
        push(format!("{block}.cross_attn.query.bias"), vec![n], F32, format!("{cross}/linear_0/bias"), Rows::Whole)?;
        // linear_1 is the fused key,value projection; the key has no bias in Whisper.
        push(format!("{block}.cross_attn.key.weight"), vec![n, n], F16, format!("{cross}/linear_1/weight"), Rows::From(0))?;
        push(format!("{block}.cross_attn.value.weight"), vec![n, n], F16, format!("{cross}/linear_1/weight"), Rows::From(n))?;
        push(format!("{block}.cross_attn.value.bias"), vec![n], F32, format!("{cross}/linear_1/bias"), Rows::From(n))?;
        push(format!("{block}.cross_attn.out.weight"), vec![n, n], F16, format!("{cross}/linear_2/weight"), Rows::Whole)?;
        push(format!("{block}.cross_attn.out.bias"), vec![n], F32, format!("{cross}/linear_2/bias"), Rows::Whole)?;
        push(format!("{block}.cross_attn_ln.weight"), vec![n], F32, format!("{cross}/layer_norm/gamma"), Rows::Whole)?;
        push(format!("{block}.cross_attn_ln.bias"), vec![n], F32, format!("{cross}/layer_norm/beta"), Rows::Whole)?;
        push_mlp(&mut push, &block, &layer, n_text_state)?;
    }
    push("decoder.ln.weight".into(), vec![n_text_state], F32, "decoder/layer_norm/gamma".into(), Rows::Whole)?;
    push("decoder.ln.bias".into(), vec![n_text_state], F32, "decoder/layer_norm/beta".into(), Rows::Whole)?;
    Ok(plan)
}

type PushTensor<'a> = dyn FnMut(String, Vec<usize>, GgmlType, String, Rows) -> Result<(), ModelError> + 'a;

/// `attn.{query,key,value,out}` and `attn_ln` of one block; `linear_0` is the fused q,k,v
/// projection (the key has no bias in Whisper).
fn push_self_attention(push: &mut PushTensor<'_>, block: &str, layer: &str, n: usize) -> Result<(), ModelError> {
    use GgmlType::{F16, F32};
    let attention = format!("{layer}/self_attention");
    push(format!("{block}.attn.query.weight"), vec![n, n], F16, format!("{attention}/linear_0/weight"), Rows::From(0))?;
    push(format!("{block}.attn.query.bias"), vec![n], F32, format!("{attention}/linear_0/bias"), Rows::From(0))?;
    push(format!("{block}.attn.key.weight"), vec![n, n], F16, format!("{attention}/linear_0/weight"), Rows::From(n))?;
    push(format!("{block}.attn.value.weight"), vec![n, n], F16, format!("{attention}/linear_0/weight"), Rows::From(2 * n))?;
    push(format!("{block}.attn.value.bias"), vec![n], F32, format!("{attention}/linear_0/bias"), Rows::From(2 * n))?;
    push(format!("{block}.attn.out.weight"), vec![n, n], F16, format!("{attention}/linear_1/weight"), Rows::Whole)?;
    push(format!("{block}.attn.out.bias"), vec![n], F32, format!("{attention}/linear_1/bias"), Rows::Whole)?;
    push(format!("{block}.attn_ln.weight"), vec![n], F32, format!("{attention}/layer_norm/gamma"), Rows::Whole)?;
    push(format!("{block}.attn_ln.bias"), vec![n], F32, format!("{attention}/layer_norm/beta"), Rows::Whole)?;
    Ok(())
}

/// `mlp.0`, `mlp.2` (the two linear layers around the GELU) and `mlp_ln` of one block.
fn push_mlp(push: &mut PushTensor<'_>, block: &str, layer: &str, n: usize) -> Result<(), ModelError> {
    use GgmlType::{F16, F32};
    let ffn = format!("{layer}/ffn");
    push(format!("{block}.mlp.0.weight"), vec![4 * n, n], F16, format!("{ffn}/linear_0/weight"), Rows::Whole)?;
    push(format!("{block}.mlp.0.bias"), vec![4 * n], F32, format!("{ffn}/linear_0/bias"), Rows::Whole)?;
    push(format!("{block}.mlp.2.weight"), vec![n, 4 * n], F16, format!("{ffn}/linear_1/weight"), Rows::Whole)?;
    push(format!("{block}.mlp.2.bias"), vec![n], F32, format!("{ffn}/linear_1/bias"), Rows::Whole)?;
    push(format!("{block}.mlp_ln.weight"), vec![n], F32, format!("{ffn}/layer_norm/gamma"), Rows::Whole)?;
    push(format!("{block}.mlp_ln.bias"), vec![n], F32, format!("{ffn}/layer_norm/beta"), Rows::Whole)?;
    Ok(())
}

/// Converts the CTranslate2 model at `ct2_model_bin` into a ggml file written to `output`, with
/// the given mel filter bank and token list; returns the hyper-parameters written.
pub fn convert_ct2_to_ggml(
    ct2_model_bin: &Path,
    mel_filters: &MelFilters,
    vocabulary: &[Vec<u8>],
    output: &mut dyn Write,
) -> Result<WhisperHparams, ModelError> {
    let model = read_ct2_index(ct2_model_bin)?;
    let hparams = whisper_hparams(&model)?;
    let plan = tensor_plan(&model, &hparams)?;
    write_ggml(&model, &hparams, &plan, mel_filters, vocabulary, output)?;
    Ok(hparams)
}

/// Writes the ggml file: magic, hyper-parameters, mel filters, vocabulary, then the tensors of
/// `plan` with their data read from `model`'s file.
pub fn write_ggml(
    model: &Ct2Model,
    hparams: &WhisperHparams,
    plan: &[TensorPlan],
    mel_filters: &MelFilters,
    vocabulary: &[Vec<u8>],
    output: &mut dyn Write,
) -> Result<(), ModelError> {
    let to_i32 = |value: usize, what: &str| -> Result<i32, ModelError> {
        i32::try_from(value).map_err(|_| model.error(format!("{what} {value} does not fit in i32")))
    };
    if to_i32(mel_filters.n_mel, "n_mel")? != hparams.n_mels {
        return Err(model.error(format!(
            "the mel filter bank has {} bands but the model {}",
            mel_filters.n_mel, hparams.n_mels
        )));
    }
    if mel_filters.weights.len() != mel_filters.n_mel * mel_filters.n_fft {
        return Err(model.error("the mel filter bank's size does not match its shape".into()));
    }
    if vocabulary.len() > usize::try_from(hparams.n_vocab).unwrap_or(0) {
        return Err(model.error(format!("{} tokens given for a model of {}", vocabulary.len(), hparams.n_vocab)));
    }

    output.write_all(&GGML_MAGIC.to_le_bytes())?;
    for value in hparams.to_array() {
        output.write_all(&value.to_le_bytes())?;
    }
    output.write_all(&to_i32(mel_filters.n_mel, "n_mel")?.to_le_bytes())?;
    output.write_all(&to_i32(mel_filters.n_fft, "n_fft")?.to_le_bytes())?;
    let mut bytes = Vec::with_capacity(mel_filters.weights.len() * 4);
    for weight in &mel_filters.weights {
        bytes.extend_from_slice(&weight.to_le_bytes());
    }
    output.write_all(&bytes)?;

    output.write_all(&to_i32(vocabulary.len(), "vocabulary size")?.to_le_bytes())?;
    for token in vocabulary {
        output.write_all(&to_i32(token.len(), "token length")?.to_le_bytes())?;
        output.write_all(token)?;
    }

    let mut file = File::open(&model.path)?;
    for tensor in plan {
        let variable = model.require_variable(&tensor.variable)?;
        output.write_all(&to_i32(tensor.dims.len(), "rank")?.to_le_bytes())?;
        output.write_all(&to_i32(tensor.name.len(), "name length")?.to_le_bytes())?;
        output.write_all(&tensor.ggml_type.code().to_le_bytes())?;
        // ggml lists dimensions fastest-varying first, the reverse of row-major order.
        for &dim in tensor.dims.iter().rev() {
            output.write_all(&to_i32(dim, "dimension")?.to_le_bytes())?;
        }
        output.write_all(tensor.name.as_bytes())?;

        let row_len: usize = tensor.dims[1..].iter().product();
        let first_element = tensor.first_row * row_len;
        let n_elements = tensor.n_elements();
        // Bounded chunks keep memory small even for the token embedding (26 M values in base).
        const CHUNK_ELEMENTS: usize = 1 << 20;
        let mut done = 0;
        while done < n_elements {
            let chunk = CHUNK_ELEMENTS.min(n_elements - done);
            let bytes = match tensor.ggml_type {
                GgmlType::F32 => {
                    let values = read_elements_f32(model, &mut file, variable, first_element + done, chunk)?;
                    values.iter().flat_map(|value| value.to_le_bytes()).collect::<Vec<u8>>()
                }
                GgmlType::F16 => {
                    let values = read_elements_f16_bits(model, &mut file, variable, first_element + done, chunk)?;
                    values.iter().flat_map(|value| value.to_le_bytes()).collect::<Vec<u8>>()
                }
                GgmlType::Q5_1 | GgmlType::Q8_0 => {
                    return Err(model.error(format!(
                        "{} is planned as {:?}; the converter writes f32 and f16 only",
                        tensor.name, tensor.ggml_type
                    )));
                }
            };
            output.write_all(&bytes)?;
            done += chunk;
        }
    }
    output.flush()?;
    Ok(())
}

/// Reads the raw bytes of `n_elements` elements of `variable` starting at element `first_element`.
fn read_raw(
    model: &Ct2Model,
    file: &mut File,
    variable: &Ct2Variable,
    first_element: usize,
    n_elements: usize,
) -> Result<Vec<u8>, ModelError> {
    if first_element + n_elements > variable.n_elements() {
        return Err(model.error(format!(
            "elements {first_element}..{} are outside variable {} of {} elements",
            first_element + n_elements,
            variable.name,
            variable.n_elements()
        )));
    }
    let element_size = variable.data_type.element_size_bytes();
    let mut bytes = vec![0_u8; n_elements * element_size];
    file.seek(SeekFrom::Start(variable.data_offset_bytes + (first_element * element_size) as u64))?;
    file.read_exact(&mut bytes).map_err(|error| model.error(format!("reading variable {}: {error}", variable.name)))?;
    Ok(bytes)
}

fn read_elements_f32(
    model: &Ct2Model,
    file: &mut File,
    variable: &Ct2Variable,
    first_element: usize,
    n_elements: usize,
) -> Result<Vec<f32>, ModelError> {
    let bytes = read_raw(model, file, variable, first_element, n_elements)?;
    match variable.data_type {
        Ct2DataType::F32 => Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
        Ct2DataType::F16 => Ok(bytes.chunks_exact(2).map(|b| f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect()),
        Ct2DataType::Bf16 => Ok(bytes.chunks_exact(2).map(|b| bf16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect()),
        other => Err(model.error(format!("variable {} is {other:?}, expected a float type", variable.name))),
    }
}

fn read_elements_f16_bits(
    model: &Ct2Model,
    file: &mut File,
    variable: &Ct2Variable,
    first_element: usize,
    n_elements: usize,
) -> Result<Vec<u16>, ModelError> {
    if variable.data_type == Ct2DataType::F16 {
        let bytes = read_raw(model, file, variable, first_element, n_elements)?;
        return Ok(bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect());
    }
    let values = read_elements_f32(model, file, variable, first_element, n_elements)?;
    Ok(values.into_iter().map(f32_to_f16_bits).collect())
}

/// IEEE 754 half → single precision (exact).
pub fn f16_bits_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits & 0x8000) << 16;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let single_bits = match (exponent, mantissa) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal half: shift the mantissa up until its leading one is the implicit bit.
            let mut single_exponent = 127 - 15 + 1;
            let mut shifted = mantissa;
            while shifted & 0x400 == 0 {
                shifted <<= 1;
                single_exponent -= 1;
            }
            sign | (single_exponent << 23) | ((shifted & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (mantissa << 13),
        _ => sign | ((exponent + 127 - 15) << 23) | (mantissa << 13),
    };
    f32::from_bits(single_bits)
}

/// IEEE 754 single → half precision, rounding to nearest even (as numpy's `astype(float16)`).
pub fn f32_to_f16_bits(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    if exponent == 0xff {
        let nan_payload = if mantissa != 0 { 0x200 | (mantissa >> 13) as u16 } else { 0 };
        return sign | 0x7c00 | nan_payload;
    }
    let half_exponent = exponent - 127 + 15;
    if half_exponent >= 0x1f {
        return sign | 0x7c00;
    }
    if half_exponent <= 0 {
        if half_exponent < -10 {
            return sign;
        }
        let full_mantissa = mantissa | 0x80_0000;
        let shift = (14 - half_exponent) as u32;
        let truncated = full_mantissa >> shift;
        let remainder = full_mantissa & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let rounded = if remainder > halfway || (remainder == halfway && truncated & 1 == 1) { truncated + 1 } else { truncated };
        return sign | rounded as u16;
    }
    let truncated = ((half_exponent as u32) << 10) | (mantissa >> 13);
    let remainder = mantissa & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    let rounded = if remainder > 0x1000 || (remainder == 0x1000 && truncated & 1 == 1) { truncated + 1 } else { truncated };
    sign | rounded as u16
}

pub fn bf16_bits_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// What a ggml Whisper file contains, for verification and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct GgmlSummary {
    pub hparams: WhisperHparams,
    pub mel_filters: MelFilters,
    pub vocabulary: Vec<Vec<u8>>,
    pub tensors: Vec<GgmlTensorInfo>,
}

/// One tensor of a ggml file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgmlTensorInfo {
    pub name: String,
    /// Row-major (PyTorch) order, i.e. the file's order reversed.
    pub dims: Vec<usize>,
    pub ggml_type: GgmlType,
    pub data_offset_bytes: u64,
}

impl GgmlTensorInfo {
    /// Checked by [`read_ggml_summary`]: a tensor whose rows do not split into blocks is refused.
    pub fn data_len_bytes(&self) -> u64 {
        self.ggml_type.data_len_bytes(&self.dims).unwrap_or(0)
    }
}

/// Reads a ggml Whisper file's header, vocabulary and tensor index (seeking over tensor data).
pub fn read_ggml_summary(path: &Path) -> Result<GgmlSummary, ModelError> {
    let file = File::open(path)?;
    let file_len_bytes = file.metadata()?.len();
    let mut reader = PositionedReader { inner: BufReader::new(file), position: 0, path };
    let read_i32 = |reader: &mut PositionedReader<'_, BufReader<File>>, what: &str| -> Result<i32, ModelError> {
        Ok(i32::from_le_bytes(reader.read_bytes::<4>(what)?))
    };
    let read_count = |reader: &mut PositionedReader<'_, BufReader<File>>, what: &str| -> Result<usize, ModelError> {
        let value = read_i32(reader, what)?;
        usize::try_from(value).map_err(|_| reader.error(format!("negative {what} {value}")))
    };
    let magic = reader.read_u32("magic")?;
    if magic != GGML_MAGIC {
        return Err(reader.error(format!("bad magic {magic:#x}")));
    }
    let mut hparams = [0_i32; 11];
    for value in &mut hparams {
        *value = read_i32(&mut reader, "hyper-parameters")?;
    }
    let n_mel = read_count(&mut reader, "n_mel")?;
    let n_fft = read_count(&mut reader, "n_fft")?;
    let mut weights = Vec::new();
    for _ in 0..n_mel.saturating_mul(n_fft) {
        weights.push(f32::from_le_bytes(reader.read_bytes::<4>("mel filters")?));
    }
    let n_tokens = read_count(&mut reader, "vocabulary size")?;
    let mut vocabulary = Vec::new();
    for _ in 0..n_tokens {
        let len = read_count(&mut reader, "token length")?;
        let mut token = vec![0_u8; len];
        reader.inner.read_exact(&mut token).map_err(|error| reader.error(format!("reading a token: {error}")))?;
        reader.position += len as u64;
        vocabulary.push(token);
    }
    let mut tensors = Vec::new();
    while reader.position < file_len_bytes {
        let n_dims = read_count(&mut reader, "tensor rank")?;
        let name_len = read_count(&mut reader, "tensor name length")?;
        let type_code = read_i32(&mut reader, "tensor type")?;
        let ggml_type = GgmlType::from_code(type_code).ok_or_else(|| reader.error(format!("unknown tensor type {type_code}")))?;
        let mut dims = Vec::new();
        for _ in 0..n_dims {
            dims.push(read_count(&mut reader, "tensor dims")?);
        }
        dims.reverse();
        let mut name = vec![0_u8; name_len];
        reader.inner.read_exact(&mut name).map_err(|error| reader.error(format!("reading a tensor name: {error}")))?;
        reader.position += name_len as u64;
        let name = String::from_utf8(name).map_err(|_| reader.error("tensor name is not UTF-8".into()))?;
        let data_len_bytes = ggml_type
            .data_len_bytes(&dims)
            .ok_or_else(|| reader.error(format!("tensor {name}: rows of {dims:?} do not split into {ggml_type:?} blocks")))?;
        let info = GgmlTensorInfo { name, dims, ggml_type, data_offset_bytes: reader.position };
        if reader.position + data_len_bytes > file_len_bytes {
            return Err(reader.error(format!("tensor {} runs past the end of the file", info.name)));
        }
        reader.skip(data_len_bytes)?;
        tensors.push(info);
    }
    Ok(GgmlSummary {
        hparams: WhisperHparams::from_array(hparams),
        mel_filters: MelFilters { n_mel, n_fft, weights },
        vocabulary,
        tensors,
    })
}
