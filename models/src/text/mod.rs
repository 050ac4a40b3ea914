//! Text models: multilingual sentence embeddings (mE5), a sentiment head trained over them, and a
//! VADER lexicon baseline.

mod e5;
mod sentiment;
mod vader;

pub use e5::{E5_EMBEDDING_DIM, E5_MAX_TOKENS, E5Embedder};
pub use sentiment::{
    BUNDLED_SENTIMENT_HEAD_JSON, HeadProvenance, HeldOutMetric, SENTIMENT_HEAD_CLASSES, SentimentHead,
    SentimentHeadFile, sentiment_from_probabilities,
};
pub use vader::{VADER_NEUTRAL_THRESHOLD, VaderScorer};
