//! multilingual-e5-small sentence embeddings through ONNX Runtime and the `tokenizers` crate.

use std::path::Path;
use std::sync::Mutex;

use callsight_pipeline::engines::TextEmbedder;
use tokenizers::{Tokenizer, TruncationParams};

use crate::ModelError;

/// Width of an mE5-small sentence embedding.
pub const E5_EMBEDDING_DIM: usize = 384;
/// Longest input the model was trained on, special tokens included (XLM-R position table).
pub const E5_MAX_TOKENS: usize = 512;
/// `<pad>` in the XLM-R vocabulary; the attention mask hides it, so only the id must be valid.
const E5_PAD_TOKEN_ID: i64 = 1;
/// mE5 was trained with "query: " / "passage: " prefixes; symmetric tasks (similarity,
/// classification) use "query: " on both sides, as the model card says.
const E5_TEXT_PREFIX: &str = "query: ";
/// Texts per ONNX Runtime call: large enough to amortise the call, small enough that padding to
/// the longest text of a batch stays cheap (batches are built from length-sorted texts).
const E5_BATCH_SIZE: usize = 32;
const MODEL_NAME: &str = "multilingual-e5-small-q4";

/// multilingual-e5-small (4-bit) sentence embedder: L2-normalised 384-d vectors, ~100 languages.
pub struct E5Embedder {
    /// `ort` 2.0.0-rc.15 needs `&mut Session` to run; the lock lets `&self` callers share one
    /// session (ONNX Runtime parallelises inside a call with its intra-op threads).
    session: Mutex<ort::session::Session>,
    tokenizer: Tokenizer,
}

impl E5Embedder {
    /// Loads the ONNX model and `tokenizer.json`; `intra_threads` is ONNX Runtime's thread count per
    /// call. ONNX Runtime must already be loaded with [`crate::onnx::init_onnx_runtime`].
    pub fn load(model_path: &Path, tokenizer_path: &Path, intra_threads: usize) -> Result<Self, ModelError> {
        if !tokenizer_path.is_file() {
            return Err(ModelError::Missing { path: tokenizer_path.to_path_buf() });
        }
        let mut tokenizer = Tokenizer::from_file(tokenizer_path)
            .map_err(|e| ModelError::Corrupt { path: tokenizer_path.to_path_buf(), reason: e.to_string() })?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: E5_MAX_TOKENS, ..Default::default() }))
            .map_err(|e| ModelError::Corrupt { path: tokenizer_path.to_path_buf(), reason: e.to_string() })?;
        // Padding is done here per batch, not by the tokenizer.
        tokenizer.with_padding(None);

        let session = crate::onnx::load_session(model_path, intra_threads)?;
        let has_output = session.outputs().iter().any(|output| output.name() == "sentence_embedding");
        if !has_output {
            return Err(ModelError::Corrupt {
                path: model_path.to_path_buf(),
                reason: "the model has no `sentence_embedding` output".into(),
            });
        }
        Ok(Self { session: Mutex::new(session), tokenizer })
    }

    fn token_ids(&self, text: &str) -> Result<Vec<i64>, ModelError> {
        let prefixed = format!("{E5_TEXT_PREFIX}{text}");
        let encoding = self
            .tokenizer
            .encode(prefixed, true)
            .map_err(|e| ModelError::Inference { what: "mE5 tokenizer".into(), reason: e.to_string() })?;
        Ok(encoding.get_ids().iter().map(|&id| i64::from(id)).collect())
    }

    /// Runs one padded batch; returns one embedding per row.
    fn embed_batch(&self, batch_token_ids: &[&Vec<i64>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let inference_error = |reason: String| ModelError::Inference { what: "mE5".into(), reason };
        let n_rows = batch_token_ids.len();
        let n_columns = batch_token_ids.iter().map(|ids| ids.len()).max().unwrap_or(0).max(1);
        let mut input_ids = vec![E5_PAD_TOKEN_ID; n_rows * n_columns];
        let mut attention_mask = vec![0_i64; n_rows * n_columns];
        for (row_idx, ids) in batch_token_ids.iter().enumerate() {
            let row_start = row_idx * n_columns;
            input_ids[row_start..row_start + ids.len()].copy_from_slice(ids);
            attention_mask[row_start..row_start + ids.len()].fill(1);
        }
        let shape = [n_rows, n_columns];
        let input_ids = ort::value::Tensor::from_array((shape, input_ids)).map_err(|e| inference_error(e.to_string()))?;
        let attention_mask =
            ort::value::Tensor::from_array((shape, attention_mask)).map_err(|e| inference_error(e.to_string()))?;

        let mut session = self.session.lock().map_err(|_| inference_error("the session lock is poisoned".into()))?;
        let outputs = session
            .run(ort::inputs!["input_ids" => input_ids, "attention_mask" => attention_mask])
            .map_err(|e| inference_error(e.to_string()))?;
        let output = outputs
            .get("sentence_embedding")
            .ok_or_else(|| inference_error("no `sentence_embedding` output".into()))?;
        let (output_shape, values) = output.try_extract_tensor::<f32>().map_err(|e| inference_error(e.to_string()))?;
        if output_shape.len() != 2 || output_shape[0] as usize != n_rows || output_shape[1] as usize != E5_EMBEDDING_DIM {
            return Err(inference_error(format!(
                "`sentence_embedding` has shape {output_shape:?}, expected [{n_rows}, {E5_EMBEDDING_DIM}]"
            )));
        }
        Ok(values.chunks_exact(E5_EMBEDDING_DIM).map(<[f32]>::to_vec).collect())
    }
}

impl TextEmbedder for E5Embedder {
    fn embed(&self, texts: &[&str]) -> callsight_pipeline::error::Result<Vec<Vec<f32>>> {
        let token_ids = texts.iter().map(|text| self.token_ids(text)).collect::<Result<Vec<_>, _>>()?;
        // Batch texts of similar length together so little compute goes to padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&text_idx| token_ids[text_idx].len());
        let mut embeddings = vec![Vec::new(); texts.len()];
        for batch_order in order.chunks(E5_BATCH_SIZE) {
            let batch: Vec<&Vec<i64>> = batch_order.iter().map(|&text_idx| &token_ids[text_idx]).collect();
            for (&text_idx, embedding) in batch_order.iter().zip(self.embed_batch(&batch)?) {
                embeddings[text_idx] = embedding;
            }
        }
        Ok(embeddings)
    }

    fn model_name(&self) -> &str {
        MODEL_NAME
    }
}
