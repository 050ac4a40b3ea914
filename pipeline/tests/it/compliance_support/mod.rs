//! Helpers shared by the compliance tests: hand-built turns and a deterministic test embedder.

#![allow(dead_code)]

use std::sync::Mutex;

use callsight_pipeline::engines::TextEmbedder;
use callsight_pipeline::types::{Sentiment, SentimentLabel, Speaker, Turn, Word};

/// Seconds each word of a hand-built turn lasts.
pub const WORD_SECS: f64 = 0.5;

/// A turn starting at `start_secs` whose words each last [`WORD_SECS`].
pub fn turn(speaker: Speaker, start_secs: f64, text: &str) -> Turn {
    let words: Vec<Word> = text
        .split_whitespace()
        .enumerate()
        .map(|(index, word)| Word {
            text: format!(" {word}"),
            start_secs: start_secs + index as f64 * WORD_SECS,
            end_secs: start_secs + (index + 1) as f64 * WORD_SECS,
            confidence: 0.9,
        })
        .collect();
    let end_secs = words.last().map_or(start_secs, |word| word.end_secs);
    Turn {
        speaker,
        start_secs,
        end_secs,
        text: text.to_string(),
        words,
        sentiment: None,
    }
}

pub fn agent(start_secs: f64, text: &str) -> Turn {
    turn(Speaker::Agent, start_secs, text)
}

pub fn customer(start_secs: f64, text: &str) -> Turn {
    turn(Speaker::Customer, start_secs, text)
}

pub fn with_sentiment(mut turn: Turn, score: f32) -> Turn {
    let label = if score > 0.2 {
        SentimentLabel::Positive
    } else if score < -0.2 {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Neutral
    };
    turn.sentiment = Some(Sentiment { label, score });
    turn
}

/// TEST DOUBLE, for the orchestration logic of the semantic path only (batching, caching,
/// windows, rescaling, cross-language evidence). It is not a language model: each word is mapped
/// through a tiny hand-made English/Russian lexicon to a concept, concepts are hashed into a
/// bag-of-words vector, and the vector is L2-normalised. The real multilingual embedder is tested
/// in the `models` crate.
pub struct BagOfWordsTestEmbedder {
    /// Every batch it was asked to embed, in order.
    pub batches: Mutex<Vec<Vec<String>>>,
}

pub const TEST_EMBEDDING_DIMS: usize = 256;

impl BagOfWordsTestEmbedder {
    pub fn new() -> Self {
        BagOfWordsTestEmbedder {
            batches: Mutex::new(Vec::new()),
        }
    }

    pub fn embedded_texts(&self) -> Vec<String> {
        self.batches
            .lock()
            .map(|batches| batches.concat())
            .unwrap_or_default()
    }

    fn concept(word: &str) -> &str {
        match word {
            "спасибо" | "благодарим" | "thanks" => "thank",
            "звонок" | "позвонили" | "calling" | "called" => "call",
            "за" | "что" => "for",
            "вы" => "you",
            "этот" => "this",
            "записывается" | "записан" | "recorded" | "monitored" => "record",
            "разговор" | "conversation" => "call",
            _ => word,
        }
    }

    fn vector(text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; TEST_EMBEDDING_DIMS];
        for word in text.split_whitespace() {
            let word: String = word
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            if word.is_empty() {
                continue;
            }
            // FNV-1a, so the vectors are the same on every run.
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in Self::concept(&word).bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            vector[(hash % TEST_EMBEDDING_DIMS as u64) as usize] += 1.0;
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        vector
    }
}

impl TextEmbedder for BagOfWordsTestEmbedder {
    fn embed(&self, texts: &[&str]) -> callsight_pipeline::error::Result<Vec<Vec<f32>>> {
        if let Ok(mut batches) = self.batches.lock() {
            batches.push(texts.iter().map(|text| text.to_string()).collect());
        }
        Ok(texts.iter().map(|text| Self::vector(text)).collect())
    }

    fn model_name(&self) -> &str {
        "bag-of-words-test-double"
    }
}
