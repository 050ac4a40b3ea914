//! Text models: sentence embeddings and sentiment.
