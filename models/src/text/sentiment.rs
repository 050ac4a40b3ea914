//! A 3-class sentiment head (multinomial logistic regression) over sentence embeddings.
//!
//! The weights are trained by `callsight_eval::sentiment::train_sentiment_head` and shipped inside
//! the binary from `models/assets/sentiment-head-me5-v1.json`, which also records the training
//! data and the held-out figures.

use std::path::Path;
use std::sync::Arc;

use callsight_pipeline::engines::{SentimentScorer, TextEmbedder};
use callsight_pipeline::types::{Sentiment, SentimentLabel};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The head trained on multilingual-e5-small embeddings, always compiled in.
pub const BUNDLED_SENTIMENT_HEAD_JSON: &str = include_str!("../../assets/sentiment-head-me5-v1.json");

/// Class order of a head file's rows of weights.
pub const SENTIMENT_HEAD_CLASSES: [SentimentLabel; 3] =
    [SentimentLabel::Negative, SentimentLabel::Neutral, SentimentLabel::Positive];

/// Held-out result of one scorer on one test set, as recorded in a head file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOutMetric {
    pub source: String,
    pub scorer: String,
    pub test_rows: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
}

/// Where a head came from: data, sizes, date, held-out figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadProvenance {
    /// One line per data source: name, licence, how labels were derived.
    pub training_data: Vec<String>,
    pub train_rows: usize,
    pub test_rows: usize,
    /// ISO 8601 date of training.
    pub trained_on: String,
    /// How the weights were fitted (regulariser, optimiser, class weights).
    pub method: String,
    pub held_out: Vec<HeldOutMetric>,
}

/// The on-disk form of a sentiment head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentHeadFile {
    pub name: String,
    /// `TextEmbedder::model_name` of the embedder the head was trained on.
    pub embedding_model: String,
    pub embedding_dim: usize,
    /// Always "negative", "neutral", "positive": the order of `weights` and `bias`.
    pub classes: Vec<SentimentLabel>,
    /// One row of `embedding_dim` weights per class.
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    pub provenance: HeadProvenance,
}

impl SentimentHeadFile {
    /// Checks shapes and class order, so scoring never indexes out of bounds.
    pub fn validate(&self) -> Result<(), String> {
        if self.classes != SENTIMENT_HEAD_CLASSES {
            return Err(format!("classes must be negative, neutral, positive; found {:?}", self.classes));
        }
        if self.weights.len() != SENTIMENT_HEAD_CLASSES.len() || self.bias.len() != SENTIMENT_HEAD_CLASSES.len() {
            return Err("weights and bias need one row per class".into());
        }
        if let Some(row) = self.weights.iter().find(|row| row.len() != self.embedding_dim) {
            return Err(format!("a weight row has {} values, expected {}", row.len(), self.embedding_dim));
        }
        let all_finite = self.weights.iter().flatten().chain(&self.bias).all(|value| value.is_finite());
        if !all_finite {
            return Err("weights contain a non-finite value".into());
        }
        Ok(())
    }

    /// Class probabilities (negative, neutral, positive) of one embedding.
    pub fn probabilities(&self, embedding: &[f32]) -> Result<[f32; 3], String> {
        if embedding.len() != self.embedding_dim {
            return Err(format!("embedding has {} values, the head expects {}", embedding.len(), self.embedding_dim));
        }
        let mut logits = [0.0_f32; 3];
        for (class_idx, logit) in logits.iter_mut().enumerate() {
            let dot: f32 = self.weights[class_idx].iter().zip(embedding).map(|(w, x)| w * x).sum();
            *logit = dot + self.bias[class_idx];
        }
        let max_logit = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps = logits.map(|logit| (logit - max_logit).exp());
        let total: f32 = exps.iter().sum();
        Ok(exps.map(|value| value / total))
    }
}

/// Label = most probable class; score = P(positive) − P(negative), in -1..1.
pub fn sentiment_from_probabilities(probabilities: [f32; 3]) -> Sentiment {
    let [negative, neutral, positive] = probabilities;
    let label = if neutral >= negative && neutral >= positive {
        SentimentLabel::Neutral
    } else if positive > negative {
        SentimentLabel::Positive
    } else {
        SentimentLabel::Negative
    };
    Sentiment { label, score: (positive - negative).clamp(-1.0, 1.0) }
}

/// Sentiment from a trained logistic-regression head over a sentence embedder.
pub struct SentimentHead {
    embedder: Arc<dyn TextEmbedder>,
    head: SentimentHeadFile,
    model_name: String,
}

impl SentimentHead {
    /// The bundled mE5 head over `embedder`, which must be the embedder it was trained on.
    pub fn bundled(embedder: Arc<dyn TextEmbedder>) -> Result<Self, ModelError> {
        Self::from_json(embedder, BUNDLED_SENTIMENT_HEAD_JSON, Path::new("<bundled sentiment head>"))
    }

    /// A head from a JSON file written by the trainer.
    pub fn from_file(embedder: Arc<dyn TextEmbedder>, head_path: &Path) -> Result<Self, ModelError> {
        if !head_path.is_file() {
            return Err(ModelError::Missing { path: head_path.to_path_buf() });
        }
        let json = std::fs::read_to_string(head_path)?;
        Self::from_json(embedder, &json, head_path)
    }

    /// `origin` names the JSON's source in error messages.
    pub fn from_json(embedder: Arc<dyn TextEmbedder>, json: &str, origin: &Path) -> Result<Self, ModelError> {
        let corrupt = |reason: String| ModelError::Corrupt { path: origin.to_path_buf(), reason };
        let head: SentimentHeadFile = serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
        head.validate().map_err(corrupt)?;
        if head.embedding_model != embedder.model_name() {
            return Err(corrupt(format!(
                "the head was trained on {} embeddings, not {}",
                head.embedding_model,
                embedder.model_name()
            )));
        }
        let model_name = format!("{}+{}", embedder.model_name(), head.name);
        Ok(Self { embedder, head, model_name })
    }

    pub fn head(&self) -> &SentimentHeadFile {
        &self.head
    }

    /// Class probabilities (negative, neutral, positive) per text.
    pub fn probabilities(&self, texts: &[&str]) -> callsight_pipeline::error::Result<Vec<[f32; 3]>> {
        let embeddings = self.embedder.embed(texts)?;
        embeddings
            .iter()
            .map(|embedding| {
                self.head
                    .probabilities(embedding)
                    .map_err(|reason| ModelError::Inference { what: "sentiment head".into(), reason }.into())
            })
            .collect()
    }
}

impl SentimentScorer for SentimentHead {
    fn score(&self, texts: &[&str]) -> callsight_pipeline::error::Result<Vec<Sentiment>> {
        Ok(self.probabilities(texts)?.into_iter().map(sentiment_from_probabilities).collect())
    }

    fn model_name(&self) -> &str {
        &self.model_name
    }
}
